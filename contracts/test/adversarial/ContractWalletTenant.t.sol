// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockContractWallet} from "../mocks/MockContractWallet.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice ERC-1271 contract-wallet tenants: a wallet that opens a lease may sign its own receipts
/// (`signer = tenant`, no cap) through `isValidSignature`; a wrong magic value, another key, or the
/// wallet owner's EOA posing as the signer is rejected.
contract ContractWalletTenant_Adversarial_Test is AdversarialBase {
    MockContractWallet internal wallet;
    address internal walletOwner;
    uint256 internal walletOwnerKey;
    uint256 internal leaseId;
    uint256 internal deposit = uint256(PRICE) * 20 days;

    function setUp() public override {
        super.setUp();
        (walletOwner, walletOwnerKey) = makeAddrAndKey("walletOwner");
        wallet = new MockContractWallet(walletOwner);
        usdc.mint(address(wallet), deposit);
        vm.startPrank(walletOwner);
        wallet.execute(address(usdc), abi.encodeCall(usdc.approve, (address(market), type(uint256).max)));
        bytes memory ret = wallet.execute(
            address(market),
            abi.encodeCall(market.openLease, (offerId, 20 days, deposit, market.offerTermsHash(offerId)))
        );
        vm.stopPrank();
        leaseId = abi.decode(ret, (uint256));
    }

    function walletReceipt(uint256 key, uint256 cumulativeAmount) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(key, address(wallet), receipt(leaseId, cumulativeAmount));
    }

    function test_ContractWalletOpensALease() public view {
        Lease memory l = market.lease(leaseId);
        assertEq(l.tenant, address(wallet), "tenant");
        assertEq(l.deposit, deposit, "deposit");
        assertEq(usdc.balanceOf(address(wallet)), 0, "deposit pulled");
    }

    function test_ContractWalletSignsItsOwnReceiptsWithoutCap() public {
        // Beyond any session signer's cap: the tenant itself is uncapped.
        uint256 amount = uint256(SIGNER_CAP) + 500e6;
        skip(amount / PRICE);
        SignedReceipt memory item = walletReceipt(walletOwnerKey, amount);

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, address(wallet), amount, amount, feeOf(amount), amount);
        uint256 paid = market.settle(item);

        assertEq(paid, amount, "paid");
        assertEq(market.lease(leaseId).settled, amount, "settled");
        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "claimable");
        assertEq(market.sessionSigner(address(wallet), address(wallet)).spent, 0, "the tenant has no spent counter");
    }

    function test_RevertWhen_WalletReturnsAWrongMagicValue() public {
        skip(1 hours);
        vm.prank(walletOwner);
        wallet.setMode(MockContractWallet.Mode.WrongMagic);

        SignedReceipt memory item = walletReceipt(walletOwnerKey, uint256(PRICE) * 1 hours);
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.lease(leaseId).settled, 0, "settled");
    }

    function test_RevertWhen_WalletSignatureIsByAnotherKey() public {
        skip(1 hours);
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        SignedReceipt memory item = walletReceipt(strangerKey, uint256(PRICE) * 1 hours);
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.lease(leaseId).settled, 0, "settled");
    }

    function test_RevertWhen_WalletOwnerSignsAsItself() public {
        skip(1 hours);
        // The owner's EOA is not the tenant and not an authorized session signer of the wallet.
        SignedReceipt memory item =
            signedReceiptBy(walletOwnerKey, walletOwner, receipt(leaseId, uint256(PRICE) * 1 hours));
        expectSettlementFailed(leaseId, SettlementResult.SignerNotAuthorized);
        market.settle(item);
        assertEq(market.lease(leaseId).settled, 0, "settled");
    }

    function test_ContractWalletAuthorizesASessionSigner() public {
        vm.prank(walletOwner);
        wallet.execute(
            address(market),
            abi.encodeCall(market.authorizeSigner, (signer, SIGNER_CAP, uint40(block.timestamp + 1 days)))
        );
        skip(1 hours);
        uint256 amount = uint256(PRICE) * 1 hours;
        assertEq(market.settle(signedReceipt(leaseId, amount)), amount, "paid");
        assertEq(market.sessionSigner(address(wallet), signer).spent, amount, "spent");
    }
}
