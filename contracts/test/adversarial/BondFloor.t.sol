// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Every lease is backed by a bond. The attack: a provider publishes an offer with no
/// notice period, so `bondBps` of `price * notice` locks nothing, and sells leases with no stake at
/// all: it can walk away (terminate, equivocate, fail its SLA) at no cost. In v1 a zero notice period
/// was allowed. Here every offer gives at least `MIN_NOTICE_PERIOD` (1 hour) of notice, so the
/// smallest terms (price 1, one hour, the minimum bond bps) still lock a bond, and a lease opens only
/// if the provider's free stake covers it.
contract BondFloor_Adversarial_Test is LeaseTermsBase {
    address internal unstaked = makeAddr("unstaked provider");

    function expectInvalidTerms(uint64 price, uint32 minDuration, uint32 maxDuration, uint32 notice, uint16 capacity)
        internal
    {
        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseInvalidOfferTerms.selector, price, minDuration, maxDuration, notice, capacity
            )
        );
    }

    // ─── No offer without notice ────────────────────────────────────────────────────────────

    /// @notice The v1 loophole itself: an offer with no notice period.
    function test_RevertWhen_PublishOfferWithZeroNotice() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        vm.prank(provider);
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY, bytes32(0), address(0));
    }

    /// @notice One second short of the minimum notice.
    function test_RevertWhen_PublishOfferWithNoticeOneSecondShort() public {
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, Bounds.MIN_NOTICE_PERIOD - 1, CAPACITY);
        vm.prank(provider);
        market.publishOffer(
            address(usdc),
            PRICE,
            MIN_DURATION,
            MAX_DURATION,
            Bounds.MIN_NOTICE_PERIOD - 1,
            CAPACITY,
            bytes32(0),
            address(0)
        );
    }

    function testFuzz_RevertWhen_PublishOfferWithNoticeBelowAnHour(uint32 notice) public {
        notice = uint32(bound(notice, 0, Bounds.MIN_NOTICE_PERIOD - 1));
        uint256 count = market.offerCount();
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, notice, CAPACITY);
        vm.prank(provider);
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, notice, CAPACITY, bytes32(0), address(0));
        assertEq(market.offerCount(), count, "no offer published");
    }

    /// @notice An existing offer cannot drop its notice below the minimum either; it stays as it was.
    function test_RevertWhen_UpdateOfferToNoticeBelowAnHour() public {
        Offer memory before = market.offer(offerId);
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        vm.prank(provider);
        market.updateOffer(offerId, PRICE, MIN_DURATION, MAX_DURATION, 0, CAPACITY);
        assertEq(keccak256(abi.encode(market.offer(offerId))), keccak256(abi.encode(before)), "offer unchanged");
    }

    function testFuzz_RevertWhen_UpdateOfferToNoticeBelowAnHour(uint32 notice) public {
        notice = uint32(bound(notice, 0, Bounds.MIN_NOTICE_PERIOD - 1));
        expectInvalidTerms(PRICE, MIN_DURATION, MAX_DURATION, notice, CAPACITY);
        vm.prank(provider);
        market.updateOffer(offerId, PRICE, MIN_DURATION, MAX_DURATION, notice, CAPACITY);
    }

    // ─── The smallest terms still lock a bond ───────────────────────────────────────────────

    /// @notice Price 1, one hour of notice, the minimum bond bps (10%): 360 units locked.
    function test_SmallestTermsLockABond() public {
        Params memory p = defaultParams();
        p.bondBps = 1_000;
        applyParams(p);
        vm.prank(provider);
        uint256 tiny = market.publishOffer(
            address(usdc), 1, 1, Bounds.MIN_NOTICE_PERIOD, Bounds.MIN_NOTICE_PERIOD, 1, bytes32(0), address(0)
        );
        uint256 locked = market.stakeOf(provider, address(usdc)).locked;

        uint256 leaseId = openLease(tenant, tiny, 1, 1);

        uint96 bond = market.lease(leaseId).bond;
        assertEq(bond, 360, "1 * 3600 * 10%");
        assertEq(bond, LeaseMath.bond(1, Bounds.MIN_NOTICE_PERIOD, 1_000), "the bond rule");
        assertEq(market.stakeOf(provider, address(usdc)).locked, locked + bond, "locked from stake");
    }

    /// @notice Every allowed offer under every allowed bond bps locks a bond above zero.
    function testFuzz_EveryAllowedOfferLocksABond(uint64 price, uint32 notice, uint16 bondBps) public {
        price = uint64(bound(price, 1, 1e6));
        notice = uint32(bound(notice, Bounds.MIN_NOTICE_PERIOD, 7 days));
        bondBps = uint16(bound(bondBps, 1_000, 50_000));
        Params memory p = defaultParams();
        p.bondBps = bondBps;
        applyParams(p);
        mintAndApprove(address(usdc), provider, 10_000_000e6);
        vm.prank(provider);
        market.stake(address(usdc), 10_000_000e6);
        vm.prank(provider);
        uint256 o = market.publishOffer(address(usdc), price, 1, notice, notice, 1, bytes32(0), address(0));

        uint256 leaseId = openLease(tenant, o, 1, price);

        assertGt(market.lease(leaseId).bond, 0, "bond > 0");
        assertEq(market.lease(leaseId).bond, LeaseMath.bond(price, notice, bondBps), "the bond rule");
    }

    // ─── No bond, no lease ──────────────────────────────────────────────────────────────────

    /// @notice A registered provider with no stake may publish an offer but never sell it.
    function test_RevertWhen_UnstakedProviderSellsLease() public {
        (address key, uint256 privateKey) = attestationKeyOf(unstaked);
        registerProvider(unstaked, key, privateKey);
        uint256 o = publishOffer(unstaked, address(usdc), PRICE);
        uint256 bond = LeaseMath.bond(PRICE, NOTICE, market.params().bondBps);
        bytes32 terms = market.offerTermsHash(o);
        Books memory b = booksOf(tenant, unstaked, o);

        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, unstaked, address(usdc), 0, bond)
        );
        vm.prank(tenant);
        market.openLease(o, 10 hours, uint256(PRICE) * 10 hours, terms);
        assertBooks(booksOf(tenant, unstaked, o), b, "after the refused open");
    }

    /// @notice One unit short of the bond is not enough.
    function test_RevertWhen_ProviderStakeOneShortOfBond() public {
        uint256 bond = LeaseMath.bond(PRICE, NOTICE, market.params().bondBps);
        registerAndStake(unstaked, address(usdc), bond - 1);
        uint256 o = publishOffer(unstaked, address(usdc), PRICE);
        bytes32 terms = market.offerTermsHash(o);

        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, unstaked, address(usdc), bond - 1, bond)
        );
        vm.prank(tenant);
        market.openLease(o, 10 hours, uint256(PRICE) * 10 hours, terms);
    }

    /// @notice Stake already locked by one lease does not back a second one.
    function test_RevertWhen_LockedStakeBacksASecondLease() public {
        uint256 bond = LeaseMath.bond(PRICE, NOTICE, market.params().bondBps);
        registerAndStake(unstaked, address(usdc), bond);
        uint256 o = publishOffer(unstaked, address(usdc), PRICE);
        openLease(tenant, o, 10 hours, uint256(PRICE) * 10 hours);
        bytes32 terms = market.offerTermsHash(o);

        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseInsufficientFreeStake.selector, unstaked, address(usdc), 0, bond)
        );
        vm.prank(tenant);
        market.openLease(o, 10 hours, uint256(PRICE) * 10 hours, terms);
    }
}
