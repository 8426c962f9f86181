// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";

/// @notice A signer's cap cannot be promised twice. The attack (v2): a tenant authorizes one session
/// signer with one cap and leases from providers A and B. A serves and accepts receipts believing the
/// signer's remaining cap covers them; B (or a colluding B the tenant runs) settles first and uses the cap
/// up, so A's receipts fail with `SignerCapReached`: A delivered service the cap no longer pays. Here an
/// authorization is scoped to one provider (`authorizeSigner(signer, provider, cap, expiresAt)`), and a
/// settlement charges the authorization for the lease's own provider: what A was promised is reserved for
/// A, from chain state alone. A lease of a provider the signer is not authorized for cannot be settled by
/// it at all. `multicall` lets a tenant authorize the signer for a provider and open its lease in one
/// transaction, as itself.
contract SignerCapNotPromisedTwice_Adversarial_Test is LeaseTermsBase {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    address internal providerB;
    uint256 internal offerB;
    address internal providerC;
    uint256 internal offerC;
    uint256 internal leaseA;
    uint256 internal leaseB;
    uint256 internal leaseC;
    uint96 internal capA = uint96(2 * HOUR);
    uint96 internal capB = uint96(HOUR);

    function setUp() public override {
        super.setUp();
        (providerB, offerB) = otherProviderOffer("provider B", PRICE);
        (providerC, offerC) = otherProviderOffer("provider C", PRICE);
        // One signer (a fresh one: a cap never decreases), a cap for A and a cap for B, none for C.
        (signer, signerKey) = makeAddrAndKey("scoped signer");
        vm.startPrank(tenant);
        market.authorizeSigner(signer, provider, capA, uint40(block.timestamp + 30 days));
        market.authorizeSigner(signer, providerB, capB, uint40(block.timestamp + 30 days));
        vm.stopPrank();
        leaseA = openDefaultLease();
        leaseB = openLease(tenant, offerB, 10 hours, 10 * HOUR);
        leaseC = openLease(tenant, offerC, 10 hours, 10 * HOUR);
        skip(5 hours);
    }

    function expectSettlementFailed(uint256 id, SettlementResult result) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementFailed.selector, id, result));
    }

    function spentFor(address p) internal view returns (uint256) {
        return market.sessionSigner(tenant, signer, p).spent;
    }

    /// @notice B settles receipts worth more than its cap first: it gets its own cap and no more, and A's
    /// cap is untouched: A's receipts then pay in full.
    function test_ProviderBSettlingFirstCannotConsumeACap() public {
        SignedReceipt memory forB = signedReceipt(leaseB, 4 * HOUR);
        SignedReceipt memory forA = signedReceipt(leaseA, 2 * HOUR);

        vm.prank(providerB);
        assertEq(market.settle(forB), capB, "B is paid up to its own cap");
        assertEq(spentFor(providerB), capB, "B's cap used up");
        assertEq(spentFor(provider), 0, "A's cap untouched");
        SignedReceipt memory moreForB = signedReceipt(leaseB, 5 * HOUR);
        expectSettlementFailed(leaseB, SettlementResult.SignerCapReached);
        market.settle(moreForB);

        vm.prank(provider);
        assertEq(market.settle(forA), 2 * HOUR, "A is paid in full: its cap was reserved for it");
        assertEq(spentFor(provider), capA, "A's cap");
        assertEq(spentFor(providerB), capB, "B's unchanged");
    }

    /// @notice One batch mixing both providers' receipts, alternating: each is charged to its own provider's
    /// authorization, exactly, and each stops at its own cap.
    function test_MixedBatchChargesEachProvidersOwnCap() public {
        SignedReceipt[] memory items = new SignedReceipt[](6);
        items[0] = signedReceipt(leaseA, HOUR);
        items[1] = signedReceipt(leaseB, HOUR / 2);
        items[2] = signedReceipt(leaseA, 2 * HOUR);
        items[3] = signedReceipt(leaseB, HOUR);
        items[4] = signedReceipt(leaseA, 3 * HOUR); // beyond A's cap
        items[5] = signedReceipt(leaseB, 2 * HOUR); // beyond B's cap

        SettlementResult[] memory results = market.settleBatch(items);
        for (uint256 i; i < 4; ++i) {
            assertEq(uint8(results[i]), uint8(SettlementResult.Settled), "within the caps");
        }
        assertEq(uint8(results[4]), uint8(SettlementResult.SignerCapReached), "A's cap reached");
        assertEq(uint8(results[5]), uint8(SettlementResult.SignerCapReached), "B's cap reached");
        assertEq(market.lease(leaseA).settled, 2 * HOUR, "A settled");
        assertEq(market.lease(leaseB).settled, HOUR, "B settled");
        assertEq(spentFor(provider), capA, "A's spent");
        assertEq(spentFor(providerB), capB, "B's spent");
    }

    /// @notice A lease of provider C, for which the signer holds no authorization: its receipts are
    /// refused, and nothing is charged to A's or B's caps.
    function test_RevertWhen_SignerNotAuthorizedForTheLeasesProvider() public {
        SignedReceipt memory forC = signedReceipt(leaseC, HOUR);
        expectSettlementFailed(leaseC, SettlementResult.SignerNotAuthorized);
        market.settle(forC);

        SignedReceipt[] memory items = new SignedReceipt[](3);
        items[0] = signedReceipt(leaseA, HOUR);
        items[1] = forC;
        items[2] = signedReceipt(leaseB, HOUR);
        SettlementResult[] memory results = market.settleBatch(items);
        assertEq(uint8(results[1]), uint8(SettlementResult.SignerNotAuthorized), "C refused in a batch");
        assertEq(market.lease(leaseC).settled, 0, "C unpaid");
        assertEq(spentFor(provider), HOUR, "A charged for A only");
        assertEq(spentFor(providerB), HOUR, "B charged for B only");
        assertEq(spentFor(providerC), 0, "no authorization for C");
    }

    /// @notice Revoking the signer for A leaves its authorization for B as it was.
    function test_RevokingForOneProviderLeavesTheOther() public {
        vm.prank(tenant);
        market.revokeSigner(signer, provider);
        skip(1);
        SignedReceipt memory forA = signedReceipt(leaseA, HOUR);
        expectSettlementFailed(leaseA, SettlementResult.SignerRevoked);
        market.settle(forA);
        assertEq(market.settle(signedReceipt(leaseB, HOUR)), HOUR, "B still paid");
    }

    // ─── Authorize and open in one transaction ──────────────────────────────────────────────

    /// @dev A fresh tenant with no authorization yet, funded and approved.
    function freshTenant(string memory name) internal returns (address who) {
        who = makeAddr(name);
        mintAndApprove(address(usdc), who, 100 * HOUR);
    }

    /// @notice `multicall(authorizeSigner, openLease)`: both run as the tenant (msg.sender preserved), in one
    /// transaction; the new signer then settles the new lease.
    function test_MulticallAuthorizesAndOpensAsTheCaller() public {
        address newTenant = freshTenant("new tenant");
        (address newSigner, uint256 newSignerKey) = makeAddrAndKey("new signer");
        uint40 expiresAt = uint40(block.timestamp + 1 days);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(market.authorizeSigner, (newSigner, provider, capA, expiresAt));
        calls[1] = abi.encodeCall(market.openLease, (offerId, 10 hours, 10 * HOUR, market.offerTermsHash(offerId)));

        vm.expectEmit(address(market));
        emit SignerAuthorized(newTenant, newSigner, provider, capA, expiresAt);
        vm.prank(newTenant);
        bytes[] memory results = market.multicall(calls);

        uint256 id = abi.decode(results[1], (uint256));
        assertEq(market.lease(id).tenant, newTenant, "the caller is the tenant");
        assertEq(market.sessionSigner(newTenant, newSigner, provider).cap, capA, "the caller authorized");
        assertEq(market.sessionSigner(address(market), newSigner, provider).cap, 0, "not the market itself");
        assertEq(usdc.balanceOf(newTenant), 90 * HOUR, "the deposit pulled from the caller");
        skip(1 hours);
        assertEq(market.settle(signedReceiptBy(newSignerKey, newSigner, receipt(id, HOUR))), HOUR, "settles");
    }

    /// @notice The same with `openLeaseWithPermit`: no approval transaction either.
    function test_MulticallAuthorizesAndOpensWithPermit() public {
        (address newTenant, uint256 newTenantKey) = makeAddrAndKey("permit tenant");
        usdc.mint(newTenant, 10 * HOUR);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, newTenant, address(market), 10 * HOUR, usdc.nonces(newTenant), deadline)
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(newTenantKey, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(market.authorizeSigner, (signer, provider, capA, uint40(block.timestamp + 1 days)));
        calls[1] = abi.encodeCall(
            market.openLeaseWithPermit,
            (offerId, 10 hours, 10 * HOUR, market.offerTermsHash(offerId), deadline, v, r, s)
        );
        vm.prank(newTenant);
        bytes[] memory results = market.multicall(calls);
        uint256 id = abi.decode(results[1], (uint256));
        assertEq(market.lease(id).tenant, newTenant, "tenant");
        assertEq(market.sessionSigner(newTenant, signer, provider).cap, capA, "authorized");
        assertEq(usdc.balanceOf(newTenant), 0, "deposit pulled by permit");
    }

    /// @notice All or nothing: if the open fails (the offer changed since the tenant read it), the
    /// authorization does not stand alone.
    function test_RevertWhen_MulticallOpenFailsNothingIsAuthorized() public {
        address newTenant = freshTenant("atomic tenant");
        bytes32 stale = market.offerTermsHash(offerId);
        vm.prank(provider);
        market.updateOffer(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        bytes32 current = market.offerTermsHash(offerId);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(market.authorizeSigner, (signer, provider, capA, uint40(block.timestamp + 1 days)));
        calls[1] = abi.encodeCall(market.openLease, (offerId, 10 hours, 10 * HOUR, stale));

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, stale, current));
        vm.prank(newTenant);
        market.multicall(calls);
        assertEq(market.sessionSigner(newTenant, signer, provider).cap, 0, "nothing authorized");
    }

    /// @notice `multicall` reaches the extension's functions (through the fallback) as the caller too: the
    /// provider demands payment of two leases in one transaction; anyone else is refused as not the provider.
    function test_MulticallReachesTheExtensionAsTheCaller() public {
        uint256 other = openDefaultLease();
        skip(2 hours);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(market.demandPayment, (leaseA));
        calls[1] = abi.encodeCall(market.demandPayment, (other));

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotLeaseProvider.selector, leaseA, tenant));
        vm.prank(tenant);
        market.multicall(calls);

        vm.prank(provider);
        market.multicall(calls);
        assertEq(market.paymentDemand(leaseA).madeAt, block.timestamp, "demand A");
        assertEq(market.paymentDemand(other).madeAt, block.timestamp, "demand other");
    }
}
