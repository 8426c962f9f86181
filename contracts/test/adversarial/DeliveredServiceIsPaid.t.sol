// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {MockContractWallet} from "../mocks/MockContractWallet.sol";

/// @notice Delivered service cannot be repudiated. The attack (v2): a tenant gets service, its session
/// signer attests to it, and before the provider settles the receipts the tenant revokes the signer (or
/// lets it expire), which voided every receipt it ever signed: the service was free. Or the tenant is a
/// contract wallet that signs its own receipts through ERC-1271 and flips its answer once the service was
/// delivered. Here a session signer's receipt is valid iff its period ended before the signer's expiry or
/// revocation, whenever it is settled within the lease's settlement window; every receipt pays at most what
/// the terms let accrue until its period's end; and a tenant's own receipts are checked by ECDSA alone.
/// The flip side: a key that leaks and is revoked can only sign backdated receipts, which pay the lease's
/// own provider at most what accrued until the revocation.
contract DeliveredServiceIsPaid_Adversarial_Test is LeaseTermsBase {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;

    uint256 internal leaseId;
    uint256 internal startedAt;

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease(); // 10 hours, fully funded
        startedAt = block.timestamp;
    }

    function expectSettlementFailed(uint256 id, SettlementResult result) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementFailed.selector, id, result));
    }

    function revoke(address who) internal {
        vm.prank(tenant);
        market.revokeSigner(who, provider);
    }

    /// @dev A receipt by `key` (as `who`) for `cumulative`, its period ending at `periodEnd`.
    function receiptAt(uint256 key, address who, uint256 id, uint256 cumulative, uint256 periodEnd)
        internal
        view
        returns (SignedReceipt memory)
    {
        ServiceReceipt memory r = receipt(id, cumulative);
        r.periodEnd = uint64(periodEnd);
        return signedReceiptBy(key, who, r);
    }

    // ─── Revocation and expiry do not void delivered service ────────────────────────────────

    /// @notice Three hours of service attested, then the signer revoked: a day later the provider settles
    /// the receipt and is paid all three hours.
    function test_RevokedSigner_ProviderSettlesTheDeliveredPeriod() public {
        skip(3 hours);
        SignedReceipt memory delivered = signedReceipt(leaseId, 3 * HOUR);
        skip(1);
        revoke(signer);
        assertEq(market.sessionSigner(tenant, signer, provider).expiresAt, block.timestamp, "revoked now");
        skip(1 days);
        assertLt(block.timestamp, market.settlementDeadline(leaseId), "within the settlement window");
        Books memory b = books();

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, signer, 3 * HOUR, 3 * HOUR, leaseFee(leaseId, 3 * HOUR), 3 * HOUR);
        assertEq(market.settle(delivered), 3 * HOUR, "paid for the delivered service");
        assertEq(
            market.claimable(provider, address(usdc)),
            b.providerClaimable + 3 * HOUR - leaseFee(leaseId, 3 * HOUR),
            "provider paid"
        );
        assertEq(market.sessionSigner(tenant, signer, provider).spent, 3 * HOUR, "charged to the signer's cap");
    }

    /// @notice The same through `settleBatch`.
    function test_RevokedSigner_DeliveredPeriodSettlesInABatch() public {
        skip(3 hours);
        SignedReceipt[] memory items = new SignedReceipt[](1);
        items[0] = signedReceipt(leaseId, 3 * HOUR);
        skip(1);
        revoke(signer);
        skip(2 hours);
        SettlementResult[] memory results = market.settleBatch(items);
        assertEq(uint8(results[0]), uint8(SettlementResult.Settled), "settled");
        assertEq(market.lease(leaseId).settled, 3 * HOUR, "paid");
    }

    /// @notice A signer the tenant lets expire: its receipt for the service before the expiry settles after it.
    function test_ExpiredSigner_ProviderSettlesTheDeliveredPeriod() public {
        (address shortLived, uint256 shortKey) = makeAddrAndKey("short-lived signer");
        uint256 expiresAt = startedAt + 3 hours + 10 minutes;
        vm.prank(tenant);
        market.authorizeSigner(shortLived, provider, SIGNER_CAP, uint40(expiresAt));
        skip(3 hours);
        SignedReceipt memory delivered = signedReceiptBy(shortKey, shortLived, receipt(leaseId, 3 * HOUR));
        vm.warp(startedAt + 6 hours);
        assertGt(block.timestamp, expiresAt, "expired");

        assertEq(market.settle(delivered), 3 * HOUR, "paid for the delivered service");

        // Service at or after the expiry was never attested by a valid key.
        SignedReceipt memory late = receiptAt(shortKey, shortLived, leaseId, 4 * HOUR, expiresAt);
        expectSettlementFailed(leaseId, SettlementResult.SignerExpired);
        market.settle(late);
    }

    /// @notice Receipts for service from the revocation on are void: dated the revocation's own second,
    /// forward-dated before it, or signed after it.
    function test_RevertWhen_ReceiptForServiceFromTheRevocationOn() public {
        skip(3 hours);
        SignedReceipt memory sameSecond = signedReceipt(leaseId, 3 * HOUR);
        SignedReceipt memory forwardDated = receiptAt(signerKey, signer, leaseId, 4 * HOUR, block.timestamp + 1 hours);
        revoke(signer);
        skip(2 hours);
        SignedReceipt memory afterwards = signedReceipt(leaseId, 5 * HOUR);
        Books memory b = books();

        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(sameSecond);
        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(forwardDated);
        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(afterwards);
        assertBooksUnchanged(b, "nothing paid");
        assertEq(market.lease(leaseId).settled, 0, "nothing settled");
    }

    // ─── A leaked key after its revocation ──────────────────────────────────────────────────

    /// @notice The signer's key leaks; the tenant revokes it three hours in. Five hours later the thief
    /// signs a receipt backdated to just before the revocation for the whole deposit: it pays at most what
    /// the terms let accrue until its period's end (before the revocation), and only to the lease's own
    /// provider. A receipt dated at the revocation is void; the thief's receipts for the tenant's lease of
    /// another provider (no authorization for it) and for a lease opened after the revocation pay nothing.
    // State of the leaked-key test, kept out of its stack.
    address internal otherProvider;
    uint256 internal otherLease;
    uint256 internal laterLease;
    uint256 internal revokedAt;

    function test_LeakedKeyAfterRevocation_PaysAtMostWhatAccruedUntilRevocation() public {
        uint256 otherOffer;
        (otherProvider, otherOffer) = otherProviderOffer("other provider", PRICE);
        otherLease = openLease(tenant, otherOffer, 10 hours, 10 * HOUR);
        address thief = makeAddr("thief");
        skip(3 hours);
        revoke(signer);
        revokedAt = block.timestamp;
        skip(5 hours);
        laterLease = openDefaultLease();
        skip(1 hours);
        Books memory b = books();

        SignedReceipt memory backdated = receiptAt(signerKey, signer, leaseId, 10 * HOUR, revokedAt - 1);
        vm.prank(thief);
        uint256 paid = market.settle(backdated);
        uint256 accruedUntilRevocation = (revokedAt - startedAt) * PRICE;
        assertEq(paid, accruedUntilRevocation - PRICE, "what accrued until the receipt's period end");
        assertLe(paid, accruedUntilRevocation, "never more than accrued until the revocation");
        assertEq(
            market.claimable(provider, address(usdc)),
            b.providerClaimable + paid - leaseFee(leaseId, paid),
            "paid to the lease's own provider"
        );
        assertEq(market.claimable(thief, address(usdc)), 0, "the thief gains nothing");
        assertEq(market.claimable(tenant, address(usdc)), b.tenantClaimable, "nor does it touch the tenant's balance");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, paid, "spent: the one backdated receipt");
        thiefGetsNothingMore();
    }

    /// @dev A bigger backdated receipt, one dated at the revocation, and receipts for other leases.
    function thiefGetsNothingMore() internal {
        uint256 otherProviderClaimable = market.claimable(otherProvider, address(usdc));
        uint256 settled = market.lease(leaseId).settled;
        SignedReceipt memory bigger = receiptAt(signerKey, signer, leaseId, 10 * HOUR + 1, revokedAt - 1);
        expectSettlementFailed(leaseId, SettlementResult.NotYetAccrued);
        market.settle(bigger);
        SignedReceipt memory atRevocation = receiptAt(signerKey, signer, leaseId, 10 * HOUR, revokedAt);
        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(atRevocation);
        SignedReceipt memory foreign = receiptAt(signerKey, signer, otherLease, 10 * HOUR, revokedAt - 1);
        expectSettlementFailed(otherLease, SettlementResult.SignerNotAuthorized);
        market.settle(foreign);
        SignedReceipt memory toLater = receiptAt(signerKey, signer, laterLease, 10 * HOUR, revokedAt - 1);
        expectSettlementFailed(laterLease, SettlementResult.NotYetAccrued);
        market.settle(toLater);

        assertEq(market.lease(leaseId).settled, settled, "nothing more on the lease");
        assertEq(market.claimable(otherProvider, address(usdc)), otherProviderClaimable, "no other provider paid");
        assertEq(market.lease(otherLease).settled, 0, "other provider's lease untouched");
        assertEq(market.lease(laterLease).settled, 0, "later lease untouched");
    }

    /// @notice A receipt pays at most what accrued until its own period's end, whoever signed it: the tenant's
    /// own key too. A receipt for an hour of service settled at the lease's end pays one hour.
    function test_ReceiptPaysAtMostWhatAccruedUntilItsPeriodEnd() public {
        skip(1 hours);
        SignedReceipt memory own = signedReceiptBy(tenantKey, tenant, receipt(leaseId, 10 * HOUR));
        SignedReceipt memory session = signedReceipt(leaseId, 10 * HOUR);
        vm.warp(startedAt + 10 hours);
        assertEq(market.settle(own), HOUR, "the tenant's own receipt: one hour");
        expectSettlementFailed(leaseId, SettlementResult.NotYetAccrued);
        market.settle(session);
    }

    // ─── Contract wallets ───────────────────────────────────────────────────────────────────

    /// @notice A contract-wallet tenant's ERC-1271 "receipt": its wallet vouches for it today and could flip
    /// tomorrow, so it is refused (`InvalidSignature`) without asking the wallet.
    function test_RevertWhen_ContractWalletTenantSignsThroughErc1271() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("wallet owner");
        MockContractWallet wallet = new MockContractWallet(owner);
        usdc.mint(address(wallet), 10 * HOUR);
        vm.startPrank(owner);
        wallet.execute(address(usdc), abi.encodeCall(usdc.approve, (address(market), type(uint256).max)));
        bytes memory ret = wallet.execute(
            address(market),
            abi.encodeCall(market.openLease, (offerId, 10 hours, 10 * HOUR, market.offerTermsHash(offerId)))
        );
        vm.stopPrank();
        uint256 walletLease = abi.decode(ret, (uint256));
        skip(1 hours);
        SignedReceipt memory item = signedReceiptBy(ownerKey, address(wallet), receipt(walletLease, HOUR));
        assertEq(
            wallet.isValidSignature(market.receiptDigest(item.receipt), item.signature),
            bytes4(0x1626ba7e),
            "valid under ERC-1271"
        );

        vm.expectCall(address(wallet), abi.encodeWithSelector(MockContractWallet.isValidSignature.selector), 0);
        expectSettlementFailed(walletLease, SettlementResult.InvalidSignature);
        market.settle(item);
        assertEq(market.lease(walletLease).settled, 0, "nothing settled");
    }

    /// @notice An EIP-7702 account (an EOA with delegated code) still signs its own receipts with its key.
    function test_Eip7702TenantSignsItsOwnReceipts() public {
        MockContractWallet implementation = new MockContractWallet(address(0xdead));
        vm.signAndAttachDelegation(address(implementation), tenantKey);
        vm.prank(tenant);
        usdc.approve(address(market), type(uint256).max); // the EIP-7702 transaction
        assertGt(tenant.code.length, 0, "the tenant has delegated code");
        skip(1 hours);

        assertEq(market.settle(signedReceiptBy(tenantKey, tenant, receipt(leaseId, HOUR))), HOUR, "paid");
    }

    /// @notice Lowering the cap would repudiate delivered service the way revoking once did: the
    /// receipts for the service got would fail `SignerCapReached`. A cap never decreases; the tenant
    /// revokes to stop spending, and what was delivered is paid.
    function test_CapLoweredAfterService_DeliveredServiceStillPaid() public {
        skip(3 hours);
        SignedReceipt memory delivered = signedReceipt(leaseId, 3 * HOUR);
        skip(1);
        vm.prank(tenant);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseCapDecrease.selector, signer, provider, SIGNER_CAP, 1));
        market.authorizeSigner(signer, provider, 1, uint40(block.timestamp + 1 days));
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        assertEq(market.settle(delivered), 3 * HOUR, "the delivered service is paid");
    }
}
