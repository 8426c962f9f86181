// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IOpenleaseEvents} from "./interfaces/IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "./interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "./libraries/LeaseMath.sol";
import {Bounds} from "./libraries/Bounds.sol";

/// @title OpenleaseStorage
/// @notice The market's state and the internals both of its contracts use. `Openlease` (the hot
/// paths: staking, offers, leases, settlement) and `OpenleaseExtension` (governance, disputes,
/// views; reached through `Openlease`'s fallback by DELEGATECALL, as Compound III's CometExt is)
/// both inherit this contract first and declare no state of their own, so they share one layout.
abstract contract OpenleaseStorage is
    IOpenleaseEvents,
    IOpenleaseErrors,
    Ownable2Step,
    Pausable,
    ReentrancyGuardTransient,
    EIP712
{
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = LeaseMath.BPS;

    /// @dev Counters read together when a lease opens. The parameters in force are version
    /// `paramsVersion` from `paramsEffectiveAt` on, and version `paramsVersion - 1` before.
    struct Counters {
        uint64 leaseCount;
        uint32 offerCount;
        uint16 paramsVersion;
        uint32 paramsEffectiveAt;
    }

    Counters internal _counters;
    address internal _treasury;
    mapping(uint256 version => Params) internal _paramsVersions;
    mapping(address token => bool allowed) internal _allowedTokens;
    mapping(address token => uint256 amount) internal _feesOwed;
    mapping(address provider => ProviderProfile) internal _providers;
    mapping(address provider => mapping(address token => Stake)) internal _stakes;
    mapping(uint256 offerId => Offer) internal _offers;
    mapping(uint256 leaseId => Lease) internal _leases;
    mapping(address account => mapping(address token => uint256 amount)) internal _claimable;
    mapping(uint256 leaseId => Dispute) internal _disputes;
    /// @dev A signer's authorization is scoped to one provider: what it may still attest to that
    /// provider is reserved for it, so no other provider's settlement can take it first.
    mapping(address tenant => mapping(address signer => mapping(address provider => SessionSigner))) internal _signers;
    mapping(uint256 leaseId => PaymentDemand) internal _demands;

    constructor(address admin) Ownable(admin) EIP712("Openlease", "1") {}

    /// @notice Disabled: the market always needs an owner to unpause and to schedule parameters.
    function renounceOwnership() public view override onlyOwner {
        revert OpenleaseRenounceDisabled();
    }

    // ─── Parameters ─────────────────────────────────────────────────────────────────────────

    /// @dev The version new leases (and unstake requests) get now.
    function _paramsVersionNow(Counters memory c) internal view returns (uint16) {
        return block.timestamp >= c.paramsEffectiveAt ? c.paramsVersion : c.paramsVersion - 1;
    }

    /// @dev Checks `p` against the hard bounds and stores it as the newest version, effective at
    /// `effectiveAt`; a version still pending is replaced rather than queued behind.
    function _scheduleParams(Params memory p, uint32 effectiveAt) internal returns (uint16 version) {
        _checkBounds(Parameter.ProtocolFeeBps, p.protocolFeeBps, 0, Bounds.MAX_PROTOCOL_FEE_BPS);
        _checkBounds(
            Parameter.SettlementWindow, p.settlementWindow, Bounds.MIN_SETTLEMENT_WINDOW, Bounds.MAX_SETTLEMENT_WINDOW
        );
        _checkBounds(Parameter.BondBps, p.bondBps, Bounds.MIN_BOND_BPS, Bounds.MAX_BOND_BPS);
        _checkBounds(Parameter.SlashCutBps, p.slashCutBps, 0, Bounds.MAX_SLASH_CUT_BPS);
        _checkBounds(
            Parameter.MaxDisputeSlashBps,
            p.maxDisputeSlashBps,
            Bounds.MIN_DISPUTE_SLASH_BPS,
            Bounds.MAX_DISPUTE_SLASH_BPS
        );
        _checkBounds(
            Parameter.DisputeBondBps, p.disputeBondBps, Bounds.MIN_DISPUTE_BOND_BPS, Bounds.MAX_DISPUTE_BOND_BPS
        );
        _checkBounds(Parameter.DisputePeriod, p.disputePeriod, Bounds.MIN_DISPUTE_PERIOD, Bounds.MAX_DISPUTE_PERIOD);
        _checkBounds(
            Parameter.UnbondingPeriod, p.unbondingPeriod, Bounds.MIN_UNBONDING_PERIOD, Bounds.MAX_UNBONDING_PERIOD
        );
        if (p.arbiter == address(0)) revert OpenleaseZeroAddress();
        Counters memory c = _counters;
        // A pending version (not yet in force) is replaced; otherwise a new one is added.
        version = c.paramsVersion == 0 || block.timestamp >= c.paramsEffectiveAt ? c.paramsVersion + 1 : c.paramsVersion;
        _paramsVersions[version] = p;
        _counters.paramsVersion = version;
        _counters.paramsEffectiveAt = effectiveAt;
        emit ParamsScheduled(version, effectiveAt, p);
    }

    /// @dev What a tenant accepts by opening a lease of the offer under parameters `version`.
    function _offerTermsHash(uint256 offerId, Offer memory o, uint16 version) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                offerId,
                o.provider,
                o.token,
                o.pricePerSecond,
                o.minDuration,
                o.maxDuration,
                o.noticePeriod,
                version,
                o.workload,
                o.verifier
            )
        );
    }

    function _setTreasury(address treasury_) internal {
        if (treasury_ == address(0)) revert OpenleaseZeroAddress();
        _treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    function _checkBounds(Parameter parameter, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert OpenleaseParameterOutOfBounds(parameter, value, min, max);
    }

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    function _knownLease(uint256 leaseId) internal view returns (Lease storage l) {
        l = _leases[leaseId];
        if (l.status == LeaseStatus.None) revert OpenleaseUnknownLease(leaseId);
    }

    function _openLeaseOf(uint256 leaseId) internal view returns (Lease storage l) {
        l = _knownLease(leaseId);
        if (l.status == LeaseStatus.Finalized) revert OpenleaseLeaseFinalized(leaseId);
    }

    /// @dev A lease neither evicted nor finalized.
    function _activeLeaseOf(uint256 leaseId) internal view returns (Lease storage l) {
        l = _knownLease(leaseId);
        if (l.status != LeaseStatus.Open) revert OpenleaseLeaseNotOpen(leaseId, l.status);
    }

    /// @dev The lease runs until its end or until the escrow's runway runs out.
    function _leaseEnd(Lease storage l) internal view returns (uint256) {
        return LeaseMath.runEnd(l.startedAt, l.endsAt, l.deposit, l.pricePerSecond);
    }

    function _settlementDeadline(Lease storage l) internal view returns (uint256) {
        return _leaseEnd(l) + _paramsVersions[l.paramsVersion].settlementWindow;
    }

    /// @dev Until when the tenant's remedies (disputes) stay open and the bond stays locked: the
    /// settlement deadline, or for an evicted lease the one it had before the eviction, so that
    /// ending a lease early never shortens them.
    function _remediesDeadline(uint256 leaseId, Lease storage l) internal view returns (uint256) {
        return l.status == LeaseStatus.Evicted ? _demands[leaseId].remediesUntil : _settlementDeadline(l);
    }

    /// @dev Whether the tenant of a lease is in arrears: evicted, or it left a payment demand
    /// unanswered for its whole grace (a demand just made is no evidence yet).
    function _inArrears(uint256 leaseId, Lease storage l) internal view returns (bool) {
        if (l.status == LeaseStatus.Evicted) return true;
        PaymentDemand storage d = _demands[leaseId];
        return d.madeAt != 0 && block.timestamp >= uint256(d.madeAt) + Bounds.PAYMENT_GRACE && l.settled < d.due;
    }

    /// @dev Ends a lease for good: refunds the escrow not settled, releases the bond, frees the
    /// offer's capacity (unless an eviction freed it) and credits the protocol's fee on everything
    /// settled. Settlement never reads the status: a lease is finalized only after its (fixed)
    /// settlement window.
    function _finalize(uint256 leaseId, Lease storage l) internal {
        Offer storage o = _offers[l.offerId];
        address token = o.token;
        uint88 settled = l.settled;
        uint256 refund = l.deposit - settled;
        uint96 bond = l.bond;
        uint256 fee = LeaseMath.fee(settled, _paramsVersions[l.paramsVersion].protocolFeeBps);
        if (l.status == LeaseStatus.Open) o.activeLeases -= 1;
        l.status = LeaseStatus.Finalized;
        l.bond = 0;
        _stakes[o.provider][token].locked -= bond;
        _claimable[l.tenant][token] += refund;
        _feesOwed[token] += fee;
        emit LeaseFinalized(leaseId, refund, bond, fee);
    }

    /// @dev Slashes `amount` of a lease's bond: the tenant is paid, less the protocol's cut (the
    /// lease's own `slashCutBps`).
    function _slashBond(uint256 leaseId, Lease storage l, uint96 amount, SlashReason reason) internal {
        Offer storage o = _offers[l.offerId];
        address provider = o.provider;
        address token = o.token;
        l.bond -= amount;
        Stake storage s = _stakes[provider][token];
        s.locked -= amount;
        s.staked -= amount;
        uint256 cut = uint256(amount) * _paramsVersions[l.paramsVersion].slashCutBps / BPS;
        _claimable[l.tenant][token] += amount - cut;
        _feesOwed[token] += cut;
        emit BondSlashed(leaseId, provider, reason, amount, cut);
    }

    // ─── Tokens ─────────────────────────────────────────────────────────────────────────────

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

    function _toUint88(uint256 amount) internal pure returns (uint88) {
        if (amount > type(uint88).max) revert OpenleaseAmountTooLarge(amount, type(uint88).max);
        return uint88(amount);
    }
}
