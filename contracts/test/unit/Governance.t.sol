// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Openlease} from "../../src/Openlease.sol";
import {IOpenlease} from "../../src/interfaces/IOpenlease.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {BaseTest} from "../Base.t.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Shared helpers of the governance unit tests; the bounds are those of `OpenleaseStorage.sol`.
abstract contract GovernanceUnitTest is BaseTest, IOpenleaseEvents {
    // OpenZeppelin events.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Paused(address account);
    event Unpaused(address account);

    function assertParams(Params memory actual, Params memory expected) internal pure {
        assertEq(keccak256(abi.encode(actual)), keccak256(abi.encode(expected)), "params");
    }

    function expectUnauthorized(address caller) internal {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller));
    }

    function expectOutOfBounds(Parameter parameter, uint256 value, uint256 min, uint256 max) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseParameterOutOfBounds.selector, parameter, value, min, max)
        );
    }

    function withParam(Parameter parameter, uint256 value) internal view returns (Params memory p) {
        p = defaultParams();
        if (parameter == Parameter.ProtocolFeeBps) p.protocolFeeBps = uint16(value);
        else if (parameter == Parameter.BondBps) p.bondBps = uint16(value);
        else if (parameter == Parameter.SlashCutBps) p.slashCutBps = uint16(value);
        else if (parameter == Parameter.MaxDisputeSlashBps) p.maxDisputeSlashBps = uint16(value);
        else if (parameter == Parameter.DisputeBondBps) p.disputeBondBps = uint16(value);
        else if (parameter == Parameter.SettlementWindow) p.settlementWindow = uint32(value);
        else if (parameter == Parameter.DisputePeriod) p.disputePeriod = uint32(value);
        else p.unbondingPeriod = uint32(value);
    }

    function pauseMarket() internal {
        vm.prank(admin);
        market.pause();
    }

    function scheduleAsAdmin(Params memory p) internal returns (uint256 version, uint256 effectiveAt) {
        vm.prank(admin);
        (version, effectiveAt) = market.scheduleParams(p);
    }

    function assertLatest(uint256 version, uint256 effectiveAt, Params memory p) internal view {
        (uint256 v, uint256 at, Params memory latest) = market.latestParams();
        assertEq(v, version, "latest version");
        assertEq(at, effectiveAt, "latest effectiveAt");
        assertParams(latest, p);
    }

    function openDispute(uint256 leaseId) internal {
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
    }
}

/// @notice The constructor: the owner, treasury and parameters version 1 (in force at once) set with their
/// events, the extension deployed; a zero owner, treasury or arbiter and out-of-bounds parameters rejected.
contract Constructor_Unit_Test is GovernanceUnitTest {
    function test_Constructor() public {
        vm.expectEmit();
        emit OwnershipTransferred(address(0), admin);
        vm.expectEmit();
        emit TreasuryUpdated(treasury);
        vm.expectEmit();
        emit ParamsScheduled(1, block.timestamp, defaultParams());
        Openlease fresh = new Openlease(admin, treasury, defaultParams());
        IOpenlease freshMarket = IOpenlease(address(fresh));

        assertEq(fresh.owner(), admin);
        assertEq(fresh.pendingOwner(), address(0));
        assertEq(freshMarket.treasury(), treasury);
        assertParams(freshMarket.params(), defaultParams());
        assertEq(freshMarket.paramsVersion(), 1, "version 1 in force at once");
        assertParams(freshMarket.paramsAt(1), defaultParams());
        assertFalse(fresh.paused());
        assertFalse(freshMarket.isTokenAllowed(address(usdc)));
        assertEq(freshMarket.offerCount(), 0);
        assertEq(freshMarket.leaseCount(), 0);
        assertGt(fresh.extension().code.length, 0, "extension deployed");
        assertNotEq(fresh.extension(), address(fresh));
    }

    function test_Constructor_LatestParams() public view {
        // The fixture's market was deployed at this timestamp with the default parameters.
        assertLatest(1, block.timestamp, defaultParams());
        assertEq(market.paramsVersion(), 1);
    }

    function test_RevertWhen_ZeroAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new Openlease(address(0), treasury, defaultParams());
    }

    function test_RevertWhen_ZeroTreasury() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        new Openlease(admin, address(0), defaultParams());
    }

    function test_RevertWhen_ZeroArbiter() public {
        Params memory p = defaultParams();
        p.arbiter = address(0);
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        new Openlease(admin, treasury, p);
    }

    function test_RevertWhen_ParamsOutOfBounds() public {
        expectOutOfBounds(Parameter.ProtocolFeeBps, Bounds.MAX_PROTOCOL_FEE_BPS + 1, 0, Bounds.MAX_PROTOCOL_FEE_BPS);
        new Openlease(admin, treasury, withParam(Parameter.ProtocolFeeBps, Bounds.MAX_PROTOCOL_FEE_BPS + 1));

        expectOutOfBounds(Parameter.BondBps, Bounds.MIN_BOND_BPS - 1, Bounds.MIN_BOND_BPS, Bounds.MAX_BOND_BPS);
        new Openlease(admin, treasury, withParam(Parameter.BondBps, Bounds.MIN_BOND_BPS - 1));

        expectOutOfBounds(
            Parameter.UnbondingPeriod,
            Bounds.MIN_UNBONDING_PERIOD - 1,
            Bounds.MIN_UNBONDING_PERIOD,
            Bounds.MAX_UNBONDING_PERIOD
        );
        new Openlease(admin, treasury, withParam(Parameter.UnbondingPeriod, Bounds.MIN_UNBONDING_PERIOD - 1));

        // The all-zero parameters fail on the first bounded one, in the order of the struct.
        Params memory zero;
        expectOutOfBounds(Parameter.SettlementWindow, 0, Bounds.MIN_SETTLEMENT_WINDOW, Bounds.MAX_SETTLEMENT_WINDOW);
        new Openlease(admin, treasury, zero);
    }
}

/// @notice `scheduleParams`: every parameter within its hard bounds, owner only; a version takes effect
/// `PARAMS_DELAY` after it is scheduled, replaces a version still pending, and reaches only leases opened
/// from then on (each lease keeps the version it opened with: `leaseParams`).
contract ScheduleParams_Unit_Test is GovernanceUnitTest {
    function customParams() internal returns (Params memory) {
        return Params({
            protocolFeeBps: 250,
            settlementWindow: 2 days,
            bondBps: 15_000,
            slashCutBps: 500,
            maxDisputeSlashBps: 4_000,
            disputeBondBps: 2_000,
            disputePeriod: 5 days,
            unbondingPeriod: 30 days,
            arbiter: makeAddr("newArbiter")
        });
    }

    function test_ScheduleParams() public {
        Params memory p = customParams();
        uint256 effectiveAt = block.timestamp + Bounds.PARAMS_DELAY;
        vm.expectEmit(address(market));
        emit ParamsScheduled(2, effectiveAt, p);
        (uint256 version, uint256 at) = scheduleAsAdmin(p);

        assertEq(version, 2, "version");
        assertEq(at, effectiveAt, "effectiveAt");
        assertLatest(2, effectiveAt, p);
        assertParams(market.paramsAt(2), p);
        // Not in force yet.
        assertParams(market.params(), defaultParams());
        assertEq(market.paramsVersion(), 1, "version in force");
    }

    function test_ScheduleParams_TakesEffectAfterTheDelay() public {
        Params memory p = customParams();
        (, uint256 effectiveAt) = scheduleAsAdmin(p);

        vm.warp(effectiveAt - 1);
        assertParams(market.params(), defaultParams());
        assertEq(market.paramsVersion(), 1);

        vm.warp(effectiveAt);
        assertParams(market.params(), p);
        assertEq(market.paramsVersion(), 2);
        assertParams(market.paramsAt(1), defaultParams());
    }

    function test_ScheduleParams_ReplacesAPendingVersion() public {
        Params memory first = customParams();
        (, uint256 firstAt) = scheduleAsAdmin(first);
        skip(3 days);
        Params memory second = withParam(Parameter.ProtocolFeeBps, 500);
        uint256 secondAt = block.timestamp + Bounds.PARAMS_DELAY;

        vm.expectEmit(address(market));
        emit ParamsScheduled(2, secondAt, second);
        (uint256 version, uint256 at) = scheduleAsAdmin(second);

        assertEq(version, 2, "the pending version is replaced, not queued");
        assertEq(at, secondAt, "the delay starts again");
        assertLatest(2, secondAt, second);
        // The first never takes effect.
        vm.warp(firstAt);
        assertParams(market.params(), defaultParams());
        assertEq(market.paramsVersion(), 1);
        vm.warp(secondAt);
        assertParams(market.params(), second);
        assertEq(market.paramsVersion(), 2);
    }

    function test_ScheduleParams_AfterOneTookEffectAddsAVersion() public {
        Params memory first = customParams();
        applyParams(first);
        Params memory second = withParam(Parameter.ProtocolFeeBps, 500);
        (uint256 version, uint256 at) = scheduleAsAdmin(second);

        assertEq(version, 3, "a new version");
        assertLatest(3, at, second);
        assertParams(market.paramsAt(2), first);
        assertParams(market.params(), first);
        assertEq(market.paramsVersion(), 2, "version 2 stays in force until version 3 takes effect");
    }

    function test_ScheduleParams_AtLowerBounds() public {
        Params memory p = Params({
            protocolFeeBps: 0,
            settlementWindow: uint32(Bounds.MIN_SETTLEMENT_WINDOW),
            bondBps: uint16(Bounds.MIN_BOND_BPS),
            slashCutBps: 0,
            maxDisputeSlashBps: uint16(Bounds.MIN_DISPUTE_SLASH_BPS),
            disputeBondBps: uint16(Bounds.MIN_DISPUTE_BOND_BPS),
            disputePeriod: uint32(Bounds.MIN_DISPUTE_PERIOD),
            unbondingPeriod: uint32(Bounds.MIN_UNBONDING_PERIOD),
            arbiter: arbiter
        });
        applyParams(p);
        assertParams(market.params(), p);
    }

    function test_ScheduleParams_AtUpperBounds() public {
        Params memory p = Params({
            protocolFeeBps: uint16(Bounds.MAX_PROTOCOL_FEE_BPS),
            settlementWindow: uint32(Bounds.MAX_SETTLEMENT_WINDOW),
            bondBps: uint16(Bounds.MAX_BOND_BPS),
            slashCutBps: uint16(Bounds.MAX_SLASH_CUT_BPS),
            maxDisputeSlashBps: uint16(Bounds.MAX_DISPUTE_SLASH_BPS),
            disputeBondBps: uint16(Bounds.MAX_DISPUTE_BOND_BPS),
            disputePeriod: uint32(Bounds.MAX_DISPUTE_PERIOD),
            unbondingPeriod: uint32(Bounds.MAX_UNBONDING_PERIOD),
            arbiter: arbiter
        });
        applyParams(p);
        assertParams(market.params(), p);
    }

    function test_ScheduleParams_ReachesOnlyNewLeases() public {
        uint256 before = openDefaultLease();
        Lease memory beforeLease = market.lease(before);
        applyParams(withParam(Parameter.BondBps, Bounds.MIN_BOND_BPS));
        // In force, but the offer's provider has not accepted it: its new leases keep version 1.
        uint256 unaccepted = openDefaultLease();
        assertEq(market.lease(unaccepted).paramsVersion, 1, "not accepted");
        assertParams(market.leaseParams(unaccepted), defaultParams());
        acceptParams(offerId);
        uint256 afterwards = openDefaultLease();

        assertEq(abi.encode(market.lease(before)), abi.encode(beforeLease), "the open lease is untouched");
        assertEq(market.lease(unaccepted).paramsVersion, 1, "nor the one opened before the acceptance");
        assertEq(market.lease(before).paramsVersion, 1);
        assertParams(market.leaseParams(before), defaultParams());
        assertEq(market.lease(afterwards).paramsVersion, 2);
        assertParams(market.leaseParams(afterwards), withParam(Parameter.BondBps, Bounds.MIN_BOND_BPS));
        assertEq(market.lease(afterwards).bond, uint256(PRICE) * NOTICE * Bounds.MIN_BOND_BPS / 10_000);
    }

    function test_ScheduleParams_LeaseOpenedWhilePendingKeepsTheOldVersion() public {
        (, uint256 effectiveAt) = scheduleAsAdmin(customParams());
        vm.warp(effectiveAt - 1);
        uint256 leaseId = openDefaultLease();
        vm.warp(effectiveAt);
        assertEq(market.lease(leaseId).paramsVersion, 1);
        assertParams(market.leaseParams(leaseId), defaultParams());
        assertEq(
            market.settlementDeadline(leaseId),
            market.leaseEnd(leaseId) + defaultParams().settlementWindow,
            "its own settlement window"
        );
    }

    function test_ParamsAt_UnknownVersionIsZero() public view {
        Params memory zero;
        assertParams(market.paramsAt(0), zero);
        assertParams(market.paramsAt(2), zero);
    }

    function test_RevertWhen_LeaseParamsOfUnknownLease() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownLease.selector, 1));
        market.leaseParams(1);
    }

    function test_RevertWhen_NotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        market.scheduleParams(defaultParams());
        assertLatest(1, block.timestamp, defaultParams());
    }

    function test_RevertWhen_ZeroArbiter() public {
        Params memory p = defaultParams();
        p.arbiter = address(0);
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        scheduleAsAdmin(p);
    }

    function test_RevertWhen_ProtocolFeeAboveMax() public {
        expectOutOfBounds(Parameter.ProtocolFeeBps, Bounds.MAX_PROTOCOL_FEE_BPS + 1, 0, Bounds.MAX_PROTOCOL_FEE_BPS);
        scheduleAsAdmin(withParam(Parameter.ProtocolFeeBps, Bounds.MAX_PROTOCOL_FEE_BPS + 1));
    }

    function test_RevertWhen_BondBelowMin() public {
        expectOutOfBounds(Parameter.BondBps, Bounds.MIN_BOND_BPS - 1, Bounds.MIN_BOND_BPS, Bounds.MAX_BOND_BPS);
        scheduleAsAdmin(withParam(Parameter.BondBps, Bounds.MIN_BOND_BPS - 1));
    }

    function test_RevertWhen_BondAboveMax() public {
        expectOutOfBounds(Parameter.BondBps, Bounds.MAX_BOND_BPS + 1, Bounds.MIN_BOND_BPS, Bounds.MAX_BOND_BPS);
        scheduleAsAdmin(withParam(Parameter.BondBps, Bounds.MAX_BOND_BPS + 1));
    }

    function test_RevertWhen_SlashCutAboveMax() public {
        expectOutOfBounds(Parameter.SlashCutBps, Bounds.MAX_SLASH_CUT_BPS + 1, 0, Bounds.MAX_SLASH_CUT_BPS);
        scheduleAsAdmin(withParam(Parameter.SlashCutBps, Bounds.MAX_SLASH_CUT_BPS + 1));
    }

    function test_RevertWhen_MaxDisputeSlashBelowMin() public {
        expectOutOfBounds(
            Parameter.MaxDisputeSlashBps,
            Bounds.MIN_DISPUTE_SLASH_BPS - 1,
            Bounds.MIN_DISPUTE_SLASH_BPS,
            Bounds.MAX_DISPUTE_SLASH_BPS
        );
        scheduleAsAdmin(withParam(Parameter.MaxDisputeSlashBps, Bounds.MIN_DISPUTE_SLASH_BPS - 1));
    }

    /// @dev One ruling never takes more than half a lease's bond.
    function test_RevertWhen_MaxDisputeSlashAboveMax() public {
        expectOutOfBounds(
            Parameter.MaxDisputeSlashBps,
            Bounds.MAX_DISPUTE_SLASH_BPS + 1,
            Bounds.MIN_DISPUTE_SLASH_BPS,
            Bounds.MAX_DISPUTE_SLASH_BPS
        );
        scheduleAsAdmin(withParam(Parameter.MaxDisputeSlashBps, Bounds.MAX_DISPUTE_SLASH_BPS + 1));
    }

    function test_RevertWhen_DisputeBondBelowMin() public {
        expectOutOfBounds(
            Parameter.DisputeBondBps,
            Bounds.MIN_DISPUTE_BOND_BPS - 1,
            Bounds.MIN_DISPUTE_BOND_BPS,
            Bounds.MAX_DISPUTE_BOND_BPS
        );
        scheduleAsAdmin(withParam(Parameter.DisputeBondBps, Bounds.MIN_DISPUTE_BOND_BPS - 1));
    }

    function test_RevertWhen_DisputeBondAboveMax() public {
        expectOutOfBounds(
            Parameter.DisputeBondBps,
            Bounds.MAX_DISPUTE_BOND_BPS + 1,
            Bounds.MIN_DISPUTE_BOND_BPS,
            Bounds.MAX_DISPUTE_BOND_BPS
        );
        scheduleAsAdmin(withParam(Parameter.DisputeBondBps, Bounds.MAX_DISPUTE_BOND_BPS + 1));
    }

    function test_RevertWhen_SettlementWindowBelowMin() public {
        expectOutOfBounds(
            Parameter.SettlementWindow,
            Bounds.MIN_SETTLEMENT_WINDOW - 1,
            Bounds.MIN_SETTLEMENT_WINDOW,
            Bounds.MAX_SETTLEMENT_WINDOW
        );
        scheduleAsAdmin(withParam(Parameter.SettlementWindow, Bounds.MIN_SETTLEMENT_WINDOW - 1));
    }

    function test_RevertWhen_SettlementWindowAboveMax() public {
        expectOutOfBounds(
            Parameter.SettlementWindow,
            Bounds.MAX_SETTLEMENT_WINDOW + 1,
            Bounds.MIN_SETTLEMENT_WINDOW,
            Bounds.MAX_SETTLEMENT_WINDOW
        );
        scheduleAsAdmin(withParam(Parameter.SettlementWindow, Bounds.MAX_SETTLEMENT_WINDOW + 1));
    }

    function test_RevertWhen_DisputePeriodBelowMin() public {
        expectOutOfBounds(
            Parameter.DisputePeriod, Bounds.MIN_DISPUTE_PERIOD - 1, Bounds.MIN_DISPUTE_PERIOD, Bounds.MAX_DISPUTE_PERIOD
        );
        scheduleAsAdmin(withParam(Parameter.DisputePeriod, Bounds.MIN_DISPUTE_PERIOD - 1));
    }

    function test_RevertWhen_DisputePeriodAboveMax() public {
        expectOutOfBounds(
            Parameter.DisputePeriod, Bounds.MAX_DISPUTE_PERIOD + 1, Bounds.MIN_DISPUTE_PERIOD, Bounds.MAX_DISPUTE_PERIOD
        );
        scheduleAsAdmin(withParam(Parameter.DisputePeriod, Bounds.MAX_DISPUTE_PERIOD + 1));
    }

    function test_RevertWhen_UnbondingPeriodBelowMin() public {
        expectOutOfBounds(
            Parameter.UnbondingPeriod,
            Bounds.MIN_UNBONDING_PERIOD - 1,
            Bounds.MIN_UNBONDING_PERIOD,
            Bounds.MAX_UNBONDING_PERIOD
        );
        scheduleAsAdmin(withParam(Parameter.UnbondingPeriod, Bounds.MIN_UNBONDING_PERIOD - 1));
    }

    function test_RevertWhen_UnbondingPeriodAboveMax() public {
        expectOutOfBounds(
            Parameter.UnbondingPeriod,
            Bounds.MAX_UNBONDING_PERIOD + 1,
            Bounds.MIN_UNBONDING_PERIOD,
            Bounds.MAX_UNBONDING_PERIOD
        );
        scheduleAsAdmin(withParam(Parameter.UnbondingPeriod, Bounds.MAX_UNBONDING_PERIOD + 1));
    }

    function test_RevertWhen_OutOfBoundsLeavesThePendingVersion() public {
        Params memory pending = customParams();
        (, uint256 effectiveAt) = scheduleAsAdmin(pending);
        expectOutOfBounds(Parameter.BondBps, Bounds.MAX_BOND_BPS + 1, Bounds.MIN_BOND_BPS, Bounds.MAX_BOND_BPS);
        scheduleAsAdmin(withParam(Parameter.BondBps, Bounds.MAX_BOND_BPS + 1));
        assertLatest(2, effectiveAt, pending);
    }
}

/// @notice `acceptParams`: a provider consents to a parameters version for an offer's new leases. Only the
/// offer's provider, only a version in force and newer than the offer's; open leases keep theirs.
contract AcceptParams_Unit_Test is GovernanceUnitTest {
    function expectNotAcceptable(uint256 version, uint256 accepted, uint256 inForce) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseParamsNotAcceptable.selector, version, accepted, inForce)
        );
    }

    function accept(address who, uint256 offer, uint16 version) internal {
        vm.prank(who);
        market.acceptParams(offer, version);
    }

    function test_AcceptParams() public {
        Params memory p = withParam(Parameter.ProtocolFeeBps, 500);
        applyParams(p);
        assertEq(market.offer(offerId).paramsVersion, 1, "the offer keeps its version");
        bytes32 hashBefore = market.offerTermsHash(offerId);

        vm.expectEmit(address(market));
        emit ParamsAccepted(offerId, 2);
        accept(provider, offerId, 2);

        assertEq(market.offer(offerId).paramsVersion, 2, "accepted");
        assertNotEq(market.offerTermsHash(offerId), hashBefore, "the terms hash commits to it");
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).paramsVersion, 2, "new leases get it");
        assertParams(market.leaseParams(leaseId), p);
    }

    /// @dev A provider may skip versions: it accepts the one in force, not every one between.
    function test_AcceptParams_SkipsVersions() public {
        applyParams(withParam(Parameter.ProtocolFeeBps, 500));
        applyParams(withParam(Parameter.ProtocolFeeBps, 600));
        assertEq(market.paramsVersion(), 3);
        accept(provider, offerId, 3);
        assertEq(market.offer(offerId).paramsVersion, 3);
        expectNotAcceptable(2, 3, 3);
        accept(provider, offerId, 2);
    }

    /// @dev Each offer accepts for itself.
    function test_AcceptParams_PerOffer() public {
        vm.prank(provider);
        uint256 second = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0)
        );
        applyParams(withParam(Parameter.ProtocolFeeBps, 500));
        accept(provider, offerId, 2);
        assertEq(market.offer(second).paramsVersion, 1, "the other offer keeps its version");
    }

    /// @dev An offer published while a version is in force gets that version without accepting it.
    function test_PublishOffer_GetsTheVersionInForce() public {
        (, uint256 effectiveAt) = scheduleAsAdmin(withParam(Parameter.ProtocolFeeBps, 500));
        vm.prank(provider);
        uint256 early = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0)
        );
        assertEq(market.offer(early).paramsVersion, 1, "published while version 2 was pending");
        vm.warp(effectiveAt);
        vm.expectEmit(address(market));
        emit OfferPublished(
            early + 1,
            provider,
            address(usdc),
            PRICE,
            MIN_DURATION,
            MAX_DURATION,
            NOTICE,
            CAPACITY,
            2,
            bytes32(0),
            address(0)
        );
        vm.prank(provider);
        uint256 late = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0)
        );
        assertEq(market.offer(late).paramsVersion, 2, "published with version 2 in force");
        expectNotAcceptable(2, 2, 2);
        accept(provider, late, 2);
    }

    function test_RevertWhen_AcceptParams_NotTheOffersProvider() public {
        applyParams(withParam(Parameter.ProtocolFeeBps, 500));
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, admin));
        accept(admin, offerId, 2);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, tenant));
        accept(tenant, offerId, 2);
        assertEq(market.offer(offerId).paramsVersion, 1);
    }

    function test_RevertWhen_AcceptParams_UnknownOffer() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownOffer.selector, 7));
        accept(provider, 7, 1);
    }

    /// @dev A pending version cannot be accepted: it is not in force.
    function test_RevertWhen_AcceptParams_Pending() public {
        (, uint256 effectiveAt) = scheduleAsAdmin(withParam(Parameter.ProtocolFeeBps, 500));
        expectNotAcceptable(2, 1, 1);
        accept(provider, offerId, 2);
        vm.warp(effectiveAt - 1);
        expectNotAcceptable(2, 1, 1);
        accept(provider, offerId, 2);
        vm.warp(effectiveAt);
        accept(provider, offerId, 2);
    }

    function test_RevertWhen_AcceptParams_NotNewer() public {
        expectNotAcceptable(1, 1, 1);
        accept(provider, offerId, 1);
        expectNotAcceptable(0, 1, 1);
        accept(provider, offerId, 0);
        applyParams(withParam(Parameter.ProtocolFeeBps, 500));
        accept(provider, offerId, 2);
        expectNotAcceptable(2, 2, 2);
        accept(provider, offerId, 2);
    }

    function test_RevertWhen_AcceptParams_NotYetExisting() public {
        expectNotAcceptable(5, 1, 1);
        accept(provider, offerId, 5);
    }
}

/// @notice Roles: the token allow-list, treasury and two-step ownership, owner only; renouncing is disabled. The
/// arbiter is a parameter: a new one, scheduled, rules only the leases opened after the delay.
contract Roles_Unit_Test is GovernanceUnitTest {
    function test_SetTokenAllowed() public {
        MockStablecoin token = new MockStablecoin("New", "NEW", 6);
        assertFalse(market.isTokenAllowed(address(token)));
        vm.expectEmit(address(market));
        emit TokenAllowed(address(token), true);
        vm.prank(admin);
        market.setTokenAllowed(address(token), true);
        assertTrue(market.isTokenAllowed(address(token)));

        vm.expectEmit(address(market));
        emit TokenAllowed(address(token), false);
        vm.prank(admin);
        market.setTokenAllowed(address(token), false);
        assertFalse(market.isTokenAllowed(address(token)));
    }

    function test_RevertWhen_SetTokenAllowedZeroAddress() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(admin);
        market.setTokenAllowed(address(0), true);
    }

    function test_RevertWhen_SetTokenAllowedNotOwner() public {
        expectUnauthorized(provider);
        vm.prank(provider);
        market.setTokenAllowed(address(usdc), false);
    }

    /// @dev The arbiter is part of a parameters version: leases opened before the new version takes
    /// effect (even while it is pending) keep their arbiter, and only leases opened after are ruled by the
    /// new one.
    function test_ScheduleArbiter_ReachesOnlyLeasesOpenedAfterTheDelay() public {
        address newArbiter = makeAddr("newArbiter");
        Params memory p = defaultParams();
        p.arbiter = newArbiter;
        // Leases long enough to still run when the new version takes effect.
        uint256 before = openLease(tenant, offerId, 8 days, uint256(PRICE) * 8 days);
        (, uint256 effectiveAt) = scheduleAsAdmin(p);
        uint256 pending = openLease(tenant, offerId, 8 days, uint256(PRICE) * 8 days);
        vm.warp(effectiveAt);
        // In force, but the offer's leases get it only once its provider accepts it.
        uint256 unaccepted = openDefaultLease();
        assertEq(market.leaseParams(unaccepted).arbiter, arbiter, "in force, not accepted");
        acceptParams(offerId);
        uint256 afterwards = openDefaultLease();
        assertEq(market.leaseParams(before).arbiter, arbiter, "before");
        assertEq(market.leaseParams(pending).arbiter, arbiter, "while pending");
        assertEq(market.leaseParams(afterwards).arbiter, newArbiter, "after");

        openDispute(before);
        openDispute(pending);
        openDispute(afterwards);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, before, newArbiter, arbiter)
        );
        vm.prank(newArbiter);
        market.ruleDispute(before, 1_000);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, afterwards, arbiter, newArbiter)
        );
        vm.prank(arbiter);
        market.ruleDispute(afterwards, 1_000);

        vm.prank(arbiter);
        market.ruleDispute(before, 1_000);
        vm.prank(arbiter);
        market.ruleDispute(pending, 1_000);
        vm.prank(newArbiter);
        market.ruleDispute(afterwards, 1_000);
        assertEq(uint8(market.dispute(before).status), uint8(DisputeStatus.Upheld));
        assertEq(uint8(market.dispute(pending).status), uint8(DisputeStatus.Upheld));
        assertEq(uint8(market.dispute(afterwards).status), uint8(DisputeStatus.Upheld));
    }

    function test_RevertWhen_ScheduleArbiterZeroAddress() public {
        Params memory p = defaultParams();
        p.arbiter = address(0);
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(admin);
        market.scheduleParams(p);
    }

    function test_RevertWhen_ScheduleArbiterNotOwner() public {
        Params memory p = defaultParams();
        p.arbiter = keeper;
        expectUnauthorized(arbiter);
        vm.prank(arbiter);
        market.scheduleParams(p);
    }

    function test_SetTreasury() public {
        address newTreasury = makeAddr("newTreasury");
        vm.expectEmit(address(market));
        emit TreasuryUpdated(newTreasury);
        vm.prank(admin);
        market.setTreasury(newTreasury);
        assertEq(market.treasury(), newTreasury);
    }

    function test_RevertWhen_SetTreasuryZeroAddress() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(admin);
        market.setTreasury(address(0));
    }

    function test_RevertWhen_SetTreasuryNotOwner() public {
        expectUnauthorized(treasury);
        vm.prank(treasury);
        market.setTreasury(treasury);
    }

    function test_TransferOwnership_TwoStep() public {
        address newOwner = makeAddr("newOwner");
        vm.expectEmit(address(market));
        emit OwnershipTransferStarted(admin, newOwner);
        vm.prank(admin);
        marketContract().transferOwnership(newOwner);
        assertEq(marketContract().owner(), admin, "owner unchanged until accepted");
        assertEq(marketContract().pendingOwner(), newOwner);

        // The pending owner has no powers yet.
        expectUnauthorized(newOwner);
        vm.prank(newOwner);
        market.pause();

        vm.expectEmit(address(market));
        emit OwnershipTransferred(admin, newOwner);
        vm.prank(newOwner);
        marketContract().acceptOwnership();
        assertEq(marketContract().owner(), newOwner);
        assertEq(marketContract().pendingOwner(), address(0));

        expectUnauthorized(admin);
        vm.prank(admin);
        market.pause();
        vm.prank(newOwner);
        market.pause();
        assertTrue(marketContract().paused());
    }

    function test_RevertWhen_AcceptOwnershipNotPendingOwner() public {
        address newOwner = makeAddr("newOwner");
        vm.prank(admin);
        marketContract().transferOwnership(newOwner);
        expectUnauthorized(keeper);
        vm.prank(keeper);
        marketContract().acceptOwnership();
        expectUnauthorized(admin);
        vm.prank(admin);
        marketContract().acceptOwnership();
        assertEq(marketContract().owner(), admin);
        assertEq(marketContract().pendingOwner(), newOwner);
    }

    function test_TransferOwnership_Replaced() public {
        address first = makeAddr("first");
        address second = makeAddr("second");
        vm.startPrank(admin);
        marketContract().transferOwnership(first);
        marketContract().transferOwnership(second);
        vm.stopPrank();
        expectUnauthorized(first);
        vm.prank(first);
        marketContract().acceptOwnership();
        vm.prank(second);
        marketContract().acceptOwnership();
        assertEq(marketContract().owner(), second);
    }

    function test_RevertWhen_TransferOwnershipNotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        marketContract().transferOwnership(keeper);
    }

    function test_RevertWhen_RenounceOwnership() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseRenounceDisabled.selector);
        vm.prank(admin);
        marketContract().renounceOwnership();
        assertEq(marketContract().owner(), admin);
    }

    function test_RevertWhen_RenounceOwnershipNotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        marketContract().renounceOwnership();
    }
}

/// @notice `pause`/`unpause`: owner only; the pause blocks new business and nothing else.
contract Pause_Unit_Test is GovernanceUnitTest {
    function test_Pause() public {
        vm.expectEmit(address(market));
        emit Paused(admin);
        vm.prank(admin);
        market.pause();
        assertTrue(marketContract().paused());
    }

    function test_Unpause() public {
        pauseMarket();
        vm.expectEmit(address(market));
        emit Unpaused(admin);
        vm.prank(admin);
        market.unpause();
        assertFalse(marketContract().paused());
        // New business resumes.
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).tenant, tenant);
    }

    function test_RevertWhen_PauseNotOwner() public {
        expectUnauthorized(arbiter);
        vm.prank(arbiter);
        market.pause();
    }

    function test_RevertWhen_UnpauseNotOwner() public {
        pauseMarket();
        expectUnauthorized(arbiter);
        vm.prank(arbiter);
        market.unpause();
    }

    function test_RevertWhen_PauseTwice() public {
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(admin);
        market.pause();
    }

    function test_RevertWhen_UnpauseNotPaused() public {
        vm.expectRevert(Pausable.ExpectedPause.selector);
        vm.prank(admin);
        market.unpause();
    }

    // ─── Blocked ────────────────────────────────────────────────────────────────────────────

    function test_RevertWhen_Paused_RegisterProvider() public {
        pauseMarket();
        bytes memory proof = keyProof(keyOf[keeper], keeper);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(keeper);
        market.registerProvider("", "", "", bytes32(0), keeper, proof);
    }

    function test_RevertWhen_Paused_Stake() public {
        mintAndApprove(address(usdc), provider, 1e6);
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(provider);
        market.stake(address(usdc), 1e6);
    }

    function test_RevertWhen_Paused_PublishOffer() public {
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(provider);
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0));
    }

    function test_RevertWhen_Paused_OpenLease() public {
        bytes32 termsHash = market.offerTermsHash(offerId);
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash);
    }

    function test_RevertWhen_Paused_OpenLeaseWithPermit() public {
        bytes32 termsHash = market.offerTermsHash(offerId);
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.openLeaseWithPermit(
            offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash, block.timestamp, 27, bytes32(0), bytes32(0)
        );
    }

    /// @dev A failover opens a new lease: new business, stopped by the pause like `openLease`.
    function test_RevertWhen_Paused_FailoverLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        bytes32 termsHash = market.offerTermsHash(offerId);
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.failoverLease(leaseId, offerId, 10 hours, 0, termsHash);
    }

    // ─── Not blocked: every exit and everything about running leases ──────────────────────────

    function test_Paused_Settle() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        pauseMarket();
        uint256 paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        assertEq(paid, uint256(PRICE) * 1 hours);
        assertEq(market.lease(leaseId).settled, paid);
    }

    function test_Paused_SettleBatch() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        pauseMarket();
        SignedReceipt[] memory batch = new SignedReceipt[](1);
        batch[0] = signedReceipt(leaseId, uint256(PRICE) * 1 hours);
        SettlementResult[] memory results = market.settleBatch(batch);
        assertEq(uint8(results[0]), uint8(SettlementResult.Settled));
        assertEq(market.lease(leaseId).settled, uint256(PRICE) * 1 hours);
    }

    function test_Paused_CloseLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        pauseMarket();
        vm.prank(tenant);
        market.closeLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, block.timestamp + NOTICE);
    }

    /// @dev A payment demand and the eviction it leads to end a lease and free its capacity: an exit,
    /// never blocked.
    function test_Paused_DemandPaymentAndEvictLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        pauseMarket();
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Evicted));
        assertEq(market.offer(offerId).activeLeases, 0, "capacity freed");
        assertEq(market.claimable(tenant, address(usdc)), uint256(PRICE) * 7 hours, "escrow that can no longer accrue");
    }

    function test_Paused_TerminateLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        pauseMarket();
        vm.prank(provider);
        market.terminateLease(leaseId);
        assertEq(market.lease(leaseId).endsAt, block.timestamp);
        assertEq(market.lease(leaseId).bond, 0);
    }

    function test_Paused_FinalizeLease() public {
        uint256 leaseId = openDefaultLease();
        vm.warp(market.settlementDeadline(leaseId));
        pauseMarket();
        market.finalizeLease(leaseId);
        assertEq(uint8(market.lease(leaseId).status), uint8(LeaseStatus.Finalized));
        assertEq(market.claimable(tenant, address(usdc)), uint256(PRICE) * 10 hours);
    }

    function test_Paused_TopUp() public {
        uint256 leaseId = openDefaultLease();
        pauseMarket();
        vm.prank(tenant);
        market.topUp(leaseId, 1e6);
        assertEq(market.lease(leaseId).deposit, uint256(PRICE) * 10 hours + 1e6);
    }

    function test_Paused_RequestUnstake() public {
        pauseMarket();
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawing, 1_000e6);
    }

    function test_Paused_WithdrawStake() public {
        vm.prank(provider);
        market.requestUnstake(address(usdc), 1_000e6);
        skip(market.params().unbondingPeriod);
        pauseMarket();
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), 1_000e6);
        assertEq(usdc.balanceOf(provider), 1_000e6);
    }

    function test_Paused_Claim() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        uint256 amount = market.claimable(tenant, address(usdc));
        assertGt(amount, 0);
        pauseMarket();
        uint256 balance = usdc.balanceOf(tenant);
        vm.prank(tenant);
        assertEq(market.claim(address(usdc), tenant), amount);
        assertEq(usdc.balanceOf(tenant), balance + amount);
    }

    function test_Paused_OpenDispute() public {
        uint256 leaseId = openDefaultLease();
        pauseMarket();
        vm.prank(tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        assertEq(uint8(market.dispute(leaseId).status), uint8(DisputeStatus.Open));
    }

    function test_Paused_RuleAndExpireDispute() public {
        uint256 a = openDefaultLease();
        uint256 b = openDefaultLease();
        vm.startPrank(tenant);
        market.openDispute(a, "ipfs://a");
        market.openDispute(b, "ipfs://b");
        vm.stopPrank();
        pauseMarket();
        vm.prank(arbiter);
        market.ruleDispute(a, 1_000);
        assertEq(uint8(market.dispute(a).status), uint8(DisputeStatus.Upheld));
        vm.warp(market.dispute(b).deadline);
        market.expireDispute(b);
        assertEq(uint8(market.dispute(b).status), uint8(DisputeStatus.Expired));
    }

    function test_Paused_SlashEquivocation() public {
        uint256 leaseId = openDefaultLease();
        (AnswerAttestation memory x, bytes memory sigX) = attestation(leaseId, 1, keccak256("x"));
        (AnswerAttestation memory y, bytes memory sigY) = attestation(leaseId, 1, keccak256("y"));
        pauseMarket();
        market.slashEquivocation(x, sigX, y, sigY);
        assertEq(market.lease(leaseId).bond, 0);
    }

    function test_Paused_ProfileOfferAndSignerUpkeep() public {
        pauseMarket();
        vm.startPrank(provider);
        market.updateProvider("ipfs://new", "https://new", "eu", bytes32(0));
        market.updateOffer(offerId, 2 * PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        market.setOfferPaused(offerId, true);
        vm.stopPrank();
        assertEq(market.offer(offerId).pricePerSecond, 2 * PRICE);
        assertTrue(market.offer(offerId).paused);
        vm.startPrank(tenant);
        market.revokeSigner(signer, provider);
        market.authorizeSigner(signer, provider, SIGNER_CAP + 1e6, uint40(block.timestamp + 1 days));
        vm.stopPrank();
        assertEq(market.sessionSigner(tenant, signer, provider).cap, SIGNER_CAP + 1e6);
        // A provider's consent to the parameters in force is upkeep too.
        applyParams(defaultParams());
        acceptParams(offerId);
        assertEq(market.offer(offerId).paramsVersion, 2);
    }

    function test_Paused_CollectFees() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 fees = market.feesOwed(address(usdc));
        assertEq(fees, uint256(PRICE) * 1 hours * defaultParams().protocolFeeBps / 10_000);
        pauseMarket();
        assertEq(market.collectFees(address(usdc)), fees);
        assertEq(usdc.balanceOf(treasury), fees);
    }
}

/// @notice `collectFees`: anyone sends the protocol's fees (credited when a lease is finalized) and slash
/// cuts (credited when a bond is slashed) in a token to the treasury.
contract CollectFees_Unit_Test is GovernanceUnitTest {
    function accrueFees() internal returns (uint256 fees) {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        uint256 paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 2 hours));
        assertEq(market.feesOwed(address(usdc)), 0, "the fee stays in the lease until it is finalized");
        uint256 fee = paid * market.params().protocolFeeBps / 10_000;
        vm.prank(provider);
        market.terminateLease(leaseId);
        uint256 cut = uint256(market.params().bondBps) * PRICE * NOTICE / 10_000 * market.params().slashCutBps / 10_000;
        assertEq(market.feesOwed(address(usdc)), cut, "the slash cut at once");
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        fees = market.feesOwed(address(usdc));
        assertEq(fees, fee + cut, "fees and slash cut");
    }

    function test_CollectFees() public {
        uint256 fees = accrueFees();
        uint256 marketBalance = usdc.balanceOf(address(market));
        vm.expectEmit(address(market));
        emit FeesCollected(address(usdc), treasury, fees);
        vm.prank(keeper);
        uint256 amount = market.collectFees(address(usdc));
        assertEq(amount, fees);
        assertEq(market.feesOwed(address(usdc)), 0);
        assertEq(usdc.balanceOf(treasury), fees);
        assertEq(usdc.balanceOf(address(market)), marketBalance - fees);
        assertEq(usdc.balanceOf(keeper), 0);
    }

    function test_CollectFees_ToNewTreasury() public {
        uint256 fees = accrueFees();
        address newTreasury = makeAddr("newTreasury");
        vm.prank(admin);
        market.setTreasury(newTreasury);
        vm.expectEmit(address(market));
        emit FeesCollected(address(usdc), newTreasury, fees);
        market.collectFees(address(usdc));
        assertEq(usdc.balanceOf(newTreasury), fees);
        assertEq(usdc.balanceOf(treasury), 0);
    }

    function test_RevertWhen_NothingToCollect() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToClaim.selector, treasury, address(usdc))
        );
        market.collectFees(address(usdc));
    }

    function test_RevertWhen_CollectedTwice() public {
        accrueFees();
        market.collectFees(address(usdc));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToClaim.selector, treasury, address(usdc))
        );
        market.collectFees(address(usdc));
    }
}
