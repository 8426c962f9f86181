// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseMath} from "../../../src/libraries/LeaseMath.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {MarketStore} from "./MarketStore.sol";

/// @notice The tenant: opening, funding, closing and failing over its leases, and the session signers it
/// authorizes per provider. An actor of its own because it holds the escrow and decides who may sign receipts
/// against it: the checks here are that notice ends a lease when its terms say, that a failover moves exactly
/// the escrow no receipt can claim any more and leaves what the old provider can settle alone, and that a
/// signer's cap is never lowered.
abstract contract TenantActions is MarketStore {
    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    function openLease(uint256 tSeed, uint256 oSeed, uint32 duration, uint256 deposit) external step {
        if (_open(tSeed, oSeed, duration, deposit) == 0) {
            _skip("openLease");
            return;
        }
    }

    function topUp(uint256 lSeed, uint256 payerSeed, uint256 amount) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("topUp");
            return;
        }
        Lease memory l = market.lease(leaseId);
        address token = _leaseToken(l);
        address payer = payerSeed % 3 == 0 ? keeper : l.tenant;
        amount = _bound(amount, 1, uint256(l.pricePerSecond) * 1 days);
        _mint(token, payer, amount);
        vm.prank(payer);
        market.topUp(leaseId, amount);
        if (market.lease(leaseId).deposit != l.deposit + amount) _violation("topUp deposit");
        if (market.leaseEnd(leaseId) < _end(l)) _violation("topUp shortened the runway");
        ghostDeposits[token] += amount;
        ghostIn[token] += amount;
        _done("topUp");
    }

    /// @dev The lease's end after notice given now: its notice period from now, never before its minimum
    /// duration, never later than it ends anyway.
    function _endsAtAfterNotice(Lease memory l) internal view returns (uint256 endsAt) {
        uint256 noticeEnd = block.timestamp + l.noticePeriod;
        if (noticeEnd < l.minEndsAt) noticeEnd = l.minEndsAt;
        endsAt = _min(noticeEnd, l.endsAt);
    }

    function closeLease(uint256 lSeed, bool byProvider) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("closeLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        vm.prank(byProvider ? _leaseProvider(l) : l.tenant);
        market.closeLease(leaseId);
        if (market.lease(leaseId).endsAt != _endsAtAfterNotice(l)) _violation("closeLease endsAt");
        _done("closeLease");
    }

    /// @dev What a failover should do, by the model.
    struct FailoverCase {
        uint256 leaseId;
        uint256 offerId;
        address tenant;
        address token;
        uint256 endsAt;
        uint256 end;
        uint256 kept;
        uint256 moved;
        uint256 extra;
        uint256 duration;
        uint256 version;
        uint256 balance;
        uint256 bond;
        bytes want;
    }

    /// @dev The tenant of a lease not finalized fails over to an offer in the same token: notice is given if
    /// the lease runs, `deposit - claimableCeiling` moves to the new lease plus an extra deposit when that is
    /// short of the new minimum; the old lease's end (what its provider can settle) does not change.
    function failoverLease(uint256 lSeed, uint256 oSeed, uint32 duration, uint256 extraSeed) external step {
        FailoverCase memory c;
        c.leaseId = _pickLease(lSeed, NOT_FINALIZED);
        if (c.leaseId == 0) {
            _skip("failoverLease");
            return;
        }
        Lease memory l = market.lease(c.leaseId);
        c.tenant = l.tenant;
        c.token = _leaseToken(l);
        Offer memory o;
        (c.offerId, o) = _offerWithRoom(oSeed, c.token);
        if (c.offerId == 0) {
            _skip("failoverLease");
            return;
        }

        // The model: notice if running, then keep what the terms let accrue until the end.
        c.endsAt = block.timestamp < _end(l) ? _endsAtAfterNotice(l) : l.endsAt;
        c.end = LeaseMath.runEnd(l.startedAt, c.endsAt, l.deposit, l.pricePerSecond);
        c.kept = LeaseMath.claimableCeiling(l.startedAt, c.endsAt, l.pricePerSecond, l.deposit);
        c.moved = l.deposit - c.kept;
        uint256 required = uint256(o.pricePerSecond) * o.minDuration;
        c.extra = _bound(extraSeed, 0, uint256(o.pricePerSecond) * 1 hours);
        if (c.moved < required) c.extra += required - c.moved;
        c.duration = _bound(duration, o.minDuration, _min(o.maxDuration, uint256(o.minDuration) + 3 days));
        c.want = _newBusinessRefusal(c.token);
        c.version = ghostOfferVersion[c.offerId];
        if (c.want.length == 0) _ensureFreeStake(o, c.version);
        c.bond = LeaseMath.bond(o.pricePerSecond, o.noticePeriod, ghostVersionParams[c.version].bondBps);
        _mint(c.token, c.tenant, c.extra);
        c.balance = MockStablecoin(c.token).balanceOf(c.tenant);
        _failover(c, market.offerTermsHash(c.offerId));
    }

    function _failover(FailoverCase memory c, bytes32 terms) internal {
        vm.prank(c.tenant);
        try market.failoverLease(c.leaseId, c.offerId, uint32(c.duration), c.extra, terms) returns (uint256 newId) {
            if (c.want.length != 0) _violation("failover while paused or delisted");
            Lease memory a = market.lease(c.leaseId);
            Lease memory n = market.lease(newId);
            _recordOpen(newId, n, c.version);
            if (a.endsAt != c.endsAt || market.leaseEnd(c.leaseId) != c.end) _violation("failover moved the old end");
            if (a.deposit != c.kept) _violation("failover kept != claimable ceiling");
            if (n.deposit != c.moved + c.extra || n.tenant != c.tenant) _violation("failover new deposit");
            if (market.unclaimableEscrow(c.leaseId) != 0) _violation("failover left unclaimable escrow");
            if (MockStablecoin(c.token).balanceOf(c.tenant) != c.balance - c.extra) {
                _violation("failover pulled != extra");
            }
            if (n.bond != c.bond || n.bond == 0) _violation("failover bond at open");
            ghostDeposits[c.token] += c.extra;
            ghostIn[c.token] += c.extra;
            _done("failoverLease");
        } catch (bytes memory err) {
            _expectRefusal(err, c.want, "failoverLease refusal");
            _skip("failoverLease");
        }
    }

    // ─── Session signers ────────────────────────────────────────────────────────────────────

    /// @dev Re-authorizes a signer for a provider with a new cap and expiry (sometimes soon, so that it
    /// expires); this also undoes a revocation. A lower cap is tried too, and must be refused: it would void
    /// receipts for service already delivered.
    function authorizeSigner(uint256 sSeed, uint256 pSeed, uint256 cap, uint256 expiry) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        address signer = signers[index];
        address p = providers[pSeed % providers.length];
        SessionSigner memory before = market.sessionSigner(tenant, signer, p);
        uint256 spent = before.spent;
        expiry = block.timestamp + _bound(expiry, 1 hours, 60 days);
        if (before.cap > 1 && sSeed % 5 == 0) {
            uint256 lower = _bound(cap, 1, before.cap - 1);
            vm.prank(tenant);
            try market.authorizeSigner(signer, p, uint96(lower), uint40(expiry)) {
                _violation("authorizeSigner: a cap decreased");
            } catch {}
            SessionSigner memory unchanged = market.sessionSigner(tenant, signer, p);
            if (unchanged.cap != before.cap || unchanged.expiresAt != before.expiresAt) _violation("authorizeSigner");
            _done("authorizeSigner");
            return;
        }
        uint256 floor = before.cap > spent ? before.cap : (spent > 0 ? spent : 1);
        cap = _bound(cap, floor, floor + (index % 2 == 0 ? 1e24 : 1_000e6));
        vm.prank(tenant);
        market.authorizeSigner(signer, p, uint96(cap), uint40(expiry));
        SessionSigner memory a = market.sessionSigner(tenant, signer, p);
        if (a.cap != cap || a.spent != spent || a.expiresAt != expiry || a.revoked) _violation("authorizeSigner");
        ghostSpentCeiling[tenant][signer][p] = cap > spent ? cap : spent;
        _done("authorizeSigner");
    }

    /// @dev Revokes a signer's authorization for a provider: its expiry comes forward to now (never later).
    /// Revoking one never authorized is refused (`OpenleaseUnknownSigner`).
    function revokeSigner(uint256 sSeed, uint256 pSeed) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        address signer = signers[index];
        address p = providers[pSeed % providers.length];
        if (_revoke(tenant, signer, p)) _done("revokeSigner");
        else _done("revokeRefused");
    }
}
