// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice A hostile test token: once armed, its next transfer (from `transfer` or `transferFrom`,
/// after the balances moved) makes one call to `hookTarget` with `hookData`, as an ERC-777-style hook
/// would. It records whether that call succeeded and what it reverted with, and either swallows the
/// failure or bubbles it up (`bubble`). The hook is one-shot, so it never recurses.
contract ReentrantToken is ERC20 {
    address public hookTarget;
    bytes public hookData;
    bool public bubble;

    uint256 public hookCalls;
    bool public hookSucceeded;
    bytes public hookRevertData;

    constructor() ERC20("Reentrant Token", "REN") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Test faucet: anyone may mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook for the next transfer between two accounts.
    function arm(address target, bytes calldata data, bool bubble_) external {
        hookTarget = target;
        hookData = data;
        bubble = bubble_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address target = hookTarget;
        if (target == address(0) || from == address(0) || to == address(0)) return;
        hookTarget = address(0);
        (bool ok, bytes memory ret) = target.call(hookData);
        hookCalls += 1;
        hookSucceeded = ok;
        hookRevertData = ok ? bytes("") : ret;
        if (!ok && bubble) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
