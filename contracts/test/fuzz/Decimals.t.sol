// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FuzzBase} from "./FuzzBase.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Fuzzes 6- and 18-decimal stablecoins: a DAI offer at realistic 18-decimal prices runs a whole lease
/// with exact amounts in uint64 prices and uint88 escrows, the same lease in USDC and in DAI pays, refunds and
/// bonds exactly 1e12 times as much, and escrows past uint88 are refused rather than truncated.
contract Decimals_Fuzz_Test is FuzzBase {
    uint256 internal constant SCALE = 1e12; // 18 - 6 decimals

    /// @dev $0.0036 to $360 an hour in DAI wei per second; both ends fit uint64.
    function _boundDaiPrice(uint64 price) internal pure returns (uint64) {
        return uint64(_bound(price, 1e12, 1e17));
    }

    /// @dev A DAI lease, settled at a fuzzed time and amount, finalized and claimed: every amount is exact at
    /// 18 decimals (the protocol's fee on the settled total is credited at finalize) and the DAI held by the
    /// market afterwards is the provider's stake alone.
    function testFuzz_Dai_LeaseLifecycleExact(
        uint64 price,
        uint32 duration,
        uint256 deposit,
        uint256 elapsed,
        uint256 cum
    ) public {
        price = _boundDaiPrice(price);
        duration = uint32(_bound(duration, MIN_DURATION, MAX_DURATION));
        deposit = _bound(deposit, uint256(price) * MIN_DURATION, uint256(price) * duration * 2);
        assertLe(deposit, type(uint88).max, "deposit fits uint88");
        uint256 offer = fuzzOffer(address(dai), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        fundTenant(address(dai), deposit);
        uint256 marketBefore = dai.balanceOf(address(market));
        uint256 leaseId = openLease(tenant, offer, duration, deposit);
        Lease memory l = market.lease(leaseId);
        assertEq(l.bond, LeaseMath.bond(price, NOTICE, market.leaseParams(leaseId).bondBps), "bond");
        assertEq(dai.balanceOf(address(market)), marketBefore + deposit, "escrowed");

        skip(_bound(elapsed, 1, market.leaseEnd(leaseId) - l.startedAt));
        uint256 paid = settleAndCheck(tenantReceipt(leaseId, _bound(cum, 1, deposit)));
        uint256 fee = LeaseMath.fee(paid, feeBpsOf(l));
        assertEq(market.feesOwed(address(dai)), 0, "no fee before finalize");

        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(true, false, false, true, address(market));
        emit LeaseFinalized(leaseId, deposit - paid, l.bond, fee);
        market.finalizeLease(leaseId);

        assertEq(market.claimable(tenant, address(dai)), deposit - paid, "refund");
        assertEq(market.claimable(provider, address(dai)), paid - fee, "earnings");
        assertEq(market.feesOwed(address(dai)), fee, "fee");
        assertEq(market.stakeOf(provider, address(dai)).locked, 0, "bond released");
        if (deposit > paid) {
            vm.prank(tenant);
            market.claim(address(dai), tenant);
        }
        if (paid - fee > 0) {
            vm.prank(provider);
            market.claim(address(dai), provider);
        }
        if (fee > 0) market.collectFees(address(dai));
        assertEq(dai.balanceOf(address(market)), marketBefore, "only stake left");
    }

    /// @dev The same lease in USDC at `price` and in DAI at `price * 1e12`, settled with the same receipt
    /// (scaled): bond, paid and refund scale exactly; the DAI fee (credited at finalize) is the USDC fee
    /// scaled up to the rounding the extra decimals resolve.
    function testFuzz_SixVsEighteenDecimals_ScaleExactly(uint64 price, uint256 elapsed, uint256 cum, uint16 feeBps)
        public
    {
        price = uint64(_bound(price, 1, 1e5)); // up to 0.1 USDC a second; DAI price <= 1e17 fits uint64
        feeBps = uint16(_bound(feeBps, 0, 1_000));
        setFeeBps(feeBps);
        uint64 daiPrice = uint64(uint256(price) * SCALE);
        uint256 usdcOffer = fuzzOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        uint256 daiOffer = fuzzOffer(address(dai), daiPrice, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        uint256 deposit = uint256(price) * 10 hours;
        fundTenant(address(usdc), deposit);
        fundTenant(address(dai), deposit * SCALE);
        uint256 usdcLease = openLease(tenant, usdcOffer, 10 hours, deposit);
        uint256 daiLease = openLease(tenant, daiOffer, 10 hours, deposit * SCALE);
        assertEq(market.lease(daiLease).bond, uint256(market.lease(usdcLease).bond) * SCALE, "bond scales");
        assertEq(market.leaseEnd(daiLease), market.leaseEnd(usdcLease), "same runway");

        skip(_bound(elapsed, 1, 10 hours));
        cum = _bound(cum, 1, deposit);
        uint256 paidUsdc = settleAndCheck(tenantReceipt(usdcLease, cum));
        uint256 paidDai = settleAndCheck(tenantReceipt(daiLease, cum * SCALE));
        assertEq(paidDai, paidUsdc * SCALE, "paid scales");

        vm.warp(market.settlementDeadline(usdcLease));
        market.finalizeLease(usdcLease);
        market.finalizeLease(daiLease);
        uint256 feeUsdc = market.feesOwed(address(usdc));
        uint256 feeDai = market.feesOwed(address(dai));
        assertGe(feeDai, feeUsdc * SCALE, "DAI fee >= scaled USDC fee");
        assertLt(feeDai, (feeUsdc + 1) * SCALE, "by less than one USDC unit");
        assertEq(feeUsdc, LeaseMath.fee(paidUsdc, feeBps), "USDC fee exact");
        assertEq(feeDai, LeaseMath.fee(paidDai, feeBps), "DAI fee exact");
        assertEq(market.claimable(tenant, address(dai)), market.claimable(tenant, address(usdc)) * SCALE, "refund");
    }

    /// @dev A DAI deposit past the escrow's uint88 is refused with the exact amount rather than truncated.
    function testFuzz_Dai_RevertWhen_DepositAboveUint88(uint256 deposit) public {
        deposit = _bound(deposit, uint256(type(uint88).max) + 1, uint256(type(uint88).max) * 4);
        uint256 offer = fuzzOffer(address(dai), 1e15, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        fundTenant(address(dai), deposit);
        bytes32 termsHash = market.offerTermsHash(offer);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAmountTooLarge.selector, deposit, type(uint88).max)
        );
        vm.prank(tenant);
        market.openLease(offer, 1 days, deposit, termsHash);
    }

    /// @dev A DAI top-up taking the deposit past the escrow's uint88 is refused with the exact total.
    function testFuzz_Dai_RevertWhen_TopUpAboveUint88(uint256 deposit, uint256 amount) public {
        uint64 price = 1e15;
        deposit = _bound(deposit, uint256(price) * 1 days, uint256(type(uint88).max));
        amount = _bound(amount, uint256(type(uint88).max) - deposit + 1, uint256(type(uint88).max));
        uint256 offer = fuzzOffer(address(dai), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        fundTenant(address(dai), deposit + amount);
        uint256 leaseId = openLease(tenant, offer, 1 days, deposit);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseAmountTooLarge.selector, deposit + amount, type(uint88).max
            )
        );
        vm.prank(tenant);
        market.topUp(leaseId, amount);
    }
}
