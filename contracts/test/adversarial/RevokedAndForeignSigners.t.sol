// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Stale and foreign keys: a revoked or expired session signer's receipts for service after the
/// revocation or expiry are rejected (those for service delivered before it stay payable: the tenant cannot
/// repudiate them), and a signer of one tenant (or the provider) cannot settle another tenant's leases.
contract RevokedAndForeignSigners_Adversarial_Test is AdversarialBase {
    uint256 internal leaseId;
    uint256 internal amount = uint256(PRICE) * 30 minutes;

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        skip(1 hours);
    }

    function assertNothingSettled(uint256 id, address t, address s) internal view {
        assertEq(market.lease(id).settled, 0, "settled");
        assertEq(market.claimable(provider, address(usdc)), 0, "claimable");
        assertEq(market.sessionSigner(t, s, provider).spent, 0, "spent");
    }

    /// @dev A receipt for a period ending at or after the revocation is void, whenever it was signed: the
    /// one dated the revocation's second, and one the (leaked) key signs afterwards.
    function test_RevertWhen_ReceiptForServiceFromTheRevocationOn() public {
        SignedReceipt memory r = signedReceipt(leaseId, amount); // period ends this second
        vm.expectEmit(address(market));
        emit SignerRevoked(tenant, signer, provider, block.timestamp);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);

        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(r);
        assertNothingSettled(leaseId, tenant, signer);

        vm.expectEmit(address(market));
        emit SettlementSkipped(leaseId, SettlementResult.SignerRevoked);
        SettlementResult[] memory results = market.settleBatch(one(r));
        assertEq(uint8(results[0]), uint8(SettlementResult.SignerRevoked), "batch result");
        assertNothingSettled(leaseId, tenant, signer);

        skip(1 hours);
        SignedReceipt memory afterwards = signedReceipt(leaseId, 2 * amount);
        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(afterwards);
        assertNothingSettled(leaseId, tenant, signer);
    }

    /// @dev Revoking after the signer attested to delivered service does not undo the attestation: the
    /// receipt for the period before the revocation settles.
    function test_SignerRevokedAfterSigning_DeliveredServicePays() public {
        SignedReceipt memory r = signedReceipt(leaseId, amount);
        skip(1);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);

        assertEq(market.settle(r), amount, "paid");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, amount, "spent");
    }

    function test_RevertWhen_SignerRevokedAfterPartialSettlement() public {
        market.settle(signedReceipt(leaseId, amount));
        SignedReceipt memory before = signedReceipt(leaseId, 2 * amount);
        skip(1);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        skip(30 minutes);
        SignedReceipt memory later = signedReceipt(leaseId, 3 * amount);

        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(later);
        assertEq(market.lease(leaseId).settled, amount, "settled");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, amount, "spent");
        // The receipt for the service before the revocation still pays.
        assertEq(market.settle(before), amount, "the second half hour");
    }

    /// @dev Expiry works as revocation does: receipts for periods ending at or after it are void, those
    /// for service before it stay payable after it.
    function test_RevertWhen_SignerExpiredBeforeThePeriodEnded() public {
        (address shortSigner, uint256 shortKey) = makeAddrAndKey("shortSigner");
        uint40 expiresAt = uint40(block.timestamp + 30 minutes);
        vm.prank(tenant);
        market.authorizeSigner(shortSigner, provider, SIGNER_CAP, expiresAt);
        SignedReceipt memory r = signedReceiptBy(shortKey, shortSigner, receipt(leaseId, amount));

        vm.warp(expiresAt); // expiry is exclusive: a period ending at expiresAt is not covered
        SignedReceipt memory atExpiry = signedReceiptBy(shortKey, shortSigner, receipt(leaseId, 2 * amount));
        expectSettlementFailed(leaseId, SettlementResult.SignerExpired);
        market.settle(atExpiry);
        assertNothingSettled(leaseId, tenant, shortSigner);

        skip(1 days);
        expectSettlementFailed(leaseId, SettlementResult.SignerExpired);
        market.settle(atExpiry);
        assertNothingSettled(leaseId, tenant, shortSigner);

        // Signed for service before the expiry: payable a day after it.
        assertEq(market.settle(r), amount, "paid");
    }

    function test_SignerSettlesUntilTheSecondBeforeExpiry() public {
        (address shortSigner, uint256 shortKey) = makeAddrAndKey("shortSigner");
        uint40 expiresAt = uint40(block.timestamp + 30 minutes);
        vm.prank(tenant);
        market.authorizeSigner(shortSigner, provider, SIGNER_CAP, expiresAt);
        SignedReceipt memory r = signedReceiptBy(shortKey, shortSigner, receipt(leaseId, amount));

        vm.warp(expiresAt - 1);
        assertEq(market.settle(r), amount, "paid");
        assertEq(market.sessionSigner(tenant, shortSigner, provider).spent, amount, "spent");
    }

    function test_RevertWhen_AnotherTenantsSignerSettles() public {
        address tenant2 = makeAddr("tenant2");
        mintAndApprove(address(usdc), tenant2, 1_000e6);
        uint256 lease2 = openLease(tenant2, offerId, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);

        // `signer` is authorized by `tenant` only.
        SignedReceipt memory r = signedReceipt(lease2, amount);
        expectSettlementFailed(lease2, SettlementResult.SignerNotAuthorized);
        market.settle(r);
        assertNothingSettled(lease2, tenant2, signer);
        assertEq(market.sessionSigner(tenant, signer, provider).spent, 0, "tenant's signer spent");
    }

    function test_RevertWhen_AnotherTenantItselfSigns() public {
        address tenant2 = makeAddr("tenant2");
        mintAndApprove(address(usdc), tenant2, 1_000e6);
        uint256 lease2 = openLease(tenant2, offerId, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);

        // `tenant` is a tenant, but not of lease2, and not one of tenant2's signers.
        SignedReceipt memory r = signedReceiptBy(tenantKey, tenant, receipt(lease2, amount));
        expectSettlementFailed(lease2, SettlementResult.SignerNotAuthorized);
        market.settle(r);
        assertNothingSettled(lease2, tenant2, tenant);
    }

    function test_RevertWhen_ProviderSignsItsOwnReceipt() public {
        SignedReceipt memory r = signedReceiptBy(providerKey, provider, receipt(leaseId, amount));
        expectSettlementFailed(leaseId, SettlementResult.SignerNotAuthorized);
        market.settle(r);
        assertNothingSettled(leaseId, tenant, provider);
    }

    function test_RevertWhen_RevokingAnUnknownSigner() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(OpenleaseUnknownSigner.selector, stranger, signer, provider));
        vm.prank(stranger);
        market.revokeSigner(signer, provider);
        // The tenant's authorization is untouched.
        assertGt(market.sessionSigner(tenant, signer, provider).expiresAt, block.timestamp, "still authorized");
    }
}
