// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockContractWallet} from "../mocks/MockContractWallet.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice ERC-1271 contract-wallet tenants. A wallet may open a lease, but it cannot sign its own
/// receipts: receipts signed as the tenant are checked by ECDSA alone, because a wallet's
/// `isValidSignature` answer could be flipped after the service a receipt pays for was delivered. A
/// contract-wallet tenant authorizes a session signer (an EOA key, with a cap, for one provider) instead.
/// A "receipt" the wallet would vouch for, a wrong magic value, another key, or the wallet owner's EOA
/// posing as the signer is rejected; the market never asks the wallet.
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

    function authorizeWalletSigner(uint96 cap) internal {
        vm.prank(walletOwner);
        wallet.execute(
            address(market),
            abi.encodeCall(market.authorizeSigner, (signer, provider, cap, uint40(block.timestamp + 30 days)))
        );
    }

    function test_ContractWalletOpensALease() public view {
        Lease memory l = market.lease(leaseId);
        assertEq(l.tenant, address(wallet), "tenant");
        assertEq(l.deposit, deposit, "deposit");
        assertEq(usdc.balanceOf(address(wallet)), 0, "deposit pulled");
    }

    /// @dev The wallet's own "receipt", a valid ERC-1271 signature by its owner's key, is refused: a
    /// contract wallet could stop vouching for it after the service was delivered. The market does not
    /// even ask the wallet.
    function test_RevertWhen_ContractWalletSignsItsOwnReceipt() public {
        uint256 amount = uint256(SIGNER_CAP) + 500e6;
        skip(amount / PRICE);
        SignedReceipt memory item = walletReceipt(walletOwnerKey, amount);
        assertEq(
            wallet.isValidSignature(market.receiptDigest(item.receipt), item.signature),
            bytes4(0x1626ba7e),
            "the wallet vouches for it"
        );

        vm.expectCall(address(wallet), abi.encodeWithSelector(MockContractWallet.isValidSignature.selector), 0);
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(item);

        vm.expectEmit(address(market));
        emit SettlementSkipped(leaseId, SettlementResult.InvalidSignature);
        SettlementResult[] memory results = market.settleBatch(one(item));
        assertEq(uint8(results[0]), uint8(SettlementResult.InvalidSignature), "batch result");
        assertEq(market.lease(leaseId).settled, 0, "settled");
        assertEq(market.claimable(provider, address(usdc)), 0, "claimable");
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

    /// @dev The way a contract-wallet tenant pays: a session signer authorized for the lease's provider.
    function test_ContractWalletAuthorizesASessionSigner() public {
        authorizeWalletSigner(SIGNER_CAP);
        skip(1 hours);
        uint256 amount = uint256(PRICE) * 1 hours;
        assertEq(market.settle(signedReceipt(leaseId, amount)), amount, "paid");
        assertEq(market.sessionSigner(address(wallet), signer, provider).spent, amount, "spent");
        // Once it attested, the wallet cannot take it back: revoking leaves the delivered hour payable.
        skip(1 hours);
        SignedReceipt memory second = signedReceipt(leaseId, 2 * amount);
        skip(1);
        vm.prank(walletOwner);
        wallet.execute(address(market), abi.encodeCall(market.revokeSigner, (signer, provider)));
        assertEq(market.settle(second), amount, "the second hour, attested before the revocation");
    }

    /// @dev One transaction: the wallet authorizes its session signer and opens a lease with `multicall`.
    function test_ContractWalletAuthorizesAndOpensInOneMulticall() public {
        usdc.mint(address(wallet), deposit);
        bytes[] memory calls = new bytes[](2);
        calls[0] =
            abi.encodeCall(market.authorizeSigner, (signer, provider, SIGNER_CAP, uint40(block.timestamp + 1 days)));
        calls[1] = abi.encodeCall(market.openLease, (offerId, 20 days, deposit, market.offerTermsHash(offerId)));
        vm.prank(walletOwner);
        bytes memory ret = wallet.execute(address(market), abi.encodeCall(market.multicall, (calls)));
        bytes[] memory results = abi.decode(ret, (bytes[]));
        uint256 id = abi.decode(results[1], (uint256));
        assertEq(market.lease(id).tenant, address(wallet), "the wallet is the tenant");
        assertEq(market.sessionSigner(address(wallet), signer, provider).cap, SIGNER_CAP, "the wallet authorized");
        skip(1 hours);
        assertEq(market.settle(signedReceipt(id, uint256(PRICE) * 1 hours)), uint256(PRICE) * 1 hours, "paid");
    }
}
