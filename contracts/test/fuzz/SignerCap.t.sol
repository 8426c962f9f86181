// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FuzzBase} from "./FuzzBase.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice Fuzzes the session signer's cap: one cap bounds what the signer attests across all the tenant's
/// leases (spent == Σ paid on its receipts <= cap), and re-authorizing never lets it attest more than its cap.
contract SignerCap_Fuzz_Test is FuzzBase {
    address internal capped;
    uint256 internal cappedKey;

    function setUp() public override {
        super.setUp();
        (capped, cappedKey) = makeAddrAndKey("capped");
    }

    /// @dev Two fully accrued leases, receipts of fuzzed amounts on each: the first pays min(cumA, cap),
    /// the second min(cumB, cap - paidA) (nothing, with SignerCapReached, once the cap is used up), as
    /// `LeaseMath.payable_` has it.
    function testFuzz_Settle_CapSharedAcrossLeases(uint256 cap, uint256 cumA, uint256 cumB) public {
        uint256 full = uint256(PRICE) * 10 hours;
        cap = _bound(cap, 1, full * 2);
        cumA = _bound(cumA, 1, full);
        cumB = _bound(cumB, 1, full);
        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(cap), uint40(block.timestamp + 30 days));
        uint256 a = openDefaultLease();
        uint256 b = openDefaultLease();
        skip(10 hours);

        uint256 paidA = settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(a, cumA)));
        uint256 paidB = settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(b, cumB)));

        // Fully accrued and funded, so what caps each receipt is its amount and the cap left.
        (, uint256 expectedA) = LeaseMath.payable_(0, full, full, cumA, cap);
        assertEq(paidA, expectedA, "paid A");
        (, uint256 expectedB) = LeaseMath.payable_(0, full, full, cumB, cap - paidA); // nothing once the cap is used up
        assertEq(paidB, expectedB, "paid B");
        SessionSigner memory s = market.sessionSigner(tenant, capped, provider);
        assertEq(s.spent, paidA + paidB, "spent");
        assertLe(s.spent, s.cap, "spent <= cap");
        assertEq(market.lease(a).settled, paidA);
        assertEq(market.lease(b).settled, paidB);
    }

    /// @dev Raising the cap after it was reached lets the signer attest exactly the difference more; what
    /// was spent is kept.
    function testFuzz_Settle_ReauthorizeRaisesCapKeepsSpent(uint256 cap, uint256 raise, uint256 cum) public {
        uint256 full = uint256(PRICE) * 10 hours;
        cap = _bound(cap, 1, full - 1);
        raise = _bound(raise, 1, full);
        cum = _bound(cum, cap + 1, full);
        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(cap), uint40(block.timestamp + 30 days));
        uint256 leaseId = openDefaultLease();
        skip(10 hours);

        assertEq(settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(leaseId, cum))), cap, "capped at cap");
        settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(leaseId, cum))); // SignerCapReached

        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(cap + raise), uint40(block.timestamp + 30 days));
        assertEq(market.sessionSigner(tenant, capped, provider).spent, cap, "spent kept");
        uint256 paid = settleAndCheck(signedReceiptBy(cappedKey, capped, receipt(leaseId, cum)));
        (, uint256 expected) = LeaseMath.payable_(cap, full, full, cum, raise);
        assertEq(paid, expected, "paid the raise at most");
        assertLe(market.sessionSigner(tenant, capped, provider).spent, cap + raise);
    }

    /// @dev A tenant can never lower a signer's cap (that would void receipts for delivered service):
    /// the attempt reverts, whatever was spent. A signer that used up its cap fails as any other bad
    /// receipt does: `settle` with `SignerCapReached`, and `settleBatch` skips the item and still settles
    /// the others (a batch is documented to skip bad items, never revert on them).
    function testFuzz_SettleBatch_SkipsSignerReauthorizedBelowSpent(uint256 spent, uint256 newCap) public {
        uint256 full = uint256(PRICE) * 10 hours;
        spent = _bound(spent, 2, full / 2);
        newCap = _bound(newCap, 1, spent - 1);
        vm.prank(tenant);
        market.authorizeSigner(capped, provider, uint96(spent), uint40(block.timestamp + 30 days));
        uint256 leaseId = openDefaultLease();
        uint256 other = openDefaultLease();
        skip(10 hours);
        market.settle(signedReceiptBy(cappedKey, capped, receipt(leaseId, spent)));
        vm.prank(tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseCapDecrease.selector, capped, provider, spent, newCap)
        );
        market.authorizeSigner(capped, provider, uint96(newCap), uint40(block.timestamp + 30 days));

        SignedReceipt memory bad = signedReceiptBy(cappedKey, capped, receipt(leaseId, full));
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, SettlementResult.SignerCapReached
            )
        );
        market.settle(bad);

        SignedReceipt[] memory batch = new SignedReceipt[](2);
        batch[0] = bad;
        batch[1] = tenantReceipt(other, full);
        SettlementResult[] memory results = market.settleBatch(batch);
        assertEq(uint8(results[0]), uint8(SettlementResult.SignerCapReached), "bad item skipped");
        assertEq(uint8(results[1]), uint8(SettlementResult.Settled), "good item settled");
        assertEq(market.lease(leaseId).settled, spent, "bad lease unchanged");
        assertEq(market.lease(other).settled, full, "other lease settled");
    }
}
