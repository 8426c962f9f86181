// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice A USDC-style blocklist cannot freeze the market: settlement and finalization never
/// transfer, so they never revert for a blocklisted party (or even a blocklisted market); a blocklisted
/// party's balance stays claimable to another address, and a blocklisted treasury does not trap fees.
contract BlocklistedRecipient_Adversarial_Test is AdversarialBase {
    uint256 internal leaseId;
    uint256 internal amount = uint256(PRICE) * 1 hours;
    address internal coldWallet = makeAddr("coldWallet");

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        skip(1 hours);
    }

    function expectBlocklisted(address account) internal {
        vm.expectRevert(abi.encodeWithSelector(MockStablecoin.MockStablecoinBlocklisted.selector, account));
    }

    // ─── Provider ───────────────────────────────────────────────────────────────────────────

    function test_SettleAccruesEarningsOfABlocklistedProvider() public {
        usdc.setBlocklisted(provider, true);
        uint256 balanceBefore = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseId, signer, amount, amount, feeOf(amount), amount);
        uint256 paid = market.settle(signedReceipt(leaseId, amount));

        assertEq(paid, amount, "paid");
        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "claimable");
        assertEq(market.feesOwed(address(usdc)), 0, "the fee stays in the lease until it is finalized");
        assertEq(usdc.balanceOf(address(market)), balanceBefore, "no transfer");
    }

    function test_RevertWhen_BlocklistedProviderClaimsToItself() public {
        market.settle(signedReceipt(leaseId, amount));
        usdc.setBlocklisted(provider, true);

        expectBlocklisted(provider);
        vm.prank(provider);
        market.claim(address(usdc), provider);

        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "still claimable");
    }

    function test_BlocklistedProviderClaimsToAnotherAddress() public {
        market.settle(signedReceipt(leaseId, amount));
        usdc.setBlocklisted(provider, true);
        uint256 earned = amount - feeOf(amount);
        uint256 marketBefore = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit Claimed(provider, address(usdc), coldWallet, earned);
        vm.prank(provider);
        uint256 claimed = market.claim(address(usdc), coldWallet);

        assertEq(claimed, earned, "claimed");
        assertEq(usdc.balanceOf(coldWallet), earned, "cold wallet");
        assertEq(usdc.balanceOf(address(market)), marketBefore - earned, "market");
        assertEq(market.claimable(provider, address(usdc)), 0, "claimable");
    }

    // ─── Tenant ─────────────────────────────────────────────────────────────────────────────

    function test_BlocklistedTenantRefundIsClaimableToAnotherAddress() public {
        market.settle(signedReceipt(leaseId, amount));
        usdc.setBlocklisted(tenant, true);
        Lease memory l = market.lease(leaseId);
        uint256 refund = l.deposit - l.settled;
        vm.warp(market.settlementDeadline(leaseId));

        vm.expectEmit(address(market));
        emit LeaseFinalized(leaseId, refund, l.bond, feeOf(amount));
        market.finalizeLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), refund, "refund claimable");

        expectBlocklisted(tenant);
        vm.prank(tenant);
        market.claim(address(usdc), tenant);

        vm.prank(tenant);
        assertEq(market.claim(address(usdc), coldWallet), refund, "claimed");
        assertEq(usdc.balanceOf(coldWallet), refund, "cold wallet");
        assertEq(market.claimable(tenant, address(usdc)), 0, "claimable");
    }

    function test_BlocklistedTenantCompensationIsClaimableToAnotherAddress() public {
        usdc.setBlocklisted(tenant, true);
        uint96 bond = market.lease(leaseId).bond;
        uint256 compensation = bond - slashCutOf(bond);

        vm.prank(provider);
        market.terminateLease(leaseId);
        assertEq(market.claimable(tenant, address(usdc)), compensation, "compensation");

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        // Terminated after one hour of a ten-hour lease that nobody settled: all the deposit returns.
        uint256 refund = market.lease(leaseId).deposit;
        assertEq(market.claimable(tenant, address(usdc)), compensation + refund, "refund and compensation");

        expectBlocklisted(tenant);
        vm.prank(tenant);
        market.claim(address(usdc), tenant);

        vm.prank(tenant);
        market.claim(address(usdc), coldWallet);
        assertEq(usdc.balanceOf(coldWallet), compensation + refund, "cold wallet");
    }

    // ─── Nothing else depends on the blocklist ──────────────────────────────────────────────

    function test_SettleAndFinalizeIgnoreTheBlocklistEvenOfTheMarket() public {
        usdc.setBlocklisted(provider, true);
        usdc.setBlocklisted(tenant, true);
        usdc.setBlocklisted(treasury, true);
        usdc.setBlocklisted(address(market), true);

        assertEq(market.settle(signedReceipt(leaseId, amount / 2)), amount / 2, "settle");
        SettlementResult[] memory results = market.settleBatch(one(signedReceipt(leaseId, amount)));
        assertEq(uint8(results[0]), uint8(SettlementResult.Settled), "settleBatch");
        vm.prank(tenant);
        market.closeLease(leaseId);

        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);

        Lease memory l = market.lease(leaseId);
        assertEq(uint8(l.status), uint8(LeaseStatus.Finalized), "finalized");
        assertEq(market.claimable(tenant, address(usdc)), l.deposit - amount, "refund");
        // Two receipts keep exactly the fee on their total between them.
        assertEq(market.claimable(provider, address(usdc)), amount - feeOf(amount), "earned");
        assertEq(market.feesOwed(address(usdc)), feeOf(amount), "fee credited at finalize");
        assertEq(market.stakeOf(provider, address(usdc)).locked, 0, "bond released");
    }

    function test_BlocklistedTreasuryDoesNotTrapFees() public {
        market.settle(signedReceipt(leaseId, amount));
        vm.warp(market.settlementDeadline(leaseId));
        market.finalizeLease(leaseId);
        uint256 fees = market.feesOwed(address(usdc));
        assertEq(fees, feeOf(amount), "fees owed");
        usdc.setBlocklisted(treasury, true);

        expectBlocklisted(treasury);
        market.collectFees(address(usdc));
        assertEq(market.feesOwed(address(usdc)), fees, "fees still owed");

        address newTreasury = makeAddr("newTreasury");
        vm.prank(admin);
        market.setTreasury(newTreasury);
        assertEq(market.collectFees(address(usdc)), fees, "collected");
        assertEq(usdc.balanceOf(newTreasury), fees, "new treasury");
        assertEq(market.feesOwed(address(usdc)), 0, "fees");
    }
}
