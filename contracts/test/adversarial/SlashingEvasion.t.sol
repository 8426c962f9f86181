// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Slashing evasion by unstaking first: only free stake can thaw, the bonds of open leases stay
/// locked and slashable (termination, equivocation, dispute) whatever the provider unstakes, withdrawal
/// pays out exactly the thawed amount, the provider cannot finalize past an open dispute, and the
/// unbonding period is bounded below by the longest settlement window plus the longest dispute period (a
/// bound every scheduled parameters version must respect).
contract SlashingEvasion_Adversarial_Test is AdversarialBase {
    uint256 internal leaseId;
    uint96 internal bond;
    uint256 internal free;

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        bond = market.lease(leaseId).bond;
        free = PROVIDER_STAKE - bond;
        skip(1 hours);
    }

    /// @dev The provider unstakes everything it can; checks the event and the resulting stake.
    function unstakeAllFree() internal returns (uint256 thawEndsAt) {
        thawEndsAt = block.timestamp + market.params().unbondingPeriod;
        vm.expectEmit(address(market));
        emit UnstakeRequested(provider, address(usdc), free, bond, free, thawEndsAt);
        vm.prank(provider);
        market.requestUnstake(address(usdc), free);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, bond, "only the bond stays staked");
        assertEq(s.locked, bond, "and it is locked");
        assertEq(s.thawing, free, "thawing");
        assertEq(s.thawEndsAt, thawEndsAt, "thawEndsAt");
    }

    /// @dev Everything the market owes in USDC, which its balance must match exactly: fees, claimable
    /// balances, stake, and for each lease not yet finalized its escrow plus the fee on what it settled
    /// (credited to the protocol at finalize), and the tenant's bond of an open dispute.
    function assertSolvent(address[] memory accounts, uint256[] memory leases) internal view {
        uint256 owed = market.feesOwed(address(usdc));
        for (uint256 i; i < accounts.length; ++i) {
            owed += market.claimable(accounts[i], address(usdc));
        }
        Stake memory s = market.stakeOf(provider, address(usdc));
        owed += s.staked + s.thawing;
        for (uint256 i; i < leases.length; ++i) {
            Lease memory l = market.lease(leases[i]);
            if (l.status != LeaseStatus.Open) continue;
            owed += l.deposit - l.settled + uint256(l.settled) * market.leaseParams(leases[i]).protocolFeeBps / 10_000;
            Dispute memory d = market.dispute(leases[i]);
            if (d.status == DisputeStatus.Open) owed += d.tenantBond;
        }
        assertEq(usdc.balanceOf(address(market)), owed, "market balance equals what it owes");
    }

    function assertSolvent(address[] memory accounts) internal view {
        uint256[] memory leases = new uint256[](1);
        leases[0] = leaseId;
        assertSolvent(accounts, leases);
    }

    function parties() internal view returns (address[] memory accounts) {
        accounts = new address[](2);
        accounts[0] = tenant;
        accounts[1] = provider;
    }

    function withdrawAtThawEnd(uint256 thawEndsAt) internal {
        uint256 balanceBefore = usdc.balanceOf(provider);
        vm.warp(thawEndsAt);
        vm.expectEmit(address(market));
        emit StakeWithdrawn(provider, address(usdc), free, provider);
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), free, "withdrew exactly the free stake");
        assertEq(usdc.balanceOf(provider), balanceBefore + free, "provider balance");
        assertEq(market.stakeOf(provider, address(usdc)).thawing, 0, "thawing");
    }

    // ─── Only free stake thaws ──────────────────────────────────────────────────────────────

    function test_RevertWhen_ProviderUnstakesEverythingWithAnOpenLease() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseInsufficientFreeStake.selector, provider, address(usdc), free, PROVIDER_STAKE
            )
        );
        vm.prank(provider);
        market.requestUnstake(address(usdc), PROVIDER_STAKE);
        assertEq(market.stakeOf(provider, address(usdc)).staked, PROVIDER_STAKE, "staked");
    }

    function testFuzz_RevertWhen_UnstakeExceedsFreeStake(uint256 amount) public {
        amount = bound(amount, free + 1, type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, provider, address(usdc), free, amount)
        );
        vm.prank(provider);
        market.requestUnstake(address(usdc), amount);
    }

    function test_RevertWhen_ProviderUnstakesTheBondInTwoSteps() public {
        unstakeAllFree();
        vm.expectRevert(abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, provider, address(usdc), 0, 1));
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1);
    }

    // ─── The bond stays slashable ───────────────────────────────────────────────────────────

    function test_TerminationSlashesTheBondAfterUnstaking() public {
        uint256 thawEndsAt = unstakeAllFree();
        uint256 cut = slashCutOf(bond);

        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.EarlyTermination, bond, cut);
        vm.prank(provider);
        market.terminateLease(leaseId);

        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, 0, "staked");
        assertEq(s.locked, 0, "locked");
        assertEq(s.thawing, free, "thawing untouched by the slash");
        assertEq(market.claimable(tenant, address(usdc)), bond - cut, "tenant compensated");
        assertEq(market.feesOwed(address(usdc)), cut, "protocol cut");
        assertSolvent(parties());

        withdrawAtThawEnd(thawEndsAt);
        market.finalizeLease(leaseId);
        assertSolvent(parties());
    }

    function test_EquivocationSlashesTheBondAfterUnstaking() public {
        uint256 thawEndsAt = unstakeAllFree();
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 1, keccak256("a"));
        (AnswerAttestation memory b, bytes memory sigB) = attestation(leaseId, 1, keccak256("b"));
        uint256 cut = slashCutOf(bond);

        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.Equivocation, bond, cut);
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);

        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, 0, "staked");
        assertEq(s.locked, 0, "locked");
        assertEq(s.thawing, free, "thawing");
        assertEq(market.claimable(tenant, address(usdc)), bond - cut, "tenant compensated");
        assertSolvent(parties());
        withdrawAtThawEnd(thawEndsAt);
        assertSolvent(parties());
    }

    function test_DisputeSlashesTheBondAfterUnstaking() public {
        uint256 thawEndsAt = unstakeAllFree();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        Dispute memory d = market.dispute(leaseId);

        // The window closes while the dispute is open: the provider cannot finalize to free the bond.
        uint256 deadline = market.settlementDeadline(leaseId);
        assertLt(deadline, d.deadline, "the dispute outlives the settlement window");
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseDisputeOpen.selector, leaseId, d.deadline));
        vm.prank(provider);
        market.finalizeLease(leaseId);
        assertEq(market.stakeOf(provider, address(usdc)).locked, bond, "bond still locked");

        uint16 slashBps = market.params().maxDisputeSlashBps;
        uint96 slashed = uint96(uint256(bond) * slashBps / 10_000);
        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.Dispute, slashed, slashCutOf(slashed));
        vm.prank(arbiter);
        market.ruleDispute(leaseId, slashBps);

        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, bond - slashed, "staked");
        assertEq(s.locked, bond - slashed, "locked");
        assertEq(s.thawing, free, "thawing");

        vm.prank(provider);
        market.finalizeLease(leaseId);
        s = market.stakeOf(provider, address(usdc));
        assertEq(s.locked, 0, "released");
        assertEq(s.staked, bond - slashed, "what the slash left");
        assertSolvent(parties());

        withdrawAtThawEnd(thawEndsAt);
        assertEq(market.stakeOf(provider, address(usdc)).staked, bond - slashed, "withdrawal took no stake");
        assertSolvent(parties());
    }

    function test_RevertWhen_ProviderFinalizesBeforeTheWindowCloses() public {
        vm.prank(provider);
        market.closeLease(leaseId);
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementWindowOpen.selector, leaseId, deadline));
        vm.prank(provider);
        market.finalizeLease(leaseId);
    }

    function test_WithdrawalAfterThawLeavesTheBondOfALongLease() public {
        // A lease that outlives the unbonding period.
        uint256 longLease = openLease(tenant, offerId, MAX_DURATION, uint256(PRICE) * MAX_DURATION);
        Stake memory s0 = market.stakeOf(provider, address(usdc));
        uint256 freeNow = s0.staked - s0.locked;
        vm.prank(provider);
        market.requestUnstake(address(usdc), freeNow);
        uint256 thawEndsAt = market.stakeOf(provider, address(usdc)).thawEndsAt;
        assertLt(thawEndsAt, market.leaseEnd(longLease), "thaw ends while the lease runs");

        vm.warp(thawEndsAt);
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), freeNow, "withdrew only the free stake");
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, s0.locked, "bonds remain staked");
        assertEq(s.locked, s0.locked, "bonds remain locked");

        // The running lease's bond is still there to slash.
        uint96 longBond = market.lease(longLease).bond;
        vm.prank(provider);
        market.terminateLease(longLease);
        s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, s0.locked - longBond, "slashed after the withdrawal");
        assertEq(s.locked, s0.locked - longBond, "locked");
    }

    // ─── Unbonding bounds ───────────────────────────────────────────────────────────────────

    /// @dev The bounds scheduleParams enforces on `which`, read from its revert.
    function boundsOf(Parameter which) internal returns (uint256 min, uint256 max) {
        Params memory p = defaultParams();
        if (which == Parameter.SettlementWindow) p.settlementWindow = type(uint32).max;
        else if (which == Parameter.DisputePeriod) p.disputePeriod = type(uint32).max;
        else p.unbondingPeriod = type(uint32).max;
        vm.prank(admin);
        try market.scheduleParams(p) {
            revert("scheduleParams accepted an out-of-bounds value");
        } catch (bytes memory err) {
            assertEq(bytes4(err), OpenleaseParameterOutOfBounds.selector, "selector");
            bytes memory args = new bytes(err.length - 4);
            for (uint256 i; i < args.length; ++i) {
                args[i] = err[i + 4];
            }
            Parameter got;
            uint256 value;
            (got, value, min, max) = abi.decode(args, (Parameter, uint256, uint256, uint256));
            assertEq(uint8(got), uint8(which), "parameter");
            assertEq(value, type(uint32).max, "value");
        }
    }

    function test_UnbondingOutlastsTheLongestWindowAndDispute() public {
        (, uint256 maxWindow) = boundsOf(Parameter.SettlementWindow);
        (, uint256 maxDispute) = boundsOf(Parameter.DisputePeriod);
        (uint256 minUnbonding, uint256 maxUnbonding) = boundsOf(Parameter.UnbondingPeriod);
        assertEq(minUnbonding, maxWindow + maxDispute, "min unbonding = max window + max dispute period");
        assertEq(minUnbonding, 21 days, "21 days");

        Params memory p = defaultParams();
        p.settlementWindow = uint32(maxWindow);
        p.disputePeriod = uint32(maxDispute);
        p.unbondingPeriod = uint32(minUnbonding - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseParameterOutOfBounds.selector,
                Parameter.UnbondingPeriod,
                minUnbonding - 1,
                minUnbonding,
                maxUnbonding
            )
        );
        vm.prank(admin);
        market.scheduleParams(p);

        p.unbondingPeriod = uint32(minUnbonding);
        applyParams(p);
        assertEq(market.params().unbondingPeriod, minUnbonding, "in force");
    }

    function testFuzz_RevertWhen_UnbondingPeriodBelowMinimum(uint32 unbonding) public {
        unbonding = uint32(bound(unbonding, 0, 21 days - 1));
        Params memory p = defaultParams();
        p.unbondingPeriod = unbonding;
        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseParameterOutOfBounds.selector, Parameter.UnbondingPeriod, unbonding, 21 days, 90 days
            )
        );
        vm.prank(admin);
        market.scheduleParams(p);
    }

    function test_ThawEndingDuringAWorstCaseDisputeFreesNoBond() public {
        // Longest window and dispute period, shortest unbonding, for a lease opened under them; the dispute
        // opened at the last moment: the free stake unstaked at the lease's start thaws before the
        // arbiter's deadline, yet withdrawing it leaves the disputed bond locked for the ruling.
        Params memory p = defaultParams();
        p.settlementWindow = 7 days;
        p.disputePeriod = 14 days;
        p.unbondingPeriod = 21 days;
        applyAndAcceptParams(p);
        uint256 worst = openDefaultLease();
        uint96 worstBond = market.lease(worst).bond;
        assertEq(abi.encode(market.leaseParams(worst)), abi.encode(p), "the worst-case version");

        // Everything free thaws: only the two leases' bonds stay staked, locked.
        uint96 locked = bond + worstBond;
        free = PROVIDER_STAKE - locked;
        vm.prank(provider);
        market.requestUnstake(address(usdc), free);
        uint256 thawEndsAt = market.stakeOf(provider, address(usdc)).thawEndsAt;
        assertEq(thawEndsAt, block.timestamp + 21 days, "the shortest unbonding");

        vm.warp(market.settlementDeadline(worst) - 1);
        vm.prank(tenant);
        market.openDispute(worst, "ipfs://evidence");
        uint256 ruleBy = market.dispute(worst).deadline;
        assertLt(thawEndsAt, ruleBy, "the thaw ends before the ruling deadline");

        withdrawAtThawEnd(thawEndsAt);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, locked, "bonds still staked");
        assertEq(s.locked, locked, "bonds still locked");

        vm.warp(ruleBy - 1);
        uint96 slashed = uint96(uint256(worstBond) * p.maxDisputeSlashBps / 10_000);
        vm.prank(arbiter);
        market.ruleDispute(worst, p.maxDisputeSlashBps);
        assertEq(market.stakeOf(provider, address(usdc)).staked, locked - slashed, "slashed after the withdrawal");
        uint256[] memory leases = new uint256[](2);
        leases[0] = leaseId;
        leases[1] = worst;
        assertSolvent(parties(), leases);
    }
}
