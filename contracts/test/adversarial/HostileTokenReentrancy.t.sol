// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {MockContractWallet} from "../mocks/MockContractWallet.sol";
import {ReentrantToken} from "../mocks/ReentrantToken.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Reentrancy through an allow-listed hostile token whose transfers call back into the market,
/// on behalf of the very party being paid (a contract-wallet provider or tenant that the token may
/// drive): every reentrant claim, withdrawStake, settle, openLease or collectFees fails with
/// `ReentrancyGuardReentrantCall`, and nothing is paid twice.
contract HostileTokenReentrancy_Adversarial_Test is AdversarialBase {
    ReentrantToken internal ren;
    MockContractWallet internal providerWallet;
    MockContractWallet internal tenantWallet;
    address internal walletOwner = makeAddr("walletOwner");
    uint256 internal renOffer;
    uint256 internal renLease;
    uint256 internal earned;

    function setUp() public override {
        super.setUp();
        ren = new ReentrantToken();
        vm.prank(admin);
        market.setTokenAllowed(address(ren), true);

        // A contract-wallet provider staked in the hostile token, which the token may drive.
        providerWallet = new MockContractWallet(walletOwner);
        ren.mint(address(providerWallet), PROVIDER_STAKE);
        // The wallet's owner key is its attestation key, and proves it.
        bytes memory proof = keyProof(keyOf[walletOwner], address(providerWallet));
        vm.startPrank(walletOwner);
        providerWallet.execute(
            address(market),
            abi.encodeCall(
                market.registerProvider, ("ipfs://p", "https://p.example", "eu", bytes32(0), walletOwner, proof)
            )
        );
        providerWallet.execute(address(ren), abi.encodeCall(ren.approve, (address(market), type(uint256).max)));
        providerWallet.execute(address(market), abi.encodeCall(market.stake, (address(ren), PROVIDER_STAKE)));
        bytes memory ret = providerWallet.execute(
            address(market),
            abi.encodeCall(
                market.publishOffer,
                (address(ren), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0))
            )
        );
        renOffer = abi.decode(ret, (uint256));
        providerWallet.setOperator(address(ren), true);
        vm.stopPrank();

        // A contract-wallet tenant the token may drive too.
        tenantWallet = new MockContractWallet(walletOwner);
        ren.mint(address(tenantWallet), 1_000_000e6);
        vm.startPrank(walletOwner);
        tenantWallet.execute(address(ren), abi.encodeCall(ren.approve, (address(market), type(uint256).max)));
        tenantWallet.setOperator(address(ren), true);
        vm.stopPrank();

        // An EOA tenant's lease, settled once: the provider wallet has earnings to claim, the protocol fees.
        mintAndApprove(address(ren), tenant, 1_000_000e6);
        // The tenant's session signer, authorized for this provider (authorizations are per provider).
        vm.prank(tenant);
        market.authorizeSigner(signer, address(providerWallet), SIGNER_CAP, uint40(block.timestamp + 365 days));
        renLease = openLease(tenant, renOffer, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);
        uint256 paid = market.settle(signedReceipt(renLease, uint256(PRICE) * 1 hours));
        earned = paid - feeOf(paid);
    }

    function asProvider(bytes memory data) internal view returns (bytes memory) {
        return abi.encodeCall(providerWallet.execute, (address(market), data));
    }

    function asTenantWallet(bytes memory data) internal view returns (bytes memory) {
        return abi.encodeCall(tenantWallet.execute, (address(market), data));
    }

    function assertGuardTripped() internal view {
        assertEq(ren.hookCalls(), 1, "hook ran once");
        assertFalse(ren.hookSucceeded(), "reentrant call failed");
        assertEq(
            ren.hookRevertData(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector),
            "with the reentrancy guard's error"
        );
    }

    function claimAsProvider() internal returns (uint256) {
        vm.prank(walletOwner);
        bytes memory ret = providerWallet.execute(
            address(market), abi.encodeCall(market.claim, (address(ren), address(providerWallet)))
        );
        return abi.decode(ret, (uint256));
    }

    /// @dev Finalizes the settled lease, which credits the protocol's fee on what it settled; returns it.
    function accrueFees() internal returns (uint256 fees) {
        vm.warp(market.settlementDeadline(renLease));
        market.finalizeLease(renLease);
        fees = market.feesOwed(address(ren));
        assertEq(fees, feeOf(market.lease(renLease).settled), "the fee on the settled total");
    }

    function unstakeFreeAndThaw() internal returns (uint256 free) {
        Stake memory s = market.stakeOf(address(providerWallet), address(ren));
        free = s.staked - s.locked;
        vm.prank(walletOwner);
        providerWallet.execute(address(market), abi.encodeCall(market.requestUnstake, (address(ren), free)));
        vm.warp(market.stakeOf(address(providerWallet), address(ren)).thawEndsAt);
    }

    // ─── claim ──────────────────────────────────────────────────────────────────────────────

    function test_ReentrantClaimDuringClaimIsBlocked() public {
        uint256 marketBefore = ren.balanceOf(address(market));
        uint256 walletBefore = ren.balanceOf(address(providerWallet));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.claim, (address(ren), address(providerWallet)))),
            false
        );

        uint256 claimed = claimAsProvider();

        assertGuardTripped();
        assertEq(claimed, earned, "claimed");
        assertEq(ren.balanceOf(address(providerWallet)), walletBefore + earned, "paid once");
        assertEq(ren.balanceOf(address(market)), marketBefore - earned, "market paid once");
        assertEq(market.claimable(address(providerWallet), address(ren)), 0, "claimable");
    }

    function test_ReentrantWithdrawStakeDuringClaimIsBlocked() public {
        uint256 free = unstakeFreeAndThaw();
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.withdrawStake, (address(ren), address(providerWallet)))),
            false
        );

        claimAsProvider();

        assertGuardTripped();
        assertEq(ren.balanceOf(address(market)), marketBefore - earned, "only the claim left");
        assertEq(market.stakeOf(address(providerWallet), address(ren)).thawing, free, "thawing intact");
    }

    function test_ReentrantSettleDuringClaimIsBlocked() public {
        skip(1 hours); // more has accrued: the reentrant receipt would settle on its own
        SignedReceipt memory next = signedReceipt(renLease, uint256(PRICE) * 1 hours + 1);
        uint256 settledBefore = market.lease(renLease).settled;
        ren.arm(address(market), abi.encodeCall(market.settle, (next)), false);

        claimAsProvider();

        assertGuardTripped();
        assertEq(market.lease(renLease).settled, settledBefore, "nothing settled inside the claim");
        assertEq(market.claimable(address(providerWallet), address(ren)), 0, "claimable");
        // On its own the same receipt settles, and pays only the increment.
        assertEq(market.settle(next), 1, "settles standalone");
    }

    function test_RevertWhen_HookBubblesTheGuardError() public {
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.claim, (address(ren), address(providerWallet)))),
            true
        );

        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(walletOwner);
        providerWallet.execute(address(market), abi.encodeCall(market.claim, (address(ren), address(providerWallet))));

        assertEq(market.claimable(address(providerWallet), address(ren)), earned, "claimable intact");
        assertEq(ren.balanceOf(address(market)), marketBefore, "market balance intact");
    }

    // ─── withdrawStake ──────────────────────────────────────────────────────────────────────

    function test_ReentrantWithdrawStakeDuringWithdrawStakeIsBlocked() public {
        uint256 free = unstakeFreeAndThaw();
        uint256 marketBefore = ren.balanceOf(address(market));
        uint256 walletBefore = ren.balanceOf(address(providerWallet));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.withdrawStake, (address(ren), address(providerWallet)))),
            false
        );

        vm.prank(walletOwner);
        providerWallet.execute(
            address(market), abi.encodeCall(market.withdrawStake, (address(ren), address(providerWallet)))
        );

        assertGuardTripped();
        assertEq(ren.balanceOf(address(providerWallet)), walletBefore + free, "withdrawn once");
        assertEq(ren.balanceOf(address(market)), marketBefore - free, "market paid once");
        Stake memory s = market.stakeOf(address(providerWallet), address(ren));
        assertEq(s.thawing, 0, "thawing");
        assertEq(s.staked, s.locked, "only the bond is left");
        assertEq(s.locked, market.lease(renLease).bond, "bond still locked");
    }

    function test_ReentrantClaimDuringWithdrawStakeIsBlocked() public {
        uint256 free = unstakeFreeAndThaw();
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.claim, (address(ren), address(providerWallet)))),
            false
        );

        vm.prank(walletOwner);
        providerWallet.execute(
            address(market), abi.encodeCall(market.withdrawStake, (address(ren), address(providerWallet)))
        );

        assertGuardTripped();
        assertEq(ren.balanceOf(address(market)), marketBefore - free, "only the stake left");
        assertEq(market.claimable(address(providerWallet), address(ren)), earned, "earnings intact");
    }

    // ─── Pulls: stake and openLease ─────────────────────────────────────────────────────────

    function test_ReentrantClaimDuringStakeIsBlocked() public {
        uint256 amount = 1_000e6;
        ren.mint(address(providerWallet), amount);
        Stake memory before = market.stakeOf(address(providerWallet), address(ren));
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.claim, (address(ren), address(providerWallet)))),
            false
        );

        vm.prank(walletOwner);
        providerWallet.execute(address(market), abi.encodeCall(market.stake, (address(ren), amount)));

        assertGuardTripped();
        assertEq(market.stakeOf(address(providerWallet), address(ren)).staked, before.staked + amount, "staked");
        assertEq(ren.balanceOf(address(market)), marketBefore + amount, "market received the stake only");
        assertEq(market.claimable(address(providerWallet), address(ren)), earned, "earnings intact");
    }

    function test_ReentrantOpenLeaseDuringOpenLeaseIsBlocked() public {
        uint256 deposit = uint256(PRICE) * 10 hours;
        bytes memory open =
            abi.encodeCall(market.openLease, (renOffer, 10 hours, deposit, market.offerTermsHash(renOffer)));
        uint256 leasesBefore = market.leaseCount();
        uint16 activeBefore = market.offer(renOffer).activeLeases;
        uint256 lockedBefore = market.stakeOf(address(providerWallet), address(ren)).locked;
        uint256 marketBefore = ren.balanceOf(address(market));
        uint256 walletBefore = ren.balanceOf(address(tenantWallet));
        ren.arm(address(tenantWallet), asTenantWallet(open), false);

        vm.prank(walletOwner);
        uint256 leaseId = abi.decode(tenantWallet.execute(address(market), open), (uint256));

        assertGuardTripped();
        assertEq(leaseId, leasesBefore + 1, "lease id");
        assertEq(market.leaseCount(), leasesBefore + 1, "one lease");
        assertEq(market.offer(renOffer).activeLeases, activeBefore + 1, "active leases");
        assertEq(
            market.stakeOf(address(providerWallet), address(ren)).locked, lockedBefore + bondOf(renOffer), "locked"
        );
        assertEq(ren.balanceOf(address(market)), marketBefore + deposit, "one deposit in");
        assertEq(ren.balanceOf(address(tenantWallet)), walletBefore - deposit, "one deposit out");
    }

    function test_ReentrantSettleDuringOpenLeaseIsBlocked() public {
        skip(1 hours); // more has accrued: the reentrant receipt would settle on its own
        SignedReceipt memory next = signedReceipt(renLease, uint256(PRICE) * 1 hours + 1);
        uint256 settledBefore = market.lease(renLease).settled;
        ren.arm(address(market), abi.encodeCall(market.settle, (next)), false);

        openLease(tenant, renOffer, 10 hours, uint256(PRICE) * 10 hours);

        assertGuardTripped();
        assertEq(market.lease(renLease).settled, settledBefore, "settled");
        assertEq(market.settle(next), 1, "settles standalone");
    }

    // ─── collectFees ────────────────────────────────────────────────────────────────────────

    function test_ReentrantCollectFeesDuringCollectFeesIsBlocked() public {
        uint256 fees = accrueFees();
        assertGt(fees, 0, "fees owed");
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(address(market), abi.encodeCall(market.collectFees, (address(ren))), false);

        uint256 collected = market.collectFees(address(ren));

        assertGuardTripped();
        assertEq(collected, fees, "collected");
        assertEq(ren.balanceOf(treasury), fees, "treasury paid once");
        assertEq(ren.balanceOf(address(market)), marketBefore - fees, "market paid once");
        assertEq(market.feesOwed(address(ren)), 0, "fees owed");
    }

    function test_ReentrantClaimDuringCollectFeesIsBlocked() public {
        uint256 fees = accrueFees();
        uint256 marketBefore = ren.balanceOf(address(market));
        ren.arm(
            address(providerWallet),
            asProvider(abi.encodeCall(market.claim, (address(ren), address(providerWallet)))),
            false
        );

        market.collectFees(address(ren));

        assertGuardTripped();
        assertEq(ren.balanceOf(address(market)), marketBefore - fees, "only the fees left");
        assertEq(market.claimable(address(providerWallet), address(ren)), earned, "earnings intact");
    }
}
