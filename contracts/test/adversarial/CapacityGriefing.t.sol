// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Holding capacity costs the holder. The attack: a griefer fills an offer's capacity with
/// minimum-deposit leases for the maximum duration and never signs a receipt, so the provider earns
/// nothing while honest tenants are turned away (`OpenleaseOfferAtCapacity`). In v1 the provider could
/// only give notice (the slot stays held through the notice, the minimum duration and the settlement
/// window) or `terminateLease`, which slashed its own bond to the griefer: griefing paid. Here the
/// provider evicts a tenant whose settled total is below what accrued until `PAYMENT_GRACE` ago:
/// no bond moves, the capacity frees at once and the tenant gets exactly its unsettled escrow back.
/// A tenant that keeps settling cannot be evicted; a provider that withholds receipts to evict
/// forfeits them.
contract CapacityGriefing_Adversarial_Test is LeaseTermsBase {
    uint32 internal constant GRIEF_MIN_DURATION = 4 hours;
    uint16 internal constant GRIEF_CAPACITY = 3;
    uint256 internal constant MIN_DEPOSIT = uint256(PRICE) * GRIEF_MIN_DURATION;

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
        griefOffer = market.publishOffer(address(usdc), PRICE, GRIEF_MIN_DURATION, MAX_DURATION, NOTICE, GRIEF_CAPACITY);
        openedAt = block.timestamp;
        for (uint256 i; i < GRIEF_CAPACITY; ++i) {
            griefLeases.push(openLease(griefer, griefOffer, MAX_DURATION, MIN_DEPOSIT));
        }
    }

    function expectNotInArrears(uint256 leaseId, uint256 settled, uint256 due) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotInArrears.selector, leaseId, settled, due));
    }

    function evict(uint256 leaseId) internal {
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    // ─── The griefer is evicted ─────────────────────────────────────────────────────────────

    /// @notice The griefer really holds the capacity: an honest tenant is turned away.
    function test_RevertWhen_HonestTenantOpensWhileGrieferHoldsCapacity() public {
        bytes32 terms = market.offerTermsHash(griefOffer);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferAtCapacity.selector, griefOffer, GRIEF_CAPACITY));
        vm.prank(tenant);
        market.openLease(griefOffer, MAX_DURATION, MIN_DEPOSIT, terms);
    }

    /// @notice Once the grace has passed, the provider evicts every griefing lease: each refunds
    /// exactly its deposit, pays the griefer no bond, releases the bond and frees a slot at once.
    function test_ProviderEvictsGrieferAfterGrace() public {
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        uint96 bond = market.lease(griefLeases[0]).bond;
        assertGt(bond, 0, "each lease locked a bond");
        Books memory b = booksOf(griefer, provider, griefOffer);

        for (uint256 i; i < griefLeases.length; ++i) {
            uint256 leaseId = griefLeases[i];
            vm.expectEmit(address(market));
            emit LeaseEvicted(leaseId, 0, PRICE);
            vm.expectEmit(address(market));
            emit LeaseFinalized(leaseId, MIN_DEPOSIT, bond, 0);
            evict(leaseId);

            Lease memory l = market.lease(leaseId);
            assertEq(uint8(l.status), uint8(LeaseStatus.Finalized), "finalized");
            assertEq(l.bond, 0, "bond released");
            assertEq(l.endsAt, block.timestamp, "ended now");
            assertEq(l.deposit, 0, "no escrow left behind");
        }

        Books memory a = booksOf(griefer, provider, griefOffer);
        uint256 n = griefLeases.length;
        assertEq(a.tenantClaimable, b.tenantClaimable + n * MIN_DEPOSIT, "griefer gets exactly its deposits");
        assertEq(a.stake.staked, b.stake.staked, "no bond paid to the griefer");
        assertEq(a.stake.locked, b.stake.locked - n * bond, "bonds released");
        assertEq(a.providerClaimable, b.providerClaimable, "provider paid nothing");
        assertEq(a.feesOwed, b.feesOwed, "no fee on nothing");
        assertEq(a.marketBalance, b.marketBalance, "nothing left the market");
        assertEq(a.activeLeases, 0, "capacity freed");

        vm.prank(griefer);
        market.claim(address(usdc), griefer);
        assertEq(usdc.balanceOf(griefer), grieferStartBalance, "the griefer is back where it started, no richer");
    }

    /// @notice The freed slot is sold at once, in the eviction's block.
    function test_CapacityFreedImmediatelyByEviction() public {
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        evict(griefLeases[0]);
        uint256 leaseId = openLease(tenant, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        assertEq(market.lease(leaseId).tenant, tenant, "honest tenant served");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY, "full again, with an honest tenant");
    }

    /// @notice At exactly `PAYMENT_GRACE` nothing is overdue yet.
    function test_RevertWhen_EvictBeforeGracePassed() public {
        vm.warp(openedAt + PAYMENT_GRACE);
        Books memory b = booksOf(griefer, provider, griefOffer);
        expectNotInArrears(griefLeases[0], 0, 0);
        evict(griefLeases[0]);
        assertBooks(booksOf(griefer, provider, griefOffer), b, "after the refused eviction");
    }

    /// @notice Any time within the grace, a tenant that paid nothing yet cannot be evicted.
    function testFuzz_RevertWhen_EvictWithinGrace(uint256 elapsed) public {
        elapsed = bound(elapsed, 0, PAYMENT_GRACE);
        vm.warp(openedAt + elapsed);
        expectNotInArrears(griefLeases[1], 0, 0);
        evict(griefLeases[1]);
    }

    // ─── An honest tenant cannot be evicted ─────────────────────────────────────────────────

    /// @notice A tenant that settles its receipts is current: refused, with the settled and due
    /// amounts named.
    function test_RevertWhen_EvictTenantThatSettlesItsReceipts() public {
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        evict(griefLeases[0]); // a slot for the honest tenant
        uint256 leaseId = openLease(tenant, griefOffer, MAX_DURATION, uint256(PRICE) * 1 days);
        uint256 start = block.timestamp;
        skip(2 hours);
        market.settle(signedReceipt(leaseId, accruedNow(leaseId)));
        skip(1 hours);
        Books memory b = books();

        uint256 due = uint256(PRICE) * 2 hours;
        expectNotInArrears(leaseId, due, due);
        evict(leaseId);
        assertBooksUnchanged(b, "after the refused eviction");
        assertEq(market.leaseEnd(leaseId), start + 1 days, "still running to its end");
    }

    /// @notice Whenever a tenant settled all that accrued, it stays current for `PAYMENT_GRACE`.
    function testFuzz_RevertWhen_EvictWithinGraceOfLastSettlement(uint256 settleAfter, uint256 gap) public {
        settleAfter = bound(settleAfter, 1, GRIEF_MIN_DURATION - PAYMENT_GRACE - 1);
        gap = bound(gap, 0, PAYMENT_GRACE);
        uint256 leaseId = griefLeases[2];
        vm.warp(openedAt + settleAfter);
        uint256 amount = accruedNow(leaseId);
        market.settle(signedReceiptBy(grieferKey, griefer, receipt(leaseId, amount)));
        vm.warp(block.timestamp + gap);

        (uint256 due,) =
            LeaseMath.arrears(openedAt, market.leaseEnd(leaseId), PRICE, amount, PAYMENT_GRACE, block.timestamp);
        expectNotInArrears(leaseId, amount, due);
        evict(leaseId);
    }

    // ─── Withheld receipts are forfeit ──────────────────────────────────────────────────────

    /// @notice The provider holds back the tenant's receipt to make it look in arrears, evicts, then
    /// settles the receipt: the escrow is gone to the tenant, the receipt pays nothing
    /// (`EscrowExhausted`).
    function test_EvictingProviderForfeitsWithheldReceipts() public {
        (uint256 leaseId, SignedReceipt memory withheld, uint256 deposit) = honestLeaseWithWithheldReceipt();
        Books memory b = books();
        evict(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable + deposit, "tenant refunded in full");

        SettlementResult[] memory results = market.settleBatch(one(withheld));
        assertEq(uint8(results[0]), uint8(SettlementResult.EscrowExhausted), "the withheld receipt pays nothing");
        assertEq(market.claimable(provider, address(usdc)), b.providerClaimable, "provider earned nothing");
        assertEq(market.lease(leaseId).settled, 0, "nothing settled");
        assertEq(usdc.balanceOf(address(market)), b.marketBalance, "nothing moved");
    }

    /// @notice After the lease's window the withheld receipt is just as worthless
    /// (`SettlementWindowClosed`).
    function test_WithheldReceiptAfterWindowYieldsNothing() public {
        (uint256 leaseId, SignedReceipt memory withheld,) = honestLeaseWithWithheldReceipt();
        evict(leaseId);
        vm.warp(market.settlementDeadline(leaseId));
        uint256 providerClaimable = market.claimable(provider, address(usdc));

        SettlementResult[] memory results = market.settleBatch(one(withheld));
        assertEq(uint8(results[0]), uint8(SettlementResult.SettlementWindowClosed), "window closed");
        assertEq(market.claimable(provider, address(usdc)), providerClaimable, "provider earned nothing");
    }

    /// @dev An honest tenant's lease of the griefed offer (a slot freed by eviction), with a receipt
    /// for two hours of service its provider never settled, an hour and a second later.
    function honestLeaseWithWithheldReceipt()
        internal
        returns (uint256 leaseId, SignedReceipt memory withheld, uint256 deposit)
    {
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        evict(griefLeases[0]);
        deposit = uint256(PRICE) * 1 days;
        leaseId = openLease(tenant, griefOffer, MAX_DURATION, deposit);
        skip(2 hours);
        withheld = signedReceipt(leaseId, accruedNow(leaseId));
        skip(PAYMENT_GRACE + 1);
    }

    // ─── The tricks that do not work ────────────────────────────────────────────────────────

    /// @notice The griefer settles one unit of its own to look like a paying tenant: once the grace
    /// has passed, it is evicted anyway, and the unit is all the provider gets.
    function test_OneUnitSettlementDoesNotPreventEviction() public {
        uint256 leaseId = griefLeases[0];
        skip(1 minutes);
        assertEq(market.settle(signedReceiptBy(grieferKey, griefer, receipt(leaseId, 1))), 1, "one unit settled");
        vm.warp(openedAt + 2 hours);
        Books memory b = booksOf(griefer, provider, griefOffer);

        uint256 due = uint256(PRICE) * (2 hours - PAYMENT_GRACE);
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, 1, due);
        evict(leaseId);

        assertEq(market.claimable(griefer, address(usdc)), b.tenantClaimable + MIN_DEPOSIT - 1, "refund");
        assertEq(market.feesOwed(address(usdc)), b.feesOwed + leaseFee(leaseId, 1), "fee on the one unit");
        assertEq(market.stakeOf(provider, address(usdc)).staked, b.stake.staked, "no bond paid");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY - 1, "slot freed");
    }

    /// @notice An open dispute freezes the lease: no eviction while it is open.
    function test_RevertWhen_EvictWhileDisputeOpen() public {
        uint256 leaseId = griefLeases[0];
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        uint256 deadline = market.dispute(leaseId).deadline;
        Books memory b = booksOf(griefer, provider, griefOffer);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseDisputeOpen.selector, leaseId, deadline));
        evict(leaseId);
        assertBooks(booksOf(griefer, provider, griefOffer), b, "after the refused eviction");
    }

    /// @notice A stalling dispute costs the griefer its dispute bond once rejected, and the eviction
    /// follows.
    function test_EvictAfterStallingDisputeRejected() public {
        uint256 leaseId = griefLeases[0];
        vm.prank(griefer);
        market.openDispute(leaseId, "ipfs://stalling");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 0);
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 grieferClaimable = market.claimable(griefer, address(usdc));

        evict(leaseId);
        assertEq(providerClaimable, tenantBond, "the provider kept the stalling bond");
        assertEq(market.claimable(griefer, address(usdc)), grieferClaimable + MIN_DEPOSIT, "deposit back, bond lost");
        assertEq(market.offer(griefOffer).activeLeases, GRIEF_CAPACITY - 1, "slot freed");
    }

    /// @notice Only the provider evicts: not the tenant, not a stranger, not the arbiter.
    function test_RevertWhen_NonProviderEvicts() public {
        vm.warp(openedAt + PAYMENT_GRACE + 1);
        uint256 leaseId = griefLeases[0];
        address[3] memory callers = [griefer, keeper, arbiter];
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
    /// passes. It can still be evicted then, rather than holding its slot (and the bond) through its
    /// whole settlement window, up to 7 days, and getting its deposit back anyway.
    function test_UnpaidLeaseEndingWithinGraceIsEvicted() public {
        uint256 minDeposit = uint256(PRICE) * MIN_DURATION; // the base offer: 1 hour minimum
        uint256 leaseId = openLease(griefer, offerId, MAX_DURATION, minDeposit);
        uint256 start = block.timestamp;
        vm.warp(start + PAYMENT_GRACE + 1);

        evict(leaseId);
        assertEq(market.offer(offerId).activeLeases, 0, "the unpaid lease's slot is free after the grace");
    }

    /// @notice A dispute no one may rule would stall eviction for free: when the lease's arbiter is
    /// its tenant (governance appointed a market participant, or the admin itself, as arbiter),
    /// `ruleDispute` always reverts, so the dispute could only expire and return its whole bond while
    /// `evictLease` and finalize refuse with `OpenleaseDisputeOpen` for up to 14 days. `openDispute`
    /// refuses it instead; with an arbiter that can rule, a stalling dispute is rejected and costs
    /// the bond (`test_EvictAfterStallingDisputeRejected`).
    function test_DisputeNoOneCanRuleIsRefusedAndEvictionProceeds() public {
        address arbiterTenant = makeAddr("arbiter tenant");
        Params memory p = defaultParams();
        p.arbiter = arbiterTenant;
        applyParams(p);
        mintAndApprove(address(usdc), arbiterTenant, 1_000e6);
        vm.prank(provider);
        market.updateOffer(griefOffer, PRICE, GRIEF_MIN_DURATION, MAX_DURATION, NOTICE, GRIEF_CAPACITY + 1);
        uint256 leaseId = openLease(arbiterTenant, griefOffer, MAX_DURATION, MIN_DEPOSIT);
        uint256 start = block.timestamp;
        vm.expectRevert(abi.encodeWithSelector(OpenleaseArbiterIsParty.selector, leaseId, arbiterTenant));
        vm.prank(arbiterTenant);
        market.openDispute(leaseId, "ipfs://stalling");
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.None), "no dispute");
        vm.warp(start + PAYMENT_GRACE + 1);

        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Finalized), "evicted after the grace");
    }
}
