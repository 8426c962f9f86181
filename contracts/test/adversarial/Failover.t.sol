// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice A tenant leaves a failing provider without a second deposit. The problem: in v1 a tenant
/// whose provider went bad had to give notice, wait out the notice period and the settlement window
/// for its refund, and meanwhile fund a new lease elsewhere: a second deposit, which a tenant that
/// put its budget in the first lease may not have. `failoverLease` gives notice and moves, in the
/// same transaction, the part of the escrow no receipt can ever claim (`deposit - claimableCeiling`)
/// into a new lease of another offer, pulling only what the new lease needs beyond it. The old
/// provider can still settle everything its terms let accrue until the notice ends, and not a unit
/// of the tenant's money is created or lost.
contract Failover_Adversarial_Test is LeaseTermsBase {
    uint32 internal constant DURATION = 10 hours;
    uint256 internal constant DEPOSIT = uint256(PRICE) * DURATION;

    address internal provider2;
    uint256 internal offer2;
    address internal daiProvider = makeAddr("dai provider");
    uint256 internal daiOffer;
    uint256 internal leaseId;
    uint256 internal startedAt;

    function setUp() public override {
        super.setUp();
        (provider2, offer2) = otherProviderOffer("provider2", PRICE);
        registerAndStake(daiProvider, address(dai), 10_000e18);
        daiOffer = publishOffer(daiProvider, address(dai), 1e15);
        leaseId = openLease(tenant, offerId, DURATION, DEPOSIT);
        startedAt = block.timestamp;
    }

    function failover(uint256 offer_, uint32 duration, uint256 extra) internal returns (uint256) {
        bytes32 terms = market.offerTermsHash(offer_);
        vm.prank(tenant);
        return market.failoverLease(leaseId, offer_, duration, extra, terms);
    }

    /// @dev What `failoverLease` keeps in the old lease once it ends at `endsAt`.
    function keptUntil(uint256 endsAt) internal view returns (uint256) {
        Lease memory l = market.lease(leaseId);
        return LeaseMath.claimableCeiling(l.startedAt, endsAt, l.pricePerSecond, l.deposit);
    }

    // ─── One transaction, no second deposit ─────────────────────────────────────────────────

    /// @notice Two hours in, the tenant fails over: the old lease keeps what accrues until the
    /// notice ends (3 hours), the other 7 hours of escrow fund the new lease. The tenant pays
    /// nothing more and no token moves.
    function test_FailoverMovesUnclaimableEscrowInOneTx() public {
        skip(2 hours);
        uint256 end = block.timestamp + NOTICE;
        uint256 kept = keptUntil(end);
        uint256 moved = DEPOSIT - kept;
        assertEq(kept, uint256(PRICE) * 3 hours, "three hours kept");
        Books memory b = books();
        uint256 expectedId = market.leaseCount() + 1;

        vm.expectEmit(address(market));
        emit LeaseFailedOver(leaseId, expectedId, moved, kept);
        uint256 newId = failover(offer2, DURATION, 0);

        assertEq(newId, expectedId, "new lease");
        assertEq(market.lease(leaseId).deposit, kept, "old lease keeps the claimable part");
        assertEq(market.lease(newId).deposit, moved, "new lease funded by the rest");
        assertEq(market.lease(newId).tenant, tenant, "same tenant");
        assertEq(market.lease(newId).offerId, offer2, "new offer");
        assertEq(market.unclaimableEscrow(leaseId), 0, "nothing unclaimable left behind");
        assertEq(usdc.balanceOf(tenant), b.tenantBalance, "no second deposit");
        assertEq(usdc.balanceOf(address(market)), b.marketBalance, "no token moved");
    }

    /// @notice When the moved escrow is short of the new offer's minimum deposit, exactly
    /// `extraDeposit` is pulled.
    function test_FailoverPullsExtraDepositWhenMovedIsShort() public {
        vm.prank(provider2);
        market.updateOffer(offer2, PRICE * 2, 10 hours, MAX_DURATION, NOTICE, CAPACITY);
        skip(2 hours);
        uint256 moved = DEPOSIT - keptUntil(block.timestamp + NOTICE);
        uint256 required = uint256(PRICE) * 2 * 10 hours;
        uint256 extra = required - moved;
        uint256 balance = usdc.balanceOf(tenant);
        uint256 marketBalance = usdc.balanceOf(address(market));

        uint256 newId = failover(offer2, 10 hours, extra);

        assertEq(market.lease(newId).deposit, required, "moved + extra");
        assertEq(usdc.balanceOf(tenant), balance - extra, "pulled exactly the extra");
        assertEq(usdc.balanceOf(address(market)), marketBalance + extra, "market received the extra");
    }

    /// @notice One unit short of the new minimum: refused, and the old lease is untouched (no
    /// notice given).
    function test_RevertWhen_FailoverExtraDepositShort() public {
        vm.prank(provider2);
        market.updateOffer(offer2, PRICE * 2, 10 hours, MAX_DURATION, NOTICE, CAPACITY);
        skip(2 hours);
        uint256 moved = DEPOSIT - keptUntil(block.timestamp + NOTICE);
        uint256 required = uint256(PRICE) * 2 * 10 hours;
        Lease memory before = market.lease(leaseId);
        bytes32 terms = market.offerTermsHash(offer2);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseDepositTooSmall.selector, required - 1, required));
        vm.prank(tenant);
        market.failoverLease(leaseId, offer2, 10 hours, required - moved - 1, terms);
        assertSameLease(market.lease(leaseId), before, "old lease untouched");
    }

    // ─── The old provider keeps what it earned ──────────────────────────────────────────────

    /// @notice After the failover the old provider settles all that accrues until the notice end
    /// (one hour settled before, two after), within the lease's window; its end is unchanged.
    function test_OldProviderStillSettlesEverythingAccrued() public {
        skip(1 hours);
        market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        skip(1 hours);
        uint256 end = block.timestamp + NOTICE;
        failover(offer2, DURATION, 0);
        assertEq(market.leaseEnd(leaseId), end, "ends when the notice does");

        vm.warp(end + 12 hours);
        uint256 earned = uint256(PRICE) * (end - startedAt);
        assertEq(market.settle(signedReceipt(leaseId, earned)), earned - uint256(PRICE) * 1 hours, "the rest");
        assertEq(market.lease(leaseId).settled, earned, "all three hours settled");
        assertEq(market.claimable(provider, address(usdc)), earned - LeaseMath.fee(earned, 100), "provider");
    }

    /// @notice A runway-limited lease (its escrow runs out before notice would end it) keeps its
    /// end; what it gives up is under one second's price, the fraction a receipt could have claimed
    /// past the runway.
    function test_RunwayLimitedLeaseKeepsItsEnd() public {
        uint256 deposit = uint256(PRICE) * 3 hours + 500;
        uint256 short = openLease(tenant, offerId, DURATION, deposit);
        uint256 start = block.timestamp;
        skip(2 hours + 30 minutes);
        uint256 endBefore = market.leaseEnd(short);
        assertEq(endBefore, start + 3 hours, "runway end");
        bytes32 terms = market.offerTermsHash(offer2);
        vm.prank(tenant);
        market.failoverLease(short, offer2, DURATION, uint256(PRICE) * 1 hours, terms);

        // Accrual runs to `endsAt` (now the notice end, past the runway), so every unit of this
        // escrow stays claimable, its last fraction of a second included: nothing moves.
        assertEq(market.leaseEnd(short), endBefore, "same end");
        assertEq(market.lease(short).deposit, deposit, "kept the whole escrow");
        vm.warp(endBefore + 1 hours);
        assertEq(market.settle(signedReceipt(short, deposit)), deposit, "everything it could settle before");
    }

    // ─── When it works ──────────────────────────────────────────────────────────────────────

    /// @notice On a running lease the failover gives notice (`LeaseClosed`).
    function test_FailoverGivesNoticeOnRunningLease() public {
        skip(2 hours);
        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, tenant, block.timestamp + NOTICE);
        failover(offer2, DURATION, 0);
        assertEq(market.lease(leaseId).endsAt, block.timestamp + NOTICE, "ends after the notice");
    }

    /// @notice After notice was given, the failover moves the same and does not extend the lease.
    function test_FailoverAfterNoticeGiven() public {
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 end = block.timestamp + NOTICE;
        skip(30 minutes);
        uint256 kept = keptUntil(end);

        uint256 newId = failover(offer2, DURATION, 0);
        assertEq(market.lease(leaseId).endsAt, end, "end unchanged");
        assertEq(market.lease(leaseId).deposit, kept, "kept");
        assertEq(market.lease(newId).deposit, DEPOSIT - kept, "moved");
    }

    /// @notice After the lease ended (within its window, not finalized): no notice, the overfunded
    /// part moves.
    function test_FailoverAfterLeaseEnded() public {
        uint256 overfunded = openLease(tenant, offerId, DURATION, 2 * DEPOSIT);
        vm.warp(block.timestamp + DURATION + 1 hours);
        bytes32 terms = market.offerTermsHash(offer2);
        uint256 endsAt = market.lease(overfunded).endsAt;
        vm.prank(tenant);
        uint256 newId = market.failoverLease(overfunded, offer2, DURATION, 0, terms);

        assertEq(market.lease(overfunded).endsAt, endsAt, "no notice on an ended lease");
        assertEq(market.lease(overfunded).deposit, DEPOSIT, "kept the ten hours served");
        assertEq(market.lease(newId).deposit, DEPOSIT, "moved the other ten");
    }

    // ─── When it is refused ─────────────────────────────────────────────────────────────────

    /// @notice Only the tenant moves its escrow: not the provider, not a stranger.
    function test_RevertWhen_FailoverByNonTenant() public {
        address[2] memory callers = [provider, keeper];
        bytes32 terms = market.offerTermsHash(offer2);
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(OpenleaseNotTenant.selector, leaseId, callers[i]));
            vm.prank(callers[i]);
            market.failoverLease(leaseId, offer2, DURATION, 0, terms);
        }
    }

    /// @notice A finalized lease has nothing left to move.
    function test_RevertWhen_FailoverFinalizedLease() public {
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        bytes32 terms = market.offerTermsHash(offer2);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseFinalized.selector, leaseId));
        vm.prank(tenant);
        market.failoverLease(leaseId, offer2, DURATION, 0, terms);
    }

    /// @notice USDC escrow cannot fund a DAI lease.
    function test_RevertWhen_FailoverToOfferInAnotherToken() public {
        skip(2 hours);
        Lease memory before = market.lease(leaseId);
        bytes32 terms = market.offerTermsHash(daiOffer);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTokenMismatch.selector, daiOffer, address(dai), address(usdc)));
        vm.prank(tenant);
        market.failoverLease(leaseId, daiOffer, DURATION, 0, terms);
        assertSameLease(market.lease(leaseId), before, "old lease untouched");
    }

    /// @notice The new lease is bound to the terms the tenant read, as `openLease` is.
    function test_RevertWhen_FailoverWithStaleTermsHash() public {
        skip(2 hours);
        bytes32 stale = market.offerTermsHash(offer2);
        vm.prank(provider2);
        market.updateOffer(offer2, PRICE * 3, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        bytes32 current = market.offerTermsHash(offer2);
        Lease memory before = market.lease(leaseId);
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offer2, stale, current));
        vm.prank(tenant);
        market.failoverLease(leaseId, offer2, DURATION, 0, stale);
        assertSameLease(market.lease(leaseId), before, "old lease untouched");
        assertBooksUnchanged(b, "after the refused failover");
    }

    /// @notice Opening a new lease is new business: refused while paused (the tenant can still give
    /// notice).
    function test_RevertWhen_FailoverWhilePaused() public {
        vm.prank(admin);
        market.pause();
        bytes32 terms = market.offerTermsHash(offer2);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.failoverLease(leaseId, offer2, DURATION, 0, terms);
        vm.prank(tenant);
        market.closeLease(leaseId);
    }

    // ─── Conservation ───────────────────────────────────────────────────────────────────────

    /// @notice What the old provider was paid, the old lease's refund and the new lease's deposit
    /// add up to the original deposit, to the unit.
    function test_FailoverConservesTheTenantsMoney() public {
        skip(2 hours);
        uint256 newId = failover(offer2, DURATION, 0);
        // The old provider settles two of the three hours it may claim.
        uint256 paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 2 hours));
        vm.warp(market.settlementDeadline(leaseId));
        uint256 claimableBefore = market.claimable(tenant, address(usdc));
        market.finalizeLease(leaseId);
        uint256 refund = market.claimable(tenant, address(usdc)) - claimableBefore;

        assertEq(refund, uint256(PRICE) * 1 hours, "the unsettled hour comes back");
        assertEq(paid + refund + market.lease(newId).deposit, DEPOSIT, "paid + refund + moved == deposit");
    }

    function testFuzz_FailoverConservesTheTenantsMoney(uint256 elapsed, uint256 settleSeed, uint256 extra) public {
        elapsed = bound(elapsed, 0, DURATION + 1 days - 1);
        vm.warp(startedAt + elapsed);
        // Notice (if running) ends the lease an hour from now, never later than it would end anyway.
        uint256 end = startedAt + DURATION;
        if (block.timestamp < end && block.timestamp + NOTICE < end) end = block.timestamp + NOTICE;
        if (end < startedAt + MIN_DURATION) end = startedAt + MIN_DURATION;
        uint256 moved = DEPOSIT - keptUntil(end);
        uint256 required = uint256(PRICE) * MIN_DURATION;
        extra = bound(extra, required > moved ? required - moved : 0, DEPOSIT);
        uint256 newId = failover(offer2, DURATION, extra);
        uint256 accrued = LeaseMath.accrued(startedAt, market.lease(leaseId).endsAt, PRICE, type(uint256).max);
        uint256 paid;
        uint256 amount = bound(settleSeed, 0, accrued);
        if (amount > 0 && block.timestamp < market.settlementDeadline(leaseId)) {
            vm.warp(market.settlementDeadline(leaseId) - 1);
            paid = market.settle(signedReceipt(leaseId, amount));
        }
        vm.warp(market.settlementDeadline(leaseId));
        uint256 claimableBefore = market.claimable(tenant, address(usdc));
        market.finalizeLease(leaseId);
        uint256 refund = market.claimable(tenant, address(usdc)) - claimableBefore;

        assertEq(market.lease(newId).deposit, moved + extra, "new deposit == moved + extra");
        assertEq(paid + refund + market.lease(newId).deposit, DEPOSIT + extra, "paid + refund + new deposit");
    }
}
