// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";

/// @notice Shared helpers of the fuzz suites: fuzzed offers with the stake their bonds need, a model of
/// what a receipt pays (from the documented settlement rules), and a settle call that checks every
/// state delta against that model.
abstract contract FuzzBase is BaseTest, IOpenleaseEvents {
    uint256 internal constant BPS = 10_000;

    // ─── Setup helpers ──────────────────────────────────────────────────────────────────────

    /// @dev Publishes an offer of the default provider and stakes enough for `leases` bonds of it.
    function fuzzOffer(address token, uint64 price, uint32 minDuration, uint32 maxDuration, uint32 notice, uint256 leases)
        internal
        returns (uint256 id)
    {
        vm.prank(provider);
        id = market.publishOffer(token, price, minDuration, maxDuration, notice, CAPACITY);
        uint256 needed = bondOf(price, notice) * leases;
        if (needed > 0) {
            mintAndApprove(token, provider, needed);
            vm.prank(provider);
            market.stake(token, needed);
        }
    }

    /// @dev The SLA bond a lease of these terms locks under the current parameters.
    function bondOf(uint64 price, uint32 notice) internal view returns (uint256) {
        return uint256(price) * notice * market.params().bondBps / BPS;
    }

    function fundTenant(address token, uint256 amount) internal {
        mintAndApprove(token, tenant, amount);
    }

    function setFeeBps(uint16 feeBps) internal {
        Params memory p = market.params();
        p.protocolFeeBps = feeBps;
        vm.prank(admin);
        market.setParams(p);
    }

    function tenantReceipt(uint256 leaseId, uint256 cumulative) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(tenantKey, tenant, receipt(leaseId, cumulative));
    }

    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    // ─── Settlement model ───────────────────────────────────────────────────────────────────

    /// @dev When the lease stops running: its end, or when the deposit's runway runs out.
    function modelLeaseEnd(Lease memory l) internal pure returns (uint256) {
        return min(l.endsAt, uint256(l.startedAt) + l.deposit / l.pricePerSecond);
    }

    /// @dev What the terms let accrue by now: price times the seconds run so far (up to `endsAt`).
    function modelAccrued(Lease memory l) internal view returns (uint256) {
        return (min(block.timestamp, l.endsAt) - l.startedAt) * l.pricePerSecond;
    }

    /// @dev What a receipt for `cumulative` pays now with `capLeft` of signer cap left:
    /// min(cumulative, accrued, deposit) - settled, capped by capLeft; or why it pays nothing.
    function modelSettle(Lease memory l, uint256 cumulative, uint256 capLeft)
        internal
        view
        returns (SettlementResult result, uint256 paid)
    {
        if (block.timestamp >= modelLeaseEnd(l) + market.params().settlementWindow) {
            return (SettlementResult.SettlementWindowClosed, 0);
        }
        if (cumulative <= l.settled) return (SettlementResult.AlreadySettled, 0);
        if (l.settled == l.deposit) return (SettlementResult.EscrowExhausted, 0);
        uint256 accrued = modelAccrued(l);
        if (accrued <= l.settled) return (SettlementResult.NotYetAccrued, 0);
        if (capLeft == 0) return (SettlementResult.SignerCapReached, 0);
        uint256 owed = min(min(cumulative, accrued), l.deposit) - l.settled;
        return (SettlementResult.Settled, min(owed, capLeft));
    }

    /// @dev Settles `sr`, checking the outcome and every balance against the model: on success the
    /// lease's settled total, the signer's spent total, the provider's claimable balance and the fees
    /// owed grow by exactly paid, paid, paid - fee and fee, and the event carries them; otherwise the
    /// call reverts with the reason the model gives. Returns what was paid.
    function settleAndCheck(SignedReceipt memory sr) internal returns (uint256 paid) {
        uint256 leaseId = sr.receipt.leaseId;
        Lease memory before = market.lease(leaseId);
        SessionSigner memory sBefore = market.sessionSigner(before.tenant, sr.signer);
        // A cap re-authorized below what was spent leaves nothing.
        uint256 capLeft = sr.signer == before.tenant
            ? type(uint256).max
            : (sBefore.cap > sBefore.spent ? sBefore.cap - sBefore.spent : 0);
        (SettlementResult expected, uint256 expectedPaid) = modelSettle(before, sr.receipt.cumulativeAmount, capLeft);

        if (expected != SettlementResult.Settled) {
            vm.expectRevert(
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, expected)
            );
            market.settle(sr);
            return 0;
        }

        Balances memory b = _balances(before);
        uint256 fee = expectedPaid * market.params().protocolFeeBps / BPS;
        vm.expectEmit(true, true, false, true, address(market));
        emit LeaseSettled(leaseId, sr.signer, sr.receipt.cumulativeAmount, expectedPaid, fee);
        paid = market.settle(sr);
        assertEq(paid, expectedPaid, "paid");

        Lease memory afterL = market.lease(leaseId);
        assertEq(afterL.settled, before.settled + paid, "settled");
        assertEq(afterL.deposit, before.deposit, "deposit");
        assertEq(afterL.endsAt, before.endsAt, "endsAt");
        assertEq(afterL.bond, before.bond, "bond");
        assertEq(uint8(afterL.status), uint8(LeaseStatus.Open), "status");
        SessionSigner memory sAfter = market.sessionSigner(before.tenant, sr.signer);
        assertEq(sAfter.spent, sBefore.spent + (sr.signer != before.tenant ? paid : 0), "spent");
        assertEq(sAfter.cap, sBefore.cap, "cap");
        Balances memory a = _balances(before);
        assertEq(a.provider, b.provider + paid - fee, "provider claimable");
        assertEq(a.tenant, b.tenant, "tenant claimable");
        assertEq(a.fees, b.fees + fee, "fees owed");
        assertEq(a.market, b.market, "market balance");
    }

    struct Balances {
        uint256 provider;
        uint256 tenant;
        uint256 fees;
        uint256 market;
    }

    function _balances(Lease memory l) internal view returns (Balances memory b) {
        Offer memory o = market.offer(l.offerId);
        b.provider = market.claimable(o.provider, o.token);
        b.tenant = market.claimable(l.tenant, o.token);
        b.fees = market.feesOwed(o.token);
        b.market = IERC20(o.token).balanceOf(address(market));
    }
}
