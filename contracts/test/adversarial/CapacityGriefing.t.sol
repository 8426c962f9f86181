// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Holding capacity costs the holder. The attack: a griefer fills an offer's capacity with
/// minimum-deposit leases for the maximum duration and never signs a receipt, so the provider earns
/// nothing while honest tenants are turned away (`OpenleaseOfferAtCapacity`). In v1 the provider could
/// only give notice or `terminateLease`, which slashed its own bond to the griefer: griefing paid. Here
/// the provider demands payment of a tenant whose settled total is below what accrued until
/// `PAYMENT_GRACE` ago, and evicts it if the demand is still unanswered `PAYMENT_GRACE` later: no bond
/// moves, the capacity frees at once, the griefer pays the hold charge (`PAYMENT_GRACE` of the price)
/// and gets back what no receipt can claim. A tenant that keeps settling cannot be demanded of; one that
/// answers a demand (settling its own newest receipt) cannot be evicted; a provider that withholds
/// receipts gains nothing by it, and can still settle them for the service it delivered.
contract CapacityGriefing_Adversarial_Test is LeaseTermsBase {
    uint32 internal constant GRIEF_MIN_DURATION = 4 hours;
    uint16 internal constant GRIEF_CAPACITY = 3;
    uint256 internal constant MIN_DEPOSIT = uint256(PRICE) * GRIEF_MIN_DURATION;
    uint256 internal constant HOLD_CHARGE = uint256(PRICE) * 1 hours; // PRICE * PAYMENT_GRACE

    address internal griefer;
    uint256 internal grieferKey;
    uint256 internal griefOffer;
    uint256[] internal griefLeases;
    uint256 internal openedAt;
    uint256 internal grieferStartBalance;

    function setUp() public override {
        super.setUp();
        (griefer, grieferKey) = makeAddrAndKey("griefer");
        mintAndApprove(address(usdc), griefer, 1_000e6);
        grieferStartBalance = usdc.balanceOf(griefer);
        vm.prank(provider);
        griefOffer = market.publishOffer(
            address(usdc), PRICE, GRIEF_MIN_DURATION, MAX_DURATION, NOTICE, GRIEF_CAPACITY, bytes32(0), address(0)
        );
        openedAt = block.timestamp;
        for (uint256 i; i < GRIEF_CAPACITY; ++i) {
            griefLeases.push(openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT));
        }
    }

    function expectNotInArrears(uint256 leaseId, uint256 settled, uint256 due) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotInArrears.selector, leaseId, settled, due));
    }

    function demand(uint256 leaseId) internal {
        vm.prank(provider);
        market.demandPayment(leaseId);
    }

    function evict(uint256 leaseId) internal {
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    /// @dev Demands payment of every griefing lease once the grace has passed, and waits the grace out.
    function demandAllAndWait() internal {
        vm.warp(openedAt + Bounds.PAYMENT_GRACE + 1);
        for (uint256 i; i < griefLeases.length; ++i) {
            demand(griefLeases[i]);
        }
        skip(Bounds.PAYMENT_GRACE);
    }

    // ─── The griefer is evicted ─────────────────────────────────────────────────────────────

    /// @notice The griefer really holds the capacity: an honest tenant is turned away.
    function test_RevertWhen_HonestTenantOpensWhileGrieferHoldsCapacity() public {
        bytes32 terms = market.offerTermsHash(griefOffer);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferAtCapacity.selector, griefOffer, GRIEF_CAPACITY));
        vm.prank(tenant);
        market.openLease(griefOffer, MAX_DURATION, MIN_DEPOSIT, terms);
    }

    /// @notice Once a demand has gone unanswered for the grace, the provider evicts every griefing lease:
    /// each frees a slot at once, pays the griefer no bond and charges it `PAYMENT_GRACE` of the price; the
    /// escrow no receipt can claim goes back at once, and the rest (less the hold charge) once the lease is
    /// finalized at the settlement deadline it had. The griefer ends poorer by the hold charges.
    function test_ProviderEvictsGrieferAfterUnansweredDemand() public {
        demandAllAndWait();
        uint96 bond = market.lease(griefLeases[0]).bond;
        assertGt(bond, 0, "each lease locked a bond");
        Books memory b = booksOf(griefer, provider, griefOffer);
        uint256 ceiling = (block.timestamp - openedAt) * PRICE; // what accrued until the eviction
        uint256 remediesUntil = openedAt + GRIEF_MIN_DURATION + market.params().settlementWindow;

        for (uint256 i; i < griefLeases.length; ++i) {
            uint256 leaseId = griefLeases[i];
            vm.expectEmit(address(market));
            emit LeaseEvicted(leaseId, block.timestamp, HOLD_CHARGE, HOLD_CHARGE, MIN_DEPOSIT - ceiling, remediesUntil);
            evict(leaseId);

            Lease memory l = market.lease(leaseId);
            assertEq(uint8(l.status), uint8(LeaseStatus.Evicted), "evicted");
            assertEq(l.bond, bond, "bond still locked");
            assertEq(l.endsAt, block.timestamp, "ended now");
            assertEq(l.deposit, ceiling, "escrow cut to what accrued");
            assertEq(l.settled, HOLD_CHARGE, "the hold charge settled");
        }

        Books memory a = booksOf(griefer, provider, griefOffer);
        uint256 n = griefLeases.length;
        uint256 holdFee = leaseFee(griefLeases[0], HOLD_CHARGE);
        assertEq(a.tenantClaimable, b.tenantClaimable + n * (MIN_DEPOSIT - ceiling), "unclaimable escrow back");
        assertEq(a.stake.staked, b.stake.staked, "no bond paid to the griefer");
        assertEq(a.stake.locked, b.stake.locked, "bonds stay locked until the remedies deadline");
        assertEq(a.providerClaimable, b.providerClaimable + n * (HOLD_CHARGE - holdFee), "the provider is paid");
        assertEq(a.marketBalance, b.marketBalance, "nothing left the market");
        assertEq(a.activeLeases, 0, "capacity freed");

        vm.warp(remediesUntil);
        for (uint256 i; i < griefLeases.length; ++i) {
            market.finalizeLease(griefLeases[i]);
        }
        assertEq(market.stakeOf(provider, address(usdc)).locked, b.stake.locked - n * bond, "bonds released once");
        assertEq(market.offer(griefOffer).activeLeases, 0, "capacity not freed twice");
        vm.prank(griefer);
        market.claim(address(usdc), griefer);
        assertEq(usdc.balanceOf(griefer), grieferStartBalance - n * HOLD_CHARGE, "the griefer paid for the hold");
    }

    /// @notice The freed slot is sold at once, in the eviction's block.
    function test_CapacityFreedImmediatelyByEviction() public {
        demandAllAndWait();
        evict(griefLeases[0]);
        uint256 leaseId = openLease(tenant, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        assertEq(market.lease(leaseId).tenant, tenant, "honest tenant served");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY, "full again, with an honest tenant");
    }

    /// @notice At exactly `PAYMENT_GRACE` nothing is overdue yet: no demand; and no eviction without one.
    function test_RevertWhen_DemandOrEvictBeforeGracePassed() public {
        vm.warp(openedAt + Bounds.PAYMENT_GRACE);
        Books memory b = booksOf(griefer, provider, griefOffer);
        expectNotInArrears(griefLeases[0], 0, 0);
        demand(griefLeases[0]);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, griefLeases[0], Bounds.PAYMENT_GRACE));
        evict(griefLeases[0]);
        assertBooks(booksOf(griefer, provider, griefOffer), b, "after the refused eviction");
    }

    /// @notice Any time within the grace, a tenant that paid nothing yet cannot be demanded of.
    function testFuzz_RevertWhen_DemandWithinGrace(uint256 elapsed) public {
        elapsed = bound(elapsed, 0, Bounds.PAYMENT_GRACE);
        vm.warp(openedAt + elapsed);
        expectNotInArrears(griefLeases[1], 0, 0);
        demand(griefLeases[1]);
    }

    /// @notice A demand must wait out the grace before it lets the provider evict.
    function testFuzz_RevertWhen_EvictWithinGraceOfTheDemand(uint256 elapsed) public {
        elapsed = bound(elapsed, 0, Bounds.PAYMENT_GRACE - 1);
        vm.warp(openedAt + Bounds.PAYMENT_GRACE + 1);
        demand(griefLeases[1]);
        uint256 evictableAt = block.timestamp + Bounds.PAYMENT_GRACE;
        skip(elapsed);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, griefLeases[1], evictableAt));
        evict(griefLeases[1]);
    }

    // ─── An honest tenant cannot be evicted ─────────────────────────────────────────────────

    /// @notice A tenant that settles its receipts is current: no demand, with the settled and due
    /// amounts named.
    function test_RevertWhen_DemandOfTenantThatSettlesItsReceipts() public {
        demandAllAndWait();
        evict(griefLeases[0]); // a slot for the honest tenant
        uint256 leaseId = openLease(tenant, griefOffer, MAX_DURATION, uint256(PRICE) * 1 days);
        uint256 start = block.timestamp;
        skip(2 hours);
        market.settle(signedReceipt(leaseId, accruedNow(leaseId)));
        skip(1 hours);
        Books memory b = books();

        uint256 due = uint256(PRICE) * 2 hours;
        expectNotInArrears(leaseId, due, due);
        demand(leaseId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoPaymentDemand.selector, leaseId, Bounds.PAYMENT_GRACE));
        evict(leaseId);
        assertBooksUnchanged(b, "after the refused eviction");
        assertEq(market.leaseEnd(leaseId), start + 1 days, "still running to its end");
    }

    /// @notice Whenever a tenant settled all that accrued, it stays current for `PAYMENT_GRACE`.
    function testFuzz_RevertWhen_DemandWithinGraceOfLastSettlement(uint256 settleAfter, uint256 gap) public {
        settleAfter = bound(settleAfter, 1, GRIEF_MIN_DURATION - Bounds.PAYMENT_GRACE - 1);
        gap = bound(gap, 0, Bounds.PAYMENT_GRACE);
        uint256 leaseId = griefLeases[2];
        vm.warp(openedAt + settleAfter);
        uint256 amount = accruedNow(leaseId);
        market.settle(signedReceiptBy(grieferKey, griefer, receipt(leaseId, amount)));
        vm.warp(block.timestamp + gap);

        (uint256 due,) =
            LeaseMath.arrears(openedAt, market.leaseEnd(leaseId), PRICE, amount, Bounds.PAYMENT_GRACE, block.timestamp);
        expectNotInArrears(leaseId, amount, due);
        demand(leaseId);
    }

    // ─── Withheld receipts win the provider nothing ─────────────────────────────────────────

    /// @notice The provider holds back the tenant's receipt to make it look in arrears and demands
    /// payment: the tenant answers by settling its own newest receipt, and the eviction is refused.
    function test_RevertWhen_EvictingTenantThatAnsweredTheDemand() public {
        (uint256 leaseId,,) = honestLeaseWithWithheldReceipt();
        demand(leaseId);
        PaymentDemand memory d = market.paymentDemand(leaseId);
        market.settle(signedReceiptBy(tenantKey, tenant, receipt(leaseId, accruedNow(leaseId))));
        skip(Bounds.PAYMENT_GRACE);
        uint256 settled = market.lease(leaseId).settled;
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseDemandAnswered.selector, leaseId, settled, d.due));
        evict(leaseId);
        assertBooksUnchanged(b, "after the refused eviction");
    }

    /// @notice A tenant that lets the demand stand is evicted, but the provider gains nothing by the
    /// receipt it withheld: the receipt still pays the service it covers (the hold charge counts
    /// towards it), and the tenant is refunded the escrow no receipt can claim.
    function test_EvictingProviderStillSettlesWithheldReceipts() public {
        (uint256 leaseId, SignedReceipt memory withheld, uint256 deposit) = honestLeaseWithWithheldReceipt();
        uint256 delivered = withheld.receipt.cumulativeAmount;
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        Books memory b = books();
        evict(leaseId);
        uint256 ceiling = accruedNow(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable + deposit - ceiling, "unclaimable back");

        SettlementResult[] memory results = market.settleBatch(one(withheld));
        assertEq(uint8(results[0]), uint8(SettlementResult.Settled), "the withheld receipt pays");
        assertEq(market.lease(leaseId).settled, delivered, "the provider is paid what it delivered, no more");
        assertEq(
            market.claimable(provider, address(usdc)),
            b.providerClaimable + delivered - leaseFee(leaseId, delivered),
            "provider earned the service"
        );
        assertEq(usdc.balanceOf(address(market)), b.marketBalance, "nothing moved");
    }

    /// @notice After the evicted lease's settlement window the withheld receipt yields nothing
    /// (`SettlementWindowClosed`).
    function test_WithheldReceiptAfterWindowYieldsNothing() public {
        (uint256 leaseId, SignedReceipt memory withheld,) = honestLeaseWithWithheldReceipt();
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        evict(leaseId);
        vm.warp(market.settlementDeadline(leaseId));
        uint256 providerClaimable = market.claimable(provider, address(usdc));

        SettlementResult[] memory results = market.settleBatch(one(withheld));
        assertEq(uint8(results[0]), uint8(SettlementResult.SettlementWindowClosed), "window closed");
        assertEq(market.claimable(provider, address(usdc)), providerClaimable, "provider earned nothing more");
    }

    /// @dev An honest tenant's lease of the griefed offer (a slot freed by eviction), with a receipt
    /// for two hours of service its provider never settled, an hour and a second later.
    function honestLeaseWithWithheldReceipt()
        internal
        returns (uint256 leaseId, SignedReceipt memory withheld, uint256 deposit)
    {
        demandAllAndWait();
        evict(griefLeases[0]);
        deposit = uint256(PRICE) * 1 days;
        leaseId = openLease(tenant, griefOffer, MAX_DURATION, deposit);
        skip(2 hours);
        withheld = signedReceipt(leaseId, accruedNow(leaseId));
        skip(Bounds.PAYMENT_GRACE + 1);
    }

    // ─── The tricks that do not work ────────────────────────────────────────────────────────

    /// @notice The griefer settles one unit of its own to look like a paying tenant: the demand is for
    /// what accrued, one unit answers nothing, and it is evicted anyway.
    function test_OneUnitSettlementDoesNotPreventEviction() public {
        uint256 leaseId = griefLeases[0];
        skip(1 minutes);
        assertEq(market.settle(signedReceiptBy(grieferKey, griefer, receipt(leaseId, 1))), 1, "one unit settled");
        vm.warp(openedAt + 2 hours);
        uint256 due = uint256(PRICE) * (2 hours - Bounds.PAYMENT_GRACE);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 1, due, block.timestamp + Bounds.PAYMENT_GRACE);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        Books memory b = booksOf(griefer, provider, griefOffer);

        evict(leaseId);

        assertEq(
            market.claimable(griefer, address(usdc)),
            b.tenantClaimable + MIN_DEPOSIT - uint256(PRICE) * 3 hours,
            "what can no longer accrue back"
        );
        assertEq(market.lease(leaseId).settled, 1 + HOLD_CHARGE, "the unit and the hold charge");
        assertEq(market.stakeOf(provider, address(usdc)).staked, b.stake.staked, "no bond paid");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY - 1, "slot freed");
    }

    /// @notice An open dispute no longer freezes the eviction: the griefer disputes, the demand stands,
    /// the provider evicts; the dispute expiring unruled sends the griefer's dispute bond to the provider.
    function test_DisputeDoesNotStallEviction() public {
        uint256 leaseId = griefLeases[0];
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        demandAllAndWait();

        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted), "evicted despite the dispute");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY - 1, "slot freed");

        vm.warp(market.dispute(leaseId).deadline);
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        vm.expectEmit(address(market));
        emit DisputeExpired(leaseId, true);
        market.expireDispute(leaseId);
        assertEq(market.claimable(provider, address(usdc)), providerClaimable + tenantBond, "stalling bond to provider");
    }

    /// @notice A stalling dispute costs the griefer its dispute bond once rejected, and the eviction
    /// follows.
    function test_EvictAfterStallingDisputeRejected() public {
        uint256 leaseId = griefLeases[0];
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        demandAllAndWait();
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 0);
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        assertEq(providerClaimable, tenantBond, "the provider kept the stalling bond");

        evict(leaseId);
        assertEq(
            market.claimable(provider, address(usdc)),
            providerClaimable + HOLD_CHARGE - leaseFee(leaseId, HOLD_CHARGE),
            "and the hold charge"
        );
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY - 1, "slot freed");
    }

    /// @notice Only the provider demands and evicts: not the tenant, not a stranger, not the arbiter.
    function test_RevertWhen_NonProviderDemandsOrEvicts() public {
        vm.warp(openedAt + Bounds.PAYMENT_GRACE + 1);
        uint256 leaseId = griefLeases[0];
        address[3] memory callers = [griefer, keeper, arbiter];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(OpenleaseNotLeaseProvider.selector, leaseId, callers[i]));
            vm.prank(callers[i]);
            market.demandPayment(leaseId);
        }
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(OpenleaseNotLeaseProvider.selector, leaseId, callers[i]));
            vm.prank(callers[i]);
            market.evictLease(leaseId);
        }
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Open), "still open");
    }

    // ─── The grace bounds the hold even when the lease ends first ───────────────────────────

    /// @notice A minimum-deposit lease stops running after the offer's minimum duration; when that
    /// is at most `PAYMENT_GRACE` (the base offer: 1 hour), the unpaid lease ends before the grace
    /// passes. It can still be demanded of and evicted then, rather than holding its slot through its
    /// whole settlement window, up to 7 days, and getting its deposit back anyway: the hold charge takes
    /// its whole (one hour) escrow.
    function test_UnpaidLeaseEndingWithinGraceIsEvicted() public {
        uint256 minDeposit = uint256(PRICE) * MIN_DURATION; // the base offer: 1 hour minimum
        uint256 leaseId = openLease(griefer, offerId, MAX_DURATION, minDeposit);
        uint256 start = block.timestamp;
        vm.warp(start + Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);

        evict(leaseId);
        assertEq(market.offer(offerId).activeLeases, 0, "the unpaid lease's slot is free after the grace");
        assertEq(market.lease(leaseId).settled, minDeposit, "the hour it held, paid");
    }

    /// @notice A dispute no one may rule would stall a lease for free: when the lease's arbiter is
    /// its tenant (governance appointed a market participant, or the admin itself, as arbiter, and the
    /// provider accepted the version), `ruleDispute` always reverts. `openDispute` refuses it instead,
    /// and the eviction proceeds.
    function test_DisputeNoOneCanRuleIsRefusedAndEvictionProceeds() public {
        address arbiterTenant = makeAddr("arbiter tenant");
        Params memory p = defaultParams();
        p.arbiter = arbiterTenant;
        applyParams(p);
        acceptParams(griefOffer);
        mintAndApprove(address(usdc), arbiterTenant, 1_000e6);
        vm.prank(provider);
        market.updateOffer(griefOffer, PRICE, GRIEF_MIN_DURATION, MAX_DURATION, NOTICE, GRIEF_CAPACITY + 1);
        uint256 leaseId = openLease(arbiterTenant, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        assertEq(market.leaseParams(leaseId).arbiter, arbiterTenant, "the accepted version");
        uint256 start = block.timestamp;
        vm.expectRevert(abi.encodeWithSelector(OpenleaseArbiterIsParty.selector, leaseId, arbiterTenant));
        vm.prank(arbiterTenant);
        market.openDispute(leaseId, "ipfs://stalling");
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.None), "no dispute");
        vm.warp(start + Bounds.PAYMENT_GRACE + 1);
        demand(leaseId);
        skip(Bounds.PAYMENT_GRACE);

        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted), "evicted after the grace");
    }
}
