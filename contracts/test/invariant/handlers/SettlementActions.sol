// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../../src/libraries/LeaseMath.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {MarketStore} from "./MarketStore.sol";

/// @notice The relayer: anyone may settle receipts, finalize a lease at its remedies deadline and claim a
/// balance, so these run from a keeper with no stake in the lease. An actor of its own because none of it needs
/// a party's goodwill: what a receipt pays, what finalize refunds and releases and what a claim sends are checked
/// against the model whoever submits them, receipts of a key revoked since included.
abstract contract SettlementActions is MarketStore {
    // ─── Receipts ───────────────────────────────────────────────────────────────────────────

    /// @dev The tenant itself (half the time) or one of its two session signers.
    function _signerFor(address tenant, uint256 seed) internal view returns (address) {
        uint256 which = seed % 4;
        if (which >= 2) return tenant;
        which += 1;
        for (uint256 i; i < tenants.length; ++i) {
            if (tenants[i] == tenant) return signers[2 * i + which - 1];
        }
        return tenant;
    }

    /// @dev A receipt of the lease for `cumulative` whose period ends now, signed by `signer`.
    function _signed(uint256 leaseId, uint256 cumulative, address signer)
        internal
        view
        returns (SignedReceipt memory sr)
    {
        return _signedAt(leaseId, cumulative, signer, block.timestamp);
    }

    /// @dev The same for a period ending at `periodEnd` (backdated, or in the future).
    function _signedAt(uint256 leaseId, uint256 cumulative, address signer, uint256 periodEnd)
        internal
        view
        returns (SignedReceipt memory sr)
    {
        sr.receipt = ServiceReceipt({
            leaseId: leaseId,
            cumulativeAmount: cumulative,
            usageDigest: keccak256(abi.encode(leaseId, cumulative, periodEnd)),
            periodEnd: uint64(periodEnd)
        });
        sr.signer = signer;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[signer], market.receiptDigest(sr.receipt));
        sr.signature = abi.encodePacked(r, s, v);
    }

    /// @dev A period end for a receipt signed now: mostly now, a time in four backdated up to two hours.
    function _periodEnd(uint256 seed) internal view returns (uint256) {
        if (seed % 4 != 0) return block.timestamp;
        uint256 back = _bound(seed >> 8, 1, 2 hours);
        return block.timestamp > back ? block.timestamp - back : 0;
    }

    /// @dev A cumulative amount around what accrued: mostly above what was settled, sometimes below.
    function _cumulative(Lease memory l, uint256 seed) internal view returns (uint256) {
        uint256 accrued = _accrued(l);
        uint256 hi = (accrued > l.settled ? accrued : l.settled) + uint256(l.pricePerSecond) * 10 minutes;
        uint256 lo = seed % 8 == 0 ? 0 : l.settled + 1;
        return _bound(seed >> 8, lo, hi);
    }

    /// @dev What the documented rules say a receipt pays, given what this batch already settled before it: the
    /// lease's own window, then the signer's authorization for the lease's provider (never authorized; or the
    /// receipt's period ends at or after its expiry or revocation), then `LeaseMath.payable_` with what the
    /// terms let accrue until the receipt's period end (or now, if sooner). The status is not read: a
    /// finalized lease is past its window, an evicted one settles within its own.
    function _model(SignedReceipt memory sr, uint256 settledBefore, uint256 spentBefore)
        internal
        view
        returns (SettlementResult, uint256)
    {
        uint256 leaseId = sr.receipt.leaseId;
        if (leaseId == 0 || leaseId > market.leaseCount()) return (SettlementResult.UnknownLease, 0);
        Lease memory l = market.lease(leaseId);
        if (block.timestamp >= _deadline(leaseId, l)) return (SettlementResult.SettlementWindowClosed, 0);
        uint256 capLeft = type(uint256).max;
        if (sr.signer != l.tenant) {
            SessionSigner memory s = market.sessionSigner(l.tenant, sr.signer, _leaseProvider(l));
            if (s.cap == 0) return (SettlementResult.SignerNotAuthorized, 0);
            if (sr.receipt.periodEnd >= s.expiresAt) {
                return (s.revoked ? SettlementResult.SignerRevoked : SettlementResult.SignerExpired, 0);
            }
            // A cap re-authorized below what was spent leaves nothing.
            capLeft = s.cap > spentBefore ? s.cap - spentBefore : 0;
        }
        return LeaseMath.payable_(
            settledBefore, l.deposit, _accruedUntil(l, sr.receipt.periodEnd), sr.receipt.cumulativeAmount, capLeft
        );
    }

    /// @dev What the receipt's signer has spent under its authorization for the lease's provider (zero for the
    /// tenant itself).
    function _spent(Lease memory l, address signer) internal view returns (uint256) {
        return market.sessionSigner(l.tenant, signer, _leaseProvider(l)).spent;
    }

    function settle(uint256 lSeed, uint256 signerSeed, uint256 cumSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, SETTLEABLE);
        if (leaseId == 0) {
            _skip("settle");
            return;
        }
        Lease memory l = market.lease(leaseId);
        // Let some time pass, within the settlement window.
        uint256 later = block.timestamp + _bound(warpSeed, 0, 2 hours);
        if (later < _deadline(leaseId, l)) _warpTo(later);
        SignedReceipt memory sr =
            _signedAt(leaseId, _cumulative(l, cumSeed), _signerFor(l.tenant, signerSeed), _periodEnd(warpSeed >> 64));
        if (_settleChecked(sr)) _done("settle");
        else _skip("settle");
    }

    /// @dev Settles one receipt and checks the outcome against the model: what it pays (or why not), the
    /// settled delta, the provider's credit (paid less the fee, which stays in the lease). Returns whether it
    /// paid.
    function _settleChecked(SignedReceipt memory sr) internal returns (bool) {
        uint256 leaseId = sr.receipt.leaseId;
        Lease memory l = market.lease(leaseId);
        (SettlementResult expected, uint256 expectedPaid) = _model(sr, l.settled, _spent(l, sr.signer));
        Offer memory o = market.offer(l.offerId);
        uint256 providerBefore = market.claimable(o.provider, o.token);
        uint256 feesBefore = market.feesOwed(o.token);

        vm.prank(keeper);
        try market.settle(sr) returns (uint256 paid) {
            pendingPeriodEnds.push(sr.receipt.periodEnd);
            if (expected != SettlementResult.Settled || paid != expectedPaid) _violation("settle paid != model");
            uint256 settled = market.lease(leaseId).settled;
            if (settled != l.settled + paid) _violation("settled delta");
            uint256 feeBps = ghostLeaseParamsOf[leaseId].protocolFeeBps;
            uint256 fee = LeaseMath.fee(settled, feeBps) - LeaseMath.fee(l.settled, feeBps);
            if (market.claimable(o.provider, o.token) - providerBefore != paid - fee) {
                _violation("provider credit != paid - fee");
            }
            if (market.feesOwed(o.token) != feesBefore) _violation("settlement credited fees before finalize");
            return true;
        } catch (bytes memory err) {
            bytes memory want =
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, expected);
            _expectRefusal(err, want, "settle failure != model");
            return false;
        }
    }

    /// @dev One to four receipts, mostly of settleable leases (repeats included), sometimes of any lease
    /// (finalized and evicted ones included) or none, some backdated: every item's result and amount must
    /// match the rules applied in order.
    function settleBatch(uint256[4] calldata seeds, uint256 n) external step {
        vm.warp(block.timestamp + _bound(n >> 8, 0, 1 hours));
        n = _bound(n, 1, 4);
        SignedReceipt[] memory items = new SignedReceipt[](n);
        SettlementResult[] memory expected = new SettlementResult[](n);
        uint256[] memory expectedPaid = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            items[i] = _batchItem(seeds[i]);
            (expected[i], expectedPaid[i]) = _modelInBatch(items, expectedPaid, i);
        }
        uint256 settledSum;
        for (uint256 i; i < n; ++i) {
            settledSum += expectedPaid[i];
            pendingPeriodEnds.push(items[i].receipt.periodEnd);
        }
        vm.prank(keeper);
        SettlementResult[] memory results = market.settleBatch(items);
        for (uint256 i; i < n; ++i) {
            if (results[i] != expected[i]) {
                bool finalized = market.lease(items[i].receipt.leaseId).status == LeaseStatus.Finalized;
                _violation(
                    finalized && results[i] == SettlementResult.Settled
                        ? "settleBatch settled a finalized lease"
                        : "settleBatch result != model"
                );
            }
        }
        if (settledSum > 0) _done("settleBatch");
        else _skip("settleBatch");
    }

    function _batchItem(uint256 seed) internal view returns (SignedReceipt memory) {
        uint256 leaseId = _pickLease(seed, SETTLEABLE);
        uint256 count = market.leaseCount();
        if (leaseId == 0 || seed % 10 == 0) leaseId = count == 0 ? 1 : 1 + (seed >> 16) % (count + 1);
        if (leaseId > count) return _signed(leaseId, 1, signers[0]); // unknown lease
        Lease memory l = market.lease(leaseId);
        return _signedAt(leaseId, _cumulative(l, seed >> 32), _signerFor(l.tenant, seed >> 24), _periodEnd(seed >> 128));
    }

    /// @dev The model for item `i`, with the settled and spent totals that items before it produced.
    function _modelInBatch(SignedReceipt[] memory items, uint256[] memory paid, uint256 i)
        internal
        view
        returns (SettlementResult, uint256)
    {
        uint256 leaseId = items[i].receipt.leaseId;
        if (leaseId == 0 || leaseId > market.leaseCount()) return _model(items[i], 0, 0);
        Lease memory l = market.lease(leaseId);
        uint256 settled = l.settled;
        address p = _leaseProvider(l);
        uint256 spent = market.sessionSigner(l.tenant, items[i].signer, p).spent;
        for (uint256 j; j < i; ++j) {
            if (items[j].receipt.leaseId == leaseId) settled += paid[j];
            if (items[j].signer == items[i].signer && items[i].signer != l.tenant) {
                // Only receipts of the same tenant's leases of the same provider count against this
                // authorization.
                uint256 other = items[j].receipt.leaseId;
                if (other <= market.leaseCount()) {
                    Lease memory ol = market.lease(other);
                    if (ol.tenant == l.tenant && _leaseProvider(ol) == p) spent += paid[j];
                }
            }
        }
        return _model(items[i], settled, spent);
    }

    /// @dev A session signer attests the service of a lease of a provider it is authorized for; some time
    /// later the tenant revokes it; later still the provider settles that receipt (for a period before the
    /// revocation: payable), the key (leaked) signs a receipt backdated before the revocation (payable, at most
    /// what accrued until its period's end) and one for a period after it (void: `SignerRevoked`). Each
    /// outcome is checked against the model.
    function revokeThenSettle(uint256 lSeed, uint256 sSeed, uint256 cumSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, SETTLEABLE);
        if (leaseId == 0) {
            _skip("revokeThenSettle");
            return;
        }
        (address signer, SignedReceipt memory attested) = _attest(leaseId, sSeed, cumSeed);
        if (signer == address(0)) {
            _skip("revokeThenSettle");
            return;
        }
        uint256 revokedAt = _revokeLater(leaseId, signer, warpSeed);
        _settleChecked(attested);
        _settleAfterRevocation(leaseId, signer, revokedAt, cumSeed, warpSeed);
        _done("revokeThenSettle");
    }

    /// @dev One of the tenant's session signers attests the service so far under a live authorization for the
    /// lease's provider: if its authorization was revoked or expired (or never given), the tenant authorizes it
    /// again first (keeping what it spent, undoing the revocation). Zero if the signer is the tenant itself.
    function _attest(uint256 leaseId, uint256 sSeed, uint256 cumSeed)
        internal
        returns (address signer, SignedReceipt memory attested)
    {
        Lease memory l = market.lease(leaseId);
        signer = _signerFor(l.tenant, sSeed % 2); // one of its two session signers
        if (signer == l.tenant) return (address(0), attested);
        address p = _leaseProvider(l);
        SessionSigner memory s = market.sessionSigner(l.tenant, signer, p);
        if (s.cap == 0 || s.revoked || s.expiresAt <= block.timestamp) {
            uint256 cap = uint256(s.spent) + (sSeed % 4 < 2 ? 1e24 : 1_000e6);
            if (cap < s.cap) cap = s.cap; // a cap never decreases
            vm.prank(l.tenant);
            market.authorizeSigner(signer, p, uint96(cap), uint40(block.timestamp + 30 days));
            ghostSpentCeiling[l.tenant][signer][p] = cap;
        }
        attested = _signed(leaseId, _cumulative(l, cumSeed), signer);
    }

    /// @dev Some time later (within the lease's settlement window) the tenant revokes the signer for the
    /// lease's provider, and some more time passes; returns when the revocation took effect.
    function _revokeLater(uint256 leaseId, address signer, uint256 warpSeed) internal returns (uint256 revokedAt) {
        Lease memory l = market.lease(leaseId);
        uint256 deadline = _deadline(leaseId, l);
        uint256 later = block.timestamp + _bound(warpSeed, 1, 30 minutes);
        if (later < deadline) _warpTo(later);
        address p = _leaseProvider(l);
        _revoke(l.tenant, signer, p);
        revokedAt = market.sessionSigner(l.tenant, signer, p).expiresAt;
        later = block.timestamp + _bound(warpSeed >> 32, 0, 2 hours);
        if (later < deadline) _warpTo(later);
    }

    /// @dev The (leaked) key signs, after the revocation, a receipt backdated before it (payable, at most what
    /// accrued until its period's end) and one for the service since (void).
    function _settleAfterRevocation(
        uint256 leaseId,
        address signer,
        uint256 revokedAt,
        uint256 cumSeed,
        uint256 warpSeed
    ) internal {
        uint256 back = _bound(warpSeed >> 64, 1, 1 hours);
        SignedReceipt memory backdated = _signedAt(
            leaseId, _cumulative(market.lease(leaseId), cumSeed >> 64), signer, revokedAt > back ? revokedAt - back : 0
        );
        _settleChecked(backdated);
        SignedReceipt memory afterwards =
            _signedAt(leaseId, _cumulative(market.lease(leaseId), cumSeed >> 128), signer, block.timestamp);
        if (_settleChecked(afterwards) && afterwards.receipt.periodEnd >= revokedAt) {
            _violation("a receipt for service after the revocation paid");
        }
    }

    // ─── Finalize and claims ────────────────────────────────────────────────────────────────

    /// @dev Anyone finalizes a lease at its remedies deadline (an evicted lease's is the settlement deadline it
    /// had before the eviction): the rest of the escrow refunded, the bond released once, the fee on what was
    /// settled credited, and the slot freed unless the eviction freed it already.
    function finalizeLease(uint256 lSeed) external step {
        uint256 leaseId = _pickLease(lSeed, FINALIZABLE);
        if (leaseId == 0) {
            _skip("finalizeLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        _warpTo(_remediesDeadline(leaseId, l));
        l = market.lease(leaseId); // settled totals do not move with time, but read them as finalize does
        address token = _leaseToken(l);
        address p = _leaseProvider(l);
        uint256 tenantClaimable = market.claimable(l.tenant, token);
        uint256 locked = market.stakeOf(p, token).locked;
        uint256 fees = market.feesOwed(token);
        uint256 active = market.offer(l.offerId).activeLeases;
        vm.prank(keeper);
        market.finalizeLease(leaseId);
        uint256 refund = uint256(l.deposit) - l.settled;
        if (market.claimable(l.tenant, token) != tenantClaimable + refund) _violation("refund != deposit - settled");
        if (market.stakeOf(p, token).locked != locked - l.bond) _violation("bond not released");
        uint256 fee = LeaseMath.fee(l.settled, ghostLeaseParamsOf[leaseId].protocolFeeBps);
        if (market.feesOwed(token) != fees + fee) _violation("finalize credited != fee(settled)");
        bool wasOpen = l.status == LeaseStatus.Open;
        if (market.offer(l.offerId).activeLeases != active - (wasOpen ? 1 : 0)) {
            _violation("finalize freed a slot an eviction had freed, or kept an open lease's");
        }
        _done(wasOpen ? "finalizeLease" : "finalizeEvicted");
    }

    function claim(uint256 aSeed, uint256 tSeed) external step {
        for (uint256 k; k < tokens.length; ++k) {
            address token = tokens[(tSeed % tokens.length + k) % tokens.length];
            for (uint256 i; i < actors.length; ++i) {
                address who = actors[(aSeed % actors.length + i) % actors.length];
                if (market.claimable(who, token) == 0) continue;
                uint256 balance = MockStablecoin(token).balanceOf(who);
                uint256 owed = market.claimable(who, token);
                vm.prank(who);
                uint256 amount = market.claim(token, who);
                if (amount != owed || MockStablecoin(token).balanceOf(who) != balance + amount) {
                    _violation("claim amount");
                }
                ghostClaimed[token] += amount;
                ghostOut[token] += amount;
                _done("claim");
                return;
            }
        }
        _skip("claim");
    }
}
