// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Stale and foreign keys: receipts of a revoked or expired session signer are rejected even
/// when signed while it was valid, and a signer of one tenant (or the provider) cannot settle another
/// tenant's leases.
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
        assertEq(market.sessionSigner(t, s).spent, 0, "spent");
    }

    function test_RevertWhen_SignerWasRevokedAfterSigning() public {
        SignedReceipt memory r = signedReceipt(leaseId, amount); // signed while authorized
        vm.expectEmit(address(market));
        emit SignerRevoked(tenant, signer);
        vm.prank(tenant);
        market.revokeSigner(signer);

        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(r);
        assertNothingSettled(leaseId, tenant, signer);

        vm.expectEmit(address(market));
        emit SettlementSkipped(leaseId, SettlementResult.SignerRevoked);
        SettlementResult[] memory results = market.settleBatch(one(r));
        assertEq(uint8(results[0]), uint8(SettlementResult.SignerRevoked), "batch result");
        assertNothingSettled(leaseId, tenant, signer);
    }

    function test_RevertWhen_SignerRevokedAfterPartialSettlement() public {
        market.settle(signedReceipt(leaseId, amount));
        SignedReceipt memory later = signedReceipt(leaseId, 2 * amount);
        vm.prank(tenant);
        market.revokeSigner(signer);

        expectSettlementFailed(leaseId, SettlementResult.SignerRevoked);
        market.settle(later);
        assertEq(market.lease(leaseId).settled, amount, "settled");
        assertEq(market.sessionSigner(tenant, signer).spent, amount, "spent");
    }

    function test_RevertWhen_SignerExpiredAfterSigning() public {
        (address shortSigner, uint256 shortKey) = makeAddrAndKey("shortSigner");
        uint40 expiresAt = uint40(block.timestamp + 30 minutes);
        vm.prank(tenant);
        market.authorizeSigner(shortSigner, SIGNER_CAP, expiresAt);
        SignedReceipt memory r = signedReceiptBy(shortKey, shortSigner, receipt(leaseId, amount));

        vm.warp(expiresAt); // expiry is exclusive: at expiresAt the key is dead
        expectSettlementFailed(leaseId, SettlementResult.SignerExpired);
        market.settle(r);
        assertNothingSettled(leaseId, tenant, shortSigner);

        skip(1 days);
        expectSettlementFailed(leaseId, SettlementResult.SignerExpired);
        market.settle(r);
        assertNothingSettled(leaseId, tenant, shortSigner);
    }

    function test_SignerSettlesUntilTheSecondBeforeExpiry() public {
        (address shortSigner, uint256 shortKey) = makeAddrAndKey("shortSigner");
        uint40 expiresAt = uint40(block.timestamp + 30 minutes);
        vm.prank(tenant);
        market.authorizeSigner(shortSigner, SIGNER_CAP, expiresAt);
        SignedReceipt memory r = signedReceiptBy(shortKey, shortSigner, receipt(leaseId, amount));

        vm.warp(expiresAt - 1);
        assertEq(market.settle(r), amount, "paid");
        assertEq(market.sessionSigner(tenant, shortSigner).spent, amount, "spent");
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
        assertEq(market.sessionSigner(tenant, signer).spent, 0, "tenant's signer spent");
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
        vm.expectRevert(abi.encodeWithSelector(OpenleaseUnknownSigner.selector, stranger, signer));
        vm.prank(stranger);
        market.revokeSigner(signer);
        // The tenant's authorization is untouched.
        assertGt(market.sessionSigner(tenant, signer).expiresAt, block.timestamp, "still authorized");
    }
}
