// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {FeeOnTransferToken} from "../mocks/FeeOnTransferToken.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice A fee-on-transfer token, even if allow-listed by mistake, can never enter the market's
/// books short: every pull (stake, openLease, topUp, openDispute) checks the balance delta and reverts
/// `OpenleaseFeeOnTransfer(token, expected, received)`.
contract FeeOnTransfer_Adversarial_Test is AdversarialBase {
    uint256 internal constant FEE_BPS = 100; // 1%

    FeeOnTransferToken internal fot;
    uint256 internal fotOffer;
    uint256 internal fotLease;

    function setUp() public override {
        super.setUp();
        fot = new FeeOnTransferToken(0);
        vm.prank(admin);
        market.setTokenAllowed(address(fot), true);

        // With the fee off the token behaves: the provider stakes and a lease opens.
        mintAndApprove(address(fot), provider, PROVIDER_STAKE);
        vm.prank(provider);
        market.stake(address(fot), PROVIDER_STAKE);
        fotOffer = publishOffer(provider, address(fot), PRICE);
        mintAndApprove(address(fot), tenant, 1_000_000e6);
        fotLease = openLease(tenant, fotOffer, 10 hours, uint256(PRICE) * 10 hours);

        fot.setFeeBps(FEE_BPS);
    }

    function received(uint256 amount) internal pure returns (uint256) {
        return amount - amount * FEE_BPS / 10_000;
    }

    function expectFeeOnTransfer(uint256 amount) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseFeeOnTransfer.selector, address(fot), amount, received(amount)));
    }

    function test_RevertWhen_StakeLosesAFee() public {
        uint256 amount = 1_000e6;
        mintAndApprove(address(fot), provider, amount);
        Stake memory before = market.stakeOf(provider, address(fot));

        expectFeeOnTransfer(amount);
        vm.prank(provider);
        market.stake(address(fot), amount);

        assertEq(market.stakeOf(provider, address(fot)).staked, before.staked, "staked");
        assertEq(fot.balanceOf(address(market)), PROVIDER_STAKE + uint256(PRICE) * 10 hours, "market balance");
    }

    function testFuzz_RevertWhen_StakeLosesAnyFee(uint256 feeBps, uint256 amount) public {
        feeBps = bound(feeBps, 1, 10_000);
        amount = bound(amount, 10_000, type(uint96).max - PROVIDER_STAKE);
        fot.setFeeBps(feeBps);
        mintAndApprove(address(fot), provider, amount);

        vm.expectRevert(
            abi.encodeWithSelector(
                OpenleaseFeeOnTransfer.selector, address(fot), amount, amount - amount * feeBps / 10_000
            )
        );
        vm.prank(provider);
        market.stake(address(fot), amount);
    }

    function test_RevertWhen_OpenLeaseLosesAFee() public {
        uint256 deposit = uint256(PRICE) * 10 hours;
        uint256 leasesBefore = market.leaseCount();
        Stake memory stakeBefore = market.stakeOf(provider, address(fot));

        bytes32 termsHash = market.offerTermsHash(fotOffer);
        expectFeeOnTransfer(deposit);
        vm.prank(tenant);
        market.openLease(fotOffer, 10 hours, deposit, termsHash);

        assertEq(market.leaseCount(), leasesBefore, "lease count");
        assertEq(market.offer(fotOffer).activeLeases, 1, "active leases");
        assertEq(market.stakeOf(provider, address(fot)).locked, stakeBefore.locked, "locked");
    }

    function test_RevertWhen_TopUpLosesAFee() public {
        uint256 amount = uint256(PRICE) * 1 hours;
        expectFeeOnTransfer(amount);
        vm.prank(tenant);
        market.topUp(fotLease, amount);
        assertEq(market.lease(fotLease).deposit, uint256(PRICE) * 10 hours, "deposit");
    }

    function test_RevertWhen_OpenDisputeLosesAFee() public {
        uint256 tenantBond = uint256(market.lease(fotLease).bond) * market.params().disputeBondBps / 10_000;
        assertGt(received(tenantBond), 0, "fee makes a difference");
        assertLt(received(tenantBond), tenantBond, "fee bites");

        expectFeeOnTransfer(tenantBond);
        vm.prank(tenant);
        market.openDispute(fotLease, "ipfs://evidence");
        assertEq(uint8(market.dispute(fotLease).status), uint8(DisputeStatus.None), "no dispute");
    }

    function test_PullsSucceedWhenTheFeeIsOff() public {
        // Control: the same calls pass once the token delivers in full.
        fot.setFeeBps(0);
        mintAndApprove(address(fot), provider, 1_000e6);
        vm.prank(provider);
        market.stake(address(fot), 1_000e6);
        openLease(tenant, fotOffer, 10 hours, uint256(PRICE) * 10 hours);
        vm.prank(tenant);
        market.topUp(fotLease, uint256(PRICE) * 1 hours);
        vm.prank(tenant);
        market.openDispute(fotLease, "ipfs://evidence");
        assertEq(uint8(market.dispute(fotLease).status), uint8(DisputeStatus.Open), "dispute open");
    }
}
