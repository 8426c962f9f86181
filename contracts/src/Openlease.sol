// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {OpenleaseStorage} from "./OpenleaseStorage.sol";
import {OpenleaseExtension} from "./OpenleaseExtension.sol";
import {ProviderStaking} from "./modules/ProviderStaking.sol";
import {LeaseMarket} from "./modules/LeaseMarket.sol";
import {ReceiptSettlement} from "./modules/ReceiptSettlement.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";

/// @title Openlease
/// @notice The compute-leasing marketplace, one address holding every stake, escrow and payout so
/// that its token balance always equals what it owes. Its ABI with the documentation is
/// `IOpenlease`: the hot paths (staking, offers, leases, settlement) run here; the rest (governance,
/// disputes, views) in `OpenleaseExtension`, which this contract deploys and reaches through its
/// fallback by DELEGATECALL, so both act on this contract's storage and balance.
/// @dev Immutable, deployed with CREATE2. The split keeps each contract well under the EIP-170
/// size limit with room to grow.
contract Openlease is OpenleaseStorage, ProviderStaking, LeaseMarket, ReceiptSettlement, Multicall {
    address private immutable EXTENSION;

    constructor(address admin, address treasury_, Params memory params_) OpenleaseStorage(admin) {
        EXTENSION = address(new OpenleaseExtension());
        _setTreasury(treasury_);
        // The first version is in force at once: no lease can predate it.
        _scheduleParams(params_, uint32(block.timestamp));
    }

    /// @notice The contract that runs the functions of `IOpenlease` this one does not.
    function extension() external view returns (address) {
        return EXTENSION;
    }

    /// @dev Every selector not implemented here runs in the extension, in this contract's storage.
    fallback() external {
        address target = EXTENSION;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
