// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockContractWallet} from "../mocks/MockContractWallet.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice A hostile ERC-1271 tenant wallet whose `isValidSignature` calls back into the market during
/// settlement: the reentrant settle hits the reentrancy guard, state changes are impossible inside the
/// staticcall, and the receipt pays exactly once.
contract HostileWalletReentrancy_Adversarial_Test is AdversarialBase {
    MockContractWallet internal wallet;
    address internal walletOwner;
    uint256 internal walletOwnerKey;
    uint256 internal leaseId;
    uint256 internal amount = uint256(PRICE) * 1 hours;

    function setUp() public override {
        super.setUp();
        (walletOwner, walletOwnerKey) = makeAddrAndKey("walletOwner");
        wallet = new MockContractWallet(walletOwner);
        usdc.mint(address(wallet), 1_000_000e6);
        vm.startPrank(walletOwner);
        wallet.execute(address(usdc), abi.encodeCall(usdc.approve, (address(market), type(uint256).max)));
        bytes memory ret = wallet.execute(
            address(market),
            abi.encodeCall(
                market.openLease, (offerId, 10 hours, uint256(PRICE) * 10 hours, market.offerTermsHash(offerId))
            )
        );
        vm.stopPrank();
        leaseId = abi.decode(ret, (uint256));
        skip(2 hours);
    }

    function walletReceipt(uint256 cumulativeAmount) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(walletOwnerKey, address(wallet), receipt(leaseId, cumulativeAmount));
    }

    function arm(MockContractWallet.Mode mode, address target, bytes memory data) internal {
        vm.startPrank(walletOwner);
        wallet.setMode(mode);
        wallet.setReentry(target, data);
        vm.stopPrank();
    }

    function test_ReentrantSettleFromIsValidSignatureHitsTheGuard() public {
        SignedReceipt memory item = walletReceipt(amount);
        bytes memory reenter = abi.encodeCall(market.settle, (item));
        // The wallet accepts the signature only if its reentrant settle reverted with the guard's error.
        arm(MockContractWallet.Mode.ReenterExpectGuard, address(market), reenter);
        uint256 marketBefore = usdc.balanceOf(address(market));

        // This settle and the replay below, each with its reentrant twin from isValidSignature.
        vm.expectCall(address(market), reenter, 4);
        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, address(wallet), amount, amount, feeOf(amount), amount);
        uint256 paid = market.settle(item);

        assertEq(paid, amount, "paid");
        assertEq(market.lease(leaseId).settled, amount, "settled once");
        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "provider paid once");
        assertEq(usdc.balanceOf(address(market)), marketBefore, "no tokens moved");

        expectSettlementFailed(leaseId, SettlementResult.AlreadySettled);
        market.settle(item);

        // The fee was kept once: finalizing credits the fee on the one settlement.
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), feeOf(amount), "fee taken once");
    }

    function test_ReentrantSettleBatchOfALargerReceiptPaysNothingExtra() public {
        SignedReceipt memory item = walletReceipt(amount / 2);
        SignedReceipt memory larger = walletReceipt(amount);
        arm(
            MockContractWallet.Mode.ReenterExpectGuard,
            address(market),
            abi.encodeCall(market.settleBatch, (one(larger)))
        );

        assertEq(market.settle(item), amount / 2, "paid");
        assertEq(market.lease(leaseId).settled, amount / 2, "only the outer receipt settled");
        assertEq(market.claimable(provider, address(usdc)), amount / 2 - feeOf(amount / 2), "claimable");
    }

    function test_StateChangeFromIsValidSignatureIsDropped() public {
        // closeLease has no reentrancy guard; inside the staticcall it still cannot change anything.
        arm(MockContractWallet.Mode.Reenter, address(market), abi.encodeCall(market.closeLease, (leaseId)));
        uint32 endsAtBefore = market.lease(leaseId).endsAt;

        // The wallet calls closeLease as itself, the tenant: it would pass every check outside a staticcall.
        assertEq(market.settle(walletReceipt(amount)), amount, "paid");
        assertEq(market.lease(leaseId).endsAt, endsAtBefore, "lease not closed");
    }

    function test_RevertWhen_ReentryFailsForAnotherReason() public {
        // Control for the guard test: a reentrant call that fails otherwise (a static-context violation)
        // makes the wallet refuse, so a settled receipt above really proves the guard fired.
        arm(MockContractWallet.Mode.ReenterExpectGuard, address(market), abi.encodeCall(market.closeLease, (leaseId)));
        SignedReceipt memory item = walletReceipt(amount);

        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.lease(leaseId).settled, 0, "settled");
    }
}
