// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "forge-std/Vm.sol";

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";

/// @notice Shared fixture and assertions for the receipt settlement tests: one default lease
/// (10 hours, fully funded) opened at `t0`, state snapshots and an independent EIP-712 digest.
abstract contract SettlementTest is BaseTest {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours; // what one hour of the default offer accrues

    uint256 internal leaseId;
    uint256 internal t0;

    address internal stranger;
    uint256 internal strangerKey;

    struct Snapshot {
        Lease lease;
        SessionSigner signerState;
        uint256 providerClaimable;
        uint256 tenantClaimable;
        uint256 fees;
        uint256 marketBalance;
    }

    function setUp() public virtual override {
        super.setUp();
        (stranger, strangerKey) = makeAddrAndKey("stranger");
        t0 = block.timestamp;
        leaseId = openDefaultLease();
    }

    // ─── Helpers ────────────────────────────────────────────────────────────────────────────

    function snap(uint256 id, address who) internal view returns (Snapshot memory s) {
        s.lease = market.lease(id);
        s.signerState = market.sessionSigner(tenant, who, provider);
        s.providerClaimable = market.claimable(provider, address(usdc));
        s.tenantClaimable = market.claimable(tenant, address(usdc));
        s.fees = market.feesOwed(address(usdc));
        s.marketBalance = usdc.balanceOf(address(market));
    }

    /// @dev The protocol fee on a lease's settled total of `settled`: 1%, rounded down (every lease here
    /// opens under the default parameters).
    function feeOn(uint256 settled) internal view returns (uint256) {
        return settled * defaultParams().protocolFeeBps / 10_000;
    }

    /// @dev What a settlement of `paid` onto a settled total of `settledBefore` keeps as fee: the growth of
    /// the fee on the total, so that many small settlements are charged exactly the fee on their sum.
    function feeOf(uint256 settledBefore, uint256 paid) internal view returns (uint256) {
        return feeOn(settledBefore + paid) - feeOn(settledBefore);
    }

    /// @dev Everything a settlement of `paid` changes, and nothing else: the lease's settled total,
    /// the signer's spent total (unless it is the tenant) and the provider's claimable balance, credited
    /// paid less the fee, which stays in the lease until it is finalized (the fees owed do not move).
    function assertSettled(Snapshot memory before, Snapshot memory afterwards, uint256 paid, bool chargesSigner)
        internal
        view
    {
        uint256 fee = feeOf(before.lease.settled, paid);
        Lease memory expected = before.lease;
        expected.settled += uint88(paid);
        assertEq(abi.encode(afterwards.lease), abi.encode(expected), "lease");
        SessionSigner memory expectedSigner = before.signerState;
        if (chargesSigner) expectedSigner.spent += uint96(paid);
        assertEq(abi.encode(afterwards.signerState), abi.encode(expectedSigner), "signer");
        assertEq(afterwards.providerClaimable, before.providerClaimable + paid - fee, "provider claimable");
        assertEq(afterwards.fees, before.fees, "fees owed (credited at finalize)");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable, "tenant claimable");
        assertEq(afterwards.marketBalance, before.marketBalance, "market balance");
    }

    function assertUnchanged(Snapshot memory before, Snapshot memory afterwards) internal pure {
        assertEq(abi.encode(afterwards), abi.encode(before), "state changed");
    }

    /// @dev `settle(r)` reverts with `OpenleaseSettlementFailed(id, result)`.
    function settleFails(SignedReceipt memory r, uint256 id, SettlementResult result) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, id, result));
        market.settle(r);
    }

    /// @dev Expects the `LeaseSettled` of a settlement of `paid` onto the lease's settled total now.
    function expectLeaseSettled(uint256 id, address who, uint256 cumulative, uint256 paid) internal {
        expectLeaseSettled(id, who, cumulative, paid, market.lease(id).settled);
    }

    function expectLeaseSettled(uint256 id, address who, uint256 cumulative, uint256 paid, uint256 settledBefore)
        internal
    {
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseSettled(id, who, cumulative, paid, feeOf(settledBefore, paid), settledBefore + paid);
    }

    function authorize(address who, uint96 cap, uint256 expiresAt) internal {
        vm.prank(tenant);
        market.authorizeSigner(who, provider, cap, uint40(expiresAt));
    }

    /// @dev The EIP-712 digest of a receipt, computed from the specification alone.
    function eip712Digest(ServiceReceipt memory r, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes("Openlease")),
                keccak256(bytes("1")),
                chainId,
                verifyingContract
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)"
                ),
                r.leaseId,
                r.cumulativeAmount,
                r.usageDigest,
                r.periodEnd
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }
}

/// @notice Unit tests of `settle`: payouts and their caps (accrual, escrow, signer cap), every
/// `SettlementResult` it reverts with, the tenant as its own signer, and the receipt's EIP-712 digest.
contract Settle_Test is SettlementTest {
    // ─── Success ────────────────────────────────────────────────────────────────────────────

    function test_Settle() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, HOUR);
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, HOUR, HOUR);
        uint256 paid = market.settle(r);

        assertEq(paid, HOUR, "paid");
        assertSettled(before, snap(leaseId, signer), paid, true);
        assertGt(feeOn(paid), 0, "a fee was charged");
    }

    function test_Settle_Permissionless() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, HOUR);
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, HOUR, HOUR);
        vm.prank(keeper);
        uint256 paid = market.settle(r);

        assertEq(paid, HOUR, "paid");
        assertSettled(before, snap(leaseId, signer), paid, true);
        assertEq(market.claimable(keeper, address(usdc)), 0, "keeper earns nothing");
    }

    function test_Settle_NewerReceiptPaysTheIncrease() public {
        skip(1 hours);
        market.settle(signedReceipt(leaseId, 1e6));
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, 3e6, 2e6);
        uint256 paid = market.settle(signedReceipt(leaseId, 3e6));

        assertEq(paid, 2e6, "paid");
        assertSettled(before, snap(leaseId, signer), paid, true);
        assertEq(market.lease(leaseId).settled, 3e6, "settled");
    }

    function test_Settle_FeeRoundsDown() public {
        skip(1 hours);
        uint256 amount = 150; // 1.5 units of fee at 1%
        uint256 feeBps = market.params().protocolFeeBps;
        assertGt(amount * feeBps % 10_000, 0, "the fee has a fraction");
        Snapshot memory before = snap(leaseId, signer);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseSettled(leaseId, signer, amount, amount, 1, amount);
        market.settle(signedReceipt(leaseId, amount));

        assertSettled(before, snap(leaseId, signer), amount, true);
        assertEq(market.claimable(provider, address(usdc)), 149, "150 less the fee rounded down");
    }

    /// @dev A settlement keeps the growth of the fee on the lease's settled total, not the fee on its own
    /// amount: two settlements of 150 at 1% keep 1 and then 2 (the fee on 300 is 3), not 1 and 1.
    function test_Settle_FeeIsTheGrowthOfTheFeeOnTheTotal() public {
        skip(1 hours);
        market.settle(signedReceipt(leaseId, 150));
        assertEq(market.claimable(provider, address(usdc)), 149, "first: fee 1");

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseSettled(leaseId, signer, 300, 150, 2, 300);
        market.settle(signedReceipt(leaseId, 300));
        assertEq(market.claimable(provider, address(usdc)), 297, "the fee on 300 is 3 in all");
        assertEq(market.feesOwed(address(usdc)), 0, "kept in the lease");

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), 3, "credited at finalize");
    }

    // ─── Capped by accrual ──────────────────────────────────────────────────────────────────

    function test_Settle_PartialWhenCappedByAccrual() public {
        skip(1 hours);
        uint256 cumulative = HOUR + 1_400_000; // more than one hour has accrued
        SignedReceipt memory r = signedReceipt(leaseId, cumulative);
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, cumulative, HOUR);
        uint256 paid = market.settle(r);
        assertEq(paid, HOUR, "paid up to what accrued");
        assertSettled(before, snap(leaseId, signer), paid, true);

        // Nothing more has accrued in this block.
        settleFails(r, leaseId, SettlementResult.NotYetAccrued);

        // A receipt pays for service until its period's end, never later: an hour later the same
        // receipt still pays nothing more...
        skip(1 hours);
        settleFails(r, leaseId, SettlementResult.NotYetAccrued);

        // ...while a newer receipt for the same total, whose period ends now, settles the rest.
        SignedReceipt memory newer = signedReceipt(leaseId, cumulative);
        before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, cumulative, cumulative - HOUR);
        paid = market.settle(newer);
        assertEq(paid, cumulative - HOUR, "the rest");
        assertSettled(before, snap(leaseId, signer), paid, true);
        assertEq(market.lease(leaseId).settled, cumulative, "settled");

        // And then both are spent.
        settleFails(newer, leaseId, SettlementResult.AlreadySettled);
        settleFails(r, leaseId, SettlementResult.AlreadySettled);
    }

    /// @dev A receipt pays at most what the terms let accrue until its `periodEnd`, however late it is
    /// settled: a receipt dated an hour into the lease, settled five hours in, pays one hour.
    function test_Settle_CappedByAccrualUntilPeriodEnd() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, 5 * HOUR);
        skip(4 hours);
        Snapshot memory before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, 5 * HOUR, HOUR);
        uint256 paid = market.settle(r);
        assertEq(paid, HOUR, "what accrued until the period's end");
        assertSettled(before, snap(leaseId, signer), paid, true);

        // The same rule for the tenant's own receipts.
        ServiceReceipt memory own = receipt(leaseId, 5 * HOUR);
        own.periodEnd = uint64(t0 + 2 hours);
        before = snap(leaseId, tenant);
        uint256 tenantPaid = market.settle(signedReceiptBy(tenantKey, tenant, own));
        assertEq(tenantPaid, HOUR, "the second hour");
        assertSettled(before, snap(leaseId, tenant), tenantPaid, false);
    }

    /// @dev A receipt whose period ends before the lease started pays nothing.
    function test_RevertWhen_Settle_PeriodEndBeforeStart() public {
        skip(1 hours);
        ServiceReceipt memory rec = receipt(leaseId, HOUR);
        rec.periodEnd = uint64(t0 - 1);
        settleFails(signedReceiptBy(signerKey, signer, rec), leaseId, SettlementResult.NotYetAccrued);
        rec.periodEnd = uint64(t0);
        settleFails(signedReceiptBy(signerKey, signer, rec), leaseId, SettlementResult.NotYetAccrued);
    }

    function test_RevertWhen_Settle_NothingAccruedYet() public {
        // Same second the lease opened: nothing accrued.
        settleFails(signedReceipt(leaseId, 1), leaseId, SettlementResult.NotYetAccrued);
    }

    function test_Settle_OneSecondAfterOpen() public {
        skip(1);
        Snapshot memory before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, HOUR, PRICE);
        uint256 paid = market.settle(signedReceipt(leaseId, HOUR));
        assertEq(paid, PRICE, "one second of accrual");
        assertSettled(before, snap(leaseId, signer), paid, true);
    }

    // ─── Capped by escrow ───────────────────────────────────────────────────────────────────

    function test_Settle_PartialWhenCappedByEscrow() public {
        // A 10-hour lease funded for 2 hours: its runway ends first.
        uint256 deposit = 2 * HOUR;
        uint256 id = openLease(tenant, offerId, 10 hours, deposit);
        assertEq(market.leaseEnd(id), t0 + 2 hours, "runway end");
        skip(3 hours); // 3 hours accrued by the terms, more than the deposit
        uint256 cumulative = 2 * HOUR + 1;
        Snapshot memory before = snap(id, signer);

        expectLeaseSettled(id, signer, cumulative, deposit);
        uint256 paid = market.settle(signedReceipt(id, cumulative));
        assertEq(paid, deposit, "paid the whole escrow");
        assertSettled(before, snap(id, signer), paid, true);

        settleFails(signedReceipt(id, cumulative + 1), id, SettlementResult.EscrowExhausted);
    }

    function test_RevertWhen_Settle_EscrowExhausted() public {
        skip(10 hours);
        uint256 deposit = market.lease(leaseId).deposit;
        market.settle(signedReceipt(leaseId, deposit));
        assertEq(market.lease(leaseId).settled, deposit);

        settleFails(signedReceipt(leaseId, deposit + 1), leaseId, SettlementResult.EscrowExhausted);
    }

    // ─── Capped by the signer's cap ─────────────────────────────────────────────────────────

    function test_Settle_PartialWhenCappedBySignerCap() public {
        (address capped, uint256 cappedKey) = makeAddrAndKey("capped");
        uint96 cap = 1e6;
        authorize(capped, cap, block.timestamp + 1 days);
        skip(1 hours);
        SignedReceipt memory r = signedReceiptBy(cappedKey, capped, receipt(leaseId, HOUR));
        Snapshot memory before = snap(leaseId, capped);

        expectLeaseSettled(leaseId, capped, HOUR, cap);
        uint256 paid = market.settle(r);
        assertEq(paid, cap, "paid exactly up to the cap");
        assertSettled(before, snap(leaseId, capped), paid, true);
        assertEq(market.sessionSigner(tenant, capped, provider).spent, cap, "cap spent");

        settleFails(r, leaseId, SettlementResult.SignerCapReached);

        // Raising the cap lets the same receipt settle the rest.
        authorize(capped, 10e6, block.timestamp + 1 days);
        before = snap(leaseId, capped);
        expectLeaseSettled(leaseId, capped, HOUR, HOUR - cap);
        paid = market.settle(r);
        assertEq(paid, HOUR - cap, "the rest");
        assertSettled(before, snap(leaseId, capped), paid, true);
        assertEq(market.sessionSigner(tenant, capped, provider).spent, HOUR, "spent");
    }

    function test_Settle_SignerCapSpansLeases() public {
        (address capped, uint256 cappedKey) = makeAddrAndKey("capped");
        uint96 cap = 5e6;
        authorize(capped, cap, block.timestamp + 1 days);
        uint256 other = openDefaultLease();
        skip(1 hours);

        market.settle(signedReceiptBy(cappedKey, capped, receipt(leaseId, HOUR)));
        Snapshot memory before = snap(other, capped);
        expectLeaseSettled(other, capped, HOUR, cap - HOUR);
        uint256 paid = market.settle(signedReceiptBy(cappedKey, capped, receipt(other, HOUR)));
        assertEq(paid, cap - HOUR, "what the cap had left");
        assertSettled(before, snap(other, capped), paid, true);

        settleFails(
            signedReceiptBy(cappedKey, capped, receipt(other, HOUR + 1)), other, SettlementResult.SignerCapReached
        );
    }

    /// @dev A cap never decreases: lowering it (below what was spent, or at all) would void receipts
    /// for service already delivered. Re-authorizing with the same or a higher cap works and keeps
    /// `spent`; a signer that reached its cap fails as `SignerCapReached`.
    function test_RevertWhen_Settle_CapLoweredBelowSpent() public {
        skip(1 hours);
        market.settle(signedReceipt(leaseId, HOUR));
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseCapDecrease.selector, signer, provider, SIGNER_CAP, HOUR / 2
            )
        );
        market.authorizeSigner(signer, provider, uint96(HOUR / 2), uint40(block.timestamp + 1 days));
        authorize(signer, SIGNER_CAP, block.timestamp + 1 days);
        assertEq(market.sessionSigner(tenant, signer, provider).spent, HOUR, "spent kept");
        (address small, uint256 smallKey) = makeAddrAndKey("small-cap");
        authorize(small, uint96(HOUR), block.timestamp + 1 days);
        uint256 other = openDefaultLease();
        skip(2 hours);
        market.settle(signedReceiptBy(smallKey, small, receipt(other, HOUR)));
        settleFails(
            signedReceiptBy(smallKey, small, receipt(other, 2 * HOUR)), other, SettlementResult.SignerCapReached
        );
    }

    // ─── Unknown lease and closed window ────────────────────────────────────────────────────

    function test_RevertWhen_Settle_UnknownLease() public {
        skip(1 hours);
        uint256 unknown = leaseId + 1;
        settleFails(signedReceipt(unknown, HOUR), unknown, SettlementResult.UnknownLease);
    }

    function test_RevertWhen_Settle_LeaseIdZero() public {
        skip(1 hours);
        settleFails(signedReceipt(0, HOUR), 0, SettlementResult.UnknownLease);
    }

    function test_RevertWhen_Settle_SettlementWindowClosed() public {
        uint256 deadline = market.settlementDeadline(leaseId);
        assertEq(deadline, market.leaseEnd(leaseId) + market.params().settlementWindow, "deadline");
        vm.warp(deadline);
        settleFails(signedReceipt(leaseId, HOUR), leaseId, SettlementResult.SettlementWindowClosed);
    }

    function test_Settle_LastSecondOfSettlementWindow() public {
        vm.warp(market.settlementDeadline(leaseId) - 1);
        uint256 deposit = market.lease(leaseId).deposit;
        Snapshot memory before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, deposit, deposit);
        uint256 paid = market.settle(signedReceipt(leaseId, deposit));
        assertEq(paid, deposit, "paid");
        assertSettled(before, snap(leaseId, signer), paid, true);
    }

    function test_RevertWhen_Settle_LeaseFinalized() public {
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Finalized));

        settleFails(signedReceipt(leaseId, HOUR), leaseId, SettlementResult.SettlementWindowClosed);
    }

    /// @dev Finalizing refunded the whole escrow to the tenant; a longer settlement window scheduled
    /// later reaches new leases only, so it never reopens this one to settlement (which would pay the
    /// same escrow out twice).
    function test_RevertWhen_Settle_LeaseFinalizedThenSettlementWindowRaised() public {
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 deadline = market.settlementDeadline(leaseId);
        Params memory p = market.params();
        p.settlementWindow = 7 days;
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        vm.warp(deadline + 1 days); // within 7 days of the lease's end, before the version takes effect
        assertLt(block.timestamp, effectiveAt);

        settleFails(signedReceipt(leaseId, HOUR), leaseId, SettlementResult.SettlementWindowClosed);
        vm.warp(effectiveAt);
        assertEq(market.leaseParams(leaseId).settlementWindow, 1 days, "the lease keeps its window");
        assertEq(market.settlementDeadline(leaseId), deadline, "and its deadline");
        settleFails(signedReceipt(leaseId, HOUR), leaseId, SettlementResult.SettlementWindowClosed);
    }

    /// @dev Eviction ends the lease now and settles the hold charge (`PAYMENT_GRACE` of the price), but
    /// does not finalize it: a receipt for service delivered until the eviction can still be settled
    /// within the settlement window, up to what accrued until the eviction; nothing after it accrues.
    function test_Settle_LeaseEvicted_DeliveredServiceStillPays() public {
        skip(3 hours);
        SignedReceipt memory held = signedReceipt(leaseId, 3 * HOUR);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        SignedReceipt memory last = signedReceipt(leaseId, 4 * HOUR);
        vm.prank(provider);
        market.evictLease(leaseId);
        uint256 evictedAt = block.timestamp;
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted), "evicted");
        assertEq(market.lease(leaseId).endsAt, evictedAt, "ended now");
        assertEq(market.lease(leaseId).settled, HOUR, "the hold charge: one hour of the price");
        assertEq(market.lease(leaseId).deposit, 4 * HOUR, "deposit cut to what accrued until the eviction");
        assertLt(block.timestamp, market.settlementDeadline(leaseId), "window open");

        // The held receipt pays the service it covers beyond what the hold charge already settled.
        Snapshot memory before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, 3 * HOUR, 2 * HOUR);
        uint256 paid = market.settle(held);
        assertEq(paid, 2 * HOUR, "three hours delivered, one already settled");
        assertSettled(before, snap(leaseId, signer), paid, true);

        // The newest pays the rest, until the eviction.
        skip(2 hours);
        paid = market.settle(last);
        assertEq(paid, HOUR, "the fourth hour");
        assertEq(market.lease(leaseId).settled, 4 * HOUR, "all service until the eviction");

        // Nothing accrues after the eviction, however late a receipt's period ends.
        settleFails(signedReceipt(leaseId, 6 * HOUR), leaseId, SettlementResult.EscrowExhausted);
    }

    // ─── After the lease ended ──────────────────────────────────────────────────────────────

    function test_Settle_AfterLeaseEnded_AccrualStopsAtEnd() public {
        // A 2-hour lease funded for 10: it ends at `endsAt`, not at its runway.
        uint256 id = openLease(tenant, offerId, 2 hours, 10 * HOUR);
        assertEq(market.leaseEnd(id), t0 + 2 hours, "lease end");
        skip(5 hours); // in the settlement window
        uint256 cumulative = 5 * HOUR;
        SignedReceipt memory r = signedReceipt(id, cumulative);
        Snapshot memory before = snap(id, signer);

        expectLeaseSettled(id, signer, cumulative, 2 * HOUR);
        uint256 paid = market.settle(r);
        assertEq(paid, 2 * HOUR, "two hours accrued");
        assertSettled(before, snap(id, signer), paid, true);

        skip(10 hours);
        settleFails(r, id, SettlementResult.NotYetAccrued);
    }

    function test_Settle_AfterCloseLease_AccrualStopsAtNoticeEnd() public {
        skip(1 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 end = t0 + 1 hours + NOTICE;
        assertEq(market.lease(leaseId).endsAt, end, "ends after notice");
        skip(5 hours);
        uint256 accrued = (end - t0) * PRICE;
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, 10 * HOUR, accrued);
        uint256 paid = market.settle(signedReceipt(leaseId, 10 * HOUR));
        assertEq(paid, accrued, "paid up to the notice end");
        assertSettled(before, snap(leaseId, signer), paid, true);
    }

    // ─── The tenant as signer ───────────────────────────────────────────────────────────────

    function test_Settle_TenantSignsOwnReceipt_NoCap() public {
        uint256 id = openLease(tenant, offerId, 30 days, uint256(PRICE) * 30 days);
        skip(20 days);
        uint256 cumulative = uint256(PRICE) * 20 days;
        assertGt(cumulative, SIGNER_CAP, "beyond any session signer's cap");
        SignedReceipt memory r = signedReceiptBy(tenantKey, tenant, receipt(id, cumulative));
        Snapshot memory before = snap(id, tenant);

        expectLeaseSettled(id, tenant, cumulative, cumulative);
        uint256 paid = market.settle(r);

        assertEq(paid, cumulative, "paid in full");
        assertSettled(before, snap(id, tenant), paid, false);
        assertEq(
            abi.encode(market.sessionSigner(tenant, tenant, provider)),
            abi.encode(SessionSigner(0, 0, 0, false)),
            "no record"
        );
        assertEq(market.sessionSigner(tenant, signer, provider).spent, 0, "session signer untouched");
    }

    function test_RevertWhen_Settle_TenantSignatureInvalid() public {
        skip(1 hours);
        // Claims to be the tenant but is signed by the session signer's key.
        SignedReceipt memory r = signedReceiptBy(signerKey, tenant, receipt(leaseId, HOUR));
        settleFails(r, leaseId, SettlementResult.InvalidSignature);
    }

    // ─── Signer checks ──────────────────────────────────────────────────────────────────────

    function test_RevertWhen_Settle_SignerNotAuthorized() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceiptBy(strangerKey, stranger, receipt(leaseId, HOUR));
        settleFails(r, leaseId, SettlementResult.SignerNotAuthorized);
    }

    function test_RevertWhen_Settle_SignerOfAnotherTenant() public {
        address otherTenant = makeAddr("otherTenant");
        mintAndApprove(address(usdc), otherTenant, 10 * HOUR);
        uint256 id = openLease(otherTenant, offerId, 10 hours, 10 * HOUR);
        skip(1 hours);
        // `signer` is authorized by `tenant`, not by `otherTenant`.
        settleFails(signedReceipt(id, HOUR), id, SettlementResult.SignerNotAuthorized);
    }

    function test_RevertWhen_Settle_SignerExpired() public {
        (address shortLived, uint256 shortLivedKey) = makeAddrAndKey("shortLived");
        uint256 expiresAt = block.timestamp + 2 hours;
        authorize(shortLived, SIGNER_CAP, expiresAt);
        vm.warp(expiresAt);
        SignedReceipt memory r = signedReceiptBy(shortLivedKey, shortLived, receipt(leaseId, HOUR));
        settleFails(r, leaseId, SettlementResult.SignerExpired);
    }

    /// @dev Expiry voids receipts for service after it, not receipts for service before it: those
    /// stay payable, whenever they are settled within the lease's settlement window.
    function test_Settle_AfterSignerExpiry_ReceiptForEarlierService() public {
        (address shortLived, uint256 shortLivedKey) = makeAddrAndKey("shortLived");
        uint256 expiresAt = block.timestamp + 2 hours;
        authorize(shortLived, SIGNER_CAP, expiresAt);
        vm.warp(expiresAt - 1);
        SignedReceipt memory r = signedReceiptBy(shortLivedKey, shortLived, receipt(leaseId, HOUR));
        vm.warp(expiresAt + 5 hours);
        Snapshot memory before = snap(leaseId, shortLived);
        expectLeaseSettled(leaseId, shortLived, HOUR, HOUR);
        uint256 paid = market.settle(r);
        assertEq(paid, HOUR, "paid");
        assertSettled(before, snap(leaseId, shortLived), paid, true);
    }

    function test_Settle_LastSecondBeforeSignerExpiry() public {
        (address shortLived, uint256 shortLivedKey) = makeAddrAndKey("shortLived");
        uint256 expiresAt = block.timestamp + 2 hours;
        authorize(shortLived, SIGNER_CAP, expiresAt);
        vm.warp(expiresAt - 1);
        Snapshot memory before = snap(leaseId, shortLived);
        expectLeaseSettled(leaseId, shortLived, HOUR, HOUR);
        uint256 paid = market.settle(signedReceiptBy(shortLivedKey, shortLived, receipt(leaseId, HOUR)));
        assertSettled(before, snap(leaseId, shortLived), paid, true);
    }

    /// @dev Revocation voids receipts for service from the revocation on...
    function test_RevertWhen_Settle_SignerRevoked() public {
        skip(1 hours);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        // A period ending at the revocation is not before it.
        settleFails(signedReceipt(leaseId, HOUR), leaseId, SettlementResult.SignerRevoked);
        skip(1 hours);
        settleFails(signedReceipt(leaseId, 2 * HOUR), leaseId, SettlementResult.SignerRevoked);
    }

    /// @dev ...but not receipts for service delivered before it: the tenant cannot repudiate them.
    function test_Settle_SignerRevoked_ReceiptForEarlierServicePays() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, HOUR); // for the hour before the revocation
        skip(1);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        skip(3 hours);
        Snapshot memory before = snap(leaseId, signer);
        expectLeaseSettled(leaseId, signer, HOUR, HOUR);
        uint256 paid = market.settle(r);
        assertEq(paid, HOUR, "paid");
        assertSettled(before, snap(leaseId, signer), paid, true);
    }

    /// @dev An authorization is for one provider: for a lease of another, the signer is not authorized.
    function test_RevertWhen_Settle_SignerAuthorizedForAnotherProvider() public {
        address otherProvider = makeAddr("otherProvider");
        registerAndStake(otherProvider, address(usdc), PROVIDER_STAKE);
        uint256 otherOffer = publishOffer(otherProvider, address(usdc), PRICE);
        uint256 id = openLease(tenant, otherOffer, 10 hours, 10 * HOUR);
        skip(1 hours);
        settleFails(signedReceipt(id, HOUR), id, SettlementResult.SignerNotAuthorized);

        vm.prank(tenant);
        market.authorizeSigner(signer, otherProvider, 2e6, uint40(block.timestamp + 1 days));
        assertEq(market.settle(signedReceipt(id, HOUR)), 2e6, "its own cap for the other provider");
        assertEq(market.sessionSigner(tenant, signer, otherProvider).spent, 2e6, "spent for the other provider");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, 0, "not from this provider's cap");
    }

    // ─── Signatures ─────────────────────────────────────────────────────────────────────────

    function test_RevertWhen_Settle_SignedByWrongKey() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceiptBy(strangerKey, signer, receipt(leaseId, HOUR));
        settleFails(r, leaseId, SettlementResult.InvalidSignature);
    }

    function test_RevertWhen_Settle_TamperedAmount() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, 1e6);
        r.receipt.cumulativeAmount = 2e6;
        settleFails(r, leaseId, SettlementResult.InvalidSignature);
    }

    function test_RevertWhen_Settle_TamperedFields() public {
        uint256 other = openDefaultLease();
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, 1e6);

        SignedReceipt memory tampered = r;
        tampered.receipt = receipt(leaseId, 1e6);
        tampered.receipt.leaseId = other;
        settleFails(tampered, other, SettlementResult.InvalidSignature);

        tampered.receipt = receipt(leaseId, 1e6);
        tampered.receipt.usageDigest = bytes32(uint256(1));
        settleFails(tampered, leaseId, SettlementResult.InvalidSignature);

        tampered.receipt = receipt(leaseId, 1e6);
        tampered.receipt.periodEnd += 1;
        settleFails(tampered, leaseId, SettlementResult.InvalidSignature);

        // The untampered receipt is fine.
        market.settle(signedReceipt(leaseId, 1e6));
    }

    function test_RevertWhen_Settle_SignatureWrongLength() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, HOUR);
        bytes memory sig = r.signature;
        assertEq(sig.length, 65);

        r.signature = bytes.concat(sig, hex"00"); // 66 bytes
        settleFails(r, leaseId, SettlementResult.InvalidSignature);

        bytes memory short = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            short[i] = sig[i];
        }
        r.signature = short;
        settleFails(r, leaseId, SettlementResult.InvalidSignature);

        r.signature = "";
        settleFails(r, leaseId, SettlementResult.InvalidSignature);
    }

    function test_RevertWhen_Settle_MalleableSignature() public {
        skip(1 hours);
        ServiceReceipt memory rec = receipt(leaseId, HOUR);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, market.receiptDigest(rec));
        // The other valid-looking signature of the same digest: (r, n - s, v flipped).
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 highS = bytes32(n - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        SignedReceipt memory item =
            SignedReceipt({receipt: rec, signer: signer, signature: abi.encodePacked(r, highS, flippedV)});
        settleFails(item, leaseId, SettlementResult.InvalidSignature);
    }

    function test_RevertWhen_Settle_SignedForAnotherDomain() public {
        skip(1 hours);
        ServiceReceipt memory rec = receipt(leaseId, HOUR);

        bytes memory otherContract = sign(signerKey, eip712Digest(rec, block.chainid, address(0xdead)));
        settleFails(
            SignedReceipt({receipt: rec, signer: signer, signature: otherContract}),
            leaseId,
            SettlementResult.InvalidSignature
        );

        bytes memory otherChain = sign(signerKey, eip712Digest(rec, block.chainid + 1, address(market)));
        settleFails(
            SignedReceipt({receipt: rec, signer: signer, signature: otherChain}),
            leaseId,
            SettlementResult.InvalidSignature
        );
    }

    // ─── Replay ─────────────────────────────────────────────────────────────────────────────

    function test_RevertWhen_Settle_Replay() public {
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, HOUR);
        market.settle(r);
        skip(1 hours); // more accrued: the replay still pays nothing
        settleFails(r, leaseId, SettlementResult.AlreadySettled);
    }

    function test_RevertWhen_Settle_LowerCumulative() public {
        skip(1 hours);
        market.settle(signedReceipt(leaseId, HOUR));
        settleFails(signedReceipt(leaseId, HOUR - 1), leaseId, SettlementResult.AlreadySettled);
    }

    function test_RevertWhen_Settle_ZeroCumulative() public {
        skip(1 hours);
        settleFails(signedReceipt(leaseId, 0), leaseId, SettlementResult.AlreadySettled);
    }

    // ─── Digest ─────────────────────────────────────────────────────────────────────────────

    function test_ReceiptDigest() public view {
        ServiceReceipt memory rec = receipt(leaseId, HOUR);
        assertEq(market.receiptDigest(rec), eip712Digest(rec, block.chainid, address(market)));
    }

    function test_ReceiptDigest_FollowsChainId() public {
        ServiceReceipt memory rec = receipt(leaseId, HOUR);
        bytes32 before = market.receiptDigest(rec);
        vm.chainId(block.chainid + 7);
        bytes32 afterwards = market.receiptDigest(rec);
        assertEq(afterwards, eip712Digest(rec, block.chainid, address(market)));
        assertNotEq(afterwards, before);
    }

    function testFuzz_ReceiptDigest(uint256 id, uint256 cumulative, bytes32 usageDigest, uint64 periodEnd) public view {
        ServiceReceipt memory rec =
            ServiceReceipt({leaseId: id, cumulativeAmount: cumulative, usageDigest: usageDigest, periodEnd: periodEnd});
        assertEq(market.receiptDigest(rec), eip712Digest(rec, block.chainid, address(market)));
    }
}

/// @notice Unit tests of `settleBatch`: per-item results, skipped items leave no trace, good items
/// settle as `settle` would, and receipts of one lease in one batch settle in order.
contract SettleBatch_Test is SettlementTest {
    function batchOf(SignedReceipt memory a) internal pure returns (SignedReceipt[] memory b) {
        b = new SignedReceipt[](1);
        b[0] = a;
    }

    function batchOf(SignedReceipt memory a, SignedReceipt memory c) internal pure returns (SignedReceipt[] memory b) {
        b = new SignedReceipt[](2);
        b[0] = a;
        b[1] = c;
    }

    function assertResults(SettlementResult[] memory actual, SettlementResult[] memory expected) internal pure {
        assertEq(actual.length, expected.length, "results length");
        for (uint256 i; i < actual.length; ++i) {
            assertEq(uint8(actual[i]), uint8(expected[i]), string.concat("result ", vm.toString(i)));
        }
    }

    function test_SettleBatch_Mixed() public {
        uint256 other = openDefaultLease();
        skip(1 hours);
        SignedReceipt memory good = signedReceipt(leaseId, 1e6);
        SignedReceipt[] memory batch = new SignedReceipt[](5);
        batch[0] = good;
        batch[1] = signedReceipt(999, 1e6);
        batch[2] = signedReceiptBy(strangerKey, signer, receipt(leaseId, 2e6));
        batch[3] = good; // replay of item 0
        batch[4] = signedReceipt(other, 2e6);

        Snapshot memory beforeA = snap(leaseId, signer);
        Lease memory beforeB = market.lease(other);

        expectLeaseSettled(leaseId, signer, 1e6, 1e6);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SettlementSkipped(999, SettlementResult.UnknownLease);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SettlementSkipped(leaseId, SettlementResult.InvalidSignature);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SettlementSkipped(leaseId, SettlementResult.AlreadySettled);
        expectLeaseSettled(other, signer, 2e6, 2e6);
        vm.recordLogs();
        vm.prank(keeper);
        SettlementResult[] memory results = market.settleBatch(batch);
        assertEq(vm.getRecordedLogs().length, 5, "one event per item");

        SettlementResult[] memory expected = new SettlementResult[](5);
        expected[0] = SettlementResult.Settled;
        expected[1] = SettlementResult.UnknownLease;
        expected[2] = SettlementResult.InvalidSignature;
        expected[3] = SettlementResult.AlreadySettled;
        expected[4] = SettlementResult.Settled;
        assertResults(results, expected);

        // Only the two good items changed state, each as a settle would.
        Snapshot memory afterA = snap(leaseId, signer);
        Lease memory expectedA = beforeA.lease;
        expectedA.settled += 1e6;
        assertEq(abi.encode(afterA.lease), abi.encode(expectedA), "lease A");
        Lease memory expectedB = beforeB;
        expectedB.settled += 2e6;
        assertEq(abi.encode(market.lease(other)), abi.encode(expectedB), "lease B");
        assertEq(afterA.signerState.spent, beforeA.signerState.spent + 3e6, "signer spent");
        assertEq(
            afterA.providerClaimable,
            beforeA.providerClaimable + (1e6 - feeOn(1e6)) + (2e6 - feeOn(2e6)),
            "provider claimable"
        );
        assertEq(afterA.fees, beforeA.fees, "fees owed (credited at finalize)");
        assertEq(afterA.tenantClaimable, beforeA.tenantClaimable, "tenant claimable");
        assertEq(afterA.marketBalance, beforeA.marketBalance, "market balance");
        assertTrue(market.lease(999).status == LeaseStatus.None, "no lease 999");
    }

    function test_SettleBatch_Empty() public {
        skip(1 hours);
        Snapshot memory before = snap(leaseId, signer);
        vm.recordLogs();
        SettlementResult[] memory results = market.settleBatch(new SignedReceipt[](0));
        assertEq(results.length, 0, "no results");
        assertEq(vm.getRecordedLogs().length, 0, "no events");
        assertUnchanged(before, snap(leaseId, signer));
    }

    function test_SettleBatch_SameLeaseTwice() public {
        skip(1 hours);
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, 1e6, 1e6, 0);
        expectLeaseSettled(leaseId, signer, 3e6, 2e6, 1e6);
        SettlementResult[] memory results =
            market.settleBatch(batchOf(signedReceipt(leaseId, 1e6), signedReceipt(leaseId, 3e6)));

        SettlementResult[] memory expected = new SettlementResult[](2);
        assertResults(results, expected); // both Settled
        Snapshot memory afterwards = snap(leaseId, signer);
        assertEq(afterwards.lease.settled, 3e6, "settled");
        assertEq(afterwards.signerState.spent, 3e6, "spent");
        assertEq(afterwards.providerClaimable, before.providerClaimable + 3e6 - feeOn(3e6), "provider claimable");
        assertEq(afterwards.fees, before.fees, "fees owed (credited at finalize)");
    }

    function test_SettleBatch_SameLeaseTwice_OlderSecondIsSkipped() public {
        skip(1 hours);
        Snapshot memory before = snap(leaseId, signer);

        expectLeaseSettled(leaseId, signer, 3e6, 3e6);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SettlementSkipped(leaseId, SettlementResult.AlreadySettled);
        SettlementResult[] memory results =
            market.settleBatch(batchOf(signedReceipt(leaseId, 3e6), signedReceipt(leaseId, 1e6)));

        SettlementResult[] memory expected = new SettlementResult[](2);
        expected[1] = SettlementResult.AlreadySettled;
        assertResults(results, expected);
        assertSettled(before, snap(leaseId, signer), 3e6, true);
    }

    function test_SettleBatch_OnlySkippedChangesNothing() public {
        skip(1 hours);
        Snapshot memory before = snap(leaseId, signer);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SettlementSkipped(leaseId, SettlementResult.SignerNotAuthorized);
        SettlementResult[] memory results =
            market.settleBatch(batchOf(signedReceiptBy(strangerKey, stranger, receipt(leaseId, HOUR))));
        assertEq(uint8(results[0]), uint8(SettlementResult.SignerNotAuthorized));
        assertUnchanged(before, snap(leaseId, signer));
    }

    // State of `test_SettleBatch_ReportsEveryResult`, kept out of its stack.
    address internal capped;
    uint256 internal cappedKey;
    address internal shortLived;
    uint256 internal shortLivedKey;
    address internal revoked;
    uint256 internal revokedKey;
    uint256 internal shortLease;
    uint256 internal d;
    uint256 internal fresh;

    /// @dev Leases and signers in every state a receipt can fail on.
    function setUpEveryResult() internal {
        (capped, cappedKey) = makeAddrAndKey("capped");
        (shortLived, shortLivedKey) = makeAddrAndKey("shortLived");
        (revoked, revokedKey) = makeAddrAndKey("revoked");
        authorize(capped, 1, block.timestamp + 365 days);
        authorize(shortLived, SIGNER_CAP, block.timestamp + 2 hours);
        authorize(revoked, SIGNER_CAP, block.timestamp + 365 days);

        shortLease = openLease(tenant, offerId, 1 hours, HOUR); // window closes at t0 + 25h
        d = openDefaultLease();
        skip(10 hours);
        market.settle(signedReceipt(leaseId, market.lease(leaseId).deposit)); // lease A: escrow exhausted
        market.settle(signedReceiptBy(cappedKey, capped, receipt(d, 1))); // `capped` spent its cap
        vm.prank(tenant);
        market.revokeSigner(revoked, provider);
        vm.warp(market.settlementDeadline(shortLease));
        fresh = openDefaultLease(); // nothing accrued yet
    }

    /// @dev One batch hitting every `SettlementResult`.
    function test_SettleBatch_ReportsEveryResult() public {
        setUpEveryResult();
        uint256 deposit = market.lease(leaseId).deposit;

        SignedReceipt[] memory batch = new SignedReceipt[](11);
        batch[0] = signedReceipt(d, 10e6);
        batch[1] = signedReceipt(999, 1e6);
        batch[2] = signedReceipt(shortLease, 1e6);
        batch[3] = signedReceiptBy(strangerKey, stranger, receipt(d, 20e6));
        batch[4] = signedReceiptBy(shortLivedKey, shortLived, receipt(d, 20e6));
        batch[5] = signedReceiptBy(revokedKey, revoked, receipt(d, 20e6));
        batch[6] = signedReceiptBy(strangerKey, signer, receipt(d, 20e6));
        batch[7] = signedReceipt(leaseId, 1e6);
        batch[8] = signedReceipt(fresh, 1e6);
        batch[9] = signedReceipt(leaseId, deposit + 1);
        batch[10] = signedReceiptBy(cappedKey, capped, receipt(d, 20e6));

        SettlementResult[] memory expected = new SettlementResult[](11);
        expected[0] = SettlementResult.Settled;
        expected[1] = SettlementResult.UnknownLease;
        expected[2] = SettlementResult.SettlementWindowClosed;
        expected[3] = SettlementResult.SignerNotAuthorized;
        expected[4] = SettlementResult.SignerExpired;
        expected[5] = SettlementResult.SignerRevoked;
        expected[6] = SettlementResult.InvalidSignature;
        expected[7] = SettlementResult.AlreadySettled;
        expected[8] = SettlementResult.NotYetAccrued;
        expected[9] = SettlementResult.EscrowExhausted;
        expected[10] = SettlementResult.SignerCapReached;

        bytes memory leasesBefore = abi.encode(market.lease(leaseId), market.lease(shortLease), market.lease(fresh));
        Lease memory expectedD = market.lease(d);
        Snapshot memory before = snap(d, capped);

        expectLeaseSettled(d, signer, 10e6, 10e6 - 1, 1);
        for (uint256 i = 1; i < 11; ++i) {
            vm.expectEmit(address(market));
            emit IOpenleaseEvents.SettlementSkipped(batch[i].receipt.leaseId, expected[i]);
        }
        assertResults(market.settleBatch(batch), expected);

        expectedD.settled = 10e6;
        assertEq(abi.encode(market.lease(d)), abi.encode(expectedD), "lease d");
        assertEq(
            abi.encode(market.lease(leaseId), market.lease(shortLease), market.lease(fresh)),
            leasesBefore,
            "skipped leases"
        );
        assertEq(market.sessionSigner(tenant, capped, provider).spent, 1, "capped spent");
        assertEq(market.sessionSigner(tenant, shortLived, provider).spent, 0, "short-lived spent");
        assertEq(market.sessionSigner(tenant, revoked, provider).spent, 0, "revoked spent");
        Snapshot memory afterwards = snap(d, capped);
        assertEq(afterwards.providerClaimable, before.providerClaimable + (10e6 - 1) - feeOf(1, 10e6 - 1), "provider");
        assertEq(feeOf(1, 10e6 - 1), feeOn(10e6), "the fee on the total: the first unit paid none");
        assertEq(afterwards.fees, before.fees, "fees owed (credited at finalize)");
        assertEq(afterwards.marketBalance, before.marketBalance, "market balance");
    }

    /// @dev A signer that used up its cap is a bad item like any other: the batch skips it and
    /// settles the rest.
    function test_SettleBatch_SkipsSignerWithCapBelowSpent() public {
        uint256 other = openDefaultLease();
        (address small, uint256 smallKey) = makeAddrAndKey("small-cap");
        authorize(small, uint96(HOUR), block.timestamp + 1 days);
        skip(1 hours);
        market.settle(signedReceiptBy(smallKey, small, receipt(leaseId, HOUR)));
        skip(1 hours);

        SettlementResult[] memory results = market.settleBatch(
            batchOf(
                signedReceiptBy(smallKey, small, receipt(leaseId, 2 * HOUR)),
                signedReceiptBy(tenantKey, tenant, receipt(other, HOUR))
            )
        );

        SettlementResult[] memory expected = new SettlementResult[](2);
        expected[0] = SettlementResult.SignerCapReached;
        expected[1] = SettlementResult.Settled;
        assertResults(results, expected);
        assertEq(market.lease(leaseId).settled, HOUR, "skipped lease unchanged");
        assertEq(market.lease(other).settled, HOUR, "other lease settled");
    }
}
