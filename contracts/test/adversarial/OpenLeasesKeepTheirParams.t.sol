// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Open leases are immune to parameter changes. The attack: governance (or whoever holds
/// it) changes a parameter under leases already running: shrinks the settlement window so that
/// receipts providers earned expire, raises the fee to skim their earnings, raises the bond bps to
/// lock more of their stake (or lowers it to release bonds tenants rely on), lengthens unbonding to
/// trap stake already thawing or shortens it to let a provider outrun a slash. In v1 every lease read
/// the parameters in force at each call. Here a lease reads its own version for life (even once its
/// provider accepted a newer version for the offer's new leases), and an unstake request the version in
/// force when it was made.
contract OpenLeasesKeepTheirParams_Adversarial_Test is LeaseTermsBase {
    uint256 internal leaseId;
    uint256 internal startedAt;
    uint96 internal bond;

    function setUp() public override {
        super.setUp();
        // Funded for 8 days so that it outlives the parameters delay.
        leaseId = openLease(tenant, offerId, 8 days, uint256(PRICE) * 8 days);
        startedAt = block.timestamp;
        bond = market.lease(leaseId).bond;
    }

    function withParam(function(Params memory) internal pure change) internal view returns (Params memory p) {
        p = defaultParams();
        change(p);
    }

    function shortWindow(Params memory p) internal pure {
        p.settlementWindow = 1 hours;
    }

    function maxFee(Params memory p) internal pure {
        p.protocolFeeBps = 1_000;
    }

    function maxBond(Params memory p) internal pure {
        p.bondBps = 50_000;
    }

    function minBond(Params memory p) internal pure {
        p.bondBps = 1_000;
    }

    function longUnbonding(Params memory p) internal pure {
        p.unbondingPeriod = 90 days;
    }

    function minUnbonding(Params memory p) internal pure {
        p.unbondingPeriod = 21 days;
    }

    // ─── Settlement window ──────────────────────────────────────────────────────────────────

    /// @notice The window shrinks from a day to an hour after the lease opened: a receipt the
    /// provider settles 23 hours after the lease's end, inside the lease's own day, pays in full.
    function test_ShrunkSettlementWindowDoesNotVoidEarnedReceipt() public {
        applyAndAcceptParams(withParam(shortWindow));
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 end = market.leaseEnd(leaseId);
        uint256 earned = uint256(PRICE) * (end - startedAt);
        vm.warp(end + 23 hours);
        SignedReceipt memory r = signedReceipt(leaseId, earned); // for the service until the end

        assertEq(market.settlementDeadline(leaseId), end + 1 days, "the lease's own window");
        SettlementResult[] memory results = market.settleBatch(one(r));
        assertEq(uint8(results[0]), uint8(SettlementResult.Settled), "settled");
        assertEq(market.lease(leaseId).settled, earned, "paid in full");
        assertEq(market.claimable(provider, address(usdc)), earned - LeaseMath.fee(earned, 100), "provider");
    }

    /// @notice And the lease cannot be finalized (its escrow refunded) before its own window ends.
    function test_RevertWhen_FinalizeBeforeOwnWindowAfterWindowShrunk() public {
        applyAndAcceptParams(withParam(shortWindow));
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 end = market.leaseEnd(leaseId);
        vm.warp(end + 2 hours);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementWindowOpen.selector, leaseId, end + 1 days));
        market.finalizeLease(leaseId);
    }

    // ─── Fee ────────────────────────────────────────────────────────────────────────────────

    /// @notice The fee rises from 1% to 10%: the open lease's provider still earns exactly 99% of
    /// everything settled across several receipts, and the protocol gets exactly 1% at finalize.
    function test_RaisedFeeDoesNotCutOpenLeaseEarnings() public {
        skip(2 hours);
        market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours + 7)); // before the change
        applyAndAcceptParams(withParam(maxFee));
        market.settle(signedReceipt(leaseId, uint256(PRICE) * 3 days + 3));
        market.settle(signedReceipt(leaseId, accruedNow(leaseId)));
        uint256 settled = market.lease(leaseId).settled;
        assertEq(settled, accruedNow(leaseId), "settled all that accrued");
        uint256 fee = LeaseMath.fee(settled, 100);
        assertEq(market.claimable(provider, address(usdc)), settled - fee, "provider earned settled - 1%");
        assertEq(market.feesOwed(address(usdc)), 0, "no fee before finalize");

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, uint256(PRICE) * 8 days - settled, bond, fee);
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), fee, "1% at finalize");
    }

    function testFuzz_RaisedFeeDoesNotCutOpenLeaseEarnings(uint16 newFee, uint256 first, uint256 second) public {
        newFee = uint16(bound(newFee, 101, 1_000));
        first = bound(first, 1, uint256(PRICE) * 7 days - 1);
        Params memory p = defaultParams();
        p.protocolFeeBps = newFee;
        applyAndAcceptParams(p);
        market.settle(signedReceipt(leaseId, first));
        second = bound(second, first + 1, accruedNow(leaseId) + 1);
        market.settle(signedReceipt(leaseId, second));
        uint256 settled = market.lease(leaseId).settled;

        assertEq(
            market.claimable(provider, address(usdc)), settled - LeaseMath.fee(settled, 100), "the lease's own fee"
        );
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), LeaseMath.fee(settled, 100), "fee at finalize");
    }

    // ─── Bond ───────────────────────────────────────────────────────────────────────────────

    /// @notice Bond bps rises 2.5x: the open lease's bond and the provider's locked stake stay, the
    /// finalize releases exactly the original bond; only a new lease locks the new bond.
    function test_RaisedBondBpsDoesNotChangeOpenLeaseBond() public {
        uint256 locked = market.stakeOf(provider, address(usdc)).locked;
        applyAndAcceptParams(withParam(maxBond));

        assertEq(market.lease(leaseId).bond, bond, "bond unchanged");
        assertEq(market.stakeOf(provider, address(usdc)).locked, locked, "locked unchanged");
        uint256 newLease = openDefaultLease();
        assertEq(market.lease(newLease).bond, LeaseMath.bond(PRICE, NOTICE, 50_000), "a new lease gets the new bps");

        vm.prank(tenant);
        market.closeLease(leaseId);
        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, uint256(PRICE) * 8 days, bond, 0);
        market.finalizeLease(leaseId);
    }

    /// @notice Bond bps falls to the minimum: the tenant's bond stays whole, and a termination
    /// slashes all of it.
    function test_LoweredBondBpsDoesNotReleaseOpenLeaseBond() public {
        applyAndAcceptParams(withParam(minBond));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));

        vm.prank(provider);
        market.terminateLease(leaseId);
        uint256 cut = uint256(bond) * market.leaseParams(leaseId).slashCutBps / BPS;
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable + bond - cut, "the whole original bond");
    }

    // ─── Unbonding ──────────────────────────────────────────────────────────────────────────

    /// @notice Unbonding grows to 90 days: stake that started thawing before keeps its 21 days.
    function test_LongerUnbondingDoesNotReachEarlierRequest() public {
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        uint256 thawEndsAt = block.timestamp + 21 days;
        applyParams(withParam(longUnbonding));

        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, thawEndsAt, "thaw end unchanged");
        vm.warp(thawEndsAt);
        uint256 balance = usdc.balanceOf(provider);
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), 1_000e6, "withdrawn on time");
        assertEq(usdc.balanceOf(provider), balance + 1_000e6, "provider balance");
    }

    /// @notice A request made while the change is only scheduled gets the unbonding in force.
    function test_UnstakeRequestedBeforeEffectiveAtUsesOldUnbonding() public {
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(withParam(longUnbonding));
        vm.warp(effectiveAt - 1);
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, block.timestamp + 21 days, "21 days");
    }

    /// @notice A request made once the change is in force gets the new unbonding.
    function test_UnstakeRequestedAtEffectiveAtUsesNewUnbonding() public {
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(withParam(longUnbonding));
        vm.warp(effectiveAt);
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, block.timestamp + 90 days, "90 days");
    }

    /// @notice Unbonding shrinks from 60 to 21 days: stake already thawing still waits its 60 days,
    /// so a provider cannot use the change to outrun a slash.
    function test_ShorterUnbondingDoesNotReachEarlierRequest() public {
        Params memory p = defaultParams();
        p.unbondingPeriod = 60 days;
        applyParams(p);
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        uint256 thawEndsAt = block.timestamp + 60 days;
        applyParams(withParam(minUnbonding));

        vm.warp(thawEndsAt - 1);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseStillThawing.selector, provider, address(usdc), thawEndsAt));
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
    }
}
