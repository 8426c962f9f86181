// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Offer changes in front of a tenant. A tenant opens a lease on the `offerTermsHash` it read; a
/// provider front-running `openLease` (or `openLeaseWithPermit`, or `failoverLease`) with `updateOffer` of
/// the price, notice period, minimum or maximum duration, or a governance parameters version taking effect
/// between the read and the open, makes the call revert with `OpenleaseTermsChanged(offerId, expected,
/// current)` and moves no funds. No later change of the offer reaches a lease already open; lowering
/// capacity below the active leases only blocks new ones.
contract PriceFrontRunning_Adversarial_Test is AdversarialBase {
    uint32 internal constant DURATION = 10 hours;

    /// @dev What the tenant's wallet, the market and the provider hold, and how many leases exist.
    struct Funds {
        uint256 tenantBalance;
        uint256 marketBalance;
        uint256 leaseCount;
        uint256 activeLeases;
        uint256 locked;
    }

    function funds() internal view returns (Funds memory f) {
        f.tenantBalance = usdc.balanceOf(tenant);
        f.marketBalance = usdc.balanceOf(address(market));
        f.leaseCount = market.leaseCount();
        f.activeLeases = market.offer(offerId).activeLeases;
        f.locked = market.stakeOf(provider, address(usdc)).locked;
    }

    function assertNoFundsMoved(Funds memory before) internal view {
        Funds memory now_ = funds();
        assertEq(now_.tenantBalance, before.tenantBalance, "tenant balance");
        assertEq(now_.marketBalance, before.marketBalance, "market balance");
        assertEq(now_.leaseCount, before.leaseCount, "lease count");
        assertEq(now_.activeLeases, before.activeLeases, "active leases");
        assertEq(now_.locked, before.locked, "provider's locked stake");
    }

    /// @dev The terms hash as `IOpenlease.offerTermsHash` documents it, computed independently.
    function termsHashOf(uint64 price, uint32 minDuration, uint32 maxDuration, uint32 notice, uint256 version)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                offerId,
                provider,
                address(usdc),
                price,
                minDuration,
                maxDuration,
                notice,
                version,
                bytes32(0),
                address(0)
            )
        );
    }

    function updateOffer(uint64 price, uint32 minDuration, uint32 maxDuration, uint32 noticePeriod, uint16 capacity)
        internal
    {
        vm.expectEmit(address(market));
        emit OfferUpdated(offerId, price, minDuration, maxDuration, noticePeriod, capacity);
        vm.prank(provider);
        market.updateOffer(offerId, price, minDuration, maxDuration, noticePeriod, capacity);
    }

    function expectTermsChanged(bytes32 expected, bytes32 current) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, expected, current));
    }

    /// @dev The tenant reads the terms, the provider front-runs with `updateOffer`, then the tenant's
    /// openLease with what it read reverts naming both hashes, and nothing moves.
    function frontRunOpenLease(uint64 price, uint32 minDuration, uint32 maxDuration, uint32 notice) internal {
        bytes32 read = market.offerTermsHash(offerId);
        assertEq(read, termsHashOf(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1), "the hash the tenant read");
        updateOffer(price, minDuration, maxDuration, notice, CAPACITY);
        bytes32 current = market.offerTermsHash(offerId);
        assertEq(current, termsHashOf(price, minDuration, maxDuration, notice, 1), "the offer's hash now");
        assertNotEq(current, read, "the terms changed");
        Funds memory before = funds();

        expectTermsChanged(read, current);
        vm.prank(tenant);
        market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);

        assertNoFundsMoved(before);
    }

    // ─── Offer terms changed in front of openLease ──────────────────────────────────────────

    function test_RevertWhen_ProviderRaisesThePriceInFrontOfOpenLease() public {
        frontRunOpenLease(2 * PRICE, MIN_DURATION, MAX_DURATION, NOTICE);
    }

    function test_RevertWhen_ProviderLowersThePriceInFrontOfOpenLease() public {
        // Even a cheaper price is not what the tenant accepted: it also means a smaller bond.
        frontRunOpenLease(PRICE - 1, MIN_DURATION, MAX_DURATION, NOTICE);
    }

    function test_RevertWhen_ProviderShortensTheNoticeInFrontOfOpenLease() public {
        // A shorter notice locks a smaller bond and lets the provider walk away sooner.
        updateOffer(PRICE, MIN_DURATION, MAX_DURATION, 2 * NOTICE, CAPACITY);
        bytes32 read = market.offerTermsHash(offerId);
        updateOffer(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        Funds memory before = funds();

        expectTermsChanged(read, termsHashOf(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1));
        vm.prank(tenant);
        market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);
        assertNoFundsMoved(before);
    }

    function test_RevertWhen_ProviderLengthensTheNoticeInFrontOfOpenLease() public {
        // A longer notice binds the tenant longer after it gives notice.
        frontRunOpenLease(PRICE, MIN_DURATION, MAX_DURATION, 4 * NOTICE);
    }

    function test_RevertWhen_ProviderRaisesTheMinDurationInFrontOfOpenLease() public {
        // A longer minimum duration makes the tenant pay for more before it can leave.
        frontRunOpenLease(PRICE, 5 hours, MAX_DURATION, NOTICE);
    }

    function test_RevertWhen_ProviderLowersTheMaxDurationInFrontOfOpenLease() public {
        frontRunOpenLease(PRICE, MIN_DURATION, DURATION, NOTICE);
    }

    /// @dev Any change of price, notice, minimum or maximum duration, within valid offer terms, makes the
    /// open revert with the exact hashes and move nothing.
    function testFuzz_RevertWhen_AnyTermChangesInFrontOfOpenLease(
        uint64 price,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 notice
    ) public {
        price = uint64(bound(price, 1, 1e9));
        minDuration = uint32(bound(minDuration, 1, 30 days));
        maxDuration = uint32(bound(maxDuration, minDuration, 60 days));
        if (maxDuration < 1 hours) maxDuration = 1 hours;
        notice = uint32(bound(notice, 1 hours, maxDuration));
        vm.assume(price != PRICE || minDuration != MIN_DURATION || maxDuration != MAX_DURATION || notice != NOTICE);
        frontRunOpenLease(price, minDuration, maxDuration, notice);
    }

    function test_RevertWhen_PriceRaisedInFrontOfOpenLeaseWithPermit() public {
        bytes32 read = market.offerTermsHash(offerId);
        updateOffer(2 * PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        Funds memory before = funds();
        uint256 nonce = usdc.nonces(tenant);

        expectTermsChanged(read, market.offerTermsHash(offerId));
        vm.prank(tenant);
        market.openLeaseWithPermit(
            offerId, DURATION, uint256(PRICE) * DURATION, read, block.timestamp, 27, bytes32(0), bytes32(0)
        );
        assertNoFundsMoved(before);
        assertEq(usdc.nonces(tenant), nonce, "no permit used");
    }

    function test_RevertWhen_PriceRaisedInFrontOfFailover() public {
        uint256 oldLease = openDefaultLease();
        skip(2 hours);
        bytes32 read = market.offerTermsHash(offerId);
        updateOffer(2 * PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        Lease memory oldBefore = market.lease(oldLease);
        Funds memory before = funds();

        expectTermsChanged(read, market.offerTermsHash(offerId));
        vm.prank(tenant);
        market.failoverLease(oldLease, offerId, DURATION, 0, read);

        assertNoFundsMoved(before);
        assertEq(abi.encode(market.lease(oldLease)), abi.encode(oldBefore), "old lease untouched (no notice)");
    }

    function test_TenantAcceptingTheNewTermsOpensAtThem() public {
        updateOffer(2 * PRICE, 2 hours, MAX_DURATION, 2 * NOTICE, CAPACITY);
        bytes32 current = market.offerTermsHash(offerId);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, uint256(2 * PRICE) * DURATION, current);
        Lease memory l = market.lease(leaseId);
        assertEq(l.pricePerSecond, 2 * PRICE, "price");
        assertEq(l.noticePeriod, 2 * NOTICE, "notice");
        assertEq(l.minEndsAt, block.timestamp + 2 hours, "minimum duration");
        assertEq(l.bond, bondOf(offerId), "bond of the new terms");
    }

    function test_TermsRestoredBeforeOpenLeaseOpenAtTheTermsRead() public {
        // A change undone before the open leaves exactly the terms the tenant read: the hash matches.
        bytes32 read = market.offerTermsHash(offerId);
        updateOffer(2 * PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        updateOffer(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        assertEq(market.offerTermsHash(offerId), read, "same terms, same hash");
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);
        assertEq(market.lease(leaseId).pricePerSecond, PRICE, "price read");
    }

    function test_CapacityIsNotATermOfTheLease() public {
        // Capacity decides whether a lease opens at all, not what it costs: changing it keeps the hash.
        bytes32 read = market.offerTermsHash(offerId);
        updateOffer(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY - 1);
        assertEq(market.offerTermsHash(offerId), read, "hash unchanged");
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);
        assertEq(market.lease(leaseId).pricePerSecond, PRICE, "opened");
    }

    // ─── A parameters version taking effect between read and open ───────────────────────────

    /// @dev The tenant reads the terms under version 1 while version 2 is pending. Version 2 taking
    /// effect changes nothing (the offer keeps the version its provider accepted); the provider then
    /// accepts version 2 before the tenant's transaction lands, so the open reverts rather than bind the
    /// tenant to parameters (fee, bond, arbiter, ...) it never saw.
    function test_RevertWhen_ProviderAcceptsParamsBetweenReadAndOpen() public {
        Params memory p = defaultParams();
        p.protocolFeeBps = 1_000;
        p.bondBps = 50_000;
        p.arbiter = makeAddr("newArbiter");
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        vm.warp(effectiveAt - 1);
        bytes32 read = market.offerTermsHash(offerId);
        assertEq(read, termsHashOf(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1), "read under version 1");

        vm.warp(effectiveAt);
        assertEq(market.offerTermsHash(offerId), read, "in force, not accepted: the same terms");
        acceptParams(offerId);
        bytes32 current = market.offerTermsHash(offerId);
        assertEq(current, termsHashOf(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 2), "version 2 accepted");
        Funds memory before = funds();
        expectTermsChanged(read, current);
        vm.prank(tenant);
        market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);
        assertNoFundsMoved(before);

        // Read again, the tenant opens under version 2, knowingly.
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, current);
        assertEq(market.lease(leaseId).paramsVersion, 2, "version 2");
        assertEq(market.leaseParams(leaseId).arbiter, p.arbiter, "its arbiter");
        assertEq(market.lease(leaseId).bond, uint256(PRICE) * NOTICE * 50_000 / 10_000, "its bond");
    }

    function test_PendingParamsDoNotChangeTheTermsBeforeTheyTakeEffect() public {
        bytes32 read = market.offerTermsHash(offerId);
        Params memory p = defaultParams();
        p.protocolFeeBps = 1_000;
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        assertEq(market.offerTermsHash(offerId), read, "a pending version changes nothing yet");

        vm.warp(effectiveAt - 1);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, read);
        assertEq(market.lease(leaseId).paramsVersion, 1, "opened under the version read");
        assertEq(market.leaseParams(leaseId).protocolFeeBps, defaultParams().protocolFeeBps, "its fee");
    }

    // ─── Open leases keep their terms ───────────────────────────────────────────────────────

    function test_OfferChangesDoNotReachAnOpenLease() public {
        uint256 leaseId = openDefaultLease();
        Lease memory before = market.lease(leaseId);

        updateOffer(3 * PRICE, 2 hours, MAX_DURATION, 4 hours, CAPACITY);
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        Lease memory after_ = market.lease(leaseId);
        assertEq(abi.encode(after_), abi.encode(before), "lease unchanged");
        assertEq(market.leaseEnd(leaseId), before.startedAt + 10 hours, "lease end");

        // A receipt claiming the new price is capped by what the lease's own terms accrued.
        skip(1 hours);
        uint256 accrued = uint256(PRICE) * 1 hours;
        assertEq(market.settle(signedReceipt(leaseId, 3 * accrued)), accrued, "paid at the lease's price");

        // Notice is the lease's, not the offer's.
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, block.timestamp + NOTICE, "closed with the original notice");
    }

    function test_LoweringCapacityBlocksNewLeasesOnly() public {
        uint256[] memory leases = new uint256[](3);
        for (uint256 i; i < 3; ++i) {
            leases[i] = openDefaultLease();
        }
        updateOffer(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);

        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferAtCapacity.selector, offerId, 1));
        vm.prank(tenant);
        market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, termsHash);

        // The existing leases run, settle and finalize as before.
        skip(1 hours);
        uint256 amount = uint256(PRICE) * 1 hours;
        for (uint256 i; i < 3; ++i) {
            assertEq(market.settle(signedReceipt(leases[i], amount)), amount, "settled");
        }
        vm.warp(market.settlementDeadline(leases[0]));
        for (uint256 i; i < 3; ++i) {
            market.finalizeLease(leases[i]);
            assertEq(market.offer(offerId).activeLeases, 2 - i, "active leases");
            assertEq(market.claimable(tenant, address(usdc)), (i + 1) * (uint256(PRICE) * DURATION - amount), "refunds");
        }

        // Below capacity again: new leases open.
        uint256 next = openLease(tenant, offerId, DURATION, uint256(PRICE) * DURATION);
        assertEq(market.offer(offerId).activeLeases, 1, "active leases");
        assertEq(uint8(market.lease(next).status), uint8(LeaseStatus.Open), "opened");
    }

    function test_RevertWhen_OfferIsPausedInFrontOfOpenLease() public {
        uint256 leaseId = openDefaultLease();
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferPaused.selector, offerId));
        vm.prank(tenant);
        market.openLease(offerId, DURATION, uint256(PRICE) * DURATION, termsHash);

        skip(1 hours);
        assertEq(market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours)), uint256(PRICE) * 1 hours, "settles");
    }
}
