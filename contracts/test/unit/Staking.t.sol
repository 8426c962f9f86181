// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {BaseTest} from "../Base.t.sol";

/// @notice Shared helpers of the provider-staking unit tests.
abstract contract StakingUnitTest is BaseTest, IOpenleaseEvents {
    function pauseMarket() internal {
        vm.prank(admin);
        market.pause();
    }

    function profileHash(string memory uri, string memory endpoint, string memory region, bytes32 attrs)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(uri, endpoint, region, attrs));
    }

    function assertStake(Stake memory actual, Stake memory expected) internal pure {
        assertEq(actual.staked, expected.staked, "staked");
        assertEq(actual.locked, expected.locked, "locked");
        assertEq(actual.thawing, expected.thawing, "thawing");
        assertEq(actual.thawEndsAt, expected.thawEndsAt, "thawEndsAt");
    }

    function requestUnstake(uint256 amount) internal {
        vm.prank(provider);
        market.requestUnstake(address(usdc), amount);
    }
}

/// @notice `registerProvider`: a new profile commitment, the provider's attestation key, and their event;
/// duplicates, a zero key and the pause revert.
contract RegisterProvider_Unit_Test is StakingUnitTest {
    function test_RegisterProvider() public {
        address p = makeAddr("newProvider");
        string memory uri = "ipfs://p2";
        string memory endpoint = "https://p2.example";
        string memory region = "us-east";
        bytes32 attrs = keccak256("cpu:epyc");
        (address key, uint256 keyPk) = makeAddrAndKey("attestationKey");
        bytes memory proof = keyProof(keyPk, p);
        ProviderProfile memory before = market.providerProfile(p);
        assertFalse(before.registered);
        assertEq(before.attestationKey, address(0));
        assertEq(before.profileHash, bytes32(0));

        vm.expectEmit(address(market));
        emit ProviderRegistered(p, uri, endpoint, region, attrs, key);
        vm.prank(p);
        market.registerProvider(uri, endpoint, region, attrs, key, proof);

        ProviderProfile memory afterP = market.providerProfile(p);
        assertTrue(afterP.registered);
        assertEq(afterP.attestationKey, key, "attestation key");
        assertEq(afterP.profileHash, profileHash(uri, endpoint, region, attrs));
        // Registration stakes nothing.
        assertStake(market.stakeOf(p, address(usdc)), Stake(0, 0, 0, 0));
    }

    function test_RegisterProvider_EmptyProfile() public {
        (address p, uint256 pk) = makeAddrAndKey("emptyProvider");
        bytes memory proof = keyProof(pk, p);
        vm.prank(p);
        market.registerProvider("", "", "", bytes32(0), p, proof);
        ProviderProfile memory profile = market.providerProfile(p);
        assertTrue(profile.registered);
        assertEq(profile.profileHash, profileHash("", "", "", bytes32(0)));
    }

    function test_RevertWhen_AlreadyRegistered() public {
        // Even with a proven key: the key fixed at registration cannot be replaced by registering again.
        bytes memory proof = keyProof(keyOf[keeper], provider);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseProviderAlreadyRegistered.selector, provider));
        vm.prank(provider);
        market.registerProvider("ipfs://other", "https://other", "us-west", bytes32(uint256(1)), keeper, proof);
        // The attestation key fixed at registration stays.
        assertEq(market.providerProfile(provider).attestationKey, provider, "key unchanged");
    }

    /// @dev Equivocation evidence is verified against the attestation key: there must be one.
    function test_RevertWhen_ZeroAttestationKey() public {
        address p = makeAddr("newProvider");
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(p);
        market.registerProvider("ipfs://p2", "https://p2.example", "us-east", bytes32(0), address(0), "");
        assertFalse(market.providerProfile(p).registered);
    }

    /// @dev A key that did not sign `AttestationKey(provider)` under this market's domain is refused.
    function test_RevertWhen_AttestationKeyUnproven() public {
        (address p, uint256 pk) = makeAddrAndKey("newProvider");
        address key = makeAddr("attestationKey");
        // Signed by the provider, not by the key it names.
        bytes memory proof = keyProof(pk, p);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAttestationKeyUnproven.selector, p, key));
        vm.prank(p);
        market.registerProvider("ipfs://p2", "https://p2.example", "us-east", bytes32(0), key, proof);
        // And no proof at all.
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAttestationKeyUnproven.selector, p, p));
        vm.prank(p);
        market.registerProvider("ipfs://p2", "https://p2.example", "us-east", bytes32(0), p, "");
        assertFalse(market.providerProfile(p).registered);
    }

    function test_RevertWhen_Paused() public {
        pauseMarket();
        (address p, uint256 pk) = makeAddrAndKey("newProvider");
        bytes memory proof = keyProof(pk, p);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(p);
        market.registerProvider("ipfs://p2", "https://p2.example", "us-east", bytes32(0), p, proof);
    }
}

/// @notice `updateProvider`: replaces the profile commitment of a registered provider only; the attestation
/// key stays.
contract UpdateProvider_Unit_Test is StakingUnitTest {
    function test_UpdateProvider() public {
        string memory uri = "ipfs://updated";
        string memory endpoint = "https://new.example";
        string memory region = "ap-south";
        bytes32 attrs = keccak256("gpu:h100");
        bytes32 oldHash = market.providerProfile(provider).profileHash;
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));

        vm.expectEmit(address(market));
        emit ProviderUpdated(provider, uri, endpoint, region, attrs);
        vm.prank(provider);
        market.updateProvider(uri, endpoint, region, attrs);

        ProviderProfile memory profile = market.providerProfile(provider);
        assertTrue(profile.registered);
        assertEq(profile.profileHash, profileHash(uri, endpoint, region, attrs));
        assertTrue(profile.profileHash != oldHash);
        assertEq(profile.attestationKey, provider, "the attestation key never changes");
        assertStake(market.stakeOf(provider, address(usdc)), stakeBefore);
    }

    function test_UpdateProvider_HashCommitsToEveryField() public {
        // The commitment is abi.encode, so moving characters between fields changes it.
        vm.prank(provider);
        market.updateProvider("ab", "c", "d", bytes32(0));
        bytes32 first = market.providerProfile(provider).profileHash;
        vm.prank(provider);
        market.updateProvider("a", "bc", "d", bytes32(0));
        bytes32 second = market.providerProfile(provider).profileHash;
        assertEq(first, profileHash("ab", "c", "d", bytes32(0)));
        assertEq(second, profileHash("a", "bc", "d", bytes32(0)));
        assertTrue(first != second);
    }

    function test_RevertWhen_NotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseProviderNotRegistered.selector, tenant));
        vm.prank(tenant);
        market.updateProvider("ipfs://x", "https://x", "eu", bytes32(0));
    }
}

/// @notice `stake`: adds allow-listed tokens to a registered provider's stake, within uint96, not while paused.
contract Stake_Unit_Test is StakingUnitTest {
    function test_Stake() public {
        uint256 amount = 500e6;
        mintAndApprove(address(usdc), provider, amount);
        Stake memory before = market.stakeOf(provider, address(usdc));
        uint256 providerBalance = usdc.balanceOf(provider);
        uint256 marketBalance = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit Staked(provider, address(usdc), amount, before.staked + amount);
        vm.prank(provider);
        market.stake(address(usdc), amount);

        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(uint96(before.staked + amount), before.locked, before.thawing, before.thawEndsAt)
        );
        assertEq(usdc.balanceOf(provider), providerBalance - amount, "provider balance");
        assertEq(usdc.balanceOf(address(market)), marketBalance + amount, "market balance");
    }

    function test_Stake_FirstStakeInSetUp() public view {
        assertStake(market.stakeOf(provider, address(usdc)), Stake(uint96(PROVIDER_STAKE), 0, 0, 0));
        assertEq(usdc.balanceOf(address(market)), PROVIDER_STAKE);
    }

    function test_Stake_TokensAreSeparate() public {
        mintAndApprove(address(dai), provider, 3e18);
        vm.expectEmit(address(market));
        emit Staked(provider, address(dai), 3e18, 3e18);
        vm.prank(provider);
        market.stake(address(dai), 3e18);
        assertStake(market.stakeOf(provider, address(dai)), Stake(3e18, 0, 0, 0));
        assertStake(market.stakeOf(provider, address(usdc)), Stake(uint96(PROVIDER_STAKE), 0, 0, 0));
    }

    function test_Stake_NonStandardToken() public {
        mintAndApprove(address(usdt), provider, 250e6);
        vm.prank(provider);
        market.stake(address(usdt), 250e6);
        assertStake(market.stakeOf(provider, address(usdt)), Stake(250e6, 0, 0, 0));
        assertEq(usdt.balanceOf(address(market)), 250e6);
        assertEq(usdt.balanceOf(provider), 0);
    }

    function test_Stake_UpToUint96Max() public {
        uint256 amount = uint256(type(uint96).max) - PROVIDER_STAKE;
        mintAndApprove(address(usdc), provider, amount);
        vm.prank(provider);
        market.stake(address(usdc), amount);
        assertEq(market.stakeOf(provider, address(usdc)).staked, type(uint96).max);
    }

    function test_RevertWhen_NotRegistered() public {
        mintAndApprove(address(usdc), tenant, 1e6);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseProviderNotRegistered.selector, tenant));
        vm.prank(tenant);
        market.stake(address(usdc), 1e6);
    }

    function test_RevertWhen_TokenNotAllowed() public {
        MockStablecoin other = new MockStablecoin("Other", "OTH", 6);
        mintAndApprove(address(other), provider, 1e6);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, address(other)));
        vm.prank(provider);
        market.stake(address(other), 1e6);
    }

    function test_RevertWhen_TokenDelisted() public {
        vm.prank(admin);
        market.setTokenAllowed(address(usdc), false);
        mintAndApprove(address(usdc), provider, 1e6);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, address(usdc)));
        vm.prank(provider);
        market.stake(address(usdc), 1e6);
    }

    function test_RevertWhen_ZeroAmount() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAmount.selector);
        vm.prank(provider);
        market.stake(address(usdc), 0);
    }

    function test_RevertWhen_AmountAboveUint96() public {
        address p = makeAddr("bigProvider");
        registerProvider(p, p, keyOf[p]);
        uint256 amount = uint256(type(uint96).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAmountTooLarge.selector, amount, type(uint96).max)
        );
        vm.prank(p);
        market.stake(address(usdc), amount);
    }

    function test_RevertWhen_TotalAboveUint96() public {
        uint256 amount = uint256(type(uint96).max) - PROVIDER_STAKE + 1;
        mintAndApprove(address(usdc), provider, amount);
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseAmountTooLarge.selector, PROVIDER_STAKE + amount, type(uint96).max
            )
        );
        vm.prank(provider);
        market.stake(address(usdc), amount);
    }

    function test_RevertWhen_InsufficientAllowance() public {
        address p = makeAddr("unapprovedProvider");
        registerProvider(p, p, keyOf[p]);
        usdc.mint(p, 1e6); // no approval
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, 1e6)
        );
        vm.prank(p);
        market.stake(address(usdc), 1e6);
    }

    function test_RevertWhen_Paused() public {
        mintAndApprove(address(usdc), provider, 1e6);
        pauseMarket();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(provider);
        market.stake(address(usdc), 1e6);
    }
}

/// @notice `requestUnstake`: free stake (staked - locked) starts thawing for the unbonding period;
/// a new request restarts the thaw of everything thawing.
contract RequestUnstake_Unit_Test is StakingUnitTest {
    function test_RequestUnstake() public {
        uint256 amount = 4_000e6;
        Stake memory before = market.stakeOf(provider, address(usdc));
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint256 thawEndsAt = block.timestamp + market.params().unbondingPeriod;

        vm.expectEmit(address(market));
        emit UnstakeRequested(provider, address(usdc), amount, before.staked - amount, amount, thawEndsAt);
        requestUnstake(amount);

        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(uint96(before.staked - amount), before.locked, uint96(amount), uint32(thawEndsAt))
        );
        assertEq(thawEndsAt, block.timestamp + 21 days, "default unbonding period");
        assertEq(usdc.balanceOf(address(market)), marketBalance, "no tokens move");
    }

    function test_RequestUnstake_AllFreeStake() public {
        requestUnstake(PROVIDER_STAKE);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, 0);
        assertEq(s.thawing, PROVIDER_STAKE);
    }

    function test_RequestUnstake_UsesCurrentUnbondingPeriod() public {
        Params memory p = defaultParams();
        p.unbondingPeriod = 45 days;
        applyParams(p);
        requestUnstake(1e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, block.timestamp + 45 days);
    }

    /// @dev A scheduled unbonding period applies to requests made once it is in force, not before.
    function test_RequestUnstake_IgnoresPendingUnbondingPeriod() public {
        Params memory p = defaultParams();
        p.unbondingPeriod = 45 days;
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        vm.warp(effectiveAt - 1);
        requestUnstake(1e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawEndsAt, block.timestamp + 21 days);
    }

    function test_RequestUnstake_SecondRequestRestartsThaw() public {
        requestUnstake(1_000e6);
        uint256 firstEnd = market.stakeOf(provider, address(usdc)).thawEndsAt;
        skip(10 days);
        uint256 secondEnd = block.timestamp + market.params().unbondingPeriod;

        vm.expectEmit(address(market));
        emit UnstakeRequested(provider, address(usdc), 2_000e6, PROVIDER_STAKE - 3_000e6, 3_000e6, secondEnd);
        requestUnstake(2_000e6);

        assertStake(
            market.stakeOf(provider, address(usdc)),
            Stake(uint96(PROVIDER_STAKE - 3_000e6), 0, 3_000e6, uint32(secondEnd))
        );
        assertEq(secondEnd, firstEnd + 10 days);
    }

    function test_RequestUnstake_FreeStakeBesideOpenLease() public {
        uint256 leaseId = openDefaultLease();
        uint96 bond = market.lease(leaseId).bond;
        uint256 free = PROVIDER_STAKE - bond;
        requestUnstake(free);
        Stake memory s = market.stakeOf(provider, address(usdc));
        assertEq(s.staked, bond);
        assertEq(s.locked, bond);
        assertEq(s.thawing, free);
    }

    function test_RevertWhen_ZeroAmount() public {
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAmount.selector);
        requestUnstake(0);
    }

    function test_RevertWhen_MoreThanStaked() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector,
                provider,
                address(usdc),
                PROVIDER_STAKE,
                PROVIDER_STAKE + 1
            )
        );
        requestUnstake(PROVIDER_STAKE + 1);
    }

    function test_RevertWhen_NoStake() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, tenant, address(dai), 0, 1)
        );
        vm.prank(tenant);
        market.requestUnstake(address(dai), 1);
    }

    function test_RevertWhen_StakeLockedByOpenLease() public {
        uint256 leaseId = openDefaultLease();
        uint96 bond = market.lease(leaseId).bond;
        assertGt(bond, 0);
        uint256 free = PROVIDER_STAKE - bond;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, provider, address(usdc), free, free + 1
            )
        );
        requestUnstake(free + 1);
    }

    function test_RevertWhen_AlreadyThawing() public {
        requestUnstake(6_000e6);
        uint256 free = PROVIDER_STAKE - 6_000e6;
        vm.expectRevert(
            abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInsufficientFreeStake.selector, provider, address(usdc), free, free + 1
            )
        );
        requestUnstake(free + 1);
    }
}

/// @notice `withdrawStake`: sends all thawed stake once the thaw has ended; never blocked by the pause.
contract WithdrawStake_Unit_Test is StakingUnitTest {
    address internal vault = makeAddr("vault");

    function test_WithdrawStake() public {
        requestUnstake(4_000e6);
        Stake memory before = market.stakeOf(provider, address(usdc));
        vm.warp(before.thawEndsAt);
        uint256 marketBalance = usdc.balanceOf(address(market));
        uint256 providerBalance = usdc.balanceOf(provider);

        vm.expectEmit(address(market));
        emit StakeWithdrawn(provider, address(usdc), 4_000e6, vault);
        vm.prank(provider);
        uint256 amount = market.withdrawStake(address(usdc), vault);

        assertEq(amount, 4_000e6, "returned amount");
        assertStake(market.stakeOf(provider, address(usdc)), Stake(before.staked, before.locked, 0, 0));
        assertEq(usdc.balanceOf(vault), 4_000e6, "vault balance");
        assertEq(usdc.balanceOf(address(market)), marketBalance - 4_000e6, "market balance");
        assertEq(usdc.balanceOf(provider), providerBalance, "provider balance");
    }

    function test_WithdrawStake_NonStandardToken() public {
        mintAndApprove(address(usdt), provider, 100e6);
        vm.startPrank(provider);
        market.stake(address(usdt), 100e6);
        market.requestUnstake(address(usdt), 100e6);
        skip(market.params().unbondingPeriod);
        market.withdrawStake(address(usdt), vault);
        vm.stopPrank();
        assertEq(usdt.balanceOf(vault), 100e6);
        assertEq(usdt.balanceOf(address(market)), 0);
    }

    function test_WithdrawStake_WhilePaused() public {
        requestUnstake(1_000e6);
        skip(market.params().unbondingPeriod);
        pauseMarket();
        vm.prank(provider);
        uint256 amount = market.withdrawStake(address(usdc), provider);
        assertEq(amount, 1_000e6);
        assertEq(market.stakeOf(provider, address(usdc)).thawing, 0);
    }

    function test_RevertWhen_ZeroAddress() public {
        requestUnstake(1_000e6);
        skip(market.params().unbondingPeriod);
        vm.expectRevert(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        vm.prank(provider);
        market.withdrawStake(address(usdc), address(0));
    }

    function test_RevertWhen_NothingThawing() public {
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingThawing.selector, provider, address(usdc))
        );
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
    }

    function test_RevertWhen_AlreadyWithdrawn() public {
        requestUnstake(1_000e6);
        skip(market.params().unbondingPeriod);
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingThawing.selector, provider, address(usdc))
        );
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
    }

    function test_RevertWhen_StillThawing() public {
        requestUnstake(1_000e6);
        uint256 thawEndsAt = market.stakeOf(provider, address(usdc)).thawEndsAt;
        vm.warp(thawEndsAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseStillThawing.selector, provider, address(usdc), thawEndsAt)
        );
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);
    }

    function test_RevertWhen_ThawRestartedByNewRequest() public {
        requestUnstake(1_000e6);
        uint256 firstEnd = market.stakeOf(provider, address(usdc)).thawEndsAt;
        vm.warp(firstEnd - 1);
        requestUnstake(1e6);
        uint256 secondEnd = market.stakeOf(provider, address(usdc)).thawEndsAt;
        vm.warp(firstEnd);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseStillThawing.selector, provider, address(usdc), secondEnd)
        );
        vm.prank(provider);
        market.withdrawStake(address(usdc), provider);

        vm.warp(secondEnd);
        vm.prank(provider);
        assertEq(market.withdrawStake(address(usdc), provider), 1_001e6);
    }
}
