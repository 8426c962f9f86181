// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice A hostile test token that burns `feeBps` of every transfer between two accounts, so the
/// recipient receives less than was sent. The fee can be switched at any time (open, for tests), which
/// lets a test stake with the fee off and then turn it on. Mints and burns are fee-free.
contract FeeOnTransferToken is ERC20 {
    uint256 public feeBps;

    constructor(uint256 feeBps_) ERC20("Fee On Transfer", "FOT") {
        feeBps = feeBps_;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Test faucet: anyone may mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFeeBps(uint256 feeBps_) external {
        require(feeBps_ <= 10_000, "FeeOnTransferToken: fee");
        feeBps = feeBps_;
    }

    /// @notice What a transfer of `amount` delivers.
    function received(uint256 amount) external view returns (uint256) {
        return amount - amount * feeBps / 10_000;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value * feeBps / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
