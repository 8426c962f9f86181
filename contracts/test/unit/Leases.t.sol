// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "forge-std/Vm.sol";
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
        return market.publishOffer(address(usdc), price, minD, maxD, notice, capacity, bytes32(0), address(0));
    }

    function assertLease(Lease memory actual, Lease memory expected) internal pure {
        assertEq(actual.tenant, expected.tenant, "tenant");
        assertEq(actual.offerId, expected.offerId, "offerId");
        assertEq(actual.startedAt, expected.startedAt, "startedAt");
        assertEq(actual.endsAt, expected.endsAt, "endsAt");
        assertEq(actual.deposit, expected.deposit, "deposit");
        assertEq(actual.settled, expected.settled, "settled");
        assertEq(actual.pricePerSecond, expected.pricePerSecond, "pricePerSecond");
        assertEq(actual.paramsVersion, expected.paramsVersion, "paramsVersion");
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

    /// @dev The protocol fee on a settled total of `settled` under the default parameters (version 1).
    function feeOn(uint256 settled) internal view returns (uint256) {
        return settled * defaultParams().protocolFeeBps / 10_000;
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
            deposit: uint88(DEPOSIT),
            settled: 0,
            pricePerSecond: PRICE,
            paramsVersion: 1,
            bond: bond,
            noticePeriod: NOTICE,
            minEndsAt: now_ + MIN_DURATION,
            status: LeaseStatus.Open
        });

        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectEmit(address(market));
        emit LeaseOpened(countBefore + 1, offerId, tenant, expected);
        vm.prank(tenant);
        uint256 leaseId = market.openLease(offerId, DURATION, DEPOSIT, termsHash);

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

    /// @dev No lease runs without a bond: the minimum notice (one hour) at the minimum price (one unit a
    /// second) under the minimum bond rate still locks 360 units.
    function test_OpenLease_MinimumTermsStillLockABond() public {
        Params memory p = defaultParams();
        p.bondBps = 1_000;
        applyParams(p);
        uint256 id = publishOfferWith(1, MIN_DURATION, MAX_DURATION, 1 hours, CAPACITY);
        Stake memory before = market.stakeOf(provider, address(usdc));
        uint256 leaseId = openLease(tenant, id, DURATION, DURATION);
        assertEq(market.lease(leaseId).bond, 360, "1 * 3600 * 10%");
        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(before.staked, before.locked + 360, before.thawing, before.thawEndsAt)
        );
    }

    /// @dev A new lease gets the parameters version its offer's provider accepted: the one in force when
    /// the offer was published, until the provider accepts a newer one.
    function test_OpenLease_RecordsTheOffersAcceptedParamsVersion() public {
        Params memory p = defaultParams();
        p.bondBps = 10_000;
        applyParams(p);
        uint256 unaccepted = openDefaultLease();
        assertEq(market.lease(unaccepted).paramsVersion, 1, "in force, not accepted: the offer's version");
        assertEq(market.lease(unaccepted).bond, uint256(PRICE) * NOTICE * 2, "the old version's rate");
        acceptParams(offerId);
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).paramsVersion, 2, "version");
        assertEq(market.lease(leaseId).bond, bondFor(PRICE, NOTICE), "bond at the version's rate");
        assertEq(market.lease(leaseId).bond, uint256(PRICE) * NOTICE, "100% of the notice's price");
    }

    function test_OpenLease_NonStandardToken() public {
        registerAndStake(makeAddr("usdtProvider"), address(usdt), 1_000e6);
        vm.prank(makeAddr("usdtProvider"));
        uint256 id = market.publishOffer(
            address(usdt), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0)
        );
        address t = makeAddr("usdtTenant");
        mintAndApprove(address(usdt), t, DEPOSIT);
        uint256 leaseId = openLease(t, id, DURATION, DEPOSIT);
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdt.balanceOf(t), 0);
        assertEq(usdt.balanceOf(address(market)), 1_000e6 + DEPOSIT);
    }

    function test_RevertWhen_UnknownOffer() public {
        // An unknown offer has no terms hash to read; any hash is refused with the offer named.
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 0));
        vm.prank(tenant);
        market.openLease(0, DURATION, DEPOSIT, bytes32(0));
        bytes32 otherOffersHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 9));
        vm.prank(tenant);
        market.openLease(9, DURATION, DEPOSIT, otherOffersHash);
    }

    function test_RevertWhen_OfferPaused() public {
        vm.prank(provider);
        market.setOfferPaused(offerId, true);
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferPaused.selector, offerId));
        openLeaseWithHash(tenant, offerId, DURATION, DEPOSIT, termsHash);
    }

    function test_RevertWhen_TermsHashIsNotTheOffers() public {
        bytes32 current = market.offerTermsHash(offerId);
        bytes32 wrong = keccak256("not the offer's terms");
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTermsChanged.selector, offerId, wrong, current)
        );
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, wrong);
    }

    function test_RevertWhen_PriceRaisedInFront() public {
        // The provider raises the price just before the tenant's transaction.
        bytes32 read = market.offerTermsHash(offerId);
        vm.prank(provider);
        market.updateOffer(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTermsChanged.selector, offerId, read, market.offerTermsHash(offerId)
            )
        );
        vm.prank(tenant);
        market.openLease(offerId, DURATION, DEPOSIT, read);
    }

    function test_RevertWhen_AtCapacity() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 2);
        openLease(tenant, id, DURATION, DEPOSIT);
        openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.offer(id).activeLeases, 2);
        bytes32 termsHash = market.offerTermsHash(id);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseOfferAtCapacity.selector, id, 2));
        openLeaseWithHash(tenant, id, DURATION, DEPOSIT, termsHash);
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
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, address(usdc)));
        openLeaseWithHash(tenant, offerId, DURATION, DEPOSIT, termsHash);
    }

    function test_RevertWhen_DurationBelowMin() public {
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDurationOutOfRange.selector, MIN_DURATION - 1, MIN_DURATION, MAX_DURATION
            )
        );
        openLeaseWithHash(tenant, offerId, MIN_DURATION - 1, DEPOSIT, termsHash);
    }

    function test_RevertWhen_DurationAboveMax() public {
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseDurationOutOfRange.selector, MAX_DURATION + 1, MIN_DURATION, MAX_DURATION
            )
        );
        openLeaseWithHash(tenant, offerId, MAX_DURATION + 1, DEPOSIT, termsHash);
    }

    function test_RevertWhen_DepositTooSmall() public {
        uint256 required = uint256(PRICE) * MIN_DURATION;
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDepositTooSmall.selector, required - 1, required)
        );
        openLeaseWithHash(tenant, offerId, DURATION, required - 1, termsHash);
    }

    function test_RevertWhen_DepositAboveUint88() public {
        uint256 deposit = uint256(type(uint88).max) + 1;
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAmountTooLarge.selector, deposit, type(uint88).max)
        );
        vm.prank(tenant);
        market.openLease(offerId, DURATION, deposit, termsHash);
    }

    function test_RevertWhen_InsufficientFreeStake() public {
        address p = makeAddr("smallProvider");
        uint96 bond = bondFor(PRICE, NOTICE);
        registerAndStake(p, address(usdc), bond - 1);
        uint256 id = publishOffer(p, address(usdc), PRICE);
        bytes32 termsHash = market.offerTermsHash(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, p, address(usdc), bond - 1, bond
            )
        );
        openLeaseWithHash(tenant, id, DURATION, DEPOSIT, termsHash);
    }

    function test_RevertWhen_StakeAllLockedByEarlierLeases() public {
        address p = makeAddr("oneBondProvider");
        uint96 bond = bondFor(PRICE, NOTICE);
        registerAndStake(p, address(usdc), bond);
        uint256 id = publishOffer(p, address(usdc), PRICE);
        openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.stakeOf(p, address(usdc)).locked, bond);
        bytes32 termsHash = market.offerTermsHash(id);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, p, address(usdc), 0, bond)
        );
        openLeaseWithHash(tenant, id, DURATION, DEPOSIT, termsHash);
    }

    function test_RevertWhen_StakeThawing() public {
        uint256 free = market.stakeOf(provider, address(usdc)).staked;
        vm.prank(provider);
        market.requestUnstake(address(usdc), free);
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector,
                provider,
                address(usdc),
                0,
                bondFor(PRICE, NOTICE)
            )
        );
        openLeaseWithHash(tenant, offerId, DURATION, DEPOSIT, termsHash);
    }

    function test_RevertWhen_Paused() public {
        vm.prank(admin);
        market.pause();
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        openLeaseWithHash(tenant, offerId, DURATION, DEPOSIT, termsHash);
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

    /// @dev The default offer's terms hash as it stands.
    function terms() internal view returns (bytes32) {
        return market.offerTermsHash(offerId);
    }

    function signPermit(uint256 value, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, permitTenant, address(market), value, usdc.nonces(permitTenant), deadline)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(permitTenantKey, digest);
    }

    function test_OpenLeaseWithPermit() public {
        bytes32 termsHash = terms();
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
            deposit: uint88(DEPOSIT),
            settled: 0,
            pricePerSecond: PRICE,
            paramsVersion: 1,
            bond: bondFor(PRICE, NOTICE),
            noticePeriod: NOTICE,
            minEndsAt: now_ + MIN_DURATION,
            status: LeaseStatus.Open
        });

        vm.expectEmit(address(market));
        emit LeaseOpened(1, offerId, permitTenant, expected);
        vm.prank(permitTenant);
        uint256 leaseId = market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);

        assertLease(market.lease(leaseId), expected);
        assertEq(usdc.nonces(permitTenant), 1, "permit used");
        assertEq(usdc.allowance(permitTenant, address(market)), 0, "allowance spent");
        assertEq(usdc.balanceOf(permitTenant), 100e6 - DEPOSIT);
        assertEq(usdc.balanceOf(address(market)), marketBalance + DEPOSIT);
        assertEq(market.stakeOf(provider, address(usdc)).locked, stakeBefore.locked + expected.bond);
        assertEq(market.offer(offerId).activeLeases, 1);
    }

    function test_OpenLeaseWithPermit_FrontRunPermit() public {
        bytes32 termsHash = terms();
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        // Someone submits the permit from the mempool first.
        vm.prank(keeper);
        usdc.permit(permitTenant, address(market), DEPOSIT, deadline, v, r, s);
        assertEq(usdc.allowance(permitTenant, address(market)), DEPOSIT);

        vm.prank(permitTenant);
        uint256 leaseId = market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);

        assertEq(market.lease(leaseId).tenant, permitTenant);
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdc.allowance(permitTenant, address(market)), 0);
        assertEq(usdc.balanceOf(permitTenant), 100e6 - DEPOSIT);
    }

    function test_OpenLeaseWithPermit_InvalidPermitWithAllowance() public {
        bytes32 termsHash = terms();
        // A garbage permit is ignored when an allowance is in place.
        vm.prank(permitTenant);
        usdc.approve(address(market), DEPOSIT);
        vm.prank(permitTenant);
        uint256 leaseId = market.openLeaseWithPermit(
            offerId, DURATION, DEPOSIT, termsHash, block.timestamp, 27, bytes32(0), bytes32(0)
        );
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdc.nonces(permitTenant), 0);
    }

    function test_OpenLeaseWithPermit_TokenWithoutPermit() public {
        address p = makeAddr("usdtProvider");
        registerAndStake(p, address(usdt), 1_000e6);
        vm.prank(p);
        uint256 id = market.publishOffer(
            address(usdt), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0)
        );
        mintAndApprove(address(usdt), permitTenant, DEPOSIT);
        bytes32 termsHash = market.offerTermsHash(id);
        vm.prank(permitTenant);
        uint256 leaseId =
            market.openLeaseWithPermit(id, DURATION, DEPOSIT, termsHash, block.timestamp, 27, bytes32(0), bytes32(0));
        assertEq(market.lease(leaseId).deposit, DEPOSIT);
        assertEq(usdt.balanceOf(address(market)), 1_000e6 + DEPOSIT);
    }

    function test_RevertWhen_UsedPermitWithoutAllowance() public {
        bytes32 termsHash = terms();
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);
        // Replaying the spent permit grants nothing.
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, DEPOSIT)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);
    }

    function test_RevertWhen_PermitExpired() public {
        bytes32 termsHash = terms();
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, DEPOSIT)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);
    }

    function test_RevertWhen_OfferChecksFail() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        bytes32 stale = terms();
        vm.prank(provider);
        market.updateOffer(offerId, PRICE + 1, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        bytes32 current = terms();
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTermsChanged.selector, offerId, stale, current)
        );
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, stale, deadline, v, r, s);
        assertEq(usdc.nonces(permitTenant), 0, "permit not used");
    }

    /// @dev The offer is checked before the permit is tried (on the zero address, whose no-code check
    /// would revert the caller with empty data).
    function test_RevertWhen_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 42));
        vm.prank(permitTenant);
        market.openLeaseWithPermit(42, DURATION, DEPOSIT, bytes32(0), block.timestamp, 27, bytes32(0), bytes32(0));
    }

    function test_RevertWhen_Paused() public {
        bytes32 termsHash = terms();
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = signPermit(DEPOSIT, deadline);
        vm.prank(admin);
        market.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(permitTenant);
        market.openLeaseWithPermit(offerId, DURATION, DEPOSIT, termsHash, deadline, v, r, s);
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

        before.deposit += uint88(amount);
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

    function test_RevertWhen_DepositAboveUint88() public {
        uint256 leaseId = openDefaultLease();
        uint256 amount = uint256(type(uint88).max) - DEPOSIT + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseAmountTooLarge.selector, DEPOSIT + amount, type(uint88).max
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
        emit LeaseFinalized(leaseId, DEPOSIT - uint256(PRICE) * 2 hours, 0, feeOn(uint256(PRICE) * 2 hours));
        market.finalizeLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), compensation + DEPOSIT - uint256(PRICE) * 2 hours);
        assertEq(market.stakeOf(provider, address(usdc)).locked, 0);
    }

    /// @dev Termination after an upheld dispute slashes what the ruling left of the bond.
    function test_TerminateLease_AfterAPartialDisputeSlash() public {
        uint256 leaseId = openDefaultLease();
        uint96 bond = market.lease(leaseId).bond;
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 5_000);
        uint256 rest = bond - uint256(bond) * 5_000 / 10_000;
        assertEq(market.lease(leaseId).bond, rest, "half the bond left");
        skip(1 hours);

        vm.expectEmit(address(market));
        emit BondSlashed(
            leaseId, provider, SlashReason.EarlyTermination, rest, rest * defaultParams().slashCutBps / 10_000
        );
        vm.prank(provider);
        market.terminateLease(leaseId);
        assertEq(market.lease(leaseId).bond, 0, "all of it");
        assertEq(market.stakeOf(provider, address(usdc)).locked, 0, "nothing locked");
        assertEq(market.stakeOf(provider, address(usdc)).staked, PROVIDER_STAKE - bond, "the whole bond slashed in two");
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

/// @notice Shared helpers of the payment-demand and eviction unit tests.
abstract contract EvictionUnitTest is LeasesUnitTest {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;
    uint256 internal constant GRACE = 1 hours;

    function demand(uint256 leaseId) internal {
        vm.prank(provider);
        market.demandPayment(leaseId);
    }

    function evict(uint256 leaseId) internal {
        vm.prank(provider);
        market.evictLease(leaseId);
    }

    /// @dev Demands payment and waits out the grace: the provider may evict unless it is answered.
    function demandAndWait(uint256 leaseId) internal {
        demand(leaseId);
        skip(GRACE);
    }

    function tenantReceipt(uint256 leaseId, uint256 cumulative) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(tenantKey, tenant, receipt(leaseId, cumulative));
    }

    function expectNotInArrears(uint256 leaseId, uint256 settled, uint256 due) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotInArrears.selector, leaseId, settled, due));
    }

    function expectNotOpen(uint256 leaseId, LeaseStatus status) internal {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseNotOpen.selector, leaseId, status));
    }

    function assertDemand(uint256 leaseId, uint256 due, uint256 madeAt, uint256 remediesUntil) internal view {
        PaymentDemand memory d = market.paymentDemand(leaseId);
        assertEq(d.due, due, "demand: due");
        assertEq(d.madeAt, madeAt, "demand: madeAt");
        assertEq(d.remediesUntil, remediesUntil, "demand: remediesUntil");
    }
}

/// @notice `demandPayment`: the provider demands payment of an open lease (running, or ended and not
/// finalized) whose tenant has not paid for the service older than `PAYMENT_GRACE` (one hour). The demand is
/// for what the terms let accrue until then; it moves no money and changes no lease, and a new demand
/// replaces the last.
contract DemandPayment_Unit_Test is EvictionUnitTest {
    function test_DemandPayment() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        settleAs(leaseId, HOUR); // one hour paid, two due (three ran, less the grace)
        Lease memory before = market.lease(leaseId);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));
        assertDemand(leaseId, 0, 0, 0);

        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, HOUR, 2 * HOUR, block.timestamp + GRACE);
        vm.recordLogs();
        demand(leaseId);
        assertEq(vm.getRecordedLogs().length, 1, "one event");

        assertDemand(leaseId, 2 * HOUR, block.timestamp, 0);
        assertLease(market.lease(leaseId), before);
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore);
        assertEq(market.offer(offerId).activeLeases, 1, "capacity held");
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable, "tenant claimable");
        assertEq(market.claimable(provider, address(usdc)), providerClaimable, "provider claimable");
        assertEq(usdc.balanceOf(address(market)), marketBalance, "no tokens move");
        assertEq(
            market.remediesDeadline(leaseId), market.settlementDeadline(leaseId), "remedies: the settlement deadline"
        );
    }

    function test_DemandPayment_OneSecondPastTheGrace() public {
        uint256 leaseId = openDefaultLease();
        skip(GRACE + 1);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 0, PRICE, block.timestamp + GRACE);
        demand(leaseId);
        assertDemand(leaseId, PRICE, block.timestamp, 0);
    }

    function test_RevertWhen_WithinTheGrace() public {
        uint256 leaseId = openDefaultLease();
        skip(GRACE);
        expectNotInArrears(leaseId, 0, 0);
        demand(leaseId);
    }

    function test_RevertWhen_TenantIsCurrent() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        settleAs(leaseId, 2 * HOUR); // exactly what is due
        expectNotInArrears(leaseId, 2 * HOUR, 2 * HOUR);
        demand(leaseId);
        // One second later, one second more is due.
        skip(1);
        demand(leaseId);
        assertDemand(leaseId, 2 * HOUR + PRICE, block.timestamp, 0);
    }

    function test_RevertWhen_TenantPaidAhead() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        settleAs(leaseId, 3 * HOUR);
        expectNotInArrears(leaseId, 3 * HOUR, 2 * HOUR);
        demand(leaseId);
    }

    function test_RevertWhen_NotProvider() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, tenant));
        vm.prank(tenant);
        market.demandPayment(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, keeper));
        vm.prank(keeper);
        market.demandPayment(leaseId);
    }

    /// @dev A new demand replaces the last: its due and its time (so the grace starts again).
    function test_DemandPayment_ReplacesTheLast() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        demand(leaseId);
        assertDemand(leaseId, 2 * HOUR, block.timestamp, 0);
        skip(30 minutes);
        demand(leaseId);
        assertDemand(leaseId, 2 * HOUR + HOUR / 2, block.timestamp, 0);
    }

    /// @dev A lease that ran its whole 10 hours with 3 settled, 2 hours into its settlement window: due is
    /// everything until the end (the grace has passed it).
    function test_DemandPayment_Ended() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        settleAs(leaseId, 3 * HOUR);
        vm.warp(market.lease(leaseId).endsAt + 2 hours);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 3 * HOUR, DEPOSIT, block.timestamp + GRACE);
        demand(leaseId);
    }

    /// @dev Notice at 3 hours ends the lease at 4; at 6 the demand is for the 4 hours it ran, not the 5
    /// until the grace.
    function test_DemandPayment_EndedAfterNotice() public {
        uint256 leaseId = openDefaultLease();
        uint256 start = block.timestamp;
        skip(3 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        vm.warp(start + 6 hours);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 0, 4 * HOUR, block.timestamp + GRACE);
        demand(leaseId);
    }

    /// @dev A 10-hour lease funded for 2 stops running at 2 hours (its runway): at 5 the demand is for the
    /// 2 hours it ran.
    function test_DemandPayment_RunwayEnded() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 2 * HOUR);
        vm.warp(block.timestamp + 5 hours);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 0, 2 * HOUR, block.timestamp + GRACE);
        demand(leaseId);
    }

    /// @dev An ended lease whose tenant paid for all of it is not in arrears, however long after its end:
    /// due stops growing at the end.
    function test_RevertWhen_EndedAndCurrent() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt + 2 hours);
        settleAs(leaseId, DEPOSIT);
        Lease memory l = market.lease(leaseId);
        expectNotInArrears(leaseId, DEPOSIT, DEPOSIT);
        demand(leaseId);

        // The last moment a demand could still be answered inside the settlement window.
        vm.warp(market.settlementDeadline(leaseId) - GRACE - 1);
        expectNotInArrears(leaseId, DEPOSIT, DEPOSIT);
        demand(leaseId);
        assertLease(market.lease(leaseId), l);
    }

    /// @dev Ended with 9 hours settled: current at the end (due is the 9 hours until the grace), in arrears
    /// one second later.
    function test_RevertWhen_EndedAndCurrent_ThenOneSecondLate() public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.lease(leaseId).endsAt);
        settleAs(leaseId, 9 * HOUR);
        expectNotInArrears(leaseId, 9 * HOUR, 9 * HOUR);
        demand(leaseId);

        skip(1);
        vm.expectEmit(address(market));
        emit PaymentDemanded(leaseId, 9 * HOUR, 9 * HOUR + PRICE, block.timestamp + GRACE);
        demand(leaseId);
    }

    /// @notice A lease whose runway ran out (10 hours booked, 2 funded) and whose tenant settled every unit
    /// of its escrow is not in arrears: seconds that never ran (and that no escrow could pay) are not due.
    function test_RevertWhen_RunwayEndedFullyPaid() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 2 * HOUR);
        uint256 start = block.timestamp;
        vm.warp(start + 2 hours);
        assertEq(settleAs(leaseId, 2 * HOUR), 2 * HOUR, "the whole escrow settled");
        assertEq(market.leaseEnd(leaseId), start + 2 hours, "the runway ended the lease");
        vm.warp(start + 4 hours);
        assertLt(block.timestamp, market.settlementDeadline(leaseId), "in the settlement window");
        expectNotInArrears(leaseId, 2 * HOUR, 2 * HOUR);
        demand(leaseId);
    }

    /// @dev A tenant's open dispute does not stop a demand (nor, after it, an eviction).
    function test_DemandPayment_WhileDisputeOpen() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        skip(2 hours);
        demand(leaseId);
        assertDemand(leaseId, HOUR, block.timestamp, 0);
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        expectNotOpen(leaseId, LeaseStatus.Finalized);
        demand(leaseId);
    }

    function test_RevertWhen_Evicted() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        demandAndWait(leaseId);
        evict(leaseId);
        expectNotOpen(leaseId, LeaseStatus.Evicted);
        demand(leaseId);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(4);
        demand(4);
    }
}

/// @notice `evictLease`: the provider ends an open lease whose payment demand went unanswered for
/// `PAYMENT_GRACE`. A running lease ends now; an ended one keeps its end. The tenant pays the hold charge
/// (`PAYMENT_GRACE` of the price, within what the terms let accrue) as a settlement; the escrow no receipt
/// can claim any more is refunded at once; the offer's capacity is freed. No bond is slashed, and the lease
/// is NOT finalized: its bond stays locked, and its tenant's remedies stay open, until the settlement
/// deadline it had before the eviction (`remediesDeadline`), and its provider may still settle receipts for
/// the service delivered until the eviction.
contract EvictLease_Unit_Test is EvictionUnitTest {
    function test_EvictLease() public {
        uint256 leaseId = openDefaultLease();
        uint256 start = block.timestamp;
        skip(3 hours);
        settleAs(leaseId, HOUR); // one hour paid, two due
        demandAndWait(leaseId);
        Lease memory before = market.lease(leaseId);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 feesBefore = market.feesOwed(address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint256 remediesUntil = market.settlementDeadline(leaseId);
        assertEq(remediesUntil, start + DURATION + 1 days, "the deadline it had");
        uint256 refund = DEPOSIT - 4 * HOUR; // what no receipt can claim once it ends now, four hours in
        uint256 holdFee = feeOn(2 * HOUR) - feeOn(HOUR);

        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, block.timestamp, HOUR, 2 * HOUR, refund, remediesUntil);
        vm.recordLogs();
        evict(leaseId);
        assertEq(vm.getRecordedLogs().length, 1, "no slash, not finalized");

        Lease memory expected = before;
        expected.endsAt = uint32(block.timestamp);
        expected.deposit = uint88(4 * HOUR);
        expected.settled = uint88(2 * HOUR);
        expected.status = LeaseStatus.Evicted;
        assertLease(market.lease(leaseId), expected);
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore); // the bond stays locked
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable + refund, "unclaimable escrow refunded");
        assertEq(
            market.claimable(provider, address(usdc)), providerClaimable + HOUR - holdFee, "the hold charge, less fee"
        );
        assertEq(market.feesOwed(address(usdc)), feesBefore, "fees stay in the lease until it is finalized");
        assertEq(usdc.balanceOf(address(market)), marketBalance, "no tokens move");
        assertDemand(leaseId, 2 * HOUR, block.timestamp - GRACE, remediesUntil);
        assertEq(market.remediesDeadline(leaseId), remediesUntil, "remedies keep the deadline it had");
        assertEq(market.settlementDeadline(leaseId), block.timestamp + 1 days, "settlement: from the new end");
    }

    function test_EvictLease_OneSecondPastTheGrace() public {
        uint256 leaseId = openDefaultLease();
        skip(GRACE + 1);
        demandAndWait(leaseId);
        uint256 remediesUntil = market.settlementDeadline(leaseId);
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, block.timestamp, HOUR, HOUR, DEPOSIT - (2 * GRACE + 1) * PRICE, remediesUntil);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
    }

    function test_RevertWhen_NoDemand() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, GRACE));
        evict(leaseId);
    }

    /// @dev The demand must wait `PAYMENT_GRACE` for its answer: not a second less.
    function test_RevertWhen_DemandTooRecent() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        demand(leaseId);
        uint256 evictableAt = block.timestamp + GRACE;
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, evictableAt)
        );
        evict(leaseId);
        vm.warp(evictableAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, evictableAt)
        );
        evict(leaseId);
        vm.warp(evictableAt);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
    }

    /// @dev A new demand restarts the grace.
    function test_RevertWhen_DemandReplacedTooRecent() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        demand(leaseId);
        skip(GRACE);
        demand(leaseId);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, block.timestamp + GRACE)
        );
        evict(leaseId);
    }

    /// @dev The tenant answers by settling its own newest receipt: the settled total reaches what was due.
    function test_RevertWhen_DemandAnsweredByTheTenantsOwnReceipt() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        demand(leaseId);
        skip(10 minutes);
        uint256 paid = market.settle(tenantReceipt(leaseId, 2 * HOUR));
        assertEq(paid, 2 * HOUR, "exactly what was due");
        skip(GRACE);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDemandAnswered.selector, leaseId, 2 * HOUR, 2 * HOUR)
        );
        evict(leaseId);
    }

    /// @dev Any settlement that brings the settled total to what was due answers the demand, whoever settles it.
    function test_RevertWhen_DemandAnsweredByAnySettlement() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        SignedReceipt memory r = signedReceipt(leaseId, 3 * HOUR);
        demand(leaseId);
        vm.prank(keeper);
        market.settle(r);
        skip(GRACE);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDemandAnswered.selector, leaseId, 3 * HOUR, 2 * HOUR)
        );
        evict(leaseId);
    }

    /// @dev A partial answer is no answer: the settled total must reach what was due.
    function test_EvictLease_PartialAnswer() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        demand(leaseId);
        market.settle(tenantReceipt(leaseId, 2 * HOUR - 1));
        skip(GRACE);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
        assertEq(market.lease(leaseId).settled, 3 * HOUR - 1, "the partial payment and the hold charge");
    }

    function test_EvictLease_AfterNotice() public {
        uint256 leaseId = openDefaultLease();
        uint256 start = block.timestamp;
        skip(2 hours);
        demand(leaseId);
        skip(30 minutes);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, start + 3.5 hours, "notice");
        skip(30 minutes);
        evict(leaseId);
        assertEq(market.lease(leaseId).endsAt, block.timestamp, "ended now, before the notice ran out");
        assertEq(market.lease(leaseId).settled, HOUR, "the hold charge");
        assertEq(market.claimable(tenant, address(usdc)), DEPOSIT - 3 * HOUR, "what can no longer accrue refunded");
    }

    function test_EvictLease_FreesCapacity() public {
        uint256 id = publishOfferWith(PRICE, MIN_DURATION, MAX_DURATION, NOTICE, 1);
        uint256 leaseId = openLease(tenant, id, DURATION, DEPOSIT);
        uint96 bond = market.lease(leaseId).bond;
        skip(2 hours);
        demandAndWait(leaseId);
        evict(leaseId);
        assertEq(market.offer(id).activeLeases, 0, "freed at once");
        uint256 next = openLease(tenant, id, DURATION, DEPOSIT);
        assertEq(market.offer(id).activeLeases, 1, "the slot is taken again");
        assertEq(uint8(market.lease(next).status), uint8(LeaseStatus.Open));
        assertEq(market.stakeOf(provider, address(usdc)).locked, 2 * bond, "the evicted lease's bond stays locked");
    }

    function test_RevertWhen_NotProvider() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        demandAndWait(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, tenant));
        vm.prank(tenant);
        market.evictLease(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, keeper));
        vm.prank(keeper);
        market.evictLease(leaseId);
    }

    /// @dev A lease that ran its whole 10 hours with 3 settled, evicted 3 hours into its settlement window:
    /// it keeps its end, nothing is refunded early (all of its escrow accrued), and the receipt the provider
    /// held back is not forfeit: delivered service stays payable until the settlement deadline.
    function test_EvictLease_Ended() public {
        uint256 leaseId = openDefaultLease();
        skip(3 hours);
        settleAs(leaseId, 3 * HOUR);
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt + 2 hours);
        SignedReceipt memory held = signedReceipt(leaseId, DEPOSIT); // the rest, never settled
        demandAndWait(leaseId);
        assertLt(block.timestamp, market.settlementDeadline(leaseId), "in the settlement window");
        Lease memory before = market.lease(leaseId);
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        uint256 remediesUntil = endsAt + 1 days;
        assertEq(market.settlementDeadline(leaseId), remediesUntil);

        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, endsAt, HOUR, 4 * HOUR, 0, remediesUntil);
        vm.recordLogs();
        evict(leaseId);
        assertEq(vm.getRecordedLogs().length, 1, "no slash, no notice");

        Lease memory expected = before;
        expected.settled = uint88(4 * HOUR);
        expected.status = LeaseStatus.Evicted;
        assertLease(market.lease(leaseId), expected);
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore);
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable, "all of the escrow accrued");
        assertEq(
            market.claimable(provider, address(usdc)),
            providerClaimable + HOUR - (feeOn(4 * HOUR) - feeOn(3 * HOUR)),
            "the hold charge"
        );

        // The receipt the provider held back still pays the service it delivered.
        assertEq(market.settle(held), DEPOSIT - 4 * HOUR, "the rest of the ten hours");
        vm.warp(remediesUntil);
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, 0, before.bond, feeOn(DEPOSIT));
        market.finalizeLease(leaseId);
        assertEq(market.offer(offerId).activeLeases, 0, "capacity not freed twice");
    }

    /// @dev One second before its end the lease still runs: eviction ends it now.
    function test_EvictLease_LastSecond() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt - 1 - GRACE);
        demandAndWait(leaseId);
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, endsAt - 1, HOUR, HOUR, PRICE, endsAt + 1 days);
        evict(leaseId);
        assertEq(market.lease(leaseId).endsAt, endsAt - 1, "ended now");
        assertEq(market.claimable(tenant, address(usdc)), PRICE, "the last second refunded");
    }

    /// @dev At its end the lease has ended: eviction keeps the end (which is now).
    function test_EvictLease_AtTheEnd() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt - GRACE);
        demandAndWait(leaseId);
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, endsAt, HOUR, HOUR, 0, endsAt + 1 days);
        evict(leaseId);
        assertEq(market.lease(leaseId).endsAt, endsAt, "its end");
        assertEq(market.claimable(tenant, address(usdc)), 0, "all of the escrow accrued");
    }

    /// @dev Notice at 3 hours ends the lease at 4; unpaid, it is evicted at 7 and keeps its end at 4.
    function test_EvictLease_EndedAfterNotice() public {
        uint256 leaseId = openDefaultLease();
        uint256 start = block.timestamp;
        skip(3 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        vm.warp(start + 6 hours);
        demandAndWait(leaseId);
        uint96 bond = market.lease(leaseId).bond;

        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, start + 4 hours, HOUR, HOUR, DEPOSIT - 4 * HOUR, start + 4 hours + 1 days);
        evict(leaseId);
        Lease memory l = market.lease(leaseId);
        assertEq(l.endsAt, start + 4 hours, "kept its end");
        assertEq(l.deposit, 4 * HOUR, "escrow cut to what accrued");
        assertEq(market.claimable(tenant, address(usdc)), DEPOSIT - 4 * HOUR, "the rest refunded at once");
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");

        vm.warp(start + 4 hours + 1 days);
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, 3 * HOUR, bond, feeOn(HOUR));
        market.finalizeLease(leaseId);
    }

    /// @dev A 10-hour lease funded for 2 stops running at 2 hours (its runway); unpaid, it is evicted at 6
    /// and keeps `endsAt` (10 hours, after now): its escrow is what accrued.
    function test_EvictLease_RunwayEnded() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 2 * HOUR);
        uint256 start = block.timestamp;
        assertEq(market.leaseEnd(leaseId), start + 2 hours, "runway end");
        vm.warp(start + 5 hours);
        demandAndWait(leaseId);
        uint96 bond = market.lease(leaseId).bond;
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));

        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, start + DURATION, HOUR, HOUR, 0, start + 2 hours + 1 days);
        evict(leaseId);
        Lease memory l = market.lease(leaseId);
        assertEq(l.endsAt, start + DURATION, "keeps endsAt");
        assertEq(l.deposit, 2 * HOUR, "all of it accrued");
        assertEq(uint8(l.status), uint8(LeaseStatus.Evicted), "evicted");
        assertEq(market.stakeOf(provider, address(usdc)).locked, stakeBefore.locked, "bond still locked");
        assertEq(market.claimable(tenant, address(usdc)), 0, "nothing to refund yet");
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");

        vm.warp(start + 2 hours + 1 days);
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, HOUR, bond, feeOn(HOUR));
        market.finalizeLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), HOUR, "the unsettled hour refunded");
    }

    /// @dev The hold charge never takes the settled total past what the terms let accrue: a tenant half an
    /// hour short at the end pays that half hour, not a whole hour.
    function test_EvictLease_HoldChargeCappedByWhatAccrued() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt);
        settleAs(leaseId, DEPOSIT - HOUR / 2);
        vm.warp(endsAt + 2 hours);
        demandAndWait(leaseId);
        uint256 providerClaimable = market.claimable(provider, address(usdc));
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, endsAt, HOUR / 2, DEPOSIT, 0, endsAt + 1 days);
        evict(leaseId);
        assertEq(market.lease(leaseId).settled, DEPOSIT, "settled up to what accrued");
        assertEq(
            market.claimable(provider, address(usdc)),
            providerClaimable + HOUR / 2 - (feeOn(DEPOSIT) - feeOn(DEPOSIT - HOUR / 2)),
            "half an hour"
        );
    }

    /// @dev Ended with 9 hours settled, a second late: the demand is for one second, the hold charge (an
    /// hour, what is left to accrue) is settled.
    function test_EvictLease_EndedAndOneSecondLate() public {
        uint256 leaseId = openDefaultLease();
        uint256 endsAt = market.lease(leaseId).endsAt;
        vm.warp(endsAt);
        settleAs(leaseId, 9 * HOUR);
        skip(1);
        demandAndWait(leaseId);
        vm.expectEmit(address(market));
        emit LeaseEvicted(leaseId, endsAt, HOUR, DEPOSIT, 0, endsAt + 1 days);
        evict(leaseId);
        assertEq(market.lease(leaseId).endsAt, endsAt, "kept its end");
    }

    /// @dev A tenant's open dispute does not stall the eviction; the dispute stays open.
    function test_EvictLease_WhileDisputeOpen() public {
        uint256 leaseId = openDefaultLease();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        skip(2 hours);
        demandAndWait(leaseId);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.Open), "the dispute stands");
    }

    function test_EvictLease_EndedAndDisputeOpen() public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.lease(leaseId).endsAt + 2 hours);
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        demandAndWait(leaseId);
        evict(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
    }

    /// @dev An ended lease's demand and eviction still belong to its provider alone.
    function test_RevertWhen_EndedAndNotProvider() public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.lease(leaseId).endsAt + 2 hours);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, tenant));
        vm.prank(tenant);
        market.demandPayment(leaseId);
        demandAndWait(leaseId);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, tenant));
        vm.prank(tenant);
        market.evictLease(leaseId);
    }

    /// @dev Eviction keeps the tenant's remedies until the settlement deadline the lease had: finalizing
    /// waits for it (not for the earlier deadline the eviction's end gives), then releases the bond once
    /// and leaves the capacity the eviction freed alone.
    function test_EvictLease_FinalizedAtTheDeadlineItHad() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        demandAndWait(leaseId);
        uint256 remediesUntil = market.settlementDeadline(leaseId);
        uint96 bond = market.lease(leaseId).bond;
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));
        evict(leaseId);
        uint256 newDeadline = market.settlementDeadline(leaseId);
        assertLt(newDeadline, remediesUntil, "the eviction's end gives an earlier deadline");

        vm.warp(newDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, remediesUntil)
        );
        market.finalizeLease(leaseId);
        vm.warp(remediesUntil - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementWindowOpen.selector, leaseId, remediesUntil)
        );
        market.finalizeLease(leaseId);

        vm.warp(remediesUntil);
        uint256 settled = market.lease(leaseId).settled;
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, market.lease(leaseId).deposit - settled, bond, feeOn(settled));
        vm.prank(keeper);
        market.finalizeLease(leaseId);
        assertEq(market.stakeOf(provider, address(usdc)).locked, stakeBefore.locked - bond, "bond released");
        assertEq(market.offer(offerId).activeLeases, 0, "capacity not freed twice");
        expectLeaseFinalized(leaseId);
        market.finalizeLease(leaseId);
        assertEq(market.stakeOf(provider, address(usdc)).locked, stakeBefore.locked - bond, "released once");
    }

    /// @dev A demand must leave the tenant its whole grace inside the settlement window (nothing can
    /// be settled after it, so nothing could answer), and an eviction must come before the window
    /// closes: after it the lease is only to be finalized, its escrow refunded in full.
    function test_EvictLease_AfterTheSettlementDeadline() public {
        uint256 a = openDefaultLease();
        uint256 b = openDefaultLease();
        uint256 deadline = market.settlementDeadline(a);
        vm.warp(deadline - GRACE - 1);
        demand(a);
        vm.warp(deadline - GRACE);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTooLateToDemand.selector, b, deadline));
        demand(b);

        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTooLateToDemand.selector, a, deadline));
        evict(a);
        uint96 bond = market.lease(a).bond;
        vm.expectEmit(address(market));
        emit LeaseFinalized(a, DEPOSIT, bond, 0);
        market.finalizeLease(a);
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        expectNotOpen(leaseId, LeaseStatus.Finalized);
        evict(leaseId);
    }

    function test_RevertWhen_AlreadyEvicted() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        demandAndWait(leaseId);
        evict(leaseId);
        expectNotOpen(leaseId, LeaseStatus.Evicted);
        evict(leaseId);
    }

    function test_RevertWhen_UnknownLease() public {
        expectUnknownLease(4);
        evict(4);
    }
}

/// @notice `failoverLease`: the tenant leaves a lease for another offer of the same token without a second
/// deposit: notice on the old lease if it still runs, the escrow no receipt of it can claim moved into the new
/// lease, and only `extraDeposit` pulled. The old lease keeps its end and all its provider can settle.
contract FailoverLease_Unit_Test is LeasesUnitTest {
    uint256 internal constant HOUR = uint256(PRICE) * 1 hours;

    address internal provider2 = makeAddr("provider2");
    uint256 internal other;

    function setUp() public override {
        super.setUp();
        registerAndStake(provider2, address(usdc), PROVIDER_STAKE);
        other = publishOffer(provider2, address(usdc), 2 * PRICE);
    }

    function failover(uint256 leaseId, uint32 duration, uint256 extra) internal returns (uint256) {
        bytes32 termsHash = market.offerTermsHash(other);
        vm.prank(tenant);
        return market.failoverLease(leaseId, other, duration, extra, termsHash);
    }

    function test_FailoverLease() public {
        uint256 t0 = block.timestamp;
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        settleAs(leaseId, HOUR);
        // Notice ends the old lease at t0 + 3h: it keeps three hours, seven move; thirteen more are pulled
        // for ten hours at twice the price.
        uint256 extra = 13 * HOUR;
        uint32 now_ = uint32(block.timestamp);
        Lease memory expectedNew = Lease({
            tenant: tenant,
            offerId: uint32(other),
            startedAt: now_,
            endsAt: now_ + DURATION,
            deposit: uint88(20 * HOUR),
            settled: 0,
            pricePerSecond: 2 * PRICE,
            paramsVersion: 1,
            bond: bondFor(2 * PRICE, NOTICE),
            noticePeriod: NOTICE,
            minEndsAt: now_ + MIN_DURATION,
            status: LeaseStatus.Open
        });
        uint256 tenantBalance = usdc.balanceOf(tenant);
        uint256 marketBalance = usdc.balanceOf(address(market));
        Lease memory oldBefore = market.lease(leaseId);
        bytes32 termsHash = market.offerTermsHash(other);

        vm.expectEmit(address(market));
        emit LeaseClosed(leaseId, tenant, t0 + 3 hours);
        vm.expectEmit(address(market));
        emit LeaseOpened(2, other, tenant, expectedNew);
        vm.expectEmit(address(market));
        emit LeaseFailedOver(leaseId, 2, 7 * HOUR, 3 * HOUR);
        vm.prank(tenant);
        uint256 newLease = market.failoverLease(leaseId, other, DURATION, extra, termsHash);

        assertEq(newLease, 2, "new lease id");
        assertLease(market.lease(newLease), expectedNew);
        Lease memory oldExpected = oldBefore;
        oldExpected.endsAt = uint32(t0 + 3 hours);
        oldExpected.deposit = uint88(3 * HOUR);
        assertLease(market.lease(leaseId), oldExpected);
        assertEq(market.leaseEnd(leaseId), t0 + 3 hours, "the old lease's end");
        assertEq(market.unclaimableEscrow(leaseId), 0, "nothing unclaimable left in the old lease");
        assertEq(usdc.balanceOf(tenant), tenantBalance - extra, "only the extra deposit pulled");
        assertEq(usdc.balanceOf(address(market)), marketBalance + extra, "market");
        assertEq(market.stakeOf(provider2, address(usdc)).locked, expectedNew.bond, "new provider's bond");
        assertEq(market.offer(offerId).activeLeases, 1, "the old lease still counts until finalized");
        assertEq(market.offer(other).activeLeases, 1);
    }

    /// @dev The old provider can still settle everything the old lease ran, to the last unit kept.
    function test_FailoverLease_OldProviderSettlesAllItCouldBefore() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        failover(leaseId, DURATION, 13 * HOUR);
        vm.warp(market.leaseEnd(leaseId) + 1 hours); // in the old lease's settlement window
        assertEq(settleAs(leaseId, 10 * HOUR), 3 * HOUR, "the three hours it ran");
        vm.warp(market.settlementDeadline(leaseId));
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, 0, bondFor(PRICE, NOTICE), feeOn(3 * HOUR));
        market.finalizeLease(leaseId);
    }

    function test_FailoverLease_AfterTheLeaseEnded() public {
        // Two hours funded for ten: after its end the whole unclaimable rest moves, with no notice.
        uint256 leaseId = openLease(tenant, offerId, 2 hours, DEPOSIT);
        skip(3 hours);
        assertEq(market.unclaimableEscrow(leaseId), 8 * HOUR, "eight hours no receipt can claim");
        uint256 endsAt = market.lease(leaseId).endsAt;

        bytes32 termsHash = market.offerTermsHash(other);
        vm.recordLogs();
        vm.prank(tenant);
        uint256 newLease = market.failoverLease(leaseId, other, DURATION, 12 * HOUR, termsHash);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != LeaseClosed.selector, "no notice on an ended lease");
        }
        assertEq(market.lease(newLease).deposit, 20 * HOUR, "eight moved, twelve pulled");
        assertEq(market.lease(leaseId).deposit, 2 * HOUR, "kept");
        assertEq(market.lease(leaseId).endsAt, endsAt, "end unchanged");
    }

    function test_FailoverLease_WithoutExtraDeposit() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 3 * DEPOSIT);
        skip(2 hours);
        uint256 tenantBalance = usdc.balanceOf(tenant);
        uint256 newLease = failover(leaseId, DURATION, 0);
        assertEq(market.lease(newLease).deposit, 3 * DEPOSIT - 3 * HOUR, "everything but three hours");
        assertEq(usdc.balanceOf(tenant), tenantBalance, "nothing pulled");
    }

    function test_UnclaimableEscrow() public {
        uint256 leaseId = openLease(tenant, offerId, DURATION, 3 * DEPOSIT);
        assertEq(market.unclaimableEscrow(leaseId), 2 * DEPOSIT, "beyond the lease's end");
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.unclaimableEscrow(leaseId), 3 * DEPOSIT - 3 * HOUR, "beyond the notice's end");
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        assertEq(market.unclaimableEscrow(leaseId), 0, "finalized: none");
    }

    function test_RevertWhen_NotTenant() public {
        uint256 leaseId = openDefaultLease();
        bytes32 termsHash = market.offerTermsHash(other);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotTenant.selector, leaseId, provider));
        vm.prank(provider);
        market.failoverLease(leaseId, other, DURATION, 0, termsHash);
    }

    function test_RevertWhen_TokenMismatch() public {
        uint256 leaseId = openDefaultLease();
        uint256 daiOffer = publishOffer(provider2, address(dai), 1e15);
        bytes32 termsHash = market.offerTermsHash(daiOffer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTokenMismatch.selector, daiOffer, address(dai), address(usdc)
            )
        );
        vm.prank(tenant);
        market.failoverLease(leaseId, daiOffer, DURATION, 0, termsHash);
    }

    function test_RevertWhen_DepositTooSmall() public {
        // Notice keeps nine of ten hours: one moves, less than the new offer's minimum (two, at twice the price).
        uint256 leaseId = openDefaultLease();
        skip(8 hours);
        Lease memory before = market.lease(leaseId);
        bytes32 termsHash = market.offerTermsHash(other);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDepositTooSmall.selector, HOUR, 2 * HOUR));
        vm.prank(tenant);
        market.failoverLease(leaseId, other, DURATION, 0, termsHash);
        assertEq(abi.encode(market.lease(leaseId)), abi.encode(before), "old lease untouched");
    }

    function test_RevertWhen_Finalized() public {
        uint256 leaseId = finalizedLease();
        bytes32 termsHash = market.offerTermsHash(other);
        expectLeaseFinalized(leaseId);
        vm.prank(tenant);
        market.failoverLease(leaseId, other, DURATION, 0, termsHash);
    }

    /// @dev A runway-limited lease accrues past its runway end (accrual runs to `endsAt`; the escrow caps
    /// payment), so its provider can settle the escrow's last fraction of a second. Failover must not
    /// move that fraction (IOpenlease: "The old provider can still settle everything it could before").
    function test_FailoverKeepsTheRunwayFractionTheOldProviderCanSettle() public {
        uint256 fraction = PRICE / 2;
        uint256 deposit = 2 * HOUR + fraction;
        uint256 leaseId = openLease(tenant, offerId, DURATION, deposit);
        skip(3 hours); // the runway ended at two hours; accrual reached three
        // Before the failover a receipt for the whole deposit would pay all of it, fraction included:
        uint256 snapshot = vm.snapshotState();
        assertEq(settleAs(leaseId, deposit), deposit, "the whole escrow is settleable");
        vm.revertToState(snapshot);
        assertEq(market.unclaimableEscrow(leaseId), 0, "the fraction is claimable");

        failover(leaseId, DURATION, 20 * HOUR);
        // The old provider should still be able to settle the whole deposit.
        assertEq(settleAs(leaseId, deposit), deposit, "old provider's settleable amount unchanged");
    }
}

/// @notice `finalizeLease`: after the settlement window, refunds the escrow left, releases the bond and credits
/// the protocol the fee on everything the lease settled.
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
        uint256 feesBefore = market.feesOwed(address(usdc));
        uint256 fee = feeOn(paid);
        assertGt(fee, 0);

        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, before.bond, fee);
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
        assertEq(market.feesOwed(address(usdc)), feesBefore + fee, "the fee on everything settled");
        assertEq(usdc.balanceOf(address(market)), marketBalance, "refund is claimable, not sent");
    }

    /// @dev The fee credited at finalize is the lease's own, even after governance raised it.
    function test_FinalizeLease_ChargesTheLeasesOwnFee() public {
        uint256 leaseId = openDefaultLease();
        skip(4 hours);
        uint256 paid = settleAs(leaseId, uint256(PRICE) * 4 hours);
        Params memory p = defaultParams();
        p.protocolFeeBps = 1_000;
        applyParams(p);
        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, DEPOSIT - paid, bondFor(PRICE, NOTICE), paid * 100 / 10_000);
        market.finalizeLease(leaseId);
        assertEq(market.feesOwed(address(usdc)), paid * 100 / 10_000, "1%, not 10%");
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
        emit LeaseFinalized(leaseId, 0, bondFor(PRICE, NOTICE), feeOn(uint256(PRICE) * 2 hours));
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
