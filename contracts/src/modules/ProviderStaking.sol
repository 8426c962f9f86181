// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {OpenleaseStorage} from "../OpenleaseStorage.sol";

/// @title ProviderStaking
/// @notice Provider profiles and collateral. Stake is free or locked: each open lease locks its SLA
/// bond, which only finalizing the lease releases and only a slash takes. Free stake can be
/// unstaked; it thaws for the unbonding period in force before it can be withdrawn.
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract ProviderStaking is OpenleaseStorage {
    using SafeERC20 for IERC20;

    bytes32 internal constant ATTESTATION_KEY_TYPEHASH = keccak256("AttestationKey(address provider)");

    function registerProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash,
        address attestationKey,
        bytes calldata keyProof
    ) external whenNotPaused {
        if (attestationKey == address(0)) revert OpenleaseZeroAddress();
        ProviderProfile storage profile = _providers[msg.sender];
        if (profile.registered) revert OpenleaseProviderAlreadyRegistered(msg.sender);
        // ECDSA alone: a key that can sign is held, and its signatures cannot be disowned later.
        (address signedBy,,) =
            ECDSA.tryRecover(_hashTypedDataV4(keccak256(abi.encode(ATTESTATION_KEY_TYPEHASH, msg.sender))), keyProof);
        if (signedBy != attestationKey) revert OpenleaseAttestationKeyUnproven(msg.sender, attestationKey);
        profile.registered = true;
        profile.attestationKey = attestationKey;
        profile.profileHash = _profileHash(metadataURI, endpoint, region, attributesHash);
        emit ProviderRegistered(msg.sender, metadataURI, endpoint, region, attributesHash, attestationKey);
    }

    function updateProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash
    ) external {
        _registeredProfile(msg.sender).profileHash = _profileHash(metadataURI, endpoint, region, attributesHash);
        emit ProviderUpdated(msg.sender, metadataURI, endpoint, region, attributesHash);
    }

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

    function requestUnstake(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert OpenleaseZeroAmount();
        Stake storage s = _stakes[msg.sender][token];
        uint256 free = s.staked - s.locked;
        if (amount > free) revert OpenleaseInsufficientFreeStake(msg.sender, token, free, amount);
        // Both fit: amount <= staked, and thawing + amount never exceeds what was ever staked.
        s.staked -= uint96(amount);
        uint96 thawing = _toUint96(s.thawing + amount);
        uint32 thawEndsAt = uint32(block.timestamp) + _paramsVersions[_paramsVersionNow(_counters)].unbondingPeriod;
        s.thawing = thawing;
        s.thawEndsAt = thawEndsAt;
        emit UnstakeRequested(msg.sender, token, amount, s.staked, thawing, thawEndsAt);
    }

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
}
