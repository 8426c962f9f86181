// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {BaseTest} from "../Base.t.sol";

/// @notice Shared helpers of the offer unit tests.
abstract contract OffersUnitTest is BaseTest, IOpenleaseEvents {
    function assertOffer(Offer memory actual, Offer memory expected) internal pure {
        assertEq(actual.provider, expected.provider, "provider");
        assertEq(actual.pricePerSecond, expected.pricePerSecond, "pricePerSecond");
        assertEq(actual.capacity, expected.capacity, "capacity");
        assertEq(actual.activeLeases, expected.activeLeases, "activeLeases");
        assertEq(actual.token, expected.token, "token");
        assertEq(actual.minDuration, expected.minDuration, "minDuration");
        assertEq(actual.maxDuration, expected.maxDuration, "maxDuration");
        assertEq(actual.noticePeriod, expected.noticePeriod, "noticePeriod");
        assertEq(actual.paused, expected.paused, "paused");
        assertEq(actual.paramsVersion, expected.paramsVersion, "paramsVersion");
        assertEq(actual.bondBps, expected.bondBps, "bondBps");
        assertEq(actual.verifier, expected.verifier, "verifier");
        assertEq(actual.workload, expected.workload, "workload");
    }

    function expectInvalidTerms(uint64 price, uint32 minD, uint32 maxD, uint32 notice, uint16 capacity) internal {
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInvalidOfferTerms.selector, price, minD, maxD, notice, capacity
            )
        );
    }

    function publish(uint64 price, uint32 minD, uint32 maxD, uint32 notice, uint16 capacity)
        internal
        returns (uint256)
    {
        vm.prank(provider);
        return market.publishOffer(address(usdc), price, minD, maxD, notice, capacity, bytes32(0), address(0));
    }

    function update(uint256 id, uint64 price, uint32 minD, uint32 maxD, uint32 notice, uint16 capacity) internal {
        vm.prank(provider);
        market.updateOffer(id, price, minD, maxD, notice, capacity);
    }
}

/// @notice `publishOffer`: registered providers publish valid terms in allow-listed tokens; ids start at 1.
contract PublishOffer_Unit_Test is OffersUnitTest {
    function test_PublishOffer() public {
        uint256 countBefore = market.offerCount();
        vm.expectEmit(address(market));
        emit OfferPublished(
            countBefore + 1, provider, address(dai), 2_000, 2 hours, 7 days, 90 minutes, 10, 1, bytes32(0), address(0)
        );
        vm.prank(provider);
        uint256 id = market.publishOffer(address(dai), 2_000, 2 hours, 7 days, 90 minutes, 10, bytes32(0), address(0));

        assertEq(id, countBefore + 1, "id");
        assertEq(market.offerCount(), countBefore + 1, "offerCount");
        assertOffer(
            market.offer(id),
            Offer({
                provider: provider,
                pricePerSecond: 2_000,
                capacity: 10,
                activeLeases: 0,
                token: address(dai),
                minDuration: 2 hours,
                maxDuration: 7 days,
                noticePeriod: 90 minutes,
                paused: false,
                paramsVersion: 1,
                bondBps: defaultParams().bondBps,
                verifier: address(0),
                workload: bytes32(0)
            })
        );
    }

    function test_PublishOffer_IdsStartAtOne() public {
        // The fixture's offer was the market's first.
        assertEq(offerId, 1);
        assertEq(market.offer(0).provider, address(0));
        assertEq(publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY), 2);
        assertEq(publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY), 3);
        assertEq(market.offerCount(), 3);
    }

    function test_PublishOffer_BoundaryTerms() public {
        // min == max, notice == max, capacity 1, price 1 are all valid.
        uint256 id = publish(1, 1 days, 1 days, 1 days, 1);
        Offer memory o = market.offer(id);
        assertEq(o.minDuration, o.maxDuration);
        assertEq(o.noticePeriod, o.maxDuration);
        assertEq(o.capacity, 1);
        assertEq(o.pricePerSecond, 1);
        // The minimum notice period, with a minimum duration below it, is valid too.
        o = market.offer(publish(PRICE, 1, 1 hours, 1 hours, type(uint16).max));
        assertEq(o.noticePeriod, 1 hours);
        assertEq(o.minDuration, 1);
    }

    /// @dev Every lease must lock a bond, so every offer gives at least an hour's notice.
    function test_RevertWhen_NoticeBelowMin() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, 1 hours - 1, CAPACITY);
        publish(PRICE, MIN_DURATION, MAX_DURATION, 1 hours - 1, CAPACITY);
    }

    function test_RevertWhen_ZeroNotice() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        publish(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
    }

    function test_RevertWhen_NotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseProviderNotRegistered.selector, tenant));
        vm.prank(tenant);
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0));
    }

    function test_RevertWhen_TokenNotAllowed() public {
        MockStablecoin other = new MockStablecoin("Other", "OTH", 6);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, address(other)));
        vm.prank(provider);
        market.publishOffer(address(other), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0));
    }

    function test_RevertWhen_ZeroPrice() public {
        expectInvalidTerms(0, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        publish(0, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_ZeroMinDuration() public {
        expectInvalidTerms(PRICE, 0, MAX_DURATION, NOTICE, CAPACITY);
        publish(PRICE, 0, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_MaxBelowMin() public {
        expectInvalidTerms(PRICE, 2 hours, 2 hours - 1, NOTICE, CAPACITY);
        publish(PRICE, 2 hours, 2 hours - 1, NOTICE, CAPACITY);
    }

    function test_RevertWhen_NoticeAboveMax() public {
        expectInvalidTerms(PRICE, MIN_DURATION, 2 hours, 2 hours + 1, CAPACITY);
        publish(PRICE, MIN_DURATION, 2 hours, 2 hours + 1, CAPACITY);
    }

    function test_RevertWhen_ZeroCapacity() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 0);
        publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 0);
    }

    function test_RevertWhen_Paused() public {
        vm.prank(admin);
        market.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }
}

/// @notice `updateOffer`: the provider changes the terms of new leases; open leases keep theirs.
contract UpdateOffer_Unit_Test is OffersUnitTest {
    function test_UpdateOffer() public {
        Offer memory before = market.offer(offerId);
        vm.expectEmit(address(market));
        emit OfferUpdated(offerId, 2_000, 2 hours, 10 days, 2 hours, 5);
        update(offerId, 2_000, 2 hours, 10 days, 2 hours, 5);

        assertOffer(
            market.offer(offerId),
            Offer({
                provider: before.provider,
                pricePerSecond: 2_000,
                capacity: 5,
                activeLeases: before.activeLeases,
                token: before.token,
                minDuration: 2 hours,
                maxDuration: 10 days,
                noticePeriod: 2 hours,
                paused: before.paused,
                paramsVersion: before.paramsVersion,
                bondBps: before.bondBps,
                verifier: before.verifier,
                workload: before.workload
            })
        );
        assertEq(market.offerCount(), 1, "no new offer");
    }

    function test_UpdateOffer_KeepsPauseAndActiveLeases() public {
        openDefaultLease();
        vm.prank(provider);
        market.setOfferPaused(offerId, true);
        update(offerId, 2_000, 2 hours, 10 days, 2 hours, 5);
        Offer memory o = market.offer(offerId);
        assertTrue(o.paused);
        assertEq(o.activeLeases, 1);
    }

    function test_UpdateOffer_OpenLeasesKeepTheirTerms() public {
        uint256 oldLease = openDefaultLease();
        Lease memory before = market.lease(oldLease);
        update(offerId, 2 * PRICE, 2 hours, 10 days, 2 hours, CAPACITY);

        Lease memory afterL = market.lease(oldLease);
        assertEq(keccak256(abi.encode(afterL)), keccak256(abi.encode(before)), "open lease unchanged");
        assertEq(afterL.pricePerSecond, PRICE);
        assertEq(afterL.noticePeriod, NOTICE);
        assertEq(market.offer(offerId).activeLeases, 1);

        // A new lease gets the new terms.
        uint256 newLease = openLease(tenant, offerId, 5 hours, 2 * PRICE * 5 hours);
        Lease memory l = market.lease(newLease);
        assertEq(l.pricePerSecond, 2 * PRICE);
        assertEq(l.noticePeriod, 2 hours);
        assertEq(l.minEndsAt, block.timestamp + 2 hours);
        assertEq(l.bond, uint256(2 * PRICE) * 2 hours * market.params().bondBps / 10_000);

        // Notice on the old lease still runs on its own notice period.
        skip(3 hours);
        vm.prank(tenant);
        market.closeLease(oldLease);
        assertEq(market.lease(oldLease).endsAt, block.timestamp + NOTICE);
    }

    function test_UpdateOffer_CapacityBelowActiveLeases() public {
        uint256 first = openDefaultLease();
        openDefaultLease();
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        assertEq(market.offer(offerId).activeLeases, 2);
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferAtCapacity.selector, offerId, 1));
        openLeaseWithHash(tenant, offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash);
        // The open leases are unaffected.
        vm.prank(tenant);
        market.closeLease(first);
    }

    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 0));
        update(0, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 2));
        update(2, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_NotProvider() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, tenant));
        vm.prank(tenant);
        market.updateOffer(offerId, 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_OtherProvider() public {
        address other = makeAddr("otherProvider");
        registerAndStake(other, address(usdc), 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, other));
        vm.prank(other);
        market.updateOffer(offerId, 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_ZeroPrice() public {
        expectInvalidTerms(0, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        update(offerId, 0, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_ZeroMinDuration() public {
        expectInvalidTerms(PRICE, 0, MAX_DURATION, NOTICE, CAPACITY);
        update(offerId, PRICE, 0, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_MaxBelowMin() public {
        expectInvalidTerms(PRICE, 3 hours, 2 hours, NOTICE, CAPACITY);
        update(offerId, PRICE, 3 hours, 2 hours, NOTICE, CAPACITY);
    }

    function test_RevertWhen_NoticeAboveMax() public {
        expectInvalidTerms(PRICE, MIN_DURATION, 2 hours, 2 hours + 1, CAPACITY);
        update(offerId, PRICE, MIN_DURATION, 2 hours, 2 hours + 1, CAPACITY);
    }

    /// @dev An update cannot bring an offer below the minimum notice either.
    function test_RevertWhen_NoticeBelowMin() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, 1 hours - 1, CAPACITY);
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION, 1 hours - 1, CAPACITY);
    }

    function test_RevertWhen_ZeroCapacity() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 0);
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 0);
    }
}

/// @notice `setOfferPaused`: the provider stops and resumes new leases of an offer.
contract SetOfferPaused_Unit_Test is OffersUnitTest {
    function test_SetOfferPaused() public {
        Offer memory before = market.offer(offerId);
        vm.expectEmit(address(market));
        emit OfferPauseSet(offerId, true);
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        before.paused = true;
        assertOffer(market.offer(offerId), before);

        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferPaused.selector, offerId));
        openLeaseWithHash(tenant, offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash);
    }

    function test_SetOfferPaused_Unpause() public {
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        vm.expectEmit(address(market));
        emit OfferPauseSet(offerId, false);
        vm.prank(provider);
        market.setOfferPaused(offerId, false);

        assertFalse(market.offer(offerId).paused);
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).offerId, offerId);
        assertEq(market.offer(offerId).activeLeases, 1);
    }

    function test_SetOfferPaused_OpenLeasesRunOn() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(provider);
        market.setOfferPaused(offerId, true);
        skip(1 hours);
        vm.prank(tenant);
        market.topUp(leaseId, PRICE * 1 hours);
        assertEq(market.lease(leaseId).deposit, PRICE * 11 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, block.timestamp + NOTICE);
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.offer(offerId).activeLeases, 0);
    }

    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 7));
        vm.prank(provider);
        market.setOfferPaused(7, true);
    }

    function test_RevertWhen_NotProvider() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, tenant));
        vm.prank(tenant);
        market.setOfferPaused(offerId, true);
    }
}

/// @notice `offerTermsHash`: what a tenant accepts by opening a lease of an offer now. It commits to the
/// offer's id, provider, token, price, durations, notice period, workload and verifier and to the parameters version new leases
/// get, and to nothing else (capacity and the pause decide whether a lease opens, not on what terms).
contract OfferTermsHash_Unit_Test is OffersUnitTest {
    function expected(uint256 id, uint64 price, uint32 minD, uint32 maxD, uint32 notice, uint256 version)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(id, provider, address(usdc), price, minD, maxD, notice, version, bytes32(0), address(0))
        );
    }

    function test_OfferTermsHash() public view {
        assertEq(
            market.offerTermsHash(offerId), expected(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1), "hash"
        );
    }

    function test_OfferTermsHash_DiffersBetweenOffersOfTheSameTerms() public {
        uint256 twin = publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        assertNotEq(market.offerTermsHash(twin), market.offerTermsHash(offerId));
        assertEq(market.offerTermsHash(twin), expected(twin, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1));
    }

    function test_OfferTermsHash_FollowsEveryTerm() public {
        update(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        assertEq(market.offerTermsHash(offerId), expected(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, 1));
        update(offerId, PRICE, MIN_DURATION + 1, MAX_DURATION, NOTICE, CAPACITY);
        assertEq(market.offerTermsHash(offerId), expected(offerId, PRICE, MIN_DURATION + 1, MAX_DURATION, NOTICE, 1));
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION - 1, NOTICE, CAPACITY);
        assertEq(market.offerTermsHash(offerId), expected(offerId, PRICE, MIN_DURATION, MAX_DURATION - 1, NOTICE, 1));
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE + 1, CAPACITY);
        assertEq(market.offerTermsHash(offerId), expected(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE + 1, 1));
    }

    function test_OfferTermsHash_IgnoresCapacityAndPause() public {
        bytes32 before = market.offerTermsHash(offerId);
        update(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        vm.prank(provider);
        market.setOfferPaused(offerId, true);
        assertEq(market.offerTermsHash(offerId), before);
    }

    /// @dev The hash commits to the version the offer's provider accepted: a version coming into force
    /// changes nothing until the provider accepts it.
    function test_OfferTermsHash_FollowsTheAcceptedParamsVersion() public {
        bytes32 before = market.offerTermsHash(offerId);
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(defaultParams());
        assertEq(market.offerTermsHash(offerId), before, "a pending version changes nothing");
        vm.warp(effectiveAt);
        assertEq(market.offerTermsHash(offerId), before, "nor one in force the provider did not accept");
        acceptParams(offerId);
        // Even identical parameters: a new version is a new commitment.
        assertEq(market.offerTermsHash(offerId), expected(offerId, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 2));
    }

    /// @dev An offer published while a version is in force commits to it at once.
    function test_OfferTermsHash_NewOfferCommitsToTheVersionInForce() public {
        applyParams(defaultParams());
        uint256 id = publish(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        assertEq(market.offer(id).paramsVersion, 2, "the version in force");
        assertEq(market.offerTermsHash(id), expected(id, PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 2));
    }

    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 0));
        market.offerTermsHash(0);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 2));
        market.offerTermsHash(2);
    }
}
