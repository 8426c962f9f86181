// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Governance cannot take escrow or stake: no admin function moves a token out of the market
/// (except fees owed, to the treasury), a parameters change waits `PARAMS_DELAY` and never reaches an open
/// lease (its fee, settlement window and arbiter stay those it opened with), and after a pause and every
/// admin setter at its extreme, in force, the tenant's refund, the provider's earnings and its thawed stake
/// are paid out in exact amounts.
contract GovernanceCannotTakeEscrow_Adversarial_Test is AdversarialBase {
    /// @dev Long enough to still run when a parameters version scheduled during it takes effect.
    uint32 internal constant DURATION = 10 days;

    uint256 internal leaseId;
    uint256 internal paid;
    uint256 internal fee;
    uint96 internal bond;
    uint256 internal unstaked;
    uint256 internal thawEndsAt;
    address internal newAdmin = makeAddr("newAdmin");
    address internal newTreasury = makeAddr("newTreasury");
    address internal newArbiter = makeAddr("newArbiter");

    /// @dev Everything governance must not be able to change.
    struct Books {
        uint256 marketBalance;
        uint256 tenantClaimable;
        uint256 providerClaimable;
        uint256 feesOwed;
        Stake stake;
        Lease lease;
        Params leaseParams;
    }

    function setUp() public override {
        super.setUp();
        leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * DURATION);
        bond = market.lease(leaseId).bond;
        skip(2 hours);
        paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        fee = feeOf(paid);
        unstaked = PROVIDER_STAKE - bond;
        vm.prank(provider);
        market.requestUnstake(address(usdc), unstaked);
        thawEndsAt = market.stakeOf(provider, address(usdc)).thawEndsAt;
    }

    function hostileParams() internal view returns (Params memory) {
        return Params({
            protocolFeeBps: 1_000,
            settlementWindow: 7 days,
            bondBps: 50_000,
            slashCutBps: 2_000,
            maxDisputeSlashBps: 5_000,
            disputeBondBps: 10_000,
            disputePeriod: 14 days,
            unbondingPeriod: 90 days,
            arbiter: newArbiter
        });
    }

    function books() internal view returns (Books memory b) {
        b.marketBalance = usdc.balanceOf(address(market));
        b.tenantClaimable = market.claimable(tenant, address(usdc));
        b.providerClaimable = market.claimable(provider, address(usdc));
        b.feesOwed = market.feesOwed(address(usdc));
        b.stake = market.stakeOf(provider, address(usdc));
        b.lease = market.lease(leaseId);
        b.leaseParams = market.leaseParams(leaseId);
    }

    function assertBooks(Books memory b, string memory step) internal view {
        Books memory n = books();
        assertEq(n.marketBalance, b.marketBalance, string.concat(step, ": market balance"));
        assertEq(n.tenantClaimable, b.tenantClaimable, string.concat(step, ": tenant claimable"));
        assertEq(n.providerClaimable, b.providerClaimable, string.concat(step, ": provider claimable"));
        assertEq(n.feesOwed, b.feesOwed, string.concat(step, ": fees owed"));
        assertEq(keccak256(abi.encode(n.stake)), keccak256(abi.encode(b.stake)), string.concat(step, ": stake"));
        assertEq(keccak256(abi.encode(n.lease)), keccak256(abi.encode(b.lease)), string.concat(step, ": lease"));
        assertEq(
            keccak256(abi.encode(n.leaseParams)),
            keccak256(abi.encode(b.leaseParams)),
            string.concat(step, ": lease's parameters")
        );
    }

    /// @dev Every admin function, each at its most hostile setting, checking the books after each; the
    /// hostile parameters are waited out until they are in force, while the lease still runs.
    function everyAdminAction() internal {
        Books memory b = books();
        vm.startPrank(admin);
        market.pause();
        assertBooks(b, "pause");
        (, uint256 effectiveAt) = market.scheduleParams(hostileParams());
        assertBooks(b, "scheduleParams");
        market.setTokenAllowed(address(usdc), false);
        assertBooks(b, "setTokenAllowed");
        market.setTreasury(newTreasury);
        assertBooks(b, "setTreasury");
        vm.expectRevert(OpenleaseRenounceDisabled.selector);
        marketContract().renounceOwnership();
        marketContract().transferOwnership(newAdmin);
        vm.stopPrank();
        vm.prank(newAdmin);
        marketContract().acceptOwnership();
        assertBooks(b, "transferOwnership");
        assertEq(marketContract().owner(), newAdmin, "owner");

        vm.warp(effectiveAt);
        assertEq(abi.encode(market.params()), abi.encode(hostileParams()), "hostile parameters in force");
        assertLt(block.timestamp, market.leaseEnd(leaseId), "the lease still runs");
        assertBooks(b, "parameters in force");
    }

    function test_AdminActionsMoveNoEscrowOrStake() public {
        everyAdminAction();
        assertTrue(marketContract().paused(), "paused");
        assertFalse(market.isTokenAllowed(address(usdc)), "usdc delisted");
        assertEq(market.paramsVersion(), 2, "version 2 in force, for offers whose providers accept it");
        assertEq(market.lease(leaseId).paramsVersion, 1, "the lease keeps version 1");
        assertEq(abi.encode(market.leaseParams(leaseId)), abi.encode(defaultParams()), "and its parameters");
    }

    /// @dev With the hostile version in force, the running lease still charges its own fee, keeps its own
    /// settlement window and is ruled by its own arbiter; the new arbiter has no say over it.
    function test_OpenLeaseKeepsItsFeeWindowAndArbiterAfterEveryAdminAction() public {
        everyAdminAction();

        uint256 more = uint256(PRICE) * 1 days;
        uint256 claimableBefore = market.claimable(provider, address(usdc));
        uint256 lateFee = leaseFeeOf(leaseId, paid + more) - leaseFeeOf(leaseId, paid);
        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, signer, paid + more, more, lateFee, paid + more);
        assertEq(market.settle(signedReceipt(leaseId, paid + more)), more, "settled while paused");
        assertEq(market.claimable(provider, address(usdc)), claimableBefore + more - lateFee, "at the lease's 1% fee");
        assertEq(
            market.settlementDeadline(leaseId),
            market.leaseEnd(leaseId) + defaultParams().settlementWindow,
            "the lease's own settlement window"
        );

        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        assertEq(
            market.dispute(leaseId).tenantBond,
            uint256(bond) * defaultParams().disputeBondBps / 10_000,
            "its dispute bond"
        );
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotArbiter.selector, leaseId, newArbiter, arbiter));
        vm.prank(newArbiter);
        market.ruleDispute(leaseId, 5_000);
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 5_000);
        assertEq(market.lease(leaseId).bond, bond - uint256(bond) * 5_000 / 10_000, "ruled by its own arbiter");
    }

    function test_TenantRefundSurvivesEveryAdminAction() public {
        everyAdminAction();
        uint256 refund = uint256(PRICE) * DURATION - paid;

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, bond, fee);
        market.finalizeLease(leaseId); // paused, token delisted, hostile parameters: still finalizes

        uint256 before = usdc.balanceOf(tenant);
        vm.prank(tenant);
        assertEq(market.claim(address(usdc), tenant), refund, "refund");
        assertEq(usdc.balanceOf(tenant), before + refund, "tenant balance");
    }

    function test_ProviderEarningsAndStakeSurviveEveryAdminAction() public {
        everyAdminAction();

        // Earnings settled before the fee was raised keep the fee they were charged.
        uint256 before = usdc.balanceOf(provider);
        vm.prank(provider);
        assertEq(market.claim(address(usdc), provider), paid - fee, "earnings");

        // The thaw keeps the unbonding period in force when it was requested.
        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, thawEndsAt, "thawEndsAt");
        vm.warp(thawEndsAt);
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), unstaked, "withdrawn");
        assertEq(usdc.balanceOf(provider), before + paid - fee + unstaked, "provider balance");

        // The bond comes back at finalization and can be unstaked too, while paused.
        assertGe(block.timestamp, market.settlementDeadline(leaseId), "window over");
        market.finalizeLease(leaseId);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, bond, "bond back in stake");
        assertEq(s.locked, 0, "unlocked");
        vm.prank(provider);
        market.requestUnstake(address(usdc), bond);
    }

    function test_FeesGoOnlyToTheTreasuryAndOnlyWhatIsOwed() public {
        everyAdminAction();

        // Nothing is owed until the lease is finalized: settlement keeps the fee in the lease.
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNothingToClaim.selector, newTreasury, address(usdc)));
        market.collectFees(address(usdc));

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        Books memory b = books();
        assertEq(b.feesOwed, fee, "the lease's own 1% of what it settled");

        assertEq(market.collectFees(address(usdc)), fee, "collected");
        assertEq(usdc.balanceOf(newTreasury), fee, "new treasury");
        assertEq(usdc.balanceOf(treasury), 0, "old treasury");
        assertEq(usdc.balanceOf(address(market)), b.marketBalance - fee, "market");

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNothingToClaim.selector, newTreasury, address(usdc)));
        market.collectFees(address(usdc));
    }

    function test_MarketEmptiesExactlyAfterEveryAdminAction() public {
        everyAdminAction();
        vm.warp(thawEndsAt);
        market.finalizeLease(leaseId);
        vm.prank(tenant);
        market.claim(address(usdc), tenant);
        vm.prank(provider);
        market.claim(address(usdc), provider);
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
        market.collectFees(address(usdc));

        // Only the released bond is left, still the provider's stake.
        assertEq(usdc.balanceOf(address(market)), bond, "market holds the bond only");
        assertEq(market.stakeOf(provider, address(usdc)).staked, bond, "as stake");
        assertEq(usdc.balanceOf(tenant), 1_000_000e6 - paid, "tenant paid exactly the settled amount");
        assertEq(usdc.balanceOf(newTreasury), fee, "treasury got exactly the fee");
    }

    function test_RevertWhen_NonOwnerCallsAnAdminFunction() public {
        address attacker = makeAddr("attacker");
        Params memory p = hostileParams();
        p.arbiter = attacker;
        vm.startPrank(attacker);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.setTreasury(attacker);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.scheduleParams(p);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.pause();
        vm.stopPrank();
        assertEq(market.treasury(), treasury, "treasury");
        (uint256 version,,) = market.latestParams();
        assertEq(version, 1, "no version scheduled");
        assertEq(market.leaseParams(leaseId).arbiter, arbiter, "arbiter");
    }
}
