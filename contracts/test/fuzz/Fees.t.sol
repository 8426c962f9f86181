// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {FuzzBase} from "./FuzzBase.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Fuzzes fee and slash-cut rounding for any basis points within the governance bounds: a
/// settlement keeps as fee the growth of `LeaseMath.fee` on the lease's settled total (rounded down), the
/// provider is credited the rest, the protocol is credited the fee on the whole settled total when the lease
/// is finalized, cut + compensation == slash, and no unit of a lease's money is lost or created over its life.
contract Fees_Fuzz_Test is FuzzBase {
    /// @dev One receipt at any fee within bounds: the provider is credited paid less the fee on it, which
    /// rounds down (fee * 10_000 <= paid * bps < (fee + 1) * 10_000) and stays in the lease; finalizing
    /// credits exactly that fee to the protocol.
    function testFuzz_Settle_FeeRoundsDownAndProviderGetsTheRest(uint16 feeBps, uint256 cumulative, uint256 elapsed)
        public
    {
        feeBps = uint16(_bound(feeBps, 0, 1_000));
        setFeeBps(feeBps);
        uint256 leaseId = openDefaultLease();
        Lease memory l = market.lease(leaseId);
        skip(_bound(elapsed, 1, 10 hours));
        cumulative = _bound(cumulative, 1, uint256(PRICE) * 10 hours);

        uint256 credit = market.claimable(provider, address(usdc));
        uint256 paid = settleAndCheck(tenantReceipt(leaseId, cumulative));
        credit = market.claimable(provider, address(usdc)) - credit;
        uint256 fee = paid - credit;

        assertEq(paid, min(cumulative, LeaseMath.accrued(l.startedAt, l.endsAt, PRICE, block.timestamp)), "paid");
        assertEq(fee, LeaseMath.fee(paid, feeBps), "fee");
        assertLe(fee * BPS, paid * feeBps, "fee rounds down");
        assertGt((fee + 1) * BPS, paid * feeBps, "by less than one unit");
        assertEq(market.feesOwed(address(usdc)), 0, "nothing owed before finalize");

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), fee, "the fee, credited at finalize");
        assertEq(credit + market.feesOwed(address(usdc)), paid, "credit + fee == paid");
    }

    /// @dev A fee above the bound is refused with the exact bounds.
    function testFuzz_ScheduleParams_RevertWhen_FeeAboveMax(uint16 feeBps) public {
        feeBps = uint16(_bound(feeBps, 1_001, type(uint16).max));
        Params memory p = market.params();
        p.protocolFeeBps = feeBps;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseParameterOutOfBounds.selector, Parameter.ProtocolFeeBps, feeBps, 0, 1_000
            )
        );
        vm.prank(admin);
        market.scheduleParams(p);
    }

    /// @dev A whole lease life at a fuzzed fee and price: several receipts, a top-up, finalize, then every
    /// party claims and the fees are collected. The per-settlement fees add up to exactly the fee on the
    /// settled total, which the treasury receives; what the provider, tenant and treasury receive adds up to
    /// exactly what the tenant paid in, and the market is left holding the provider's stake and nothing else.
    function testFuzz_Lifecycle_NoDustLost(uint16 feeBps, uint64 price, uint256 topUpAmount, uint256[3] memory cums)
        public
    {
        feeBps = uint16(_bound(feeBps, 0, 1_000));
        setFeeBps(feeBps);
        price = uint64(_bound(price, 1, 1e7));
        uint256 offer = fuzzOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        uint256 deposit = uint256(price) * 5 hours + _bound(cums[0], 0, price - 1); // a remainder below the price
        topUpAmount = _bound(topUpAmount, 1, uint256(price) * 5 hours);
        fundTenant(address(usdc), deposit + topUpAmount);
        uint256 tenantStart = usdc.balanceOf(tenant);
        uint256 marketStart = usdc.balanceOf(address(market));
        uint256 leaseId = openLease(tenant, offer, 10 hours, deposit);

        uint256 cumulative;
        uint256 feeSum;
        for (uint256 i; i < 3; ++i) {
            skip(2 hours);
            if (i == 1) {
                vm.prank(tenant);
                market.topUp(leaseId, topUpAmount);
            }
            cumulative += _bound(cums[i], 0, uint256(price) * 3 hours);
            uint256 credit = market.claimable(provider, address(usdc));
            uint256 paid = settleAndCheck(tenantReceipt(leaseId, cumulative));
            feeSum += paid - (market.claimable(provider, address(usdc)) - credit);
        }
        uint256 settled = market.lease(leaseId).settled;
        assertEq(feeSum, LeaseMath.fee(settled, feeBps), "fees == fee on the settled total");
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);

        uint256 providerGot = _claimAll(provider);
        uint256 tenantGot = _claimAll(tenant);
        uint256 treasuryGot = market.feesOwed(address(usdc)) > 0 ? market.collectFees(address(usdc)) : 0;

        assertEq(treasuryGot, feeSum, "treasury got the fees");
        assertEq(usdc.balanceOf(treasury), feeSum);
        assertEq(providerGot + treasuryGot, settled, "provider + treasury == settled");
        assertEq(tenantGot, deposit + topUpAmount - settled, "tenant refunded the rest");
        assertEq(providerGot + tenantGot + treasuryGot, deposit + topUpAmount, "no dust");
        assertEq(usdc.balanceOf(tenant), tenantStart - deposit - topUpAmount + tenantGot);
        assertEq(usdc.balanceOf(address(market)), marketStart, "market keeps only stake");
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(usdc.balanceOf(address(market)), uint256(s.staked) + s.thawing, "balance == stake");
        assertEq(s.locked, 0);
    }

    function _claimAll(address who) internal returns (uint256 amount) {
        if (market.claimable(who, address(usdc)) == 0) return 0;
        uint256 before = usdc.balanceOf(who);
        vm.prank(who);
        amount = market.claim(address(usdc), who);
        assertEq(usdc.balanceOf(who), before + amount);
        assertEq(market.claimable(who, address(usdc)), 0);
    }

    /// @dev Terminating without notice slashes the whole bond at any slash cut and bond size (never zero:
    /// every offer gives at least an hour's notice): the protocol takes bond * cutBps / 10_000 (rounded
    /// down), the tenant the rest, and the provider's stake and locked stake both drop by the bond.
    function testFuzz_Terminate_SlashCutRoundsDown(uint16 cutBps, uint16 bondBps, uint64 price, uint32 notice) public {
        Params memory p = market.params();
        p.slashCutBps = uint16(_bound(cutBps, 0, 2_000));
        p.bondBps = uint16(_bound(bondBps, 1_000, 50_000));
        applyParams(p);
        price = uint64(_bound(price, 1, 1e9));
        notice = uint32(_bound(notice, 1 hours, 1 days));
        uint256 offer = fuzzOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, notice, 1);
        uint256 deposit = uint256(price) * 2 hours;
        fundTenant(address(usdc), deposit);
        uint256 leaseId = openLease(tenant, offer, 2 hours, deposit);
        uint256 bond = market.lease(leaseId).bond;
        assertEq(bond, LeaseMath.bond(price, notice, p.bondBps), "bond");
        assertGt(bond, 0, "every lease locks a bond");
        skip(30 minutes);

        Stake memory sBefore = market.stakeOf(provider, address(usdc));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 fees = market.feesOwed(address(usdc));
        uint256 cut = bond * p.slashCutBps / BPS;
        vm.expectEmit(true, true, false, true, address(market));
        emit BondSlashed(leaseId, provider, SlashReason.EarlyTermination, bond, cut);
        vm.prank(provider);
        market.terminateLease(leaseId);

        Stake memory sAfter = market.stakeOf(provider, address(usdc));
        assertEq(sAfter.staked, sBefore.staked - bond, "staked");
        assertEq(sAfter.locked, sBefore.locked - bond, "locked");
        assertEq(market.lease(leaseId).bond, 0, "bond gone");
        assertEq(market.feesOwed(address(usdc)) - fees, cut, "cut");
        assertEq(market.claimable(tenant, address(usdc)) - tenantClaimable, bond - cut, "compensation");
        assertLe(cut * BPS, bond * p.slashCutBps);
        assertGt((cut + 1) * BPS, bond * p.slashCutBps);
    }

    /// @dev An upheld dispute at any slash within the arbiter's bound: slashed == bond * slashBps / 10_000,
    /// of which the protocol takes its cut; the tenant gets the rest plus its dispute bond back. Rejected
    /// (zero), the provider gets the dispute bond and nothing is slashed.
    function testFuzz_RuleDispute_SlashSplitsExactly(uint16 slashBps) public {
        Params memory p = market.params();
        slashBps = uint16(_bound(slashBps, 0, p.maxDisputeSlashBps));
        uint256 leaseId = openDefaultLease();
        uint256 bond = market.lease(leaseId).bond;
        uint256 tenantBond = bond * p.disputeBondBps / BPS;
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        assertEq(market.dispute(leaseId).tenantBond, tenantBond, "tenant bond");

        uint256 balance = usdc.balanceOf(address(market));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 fees = market.feesOwed(address(usdc));
        Stake memory sBefore = market.stakeOf(provider, address(usdc));
        vm.prank(arbiter);
        market.ruleDispute(leaseId, slashBps);

        uint256 slashed = bond * slashBps / BPS;
        uint256 cut = slashed * p.slashCutBps / BPS;
        bool upheld = slashBps > 0;
        assertEq(market.stakeOf(provider, address(usdc)).staked, sBefore.staked - slashed, "staked");
        assertEq(market.stakeOf(provider, address(usdc)).locked, sBefore.locked - slashed, "locked");
        assertEq(market.lease(leaseId).bond, bond - slashed, "bond left");
        assertEq(market.feesOwed(address(usdc)) - fees, cut, "cut");
        assertEq(
            market.claimable(tenant, address(usdc)) - tenantClaimable,
            (upheld ? tenantBond : 0) + slashed - cut,
            "tenant credit"
        );
        assertEq(market.claimable(provider, address(usdc)) - providerClaimable, upheld ? 0 : tenantBond, "provider");
        assertEq(usdc.balanceOf(address(market)), balance, "no tokens move");
        assertEq(uint8(market.dispute(leaseId).status), uint8(upheld ? DisputeStatus.Upheld : DisputeStatus.Rejected));
    }

    /// @dev However the amount is split into receipts, the provider is credited exactly the settled total
    /// less the fee on it (each settlement keeps the growth of the fee on the total, so no rounding adds
    /// up in anyone's favour), and finalizing credits exactly that fee to the protocol.
    function testFuzz_Settle_SplitReceiptsFeeEqualsFeeOnTotal(uint16 feeBps, uint256[5] memory steps) public {
        feeBps = uint16(_bound(feeBps, 1, 1_000));
        setFeeBps(feeBps);
        uint256 marketBefore = IERC20(address(usdc)).balanceOf(address(market));
        uint256 leaseId = openDefaultLease();
        skip(10 hours);
        uint256 cumulative;
        for (uint256 i; i < 5; ++i) {
            cumulative += _bound(steps[i], 1, uint256(PRICE) * 2 hours);
            settleAndCheck(tenantReceipt(leaseId, cumulative));
        }
        uint256 settled = market.lease(leaseId).settled;
        uint256 fee = LeaseMath.fee(settled, feeBps);
        assertEq(market.claimable(provider, address(usdc)), settled - fee, "credit == settled - fee on total");
        assertEq(market.feesOwed(address(usdc)), 0, "nothing owed before finalize");
        assertEq(IERC20(address(usdc)).balanceOf(address(market)), marketBefore + uint256(PRICE) * 10 hours);

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseFinalized(leaseId, uint256(PRICE) * 10 hours - settled, market.lease(leaseId).bond, fee);
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), fee, "fee on total");
        assertEq(market.claimable(provider, address(usdc)) + market.feesOwed(address(usdc)), settled, "no dust");
    }
}
