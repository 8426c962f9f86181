// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";

/// @notice A tenant gets the terms it saw. The attack: the tenant reads an offer and sends
/// `openLease`; the provider sees it in the mempool and front-runs it with `updateOffer` (a longer
/// notice period, a longer minimum duration, another maximum duration, a higher price), or a
/// governance parameters version takes effect between the read and the open. In v1 only the price
/// was bounded (`maxPricePerSecond`) and the tenant silently got whatever else the offer and the
/// parameters said at execution. Here `openLease` carries the `offerTermsHash` the tenant read and
/// reverts with `OpenleaseTermsChanged(offerId, expected, current)`, moving nothing.
contract TermsBoundAtOpening_Adversarial_Test is LeaseTermsBase {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint32 internal constant DURATION = 10 hours;
    uint256 internal constant DEPOSIT = uint256(PRICE) * DURATION;

    address internal permitTenant;
    uint256 internal permitTenantKey;

    function setUp() public override {
        super.setUp();
        (permitTenant, permitTenantKey) = makeAddrAndKey("permitTenant");
        usdc.mint(permitTenant, 1_000e6);
    }

    /// @dev The provider's front-run.
    function frontRun(uint64 price, uint32 minDuration, uint32 maxDuration, uint32 noticePeriod) internal {
        vm.prank(provider);
        market.updateOffer(offerId, price, minDuration, maxDuration, noticePeriod, CAPACITY);
    }

    /// @dev The tenant's transaction, sent with the hash it read before the front-run; it must revert
    /// naming both hashes and move nothing.
    function expectRefused(bytes32 seen) internal {
        Books memory b = books();
        bytes32 current = market.offerTermsHash(offerId);
        assertTrue(current != seen, "the terms changed");
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, seen, current));
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, seen);
        assertBooksUnchanged(b, "after the refused open");
    }

    // ─── Front-run offer updates ────────────────────────────────────────────────────────────

    /// @notice A longer notice period binds the tenant to paying longer after it gives notice.
    function test_RevertWhen_NoticePeriodChangedBeforeOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE, MIN_DURATION, MAX_DURATION, 6 hours);
        expectRefused(seen);
    }

    /// @notice A longer minimum duration locks the tenant in for longer.
    function test_RevertWhen_MinDurationChangedBeforeOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE, 5 hours, MAX_DURATION, NOTICE);
        expectRefused(seen);
    }

    /// @notice Any change of the maximum duration is a change of the terms the tenant accepted.
    function test_RevertWhen_MaxDurationChangedBeforeOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE, MIN_DURATION, 20 hours, NOTICE);
        expectRefused(seen);
    }

    /// @notice The classic: the price doubles under the tenant's feet.
    function test_RevertWhen_PriceChangedBeforeOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE * 2, MIN_DURATION, MAX_DURATION, NOTICE);
        expectRefused(seen);
    }

    /// @notice Even a price cut is refused: the tenant signs for exact terms, not for a bound.
    function test_RevertWhen_PriceLoweredBeforeOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE - 1, MIN_DURATION, MAX_DURATION, NOTICE);
        expectRefused(seen);
    }

    /// @notice The permitted open is bound the same way, and the permit is not spent.
    function test_RevertWhen_PriceChangedBeforeOpenWithPermit() public {
        bytes32 seen = market.offerTermsHash(offerId);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        frontRun(PRICE * 2, MIN_DURATION, MAX_DURATION, NOTICE);
        Books memory b = booksOf(permitTenant, provider, offerId);
        uint256 nonce = usdc.nonces(permitTenant);
        bytes32 current = market.offerTermsHash(offerId);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, seen, current));
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, seen, deadline, v, r, s);

        assertBooks(booksOf(permitTenant, provider, offerId), b, "after the refused open");
        assertEq(usdc.nonces(permitTenant), nonce, "permit not used");
        assertEq(usdc.allowance(permitTenant, address(market)), 0, "no allowance granted");
    }

    /// @notice The notice period front-run on the permitted path.
    function test_RevertWhen_NoticePeriodChangedBeforeOpenWithPermit() public {
        bytes32 seen = market.offerTermsHash(offerId);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        frontRun(PRICE, MIN_DURATION, MAX_DURATION, 6 hours);
        Books memory b = booksOf(permitTenant, provider, offerId);
        bytes32 current = market.offerTermsHash(offerId);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, seen, current));
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, seen, deadline, v, r, s);

        assertBooks(booksOf(permitTenant, provider, offerId), b, "after the refused open");
    }

    /// @notice The hash of one offer never opens another with the same terms: it names the offer
    /// and its provider.
    function test_RevertWhen_TermsHashOfAnotherOffer() public {
        (, uint256 twin) = otherProviderOffer("twin provider", PRICE);
        bytes32 seen = market.offerTermsHash(offerId);
        bytes32 current = market.offerTermsHash(twin);
        Books memory b = books();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, twin, seen, current));
        vm.prank(tenant);
        market.openLease(twin, DURATION, DEPOSIT, seen);
        assertBooksUnchanged(b, "after the refused open");
    }

    // ─── Governance between read and open ───────────────────────────────────────────────────

    /// @notice A parameters version the provider accepts between the tenant's read and its open changes
    /// the fee, bond, windows and arbiter the lease would get: refused.
    function test_RevertWhen_ProviderAcceptedParamsBeforeOpen() public {
        (, uint256 effectiveAt) = scheduleParams(hostileParams(makeAddr("accomplice")));
        vm.warp(effectiveAt);
        bytes32 seen = market.offerTermsHash(offerId);
        acceptParams(offerId); // the front-run
        expectRefused(seen);
    }

    /// @notice A version taking effect alone does not change the terms: the offer keeps the version its
    /// provider accepted, and the lease opens on it.
    function test_ParamsVersionTakingEffectDoesNotChangeTerms() public {
        uint256 version = market.paramsVersion();
        (, uint256 effectiveAt) = scheduleParams(hostileParams(makeAddr("accomplice")));
        vm.warp(effectiveAt - 1);
        bytes32 seen = market.offerTermsHash(offerId);
        vm.warp(effectiveAt);
        assertEq(market.offerTermsHash(offerId), seen, "same terms");
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, seen);
        assertEq(market.lease(leaseId).paramsVersion, version, "the accepted version");
    }

    /// @notice The same front-run on the permitted path.
    function test_RevertWhen_ProviderAcceptedParamsBeforeOpenWithPermit() public {
        (, uint256 effectiveAt) = scheduleParams(hostileParams(makeAddr("accomplice")));
        vm.warp(effectiveAt);
        bytes32 seen = market.offerTermsHash(offerId);
        uint256 deadline = effectiveAt + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        acceptParams(offerId);
        Books memory b = booksOf(permitTenant, provider, offerId);
        bytes32 current = market.offerTermsHash(offerId);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, seen, current));
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, seen, deadline, v, r, s);
        assertBooks(booksOf(permitTenant, provider, offerId), b, "after the refused open");
    }

    /// @notice A version merely scheduled (not in force) reaches no lease opened before it takes
    /// effect, so it does not invalidate what the tenant read: the lease opens on the old version.
    function test_ScheduledVersionDoesNotChangeTermsBeforeItTakesEffect() public {
        uint256 version = market.paramsVersion();
        bytes32 seen = market.offerTermsHash(offerId);
        scheduleParams(hostileParams(makeAddr("accomplice")));
        assertEq(market.offerTermsHash(offerId), seen, "same terms");

        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, seen);
        assertEq(market.lease(leaseId).paramsVersion, version, "old version");
    }

    // ─── What the hash does not cover, and what the tenant gets ─────────────────────────────

    /// @notice The lease opens with exactly the terms the tenant read.
    function test_LeaseGetsTheTermsTheTenantRead() public {
        Offer memory o = market.offer(offerId);
        uint256 version = market.paramsVersion();
        bytes32 seen = market.offerTermsHash(offerId);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, seen);

        Lease memory l = market.lease(leaseId);
        assertEq(l.pricePerSecond, o.pricePerSecond, "price");
        assertEq(l.noticePeriod, o.noticePeriod, "notice");
        assertEq(l.minEndsAt, block.timestamp + o.minDuration, "minimum duration");
        assertEq(l.paramsVersion, version, "params version");
        assertEq(l.deposit, DEPOSIT, "deposit");
    }

    /// @notice Terms changed and changed back are the terms the tenant read: the hash is of the
    /// terms, not of the history.
    function test_TermsChangedAndRestoredStillOpen() public {
        bytes32 seen = market.offerTermsHash(offerId);
        frontRun(PRICE * 2, MIN_DURATION, MAX_DURATION, NOTICE);
        frontRun(PRICE, MIN_DURATION, MAX_DURATION, NOTICE);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, seen);
        assertEq(market.lease(leaseId).pricePerSecond, PRICE, "price read");
    }

    /// @notice Capacity is not a term of the lease: changing it does not refuse a tenant that fits.
    function test_CapacityChangeKeepsTermsHash() public {
        bytes32 seen = market.offerTermsHash(offerId);
        vm.prank(provider);
        market.updateOffer(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        assertEq(market.offerTermsHash(offerId), seen, "same terms");
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, seen);
    }

    function signPermit(uint256 value, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, permitTenant, address(market), value, usdc.nonces(permitTenant), deadline)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(permitTenantKey, digest);
    }
}
