// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Eviction only of a tenant that truly failed to pay. The attack (v2): "in arrears" was the
/// lease's settled total below what accrued until `PAYMENT_GRACE` ago, and the provider alone decides when
/// its held receipts are settled. An honest tenant whose session signer attests every ten minutes looked in
/// arrears the moment its provider held the receipts back for an hour, and was evicted. Here the provider
/// must demand payment on chain and wait `PAYMENT_GRACE`; any settlement that brings the settled total to
/// what was due answers the demand, and the tenant can always answer by settling its own newest receipt,
/// however many receipts the provider holds back. A tenant that truly never pays is still evictable.
contract EvictionNeedsUnansweredDemand_Adversarial_Test is LeaseTermsBase {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;

    uint256 internal leaseId;
    uint256 internal startedAt;
    /// @dev The receipts the tenant's signer handed the provider, every ten minutes, none settled.
    SignedReceipt[] internal held;

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        startedAt = block.timestamp;
    }

    function demand() internal {
        vm.prank(provider);
        market.demandPayment(leaseId);
    }

    function evict() internal {
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    /// @dev Service for `duration`, the signer attesting every ten minutes, the provider holding all back.
    function serveAndHoldBack(uint256 duration) internal {
        for (uint256 t = 10 minutes; t <= duration; t += 10 minutes) {
            vm.warp(startedAt + t);
            held.push(signedReceipt(leaseId, accruedNow(leaseId)));
        }
    }

    function ownNewestReceipt() internal view returns (SignedReceipt memory) {
        return signedReceiptBy(tenantKey, tenant, receipt(leaseId, accruedNow(leaseId)));
    }

    /// @notice The provider holds three hours of receipts back, then tries the v2 eviction: refused, there
    /// is no payment demand.
    function test_RevertWhen_ProviderHoldsReceiptsBackAndEvictsWithoutADemand() public {
        serveAndHoldBack(3 hours);
        (, uint256 owed) = LeaseMath.arrears(
            startedAt,
            market.leaseEnd(leaseId),
            PRICE,
            market.lease(leaseId).settled,
            Bounds.PAYMENT_GRACE,
            block.timestamp
        );
        assertGt(owed, 0, "the tenant looks in arrears: the provider settled nothing");
        Books memory b = books();
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, leaseId, Bounds.PAYMENT_GRACE));
        evict();
        assertBooksUnchanged(b, "after the refused eviction");
    }

    /// @notice The provider demands payment while holding every receipt back; the tenant answers by
    /// settling its own newest receipt: the eviction is refused, with what was settled and due named.
    function test_RevertWhen_TenantAnsweredWithItsOwnNewestReceipt() public {
        serveAndHoldBack(3 hours);
        demand();
        PaymentDemand memory d = market.paymentDemand(leaseId);
        assertEq(d.due, 2 * HOUR, "due: what accrued until the grace before the demand");
        skip(5 minutes);
        uint256 paid = market.settle(ownNewestReceipt());
        assertGe(paid, d.due, "the answer covers the demand");
        skip(Bounds.PAYMENT_GRACE);
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseDemandAnswered.selector, leaseId, paid, d.due));
        evict();
        assertBooksUnchanged(b, "after the refused eviction");
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Open), "still open");
        // The tenant paid for more than the held receipts cover: they add nothing.
        SignedReceipt memory newestHeld = held[held.length - 1];
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseSettlementFailed.selector, leaseId, SettlementResult.AlreadySettled)
        );
        market.settle(newestHeld);
    }

    /// @notice The session signer's newest receipt answers as well, settled by anyone; and an answer in the
    /// grace's last second counts.
    function test_RevertWhen_AnsweredByTheSignersNewestReceiptAtTheLastSecond() public {
        serveAndHoldBack(3 hours);
        demand();
        uint256 evictableAt = block.timestamp + Bounds.PAYMENT_GRACE;
        uint256 due = market.paymentDemand(leaseId).due;
        vm.warp(evictableAt - 1);
        SignedReceipt memory newest = signedReceipt(leaseId, accruedNow(leaseId));
        vm.prank(keeper);
        market.settle(newest);
        vm.warp(evictableAt);
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseDemandAnswered.selector, leaseId, market.lease(leaseId).settled, due)
        );
        evict();
    }

    /// @notice The provider settles only an old receipt to look diligent: it answers the demand only if it
    /// reaches what was due. One settled below `due` leaves the demand standing; the tenant's own receipt
    /// still answers it.
    function test_PartialSettlementDoesNotAnswerButTheTenantCan() public {
        serveAndHoldBack(3 hours);
        demand();
        uint256 due = market.paymentDemand(leaseId).due;
        market.settle(held[0]); // ten minutes' worth
        assertLt(market.lease(leaseId).settled, due, "below what was due");
        market.settle(ownNewestReceipt());
        skip(Bounds.PAYMENT_GRACE);
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseDemandAnswered.selector, leaseId, market.lease(leaseId).settled, due)
        );
        evict();
    }

    /// @notice Nor can the provider evict before the demand's grace has passed.
    function test_RevertWhen_EvictWithinTheDemandsGrace() public {
        skip(3 hours);
        demand();
        uint256 evictableAt = block.timestamp + Bounds.PAYMENT_GRACE;
        vm.warp(evictableAt - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, leaseId, evictableAt));
        evict();
    }

    /// @notice No demand of a tenant that is current: the provider's demand is refused when the settled
    /// total covers what accrued until the grace ago.
    function test_RevertWhen_DemandOfACurrentTenant() public {
        skip(3 hours);
        market.settle(ownNewestReceipt());
        skip(Bounds.PAYMENT_GRACE);
        uint256 settled = market.lease(leaseId).settled;
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotInArrears.selector, leaseId, settled, settled));
        demand();
    }

    /// @notice A tenant that truly never pays (no receipt at all) is evictable once the demand has waited out
    /// the grace: the lease ends, the capacity frees, the hold charge is paid.
    function test_NonPayingTenantIsEvictableAfterTheGrace() public {
        skip(2 hours);
        demand();
        skip(Bounds.PAYMENT_GRACE);
        evict();
        Lease memory l = market.lease(leaseId);
        assertEq(uint8(l.status), uint8(LeaseStatus.Evicted), "evicted");
        assertEq(l.endsAt, block.timestamp, "ended now");
        assertEq(l.settled, HOUR, "the hold charge");
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");
    }

    /// @notice Answered once, the provider cannot keep demanding for the same time: a new demand needs new
    /// arrears, and restarts the grace.
    function test_NewDemandNeedsNewArrearsAndRestartsTheGrace() public {
        skip(3 hours);
        demand();
        market.settle(ownNewestReceipt());
        uint256 settled = market.lease(leaseId).settled;
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotInArrears.selector, leaseId, settled, 2 * HOUR));
        demand();
        skip(2 hours);
        demand(); // the tenant stopped paying: a new demand
        uint256 evictableAt = block.timestamp + Bounds.PAYMENT_GRACE;
        skip(Bounds.PAYMENT_GRACE - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, leaseId, evictableAt));
        evict();
        skip(1);
        evict();
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted), "evicted");
    }

    /// @notice An evicted or finalized lease is not demanded of or evicted again.
    function test_RevertWhen_DemandOrEvictALeaseNotOpen() public {
        skip(2 hours);
        demand();
        skip(Bounds.PAYMENT_GRACE);
        evict();
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseNotOpen.selector, leaseId, LeaseStatus.Evicted));
        demand();
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseNotOpen.selector, leaseId, LeaseStatus.Evicted));
        evict();
        vm.warp(market.remediesDeadline(leaseId));
        market.finalizeLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseNotOpen.selector, leaseId, LeaseStatus.Finalized));
        demand();
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseNotOpen.selector, leaseId, LeaseStatus.Finalized));
        evict();
    }
}
