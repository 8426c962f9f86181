// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../../src/libraries/LeaseMath.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {Bounds} from "../../../src/libraries/Bounds.sol";
import {MarketStore} from "./MarketStore.sol";

/// @notice The provider: its stake, its offers, and its remedies against a lease (termination, payment demands,
/// eviction). An actor of its own because what a provider can do to a tenant, and to its own locked stake, is
/// where the market's promises to tenants are tested: unstaking locked stake, demanding what is not due,
/// evicting without an unanswered demand, keeping the slot or the refund of an evicted lease.
abstract contract ProviderActions is MarketStore {
    // ─── Stake ──────────────────────────────────────────────────────────────────────────────

    function stake(uint256 pSeed, uint256 tSeed, uint256 amount) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        amount = _bound(amount, 1, 100_000 * _unit(token));
        _mint(token, p, amount);
        vm.prank(p);
        try market.stake(token, amount) {
            if (_paused() || !market.isTokenAllowed(token)) _violation("stake while paused or delisted");
            ghostTotalStaked[p][token] += amount;
            ghostIn[token] += amount;
            _done("stake");
        } catch (bytes memory err) {
            _expectRefusal(err, _newBusinessRefusal(token), "stake refusal");
            _skip("stake");
        }
    }

    /// @dev Asks for up to everything staked; more than the free stake must be refused. The thaw runs the
    /// unbonding period of the version in force now.
    function requestUnstake(uint256 pSeed, uint256 tSeed, uint256 amount) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        Stake memory s = market.stakeOf(p, token);
        if (s.staked == 0) {
            _skip("requestUnstake");
            return;
        }
        amount = _bound(amount, 1, s.staked);
        uint256 free = s.staked - s.locked;
        vm.prank(p);
        try market.requestUnstake(token, amount) {
            if (amount > free) _violation("unstaked locked stake");
            Stake memory a = market.stakeOf(p, token);
            if (a.staked != s.staked - amount || a.thawing != s.thawing + amount || a.locked != s.locked) {
                _violation("requestUnstake deltas");
            }
            if (a.thawEndsAt != block.timestamp + _paramsNow().unbondingPeriod) {
                _violation("thaw != unbonding period in force");
            }
            _done("requestUnstake");
        } catch {
            if (amount <= free) _violation("requestUnstake of free stake refused");
            _skip("requestUnstake");
        }
    }

    function withdrawStake(uint256 pSeed, uint256 tSeed) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        Stake memory s = market.stakeOf(p, token);
        if (s.thawing == 0) {
            p = providers[(pSeed % providers.length + 1) % providers.length];
            s = market.stakeOf(p, token);
            if (s.thawing == 0) {
                _skip("withdrawStake");
                return;
            }
        }
        _warpTo(s.thawEndsAt);
        uint256 balance = MockStablecoin(token).balanceOf(p);
        vm.prank(p);
        uint256 amount = market.withdrawStake(token, p);
        if (amount != s.thawing || MockStablecoin(token).balanceOf(p) != balance + amount) {
            _violation("withdrawStake amount");
        }
        Stake memory a = market.stakeOf(p, token);
        if (a.staked != s.staked || a.locked != s.locked || a.thawing != 0) _violation("withdrawStake deltas");
        ghostTotalWithdrawn[p][token] += amount;
        ghostOut[token] += amount;
        _done("withdrawStake");
    }

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────

    /// @dev One time in sixteen the notice is below `MIN_NOTICE_PERIOD`, which must be refused (no lease
    /// without a bond).
    function publishOffer(uint256 pSeed, uint256 tSeed, uint64 price, uint32 minDuration, uint32 span, uint32 notice)
        external
        step
    {
        if (offers.length >= MAX_OFFERS) {
            _skip("publishOffer");
            return;
        }
        address token = _token(tSeed);
        price = _unit(token) == 1e6 ? uint64(_bound(price, 1, 10_000)) : uint64(_bound(price, 1e9, 1e16));
        minDuration = uint32(_bound(minDuration, 1 minutes, 2 hours));
        uint32 maxDuration = minDuration + uint32(_bound(span, 0, 3 days));
        if (maxDuration < Bounds.MIN_NOTICE_PERIOD) maxDuration = uint32(Bounds.MIN_NOTICE_PERIOD);
        bool noNotice = pSeed % 16 == 0;
        notice = noNotice
            ? uint32(_bound(notice, 0, Bounds.MIN_NOTICE_PERIOD - 1))
            : uint32(_bound(notice, Bounds.MIN_NOTICE_PERIOD, _min(maxDuration, 2 hours)));
        address p = providers[pSeed % providers.length];
        uint16 capacity = uint16(1 + pSeed % 5);
        bytes memory want = _newBusinessRefusal(token);
        if (want.length == 0 && noNotice) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInvalidOfferTerms.selector, price, minDuration, maxDuration, notice, capacity
            );
        }
        vm.prank(p);
        try market.publishOffer(
            token, price, minDuration, maxDuration, notice, capacity, bytes32(0), address(0)
        ) returns (
            uint256 id
        ) {
            if (want.length != 0) {
                _violation("publishOffer should have been refused");
            }
            // A new offer's leases get the version in force (publishing it is the provider's consent).
            ghostOfferVersion[id] = _versionNow();
            if (market.offer(id).paramsVersion != _versionNow()) _violation("offer version != version in force");
            offers.push(id);
            _done("publishOffer");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "publishOffer refusal");
            _skip("publishOffer");
        }
    }

    // ─── Remedies ───────────────────────────────────────────────────────────────────────────

    function terminateLease(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("terminateLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        vm.prank(_leaseProvider(l));
        market.terminateLease(leaseId);
        Lease memory a = market.lease(leaseId);
        if (a.endsAt != block.timestamp || a.bond != 0) _violation("terminate");
        _done("terminateLease");
    }

    /// @dev The provider demands payment of an open lease, mostly one in arrears (disputed or not); else, one
    /// time in four, any lease not finalized (an evicted one, or a tenant current); one time in nine the tenant
    /// tries in its provider's place. Refused exactly when the model says (not open, not the provider, not in
    /// arrears by `LeaseMath.arrears`); otherwise the demand is for what was due (at most the escrow), made now.
    function demandPayment(uint256 lSeed, uint256 seed) external step {
        uint256 leaseId = _pickLease(lSeed, IN_ARREARS);
        if (leaseId == 0 || seed % 4 == 0) leaseId = _pickLease(lSeed >> 8, NOT_FINALIZED);
        if (leaseId == 0) {
            _skip("demandPayment");
            return;
        }
        _demand(leaseId, seed % 9 == 0);
    }

    /// @dev A demand by the lease's provider (or its tenant, `byTenant`), checked against the model; returns
    /// whether it was made.
    function _demand(uint256 leaseId, bool byTenant) internal returns (bool) {
        Lease memory l = market.lease(leaseId);
        address p = _leaseProvider(l);
        address caller = byTenant ? l.tenant : p;
        (uint256 due, uint256 owed) =
            LeaseMath.arrears(l.startedAt, _end(l), l.pricePerSecond, l.settled, Bounds.PAYMENT_GRACE, block.timestamp);
        bytes memory want;
        if (l.status != LeaseStatus.Open) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseNotOpen.selector, leaseId, l.status);
        } else if (caller != p) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, caller);
        } else if (block.timestamp + Bounds.PAYMENT_GRACE >= _deadline(leaseId, l)) {
            // The tenant must have its whole grace to answer inside the settlement window.
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTooLateToDemand.selector, leaseId, _deadline(leaseId, l)
            );
        } else if (owed == 0) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotInArrears.selector, leaseId, l.settled, due);
        }
        vm.prank(caller);
        try market.demandPayment(leaseId) {
            if (want.length != 0) _violation("demand should have been refused");
            PaymentDemand memory d = market.paymentDemand(leaseId);
            if (d.due != _min(due, l.deposit) || d.madeAt != block.timestamp || d.remediesUntil != 0) {
                _violation("demand != what was due, made now");
            }
            if (keccak256(abi.encode(market.lease(leaseId))) != keccak256(abi.encode(l))) {
                _violation("a demand changed the lease");
            }
            _done("demandPayment");
            return true;
        } catch (bytes memory err) {
            _expectRefusal(err, want, "demandPayment refusal != model");
            _done("demandRefused");
            return false;
        }
    }

    /// @dev The provider evicts: mostly a lease whose demand went unanswered for the grace; else it demands
    /// payment of a lease in arrears (or of a running one after some time) and waits the grace out (sometimes
    /// less); one time in five, any lease not finalized as it stands (no demand, a demand answered or too
    /// recent, evicted already); one time in ten the tenant tries. Refused exactly when the model says (not
    /// open, not the provider, no demand `PAYMENT_GRACE` old, the demand answered); otherwise the lease ends
    /// now if it runs, the tenant pays the hold charge (`PAYMENT_GRACE` of the price within what accrued), the
    /// escrow no receipt can claim any more is refunded, the slot is freed, and the bond stays locked until the
    /// remedies deadline: the settlement deadline the lease had.
    function evictLease(uint256 lSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickLease(lSeed, EVICTABLE);
        if (leaseId == 0) leaseId = _demandAndWait(lSeed, warpSeed);
        if (warpSeed % 5 == 1) leaseId = _pickLease(lSeed >> 8, NOT_FINALIZED);
        if (leaseId == 0) {
            _skip("evictLease");
            return;
        }
        EvictCase memory c;
        c.leaseId = leaseId;
        c.l = market.lease(leaseId);
        c.o = market.offer(c.l.offerId);
        c.running = block.timestamp < _end(c.l);
        c.caller = warpSeed % 10 == 3 ? c.l.tenant : c.o.provider;
        PaymentDemand memory d = market.paymentDemand(leaseId);
        bytes memory want;
        if (c.l.status != LeaseStatus.Open) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseNotOpen.selector, leaseId, c.l.status);
        } else if (c.caller != c.o.provider) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, c.caller);
        } else if (d.madeAt == 0 || block.timestamp < uint256(d.madeAt) + Bounds.PAYMENT_GRACE) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, uint256(d.madeAt) + Bounds.PAYMENT_GRACE
            );
        } else if (c.l.settled >= d.due) {
            want =
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDemandAnswered.selector, leaseId, c.l.settled, d.due);
        } else if (block.timestamp >= _deadline(leaseId, c.l)) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTooLateToDemand.selector, leaseId, _deadline(leaseId, c.l)
            );
        }
        c.remediesUntil = _deadline(leaseId, c.l);
        c.tenantClaimable = market.claimable(c.l.tenant, c.o.token);
        c.providerClaimable = market.claimable(c.o.provider, c.o.token);
        c.fees = market.feesOwed(c.o.token);
        c.stake = market.stakeOf(c.o.provider, c.o.token);
        vm.prank(c.caller);
        try market.evictLease(leaseId) {
            if (want.length != 0) _violation("evicted without an unanswered demand, or a lease not open");
            _checkEviction(c);
            ghostRemediesUntil[leaseId] = c.remediesUntil;
            _done(c.running ? "evictLease" : "evictEnded");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "evictLease refusal != model");
            _done("evictRefused");
        }
    }

    /// @dev A lease in arrears (or a running one, after some time) gets a payment demand and the grace
    /// passes (a time in four, not quite); returns it, or zero.
    function _demandAndWait(uint256 lSeed, uint256 warpSeed) internal returns (uint256 leaseId) {
        leaseId = _pickLease(lSeed, warpSeed % 2 == 0 ? RUNNING_IN_ARREARS : IN_ARREARS);
        if (leaseId == 0) {
            leaseId = _pickOrOpen(lSeed, RUNNING);
            if (leaseId == 0) return 0;
            // Past the grace, mostly while the lease still runs.
            uint256 later = block.timestamp + _bound(warpSeed, Bounds.PAYMENT_GRACE + 1, 3 hours);
            uint256 end = _end(market.lease(leaseId));
            _warpTo(later < end || warpSeed % 3 == 0 ? later : end - 1);
            if (!_matches(leaseId, IN_ARREARS)) return 0;
        }
        if (!_demand(leaseId, false)) return 0;
        _warpTo(
            block.timestamp
                + _bound(warpSeed >> 8, warpSeed % 4 == 0 ? 0 : Bounds.PAYMENT_GRACE, Bounds.PAYMENT_GRACE + 1 hours)
        );
    }

    /// @dev A lease about to be evicted, and what eviction touches, as they were before.
    struct EvictCase {
        uint256 leaseId;
        Lease l;
        Offer o;
        bool running;
        address caller;
        uint256 remediesUntil;
        uint256 tenantClaimable;
        uint256 providerClaimable;
        uint256 fees;
        Stake stake;
    }

    function _checkEviction(EvictCase memory c) internal {
        Lease memory a = market.lease(c.leaseId);
        // The model: the lease ends now if it runs; the tenant pays the hold charge within what the terms let
        // accrue until then; the escrow beyond that is refunded.
        uint256 endsAt = c.running ? block.timestamp : c.l.endsAt;
        uint256 ceiling = LeaseMath.claimableCeiling(c.l.startedAt, endsAt, c.l.pricePerSecond, c.l.deposit);
        uint256 hold = uint256(c.l.pricePerSecond) * Bounds.PAYMENT_GRACE;
        if (c.l.settled + hold > ceiling) hold = ceiling > c.l.settled ? ceiling - c.l.settled : 0;
        uint256 feeBps = ghostLeaseParamsOf[c.leaseId].protocolFeeBps;
        uint256 fee = LeaseMath.fee(c.l.settled + hold, feeBps) - LeaseMath.fee(c.l.settled, feeBps);
        if (a.status != LeaseStatus.Evicted) _violation("evicted lease not Evicted");
        if (a.endsAt != endsAt) _violation("evicted lease end (now if running, kept if ended)");
        if (a.deposit != ceiling) _violation("evicted lease deposit != claimable ceiling");
        if (a.settled != c.l.settled + hold) _violation("eviction hold charge");
        if (a.bond != c.l.bond) _violation("eviction touched the bond");
        Stake memory sa = market.stakeOf(c.o.provider, c.o.token);
        if (sa.staked != c.stake.staked || sa.locked != c.stake.locked) _violation("eviction released or slashed");
        if (market.claimable(c.l.tenant, c.o.token) != c.tenantClaimable + c.l.deposit - ceiling) {
            _violation("eviction refund != deposit - claimable ceiling");
        }
        if (market.claimable(c.o.provider, c.o.token) != c.providerClaimable + hold - fee) {
            _violation("eviction credit != hold charge - fee");
        }
        if (market.feesOwed(c.o.token) != c.fees) _violation("eviction credited fees before finalize");
        if (market.offer(c.l.offerId).activeLeases != c.o.activeLeases - 1) _violation("eviction kept the slot");
        if (market.paymentDemand(c.leaseId).remediesUntil != c.remediesUntil) {
            _violation("remediesUntil != the settlement deadline before the eviction");
        }
        if (market.remediesDeadline(c.leaseId) != c.remediesUntil) _violation("remediesDeadline view");
    }
}
