// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title MockStablecoin
/// @notice A USDC-like test token: configurable decimals (6 for USDC, 18 for DAI-likes), EIP-2612
/// permit, an open faucet, and a blocklist that freezes sending and receiving as USDC's does.
contract MockStablecoin is ERC20, ERC20Permit {
    uint8 private immutable _decimals;
    address public immutable blocklister;
    mapping(address account => bool) public isBlocklisted;

    error MockStablecoinBlocklisted(address account);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) ERC20Permit(name_) {
        _decimals = decimals_;
        blocklister = msg.sender;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Test faucet: anyone may mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlocklisted(address account, bool blocked) external {
        require(msg.sender == blocklister, "MockStablecoin: not blocklister");
        isBlocklisted[account] = blocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (isBlocklisted[from]) revert MockStablecoinBlocklisted(from);
        if (isBlocklisted[to]) revert MockStablecoinBlocklisted(to);
        super._update(from, to, value);
    }
}
