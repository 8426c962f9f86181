// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FuzzBase} from "./FuzzBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Fuzzes what `settle` pays against elapsed time, deposit, the receipt's cumulative amount and the
/// signer's cap: exactly min(cumulative, price * elapsed, deposit) - settled, capped by cap - spent, never more;
/// and sequences of receipts, whose settled total only grows and never exceeds the lease's terms.
contract SettleAmounts_Fuzz_Test is FuzzBase {
    address internal capped;
    uint256 internal cappedKey;

    function setUp() public override {
        super.setUp();
        (capped, cappedKey) = makeAddrAndKey("capped");
    }

    function _openFuzzedLease(uint64 price, uint32 duration, uint256 deposit) internal returns (uint256 leaseId) {
        uint256 offer = fuzzOffer(address(usdc), price, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        fundTenant(address(usdc), deposit);
        leaseId = openLease(tenant, offer, duration, deposit);
    }

    function _boundTerms(uint64 price, uint32 duration, uint256 deposit)
        internal
        pure
        returns (uint64, uint32, uint256)
    {
        price = uint64(_bound(price, 1, 1e9));
        duration = uint32(_bound(duration, MIN_DURATION, MAX_DURATION));
        // From the minimum the offer requires to twice what the whole duration costs: the runway may end first.
        deposit = _bound(deposit, uint256(price) * MIN_DURATION, uint256(price) * duration * 2);
        return (price, duration, deposit);
    }

    /// @dev One receipt by the tenant itself (no cap) at a fuzzed time, then one by a capped session
    /// signer at a later fuzzed time (up to past the settlement window): each pays exactly what the rules
    /// say, or reverts with the reason they give.
    function testFuzz_Settle_PaysMinOfCumulativeAccruedDepositAndCap(
        uint64 price,
        uint32 duration,
        uint256 deposit,
        uint256 cap,
        uint256[4] memory seeds
    ) public {
        (price, duration, deposit) = _boundTerms(price, duration, deposit);
        uint256 leaseId = _openFuzzedLease(price, duration, deposit);
        cap = _bound(cap, 1, deposit * 2);
        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(cap), uint40(block.timestamp + 365 days));

        skip(_bound(seeds[0], 0, duration));
        settleAndCheck(tenantReceipt(leaseId, _bound(seeds[1], 0, deposit)));

        skip(_bound(seeds[2], 0, uint256(duration) + 2 days));
        _settleCappedAndCheck(leaseId, _bound(seeds[3], 0, deposit * 2), cap);
    }

    function _settleCappedAndCheck(uint256 leaseId, uint256 cumulative, uint256 cap) internal {
        uint256 settledBefore = market.lease(leaseId).settled;
        uint256 paid = settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(leaseId, cumulative)));
        Lease memory l = market.lease(leaseId);
        assertEq(l.settled, settledBefore + paid);
        assertLe(l.settled, l.deposit, "settled <= deposit");
        assertLe(l.settled, modelAccrued(l), "settled <= price * elapsed");
        assertLe(paid, cap, "paid <= cap");
        assertLe(l.settled, cumulative > settledBefore ? cumulative : settledBefore, "settled <= cumulative");
    }

    /// @dev A run of receipts with non-decreasing cumulative amounts from the tenant and a capped signer,
    /// at fuzzed times: the settled total never decreases, equals the sum paid, and never exceeds the
    /// deposit, what accrued, or the largest cumulative amount attested.
    function testFuzz_Settle_IncreasingReceipts(
        uint64 price,
        uint32 duration,
        uint256 deposit,
        uint256 cap,
        uint256 seed
    ) public {
        (price, duration, deposit) = _boundTerms(price, duration, deposit);
        uint256 leaseId = _openFuzzedLease(price, duration, deposit);
        cap = _bound(cap, 1, deposit);
        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(cap), uint40(block.timestamp + 365 days));

        for (uint256 i; i < 8; ++i) {
            _step(leaseId, uint256(keccak256(abi.encode(seed, i))), uint256(price) * duration);
        }
        assertEq(market.sessionSigner(tenant, capped, provider).spent, cappedPaid, "spent == paid on its receipts");
        assertLe(cappedPaid, cap, "signer within cap");
    }

    uint256 internal cumulativeSoFar;
    uint256 internal totalPaid;
    uint256 internal lastSettled;
    uint256 internal cappedPaid;

    function _step(uint256 leaseId, uint256 r, uint256 fullCost) internal {
        skip(_bound(r, 0, fullCost / market.lease(leaseId).pricePerSecond / 4));
        // Mostly increasing, sometimes a replay of the last amount.
        cumulativeSoFar += _bound(r >> 64, 0, fullCost / 3);
        bool byCapped = (r >> 128) % 2 == 0;
        SignedReceipt memory sr = byCapped
            ? signedReceiptBy(cappedKey, capped, receipt(leaseId, cumulativeSoFar))
            : tenantReceipt(leaseId, cumulativeSoFar);
        uint256 paid = settleAndCheck(sr);
        if (byCapped) cappedPaid += paid;
        totalPaid += paid;

        Lease memory l = market.lease(leaseId);
        assertGe(l.settled, lastSettled, "settled decreased");
        lastSettled = l.settled;
        assertEq(l.settled, totalPaid, "settled == sum paid");
        assertLe(l.settled, l.deposit, "settled <= deposit");
        assertLe(l.settled, modelAccrued(l), "settled <= accrued");
        assertLe(l.settled, cumulativeSoFar, "settled <= cumulative");
    }

    /// @dev Once the lease has stopped running, a receipt for more than everything settles the escrow to
    /// exactly what `LeaseMath.payable_` allows, min(deposit, what accrued until now or `endsAt`): at least what the
    /// lease ran, and a second receipt pays nothing more.
    function testFuzz_Settle_FullReceiptAfterEndPaysExactlyWhatRan(
        uint64 price,
        uint32 duration,
        uint256 deposit,
        uint256 after_
    ) public {
        (price, duration, deposit) = _boundTerms(price, duration, deposit);
        uint256 leaseId = _openFuzzedLease(price, duration, deposit);
        Lease memory l = market.lease(leaseId);
        uint256 end = market.leaseEnd(leaseId);
        assertEq(end, modelLeaseEnd(l), "leaseEnd");
        // Somewhere after the end, inside the settlement window.
        vm.warp(end + _bound(after_, 0, market.leaseParams(leaseId).settlementWindow - 1));

        uint256 paid = settleAndCheck(tenantReceipt(leaseId, type(uint96).max));
        (, uint256 expected) = LeaseMath.payable_(
            0,
            deposit,
            LeaseMath.accrued(l.startedAt, l.endsAt, price, block.timestamp),
            type(uint96).max,
            type(uint256).max
        );
        assertEq(paid, expected, "paid");
        assertGe(paid, uint256(price) * (end - l.startedAt), "at least what ran");
        assertEq(market.lease(leaseId).settled, paid);
        // Nothing more, whatever the receipt says.
        settleAndCheck(tenantReceipt(leaseId, type(uint256).max));
        assertEq(market.lease(leaseId).settled, paid);
    }
}
