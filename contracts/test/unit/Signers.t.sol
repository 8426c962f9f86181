// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";

/// @notice Unit tests of session signers: `authorizeSigner` and `revokeSigner`, their state, events and errors.
contract Signers_Test is BaseTest {
    address internal signer2;
    uint256 internal signer2Key;

    function setUp() public override {
        super.setUp();
        (signer2, signer2Key) = makeAddrAndKey("signer2");
    }

    function assertSigner(SessionSigner memory s, uint256 cap, uint256 spent, uint256 expiresAt) internal pure {
        assertEq(s.cap, cap, "cap");
        assertEq(s.spent, spent, "spent");
        assertEq(s.expiresAt, expiresAt, "expiresAt");
    }

    function assertSigner(SessionSigner memory s, uint256 cap, uint256 spent, uint256 expiresAt, bool revoked)
        internal
        pure
    {
        assertSigner(s, cap, spent, expiresAt);
        assertEq(s.revoked, revoked, "revoked");
    }

    // ─── authorizeSigner ────────────────────────────────────────────────────────────────────

    function test_AuthorizeSigner() public {
        uint96 cap = 250e6;
        uint40 expiresAt = uint40(block.timestamp + 30 days);
        assertSigner(market.sessionSigner(tenant, signer2, provider), 0, 0, 0);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SignerAuthorized(tenant, signer2, provider, cap, expiresAt);
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, cap, expiresAt);

        assertSigner(market.sessionSigner(tenant, signer2, provider), cap, 0, expiresAt);
        // The fixture's signer is untouched.
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp + 365 days);
    }

    function test_AuthorizeSigner_ExpiryOneSecondAhead() public {
        uint40 expiresAt = uint40(block.timestamp + 1);
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, 1, expiresAt);
        assertSigner(market.sessionSigner(tenant, signer2, provider), 1, 0, expiresAt);
    }

    function test_AuthorizeSigner_IsPerTenant() public {
        address otherTenant = makeAddr("otherTenant");
        vm.prank(otherTenant);
        market.authorizeSigner(signer, provider, 5e6, uint40(block.timestamp + 1 days));

        assertSigner(market.sessionSigner(otherTenant, signer, provider), 5e6, 0, block.timestamp + 1 days);
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp + 365 days);
    }

    function test_AuthorizeSigner_ReauthorizeKeepsSpent() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        uint256 paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        assertGt(paid, 0);
        uint256 oldExpiry = market.sessionSigner(tenant, signer, provider).expiresAt;
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, paid, oldExpiry);

        uint96 newCap = 2 * SIGNER_CAP;
        uint40 newExpiry = uint40(block.timestamp + 7 days);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SignerAuthorized(tenant, signer, provider, newCap, newExpiry);
        vm.prank(tenant);
        market.authorizeSigner(signer, provider, newCap, newExpiry);

        assertSigner(market.sessionSigner(tenant, signer, provider), newCap, paid, newExpiry);
    }

    function test_AuthorizeSigner_AfterRevokeRestoresSigner() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        uint256 paid = market.settle(signedReceipt(leaseId, 1e6));
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        skip(1);
        // Revoked: a receipt for service after the revocation is void.
        SignedReceipt memory afterRevocation = signedReceipt(leaseId, 2e6);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, SettlementResult.SignerRevoked
            )
        );
        market.settle(afterRevocation);

        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.prank(tenant);
        market.authorizeSigner(signer, provider, SIGNER_CAP, expiresAt);
        // Re-authorizing undoes the revocation.
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, paid, expiresAt, false);

        // Receipts of the restored signer settle again.
        uint256 paid2 = market.settle(signedReceipt(leaseId, 2e6));
        assertEq(paid2, 2e6 - paid);
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 2e6, expiresAt);
    }

    function test_RevertWhen_AuthorizeSigner_ZeroAddress() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(tenant);
        market.authorizeSigner(address(0), provider, SIGNER_CAP, uint40(block.timestamp + 1 days));
    }

    function test_RevertWhen_AuthorizeSigner_ZeroProvider() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(tenant);
        market.authorizeSigner(signer2, address(0), SIGNER_CAP, uint40(block.timestamp + 1 days));
    }

    /// @dev Each provider gets its own authorization: a cap for one is not a cap for another.
    function test_AuthorizeSigner_IsPerProvider() public {
        address otherProvider = makeAddr("otherProvider");
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SignerAuthorized(tenant, signer, otherProvider, 5e6, expiresAt);
        vm.prank(tenant);
        market.authorizeSigner(signer, otherProvider, 5e6, expiresAt);

        assertSigner(market.sessionSigner(tenant, signer, otherProvider), 5e6, 0, expiresAt, false);
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp + 365 days, false);
    }

    function test_RevertWhen_AuthorizeSigner_ZeroCap() public {
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidSignerTerms.selector, 0, expiresAt));
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, 0, expiresAt);
    }

    function test_RevertWhen_AuthorizeSigner_ExpiryNow() public {
        uint40 expiresAt = uint40(block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidSignerTerms.selector, SIGNER_CAP, expiresAt)
        );
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, SIGNER_CAP, expiresAt);
    }

    function test_RevertWhen_AuthorizeSigner_ExpiryInPast() public {
        uint40 expiresAt = uint40(block.timestamp - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidSignerTerms.selector, SIGNER_CAP, expiresAt)
        );
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, SIGNER_CAP, expiresAt);
    }

    function test_RevertWhen_AuthorizeSigner_ZeroExpiry() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidSignerTerms.selector, SIGNER_CAP, 0));
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, SIGNER_CAP, 0);
    }

    function test_RevertWhen_AuthorizeSigner_ReauthorizeWithZeroCap() public {
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidSignerTerms.selector, 0, expiresAt));
        vm.prank(tenant);
        market.authorizeSigner(signer, provider, 0, expiresAt);
        // Nothing changed.
        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp + 365 days);
    }

    // ─── revokeSigner ───────────────────────────────────────────────────────────────────────

    /// @dev Revocation brings the expiry forward to now and marks the signer revoked: cap and spent
    /// stay, so that receipts for service delivered before it stay payable within their caps.
    function test_RevokeSigner() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        uint256 paid = market.settle(signedReceipt(leaseId, 1e6));

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SignerRevoked(tenant, signer, provider, block.timestamp);
        vm.prank(tenant);
        market.revokeSigner(signer, provider);

        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, paid, block.timestamp, true);
    }

    /// @dev A signer that already expired keeps its (earlier) expiry: revoking never extends it.
    function test_RevokeSigner_AfterExpiryKeepsExpiry() public {
        uint40 expiresAt = uint40(block.timestamp + 1 hours);
        vm.prank(tenant);
        market.authorizeSigner(signer2, provider, 5e6, expiresAt);
        skip(2 hours);

        vm.expectEmit(address(market));
        emit IOpenleaseEvents.SignerRevoked(tenant, signer2, provider, expiresAt);
        vm.prank(tenant);
        market.revokeSigner(signer2, provider);
        assertSigner(market.sessionSigner(tenant, signer2, provider), 5e6, 0, expiresAt, true);
    }

    function test_RevokeSigner_OnlyThatTenantsSigner() public {
        address otherTenant = makeAddr("otherTenant");
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.prank(otherTenant);
        market.authorizeSigner(signer, provider, 5e6, expiresAt);

        vm.prank(tenant);
        market.revokeSigner(signer, provider);

        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp, true);
        assertSigner(market.sessionSigner(otherTenant, signer, provider), 5e6, 0, expiresAt, false);
    }

    /// @dev Revoking a signer for one provider leaves its authorization for another as it was.
    function test_RevokeSigner_OnlyThatProvider() public {
        address otherProvider = makeAddr("otherProvider");
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        vm.prank(tenant);
        market.authorizeSigner(signer, otherProvider, 5e6, expiresAt);

        vm.prank(tenant);
        market.revokeSigner(signer, provider);

        assertSigner(market.sessionSigner(tenant, signer, provider), SIGNER_CAP, 0, block.timestamp, true);
        assertSigner(market.sessionSigner(tenant, signer, otherProvider), 5e6, 0, expiresAt, false);
    }

    function test_RevertWhen_RevokeSigner_Unknown() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownSigner.selector, tenant, signer2, provider)
        );
        vm.prank(tenant);
        market.revokeSigner(signer2, provider);
    }

    /// @dev An authorization is for one provider: for any other, the signer is unknown.
    function test_RevertWhen_RevokeSigner_OtherProvider() public {
        address otherProvider = makeAddr("otherProvider");
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownSigner.selector, tenant, signer, otherProvider)
        );
        vm.prank(tenant);
        market.revokeSigner(signer, otherProvider);
    }

    function test_RevertWhen_RevokeSigner_OtherTenantsSigner() public {
        // `signer` belongs to `tenant`; to anyone else it is unknown.
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownSigner.selector, provider, signer, provider)
        );
        vm.prank(provider);
        market.revokeSigner(signer, provider);
    }

    function test_RevertWhen_RevokeSigner_ZeroAddress() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownSigner.selector, tenant, address(0), provider)
        );
        vm.prank(tenant);
        market.revokeSigner(address(0), provider);
    }
}
