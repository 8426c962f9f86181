// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Shared helpers of the fuzz suites: fuzzed offers with the stake their bonds need, a model of
/// what a receipt pays (the documented settlement rules, through `LeaseMath`, the one implementation of
/// the money rules), and a settle call that checks every state delta against that model.
abstract contract FuzzBase is BaseTest, IOpenleaseEvents {
    uint256 internal constant BPS = 10_000;

    // ─── Setup helpers ──────────────────────────────────────────────────────────────────────

    /// @dev Publishes an offer of the default provider and stakes enough for `leases` bonds of it.
    function fuzzOffer(
        address token,
        uint64 price,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 notice,
        uint256 leases
    ) internal returns (uint256 id) {
        vm.prank(provider);
        id = market.publishOffer(token, price, minDuration, maxDuration, notice, CAPACITY, bytes32(0), address(0));
        uint256 needed = bondOf(price, notice) * leases;
        if (needed > 0) {
            mintAndApprove(token, provider, needed);
            vm.prank(provider);
            market.stake(token, needed);
        }
    }

    /// @dev The SLA bond a lease of these terms locks under the parameters in force.
    function bondOf(uint64 price, uint32 notice) internal view returns (uint256) {
        return LeaseMath.bond(price, notice, market.params().bondBps);
    }

    function fundTenant(address token, uint256 amount) internal {
        mintAndApprove(token, tenant, amount);
    }

    /// @dev Schedules a protocol fee and waits out the delay, and the default offer's provider accepts
    /// it: leases of the default offer (and of offers published) from now on charge it.
    function setFeeBps(uint16 feeBps) internal {
        Params memory p = market.params();
        p.protocolFeeBps = feeBps;
        applyAndAcceptParams(p);
    }

    function tenantReceipt(uint256 leaseId, uint256 cumulative) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(tenantKey, tenant, receipt(leaseId, cumulative));
    }

    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    // ─── Settlement model ───────────────────────────────────────────────────────────────────

    /// @dev The protocol fee rate of a lease: its own parameters version's.
    function feeBpsOf(Lease memory l) internal view returns (uint256) {
        return market.paramsAt(l.paramsVersion).protocolFeeBps;
    }

    /// @dev When the lease stops running: its end, or when the deposit's runway runs out.
    function modelLeaseEnd(Lease memory l) internal pure returns (uint256) {
        return LeaseMath.runEnd(l.startedAt, l.endsAt, l.deposit, l.pricePerSecond);
    }

    /// @dev What the terms let accrue by now: price times the seconds run so far (up to `endsAt`).
    function modelAccrued(Lease memory l) internal view returns (uint256) {
        return LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, block.timestamp);
    }

    /// @dev What a receipt whose period ends at `periodEnd` may pay for: what the terms let accrue until
    /// its period's end, or now if sooner.
    function modelAccrued(Lease memory l, uint256 periodEnd) internal view returns (uint256) {
        return LeaseMath.accrued(
            l.startedAt, l.endsAt, l.pricePerSecond, periodEnd < block.timestamp ? periodEnd : block.timestamp
        );
    }

    /// @dev The fee one settlement keeps in the lease: the growth of the fee on the settled total.
    function modelFee(Lease memory l, uint256 paid) internal view returns (uint256) {
        uint256 bps = feeBpsOf(l);
        return LeaseMath.fee(l.settled + paid, bps) - LeaseMath.fee(l.settled, bps);
    }

    /// @dev What a receipt for `cumulative` pays now with `capLeft` of signer cap left (the signature
    /// being valid), or why it pays nothing: the lease's own settlement window first, then
    /// `LeaseMath.payable_`.
    function modelSettle(Lease memory l, uint256 cumulative, uint256 capLeft)
        internal
        view
        returns (SettlementResult result, uint256 paid)
    {
        return modelSettle(l, cumulative, block.timestamp, capLeft);
    }

    /// @dev The same for a receipt whose period ends at `periodEnd`: it pays for service until then.
    function modelSettle(Lease memory l, uint256 cumulative, uint256 periodEnd, uint256 capLeft)
        internal
        view
        returns (SettlementResult result, uint256 paid)
    {
        if (block.timestamp >= modelLeaseEnd(l) + market.paramsAt(l.paramsVersion).settlementWindow) {
            return (SettlementResult.SettlementWindowClosed, 0);
        }
        return LeaseMath.payable_(l.settled, l.deposit, modelAccrued(l, periodEnd), cumulative, capLeft);
    }

    /// @dev Why a session signer's receipt is void, if it is (`Settled` if it is not): the signer was
    /// never authorized for the lease's provider, or the receipt's period ends at or after its expiry
    /// (or revocation).
    function modelSignerCheck(SessionSigner memory s, uint256 periodEnd) internal pure returns (SettlementResult) {
        if (s.cap == 0) return SettlementResult.SignerNotAuthorized;
        if (periodEnd >= s.expiresAt) {
            return s.revoked ? SettlementResult.SignerRevoked : SettlementResult.SignerExpired;
        }
        return SettlementResult.Settled;
    }

    /// @dev Settles `sr`, checking the outcome and every balance against the model: on success the
    /// lease's settled total and the signer's spent total grow by exactly paid, the provider's
    /// claimable balance by paid - fee (the fee stays in the lease until it is finalized, so the fees
    /// owed do not move), and the event carries them; otherwise the call reverts with the reason the
    /// model gives. Returns what was paid.
    function settleAndCheck(SignedReceipt memory sr) internal returns (uint256 paid) {
        uint256 leaseId = sr.receipt.leaseId;
        Lease memory before = market.lease(leaseId);
        address leaseProvider = market.offer(before.offerId).provider;
        SessionSigner memory sBefore = market.sessionSigner(before.tenant, sr.signer, leaseProvider);
        // A cap re-authorized below what was spent leaves nothing.
        uint256 capLeft = sr.signer == before.tenant
            ? type(uint256).max
            : (sBefore.cap > sBefore.spent ? sBefore.cap - sBefore.spent : 0);
        (SettlementResult expected, uint256 expectedPaid) =
            modelSettle(before, sr.receipt.cumulativeAmount, sr.receipt.periodEnd, capLeft);
        if (expected != SettlementResult.SettlementWindowClosed && sr.signer != before.tenant) {
            SettlementResult signerCheck = modelSignerCheck(sBefore, sr.receipt.periodEnd);
            if (signerCheck != SettlementResult.Settled) (expected, expectedPaid) = (signerCheck, 0);
        }

        if (expected != SettlementResult.Settled) {
            vm.expectRevert(
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, expected)
            );
            market.settle(sr);
            return 0;
        }

        Balances memory b = _balances(before);
        uint256 fee = modelFee(before, expectedPaid);
        vm.expectEmit(true, true, false, true, address(market));
        emit LeaseSettled(
            leaseId, sr.signer, sr.receipt.cumulativeAmount, expectedPaid, fee, before.settled + expectedPaid
        );
        paid = market.settle(sr);
        assertEq(paid, expectedPaid, "paid");

        Lease memory afterL = market.lease(leaseId);
        assertEq(afterL.settled, before.settled + paid, "settled");
        assertEq(afterL.deposit, before.deposit, "deposit");
        assertEq(afterL.endsAt, before.endsAt, "endsAt");
        assertEq(afterL.bond, before.bond, "bond");
        assertEq(afterL.paramsVersion, before.paramsVersion, "paramsVersion");
        assertEq(uint8(afterL.status), uint8(LeaseStatus.Open), "status");
        SessionSigner memory sAfter = market.sessionSigner(before.tenant, sr.signer, leaseProvider);
        assertEq(sAfter.spent, sBefore.spent + (sr.signer != before.tenant ? paid : 0), "spent");
        assertEq(sAfter.cap, sBefore.cap, "cap");
        Balances memory a = _balances(before);
        assertEq(a.provider, b.provider + paid - fee, "provider claimable");
        assertEq(a.tenant, b.tenant, "tenant claimable");
        assertEq(a.fees, b.fees, "fees owed (credited at finalize)");
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
