// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockContractWallet} from "../mocks/MockContractWallet.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice A hostile ERC-1271 tenant wallet whose `isValidSignature` would call back into the market
/// during settlement. Settlement checks every signature by ECDSA alone, so it never calls a tenant wallet:
/// there is no callback to reenter through. The wallet's own receipts are refused, its session signer's
/// receipts pay exactly once, and nothing the wallet armed runs.
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
        wallet.execute(
            address(market),
            abi.encodeCall(market.authorizeSigner, (signer, provider, SIGNER_CAP, uint40(block.timestamp + 1 days)))
        );
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

    /// @dev For the rest of the test: the wallet's `isValidSignature` is never called.
    function expectWalletNeverCalled() internal {
        vm.expectCall(address(wallet), abi.encodeWithSelector(MockContractWallet.isValidSignature.selector), 0);
    }

    /// @dev The armed wallet would reenter `settle` from `isValidSignature`; the market never calls it. Its
    /// own receipt is refused, and the session signer's receipt for the same service pays once.
    function test_IsValidSignatureIsNeverCalled() public {
        SignedReceipt memory item = walletReceipt(amount);
        bytes memory reenter = abi.encodeCall(market.settle, (signedReceipt(leaseId, amount)));
        arm(MockContractWallet.Mode.Reenter, address(market), reenter);
        uint256 marketBefore = usdc.balanceOf(address(market));

        expectWalletNeverCalled();
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, signer, amount, amount, feeOf(amount), amount);
        uint256 paid = market.settle(signedReceipt(leaseId, amount));

        assertEq(paid, amount, "paid");
        assertEq(market.lease(leaseId).settled, amount, "settled once");
        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "provider paid once");
        assertEq(usdc.balanceOf(address(market)), marketBefore, "no tokens moved");

        SignedReceipt memory replay = signedReceipt(leaseId, amount);
        expectSettlementFailed(leaseId, SettlementResult.AlreadySettled);
        market.settle(replay);

        // The fee was kept once: finalizing credits the fee on the one settlement.
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), feeOf(amount), "fee taken once");
    }

    /// @dev In a batch the wallet's receipt is skipped without a call to the wallet; the armed reentrant
    /// batch of a larger receipt never runs.
    function test_ReentrantSettleBatchOfALargerReceiptNeverRuns() public {
        SignedReceipt memory larger = signedReceipt(leaseId, amount);
        arm(MockContractWallet.Mode.Reenter, address(market), abi.encodeCall(market.settleBatch, (one(larger))));
        SignedReceipt[] memory batch = new SignedReceipt[](2);
        batch[0] = walletReceipt(amount);
        batch[1] = signedReceipt(leaseId, amount / 2);

        expectWalletNeverCalled();
        SettlementResult[] memory results = market.settleBatch(batch);
        assertEq(uint8(results[0]), uint8(SettlementResult.InvalidSignature), "the wallet's own receipt");
        assertEq(uint8(results[1]), uint8(SettlementResult.Settled), "the session signer's");
        assertEq(market.lease(leaseId).settled, amount / 2, "only the outer session receipt settled");
        assertEq(market.claimable(provider, address(usdc)), amount / 2 - feeOf(amount / 2), "claimable");
    }

    function test_StateChangeFromIsValidSignatureNeverHappens() public {
        // closeLease has no reentrancy guard: the wallet, the tenant, would pass its checks. It never runs.
        arm(MockContractWallet.Mode.Reenter, address(market), abi.encodeCall(market.closeLease, (leaseId)));
        uint32 endsAtBefore = market.lease(leaseId).endsAt;

        SignedReceipt memory item = walletReceipt(amount);
        expectWalletNeverCalled();
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.settle(signedReceipt(leaseId, amount)), amount, "paid");
        assertEq(market.lease(leaseId).endsAt, endsAtBefore, "lease not closed");
    }

    function test_RevertWhen_ReentryWouldFailForAnotherReason() public {
        // Control: whatever the wallet is armed with, its own receipt is refused the same way.
        arm(MockContractWallet.Mode.ReenterExpectGuard, address(market), abi.encodeCall(market.closeLease, (leaseId)));
        SignedReceipt memory item = walletReceipt(amount);

        expectWalletNeverCalled();
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.lease(leaseId).settled, 0, "settled");
    }
}
