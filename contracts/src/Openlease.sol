// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {Governance} from "./modules/Governance.sol";
import {Disputes} from "./modules/Disputes.sol";

/// @title Openlease
/// @notice The compute-leasing marketplace, one contract holding every stake, escrow and payout so
/// that its token balance always equals what it owes. Its modules, in the order they build on each
/// other: Governance, ProviderStaking, LeaseMarket, ReceiptSettlement, Disputes. The ABI with its
/// documentation is `IOpenlease`.
/// @dev Immutable, deployed with CREATE2.
contract Openlease is Disputes {
    constructor(address admin, address treasury_, address arbiter_, Params memory params_)
        Governance(admin, treasury_, arbiter_, params_)
        EIP712("Openlease", "1")
    {}
}
