// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {LeaseMath} from "../libraries/LeaseMath.sol";
import {ProviderStaking} from "./ProviderStaking.sol";
import {Bounds} from "../libraries/Bounds.sol";

/// @title LeaseMarket
/// @notice Offers, leases and their escrow, and the claimable balances every payout lands in.
/// A lease runs from `startedAt` until `endsAt` or until its escrow's runway runs out, whichever is
/// first; no call is needed for it to end. After the end comes the lease's settlement window, and
/// after that anyone may finalize the lease: the rest of the escrow is refunded and the bond released.
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract LeaseMarket is ProviderStaking {
    using SafeERC20 for IERC20;

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────

    function publishOffer(
        address token,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity,
        bytes32 workload,
        address verifier
    ) external whenNotPaused returns (uint256 offerId) {
        _registeredProfile(msg.sender);
        if (!_allowedTokens[token]) revert OpenleaseTokenNotAllowed(token);
        if (verifier != address(0) && verifier.code.length == 0) revert OpenleaseVerifierNotContract(verifier);
        _checkOfferTerms(pricePerSecond, minDuration, maxDuration, noticePeriod, capacity);
        // Offer ids are stored in leases as uint32.
        offerId = _counters.offerCount + 1;
        if (offerId > type(uint32).max) revert OpenleaseAmountTooLarge(offerId, type(uint32).max);
        _counters.offerCount = uint32(offerId);
        uint16 version = _paramsVersionNow(_counters);
        _offers[offerId] = Offer({
            provider: msg.sender,
            pricePerSecond: pricePerSecond,
            capacity: capacity,
            activeLeases: 0,
            token: token,
            minDuration: minDuration,
            maxDuration: maxDuration,
            noticePeriod: noticePeriod,
            paused: false,
            paramsVersion: version,
            bondBps: _paramsVersions[version].bondBps,
            verifier: verifier,
            workload: workload
        });
        emit OfferPublished(
            offerId,
            msg.sender,
            token,
            pricePerSecond,
            minDuration,
            maxDuration,
            noticePeriod,
            capacity,
            version,
            workload,
            verifier
        );
    }

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

    function setOfferPaused(uint256 offerId, bool paused_) external {
        _providerOffer(offerId).paused = paused_;
        emit OfferPauseSet(offerId, paused_);
    }

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    function openLease(uint256 offerId, uint32 duration, uint256 deposit, bytes32 termsHash)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 leaseId)
    {
        leaseId = _openLease(offerId, duration, deposit, termsHash);
        _pull(_offers[offerId].token, msg.sender, deposit);
    }

    function openLeaseWithPermit(
        uint256 offerId,
        uint32 duration,
        uint256 deposit,
        bytes32 termsHash,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant returns (uint256 leaseId) {
        leaseId = _openLease(offerId, duration, deposit, termsHash);
        address token = _offers[offerId].token;
        // A permit seen in the mempool can be front-run; if it was already used, the allowance it
        // granted is in place and the pull below succeeds, so a failed permit is not an error here.
        try IERC20Permit(token).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {} catch {}
        _pull(token, msg.sender, deposit);
    }

    function topUp(uint256 leaseId, uint256 amount) external nonReentrant {
        if (amount == 0) revert OpenleaseZeroAmount();
        Lease storage l = _openLeaseOf(leaseId);
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
        uint88 deposit = _toUint88(l.deposit + amount);
        l.deposit = deposit;
        emit LeaseToppedUp(leaseId, amount, deposit);
        _pull(_offers[l.offerId].token, msg.sender, amount);
    }

    function closeLease(uint256 leaseId) external {
        Lease storage l = _openLeaseOf(leaseId);
        if (msg.sender != l.tenant && msg.sender != _offers[l.offerId].provider) {
            revert OpenleaseNotLeaseParty(leaseId, msg.sender);
        }
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
        _giveNotice(leaseId, l);
    }

    function terminateLease(uint256 leaseId) external {
        Lease storage l = _runningLeaseOfProvider(leaseId);
        l.endsAt = uint32(block.timestamp);
        emit LeaseTerminated(leaseId, block.timestamp);
        _slashBond(leaseId, l, l.bond, SlashReason.EarlyTermination);
    }

    function failoverLease(uint256 leaseId, uint256 offerId, uint32 duration, uint256 extraDeposit, bytes32 termsHash)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 newLeaseId)
    {
        Lease storage l = _openLeaseOf(leaseId);
        if (msg.sender != l.tenant) revert OpenleaseNotTenant(leaseId, msg.sender);
        address newToken = _offers[offerId].token;
        if (newToken == address(0)) revert OpenleaseUnknownOffer(offerId);
        address token = _offers[l.offerId].token;
        if (newToken != token) revert OpenleaseTokenMismatch(offerId, newToken, token);
        if (block.timestamp < _leaseEnd(l)) _giveNotice(leaseId, l);
        uint256 deposit = l.deposit;
        // The old lease keeps all its terms can still pay, so its end and its provider's earnings
        // stay as they were: a runway cut to the kept escrow still ends at `endsAt`.
        uint256 kept = LeaseMath.claimableCeiling(l.startedAt, l.endsAt, l.pricePerSecond, deposit);
        uint256 moved = deposit - kept;
        l.deposit = uint88(kept);
        newLeaseId = _openLease(offerId, duration, moved + extraDeposit, termsHash);
        emit LeaseFailedOver(leaseId, newLeaseId, moved, kept);
        if (extraDeposit > 0) _pull(token, msg.sender, extraDeposit);
    }

    function finalizeLease(uint256 leaseId) external {
        Lease storage l = _openLeaseOf(leaseId);
        uint256 deadline = _remediesDeadline(leaseId, l);
        if (block.timestamp < deadline) revert OpenleaseSettlementWindowOpen(leaseId, deadline);
        Dispute storage d = _disputes[leaseId];
        if (d.status == DisputeStatus.Open) revert OpenleaseDisputeOpen(leaseId, d.deadline);
        _finalize(leaseId, l);
    }

    // ─── Balances ───────────────────────────────────────────────────────────────────────────

    function claim(address token, address to) external nonReentrant returns (uint256 amount) {
        if (to == address(0)) revert OpenleaseZeroAddress();
        amount = _claimable[msg.sender][token];
        if (amount == 0) revert OpenleaseNothingToClaim(msg.sender, token);
        _claimable[msg.sender][token] = 0;
        emit Claimed(msg.sender, token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    /// @dev Opens a lease with the terms `termsHash` commits to; the caller pulls the deposit after.
    function _openLease(uint256 offerId, uint32 duration, uint256 deposit, bytes32 termsHash)
        private
        returns (uint256 leaseId)
    {
        Offer storage stored = _offers[offerId];
        // Read once: every term below is a memory read, not a storage one.
        Offer memory o = stored;
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        {
            bytes32 current = _offerTermsHash(offerId, o, o.paramsVersion);
            if (termsHash != current) revert OpenleaseTermsChanged(offerId, termsHash, current);
        }
        if (o.paused) revert OpenleaseOfferPaused(offerId);
        if (o.activeLeases >= o.capacity) revert OpenleaseOfferAtCapacity(offerId, o.capacity);
        if (!_allowedTokens[o.token]) revert OpenleaseTokenNotAllowed(o.token);
        if (duration < o.minDuration || duration > o.maxDuration) {
            revert OpenleaseDurationOutOfRange(duration, o.minDuration, o.maxDuration);
        }
        // The deposit must pay for at least the minimum duration; more extends the runway.
        if (deposit < uint256(o.pricePerSecond) * o.minDuration) {
            revert OpenleaseDepositTooSmall(deposit, uint256(o.pricePerSecond) * o.minDuration);
        }

        uint96 bond = _toUint96(LeaseMath.bond(o.pricePerSecond, o.noticePeriod, o.bondBps));
        _lockBond(o.provider, o.token, bond);
        stored.activeLeases = o.activeLeases + 1;
        leaseId = _counters.leaseCount + 1;
        _counters.leaseCount = uint64(leaseId);
        uint32 now_ = uint32(block.timestamp);
        Lease memory l = Lease({
            tenant: msg.sender,
            offerId: uint32(offerId),
            startedAt: now_,
            endsAt: now_ + duration,
            deposit: _toUint88(deposit),
            settled: 0,
            pricePerSecond: o.pricePerSecond,
            paramsVersion: o.paramsVersion,
            bond: bond,
            noticePeriod: o.noticePeriod,
            minEndsAt: now_ + o.minDuration,
            status: LeaseStatus.Open
        });
        _leases[leaseId] = l;
        emit LeaseOpened(leaseId, offerId, msg.sender, l);
    }

    /// @dev Brings the end of a running lease forward to its notice period from now (never before
    /// its minimum duration); notice never extends a lease.
    function _giveNotice(uint256 leaseId, Lease storage l) private {
        uint256 noticeEnd = block.timestamp + l.noticePeriod;
        if (noticeEnd < l.minEndsAt) noticeEnd = l.minEndsAt;
        if (noticeEnd < l.endsAt) l.endsAt = uint32(noticeEnd);
        emit LeaseClosed(leaseId, msg.sender, l.endsAt);
    }

    /// @dev Locks `bond` of the provider's free stake for a new lease.
    function _lockBond(address provider, address token, uint96 bond) private {
        Stake storage s = _stakes[provider][token];
        uint96 locked = s.locked;
        uint256 free = s.staked - locked;
        if (bond > free) revert OpenleaseInsufficientFreeStake(provider, token, free, bond);
        s.locked = locked + bond;
    }

    function _runningLeaseOfProvider(uint256 leaseId) private view returns (Lease storage l) {
        l = _openLeaseOf(leaseId);
        if (msg.sender != _offers[l.offerId].provider) revert OpenleaseNotLeaseProvider(leaseId, msg.sender);
        uint256 end = _leaseEnd(l);
        if (block.timestamp >= end) revert OpenleaseLeaseEnded(leaseId, end);
    }

    function _checkOfferTerms(
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
    ) private pure {
        if (
            pricePerSecond == 0 || minDuration == 0 || maxDuration < minDuration
                || noticePeriod < Bounds.MIN_NOTICE_PERIOD || noticePeriod > maxDuration || capacity == 0
        ) {
            revert OpenleaseInvalidOfferTerms(pricePerSecond, minDuration, maxDuration, noticePeriod, capacity);
        }
    }

    function _providerOffer(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        if (o.provider != msg.sender) revert OpenleaseNotOfferProvider(offerId, msg.sender);
    }
}
