// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {BaseTest} from "../Base.t.sol";

/// @notice Shared helpers of the lease unit tests.
abstract contract LeasesUnitTest is BaseTest, IOpenleaseEvents {
    uint32 internal constant DURATION = 10 hours;
    uint256 internal constant DEPOSIT = uint256(PRICE) * DURATION;

    function bondFor(uint64 price, uint32 notice) internal view returns (uint96) {
        return uint96(uint256(price) * notice * market.params().bondBps / 10_000);
    }

    function publishOfferWith(uint64 price, uint32 minD, uint32 maxD, uint32 notice, uint16 capacity)
        internal
        returns (uint256)
    {
        vm.prank(provider);
        return market.publishOffer(address(usdc), price, minD, maxD, notice, capacity);
    }

    function assertLease(Lease memory actual, Lease memory expected) internal pure {
        assertEq(actual.tenant, expected.tenant, "tenant");
        assertEq(actual.offerId, expected.offerId, "offerId");
        assertEq(actual.startedAt, expected.startedAt, "startedAt");
        assertEq(actual.endsAt, expected.endsAt, "endsAt");
        assertEq(actual.deposit, expected.deposit, "deposit");
        assertEq(actual.settled, expected.settled, "settled");
        assertEq(actual.pricePerSecond, expected.pricePerSecond, "pricePerSecond");
        assertEq(actual.bond, expected.bond, "bond");
        assertEq(actual.noticePeriod, expected.noticePeriod, "noticePeriod");
        assertEq(actual.minEndsAt, expected.minEndsAt, "minEndsAt");
        assertEq(uint8(actual.status), uint8(expected.status), "status");
    }

    function assertStake(Stake memory actual, Stake memory expected) internal pure {
        assertEq(actual.staked, expected.staked, "staked");
        assertEq(actual.locked, expected.locked, "locked");
        assertEq(actual.thawing, expected.thawing, "thawing");
        assertEq(actual.thawEndsAt, expected.thawEndsAt, "thawEndsAt");
    }

    function settleAs(uint256 leaseId, uint256 cumulative) internal returns (uint256) {
        return market.settle(signedReceipt(leaseId, cumulative));
    }

    function expectUnknownLease(uint256 leaseId) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownLease.selector, leaseId));
    }

    function expectLeaseEnded(uint256 leaseId, uint256 end) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseEnded.selector, leaseId, end));
    }

    function expectLeaseFinalized(uint256 leaseId) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
    }

    function finalizedLease() internal returns (uint256 leaseId) {
        leaseId = openDefaultLease();
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
    }
}

/// @notice `openLease`: every check of the request, and the lease, bond, counters and escrow it creates.
contract OpenLease_Unit_Test is LeasesUnitTest {
    function test_OpenLease() public {
        uint96 bond = bondFor(PRICE, NOTICE);
        assertEq(bond, uint256(PRICE) * NOTICE * 20_000 / 10_000, "default bond is 2x notice");
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        Offer memory offerBefore = market.offer(offerId);
        uint256 countBefore = market.leaseCount();
        uint256 tenantBalance = usdc.balanceOf(tenant);
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint32 now_ = uint32(block.timestamp);
        Lease memory expected = Lease({
            tenant: tenant,
            offerId: uint32(offerId),
            startedAt: now_,
            endsAt: now_ + DURATION,
            deposit: uint96(DEPOSIT),
            settled: 0,
            pricePerSecond: PRICE,
            bond: bond,
            noticePeriod: NOTICE,
            minEndsAt: now_ + MIN_DURATION,
            status: LeaseStatus.Open
        });

        vm.expectEmit(address(market));
        emit LeaseOpened(countBefore + 1, offerId, tenant, expected);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, PRICE);

        assertEq(leaseId, countBefore + 1, "leaseId");
        assertEq(leaseId, 1, "lease ids start at 1");
        assertEq(market.leaseCount(), countBefore + 1, "leaseCount");
        assertLease(market.lease(leaseId), expected);
        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(stakeBefore.staked, stakeBefore.locked + bond, stakeBefore.thawing, stakeBefore.thawEndsAt)
        );
        assertEq(market.offer(offerId).activeLeases, offerBefore.activeLeases + 1, "activeLeases");
        assertEq(usdc.balanceOf(tenant), tenantBalance - DEPOSIT, "tenant balance");
        assertEq(usdc.balanceOf(address(market)), marketBalance + DEPOSIT, "market balance");
        assertEq(market.leaseEnd(leaseId), now_ + DURATION, "leaseEnd");
    }

    function test_OpenLease_BoundaryDurationsAndDeposit() public {
        uint256 minDeposit = uint256(PRICE) * MIN_DURATION;
        uint256 a = openLease(tenant, offerId, MIN_DURATION, minDeposit);
        uint256 b = openLease(tenant, offerId, MAX_DURATION, minDeposit);
        assertEq(market.lease(a).endsAt, block.timestamp + MIN_DURATION);
        assertEq(market.lease(b).endsAt, block.timestamp + MAX_DURATION);
        // The max-duration lease is funded for the minimum only: its runway ends first.
        assertEq(market.leaseEnd(b), block.timestamp + MIN_DURATION);
    }

    function test_OpenLease_ZeroNoticeLocksNoBond() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        Stake memory before = market.stakeOf(provider, address(usdc));
        uint256 leaseId = openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.lease(leaseId).bond, 0);
        assertStake(market.stakeOf(provider, address(usdc)), before);
    }

    function test_OpenLease_NonStandardToken() public {
        registerAndStake(makeAddr("usdtProvider"), address(usdt), 1_000e6);
        vm.prank(makeAddr("usdtProvider"));
        uint256 id = market.publishOffer(address(usdt), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        address t = makeAddr("usdtTenant");
        mintAndApprove(address(usdt), t, DEPOSIT);
        uint256 leaseId = openLease(t, id, DURATION, DEPOSIT);
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdt.balanceOf(t), 0);
        assertEq(usdt.balanceOf(address(market)), 1_000e6 + DEPOSIT);
    }

    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 0));
        openLease(tenant, 0, DURATION, DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 9));
        openLease(tenant, 9, DURATION, DEPOSIT);
    }

    function test_RevertWhen_OfferPaused() public {
        vm.prank(provider);
        market.setOfferPaused(offerId, true);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferPaused.selector, offerId));
        openDefaultLease();
    }

    function test_RevertWhen_PriceAboveMax() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleasePriceAboveMax.selector, offerId, PRICE, PRICE - 1)
        );
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, PRICE - 1);
    }

    function test_RevertWhen_PriceRaisedInFront() public {
        // The provider raises the price just before the tenant's transaction.
        vm.prank(provider);
        market.updateOffer(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleasePriceAboveMax.selector, offerId, PRICE + 1, PRICE)
        );
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, PRICE);
    }

    function test_RevertWhen_AtCapacity() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 2);
        openLease(tenant, id, DURATION, DEPOSIT);
        openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.offer(id).activeLeases, 2);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferAtCapacity.selector, id, 2));
        openLease(tenant, id, DURATION, DEPOSIT);
    }

    function test_OpenLease_CapacityFreedByFinalize() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        uint256 first = openLease(tenant, id, DURATION, DEPOSIT);
        vm.warp(market.settlementDeadline(first));
        market.finalizeLease(first);
        assertEq(market.offer(id).activeLeases, 0);
        openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.offer(id).activeLeases, 1);
    }

    function test_RevertWhen_TokenDelisted() public {
        vm.prank(admin);
        market.setTokenAllowed(address(usdc), false);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, address(usdc)));
        openDefaultLease();
    }

    function test_RevertWhen_DurationBelowMin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDurationOutOfRange.selector, MIN_DURATION - 1, MIN_DURATION, MAX_DURATION
            )
        );
        openLease(tenant, offerId, MIN_DURATION - 1, DEPOSIT);
    }

    function test_RevertWhen_DurationAboveMax() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDurationOutOfRange.selector, MAX_DURATION + 1, MIN_DURATION, MAX_DURATION
            )
        );
        openLease(tenant, offerId, MAX_DURATION + 1, DEPOSIT);
    }

    function test_RevertWhen_DepositTooSmall() public {
        uint256 required = uint256(PRICE) * MIN_DURATION;
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDepositTooSmall.selector, required - 1, required)
        );
        openLease(tenant, offerId, DURATION, required - 1);
    }

    function test_RevertWhen_DepositAboveUint96() public {
        uint256 deposit = uint256(type(uint96).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAmountTooLarge.selector, deposit, type(uint96).max)
        );
        openLease(tenant, offerId, DURATION, deposit);
    }

    function test_RevertWhen_InsufficientFreeStake() public {
        address p = makeAddr("smallProvider");
        uint96 bond = bondFor(PRICE, NOTICE);
        registerAndStake(p, address(usdc), bond - 1);
        uint256 id = publishOffer(p, address(usdc), PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, p, address(usdc), bond - 1, bond
            )
        );
        openLease(tenant, id, DURATION, DEPOSIT);
    }

    function test_RevertWhen_StakeAllLockedByEarlierLeases() public {
        address p = makeAddr("oneBondProvider");
        uint96 bond = bondFor(PRICE, NOTICE);
        registerAndStake(p, address(usdc), bond);
        uint256 id = publishOffer(p, address(usdc), PRICE);
        openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.stakeOf(p, address(usdc)).locked, bond);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, p, address(usdc), 0, bond)
        );
        openLease(tenant, id, DURATION, DEPOSIT);
    }

    function test_RevertWhen_StakeThawing() public {
        uint256 free = market.stakeOf(provider, address(usdc)).staked;
        vm.prank(provider);
        market.requestUnstake(address(usdc), free);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector,
                provider,
                address(usdc),
                0,
                bondFor(PRICE, NOTICE)
            )
        );
        openDefaultLease();
    }

    function test_RevertWhen_Paused() public {
        vm.prank(admin);
        market.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        openDefaultLease();
    }
}

/// @notice `openLeaseWithPermit`: the deposit pulled with an EIP-2612 permit; a used permit is not an error.
contract OpenLeaseWithPermit_Unit_Test is LeasesUnitTest {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    address internal permitTenant;
    uint256 internal permitTenantKey;

    function setUp() public override {
        super.setUp();
        (permitTenant, permitTenantKey) = makeAddrAndKey("permitTenant");
        usdc.mint(permitTenant, 100e6);
    }

    function signPermit(uint256 value, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, permitTenant, address(market), value, usdc.nonces(permitTenant), deadline)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(permitTenantKey, digest);
    }

    function test_OpenLeaseWithPermit() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        assertEq(usdc.allowance(permitTenant, address(market)), 0, "no prior approval");
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint32 now_ = uint32(block.timestamp);
        Lease memory expected = Lease({
            tenant: permitTenant,
            offerId: uint32(offerId),
            startedAt: now_,
            endsAt: now_ + DURATION,
            deposit: uint96(DEPOSIT),
            settled: 0,
            pricePerSecond: PRICE,
            bond: bondFor(PRICE, NOTICE),
            noticePeriod: NOTICE,
            minEndsAt: now_ + MIN_DURATION,
            status: LeaseStatus.Open
        });

        vm.expectEmit(address(market));
        emit LeaseOpened(1, offerId, permitTenant, expected);
        vm.prank(permitTenant);
        uint256 leaseId = market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);

        assertLease(market.lease(leaseId), expected);
        assertEq(usdc.nonces(permitTenant), 1, "permit used");
        assertEq(usdc.allowance(permitTenant, address(market)), 0, "allowance spent");
        assertEq(usdc.balanceOf(permitTenant), 100e6 - DEPOSIT);
        assertEq(usdc.balanceOf(address(market)), marketBalance + DEPOSIT);
        assertEq(market.stakeOf(provider, address(usdc)).locked, stakeBefore.locked + expected.bond);
        assertEq(market.offer(offerId).activeLeases, 1);
    }

    function test_OpenLeaseWithPermit_FrontRunPermit() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        // Someone submits the permit from the mempool first.
        vm.prank(keeper);
        usdc.permit(permitTenant, address(market), DEPOSIT, deadline, v, r, s);
        assertEq(usdc.allowance(permitTenant, address(market)), DEPOSIT);

        vm.prank(permitTenant);
        uint256 leaseId = market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);

        assertEq(market.lease(leaseId).tenant, permitTenant);
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdc.allowance(permitTenant, address(market)), 0);
        assertEq(usdc.balanceOf(permitTenant), 100e6 - DEPOSIT);
    }

    function test_OpenLeaseWithPermit_InvalidPermitWithAllowance() public {
        // A garbage permit is ignored when an allowance is in place.
        vm.prank(permitTenant);
        usdc.approve(address(market), DEPOSIT);
        vm.prank(permitTenant);
        uint256 leaseId =
            market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdc.nonces(permitTenant), 0);
    }

    function test_OpenLeaseWithPermit_TokenWithoutPermit() public {
        address p = makeAddr("usdtProvider");
        registerAndStake(p, address(usdt), 1_000e6);
        vm.prank(p);
        uint256 id = market.publishOffer(address(usdt), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        mintAndApprove(address(usdt), permitTenant, DEPOSIT);
        vm.prank(permitTenant);
        uint256 leaseId =
            market.openLeaseWithPermit(id, DURATION, DEPOSIT, PRICE, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdt.balanceOf(address(market)), 1_000e6 + DEPOSIT);
    }

    function test_RevertWhen_UsedPermitWithoutAllowance() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);
        // Replaying the spent permit grants nothing.
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, DEPOSIT)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);
    }

    function test_RevertWhen_PermitExpired() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, DEPOSIT)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);
    }

    function test_RevertWhen_OfferChecksFail() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleasePriceAboveMax.selector, offerId, PRICE, PRICE - 1)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE - 1, deadline, v, r, s);
    }

    /// @dev Fails against the current contract: the permit is tried on `_offers[42].token`, the zero
    /// address, and Solidity's no-code check reverts the caller (outside try/catch) with empty data.
    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 42));
        vm.prank(permitTenant);
        market.openLeaseWithPermit(42, DURATION, DEPOSIT, PRICE, block.timestamp, 27, bytes32(0), bytes32(0));
    }

    function test_RevertWhen_Paused() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.prank(admin);
        market.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, PRICE, deadline, v, r, s);
    }
}

/// @notice `topUp`: anyone adds escrow to a running lease, extending its runway.
contract TopUp_Unit_Test is LeasesUnitTest {
    function test_TopUp() public {
        uint256 start = block.timestamp;
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
        assertEq(market.leaseEnd(leaseId), start + 2 hours, "runway end before");
        Lease memory before = market.lease(leaseId);
        skip(1 hours);
        uint256 amount = uint256(PRICE) * 3 hours;
        uint256 tenantBalance = usdc.balanceOf(tenant);
        uint256 marketBalance = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit LeaseToppedUp(leaseId, amount, before.deposit + amount);
        vm.prank(tenant);
        market.topUp(leaseId, amount);

        before.deposit += uint96(amount);
        assertLease(market.lease(leaseId), before);
        assertEq(market.leaseEnd(leaseId), start + 5 hours, "runway end after");
        assertEq(market.settlementDeadline(leaseId), start + 5 hours + market.params().settlementWindow);
        assertEq(usdc.balanceOf(tenant), tenantBalance - amount);
        assertEq(usdc.balanceOf(address(market)), marketBalance + amount);
    }

    function test_TopUp_BeyondEndsAtDoesNotExtendTheLease() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.prank(tenant);
        market.topUp(leaseId, DEPOSIT);
        assertEq(market.lease(leaseId).deposit, 2 * DEPOSIT);
        assertEq(market.leaseEnd(leaseId), endsAt);
    }

    function test_TopUp_ByAnyone() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
        mintAndApprove(address(usdc), keeper, 5e6);
        uint256 tenantBalance = usdc.balanceOf(tenant);
        vm.prank(keeper);
        market.topUp(leaseId, 5e6);
        assertEq(market.lease(leaseId).deposit, uint256(PRICE) * 2 hours + 5e6);
        assertEq(market.lease(leaseId).tenant, tenant, "tenant unchanged");
        assertEq(usdc.balanceOf(keeper), 0);
        assertEq(usdc.balanceOf(tenant), tenantBalance);
    }

    function test_TopUp_JustBeforeRunwayEnd() public {
        uint256 start = block.timestamp;
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
        vm.warp(start + 2 hours - 1);
        vm.prank(tenant);
        market.topUp(leaseId, PRICE);
        assertEq(market.leaseEnd(leaseId), start + 2 hours + 1);
    }

    function test_RevertWhen_ZeroAmount() public {
        uint256 leaseId = openDefaultLease();
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAmount.selector);
        vm.prank(tenant);
        market.topUp(leaseId, 0);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(5);
        vm.prank(tenant);
        market.topUp(5, 1e6);
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        expectLeaseFinalized(leaseId);
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
    }

    function test_RevertWhen_EndedByTime() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt);
        expectLeaseEnded(leaseId, endsAt);
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
    }

    function test_RevertWhen_EndedByRunway() public {
        uint256 start = block.timestamp;
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
        vm.warp(start + 2 hours);
        expectLeaseEnded(leaseId, start + 2 hours);
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
    }

    function test_RevertWhen_EndedByTermination() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        expectLeaseEnded(leaseId, block.timestamp);
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
    }

    function test_RevertWhen_DepositAboveUint96() public {
        uint256 leaseId = openDefaultLease();
        uint256 amount = uint256(type(uint96).max) - DEPOSIT + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseAmountTooLarge.selector, DEPOSIT + amount, type(uint96).max
            )
        );
        vm.prank(tenant);
        market.topUp(leaseId, amount);
    }
}

/// @notice `closeLease`: either party gives notice; the end moves to max(now + notice, minEndsAt), never later.
contract CloseLease_Unit_Test is LeasesUnitTest {
    function test_CloseLease_ByTenant() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        Lease memory before = market.lease(leaseId);
        uint256 newEnd = block.timestamp + NOTICE;

        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, tenant, newEnd);
        vm.prank(tenant);
        market.closeLease(leaseId);

        before.endsAt = uint32(newEnd);
        assertLease(market.lease(leaseId), before);
        assertEq(market.leaseEnd(leaseId), newEnd);
        assertEq(market.settlementDeadline(leaseId), newEnd + market.params().settlementWindow);
    }

    function test_CloseLease_ByProvider() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 newEnd = block.timestamp + NOTICE;

        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, provider, newEnd);
        vm.prank(provider);
        market.closeLease(leaseId);

        assertEq(market.lease(leaseId).endsAt, newEnd);
        // Closing with notice is not penalized.
        assertEq(market.lease(leaseId).bond, bondFor(PRICE, NOTICE));
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore);
        assertEq(market.claimable(tenant, address(usdc)), 0);
    }

    function test_CloseLease_NotBeforeMinDuration() public {
        uint256 start = block.timestamp;
        uint256 id = publishOfferWith(PRICE, 5 hours, MAX_DURATION, NOTICE, CAPACITY);
        uint256 leaseId = openLease(tenant, id, DURATION, DEPOSIT);
        skip(1 hours);
        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, tenant, start + 5 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, start + 5 hours);
        assertEq(market.lease(leaseId).minEndsAt, start + 5 hours);
    }

    function test_CloseLease_NeverLaterThanEndsAt() public {
        uint256 start = block.timestamp;
        uint256 leaseId = openLease(tenant, offerId, 2 hours, uint256(PRICE) * 2 hours);
        skip(90 minutes); // notice would end at start + 2.5h
        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, tenant, start + 2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, start + 2 hours);
    }

    function test_CloseLease_SecondNoticeDoesNotExtend() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        uint256 firstEnd = market.lease(leaseId).endsAt;
        skip(30 minutes);
        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, provider, firstEnd);
        vm.prank(provider);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, firstEnd);
    }

    function test_RevertWhen_NotParty() public {
        uint256 leaseId = openDefaultLease();
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseParty.selector, leaseId, keeper));
        vm.prank(keeper);
        market.closeLease(leaseId);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(3);
        vm.prank(tenant);
        market.closeLease(3);
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        expectLeaseFinalized(leaseId);
        vm.prank(tenant);
        market.closeLease(leaseId);
    }

    function test_RevertWhen_Ended() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt);
        expectLeaseEnded(leaseId, endsAt);
        vm.prank(tenant);
        market.closeLease(leaseId);
    }

    function test_RevertWhen_RunwayEnded() public {
        uint256 start = block.timestamp;
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
        vm.warp(start + 3 hours);
        expectLeaseEnded(leaseId, start + 2 hours);
        vm.prank(provider);
        market.closeLease(leaseId);
    }
}

/// @notice `terminateLease`: the provider ends a lease at once and its bond is slashed to the tenant.
contract TerminateLease_Unit_Test is LeasesUnitTest {
    function test_TerminateLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        Lease memory before = market.lease(leaseId);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 bond = before.bond;
        uint256 cut = bond * market.params().slashCutBps / 10_000;
        assertGt(cut, 0);
        uint256 claimableBefore = market.claimable(tenant, address(usdc));
        uint256 feesBefore = market.feesOwed(address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit LeaseTerminated(leaseId, block.timestamp);
        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.EarlyTermination, bond, cut);
        vm.prank(provider);
        market.terminateLease(leaseId);

        before.endsAt = uint32(block.timestamp);
        before.bond = 0;
        assertLease(market.lease(leaseId), before);
        assertEq(market.leaseEnd(leaseId), block.timestamp, "ends now");
        assertEq(market.claimable(tenant, address(usdc)), claimableBefore + bond - cut, "tenant compensation");
        assertEq(market.feesOwed(address(usdc)), feesBefore + cut, "protocol cut");
        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(
                uint96(stakeBefore.staked - bond),
                uint96(stakeBefore.locked - bond),
                stakeBefore.thawing,
                stakeBefore.thawEndsAt
            )
        );
        assertEq(usdc.balanceOf(address(market)), marketBalance, "no tokens move");
        assertEq(market.offer(offerId).activeLeases, 1, "still counted until finalized");
    }

    function test_TerminateLease_ThenFinalizeRefundsEscrow() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        settleAs(leaseId, uint256(PRICE) * 2 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        uint256 compensation = market.claimable(tenant, address(usdc));
        vm.warp(market.settlementDeadline(leaseId));

        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, DEPOSIT - uint256(PRICE) * 2 hours, 0);
        market.finalizeLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), compensation + DEPOSIT - uint256(PRICE) * 2 hours);
        assertEq(market.stakeOf(provider, address(usdc)).locked, 0);
    }

    function test_TerminateLease_WithoutBond() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        uint256 leaseId = openLease(tenant, id, DURATION, DEPOSIT);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        skip(1 hours);
        vm.recordLogs();
        vm.prank(provider);
        market.terminateLease(leaseId);
        assertEq(vm.getRecordedLogs().length, 1, "only LeaseTerminated");
        assertEq(market.lease(leaseId).endsAt, block.timestamp);
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore);
        assertEq(market.claimable(tenant, address(usdc)), 0);
    }

    function test_RevertWhen_NotProvider() public {
        uint256 leaseId = openDefaultLease();
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, tenant));
        vm.prank(tenant);
        market.terminateLease(leaseId);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(1);
        vm.prank(provider);
        market.terminateLease(1);
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        expectLeaseFinalized(leaseId);
        vm.prank(provider);
        market.terminateLease(leaseId);
    }

    function test_RevertWhen_Ended() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt + 1);
        expectLeaseEnded(leaseId, endsAt);
        vm.prank(provider);
        market.terminateLease(leaseId);
    }

    function test_RevertWhen_AlreadyTerminated() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        expectLeaseEnded(leaseId, block.timestamp);
        vm.prank(provider);
        market.terminateLease(leaseId);
    }
}

/// @notice `finalizeLease`: after the settlement window, refunds the escrow left and releases the bond.
contract FinalizeLease_Unit_Test is LeasesUnitTest {
    function test_FinalizeLease() public {
        uint256 leaseId = openDefaultLease();
        skip(4 hours);
        uint256 paid = settleAs(leaseId, uint256(PRICE) * 4 hours);
        assertEq(paid, uint256(PRICE) * 4 hours);
        vm.warp(market.settlementDeadline(leaseId));

        Lease memory before = market.lease(leaseId);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint16 activeBefore = market.offer(offerId).activeLeases;
        uint256 claimableBefore = market.claimable(tenant, address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint256 refund = before.deposit - before.settled;
        assertEq(refund, DEPOSIT - paid);

        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, before.bond);
        vm.prank(keeper); // anyone may finalize
        market.finalizeLease(leaseId);

        uint96 bond = before.bond;
        assertGt(bond, 0);
        before.status = LeaseStatus.Finalized;
        before.bond = 0;
        assertLease(market.lease(leaseId), before);
        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(stakeBefore.staked, stakeBefore.locked - bond, stakeBefore.thawing, stakeBefore.thawEndsAt)
        );
        assertEq(market.offer(offerId).activeLeases, activeBefore - 1, "activeLeases");
        assertEq(market.claimable(tenant, address(usdc)), claimableBefore + refund, "refund");
        assertEq(usdc.balanceOf(address(market)), marketBalance, "refund is claimable, not sent");
    }

    function test_FinalizeLease_ReleasedBondIsFree() public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        vm.prank(provider);
        market.requestUnstake(address(usdc), PROVIDER_STAKE);
        assertEq(market.stakeOf(provider, address(usdc)).staked, 0);
    }

    function test_FinalizeLease_ViewsStillAnswer() public {
        uint256 leaseId = openDefaultLease();
        uint256 end = market.leaseEnd(leaseId);
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.warp(deadline);
        market.finalizeLease(leaseId);
        assertEq(market.leaseEnd(leaseId), end);
        assertEq(market.settlementDeadline(leaseId), deadline);
    }

    function test_FinalizeLease_AfterDisputeExpired() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        Dispute memory d = market.dispute(leaseId);
        vm.warp(d.deadline);
        market.expireDispute(leaseId);
        uint256 deadline = market.settlementDeadline(leaseId);
        if (block.timestamp < deadline) vm.warp(deadline);
        market.finalizeLease(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Finalized));
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(0);
        market.finalizeLease(0);
        expectUnknownLease(2);
        market.finalizeLease(2);
    }

    function test_RevertWhen_SettlementWindowOpen() public {
        uint256 leaseId = openDefaultLease();
        uint256 deadline = market.lease(leaseId).endsAt + market.params().settlementWindow;
        assertEq(market.settlementDeadline(leaseId), deadline);
        vm.warp(deadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, deadline)
        );
        market.finalizeLease(leaseId);
    }

    function test_RevertWhen_SettlementWindowOpenWhileRunning() public {
        uint256 leaseId = openDefaultLease();
        uint256 deadline = market.settlementDeadline(leaseId);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, deadline)
        );
        market.finalizeLease(leaseId);
    }

    function test_RevertWhen_DisputeOpen() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        uint256 disputeDeadline = market.dispute(leaseId).deadline;
        uint256 deadline = market.settlementDeadline(leaseId);
        assertLt(deadline, disputeDeadline);
        vm.warp(deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeOpen.selector, leaseId, disputeDeadline)
        );
        market.finalizeLease(leaseId);
        // Still open (not expired by a call) after its deadline.
        vm.warp(disputeDeadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDisputeOpen.selector, leaseId, disputeDeadline)
        );
        market.finalizeLease(leaseId);
    }

    function test_RevertWhen_AlreadyFinalized() public {
        uint256 leaseId = finalizedLease();
        expectLeaseFinalized(leaseId);
        market.finalizeLease(leaseId);
    }
}

/// @notice Escrow exhaustion: a lease funded for 2 of its 10 hours ends when the escrow runs out.
contract EscrowExhaustion_Unit_Test is LeasesUnitTest {
    uint256 internal start;
    uint256 internal leaseId;

    function setUp() public override {
        super.setUp();
        start = block.timestamp;
        leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours);
    }

    function test_LeaseEndsAtRunwayEnd() public view {
        assertEq(market.lease(leaseId).endsAt, start + DURATION, "endsAt is the requested end");
        assertEq(market.leaseEnd(leaseId), start + 2 hours, "runway end");
        assertEq(market.settlementDeadline(leaseId), start + 2 hours + market.params().settlementWindow);
    }

    function test_NoActionsAfterRunwayEnd() public {
        vm.warp(start + 2 hours);
        expectLeaseEnded(leaseId, start + 2 hours);
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
        expectLeaseEnded(leaseId, start + 2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        expectLeaseEnded(leaseId, start + 2 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
    }

    function test_SettlementCappedAtDepositAndFinalizedAtRunwayDeadline() public {
        vm.warp(start + 5 hours);
        uint256 paid = settleAs(leaseId, uint256(PRICE) * 5 hours);
        assertEq(paid, uint256(PRICE) * 2 hours, "capped by the escrow");

        uint256 deadline = start + 2 hours + market.params().settlementWindow;
        vm.warp(deadline - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, deadline)
        );
        market.finalizeLease(leaseId);

        vm.warp(deadline);
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, 0, bondFor(PRICE, NOTICE));
        market.finalizeLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), 0);
        assertEq(market.stakeOf(provider, address(usdc)).locked, 0);
    }
}

/// @notice `leaseEnd` and `settlementDeadline`: the lease's run end and settlement deadline, for known leases.
contract LeaseViews_Unit_Test is LeasesUnitTest {
    function test_LeaseEnd_EndsAtWhenFullyFunded() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 3 * DEPOSIT);
        assertEq(market.leaseEnd(leaseId), block.timestamp + DURATION);
        assertEq(market.settlementDeadline(leaseId), block.timestamp + DURATION + market.params().settlementWindow);
    }

    function test_LeaseEnd_RunwayRoundsDown() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, uint256(PRICE) * 2 hours + PRICE - 1);
        assertEq(market.leaseEnd(leaseId), block.timestamp + 2 hours);
    }

    function test_SettlementDeadline_FollowsClose() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.leaseEnd(leaseId), block.timestamp + NOTICE);
        assertEq(market.settlementDeadline(leaseId), block.timestamp + NOTICE + market.params().settlementWindow);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(1);
        market.leaseEnd(1);
        expectUnknownLease(1);
        market.settlementDeadline(1);
    }
}

/// @notice `claim`: pulls the caller's whole claimable balance in a token to any address.
contract Claim_Unit_Test is LeasesUnitTest {
    function test_Claim() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        settleAs(leaseId, uint256(PRICE) * 1 hours);
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 amount = market.claimable(tenant, address(usdc));
        assertEq(amount, DEPOSIT - uint256(PRICE) * 1 hours);
        address to = makeAddr("tenantWallet");
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint256 tenantBalance = usdc.balanceOf(tenant);

        vm.expectEmit(address(market));
        emit Claimed(tenant, address(usdc), to, amount);
        vm.prank(tenant);
        uint256 claimed = market.claim(address(usdc), to);

        assertEq(claimed, amount, "returned amount");
        assertEq(market.claimable(tenant, address(usdc)), 0, "claimable zeroed");
        assertEq(usdc.balanceOf(to), amount, "recipient");
        assertEq(usdc.balanceOf(address(market)), marketBalance - amount, "market");
        assertEq(usdc.balanceOf(tenant), tenantBalance, "tenant wallet untouched");
    }

    function test_Claim_ProviderEarnings() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        uint256 paid = settleAs(leaseId, uint256(PRICE) * 1 hours);
        uint256 earnings = paid - paid * market.params().protocolFeeBps / 10_000;
        assertEq(market.claimable(provider, address(usdc)), earnings);
        vm.prank(provider);
        assertEq(market.claim(address(usdc), provider), earnings);
        assertEq(usdc.balanceOf(provider), earnings);
    }

    function test_RevertWhen_ZeroAddress() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(tenant);
        market.claim(address(usdc), address(0));
    }

    function test_RevertWhen_NothingToClaim() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToClaim.selector, tenant, address(usdc))
        );
        vm.prank(tenant);
        market.claim(address(usdc), tenant);
    }

    function test_RevertWhen_ClaimedTwice() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        vm.prank(tenant);
        market.claim(address(usdc), tenant);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToClaim.selector, tenant, address(usdc))
        );
        vm.prank(tenant);
        market.claim(address(usdc), tenant);
    }
}
