// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Offer changes in front of a tenant: a price raise above the tenant's maximum makes openLease
/// revert, and no later change of price, notice, duration, capacity or pause reaches a lease already
/// open; lowering capacity below the active leases only blocks new ones.
contract PriceFrontRunning_Adversarial_Test is AdversarialBase {
    function updateOffer(uint64 price, uint32 minDuration, uint32 noticePeriod, uint16 capacity) internal {
        vm.expectEmit(address(market));
        emit OfferUpdated(offerId, price, minDuration, MAX_DURATION, noticePeriod, capacity);
        vm.prank(provider);
        market.updateOffer(offerId, price, minDuration, MAX_DURATION, noticePeriod, capacity);
    }

    function test_RevertWhen_ProviderRaisesThePriceInFrontOfOpenLease() public {
        updateOffer(2 * PRICE, MIN_DURATION, NOTICE, CAPACITY);
        uint256 balanceBefore = usdc.balanceOf(tenant);
        uint256 leasesBefore = market.leaseCount();

        vm.expectRevert(abi.encodeWithSelector(OpenleasePriceAboveMax.selector, offerId, 2 * PRICE, PRICE));
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(2 * PRICE) * 10 hours, PRICE);

        assertEq(usdc.balanceOf(tenant), balanceBefore, "tenant balance");
        assertEq(market.leaseCount(), leasesBefore, "lease count");
        assertEq(market.offer(offerId).activeLeases, 0, "active leases");
    }

    function testFuzz_RevertWhen_PriceAboveTheTenantsMax(uint64 newPrice, uint64 maxPrice) public {
        newPrice = uint64(bound(newPrice, 2, type(uint64).max));
        maxPrice = uint64(bound(maxPrice, 0, newPrice - 1));
        updateOffer(newPrice, MIN_DURATION, NOTICE, CAPACITY);

        vm.expectRevert(abi.encodeWithSelector(OpenleasePriceAboveMax.selector, offerId, newPrice, maxPrice));
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, maxPrice);
    }

    function test_TenantAcceptingTheNewPriceOpensAtIt() public {
        updateOffer(2 * PRICE, MIN_DURATION, NOTICE, CAPACITY);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, 10 hours, uint256(2 * PRICE) * 10 hours, 2 * PRICE);
        assertEq(market.lease(leaseId).pricePerSecond, 2 * PRICE, "price");
    }

    function test_OfferChangesDoNotReachAnOpenLease() public {
        uint256 leaseId = openDefaultLease();
        Lease memory before = market.lease(leaseId);

        updateOffer(3 * PRICE, 2 hours, 4 hours, CAPACITY);
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        Lease memory after_ = market.lease(leaseId);
        assertEq(after_.pricePerSecond, before.pricePerSecond, "price");
        assertEq(after_.bond, before.bond, "bond");
        assertEq(after_.noticePeriod, before.noticePeriod, "notice");
        assertEq(after_.minEndsAt, before.minEndsAt, "minEndsAt");
        assertEq(after_.endsAt, before.endsAt, "endsAt");
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
        updateOffer(PRICE, MIN_DURATION, NOTICE, 1);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferAtCapacity.selector, offerId, 1));
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, PRICE);

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
            assertEq(market.claimable(tenant, address(usdc)), (i + 1) * (uint256(PRICE) * 10 hours - amount), "refunds");
        }

        // Below capacity again: new leases open.
        uint256 next = openLease(tenant, offerId, 10 hours, uint256(PRICE) * 10 hours);
        assertEq(market.offer(offerId).activeLeases, 1, "active leases");
        assertEq(uint8(market.lease(next).status), uint8(LeaseStatus.Open), "opened");
    }

    function test_RevertWhen_OfferIsPausedInFrontOfOpenLease() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(provider);
        market.setOfferPaused(offerId, true);

        vm.expectRevert(abi.encodeWithSelector(OpenleaseOfferPaused.selector, offerId));
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, PRICE);

        skip(1 hours);
        assertEq(market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours)), uint256(PRICE) * 1 hours, "settles");
    }
}
