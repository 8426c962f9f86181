// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FuzzBase} from "./FuzzBase.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";

/// @notice Fuzzes the escrow's life after opening: top-ups extend the runway to min(endsAt, startedAt +
/// deposit / price) and let more accrue, and finalizing refunds exactly deposit - settled and releases the bond.
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

    /// @dev A top-up by anyone while the lease runs adds to the deposit and moves the end to
    /// min(endsAt, startedAt + (deposit + amount) / price); the tokens move into the market.
    function testFuzz_TopUp_ExtendsRunway(uint64 price, uint32 duration, uint256 deposit, uint256 amount, uint256 at)
        public
    {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        Lease memory l = market.lease(leaseId);
        uint256 endBefore = market.leaseEnd(leaseId);
        assertEq(endBefore, l.startedAt + deposit / price, "runway end");
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
        assertEq(market.leaseEnd(leaseId), min(l.endsAt, l.startedAt + (deposit + amount) / price), "new end");
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
        assertEq(paid, min(deposit + amount, (block.timestamp - l.startedAt) * price), "what ran");
        if (deposit + amount >= uint256(price) * duration) assertEq(block.timestamp, l.endsAt);
    }

    /// @dev Once the runway ran out, a top-up is refused with the end it hit.
    function testFuzz_TopUp_RevertWhen_RunwayEnded(uint64 price, uint32 duration, uint256 deposit, uint256 late) public {
        uint256 leaseId;
        (leaseId, price, duration, deposit) = _shortRunwayLease(price, duration, deposit);
        uint256 end = market.leaseEnd(leaseId);
        vm.warp(end + _bound(late, 0, 30 days));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseEnded.selector, leaseId, end));
        vm.prank(tenant);
        market.topUp(leaseId, 1);
    }

    /// @dev After a fuzzed settlement, optional top-up and optional early close, finalizing at or after the
    /// deadline credits the tenant exactly deposit - settled, releases the whole bond, frees the offer's slot,
    /// and moves no tokens.
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
        assertEq(l.deposit, deposit + topUpAmount);

        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseFinalized(leaseId, refund, l.bond);
        vm.prank(keeper);
        market.finalizeLease(leaseId);

        Lease memory a = market.lease(leaseId);
        assertEq(uint8(a.status), uint8(LeaseStatus.Finalized));
        assertEq(a.bond, 0);
        assertEq(a.settled, l.settled, "settled kept");
        assertEq(market.claimable(tenant, address(usdc)), refund, "refund == deposit - settled");
        Stake memory sAfter = market.stakeOf(provider, address(usdc));
        assertEq(sAfter.locked, sBefore.locked - l.bond, "bond released");
        assertEq(sAfter.staked, sBefore.staked, "stake kept");
        assertEq(market.offer(l.offerId).activeLeases, activeBefore - 1, "slot freed");
        assertEq(usdc.balanceOf(address(market)), balance, "no tokens move");

        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        market.finalizeLease(leaseId);
    }

    /// @dev Bond at open == price * notice * bondBps / 10_000 for any bond bps, price and notice; it is
    /// locked out of free stake, and opening is refused with the exact shortfall when free stake is short.
    function testFuzz_Open_LocksBond(uint16 bondBps, uint64 price, uint32 notice, uint256 stakeShort) public {
        Params memory p = market.params();
        p.bondBps = uint16(_bound(bondBps, 1_000, 50_000));
        vm.prank(admin);
        market.setParams(p);
        price = uint64(_bound(price, 1, 1e9));
        notice = uint32(_bound(notice, 0, 7 days));
        address prov = makeAddr("fresh provider");
        uint256 bond = uint256(price) * notice * p.bondBps / BPS;
        stakeShort = bond == 0 ? 0 : _bound(stakeShort, 0, bond);
        registerAndStake(prov, address(usdc), bond - stakeShort + 1);
        vm.prank(prov);
        uint256 offer = market.publishOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, notice, 1);
        uint256 deposit = uint256(price) * MIN_DURATION;
        fundTenant(address(usdc), deposit);
        Stake memory before = market.stakeOf(prov, address(usdc));

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
            market.openLease(offer, MIN_DURATION, deposit, price);
            return;
        }
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offer, MIN_DURATION, deposit, price);
        assertEq(market.lease(leaseId).bond, bond, "bond");
        Stake memory a = market.stakeOf(prov, address(usdc));
        assertEq(a.locked, before.locked + bond, "locked");
        assertEq(a.staked, before.staked, "staked");
        assertEq(a.staked - a.locked, bond - stakeShort + 1 - bond, "free left");
    }

    /// @dev Finalizing refunds the unsettled escrow, so nothing of a finalized lease may be settled again, even if
    /// governance later lengthens the settlement window so that "now" falls back inside it. Settling must fail
    /// and leave every balance as it was, or the market would pay the provider escrow it already refunded.
    function testFuzz_Settle_NothingAfterFinalizeEvenIfWindowRaised(uint256 cum, uint32 newWindow) public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 refund = market.claimable(tenant, address(usdc));
        assertEq(refund, uint256(PRICE) * 10 hours, "whole deposit refunded");

        Params memory p = market.params();
        p.settlementWindow = uint32(_bound(newWindow, p.settlementWindow + 1, 7 days));
        vm.prank(admin);
        market.setParams(p);
        cum = _bound(cum, 1, uint256(PRICE) * 10 hours);

        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 fees = market.feesOwed(address(usdc));
        try market.settle(tenantReceipt(leaseId, cum)) returns (uint256 paid) {
            emit log_named_uint("paid out of a finalized lease", paid);
        } catch {}
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
    }
}
