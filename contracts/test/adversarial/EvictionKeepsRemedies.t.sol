// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Eviction never shortens remedies. The attack (v2): eviction finalized the lease at once,
/// releasing its bond: a provider caught equivocating, or facing an SLA dispute, demanded nothing and evicted
/// a tenant that looked in arrears, and the bond that answered for the lease was free (and could be
/// unstaked) before the evidence was submitted or the dispute opened. Here an evicted lease is `Evicted`,
/// not finalized: its capacity is freed at once, but its bond stays locked and its tenant may dispute, and
/// anyone may submit equivocation evidence, until the settlement deadline the lease had before the eviction
/// (`remediesDeadline`). Only then can it be finalized, once: the bond is released once and the capacity
/// the eviction freed is not freed again.
contract EvictionKeepsRemedies_Adversarial_Test is LeaseTermsBase {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;

    uint256 internal leaseId;
    uint96 internal bond;
    AnswerAttestation internal a;
    bytes internal sigA;
    AnswerAttestation internal b;
    bytes internal sigB;
    uint256 internal remediesUntil;

    /// @dev A 10-hour lease; after an hour the provider signs two conflicting attestations (equivocates);
    /// the tenant pays nothing, the provider demands payment at two hours and evicts at three.
    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        bond = market.lease(leaseId).bond;
        skip(1 hours);
        (a, sigA) = attestation(leaseId, 3, keccak256("usage: 3600 GPU-seconds"));
        (b, sigB) = attestation(leaseId, 3, keccak256("usage: 60 GPU-seconds"));
        skip(1 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(Bounds.PAYMENT_GRACE);
        remediesUntil = market.settlementDeadline(leaseId);
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    function test_EvictedLeaseKeepsItsBondAndRemediesDeadline() public view {
        Lease memory l = market.lease(leaseId);
        assertEq(uint8(l.status), uint8(LeaseStatus.Evicted), "evicted, not finalized");
        assertEq(l.bond, bond, "bond kept");
        assertEq(market.stakeOf(provider, address(usdc)).locked, bond, "still locked");
        assertEq(market.remediesDeadline(leaseId), remediesUntil, "the deadline it had before the eviction");
        assertLt(market.settlementDeadline(leaseId), remediesUntil, "later than its new settlement deadline");
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed at once");
    }

    /// @notice The evicting provider cannot unstake the bond the evicted lease still answers for.
    function test_RevertWhen_ProviderUnstakesTheEvictedLeasesBond() public {
        Stake memory s = market.stakeOf(provider, address(usdc));
        uint256 free = s.staked - s.locked;
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, provider, address(usdc), free, free + 1)
        );
        vm.prank(provider);
        market.requestUnstake(address(usdc), free + 1);
    }

    /// @notice The equivocation evidence slashes the whole bond after the eviction, even past the evicted
    /// lease's own settlement window, until the remedies deadline.
    function test_EquivocationSlashesAfterEviction() public {
        vm.warp(remediesUntil - 1);
        Books memory before = books();
        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, bond * 1_000 / BPS);
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        assertEq(market.lease(leaseId).bond, 0, "bond slashed");
        assertEq(market.stakeOf(provider, address(usdc)).staked, before.stake.staked - bond, "out of the stake");
        assertEq(
            market.claimable(tenant, address(usdc)),
            before.tenantClaimable + bond - bond * 1_000 / BPS,
            "the tenant compensated"
        );
    }

    /// @notice The tenant disputes after the eviction (past its new settlement deadline) and the lease's
    /// arbiter upholds the dispute: the bond pays.
    function test_TenantDisputesAfterEvictionUntilTheRemediesDeadline() public {
        vm.warp(market.settlementDeadline(leaseId) + 1 hours);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach");
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 5_000);
        assertEq(market.lease(leaseId).bond, bond - bond / 2, "half the bond slashed");

        // One dispute per lease, evicted or not.
        vm.warp(remediesUntil - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseDisputeExists.selector, leaseId, DisputeStatus.Upheld));
        vm.prank(tenant);
        market.openDispute(leaseId, "again");
    }

    function test_RevertWhen_DisputeAtTheRemediesDeadline() public {
        vm.warp(remediesUntil);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseDisputeWindowClosed.selector, leaseId, remediesUntil));
        vm.prank(tenant);
        market.openDispute(leaseId, "too late");
    }

    /// @notice Finalizing before the remedies deadline is refused (even past the evicted lease's own
    /// settlement deadline); at it, the lease finalizes: the bond is released exactly once, the escrow
    /// refunded, and the capacity (already freed, and taken again by a new lease) is not freed twice.
    function test_FinalizeOnlyAtTheRemediesDeadlineAndOnlyOnce() public {
        uint256 next = openDefaultLease(); // the freed slot, taken again
        assertEq(market.offer(offerId).activeLeases, 1, "one open lease");
        uint96 nextBond = market.lease(next).bond;

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementWindowOpen.selector, leaseId, remediesUntil));
        market.finalizeLease(leaseId);
        vm.warp(remediesUntil - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementWindowOpen.selector, leaseId, remediesUntil));
        market.finalizeLease(leaseId);

        vm.warp(remediesUntil);
        Lease memory l = market.lease(leaseId);
        Books memory before = books();
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, l.deposit - l.settled, bond, leaseFee(leaseId, l.settled));
        vm.prank(keeper);
        market.finalizeLease(leaseId);
        assertEq(market.stakeOf(provider, address(usdc)).locked, before.stake.locked - bond, "released once");
        assertEq(market.stakeOf(provider, address(usdc)).locked, nextBond, "only the new lease's bond locked");
        assertEq(market.offer(offerId).activeLeases, 1, "the new lease still counts: not freed twice");
        assertEq(market.claimable(tenant, address(usdc)), before.tenantClaimable + l.deposit - l.settled, "refund");

        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseFinalized.selector, leaseId));
        market.finalizeLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseLeaseFinalized.selector, leaseId));
        market.slashEquivocation(a, sigA, b, sigB);
        assertEq(market.stakeOf(provider, address(usdc)).locked, nextBond, "still released once");
    }

    /// @notice A dispute opened before the remedies deadline holds the finalize until it is resolved.
    function test_RevertWhen_FinalizeWhileTheTenantsDisputeIsOpen() public {
        vm.warp(remediesUntil - 1);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://sla-breach");
        uint256 disputeDeadline = market.dispute(leaseId).deadline;
        vm.warp(remediesUntil);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseDisputeOpen.selector, leaseId, disputeDeadline));
        market.finalizeLease(leaseId);
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 2_000);
        market.finalizeLease(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Finalized), "finalized after the ruling");
    }

    /// @notice The provider may still settle receipts for the service until the eviction within the
    /// settlement window; nothing after the eviction accrues.
    function test_ProviderSettlesServiceUntilTheEviction() public {
        Lease memory l = market.lease(leaseId);
        uint256 accruedAtEviction = uint256(l.endsAt - l.startedAt) * PRICE;
        skip(2 hours);
        uint256 paid = market.settle(signedReceiptBy(tenantKey, tenant, receipt(leaseId, 10 * HOUR)));
        assertEq(paid, accruedAtEviction - l.settled, "the service until the eviction, beyond the hold charge");
        assertEq(market.lease(leaseId).settled, accruedAtEviction, "all of it, no more");
    }
}
