// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";

/// @notice Shared fixture for slashing and disputes: the default lease opened at `t0`, its bond, the
/// dispute bond the tenant would post, and snapshots of everything a dispute or a slash touches.
abstract contract DisputesTest is BaseTest {
    string internal constant EVIDENCE = "ipfs://evidence/uptime-report";
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;

    uint256 internal leaseId;
    uint256 internal t0;
    uint256 internal bond;
    uint256 internal tenantBond;

    struct Snapshot {
        Lease lease;
        Dispute dispute;
        Stake stake;
        uint256 activeLeases;
        uint256 tenantClaimable;
        uint256 providerClaimable;
        uint256 fees;
        uint256 tenantBalance;
        uint256 marketBalance;
    }

    function setUp() public virtual override {
        super.setUp();
        t0 = block.timestamp;
        leaseId = openDefaultLease();
        bond = market.lease(leaseId).bond;
        assertGt(bond, 0, "the lease has a bond");
        tenantBond = bond * market.params().disputeBondBps / 10_000;
        assertGt(tenantBond, 0, "the dispute needs a bond");
    }

    function snap(uint256 id) internal view returns (Snapshot memory s) {
        s.lease = market.lease(id);
        s.dispute = market.dispute(id);
        s.stake = market.stakeOf(provider, address(usdc));
        s.activeLeases = market.offer(offerId).activeLeases;
        s.tenantClaimable = market.claimable(tenant, address(usdc));
        s.providerClaimable = market.claimable(provider, address(usdc));
        s.fees = market.feesOwed(address(usdc));
        s.tenantBalance = usdc.balanceOf(tenant);
        s.marketBalance = usdc.balanceOf(address(market));
    }

    function cutOf(uint256 amount) internal view returns (uint256) {
        return amount * market.params().slashCutBps / 10_000;
    }

    function openDispute(uint256 id) internal {
        vm.prank(tenant);
        market.openDispute(id, EVIDENCE);
    }

    function rule(uint256 id, uint16 slashBps) internal {
        vm.prank(arbiter);
        market.ruleDispute(id, slashBps);
    }

    /// @dev `amount` of the lease's bond left the provider's stake for the tenant (less the cut) and
    /// the protocol (the cut); `tenantExtra` more went to the tenant's claimable balance.
    function assertSlashed(Snapshot memory before, Snapshot memory afterwards, uint256 amount, uint256 tenantExtra)
        internal
        view
    {
        uint256 cut = cutOf(amount);
        assertEq(afterwards.lease.bond, before.lease.bond - amount, "lease bond");
        assertEq(afterwards.stake.staked, before.stake.staked - amount, "staked");
        assertEq(afterwards.stake.locked, before.stake.locked - amount, "locked");
        assertEq(afterwards.stake.thawing, before.stake.thawing, "thawing");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + amount - cut + tenantExtra, "tenant claimable");
        assertEq(afterwards.fees, before.fees + cut, "fees");
        assertEq(afterwards.marketBalance, before.marketBalance, "market balance");
        assertEq(afterwards.tenantBalance, before.tenantBalance, "tenant balance");
        assertEq(afterwards.activeLeases, before.activeLeases, "active leases");
    }

    function assertFieldsEqualExceptBondAndEnd(Lease memory a, Lease memory b) internal pure {
        a.bond = b.bond;
        a.endsAt = b.endsAt;
        assertEq(abi.encode(a), abi.encode(b), "lease");
    }
}

/// @notice Unit tests of `openDispute`, and of a dispute blocking `finalizeLease` while open.
contract OpenDispute_Test is DisputesTest {
    function test_OpenDispute() public {
        Snapshot memory before = snap(leaseId);
        uint256 deadline = block.timestamp + market.params().disputePeriod;

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeOpened(leaseId, tenant, tenantBond, deadline, EVIDENCE);
        openDispute(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        assertEq(
            abi.encode(afterwards.dispute),
            abi.encode(
                Dispute({tenantBond: uint96(tenantBond), deadline: uint32(deadline), status: DisputeStatus.Open})
            ),
            "dispute"
        );
        assertEq(afterwards.tenantBalance, before.tenantBalance - tenantBond, "tenant paid the bond");
        assertEq(afterwards.marketBalance, before.marketBalance + tenantBond, "market holds the bond");
        assertEq(abi.encode(afterwards.lease), abi.encode(before.lease), "lease");
        assertEq(abi.encode(afterwards.stake), abi.encode(before.stake), "stake");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable, "tenant claimable");
        assertEq(afterwards.providerClaimable, before.providerClaimable, "provider claimable");
        assertEq(afterwards.fees, before.fees, "fees");
    }

    function test_OpenDispute_InSettlementWindow() public {
        vm.warp(market.settlementDeadline(leaseId) - 1); // the lease ended; its window is open
        assertGt(block.timestamp, market.leaseEnd(leaseId));
        uint256 deadline = block.timestamp + market.params().disputePeriod;

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeOpened(leaseId, tenant, tenantBond, deadline, EVIDENCE);
        openDispute(leaseId);
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.Open));
    }

    function test_OpenDispute_EmptyEvidence() public {
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeOpened(
            leaseId, tenant, tenantBond, block.timestamp + market.params().disputePeriod, ""
        );
        vm.prank(tenant);
        market.openDispute(leaseId, "");
    }

    function test_OpenDispute_SettlementContinues() public {
        openDispute(leaseId);
        skip(1 hours);
        assertEq(market.settle(signedReceipt(leaseId, HOUR)), HOUR, "receipts still settle");
    }

    function test_RevertWhen_OpenDispute_UnknownLease() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownLease.selector, leaseId + 1));
        openDispute(leaseId + 1);
    }

    function test_RevertWhen_OpenDispute_LeaseFinalized() public {
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        openDispute(leaseId);
    }

    function test_RevertWhen_OpenDispute_NotTenant() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotTenant.selector, leaseId, provider));
        vm.prank(provider);
        market.openDispute(leaseId, EVIDENCE);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotTenant.selector, leaseId, signer));
        vm.prank(signer);
        market.openDispute(leaseId, EVIDENCE);
    }

    function test_RevertWhen_OpenDispute_AfterSettlementDeadline() public {
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.warp(deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeWindowClosed.selector, leaseId, deadline)
        );
        openDispute(leaseId);
    }

    /// @dev Eviction never shortens the tenant's remedies: an evicted lease can be disputed until the
    /// settlement deadline it had before the eviction, after its new (earlier) settlement deadline.
    function test_OpenDispute_AfterEviction_UntilTheDeadlineItHad() public {
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        uint256 remediesUntil = market.settlementDeadline(leaseId);
        vm.prank(provider);
        market.evictLease(leaseId);
        assertEq(market.remediesDeadline(leaseId), remediesUntil, "remedies deadline");
        vm.warp(market.settlementDeadline(leaseId)); // settlement is over for the evicted lease
        assertLt(block.timestamp, remediesUntil);

        uint256 deadline = block.timestamp + market.params().disputePeriod;
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeOpened(leaseId, tenant, tenantBond, deadline, EVIDENCE);
        openDispute(leaseId);
        rule(leaseId, 5_000);
        assertEq(market.lease(leaseId).bond, bond - bond / 2, "the evicted lease's bond was slashed");
    }

    function test_RevertWhen_OpenDispute_AfterEviction_RemediesDeadline() public {
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        uint256 remediesUntil = market.remediesDeadline(leaseId);
        vm.warp(remediesUntil);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeWindowClosed.selector, leaseId, remediesUntil)
        );
        openDispute(leaseId);
    }

    function test_RevertWhen_OpenDispute_DisputeOpen() public {
        openDispute(leaseId);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeExists.selector, leaseId, DisputeStatus.Open)
        );
        openDispute(leaseId);
    }

    function test_RevertWhen_OpenDispute_DisputeUpheld() public {
        openDispute(leaseId);
        rule(leaseId, 1_000);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeExists.selector, leaseId, DisputeStatus.Upheld)
        );
        openDispute(leaseId);
    }

    function test_RevertWhen_OpenDispute_DisputeRejected() public {
        openDispute(leaseId);
        rule(leaseId, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeExists.selector, leaseId, DisputeStatus.Rejected)
        );
        openDispute(leaseId);
    }

    function test_RevertWhen_OpenDispute_DisputeExpired() public {
        // A lease long enough to still be running when the dispute expires.
        uint256 id = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        openDispute(id);
        vm.warp(market.dispute(id).deadline);
        market.expireDispute(id);
        assertLt(block.timestamp, market.settlementDeadline(id));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeExists.selector, id, DisputeStatus.Expired)
        );
        openDispute(id);
    }

    function test_RevertWhen_OpenDispute_NothingToSlash() public {
        vm.prank(provider);
        market.terminateLease(leaseId); // slashes the whole bond
        assertEq(market.lease(leaseId).bond, 0);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToSlash.selector, leaseId));
        openDispute(leaseId);
    }

    /// @dev A lease whose version's arbiter is its tenant: nobody could rule a dispute of it (an arbiter
    /// never rules a dispute it is a party to), so it would only freeze the bond and stall eviction and
    /// finalize until it expired. Refused at opening: no bond pulled, no dispute recorded, nothing moved,
    /// and the provider can still evict the unpaid lease.
    function test_RevertWhen_OpenDispute_ArbiterIsTheTenant() public {
        Params memory p = defaultParams();
        p.arbiter = tenant;
        applyAndAcceptParams(p);
        uint256 id = openDefaultLease();
        assertEq(market.leaseParams(id).arbiter, tenant, "the tenant is the lease's arbiter");
        Snapshot memory before = snap(id);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, id, tenant));
        openDispute(id);

        assertEq(abi.encode(snap(id)), abi.encode(before), "nothing moved, no dispute recorded");
        assertEq(uint8(before.dispute.status), uint8(DisputeStatus.None), "no dispute");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, id));
        vm.prank(tenant);
        market.ruleDispute(id, 5_000);

        // Nothing stalls the eviction of the unpaid lease.
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(id);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(id);
        assertEq(uint8(market.lease(id).status), uint8(LeaseStatus.Evicted), "evicted");
    }

    /// @dev A lease whose version's arbiter is its provider: the arbiter could only reject a dispute
    /// against itself and pocket the tenant's bond, which `ruleDispute` refuses, so the dispute would
    /// only stall finalize. Refused at opening: the tenant's bond is never pulled, nothing moved, and
    /// the lease finalizes at its deadline.
    function test_RevertWhen_OpenDispute_ArbiterIsTheProvider() public {
        Params memory p = defaultParams();
        p.arbiter = provider;
        applyAndAcceptParams(p);
        uint256 id = openDefaultLease();
        assertEq(market.leaseParams(id).arbiter, provider, "the provider is the lease's arbiter");
        skip(1 hours);
        Snapshot memory before = snap(id);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, id, provider));
        openDispute(id);

        assertEq(abi.encode(snap(id)), abi.encode(before), "nothing moved, no dispute recorded");
        assertEq(uint8(before.dispute.status), uint8(DisputeStatus.None), "no dispute");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, id));
        vm.prank(provider);
        market.ruleDispute(id, 0);

        // Nothing stalls finalize: the whole deposit back, the bond released.
        vm.warp(market.settlementDeadline(id));
        vm.prank(keeper);
        market.finalizeLease(id);
        assertEq(market.claimable(tenant, address(usdc)), before.tenantClaimable + market.lease(id).deposit, "refund");
        assertEq(market.stakeOf(provider, address(usdc)).locked, before.stake.locked - before.lease.bond, "bond");
    }

    /// @dev The arbiter that counts is the lease's own version's: a lease opened while the tenant was
    /// the arbiter stays undisputable after governance appoints a third party for new leases.
    function test_RevertWhen_OpenDispute_ArbiterIsThePartyOfTheLeaseVersion() public {
        Params memory p = defaultParams();
        p.arbiter = tenant;
        applyAndAcceptParams(p);
        uint256 id = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        applyAndAcceptParams(defaultParams());
        assertEq(market.params().arbiter, arbiter, "a third party rules new leases");
        Snapshot memory before = snap(id);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, id, tenant));
        openDispute(id);
        assertEq(abi.encode(snap(id)), abi.encode(before), "nothing moved, no dispute recorded");
    }

    /// @dev Conversely, a lease opened under a third-party arbiter stays disputable, and ruled by that
    /// arbiter alone, after governance appoints the tenant for new leases.
    function test_OpenDispute_LeaseOpenedBeforeThePartyBecameArbiter() public {
        uint256 id = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        Params memory p = defaultParams();
        p.arbiter = tenant;
        applyAndAcceptParams(p);
        assertEq(market.params().arbiter, tenant, "the tenant rules new leases");
        assertEq(market.leaseParams(id).arbiter, arbiter, "not this one");

        openDispute(id);
        assertEq(uint8(market.dispute(id).status), uint8(DisputeStatus.Open), "disputed");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, id, tenant, arbiter));
        vm.prank(tenant);
        market.ruleDispute(id, 5_000);
        rule(id, 1_000);
        assertEq(uint8(market.dispute(id).status), uint8(DisputeStatus.Upheld), "its own arbiter ruled");
    }

    function test_RevertWhen_OpenDispute_NoAllowance() public {
        vm.prank(tenant);
        usdc.approve(address(market), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, tenantBond)
        );
        openDispute(leaseId);
    }

    function test_RevertWhen_FinalizeLease_DisputeOpen() public {
        openDispute(leaseId);
        uint256 disputeDeadline = market.dispute(leaseId).deadline;
        vm.warp(market.settlementDeadline(leaseId));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeOpen.selector, leaseId, disputeDeadline)
        );
        market.finalizeLease(leaseId);

        // Still blocked after the dispute's deadline, until someone expires it.
        vm.warp(disputeDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeOpen.selector, leaseId, disputeDeadline)
        );
        market.finalizeLease(leaseId);
    }
}

/// @notice Unit tests of `ruleDispute`: access, deadline and bound checks, upheld and rejected
/// rulings, and finalizing the lease afterwards.
contract RuleDispute_Test is DisputesTest {
    uint256 internal disputeDeadline;

    function setUp() public override {
        super.setUp();
        openDispute(leaseId);
        disputeDeadline = market.dispute(leaseId).deadline;
    }

    function test_RevertWhen_RuleDispute_NotArbiter() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, leaseId, tenant, arbiter));
        vm.prank(tenant);
        market.ruleDispute(leaseId, 1_000);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, leaseId, admin, arbiter));
        vm.prank(admin);
        market.ruleDispute(leaseId, 1_000);
    }

    /// @dev `Openlease`'s storage slot of `_paramsVersions` (`forge inspect Openlease storageLayout`); a
    /// `Params` fills one slot up to `unbondingPeriod` and puts `arbiter` alone in the next.
    uint256 internal constant PARAMS_VERSIONS_SLOT = 6;

    /// @dev Writes `who` as the arbiter of the lease's params version, straight into storage: no call can
    /// (a version in force is never rewritten), so this is how `ruleDispute`'s own check stays covered.
    function forceLeaseArbiter(uint256 id, address who) internal {
        uint256 version = market.lease(id).paramsVersion;
        bytes32 slot = bytes32(uint256(keccak256(abi.encode(version, PARAMS_VERSIONS_SLOT))) + 1);
        assertEq(address(uint160(uint256(vm.load(address(market), slot)))), arbiter, "storage layout");
        vm.store(address(market), slot, bytes32(uint256(uint160(who))));
        assertEq(market.leaseParams(id).arbiter, who, "forced arbiter");
    }

    /// @dev `ruleDispute` keeps refusing an arbiter that is the lease's tenant. Unreachable by calls since
    /// `openDispute` refuses such a lease (`test_RevertWhen_OpenDispute_ArbiterIsTheTenant`) and no
    /// schedule changes an open lease's arbiter (`test_RevertWhen_RuleDispute_NewVersionMakesTheTenantArbiter`):
    /// the open dispute's arbiter is forced to the tenant in storage.
    function test_RevertWhen_RuleDispute_ArbiterIsTheTenant() public {
        forceLeaseArbiter(leaseId, tenant);
        Snapshot memory before = snap(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, leaseId, tenant));
        vm.prank(tenant);
        market.ruleDispute(leaseId, 5_000);
        assertEq(abi.encode(snap(leaseId)), abi.encode(before), "nothing moved, still open");
    }

    /// @dev Likewise for an arbiter that is the lease's provider (forced in storage): it may not reject a
    /// dispute against itself and pocket the tenant's bond; unruled, the dispute expires and the tenant
    /// gets its bond back.
    function test_RevertWhen_RuleDispute_ArbiterIsTheProvider() public {
        forceLeaseArbiter(leaseId, provider);
        Snapshot memory before = snap(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, leaseId, provider));
        vm.prank(provider);
        market.ruleDispute(leaseId, 0);
        assertEq(abi.encode(snap(leaseId)), abi.encode(before), "nothing moved, still open");

        vm.warp(disputeDeadline);
        market.expireDispute(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), before.tenantClaimable + tenantBond, "bond returned");
        assertEq(market.claimable(provider, address(usdc)), before.providerClaimable, "the provider got nothing");
    }

    /// @dev Governance appointing the tenant as arbiter after the dispute opened does not reach the
    /// lease: the tenant is refused as not the lease's arbiter, which still rules.
    function test_RevertWhen_RuleDispute_NewVersionMakesTheTenantArbiter() public {
        uint256 id = openLease(tenant, offerId, 10 days, uint256(PRICE) * 10 days);
        Params memory p = defaultParams();
        p.arbiter = tenant;
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        vm.warp(effectiveAt - 2 days); // the dispute (3 days) outlasts the delay
        openDispute(id);
        vm.warp(effectiveAt);
        assertEq(market.params().arbiter, tenant, "the tenant rules new leases");
        assertLt(block.timestamp, market.dispute(id).deadline, "the dispute is still open to a ruling");

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, id, tenant, arbiter));
        vm.prank(tenant);
        market.ruleDispute(id, 5_000);
        rule(id, 0);
        assertEq(uint8(market.dispute(id).status), uint8(DisputeStatus.Rejected), "its own arbiter ruled");
    }

    function test_RevertWhen_RuleDispute_NoDispute() public {
        uint256 other = openDefaultLease();
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, other));
        rule(other, 1_000);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, 999));
        rule(999, 1_000);
    }

    function test_RevertWhen_RuleDispute_AlreadyRuled() public {
        rule(leaseId, 0);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, leaseId));
        rule(leaseId, 1_000);
    }

    function test_RevertWhen_RuleDispute_Expired() public {
        vm.warp(disputeDeadline);
        market.expireDispute(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, leaseId));
        rule(leaseId, 1_000);
    }

    function test_RevertWhen_RuleDispute_DeadlinePassed() public {
        vm.warp(disputeDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeDeadlinePassed.selector, leaseId, disputeDeadline)
        );
        rule(leaseId, 1_000);
    }

    function test_RevertWhen_RuleDispute_SlashTooLarge() public {
        uint16 max = market.params().maxDisputeSlashBps;
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSlashTooLarge.selector, max + 1, max));
        rule(leaseId, max + 1);

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSlashTooLarge.selector, 10_000, max));
        rule(leaseId, 10_000);
    }

    function test_RuleDispute_Upheld() public {
        _ruleUpheld(2_500);
    }

    function test_RuleDispute_UpheldAtMax() public {
        _ruleUpheld(market.params().maxDisputeSlashBps);
    }

    function test_RuleDispute_UpheldLastSecond() public {
        vm.warp(disputeDeadline - 1);
        _ruleUpheld(1_000);
    }

    function testFuzz_RuleDispute_Upheld(uint16 slashBps) public {
        _ruleUpheld(uint16(bound(slashBps, 1, market.params().maxDisputeSlashBps)));
    }

    function _ruleUpheld(uint16 slashBps) internal {
        uint256 amount = bond * slashBps / 10_000;
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeRuled(leaseId, arbiter, slashBps, true);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Dispute, amount, cutOf(amount));
        rule(leaseId, slashBps);

        Snapshot memory afterwards = snap(leaseId);
        assertSlashed(before, afterwards, amount, tenantBond);
        assertEq(afterwards.providerClaimable, before.providerClaimable, "provider claimable");
        Dispute memory expected = before.dispute;
        expected.status = DisputeStatus.Upheld;
        assertEq(abi.encode(afterwards.dispute), abi.encode(expected), "dispute");
        Lease memory expectedLease = before.lease;
        expectedLease.bond -= uint96(amount);
        assertEq(abi.encode(afterwards.lease), abi.encode(expectedLease), "lease");
    }

    function test_RuleDispute_Rejected() public {
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeRuled(leaseId, arbiter, 0, false);
        vm.recordLogs();
        rule(leaseId, 0);
        assertEq(vm.getRecordedLogs().length, 1, "no slash");

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.providerClaimable, before.providerClaimable + tenantBond, "provider gets the bond");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable, "tenant claimable");
        Dispute memory expected = before.dispute;
        expected.status = DisputeStatus.Rejected;
        assertEq(abi.encode(afterwards.dispute), abi.encode(expected), "dispute");
        assertEq(abi.encode(afterwards.lease), abi.encode(before.lease), "lease");
        assertEq(abi.encode(afterwards.stake), abi.encode(before.stake), "stake");
        assertEq(afterwards.fees, before.fees, "fees");
        assertEq(afterwards.marketBalance, before.marketBalance, "market balance");
    }

    function test_RuleDispute_Upheld_ThenFinalize() public {
        uint16 slashBps = 2_500;
        uint256 amount = bond * slashBps / 10_000;
        rule(leaseId, slashBps);
        skip(1 hours);
        market.settle(signedReceipt(leaseId, HOUR));
        vm.warp(market.settlementDeadline(leaseId));
        Snapshot memory before = snap(leaseId);
        uint256 refund = before.lease.deposit - before.lease.settled;

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseFinalized(
            leaseId, refund, bond - amount, HOUR * defaultParams().protocolFeeBps / 10_000
        );
        market.finalizeLease(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.stake.locked, before.stake.locked - (bond - amount), "rest of the bond released");
        assertEq(afterwards.stake.staked, before.stake.staked, "staked");
        assertEq(afterwards.lease.bond, 0, "lease bond");
        assertEq(uint8(afterwards.lease.status), uint8(LeaseStatus.Finalized), "status");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + refund, "refund");
        assertEq(afterwards.activeLeases, before.activeLeases - 1, "active leases");
    }

    function test_RuleDispute_Rejected_ThenFinalize() public {
        rule(leaseId, 0);
        vm.warp(market.settlementDeadline(leaseId));
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseFinalized(leaseId, before.lease.deposit, bond, 0);
        market.finalizeLease(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.stake.locked, before.stake.locked - bond, "whole bond released");
        assertEq(afterwards.stake.staked, before.stake.staked, "staked");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + before.lease.deposit, "refund");
    }

    function test_RuleDispute_Upheld_BondAlreadySlashed() public {
        // Equivocation took the whole bond while the dispute was open: the tenant still gets its
        // dispute bond back, and there is nothing left to slash.
        (AnswerAttestation memory a, bytes memory sa) = attestation(leaseId, 1, keccak256("a"));
        (AnswerAttestation memory b, bytes memory sb) = attestation(leaseId, 1, keccak256("b"));
        market.slashEquivocation(a, sa, b, sb);
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeRuled(leaseId, arbiter, 1_000, true);
        vm.recordLogs();
        rule(leaseId, 1_000);
        assertEq(vm.getRecordedLogs().length, 1, "no slash");

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + tenantBond, "dispute bond returned");
        assertEq(abi.encode(afterwards.stake), abi.encode(before.stake), "stake");
        assertEq(uint8(afterwards.dispute.status), uint8(DisputeStatus.Upheld), "status");
    }
}

/// @notice Unit tests of `expireDispute`: only an open dispute past its deadline, the tenant's bond
/// returned, and the lease finalizable again.
contract ExpireDispute_Test is DisputesTest {
    uint256 internal disputeDeadline;

    function setUp() public override {
        super.setUp();
        openDispute(leaseId);
        disputeDeadline = market.dispute(leaseId).deadline;
    }

    function test_RevertWhen_ExpireDispute_NoDispute() public {
        uint256 other = openDefaultLease();
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, other));
        market.expireDispute(other);
    }

    function test_RevertWhen_ExpireDispute_BeforeDeadline() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDisputeDeadlineNotReached.selector, leaseId, disputeDeadline
            )
        );
        market.expireDispute(leaseId);

        vm.warp(disputeDeadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDisputeDeadlineNotReached.selector, leaseId, disputeDeadline
            )
        );
        market.expireDispute(leaseId);
    }

    function test_RevertWhen_ExpireDispute_Ruled() public {
        rule(leaseId, 0);
        vm.warp(disputeDeadline);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, leaseId));
        market.expireDispute(leaseId);
    }

    function test_RevertWhen_ExpireDispute_Twice() public {
        vm.warp(disputeDeadline);
        market.expireDispute(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoOpenDispute.selector, leaseId));
        market.expireDispute(leaseId);
    }

    function test_ExpireDispute() public {
        vm.warp(disputeDeadline);
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeExpired(leaseId, false);
        vm.prank(keeper); // anyone may call
        market.expireDispute(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        Dispute memory expected = before.dispute;
        expected.status = DisputeStatus.Expired;
        assertEq(abi.encode(afterwards.dispute), abi.encode(expected), "dispute");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + tenantBond, "bond returned");
        assertEq(afterwards.providerClaimable, before.providerClaimable, "provider claimable");
        assertEq(abi.encode(afterwards.lease), abi.encode(before.lease), "lease");
        assertEq(abi.encode(afterwards.stake), abi.encode(before.stake), "stake");
        assertEq(afterwards.fees, before.fees, "fees");
        assertEq(afterwards.marketBalance, before.marketBalance, "market balance");
    }

    /// @dev A tenant that disputes while a payment demand stands unanswered gains nothing by stalling: the
    /// expired dispute's bond goes to the provider.
    function test_ExpireDispute_TenantInArrears_BondToProvider() public {
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        vm.warp(disputeDeadline);
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeExpired(leaseId, true);
        market.expireDispute(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.providerClaimable, before.providerClaimable + tenantBond, "bond to the provider");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable, "tenant gets nothing back");
        assertEq(uint8(afterwards.dispute.status), uint8(DisputeStatus.Expired));
    }

    /// @dev An evicted tenant is in arrears: its expired dispute's bond goes to the provider.
    function test_ExpireDispute_Evicted_BondToProvider() public {
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        vm.warp(disputeDeadline);
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeExpired(leaseId, true);
        market.expireDispute(leaseId);
        assertEq(market.claimable(provider, address(usdc)), providerClaimable + tenantBond, "bond to the provider");
    }

    /// @dev A demand the tenant answered leaves it honest: its expired dispute's bond comes back.
    function test_ExpireDispute_DemandAnswered_BondToTenant() public {
        skip(3 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        market.settle(signedReceiptBy(tenantKey, tenant, receipt(leaseId, 2 * HOUR)));
        vm.warp(disputeDeadline);
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.DisputeExpired(leaseId, false);
        market.expireDispute(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable + tenantBond, "bond returned");
        assertEq(market.claimable(provider, address(usdc)), providerClaimable, "provider gets nothing");
    }

    function test_ExpireDispute_ThenFinalize() public {
        vm.warp(disputeDeadline);
        assertGe(block.timestamp, market.settlementDeadline(leaseId), "window over");
        market.expireDispute(leaseId);
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.LeaseFinalized(leaseId, before.lease.deposit, bond, 0);
        market.finalizeLease(leaseId);

        Snapshot memory afterwards = snap(leaseId);
        assertEq(afterwards.stake.locked, before.stake.locked - bond, "whole bond released");
        assertEq(afterwards.tenantClaimable, before.tenantClaimable + before.lease.deposit, "refund");
        assertEq(afterwards.activeLeases, before.activeLeases - 1, "active leases");
    }
}

/// @notice Unit tests of `slashEquivocation` and `attestationDigest`.
contract SlashEquivocation_Test is DisputesTest {
    AnswerAttestation internal a;
    bytes internal sigA;
    AnswerAttestation internal b;
    bytes internal sigB;

    function setUp() public override {
        super.setUp();
        skip(1 hours); // the lease is running
        (a, sigA) = attestation(leaseId, 7, keccak256("usage: 3600 GPU-seconds"));
        (b, sigB) = attestation(leaseId, 7, keccak256("usage: 1800 GPU-seconds"));
    }

    function test_SlashEquivocation() public {
        Snapshot memory before = snap(leaseId);
        assertGt(market.leaseEnd(leaseId), block.timestamp, "running");

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, cutOf(bond));
        vm.prank(keeper); // anyone may call
        market.slashEquivocation(a, sigA, b, sigB);

        Snapshot memory afterwards = snap(leaseId);
        assertSlashed(before, afterwards, bond, 0);
        assertEq(afterwards.lease.bond, 0, "whole bond");
        assertEq(afterwards.lease.endsAt, block.timestamp, "lease ends now");
        assertEq(market.leaseEnd(leaseId), block.timestamp, "lease end");
        assertFieldsEqualExceptBondAndEnd(afterwards.lease, before.lease);
        assertEq(afterwards.providerClaimable, before.providerClaimable, "provider claimable");
        assertEq(market.claimable(keeper, address(usdc)), 0, "caller earns nothing");
    }

    function test_SlashEquivocation_AfterLeaseEnded() public {
        vm.warp(market.leaseEnd(leaseId) + 1 hours); // in the settlement window
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, cutOf(bond));
        market.slashEquivocation(a, sigA, b, sigB);

        Snapshot memory afterwards = snap(leaseId);
        assertSlashed(before, afterwards, bond, 0);
        assertEq(afterwards.lease.endsAt, before.lease.endsAt, "end unchanged");
    }

    /// @dev Evidence stays good after an eviction, until the lease is finalized: the bond stays locked.
    function test_SlashEquivocation_AfterEviction() public {
        skip(1 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        vm.warp(market.settlementDeadline(leaseId)); // past the evicted lease's settlement window
        assertLt(block.timestamp, market.remediesDeadline(leaseId), "remedies still open");
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, cutOf(bond));
        market.slashEquivocation(a, sigA, b, sigB);
        assertSlashed(before, snap(leaseId), bond, 0);
        assertEq(snap(leaseId).lease.endsAt, before.lease.endsAt, "end unchanged");
    }

    function test_RevertWhen_SlashEquivocation_EvictedThenFinalized() public {
        skip(1 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        vm.warp(market.remediesDeadline(leaseId));
        market.finalizeLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        market.slashEquivocation(a, sigA, b, sigB);
    }

    function test_SlashEquivocation_StopsAccrual() public {
        market.slashEquivocation(a, sigA, b, sigB);
        skip(2 hours);
        // Only the hour before the slash accrued.
        assertEq(market.settle(signedReceipt(leaseId, 5 * HOUR)), HOUR, "paid");
    }

    function test_SlashEquivocation_SameAnswerDifferentTime() public {
        (AnswerAttestation memory c, bytes memory sigC) = attestation(leaseId, 9, keccak256("same"));
        skip(1);
        (AnswerAttestation memory d, bytes memory sigD) = attestation(leaseId, 9, keccak256("same"));
        assertNotEq(c.servedAt, d.servedAt);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, cutOf(bond));
        market.slashEquivocation(c, sigC, d, sigD);
        assertEq(market.lease(leaseId).bond, 0);
    }

    function test_SlashEquivocation_RemainingBondAfterDispute() public {
        openDispute(leaseId);
        rule(leaseId, 2_500);
        uint256 remaining = bond - bond * 2_500 / 10_000;
        assertEq(market.lease(leaseId).bond, remaining, "partly slashed");
        Snapshot memory before = snap(leaseId);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.BondSlashed(leaseId, provider, SlashReason.Equivocation, remaining, cutOf(remaining));
        market.slashEquivocation(a, sigA, b, sigB);

        assertSlashed(before, snap(leaseId), remaining, 0);
        assertEq(market.lease(leaseId).bond, 0);
    }

    function test_RevertWhen_SlashEquivocation_DifferentLeases() public {
        uint256 other = openDefaultLease();
        (AnswerAttestation memory c, bytes memory sigC) = attestation(other, 7, keccak256("other"));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotEquivocation.selector, leaseId, 7, 7));
        market.slashEquivocation(a, sigA, c, sigC);
    }

    function test_RevertWhen_SlashEquivocation_DifferentSequences() public {
        (AnswerAttestation memory c, bytes memory sigC) = attestation(leaseId, 8, keccak256("other"));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotEquivocation.selector, leaseId, 7, 8));
        market.slashEquivocation(a, sigA, c, sigC);
    }

    function test_RevertWhen_SlashEquivocation_IdenticalAttestations() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotEquivocation.selector, leaseId, 7, 7));
        market.slashEquivocation(a, sigA, a, sigA);
    }

    function test_RevertWhen_SlashEquivocation_NotSignedByProvider() public {
        bytes memory byTenant = sign(tenantKey, market.attestationDigest(b));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, leaseId, provider)
        );
        market.slashEquivocation(a, sigA, b, byTenant);

        bytes memory aByTenant = sign(tenantKey, market.attestationDigest(a));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, leaseId, provider)
        );
        market.slashEquivocation(a, aByTenant, b, sigB);
    }

    function test_RevertWhen_SlashEquivocation_SignatureForOtherAttestation() public {
        // Both signatures are the provider's, but `sigA` does not sign `b`.
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, leaseId, provider)
        );
        market.slashEquivocation(a, sigA, b, sigA);
    }

    function test_RevertWhen_SlashEquivocation_MalformedSignature() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, leaseId, provider)
        );
        market.slashEquivocation(a, sigA, b, "");
    }

    function test_RevertWhen_SlashEquivocation_UnknownLease() public {
        (AnswerAttestation memory c, bytes memory sigC) = attestation(999, 1, keccak256("c"));
        (AnswerAttestation memory d, bytes memory sigD) = attestation(999, 1, keccak256("d"));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownLease.selector, 999));
        market.slashEquivocation(c, sigC, d, sigD);
    }

    function test_RevertWhen_SlashEquivocation_LeaseFinalized() public {
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        market.slashEquivocation(a, sigA, b, sigB);
    }

    function test_RevertWhen_SlashEquivocation_AlreadySlashed() public {
        market.slashEquivocation(a, sigA, b, sigB);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToSlash.selector, leaseId));
        market.slashEquivocation(a, sigA, b, sigB);
    }

    function test_RevertWhen_SlashEquivocation_BondTakenByTermination() public {
        vm.prank(provider);
        market.terminateLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToSlash.selector, leaseId));
        market.slashEquivocation(a, sigA, b, sigB);
    }

    // ─── Digest ─────────────────────────────────────────────────────────────────────────────

    function eip712Digest(AnswerAttestation memory att) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes("Openlease")),
                keccak256(bytes("1")),
                block.chainid,
                address(market)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "AnswerAttestation(uint256 leaseId,uint64 sequence,bytes32 workload,bytes32 requestDigest,bytes32 responseDigest,uint64 servedAt)"
                ),
                att.leaseId,
                att.sequence,
                att.workload,
                att.requestDigest,
                att.responseDigest,
                att.servedAt
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function test_AttestationDigest() public view {
        assertEq(market.attestationDigest(a), eip712Digest(a));
        assertNotEq(market.attestationDigest(a), market.attestationDigest(b));
    }

    function testFuzz_AttestationDigest(
        uint256 id,
        uint64 sequence,
        bytes32 workload,
        bytes32 requestDigest,
        bytes32 responseDigest,
        uint64 servedAt
    ) public view {
        AnswerAttestation memory att = AnswerAttestation({
            leaseId: id,
            sequence: sequence,
            workload: workload,
            requestDigest: requestDigest,
            responseDigest: responseDigest,
            servedAt: servedAt
        });
        assertEq(market.attestationDigest(att), eip712Digest(att));
    }
}
