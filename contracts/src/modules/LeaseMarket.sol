// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IOpenlease} from "../interfaces/IOpenlease.sol";
import {ProviderStaking} from "./ProviderStaking.sol";

/// @title LeaseMarket
/// @notice Offers, leases and their escrow, and the claimable balances every payout lands in.
/// A lease runs from `startedAt` until `endsAt` or until its escrow's runway runs out, whichever is
/// first; no call is needed for it to end. After the end comes the settlement window, and after that
/// anyone may finalize the lease: the rest of the escrow is refunded and the bond released.
abstract contract LeaseMarket is ProviderStaking {
    using SafeERC20 for IERC20;

    mapping(uint256 offerId => Offer) internal _offers;
    uint256 internal _offerCount;
    mapping(uint256 leaseId => Lease) internal _leases;
    uint256 internal _leaseCount;
    mapping(address account => mapping(address token => uint256 amount)) internal _claimable;
    mapping(uint256 leaseId => Dispute) internal _disputes;

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function publishOffer(
        address token,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
    ) external whenNotPaused returns (uint256 offerId) {
        _registeredProfile(msg.sender);
        if (!_allowedTokens[token]) revert OpenleaseTokenNotAllowed(token);
        _checkOfferTerms(pricePerSecond, minDuration, maxDuration, noticePeriod, capacity);
        offerId = ++_offerCount;
        // Offer ids are stored in leases as uint32.
        if (offerId > type(uint32).max) revert OpenleaseAmountTooLarge(offerId, type(uint32).max);
        _offers[offerId] = Offer({
            provider: msg.sender,
            pricePerSecond: pricePerSecond,
            capacity: capacity,
            activeLeases: 0,
            token: token,
            minDuration: minDuration,
            maxDuration: maxDuration,
            noticePeriod: noticePeriod,
            paused: false
        });
        emit OfferPublished(
            offerId, msg.sender, token, pricePerSecond, minDuration, maxDuration, noticePeriod, capacity
        );
    }

    /// @inheritdoc IOpenlease
    function updateOffer(
        uint256 offerId,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
    ) external {
        Offer storage o = _providerOffer(offerId);
        _checkOfferTerms(pricePerSecond, minDuration, maxDuration, noticePeriod, capacity);
        o.pricePerSecond = pricePerSecond;
        o.capacity = capacity;
        o.minDuration = minDuration;
        o.maxDuration = maxDuration;
        o.noticePeriod = noticePeriod;
        emit OfferUpdated(offerId, pricePerSecond, minDuration, maxDuration, noticePeriod, capacity);
    }

    /// @inheritdoc IOpenlease
    function setOfferPaused(uint256 offerId, bool paused_) external {
        _providerOffer(offerId).paused = paused_;
        emit OfferPauseSet(offerId, paused_);
    }

    /// @inheritdoc IOpenlease
    function offer(uint256 offerId) external view returns (Offer memory) {
        return _offers[offerId];
    }

    /// @inheritdoc IOpenlease
    function offerCount() external view returns (uint256) {
        return _offerCount;
    }

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function openLease(uint256 offerId, uint32 duration, uint256 deposit, uint64 maxPricePerSecond)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 leaseId)
    {
        return _openLease(offerId, duration, deposit, maxPricePerSecond);
    }

    /// @inheritdoc IOpenlease
    function openLeaseWithPermit(
        uint256 offerId,
        uint32 duration,
        uint256 deposit,
        uint64 maxPricePerSecond,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant returns (uint256 leaseId) {
        address token = _offers[offerId].token;
        // Checked here too: a permit call to address(0) would revert without a reason.
        if (token == address(0)) revert OpenleaseUnknownOffer(offerId);
        // A permit seen in the mempool can be front-run; if it was already used, the allowance it
        // granted is in place and the pull below succeeds, so a failed permit is not an error here.
        try IERC20Permit(token).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {} catch {}
        return _openLease(offerId, duration, deposit, maxPricePerSecond);
    }

    /// @inheritdoc IOpenlease
    function topUp(uint256 leaseId, uint256 amount) external nonReentrant {
        if (amount == 0) revert OpenleaseZeroAmount();
        Lease storage l = _openLeaseOf(leaseId);
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
        uint96 deposit = _toUint96(l.deposit + amount);
        l.deposit = deposit;
        emit LeaseToppedUp(leaseId, amount, deposit);
        _pull(_offers[l.offerId].token, msg.sender, amount);
    }

    /// @inheritdoc IOpenlease
    function closeLease(uint256 leaseId) external {
        Lease storage l = _openLeaseOf(leaseId);
        if (msg.sender != l.tenant && msg.sender != _offers[l.offerId].provider) {
            revert OpenleaseNotLeaseParty(leaseId, msg.sender);
        }
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
        uint256 noticeEnd = block.timestamp + l.noticePeriod;
        if (noticeEnd < l.minEndsAt) noticeEnd = l.minEndsAt;
        // Notice can only bring the end forward.
        if (noticeEnd < l.endsAt) l.endsAt = uint32(noticeEnd);
        emit LeaseClosed(leaseId, msg.sender, l.endsAt);
    }

    /// @inheritdoc IOpenlease
    function terminateLease(uint256 leaseId) external {
        Lease storage l = _openLeaseOf(leaseId);
        if (msg.sender != _offers[l.offerId].provider) revert OpenleaseNotLeaseProvider(leaseId, msg.sender);
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
        l.endsAt = uint32(block.timestamp);
        emit LeaseTerminated(leaseId, block.timestamp);
        if (l.bond > 0) _slashBond(leaseId, l, l.bond, SlashReason.EarlyTermination);
    }

    /// @inheritdoc IOpenlease
    function finalizeLease(uint256 leaseId) external {
        Lease storage l = _openLeaseOf(leaseId);
        uint256 deadline = _settlementDeadline(l);
        if (block.timestamp < deadline) revert OpenleaseSettlementWindowOpen(leaseId, deadline);
        Dispute storage d = _disputes[leaseId];
        if (d.status == DisputeStatus.Open) revert OpenleaseDisputeOpen(leaseId, d.deadline);

        Offer storage o = _offers[l.offerId];
        uint256 refund = l.deposit - l.settled;
        uint96 bond = l.bond;
        l.status = LeaseStatus.Finalized;
        l.bond = 0;
        o.activeLeases -= 1;
        _releaseBond(o.provider, o.token, bond);
        _claimable[l.tenant][o.token] += refund;
        emit LeaseFinalized(leaseId, refund, bond);
    }

    /// @inheritdoc IOpenlease
    function lease(uint256 leaseId) external view returns (Lease memory) {
        return _leases[leaseId];
    }

    /// @inheritdoc IOpenlease
    function leaseCount() external view returns (uint256) {
        return _leaseCount;
    }

    /// @inheritdoc IOpenlease
    function leaseEnd(uint256 leaseId) external view returns (uint256) {
        return _leaseEnd(_knownLease(leaseId));
    }

    /// @inheritdoc IOpenlease
    function settlementDeadline(uint256 leaseId) external view returns (uint256) {
        return _settlementDeadline(_knownLease(leaseId));
    }

    // ─── Balances ───────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function claim(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert OpenleaseZeroAddress();
        amount = _claimable[msg.sender][token];
        if (amount == 0) revert OpenleaseNothingToClaim(msg.sender, token);
        _claimable[msg.sender][token] = 0;
        emit Claimed(msg.sender, token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @inheritdoc IOpenlease
    function claimable(address account, address token) external view returns (uint256) {
        return _claimable[account][token];
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    function _openLease(uint256 offerId, uint32 duration, uint256 deposit, uint64 maxPricePerSecond)
        private
        returns (uint256 leaseId)
    {
        Offer storage o = _offers[offerId];
        _checkLeaseRequest(o, offerId, duration, deposit, maxPricePerSecond);
        uint96 bond = _toUint96(uint256(o.pricePerSecond) * o.noticePeriod * _params.bondBps / BPS);
        _lockBond(o.provider, o.token, bond);
        o.activeLeases += 1;
        leaseId = ++_leaseCount;
        uint32 now_ = uint32(block.timestamp);
        Lease memory l = Lease({
            tenant: msg.sender,
            offerId: uint32(offerId),
            startedAt: now_,
            endsAt: now_ + duration,
            deposit: _toUint96(deposit),
            settled: 0,
            pricePerSecond: o.pricePerSecond,
            bond: bond,
            noticePeriod: o.noticePeriod,
            minEndsAt: now_ + o.minDuration,
            status: LeaseStatus.Open
        });
        _leases[leaseId] = l;
        emit LeaseOpened(leaseId, offerId, msg.sender, l);
        _pull(o.token, msg.sender, deposit);
    }

    function _checkLeaseRequest(
        Offer storage o,
        uint256 offerId,
        uint32 duration,
        uint256 deposit,
        uint64 maxPricePerSecond
    ) private view {
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        if (o.paused) revert OpenleaseOfferPaused(offerId);
        uint64 price = o.pricePerSecond;
        if (price > maxPricePerSecond) revert OpenleasePriceAboveMax(offerId, price, maxPricePerSecond);
        if (o.activeLeases >= o.capacity) revert OpenleaseOfferAtCapacity(offerId, o.capacity);
        if (!_allowedTokens[o.token]) revert OpenleaseTokenNotAllowed(o.token);
        if (duration < o.minDuration || duration > o.maxDuration) {
            revert OpenleaseDurationOutOfRange(duration, o.minDuration, o.maxDuration);
        }
        // The deposit must pay for at least the minimum duration; more extends the runway.
        uint256 required = uint256(price) * o.minDuration;
        if (deposit < required) revert OpenleaseDepositTooSmall(deposit, required);
    }

    function _checkOfferTerms(
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
    ) private pure {
        if (
            pricePerSecond == 0 || minDuration == 0 || maxDuration < minDuration || noticePeriod > maxDuration
                || capacity == 0
        ) revert OpenleaseInvalidOfferTerms(pricePerSecond, minDuration, maxDuration, capacity);
    }

    function _providerOffer(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        if (o.provider != msg.sender) revert OpenleaseNotOfferProvider(offerId, msg.sender);
    }

    function _knownLease(uint256 leaseId) internal view returns (Lease storage l) {
        l = _leases[leaseId];
        if (l.status == LeaseStatus.None) revert OpenleaseUnknownLease(leaseId);
    }

    function _openLeaseOf(uint256 leaseId) internal view returns (Lease storage l) {
        l = _knownLease(leaseId);
        if (l.status == LeaseStatus.Finalized) revert OpenleaseLeaseFinalized(leaseId);
    }

    /// @dev The lease runs until its end or until the escrow's runway runs out.
    function _leaseEnd(Lease storage l) internal view returns (uint256) {
        return _runEnd(l.startedAt, l.endsAt, l.deposit, l.pricePerSecond);
    }

    function _runEnd(uint256 startedAt, uint256 endsAt, uint256 deposit, uint256 pricePerSecond)
        internal
        pure
        returns (uint256)
    {
        uint256 runwayEnd = startedAt + deposit / pricePerSecond;
        return runwayEnd < endsAt ? runwayEnd : endsAt;
    }

    function _settlementDeadline(Lease storage l) internal view returns (uint256) {
        return _leaseEnd(l) + _params.settlementWindow;
    }

    /// @dev Slashes `amount` of a lease's bond: the tenant is paid, less the protocol's cut.
    function _slashBond(uint256 leaseId, Lease storage l, uint96 amount, SlashReason reason) internal {
        Offer storage o = _offers[l.offerId];
        address provider = o.provider;
        address token = o.token;
        l.bond -= amount;
        _burnBond(provider, token, amount);
        uint256 cut = uint256(amount) * _params.slashCutBps / BPS;
        _claimable[l.tenant][token] += amount - cut;
        _feesOwed[token] += cut;
        emit BondSlashed(leaseId, provider, reason, amount, cut);
    }
}
