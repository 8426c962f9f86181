// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";

/// @notice Providers consent to governance. The attack (v2): a compromised admin schedules a version that
/// names itself arbiter with the largest dispute slash allowed (50% of a bond), waits out `PARAMS_DELAY`,
/// then has a puppet tenant open leases on existing offers (which got the version in force) and dispute
/// them; the admin, as arbiter, upholds every dispute at the maximum and the puppet walks away with half of
/// each bond. The delay protects open leases, not the provider's new ones. Here each offer records the
/// parameters version its provider accepted (the one in force when it was published) and its new leases get
/// that version until the provider accepts another (`acceptParams`): the puppet's lease is ruled by the old
/// arbiter within the old bounds. Only the offer's provider accepts, only a version in force, only a newer one.
contract ProvidersConsentToParams_Adversarial_Test is LeaseTermsBase {
    address internal puppet;
    uint256 internal hostileVersion;

    function setUp() public override {
        super.setUp();
        puppet = makeAddr("puppet tenant");
        mintAndApprove(address(usdc), puppet, 1_000_000e6);
        // The admin names itself arbiter, every bound at its most hostile, and waits the delay out.
        uint256 effectiveAt;
        (hostileVersion, effectiveAt) = scheduleParams(hostileParams(admin));
        vm.warp(effectiveAt);
        assertEq(market.paramsVersion(), hostileVersion, "the hostile version is in force");
    }

    function puppetLease() internal returns (uint256 leaseId) {
        leaseId = openLease(puppet, offerId, 10 hours, uint256(PRICE) * 10 hours);
    }

    /// @notice The puppet's lease on the existing offer gets the version the provider accepted (the old
    /// one): its arbiter is not the admin, and the admin's ruling is refused. The provider's stake is safe.
    function test_PuppetLeaseOnAnExistingOfferKeepsTheAcceptedVersion() public {
        uint256 leaseId = puppetLease();
        assertEq(market.lease(leaseId).paramsVersion, 1, "the version the provider accepted");
        assertEq(market.leaseParams(leaseId).arbiter, arbiter, "the old arbiter");
        assertEq(market.leaseParams(leaseId).maxDisputeSlashBps, 5_000, "the old bound");
        assertEq(market.lease(leaseId).bond, uint256(PRICE) * NOTICE * 20_000 / BPS, "the old bond rate");

        skip(1 hours);
        vm.prank(puppet);
        market.openDispute(leaseId, "ipfs://fabricated");
        Books memory b = booksOf(puppet, provider, offerId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotArbiter.selector, leaseId, admin, arbiter));
        vm.prank(admin);
        market.ruleDispute(leaseId, 5_000);
        assertBooks(booksOf(puppet, provider, offerId), b, "after the refused ruling");
    }

    /// @notice The old arbiter rejects the fabricated dispute: the puppet's dispute bond goes to the provider.
    function test_OldArbiterRulesThePuppetsDispute() public {
        uint256 leaseId = puppetLease();
        skip(1 hours);
        vm.prank(puppet);
        market.openDispute(leaseId, "ipfs://fabricated");
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        vm.prank(arbiter);
        market.ruleDispute(leaseId, 0);
        assertEq(market.claimable(provider, address(usdc)), tenantBond, "the puppet's bond to the provider");
        assertEq(market.stakeOf(provider, address(usdc)).staked, PROVIDER_STAKE, "nothing slashed");
    }

    /// @notice Consent is what reaches new leases: once the provider accepts the version, its offer's new
    /// leases get it (and the open ones keep theirs).
    function test_AfterTheProviderAcceptsTheNewVersionApplies() public {
        uint256 before = puppetLease();
        vm.expectEmit(address(market));
        emit ParamsAccepted(offerId, hostileVersion);
        vm.prank(provider);
        market.acceptParams(offerId, uint16(hostileVersion));
        uint256 afterwards = puppetLease();
        assertEq(market.lease(afterwards).paramsVersion, hostileVersion, "the accepted version");
        assertEq(market.leaseParams(afterwards).arbiter, admin, "its arbiter");
        assertEq(market.lease(before).paramsVersion, 1, "the open lease keeps its version");
        assertEq(market.leaseParams(before).arbiter, arbiter, "and its arbiter");
    }

    /// @notice Nobody but the offer's provider accepts for it: not the admin, not the puppet, not another
    /// provider.
    function test_RevertWhen_NonProviderAccepts() public {
        (address other,) = otherProviderOffer("other provider", PRICE);
        address[3] memory callers = [admin, puppet, other];
        for (uint256 i; i < callers.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(OpenleaseNotOfferProvider.selector, offerId, callers[i]));
            vm.prank(callers[i]);
            market.acceptParams(offerId, uint16(hostileVersion));
        }
        assertEq(market.offer(offerId).paramsVersion, 1, "unchanged");
        assertEq(market.lease(puppetLease()).paramsVersion, 1, "new leases keep the old version");
    }

    /// @notice A pending version cannot be accepted ahead of its delay (the provider's consent to a version
    /// the admin may still replace), nor can an older or the same version be "accepted" again.
    function test_RevertWhen_AcceptingAPendingOlderOrSameVersion() public {
        // A newer hostile version, pending.
        Params memory p = hostileParams(admin);
        p.protocolFeeBps = 500;
        (uint256 pending,) = scheduleParams(p);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseParamsNotAcceptable.selector, pending, 1, hostileVersion));
        vm.prank(provider);
        market.acceptParams(offerId, uint16(pending));

        vm.prank(provider);
        market.acceptParams(offerId, uint16(hostileVersion));
        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseParamsNotAcceptable.selector, hostileVersion, hostileVersion, hostileVersion
            )
        );
        vm.prank(provider);
        market.acceptParams(offerId, uint16(hostileVersion));
        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseParamsNotAcceptable.selector, 1, hostileVersion, hostileVersion)
        );
        vm.prank(provider);
        market.acceptParams(offerId, 1);
        assertEq(market.offer(offerId).paramsVersion, hostileVersion, "no downgrade either");
    }

    /// @notice The terms hash follows the offer's accepted version: a tenant who read the terms before the
    /// provider accepted is not bound to the version it never saw.
    function test_RevertWhen_AcceptedBetweenReadAndOpen() public {
        bytes32 read = market.offerTermsHash(offerId);
        vm.prank(provider);
        market.acceptParams(offerId, uint16(hostileVersion));
        bytes32 current = market.offerTermsHash(offerId);
        vm.expectRevert(abi.encodeWithSelector(OpenleaseTermsChanged.selector, offerId, read, current));
        vm.prank(puppet);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, read);
    }

    /// @notice Unstaking is not an offer's business: a request made now thaws for the version in force.
    function test_UnstakeRequestUsesTheVersionInForce() public {
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        assertEq(
            market.stakeOf(provider, address(usdc)).thawEndsAt,
            block.timestamp + hostileParams(admin).unbondingPeriod,
            "the unbonding period in force"
        );
    }
}
