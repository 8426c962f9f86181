// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {OpenleaseStorage} from "../OpenleaseStorage.sol";
import {Bounds} from "../libraries/Bounds.sol";

/// @title Governance
/// @notice Parameters, the stablecoin allow-list, the treasury, the pause and protocol fees.
/// Governance tunes the market for new leases only: each parameters change is a version within hard
/// bounds that waits `PARAMS_DELAY`, and a lease keeps the version it opened with (fee, settlement
/// window, bond, slash bounds, arbiter). It can never move escrow, stake or claimable balances, and
/// the pause only stops new business.
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract Governance is OpenleaseStorage {
    using SafeERC20 for IERC20;

    function params() external view returns (Params memory) {
        return _paramsVersions[_paramsVersionNow(_counters)];
    }

    function paramsVersion() external view returns (uint256) {
        return _paramsVersionNow(_counters);
    }

    function paramsAt(uint256 version) external view returns (Params memory) {
        return _paramsVersions[version];
    }

    function latestParams() external view returns (uint256 version, uint256 effectiveAt, Params memory p) {
        Counters memory c = _counters;
        return (c.paramsVersion, c.paramsEffectiveAt, _paramsVersions[c.paramsVersion]);
    }

    function scheduleParams(Params calldata p) external onlyOwner returns (uint256 version, uint256 effectiveAt) {
        effectiveAt = block.timestamp + Bounds.PARAMS_DELAY;
        version = _scheduleParams(p, uint32(effectiveAt));
    }

    function acceptParams(uint256 offerId, uint16 version) external {
        Offer storage o = _offers[offerId];
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        if (o.provider != msg.sender) revert OpenleaseNotOfferProvider(offerId, msg.sender);
        uint16 inForce = _paramsVersionNow(_counters);
        uint16 accepted = o.paramsVersion;
        if (version <= accepted || version > inForce) revert OpenleaseParamsNotAcceptable(version, accepted, inForce);
        o.paramsVersion = version;
        o.bondBps = _paramsVersions[version].bondBps;
        emit ParamsAccepted(offerId, version);
    }

    function setTokenAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert OpenleaseZeroAddress();
        _allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    function isTokenAllowed(address token) external view returns (bool) {
        return _allowedTokens[token];
    }

    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }

    function collectFees(address token) external nonReentrant returns (uint256 amount) {
        amount = _feesOwed[token];
        if (amount == 0) revert OpenleaseNothingToClaim(_treasury, token);
        _feesOwed[token] = 0;
        emit FeesCollected(token, _treasury, amount);
        IERC20(token).safeTransfer(_treasury, amount);
    }

    function feesOwed(address token) external view returns (uint256) {
        return _feesOwed[token];
    }
}
