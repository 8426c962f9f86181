// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Holding capacity and stalling cost the one who does it. The attacks (v2): a griefer opens a
/// lease, never pays, is evicted with its whole unsettled escrow refunded, and opens again at once: an
/// endless hold of the offer's capacity at no cost. Or a tenant in arrears opens an SLA dispute, which
/// blocked eviction until it expired unruled and then returned the tenant's dispute bond: a free stall.
/// Here eviction charges the tenant `PAYMENT_GRACE` of the price (the hold charge, settled to the provider),
/// so every open-never-pay-evicted cycle costs the griefer at least that; an open dispute does not stop the
/// eviction; and a dispute that expires unruled while its tenant is in arrears (evicted, or a payment demand
/// standing unanswered) pays its bond to the provider. An honest tenant's expired dispute still returns its
/// bond.
contract GriefingCosts_Adversarial_Test is LeaseTermsBase {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;
    uint256 internal constant HOLD_CHARGE = uint256(PRICE) * Bounds.PAYMENT_GRACE;
    uint32 internal constant GRIEF_MIN_DURATION = 4 hours;
    uint256 internal constant MIN_DEPOSIT = uint256(PRICE) * GRIEF_MIN_DURATION;

    address internal griefer;
    uint256 internal griefOffer;

    function setUp() public override {
        super.setUp();
        griefer = makeAddr("griefer");
        mintAndApprove(address(usdc), griefer, 1_000e6);
        vm.prank(provider);
        griefOffer = market.publishOffer(
            address(usdc), PRICE, GRIEF_MIN_DURATION, MAX_DURATION, NOTICE, 1, bytes32(0), address(0)
        );
    }

    function demand(uint256 leaseId) internal {
        vm.prank(provider);
        market.demandPayment(leaseId);
    }

    function evict(uint256 leaseId) internal {
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    /// @dev One cycle: the griefer fills the offer's only slot, pays nothing, is demanded of once the grace
    /// has passed and evicted once the demand's grace has.
    function griefCycle() internal returns (uint256 leaseId) {
        leaseId = openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        skip(Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        evict(leaseId);
    }

    /// @notice Open, never pay, evicted, reopen, five times: each cycle the provider is credited the hold
    /// charge (less the fee), and once the evicted leases are finalized the griefer has lost exactly the hold
    /// charges: at least `PRICE * PAYMENT_GRACE` per cycle.
    function test_OpenNeverPayEvictedReopenCostsTheGrieferEachCycle() public {
        uint256 cycles = 5;
        uint256 grieferStart = usdc.balanceOf(griefer);
        uint256[] memory leases = new uint256[](cycles);
        for (uint256 i; i < cycles; ++i) {
            uint256 providerBefore = market.claimable(provider, address(usdc));
            leases[i] = griefCycle();
            assertEq(
                market.claimable(provider, address(usdc)),
                providerBefore + HOLD_CHARGE - leaseFee(leases[i], HOLD_CHARGE),
                "the provider is paid for the hold"
            );
            assertEq(market.lease(leases[i]).settled, HOLD_CHARGE, "the griefer paid the hold charge");
            assertEq(market.offer(griefOffer).activeLeases, 0, "the slot is free again");
        }

        vm.warp(market.remediesDeadline(leases[cycles - 1]));
        for (uint256 i; i < cycles; ++i) {
            market.finalizeLease(leases[i]);
        }
        vm.prank(griefer);
        market.claim(address(usdc), griefer);
        uint256 cost = grieferStart - usdc.balanceOf(griefer);
        assertEq(cost, cycles * HOLD_CHARGE, "the griefer lost the hold charges");
        assertGe(
            cost, cycles * uint256(PRICE) * Bounds.PAYMENT_GRACE, "at least PRICE * Bounds.PAYMENT_GRACE per cycle"
        );
    }

    /// @notice The griefer disputes to stall: the dispute does not stop the demand or the eviction.
    function test_TenantInArrearsDisputes_EvictionStillWorks() public {
        uint256 leaseId = openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        skip(Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted), "evicted");
        assertEq(market.offer(griefOffer).activeLeases, 0, "slot freed despite the dispute");
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.Open), "the dispute stands");
    }

    /// @notice The stalling dispute expires unruled: the evicted griefer's dispute bond goes to the provider.
    function test_ExpiredDisputeOfAnEvictedTenantPaysTheProvider() public {
        uint256 leaseId = openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        assertGt(tenantBond, 0, "a bond was posted");
        skip(Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        evict(leaseId);
        vm.warp(market.dispute(leaseId).deadline);
        uint256 providerBefore = market.claimable(provider, address(usdc));
        uint256 grieferBefore = market.claimable(griefer, address(usdc));

        vm.expectEmit(address(market));
        emit DisputeExpired(leaseId, true);
        vm.prank(keeper);
        market.expireDispute(leaseId);
        assertEq(market.claimable(provider, address(usdc)), providerBefore + tenantBond, "bond to the provider");
        assertEq(market.claimable(griefer, address(usdc)), grieferBefore, "nothing back to the griefer");
    }

    /// @notice Not evicted, but a payment demand stands unanswered when the dispute expires: the tenant is in
    /// arrears, its bond goes to the provider.
    function test_ExpiredDisputeWhileADemandStandsUnansweredPaysTheProvider() public {
        uint256 leaseId = openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        skip(Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        vm.warp(market.dispute(leaseId).deadline);
        uint256 providerBefore = market.claimable(provider, address(usdc));
        vm.expectEmit(address(market));
        emit DisputeExpired(leaseId, true);
        market.expireDispute(leaseId);
        assertEq(market.claimable(provider, address(usdc)), providerBefore + tenantBond, "bond to the provider");
    }

    /// @notice An honest tenant (current on its receipts, never demanded of) disputes, and the arbiter never
    /// rules: its bond comes back.
    function test_HonestTenantsExpiredDisputeReturnsItsBond() public {
        uint256 leaseId = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        skip(2 hours);
        market.settle(signedReceipt(leaseId, accruedNow(leaseId)));
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        vm.warp(market.dispute(leaseId).deadline);
        uint256 tenantBefore = market.claimable(tenant, address(usdc));
        uint256 providerBefore = market.claimable(provider, address(usdc));

        vm.expectEmit(address(market));
        emit DisputeExpired(leaseId, false);
        market.expireDispute(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), tenantBefore + tenantBond, "bond returned");
        assertEq(market.claimable(provider, address(usdc)), providerBefore, "the provider gets nothing");
    }

    /// @notice A tenant that answered the provider's demand is honest again: its expired dispute's bond comes
    /// back too.
    function test_TenantThatAnsweredTheDemandGetsItsBondBack() public {
        uint256 leaseId = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        skip(3 hours);
        demand(leaseId);
        market.settle(signedReceiptBy(tenantKey, tenant, receipt(leaseId, accruedNow(leaseId))));
        vm.warp(market.dispute(leaseId).deadline);
        uint256 tenantBefore = market.claimable(tenant, address(usdc));
        vm.expectEmit(address(market));
        emit DisputeExpired(leaseId, false);
        market.expireDispute(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), tenantBefore + tenantBond, "bond returned");
    }

    // ─── Timing attacks on demands ──────────────────────────────────────────────────────────

    /// @notice A provider holding back its tenant's receipts (so that settled < due) demands payment in
    /// the dispute's deadline block and calls `expireDispute` right after: a demand is no evidence of
    /// arrears until the tenant has had its whole grace to answer, so the bond stays the tenant's.
    function test_DemandAtTheDisputeDeadlineDoesNotTakeTheBond() public {
        uint256 leaseId = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        vm.warp(market.dispute(leaseId).deadline); // the provider settled none of the receipts it holds
        uint256 tenantBefore = market.claimable(tenant, address(usdc));
        vm.startPrank(provider);
        market.demandPayment(leaseId);
        market.expireDispute(leaseId);
        vm.stopPrank();
        assertEq(market.claimable(tenant, address(usdc)), tenantBefore + tenantBond, "the bond is the tenant's");
    }

    /// @notice After a lease's settlement deadline no receipt can be settled, so no demand can be
    /// answered (and a tenant's open dispute keeps the lease from being finalized): a demand the tenant
    /// cannot answer within its grace is refused, so no hold charge comes out of escrow that is the
    /// tenant's refund.
    function test_RevertWhen_DemandAfterTheSettlementWindowClosed() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach"); // holds finalize for the dispute period
        vm.warp(market.settlementDeadline(leaseId));
        SignedReceipt memory answer = signedReceiptBy(tenantKey, tenant, receipt(leaseId, 10 * HOUR));
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseSettlementFailed.selector, leaseId, SettlementResult.SettlementWindowClosed)
        );
        market.settle(answer); // the tenant could not answer
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTooLateToDemand.selector, leaseId, deadline));
        demand(leaseId);
        // Nor one the grace would outlast: the tenant must have its whole grace inside the window.
        vm.warp(deadline - Bounds.PAYMENT_GRACE);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTooLateToDemand.selector, leaseId, deadline));
        demand(leaseId);
    }
}
