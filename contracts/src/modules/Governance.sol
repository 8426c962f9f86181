// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IOpenlease} from "../interfaces/IOpenlease.sol";

/// @title Governance
/// @notice Roles, bounded parameters, the stablecoin allow-list, the pause, protocol fees, and the
/// token plumbing every other module uses. Governance can tune the market within hard bounds but
/// can never move escrow or stake, and the pause only stops new business.
abstract contract Governance is IOpenlease, Ownable2Step, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;

    uint16 internal constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint16 internal constant MIN_BOND_BPS = 1_000;
    uint16 internal constant MAX_BOND_BPS = 50_000;
    uint16 internal constant MAX_SLASH_CUT_BPS = 2_000;
    uint16 internal constant MIN_DISPUTE_SLASH_BPS = 1_000;
    uint16 internal constant MIN_DISPUTE_BOND_BPS = 100;
    uint32 internal constant MIN_SETTLEMENT_WINDOW = 1 hours;
    uint32 internal constant MAX_SETTLEMENT_WINDOW = 7 days;
    uint32 internal constant MIN_DISPUTE_PERIOD = 1 days;
    uint32 internal constant MAX_DISPUTE_PERIOD = 14 days;
    /// @dev A provider must never outrun a slash by unstaking: stake thaws for at least as long as
    /// the longest settlement window and dispute period together.
    uint32 internal constant MIN_UNBONDING_PERIOD = MAX_SETTLEMENT_WINDOW + MAX_DISPUTE_PERIOD;
    uint32 internal constant MAX_UNBONDING_PERIOD = 90 days;

    Params internal _params;
    address internal _treasury;
    address internal _arbiter;
    mapping(address token => bool allowed) internal _allowedTokens;
    mapping(address token => uint256 amount) internal _feesOwed;

    constructor(address admin, address treasury_, address arbiter_, Params memory params_) Ownable(admin) {
        _setTreasury(treasury_);
        _setArbiter(arbiter_);
        _setParams(params_);
    }

    // ─── Parameters and roles ───────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IOpenlease
    function setParams(Params calldata params_) external onlyOwner {
        _setParams(params_);
    }

    /// @inheritdoc IOpenlease
    function setTokenAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert OpenleaseZeroAddress();
        _allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @inheritdoc IOpenlease
    function isTokenAllowed(address token) external view returns (bool) {
        return _allowedTokens[token];
    }

    /// @inheritdoc IOpenlease
    function setArbiter(address arbiter_) external onlyOwner {
        _setArbiter(arbiter_);
    }

    /// @inheritdoc IOpenlease
    function arbiter() external view returns (address) {
        return _arbiter;
    }

    /// @inheritdoc IOpenlease
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    /// @inheritdoc IOpenlease
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IOpenlease
    function pause() external onlyOwner {
        _pause();
    }

    /// @inheritdoc IOpenlease
    function unpause() external onlyOwner {
        _unpause();
    }

    /// @notice Disabled: the market always needs an owner to unpause and to appoint an arbiter.
    function renounceOwnership() public view override onlyOwner {
        revert OpenleaseRenounceDisabled();
    }

    // ─── Fees ───────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function collectFees(address token) external nonReentrant returns (uint256 amount) {
        amount = _feesOwed[token];
        if (amount == 0) revert OpenleaseNothingToClaim(_treasury, token);
        _feesOwed[token] = 0;
        emit FeesCollected(token, _treasury, amount);
        IERC20(token).safeTransfer(_treasury, amount);
    }

    /// @inheritdoc IOpenlease
    function feesOwed(address token) external view returns (uint256) {
        return _feesOwed[token];
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    function _setParams(Params memory p) internal {
        _checkBounds(Parameter.ProtocolFeeBps, p.protocolFeeBps, 0, MAX_PROTOCOL_FEE_BPS);
        _checkBounds(Parameter.BondBps, p.bondBps, MIN_BOND_BPS, MAX_BOND_BPS);
        _checkBounds(Parameter.SlashCutBps, p.slashCutBps, 0, MAX_SLASH_CUT_BPS);
        _checkBounds(Parameter.MaxDisputeSlashBps, p.maxDisputeSlashBps, MIN_DISPUTE_SLASH_BPS, BPS);
        _checkBounds(Parameter.DisputeBondBps, p.disputeBondBps, MIN_DISPUTE_BOND_BPS, BPS);
        _checkBounds(Parameter.SettlementWindow, p.settlementWindow, MIN_SETTLEMENT_WINDOW, MAX_SETTLEMENT_WINDOW);
        _checkBounds(Parameter.DisputePeriod, p.disputePeriod, MIN_DISPUTE_PERIOD, MAX_DISPUTE_PERIOD);
        _checkBounds(Parameter.UnbondingPeriod, p.unbondingPeriod, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD);
        _params = p;
        emit ParamsUpdated(p);
    }

    function _checkBounds(Parameter parameter, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert OpenleaseParameterOutOfBounds(parameter, value, min, max);
    }

    function _setArbiter(address arbiter_) private {
        if (arbiter_ == address(0)) revert OpenleaseZeroAddress();
        _arbiter = arbiter_;
        emit ArbiterUpdated(arbiter_);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert OpenleaseZeroAddress();
        _treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    /// @dev Pulls exactly `amount` of `token` from `from`, rejecting fee-on-transfer tokens by the
    /// balance delta. Callers finish their state changes first (checks-effects-interactions).
    function _pull(address token, address from, uint256 amount) internal {
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - balanceBefore;
        if (received != amount) revert OpenleaseFeeOnTransfer(token, amount, received);
    }

    function _toUint96(uint256 amount) internal pure returns (uint96) {
        if (amount > type(uint96).max) revert OpenleaseAmountTooLarge(amount, type(uint96).max);
        return uint96(amount);
    }
}
