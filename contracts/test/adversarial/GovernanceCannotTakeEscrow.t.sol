// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Governance cannot take escrow or stake: no admin function moves a token out of the market
/// (except fees owed, to the treasury), and after a pause and every admin setter at its extreme the
/// tenant's refund, the provider's earnings and its thawed stake are paid out in exact amounts.
contract GovernanceCannotTakeEscrow_Adversarial_Test is AdversarialBase {
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
    }

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        bond = market.lease(leaseId).bond;
        skip(2 hours);
        paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        fee = feeOf(paid);
        unstaked = PROVIDER_STAKE - bond;
        vm.prank(provider);
        market.requestUnstake(address(usdc), unstaked);
        thawEndsAt = market.stakeOf(provider, address(usdc)).thawEndsAt;
    }

    function books() internal view returns (Books memory b) {
        b.marketBalance = usdc.balanceOf(address(market));
        b.tenantClaimable = market.claimable(tenant, address(usdc));
        b.providerClaimable = market.claimable(provider, address(usdc));
        b.feesOwed = market.feesOwed(address(usdc));
        b.stake = market.stakeOf(provider, address(usdc));
        b.lease = market.lease(leaseId);
    }

    function assertBooks(Books memory b, string memory step) internal view {
        Books memory n = books();
        assertEq(n.marketBalance, b.marketBalance, string.concat(step, ": market balance"));
        assertEq(n.tenantClaimable, b.tenantClaimable, string.concat(step, ": tenant claimable"));
        assertEq(n.providerClaimable, b.providerClaimable, string.concat(step, ": provider claimable"));
        assertEq(n.feesOwed, b.feesOwed, string.concat(step, ": fees owed"));
        assertEq(keccak256(abi.encode(n.stake)), keccak256(abi.encode(b.stake)), string.concat(step, ": stake"));
        assertEq(keccak256(abi.encode(n.lease)), keccak256(abi.encode(b.lease)), string.concat(step, ": lease"));
    }

    /// @dev Every admin function, each at its most hostile setting, checking the books after each.
    function everyAdminAction() internal {
        Books memory b = books();
        vm.startPrank(admin);
        market.pause();
        assertBooks(b, "pause");
        market.setParams(
            Params({
                protocolFeeBps: 1_000,
                bondBps: 50_000,
                slashCutBps: 2_000,
                maxDisputeSlashBps: 10_000,
                disputeBondBps: 10_000,
                settlementWindow: 7 days,
                disputePeriod: 14 days,
                unbondingPeriod: 90 days
            })
        );
        assertBooks(b, "setParams");
        market.setTokenAllowed(address(usdc), false);
        assertBooks(b, "setTokenAllowed");
        market.setArbiter(newArbiter);
        assertBooks(b, "setArbiter");
        market.setTreasury(newTreasury);
        assertBooks(b, "setTreasury");
        vm.expectRevert(OpenleaseRenounceDisabled.selector);
        market.renounceOwnership();
        market.transferOwnership(newAdmin);
        vm.stopPrank();
        vm.prank(newAdmin);
        market.acceptOwnership();
        assertBooks(b, "transferOwnership");
        assertEq(market.owner(), newAdmin, "owner");
    }

    function test_AdminActionsMoveNoEscrowOrStake() public {
        everyAdminAction();
        assertTrue(market.paused(), "paused");
        assertFalse(market.isTokenAllowed(address(usdc)), "usdc delisted");
    }

    function test_TenantRefundSurvivesEveryAdminAction() public {
        everyAdminAction();
        uint256 refund = uint256(PRICE) * 10 hours - paid;

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, bond);
        market.finalizeLease(leaseId); // paused, token delisted: still finalizes

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
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, bond, "bond back in stake");
        assertEq(s.locked, 0, "unlocked");
        vm.prank(provider);
        market.requestUnstake(address(usdc), bond);
    }

    function test_FeesGoOnlyToTheTreasuryAndOnlyWhatIsOwed() public {
        everyAdminAction();
        Books memory b = books();

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
    }

    function test_RevertWhen_NonOwnerCallsAnAdminFunction() public {
        address attacker = makeAddr("attacker");
        vm.startPrank(attacker);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.setTreasury(attacker);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.setArbiter(attacker);
        vm.expectRevert(abi.encodeWithSignature("OwnableUnauthorizedAccount(address)", attacker));
        market.pause();
        vm.stopPrank();
        assertEq(market.treasury(), treasury, "treasury");
        assertEq(market.arbiter(), arbiter, "arbiter");
    }
}
