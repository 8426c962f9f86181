// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IOpenlease} from "../interfaces/IOpenlease.sol";
import {Governance} from "./Governance.sol";

/// @title ProviderStaking
/// @notice Provider profiles and collateral. Stake is free or locked: each open lease locks its SLA
/// bond, which only finalizing the lease releases and only a slash takes. Free stake can be
/// unstaked; it thaws for the unbonding period before it can be withdrawn.
abstract contract ProviderStaking is Governance {
    using SafeERC20 for IERC20;

    mapping(address provider => ProviderProfile) internal _providers;
    mapping(address provider => mapping(address token => Stake)) internal _stakes;

    /// @inheritdoc IOpenlease
    function registerProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash
    ) external whenNotPaused {
        ProviderProfile storage profile = _providers[msg.sender];
        if (profile.registered) revert OpenleaseProviderAlreadyRegistered(msg.sender);
        profile.registered = true;
        profile.profileHash = _profileHash(metadataURI, endpoint, region, attributesHash);
        emit ProviderRegistered(msg.sender, metadataURI, endpoint, region, attributesHash);
    }

    /// @inheritdoc IOpenlease
    function updateProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash
    ) external {
        _registeredProfile(msg.sender).profileHash = _profileHash(metadataURI, endpoint, region, attributesHash);
        emit ProviderUpdated(msg.sender, metadataURI, endpoint, region, attributesHash);
    }

    /// @inheritdoc IOpenlease
    function stake(address token, uint256 amount) external whenNotPaused nonReentrant {
        _registeredProfile(msg.sender);
        if (!_allowedTokens[token]) revert OpenleaseTokenNotAllowed(token);
        if (amount == 0) revert OpenleaseZeroAmount();
        Stake storage s = _stakes[msg.sender][token];
        uint96 staked = _toUint96(s.staked + amount);
        s.staked = staked;
        emit Staked(msg.sender, token, amount, staked);
        _pull(token, msg.sender, amount);
    }

    /// @inheritdoc IOpenlease
    function requestUnstake(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert OpenleaseZeroAmount();
        Stake storage s = _stakes[msg.sender][token];
        uint256 free = s.staked - s.locked;
        if (amount > free) revert OpenleaseInsufficientFreeStake(msg.sender, token, free, amount);
        // Both fit: amount <= staked, and thawing + amount never exceeds what was ever staked.
        s.staked -= uint96(amount);
        uint96 thawing = _toUint96(s.thawing + amount);
        uint32 thawEndsAt = uint32(block.timestamp) + _params.unbondingPeriod;
        s.thawing = thawing;
        s.thawEndsAt = thawEndsAt;
        emit UnstakeRequested(msg.sender, token, amount, s.staked, thawing, thawEndsAt);
    }

    /// @inheritdoc IOpenlease
    function withdrawStake(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert OpenleaseZeroAddress();
        Stake storage s = _stakes[msg.sender][token];
        amount = s.thawing;
        if (amount == 0) revert OpenleaseNothingThawing(msg.sender, token);
        if (block.timestamp < s.thawEndsAt) revert OpenleaseStillThawing(msg.sender, token, s.thawEndsAt);
        s.thawing = 0;
        s.thawEndsAt = 0;
        emit StakeWithdrawn(msg.sender, token, amount, to);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @inheritdoc IOpenlease
    function providerProfile(address provider) external view returns (ProviderProfile memory) {
        return _providers[provider];
    }

    /// @inheritdoc IOpenlease
    function stakeOf(address provider, address token) external view returns (Stake memory) {
        return _stakes[provider][token];
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    function _registeredProfile(address provider) internal view returns (ProviderProfile storage profile) {
        profile = _providers[provider];
        if (!profile.registered) revert OpenleaseProviderNotRegistered(provider);
    }

    function _profileHash(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(metadataURI, endpoint, region, attributesHash));
    }

    /// @dev Locks `bond` of the provider's free stake for a new lease.
    function _lockBond(address provider, address token, uint96 bond) internal {
        Stake storage s = _stakes[provider][token];
        uint96 locked = s.locked;
        uint256 free = s.staked - locked;
        if (bond > free) revert OpenleaseInsufficientFreeStake(provider, token, free, bond);
        s.locked = locked + bond;
    }

    /// @dev Returns a finalized lease's remaining bond to the provider's free stake.
    function _releaseBond(address provider, address token, uint96 bond) internal {
        _stakes[provider][token].locked -= bond;
    }

    /// @dev Takes `amount` of a lease's locked bond out of the provider's stake.
    function _burnBond(address provider, address token, uint96 amount) internal {
        Stake storage s = _stakes[provider][token];
        s.locked -= amount;
        s.staked -= amount;
    }
}
