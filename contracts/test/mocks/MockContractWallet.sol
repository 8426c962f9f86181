// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title MockContractWallet
/// @notice An ERC-1271 smart-contract wallet for tests. It accepts ECDSA signatures by its `owner`
/// key and executes calls for its owner (and for operators the owner appoints, e.g. a token hook).
/// Hostile modes: `WrongMagic` answers a valid signature with a wrong value; `Reenter` and
/// `ReenterExpectGuard` make a call (`reentryTarget`, `reentryData`) from inside `isValidSignature`
/// (which callers reach with a staticcall). `Reenter` ignores the call's outcome; `ReenterExpectGuard`
/// accepts the signature only if that call reverted with `ReentrancyGuardReentrantCall`, so a
/// successful settlement proves the reentrant call hit the reentrancy guard.
contract MockContractWallet {
    enum Mode {
        Valid,
        WrongMagic,
        Reenter,
        ReenterExpectGuard
    }

    bytes4 internal constant MAGIC = 0x1626ba7e;
    bytes4 internal constant WRONG_MAGIC = 0xdeadbeef;
    bytes4 internal constant INVALID = 0xffffffff;

    address public immutable owner;
    Mode public mode;
    address public reentryTarget;
    bytes public reentryData;
    mapping(address account => bool) public isOperator;

    constructor(address owner_) {
        owner = owner_;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "MockContractWallet: not owner");
        _;
    }

    function setMode(Mode mode_) external onlyOwner {
        mode = mode_;
    }

    function setReentry(address target, bytes calldata data) external onlyOwner {
        reentryTarget = target;
        reentryData = data;
    }

    function setOperator(address account, bool allowed) external onlyOwner {
        isOperator[account] = allowed;
    }

    /// @notice Calls `target` with `data` as this wallet, bubbling up any revert.
    function execute(address target, bytes calldata data) external returns (bytes memory ret) {
        require(msg.sender == owner || isOperator[msg.sender], "MockContractWallet: not authorized");
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    /// @notice ERC-1271. Not `view`: the hostile modes make a call from here.
    function isValidSignature(bytes32 hash, bytes calldata signature) external returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        bool valid = err == ECDSA.RecoverError.NoError && recovered == owner;
        Mode m = mode;
        if (m == Mode.WrongMagic) return valid ? WRONG_MAGIC : INVALID;
        if (m == Mode.Reenter || m == Mode.ReenterExpectGuard) {
            (bool ok, bytes memory ret) = reentryTarget.call(reentryData);
            if (m == Mode.ReenterExpectGuard) {
                bool guarded = !ok && ret.length == 4
                    && bytes4(ret) == ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector;
                if (!guarded) return INVALID;
            }
        }
        return valid ? MAGIC : INVALID;
    }
}
