// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice No governance action can move stake, escrow or claimable balances. The attack: a
/// compromised admin schedules itself (or an accomplice) as arbiter with every parameter at its most
/// hostile bound, then opens leases as a tenant (or sells them as a provider), disputes and rules in
/// its own favour; or it changes the fee, slash cut, settlement window and dispute terms under leases
/// already open. In v1 `setArbiter`/`setParams` reached every open lease at once and a ruling could
/// take the whole bond; here a version waits `PARAMS_DELAY`, reaches only leases opened after it, stays
/// within hard bounds, and a lease whose arbiter is its tenant or provider cannot be disputed at all
/// (`openDispute` refuses it: nobody could rule the dispute), so an arbiter never rules its own.
contract GovernanceCannotReachLeases_Adversarial_Test is LeaseTermsBase {
    address internal accomplice = makeAddr("accomplice");
    address internal victim;
    uint256 internal victimKey;

    /// @dev The version the market runs when the attack starts: distinct from the hostile one in
    /// every parameter, so a lease using any hostile value shows.
    function honestParams() internal view returns (Params memory) {
        return Params({
            protocolFeeBps: 100,
            settlementWindow: 1 days,
            bondBps: 20_000,
            slashCutBps: 1_000,
            maxDisputeSlashBps: 2_500,
            disputeBondBps: 1_000,
            disputePeriod: 3 days,
            unbondingPeriod: 21 days,
            arbiter: arbiter
        });
    }

    function setUp() public override {
        super.setUp();
        (victim, victimKey) = makeAddrAndKey("victim");
        applyAndAcceptParams(honestParams());
        mintAndApprove(address(usdc), admin, 1_000_000e6);
        mintAndApprove(address(usdc), victim, 1_000_000e6);
    }

    /// @dev The admin makes itself the arbiter of new leases, every bound at its most hostile, and
    /// waits the delay out; the default offer's provider even accepts it (the worst case: without its
    /// consent, the offer's leases would not get it at all).
    function adminBecomesArbiter() internal {
        applyAndAcceptParams(hostileParams(admin));
    }

    /// @dev A lease of the default offer that outlives `PARAMS_DELAY`, funded for all of it.
    function openLongLease() internal returns (uint256) {
        return openLease(tenant, offerId, 8 days, uint256(PRICE) * 8 days);
    }

    /// @dev A 10-hour lease of `offer_` by `who` opened now, an hour old.
    function openHourOldLease(address who, uint256 offer_) internal returns (uint256 leaseId) {
        leaseId = openLease(who, offer_, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);
    }

    function assertNoDispute(uint256 leaseId, string memory step) internal view {
        Dispute memory none;
        assertEq(keccak256(abi.encode(market.dispute(leaseId))), keccak256(abi.encode(none)), step);
    }

    // ─── The arbiter is never a party ──────────────────────────────────────────────────────

    /// @notice The admin as arbiter opens a lease as a tenant to dispute it and uphold its own dispute:
    /// the dispute is refused at opening (no bond pulled, none recorded), so there is nothing to rule
    /// and the provider's bond and stake are untouched.
    function test_RevertWhen_ArbiterDisputesItsOwnLeaseAsTenant() public {
        adminBecomesArbiter();
        uint256 leaseId = openHourOldLease(admin, offerId);
        assertEq(market.leaseParams(leaseId).arbiter, admin, "the admin is the lease's arbiter");
        Books memory b = booksOf(admin, provider, offerId);
        Lease memory l = market.lease(leaseId);
        uint16 maxSlash = market.leaseParams(leaseId).maxDisputeSlashBps;

        vm.expectRevert(abi.encodeWithSelector(OpenleaseArbiterIsParty.selector, leaseId, admin));
        vm.prank(admin);
        market.openDispute(leaseId, "ipfs://evidence");
        assertBooks(booksOf(admin, provider, offerId), b, "after the refused dispute");
        assertSameLease(market.lease(leaseId), l, "after the refused dispute");
        assertNoDispute(leaseId, "no dispute recorded");

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoOpenDispute.selector, leaseId));
        vm.prank(admin);
        market.ruleDispute(leaseId, maxSlash);
        assertBooks(booksOf(admin, provider, offerId), b, "after the refused ruling");
    }

    /// @notice The admin opens a lease as a tenant under the honest version, disputes it, and makes
    /// itself the arbiter of new leases while the dispute is open: the lease keeps its own arbiter, so
    /// the admin cannot rule its own dispute (`OpenleaseNotArbiter` names the lease's arbiter).
    function test_RevertWhen_ArbiterAppointedAfterItsDisputeOpenedRulesIt() public {
        uint256 adminLease = openLease(admin, offerId, 8 days, uint256(PRICE) * 8 days);
        (, uint256 effectiveAt) = scheduleParams(hostileParams(admin));
        vm.warp(effectiveAt - 2 days); // the lease's dispute period (3 days) outlasts the delay
        vm.prank(admin);
        market.openDispute(adminLease, "ipfs://evidence");
        vm.warp(effectiveAt);
        assertEq(market.params().arbiter, admin, "the admin rules new leases");
        assertEq(market.leaseParams(adminLease).arbiter, arbiter, "not this one");
        assertLt(block.timestamp, market.dispute(adminLease).deadline, "the dispute is still open to a ruling");
        Books memory b = booksOf(admin, provider, offerId);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotArbiter.selector, adminLease, admin, arbiter));
        vm.prank(admin);
        market.ruleDispute(adminLease, 2_500);
        assertBooks(booksOf(admin, provider, offerId), b, "after the refused ruling");
        assertEq(uint8(market.dispute(adminLease).status), uint8(DisputeStatus.Open), "dispute still open");
    }

    /// @notice The admin as arbiter sells a lease as a provider, hoping to reject the tenant's dispute
    /// and pocket the tenant's dispute bond: the dispute is refused at opening, so the tenant's bond is
    /// never pulled; nothing stalls the lease, which finalizes at its deadline with the escrow refunded
    /// and the admin's bond released.
    function test_RevertWhen_TenantDisputesLeaseWhoseProviderIsItsArbiter() public {
        adminBecomesArbiter();
        registerAndStake(admin, address(usdc), PROVIDER_STAKE);
        uint256 adminOffer = publishOffer(admin, address(usdc), PRICE);
        uint256 leaseId = openHourOldLease(victim, adminOffer);
        assertEq(market.leaseParams(leaseId).arbiter, admin, "the admin is the lease's arbiter");
        Books memory b = booksOf(victim, admin, adminOffer);
        Lease memory l = market.lease(leaseId);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseArbiterIsParty.selector, leaseId, admin));
        vm.prank(victim);
        market.openDispute(leaseId, "ipfs://evidence");
        assertBooks(booksOf(victim, admin, adminOffer), b, "after the refused dispute");
        assertSameLease(market.lease(leaseId), l, "after the refused dispute");
        assertNoDispute(leaseId, "no dispute recorded");

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNoOpenDispute.selector, leaseId));
        vm.prank(admin);
        market.ruleDispute(leaseId, 0);

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.claimable(victim, address(usdc)), b.tenantClaimable + l.deposit, "escrow refunded");
        assertEq(market.claimable(admin, address(usdc)), b.providerClaimable, "the admin got nothing");
        assertEq(market.stakeOf(admin, address(usdc)).locked, b.stake.locked - l.bond, "bond released");
        assertEq(market.stakeOf(admin, address(usdc)).staked, b.stake.staked, "nothing slashed");
    }

    /// @notice An accomplice the admin appoints cannot rule a lease opened before its version:
    /// `OpenleaseNotArbiter` names the lease's own arbiter.
    function test_RevertWhen_NewArbiterRulesLeaseOpenedBefore() public {
        uint256 leaseId = openLongLease();
        applyAndAcceptParams(hostileParams(accomplice));
        assertEq(market.params().arbiter, accomplice, "the accomplice rules new leases");
        skip(1 hours);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotArbiter.selector, leaseId, accomplice, arbiter));
        vm.prank(accomplice);
        market.ruleDispute(leaseId, 5_000);
        assertBooksUnchanged(b, "after the refused ruling");
    }

    /// @notice The lease's own arbiter still rules it, within the lease's own maximum slash (2,500),
    /// not the hostile version's (5,000).
    function test_RevertWhen_RulingAboveLeaseMaxSlashAfterHostileVersion() public {
        uint256 leaseId = openLongLease();
        applyAndAcceptParams(hostileParams(accomplice));
        skip(1 hours);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseSlashTooLarge.selector, 5_000, 2_500));
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 5_000);
        assertBooksUnchanged(b, "after the refused ruling");
    }

    /// @notice Upholding at the lease's maximum slashes exactly 25% of the bond and keeps the lease's
    /// own 10% cut, whatever the version in force says.
    function test_RulingOfOpenLeaseUsesItsOwnMaxSlashAndCut() public {
        uint256 leaseId = openLongLease();
        uint96 bond = market.lease(leaseId).bond;
        applyAndAcceptParams(hostileParams(accomplice));
        skip(1 hours);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        Books memory b = books();

        vm.prank(arbiter);
        market.ruleDispute(leaseId, 2_500);

        uint256 slashed = uint256(bond) * 2_500 / BPS;
        uint256 cut = slashed * 1_000 / BPS;
        assertEq(market.lease(leaseId).bond, bond - slashed, "bond left");
        assertEq(market.stakeOf(provider, address(usdc)).staked, b.stake.staked - slashed, "staked");
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable + tenantBond + slashed - cut, "tenant");
        assertEq(market.feesOwed(address(usdc)), b.feesOwed + cut, "cut at the lease's own 10%");
        assertEq(usdc.balanceOf(address(market)), b.marketBalance, "nothing left the market");
    }

    // ─── Open leases keep their version ────────────────────────────────────────────────────

    /// @notice A hostile version in force changes none of the parameters an open lease reads.
    function test_OpenLeaseKeepsEveryParamUnderHostileVersion() public {
        uint256 leaseId = openLongLease();
        Lease memory l = market.lease(leaseId);
        Params memory before = market.leaseParams(leaseId);
        applyAndAcceptParams(hostileParams(accomplice));

        assertSameParams(market.params(), hostileParams(accomplice), "the hostile version is in force");
        assertSameParams(market.leaseParams(leaseId), before, "lease params");
        assertSameParams(market.leaseParams(leaseId), honestParams(), "lease params are the honest version");
        assertSameLease(market.lease(leaseId), l, "lease");
        assertEq(market.settlementDeadline(leaseId), market.leaseEnd(leaseId) + 1 days, "its own window");
    }

    /// @notice The dispute of an open lease costs the lease's own dispute bond (10% of its bond, not
    /// 100%) and runs the lease's own period (3 days, not 14).
    function test_DisputeOfOpenLeaseUsesItsOwnBondAndPeriod() public {
        uint256 leaseId = openLongLease();
        uint96 bond = market.lease(leaseId).bond;
        applyAndAcceptParams(hostileParams(accomplice));
        uint256 balance = usdc.balanceOf(tenant);

        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");

        Dispute memory d = market.dispute(leaseId);
        assertEq(d.tenantBond, uint256(bond) * 1_000 / BPS, "tenant bond");
        assertEq(d.deadline, block.timestamp + 3 days, "deadline");
        assertEq(usdc.balanceOf(tenant), balance - d.tenantBond, "pulled exactly the bond");
    }

    /// @notice Raising the fee to the maximum does not reach a lease opened before: its finalize
    /// credits the lease's own 1% of what was settled, the provider keeps the rest.
    function test_FinalizeOfOpenLeaseChargesItsOwnFee() public {
        uint256 leaseId = openLongLease();
        applyAndAcceptParams(hostileParams(accomplice));
        uint256 amount = uint256(PRICE) * 7 days;
        uint256 paid = market.settle(tenantReceipt(leaseId, amount));
        assertEq(paid, amount, "paid");
        vm.prank(tenant);
        market.closeLease(leaseId);
        Books memory b = books();
        vm.warp(market.settlementDeadline(leaseId));

        uint256 fee = LeaseMath.fee(paid, 100);
        uint256 refund = uint256(PRICE) * 8 days - paid;
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, market.lease(leaseId).bond, fee);
        market.finalizeLease(leaseId);

        assertEq(market.claimable(provider, address(usdc)), b.providerClaimable, "provider credited at settlement");
        assertEq(b.providerClaimable, paid - fee, "provider earned paid - 1%");
        assertEq(market.feesOwed(address(usdc)), b.feesOwed + fee, "fee at the lease's own 1%");
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable + refund, "refund");
    }

    /// @notice Termination of an open lease slashes the lease's own bond with its own cut (10%),
    /// not the hostile 20%.
    function test_TerminationOfOpenLeaseKeepsItsOwnSlashCut() public {
        uint256 leaseId = openLongLease();
        uint96 bond = market.lease(leaseId).bond;
        applyAndAcceptParams(hostileParams(accomplice));
        Books memory b = books();

        vm.prank(provider);
        market.terminateLease(leaseId);

        uint256 cut = uint256(bond) * 1_000 / BPS;
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable + bond - cut, "tenant compensation");
        assertEq(market.feesOwed(address(usdc)), b.feesOwed + cut, "cut");
        assertEq(market.stakeOf(provider, address(usdc)).staked, b.stake.staked - bond, "slashed the lease's bond");
    }

    /// @notice Shrinking the settlement window to an hour does not void a receipt the provider
    /// settles inside the lease's own day.
    function test_SettlementWindowOfOpenLeaseUnchanged() public {
        uint256 leaseId = openLongLease();
        applyAndAcceptParams(hostileParams(accomplice));
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 end = market.leaseEnd(leaseId);
        vm.warp(end + 23 hours);

        uint256 amount = uint256(PRICE) * (end - market.lease(leaseId).startedAt);
        assertEq(market.settle(tenantReceipt(leaseId, amount)), amount, "earned receipt paid in full");
        assertEq(market.claimable(provider, address(usdc)), amount - LeaseMath.fee(amount, 100), "provider");
    }

    // ─── New versions reach new leases only, after the delay ─────────────────────────────────

    /// @notice Scheduling moves nothing and changes nothing in force: the version new leases get
    /// stays the same until `effectiveAt = now + PARAMS_DELAY`.
    function test_ScheduleChangesNothingBeforeTheDelay() public {
        uint256 leaseId = openDefaultLease();
        Books memory b = books();
        uint256 versionBefore = market.paramsVersion();

        (uint256 version, uint256 effectiveAt) = scheduleParams(hostileParams(admin));

        assertEq(version, versionBefore + 1, "a new version");
        assertEq(effectiveAt, block.timestamp + Bounds.PARAMS_DELAY, "effective after the delay");
        assertEq(market.paramsVersion(), versionBefore, "not in force yet");
        assertSameParams(market.params(), honestParams(), "params in force");
        assertBooksUnchanged(b, "after scheduling");
        vm.warp(effectiveAt);
        assertEq(market.paramsVersion(), version, "in force at effectiveAt");
        assertBooksUnchanged(b, "after it took effect");
        assertSameParams(market.leaseParams(leaseId), honestParams(), "the open lease's params");
    }

    /// @notice A lease opened one second before `effectiveAt` gets the old version (arbiter
    /// included) for its whole life.
    function test_LeaseOpenedOneSecondBeforeEffectiveAtGetsOldVersion() public {
        uint256 oldVersion = market.paramsVersion();
        (, uint256 effectiveAt) = scheduleParams(hostileParams(accomplice));
        vm.warp(effectiveAt - 1);
        uint256 leaseId = openDefaultLease();
        vm.warp(effectiveAt + 1 days);

        assertEq(market.lease(leaseId).paramsVersion, oldVersion, "old version");
        assertSameParams(market.leaseParams(leaseId), honestParams(), "old params");
        assertEq(market.lease(leaseId).bond, LeaseMath.bond(PRICE, NOTICE, 20_000), "old bond bps");
    }

    /// @notice A lease opened at `effectiveAt` gets the new version only if its offer's provider
    /// accepted it: until then, the old one.
    function test_LeaseOpenedAtEffectiveAtGetsNewVersionOnlyOnceAccepted() public {
        uint256 oldVersion = market.paramsVersion();
        (uint256 version, uint256 effectiveAt) = scheduleParams(hostileParams(accomplice));
        vm.warp(effectiveAt);
        uint256 unaccepted = openDefaultLease();
        assertEq(market.lease(unaccepted).paramsVersion, oldVersion, "not accepted: old version");
        assertSameParams(market.leaseParams(unaccepted), honestParams(), "old params");

        acceptParams(offerId);
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).paramsVersion, version, "new version");
        assertSameParams(market.leaseParams(leaseId), hostileParams(accomplice), "new params");
        assertEq(market.lease(leaseId).bond, LeaseMath.bond(PRICE, NOTICE, 50_000), "new bond bps");
    }

    /// @notice A version scheduled while another is pending replaces it (same number, new delay):
    /// two schedules never queue, and the replaced one never takes effect.
    function test_PendingVersionIsReplacedNotQueued() public {
        uint256 inForce = market.paramsVersion();
        (uint256 first, uint256 firstAt) = scheduleParams(hostileParams(admin));
        skip(1 days);
        Params memory second = hostileParams(accomplice);
        second.protocolFeeBps = 500;
        (uint256 replaced, uint256 secondAt) = scheduleParams(second);

        assertEq(replaced, first, "same version number");
        assertEq(secondAt, block.timestamp + Bounds.PARAMS_DELAY, "a new delay");
        (uint256 latest, uint256 latestAt, Params memory latestP) = market.latestParams();
        assertEq(latest, first, "latest version");
        assertEq(latestAt, secondAt, "latest effectiveAt");
        assertSameParams(latestP, second, "latest params");
        assertSameParams(market.paramsAt(first), second, "the first schedule is gone");

        vm.warp(firstAt);
        assertEq(market.paramsVersion(), inForce, "the replaced schedule never takes effect");
        assertSameParams(market.params(), honestParams(), "still the honest version");
        vm.warp(secondAt);
        assertEq(market.paramsVersion(), first, "the replacement takes effect after its own delay");
        assertSameParams(market.params(), second, "the replacement");
    }

    /// @notice Only the owner schedules.
    function test_RevertWhen_NonOwnerSchedules() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, accomplice));
        vm.prank(accomplice);
        market.scheduleParams(hostileParams(accomplice));
    }

    // ─── Hard bounds ────────────────────────────────────────────────────────────────────────

    function expectOutOfBounds(Parameter parameter, uint256 value, uint256 min, uint256 max) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseParameterOutOfBounds.selector, parameter, value, min, max));
    }

    /// @notice v1 let one ruling take a provider's whole bond (10,000 bps); 5,000 is the ceiling now.
    function test_RevertWhen_MaxDisputeSlashAboveHalf() public {
        Params memory p = hostileParams(admin);
        p.maxDisputeSlashBps = 5_001;
        expectOutOfBounds(Parameter.MaxDisputeSlashBps, 5_001, 1_000, 5_000);
        scheduleParams(p);
    }

    function testFuzz_RevertWhen_MaxDisputeSlashAboveHalf(uint16 bps) public {
        bps = uint16(bound(bps, 5_001, type(uint16).max));
        Params memory p = hostileParams(admin);
        p.maxDisputeSlashBps = bps;
        expectOutOfBounds(Parameter.MaxDisputeSlashBps, bps, 1_000, 5_000);
        scheduleParams(p);
    }

    function test_RevertWhen_ProtocolFeeAboveTenPercent() public {
        Params memory p = hostileParams(admin);
        p.protocolFeeBps = 1_001;
        expectOutOfBounds(Parameter.ProtocolFeeBps, 1_001, 0, 1_000);
        scheduleParams(p);
    }

    function test_RevertWhen_SlashCutAboveTwentyPercent() public {
        Params memory p = hostileParams(admin);
        p.slashCutBps = 2_001;
        expectOutOfBounds(Parameter.SlashCutBps, 2_001, 0, 2_000);
        scheduleParams(p);
    }

    function test_RevertWhen_DisputeBondAboveTheLeaseBond() public {
        Params memory p = hostileParams(admin);
        p.disputeBondBps = 10_001;
        expectOutOfBounds(Parameter.DisputeBondBps, 10_001, 100, 10_000);
        scheduleParams(p);
    }

    function test_RevertWhen_BondBelowTenPercent() public {
        Params memory p = hostileParams(admin);
        p.bondBps = 999;
        expectOutOfBounds(Parameter.BondBps, 999, 1_000, 50_000);
        scheduleParams(p);
    }

    function test_RevertWhen_SettlementWindowBelowAnHour() public {
        Params memory p = hostileParams(admin);
        p.settlementWindow = 1 hours - 1;
        expectOutOfBounds(Parameter.SettlementWindow, 1 hours - 1, 1 hours, 7 days);
        scheduleParams(p);
    }

    function test_RevertWhen_DisputePeriodAboveTwoWeeks() public {
        Params memory p = hostileParams(admin);
        p.disputePeriod = 14 days + 1;
        expectOutOfBounds(Parameter.DisputePeriod, 14 days + 1, 1 days, 14 days);
        scheduleParams(p);
    }

    /// @notice Unbonding shorter than the longest settlement window plus dispute period would let a
    /// provider outrun a slash.
    function test_RevertWhen_UnbondingBelowWindowPlusDisputePeriod() public {
        Params memory p = hostileParams(admin);
        p.unbondingPeriod = 21 days - 1;
        expectOutOfBounds(Parameter.UnbondingPeriod, 21 days - 1, 21 days, 90 days);
        scheduleParams(p);
    }

    function test_RevertWhen_ArbiterIsZero() public {
        Params memory p = hostileParams(address(0));
        vm.expectRevert(OpenleaseZeroAddress.selector);
        scheduleParams(p);
    }
}
