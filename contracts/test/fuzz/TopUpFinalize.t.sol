// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FuzzBase} from "./FuzzBase.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Fuzzes the escrow's life after opening: top-ups extend the runway (`LeaseMath.runEnd`) and let more
/// accrue, and finalizing refunds exactly deposit - settled, releases the bond and credits the fee on what was
/// settled.
contract TopUpFinalize_Fuzz_Test is FuzzBase {
    function _shortRunwayLease(uint64 price, uint32 duration, uint256 deposit)
        internal
        returns (uint256 leaseId, uint64, uint32, uint256)
    {
        price = uint64(_bound(price, 1, 1e9));
        duration = uint32(_bound(duration, 2 hours, MAX_DURATION));
        // Less than the duration costs: the runway ends before endsAt.
        deposit = _bound(deposit, uint256(price) * MIN_DURATION, uint256(price) * duration - 1);
        uint256 offer = fuzzOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        fundTenant(address(usdc), deposit);
        leaseId = openLease(tenant, offer, duration, deposit);
        return (leaseId, price, duration, deposit);
    }

    /// @dev A top-up by anyone while the lease runs adds to the deposit and moves the end to the runway of
    /// the new deposit (never past `endsAt`); the tokens move into the market.
    function testFuzz_TopUp_ExtendsRunway(uint64 price, uint32 duration, uint256 deposit, uint256 amount, uint256 at)
        public
    {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        Lease memory l = market.lease(leaseId);
        uint256 endBefore = market.leaseEnd(leaseId);
        assertEq(endBefore, LeaseMath.runEnd(l.startedAt, l.endsAt, deposit, price), "runway end");
        assertLt(endBefore, l.endsAt);
        skip(_bound(at, 0, endBefore - l.startedAt - 1));
        amount = _bound(amount, 1, uint256(price) * duration);
        mintAndApprove(address(usdc), keeper, amount);
        uint256 balance = usdc.balanceOf(address(market));

        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseToppedUp(leaseId, amount, deposit + amount);
        vm.prank(keeper);
        market.topUp(leaseId, amount);

        Lease memory a = market.lease(leaseId);
        assertEq(a.deposit, deposit + amount, "deposit");
        assertEq(a.endsAt, l.endsAt, "endsAt unchanged");
        assertEq(a.settled, l.settled);
        assertEq(market.leaseEnd(leaseId), LeaseMath.runEnd(l.startedAt, l.endsAt, deposit + amount, price), "new end");
        assertGe(market.leaseEnd(leaseId), endBefore, "never shorter");
        assertEq(usdc.balanceOf(address(market)), balance + amount, "pulled");
        assertEq(usdc.balanceOf(keeper), 0);
    }

    /// @dev Topped up, the lease accrues past the old deposit: a receipt at the new end pays what ran.
    function testFuzz_TopUp_LetsMoreAccrue(uint64 price, uint32 duration, uint256 deposit, uint256 amount) public {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        amount = _bound(amount, 1, uint256(price) * duration);
        fundTenant(address(usdc), amount);
        vm.prank(tenant);
        market.topUp(leaseId, amount);
        vm.warp(market.leaseEnd(leaseId));
        Lease memory l = market.lease(leaseId);
        uint256 paid = settleAndCheck(tenantReceipt(leaseId, deposit + amount));
        assertEq(
            paid, min(deposit + amount, LeaseMath.accrued(l.startedAt, l.endsAt, price, block.timestamp)), "what ran"
        );
        if (deposit + amount >= uint256(price) * duration) assertEq(block.timestamp, l.endsAt);
    }

    /// @dev Once the runway ran out, a top-up is refused with the end it hit.
    function testFuzz_TopUp_RevertWhen_RunwayEnded(uint64 price, uint32 duration, uint256 deposit, uint256 late)
        public
    {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        uint256 end = market.leaseEnd(leaseId);
        vm.warp(end + _bound(late, 0, 30 days));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseEnded.selector, leaseId, end));
        vm.prank(tenant);
        market.topUp(leaseId, 1);
    }

    /// @dev After a fuzzed settlement, optional top-up and optional early close, finalizing at or after the
    /// deadline credits the tenant exactly deposit - settled and the protocol the fee on what was settled,
    /// releases the whole bond, frees the offer's slot, and moves no tokens.
    function testFuzz_Finalize_RefundsDepositMinusSettled(
        uint64 price,
        uint32 duration,
        uint256 deposit,
        uint256 cum,
        uint256 topUpAmount,
        uint256 late
    ) public {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        if (topUpAmount % 2 == 0) {
            topUpAmount = _bound(topUpAmount, 1, uint256(price) * duration);
            fundTenant(address(usdc), topUpAmount);
            vm.prank(tenant);
            market.topUp(leaseId, topUpAmount);
        } else {
            topUpAmount = 0;
        }
        if (late % 3 == 0) {
            vm.prank(tenant);
            market.closeLease(leaseId);
        }
        vm.warp(market.leaseEnd(leaseId));
        settleAndCheck(tenantReceipt(leaseId, _bound(cum, 0, deposit + topUpAmount)));

        Lease memory l = market.lease(leaseId);
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.warp(deadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, deadline)
        );
        market.finalizeLease(leaseId);

        vm.warp(deadline + _bound(late, 0, 365 days));
        Stake memory sBefore = market.stakeOf(provider, address(usdc));
        uint16 activeBefore = market.offer(l.offerId).activeLeases;
        uint256 balance = usdc.balanceOf(address(market));
        uint256 refund = uint256(l.deposit) - l.settled;
        uint256 fee = LeaseMath.fee(l.settled, feeBpsOf(l));
        uint256 feesBefore = market.feesOwed(address(usdc));
        assertEq(l.deposit, deposit + topUpAmount);

        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseFinalized(leaseId, refund, l.bond, fee);
        vm.prank(keeper);
        market.finalizeLease(leaseId);

        Lease memory a = market.lease(leaseId);
        assertEq(uint8(a.status), uint8(LeaseStatus.Finalized));
        assertEq(a.bond, 0);
        assertEq(a.settled, l.settled, "settled kept");
        assertEq(market.claimable(tenant, address(usdc)), refund, "refund == deposit - settled");
        assertEq(market.feesOwed(address(usdc)), feesBefore + fee, "fee on the settled total");
        Stake memory sAfter = market.stakeOf(provider, address(usdc));
        assertEq(sAfter.locked, sBefore.locked - l.bond, "bond released");
        assertEq(sAfter.staked, sBefore.staked, "stake kept");
        assertEq(market.offer(l.offerId).activeLeases, activeBefore - 1, "slot freed");
        assertEq(usdc.balanceOf(address(market)), balance, "no tokens move");

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        market.finalizeLease(leaseId);
    }

    /// @dev Bond at open == `LeaseMath.bond` (price * notice * bondBps / 10_000, never zero as every offer
    /// gives at least an hour's notice) for any bond bps, price and notice; it is locked out of free stake, and
    /// opening is refused with the exact shortfall when free stake is short.
    function testFuzz_Open_LocksBond(uint16 bondBps, uint64 price, uint32 notice, uint256 stakeShort) public {
        Params memory p = market.params();
        p.bondBps = uint16(_bound(bondBps, 1_000, 50_000));
        applyParams(p);
        price = uint64(_bound(price, 1, 1e9));
        notice = uint32(_bound(notice, 1 hours, 7 days));
        address prov = makeAddr("fresh provider");
        uint256 bond = LeaseMath.bond(price, notice, p.bondBps);
        assertGt(bond, 0, "every lease locks a bond");
        stakeShort = _bound(stakeShort, 0, bond);
        registerAndStake(prov, address(usdc), bond - stakeShort + 1);
        vm.prank(prov);
        uint256 offer =
            market.publishOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, notice, 1, bytes32(0), address(0));
        uint256 deposit = uint256(price) * MIN_DURATION;
        fundTenant(address(usdc), deposit);
        Stake memory before = market.stakeOf(prov, address(usdc));
        bytes32 termsHash = market.offerTermsHash(offer);

        if (stakeShort > 1) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector,
                    prov,
                    address(usdc),
                    bond - stakeShort + 1,
                    bond
                )
            );
            vm.prank(tenant);
            market.openLease(offer, MIN_DURATION, deposit, termsHash);
            return;
        }
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offer, MIN_DURATION, deposit, termsHash);
        assertEq(market.lease(leaseId).bond, bond, "bond");
        Stake memory a = market.stakeOf(prov, address(usdc));
        assertEq(a.locked, before.locked + bond, "locked");
        assertEq(a.staked, before.staked, "staked");
        assertEq(a.staked - a.locked, bond - stakeShort + 1 - bond, "free left");
    }

    /// @dev Finalizing refunds the unsettled escrow, so nothing of a finalized lease may be settled again. A
    /// longer settlement window governance schedules afterwards reaches new leases only: the finalized lease
    /// keeps its own window, settling it fails as `SettlementWindowClosed` and leaves every balance as it was,
    /// while a lease opened under the new version is still settleable at the same lateness.
    function testFuzz_Settle_NothingAfterFinalizeEvenIfWindowRaised(uint256 cum, uint32 newWindow) public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 refund = market.claimable(tenant, address(usdc));
        assertEq(refund, uint256(PRICE) * 10 hours, "whole deposit refunded");

        Params memory p = market.params();
        uint32 oldWindow = p.settlementWindow;
        p.settlementWindow = uint32(_bound(newWindow, oldWindow + 1, 7 days));
        applyAndAcceptParams(p); // the default offer's provider accepts it for new leases
        assertEq(market.leaseParams(leaseId).settlementWindow, oldWindow, "the lease keeps its window");
        cum = _bound(cum, 1, uint256(PRICE) * 10 hours);

        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 fees = market.feesOwed(address(usdc));
        SignedReceipt memory late = tenantReceipt(leaseId, cum);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, SettlementResult.SettlementWindowClosed
            )
        );
        market.settle(late);
        assertEq(market.lease(leaseId).settled, 0, "finalized lease settled");
        assertEq(market.claimable(provider, address(usdc)), providerClaimable, "provider paid from refunded escrow");
        assertEq(market.feesOwed(address(usdc)), fees, "fees from refunded escrow");
        // Everything the market owes is still backed by its balance.
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(
            usdc.balanceOf(address(market)),
            uint256(s.staked) + s.thawing + market.claimable(tenant, address(usdc))
                + market.claimable(provider, address(usdc)) + market.feesOwed(address(usdc)),
            "solvent"
        );

        // A lease of the new version, as late after its end as the finalized one was, still settles.
        uint256 newLease = openDefaultLease();
        assertEq(market.leaseParams(newLease).settlementWindow, p.settlementWindow, "new leases get the new window");
        vm.warp(market.leaseEnd(newLease) + oldWindow);
        assertEq(settleAndCheck(tenantReceipt(newLease, cum)), cum, "settled in the longer window");
    }
}
