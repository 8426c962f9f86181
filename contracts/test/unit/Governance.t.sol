// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Openlease} from "../../src/Openlease.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {BaseTest} from "../Base.t.sol";

/// @notice Shared helpers of the governance unit tests; the bounds are those of `Governance.sol`.
abstract contract GovernanceUnitTest is BaseTest, IOpenleaseEvents {
    uint256 internal constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint256 internal constant MIN_BOND_BPS = 1_000;
    uint256 internal constant MAX_BOND_BPS = 50_000;
    uint256 internal constant MAX_SLASH_CUT_BPS = 2_000;
    uint256 internal constant MIN_DISPUTE_SLASH_BPS = 1_000;
    uint256 internal constant MAX_DISPUTE_SLASH_BPS = 10_000;
    uint256 internal constant MIN_DISPUTE_BOND_BPS = 100;
    uint256 internal constant MAX_DISPUTE_BOND_BPS = 10_000;
    uint256 internal constant MIN_SETTLEMENT_WINDOW = 1 hours;
    uint256 internal constant MAX_SETTLEMENT_WINDOW = 7 days;
    uint256 internal constant MIN_DISPUTE_PERIOD = 1 days;
    uint256 internal constant MAX_DISPUTE_PERIOD = 14 days;
    uint256 internal constant MIN_UNBONDING_PERIOD = 21 days; // max settlement window + max dispute period
    uint256 internal constant MAX_UNBONDING_PERIOD = 90 days;

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

    function withParam(Parameter parameter, uint256 value) internal pure returns (Params memory p) {
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
}

/// @notice The constructor: roles and parameters set with their events; zero roles and out-of-bounds parameters rejected.
contract Constructor_Unit_Test is GovernanceUnitTest {
    function test_Constructor() public {
        vm.expectEmit();
        emit OwnershipTransferred(address(0), admin);
        vm.expectEmit();
        emit TreasuryUpdated(treasury);
        vm.expectEmit();
        emit ArbiterUpdated(arbiter);
        vm.expectEmit();
        emit ParamsUpdated(defaultParams());
        Openlease fresh = new Openlease(admin, treasury, arbiter, defaultParams());

        assertEq(fresh.owner(), admin);
        assertEq(fresh.pendingOwner(), address(0));
        assertEq(fresh.treasury(), treasury);
        assertEq(fresh.arbiter(), arbiter);
        assertParams(fresh.params(), defaultParams());
        assertFalse(fresh.paused());
        assertFalse(fresh.isTokenAllowed(address(usdc)));
        assertEq(fresh.offerCount(), 0);
        assertEq(fresh.leaseCount(), 0);
    }

    function test_RevertWhen_ZeroAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new Openlease(address(0), treasury, arbiter, defaultParams());
    }

    function test_RevertWhen_ZeroTreasury() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        new Openlease(admin, address(0), arbiter, defaultParams());
    }

    function test_RevertWhen_ZeroArbiter() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        new Openlease(admin, treasury, address(0), defaultParams());
    }

    function test_RevertWhen_ParamsOutOfBounds() public {
        expectOutOfBounds(Parameter.ProtocolFeeBps, MAX_PROTOCOL_FEE_BPS + 1, 0, MAX_PROTOCOL_FEE_BPS);
        new Openlease(admin, treasury, arbiter, withParam(Parameter.ProtocolFeeBps, MAX_PROTOCOL_FEE_BPS + 1));

        expectOutOfBounds(Parameter.BondBps, MIN_BOND_BPS - 1, MIN_BOND_BPS, MAX_BOND_BPS);
        new Openlease(admin, treasury, arbiter, withParam(Parameter.BondBps, MIN_BOND_BPS - 1));

        expectOutOfBounds(
            Parameter.UnbondingPeriod, MIN_UNBONDING_PERIOD - 1, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD
        );
        new Openlease(admin, treasury, arbiter, withParam(Parameter.UnbondingPeriod, MIN_UNBONDING_PERIOD - 1));

        // The all-zero parameters fail on the first bounded one.
        Params memory zero;
        expectOutOfBounds(Parameter.BondBps, 0, MIN_BOND_BPS, MAX_BOND_BPS);
        new Openlease(admin, treasury, arbiter, zero);
    }
}

/// @notice `setParams`: every parameter within its hard bounds, owner only.
contract SetParams_Unit_Test is GovernanceUnitTest {
    function setParamsAsAdmin(Params memory p) internal {
        vm.prank(admin);
        market.setParams(p);
    }

    function test_SetParams() public {
        Params memory p = Params({
            protocolFeeBps: 250,
            bondBps: 15_000,
            slashCutBps: 500,
            maxDisputeSlashBps: 8_000,
            disputeBondBps: 2_000,
            settlementWindow: 2 days,
            disputePeriod: 5 days,
            unbondingPeriod: 30 days
        });
        vm.expectEmit(address(market));
        emit ParamsUpdated(p);
        setParamsAsAdmin(p);
        assertParams(market.params(), p);
    }

    function test_SetParams_AtLowerBounds() public {
        Params memory p = Params({
            protocolFeeBps: 0,
            bondBps: uint16(MIN_BOND_BPS),
            slashCutBps: 0,
            maxDisputeSlashBps: uint16(MIN_DISPUTE_SLASH_BPS),
            disputeBondBps: uint16(MIN_DISPUTE_BOND_BPS),
            settlementWindow: uint32(MIN_SETTLEMENT_WINDOW),
            disputePeriod: uint32(MIN_DISPUTE_PERIOD),
            unbondingPeriod: uint32(MIN_UNBONDING_PERIOD)
        });
        setParamsAsAdmin(p);
        assertParams(market.params(), p);
    }

    function test_SetParams_AtUpperBounds() public {
        Params memory p = Params({
            protocolFeeBps: uint16(MAX_PROTOCOL_FEE_BPS),
            bondBps: uint16(MAX_BOND_BPS),
            slashCutBps: uint16(MAX_SLASH_CUT_BPS),
            maxDisputeSlashBps: uint16(MAX_DISPUTE_SLASH_BPS),
            disputeBondBps: uint16(MAX_DISPUTE_BOND_BPS),
            settlementWindow: uint32(MAX_SETTLEMENT_WINDOW),
            disputePeriod: uint32(MAX_DISPUTE_PERIOD),
            unbondingPeriod: uint32(MAX_UNBONDING_PERIOD)
        });
        setParamsAsAdmin(p);
        assertParams(market.params(), p);
    }

    function test_SetParams_AppliesToNewLeases() public {
        setParamsAsAdmin(withParam(Parameter.BondBps, MIN_BOND_BPS));
        uint256 leaseId = openDefaultLease();
        assertEq(market.lease(leaseId).bond, uint256(PRICE) * NOTICE * MIN_BOND_BPS / 10_000);
    }

    function test_RevertWhen_NotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        market.setParams(defaultParams());
    }

    function test_RevertWhen_ProtocolFeeAboveMax() public {
        expectOutOfBounds(Parameter.ProtocolFeeBps, MAX_PROTOCOL_FEE_BPS + 1, 0, MAX_PROTOCOL_FEE_BPS);
        setParamsAsAdmin(withParam(Parameter.ProtocolFeeBps, MAX_PROTOCOL_FEE_BPS + 1));
    }

    function test_RevertWhen_BondBelowMin() public {
        expectOutOfBounds(Parameter.BondBps, MIN_BOND_BPS - 1, MIN_BOND_BPS, MAX_BOND_BPS);
        setParamsAsAdmin(withParam(Parameter.BondBps, MIN_BOND_BPS - 1));
    }

    function test_RevertWhen_BondAboveMax() public {
        expectOutOfBounds(Parameter.BondBps, MAX_BOND_BPS + 1, MIN_BOND_BPS, MAX_BOND_BPS);
        setParamsAsAdmin(withParam(Parameter.BondBps, MAX_BOND_BPS + 1));
    }

    function test_RevertWhen_SlashCutAboveMax() public {
        expectOutOfBounds(Parameter.SlashCutBps, MAX_SLASH_CUT_BPS + 1, 0, MAX_SLASH_CUT_BPS);
        setParamsAsAdmin(withParam(Parameter.SlashCutBps, MAX_SLASH_CUT_BPS + 1));
    }

    function test_RevertWhen_MaxDisputeSlashBelowMin() public {
        expectOutOfBounds(
            Parameter.MaxDisputeSlashBps, MIN_DISPUTE_SLASH_BPS - 1, MIN_DISPUTE_SLASH_BPS, MAX_DISPUTE_SLASH_BPS
        );
        setParamsAsAdmin(withParam(Parameter.MaxDisputeSlashBps, MIN_DISPUTE_SLASH_BPS - 1));
    }

    function test_RevertWhen_MaxDisputeSlashAboveMax() public {
        expectOutOfBounds(
            Parameter.MaxDisputeSlashBps, MAX_DISPUTE_SLASH_BPS + 1, MIN_DISPUTE_SLASH_BPS, MAX_DISPUTE_SLASH_BPS
        );
        setParamsAsAdmin(withParam(Parameter.MaxDisputeSlashBps, MAX_DISPUTE_SLASH_BPS + 1));
    }

    function test_RevertWhen_DisputeBondBelowMin() public {
        expectOutOfBounds(
            Parameter.DisputeBondBps, MIN_DISPUTE_BOND_BPS - 1, MIN_DISPUTE_BOND_BPS, MAX_DISPUTE_BOND_BPS
        );
        setParamsAsAdmin(withParam(Parameter.DisputeBondBps, MIN_DISPUTE_BOND_BPS - 1));
    }

    function test_RevertWhen_DisputeBondAboveMax() public {
        expectOutOfBounds(
            Parameter.DisputeBondBps, MAX_DISPUTE_BOND_BPS + 1, MIN_DISPUTE_BOND_BPS, MAX_DISPUTE_BOND_BPS
        );
        setParamsAsAdmin(withParam(Parameter.DisputeBondBps, MAX_DISPUTE_BOND_BPS + 1));
    }

    function test_RevertWhen_SettlementWindowBelowMin() public {
        expectOutOfBounds(
            Parameter.SettlementWindow, MIN_SETTLEMENT_WINDOW - 1, MIN_SETTLEMENT_WINDOW, MAX_SETTLEMENT_WINDOW
        );
        setParamsAsAdmin(withParam(Parameter.SettlementWindow, MIN_SETTLEMENT_WINDOW - 1));
    }

    function test_RevertWhen_SettlementWindowAboveMax() public {
        expectOutOfBounds(
            Parameter.SettlementWindow, MAX_SETTLEMENT_WINDOW + 1, MIN_SETTLEMENT_WINDOW, MAX_SETTLEMENT_WINDOW
        );
        setParamsAsAdmin(withParam(Parameter.SettlementWindow, MAX_SETTLEMENT_WINDOW + 1));
    }

    function test_RevertWhen_DisputePeriodBelowMin() public {
        expectOutOfBounds(Parameter.DisputePeriod, MIN_DISPUTE_PERIOD - 1, MIN_DISPUTE_PERIOD, MAX_DISPUTE_PERIOD);
        setParamsAsAdmin(withParam(Parameter.DisputePeriod, MIN_DISPUTE_PERIOD - 1));
    }

    function test_RevertWhen_DisputePeriodAboveMax() public {
        expectOutOfBounds(Parameter.DisputePeriod, MAX_DISPUTE_PERIOD + 1, MIN_DISPUTE_PERIOD, MAX_DISPUTE_PERIOD);
        setParamsAsAdmin(withParam(Parameter.DisputePeriod, MAX_DISPUTE_PERIOD + 1));
    }

    function test_RevertWhen_UnbondingPeriodBelowMin() public {
        expectOutOfBounds(
            Parameter.UnbondingPeriod, MIN_UNBONDING_PERIOD - 1, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD
        );
        setParamsAsAdmin(withParam(Parameter.UnbondingPeriod, MIN_UNBONDING_PERIOD - 1));
    }

    function test_RevertWhen_UnbondingPeriodAboveMax() public {
        expectOutOfBounds(
            Parameter.UnbondingPeriod, MAX_UNBONDING_PERIOD + 1, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD
        );
        setParamsAsAdmin(withParam(Parameter.UnbondingPeriod, MAX_UNBONDING_PERIOD + 1));
    }
}

/// @notice Roles: the token allow-list, arbiter, treasury and two-step ownership, owner only; renouncing is disabled.
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

    function test_SetArbiter() public {
        address newArbiter = makeAddr("newArbiter");
        vm.expectEmit(address(market));
        emit ArbiterUpdated(newArbiter);
        vm.prank(admin);
        market.setArbiter(newArbiter);
        assertEq(market.arbiter(), newArbiter);
    }

    function test_RevertWhen_SetArbiterZeroAddress() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(admin);
        market.setArbiter(address(0));
    }

    function test_RevertWhen_SetArbiterNotOwner() public {
        expectUnauthorized(arbiter);
        vm.prank(arbiter);
        market.setArbiter(arbiter);
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
        market.transferOwnership(newOwner);
        assertEq(market.owner(), admin, "owner unchanged until accepted");
        assertEq(market.pendingOwner(), newOwner);

        // The pending owner has no powers yet.
        expectUnauthorized(newOwner);
        vm.prank(newOwner);
        market.pause();

        vm.expectEmit(address(market));
        emit OwnershipTransferred(admin, newOwner);
        vm.prank(newOwner);
        market.acceptOwnership();
        assertEq(market.owner(), newOwner);
        assertEq(market.pendingOwner(), address(0));

        expectUnauthorized(admin);
        vm.prank(admin);
        market.pause();
        vm.prank(newOwner);
        market.pause();
        assertTrue(market.paused());
    }

    function test_RevertWhen_AcceptOwnershipNotPendingOwner() public {
        address newOwner = makeAddr("newOwner");
        vm.prank(admin);
        market.transferOwnership(newOwner);
        expectUnauthorized(keeper);
        vm.prank(keeper);
        market.acceptOwnership();
        expectUnauthorized(admin);
        vm.prank(admin);
        market.acceptOwnership();
        assertEq(market.owner(), admin);
        assertEq(market.pendingOwner(), newOwner);
    }

    function test_TransferOwnership_Replaced() public {
        address first = makeAddr("first");
        address second = makeAddr("second");
        vm.startPrank(admin);
        market.transferOwnership(first);
        market.transferOwnership(second);
        vm.stopPrank();
        expectUnauthorized(first);
        vm.prank(first);
        market.acceptOwnership();
        vm.prank(second);
        market.acceptOwnership();
        assertEq(market.owner(), second);
    }

    function test_RevertWhen_TransferOwnershipNotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        market.transferOwnership(keeper);
    }

    function test_RevertWhen_RenounceOwnership() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseRenounceDisabled.selector);
        vm.prank(admin);
        market.renounceOwnership();
        assertEq(market.owner(), admin);
    }

    function test_RevertWhen_RenounceOwnershipNotOwner() public {
        expectUnauthorized(keeper);
        vm.prank(keeper);
        market.renounceOwnership();
    }
}

/// @notice `pause`/`unpause`: owner only; the pause blocks new business and nothing else.
contract Pause_Unit_Test is GovernanceUnitTest {
    function test_Pause() public {
        vm.expectEmit(address(market));
        emit Paused(admin);
        vm.prank(admin);
        market.pause();
        assertTrue(market.paused());
    }

    function test_Unpause() public {
        pauseMarket();
        vm.expectEmit(address(market));
        emit Unpaused(admin);
        vm.prank(admin);
        market.unpause();
        assertFalse(market.paused());
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
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(keeper);
        market.registerProvider("", "", "", bytes32(0));
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
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
    }

    function test_RevertWhen_Paused_OpenLease() public {
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, PRICE);
    }

    function test_RevertWhen_Paused_OpenLeaseWithPermit() public {
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(tenant);
        market.openLeaseWithPermit(
            offerId, 10 hours, uint256(PRICE) * 10 hours, PRICE, block.timestamp, 27, bytes32(0), bytes32(0)
        );
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
        (UsageAttestation memory x, bytes memory sigX) = attestation(leaseId, 1, keccak256("x"));
        (UsageAttestation memory y, bytes memory sigY) = attestation(leaseId, 1, keccak256("y"));
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
        market.revokeSigner(signer);
        market.authorizeSigner(signer, 1e6, uint40(block.timestamp + 1 days));
        vm.stopPrank();
        assertEq(market.sessionSigner(tenant, signer).cap, 1e6);
    }

    function test_Paused_CollectFees() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        market.settle(signedReceipt(leaseId, uint256(PRICE) * 1 hours));
        uint256 fees = market.feesOwed(address(usdc));
        assertGt(fees, 0);
        pauseMarket();
        assertEq(market.collectFees(address(usdc)), fees);
        assertEq(usdc.balanceOf(treasury), fees);
    }
}

/// @notice `collectFees`: anyone sends the protocol's fees and slash cuts in a token to the treasury.
contract CollectFees_Unit_Test is GovernanceUnitTest {
    function accrueFees() internal returns (uint256 fees) {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        uint256 paid = market.settle(signedReceipt(leaseId, uint256(PRICE) * 2 hours));
        uint256 fee = paid * market.params().protocolFeeBps / 10_000;
        vm.prank(provider);
        market.terminateLease(leaseId);
        uint256 cut = uint256(market.params().bondBps) * PRICE * NOTICE / 10_000 * market.params().slashCutBps / 10_000;
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
