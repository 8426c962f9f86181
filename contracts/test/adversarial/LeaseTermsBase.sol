// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {Bounds} from "../../src/libraries/Bounds.sol";

/// @notice Shared helpers of the adversarial tests of the v2 lease rules (terms bound at opening,
/// parameters versions, eviction, failover): the books a test asserts intact, the most hostile
/// parameters governance may schedule, and the lease's own money rules read through `LeaseMath`
/// with the lease's own parameters (never the ones in force now).
abstract contract LeaseTermsBase is BaseTest, IOpenleaseErrors, IOpenleaseEvents {
    uint256 internal constant BPS = 10_000;

    /// @dev The market's `PARAMS_DELAY`, `PAYMENT_GRACE` and `MIN_NOTICE_PERIOD` (internal constants).

    /// @dev What no governance action, front-run or eviction may move unless the test says so.
    struct Books {
        uint256 marketBalance;
        uint256 tenantBalance;
        uint256 tenantClaimable;
        uint256 providerClaimable;
        uint256 feesOwed;
        Stake stake;
        uint256 leaseCount;
        uint256 activeLeases;
    }

    function books() internal view returns (Books memory b) {
        return booksOf(tenant, provider, offerId);
    }

    function booksOf(address tenant_, address provider_, uint256 offer_) internal view returns (Books memory b) {
        b.marketBalance = usdc.balanceOf(address(market));
        b.tenantBalance = usdc.balanceOf(tenant_);
        b.tenantClaimable = market.claimable(tenant_, address(usdc));
        b.providerClaimable = market.claimable(provider_, address(usdc));
        b.feesOwed = market.feesOwed(address(usdc));
        b.stake = market.stakeOf(provider_, address(usdc));
        b.leaseCount = market.leaseCount();
        b.activeLeases = market.offer(offer_).activeLeases;
    }

    function assertBooks(Books memory a, Books memory b, string memory step) internal pure {
        assertEq(a.marketBalance, b.marketBalance, string.concat(step, ": market balance"));
        assertEq(a.tenantBalance, b.tenantBalance, string.concat(step, ": tenant balance"));
        assertEq(a.tenantClaimable, b.tenantClaimable, string.concat(step, ": tenant claimable"));
        assertEq(a.providerClaimable, b.providerClaimable, string.concat(step, ": provider claimable"));
        assertEq(a.feesOwed, b.feesOwed, string.concat(step, ": fees owed"));
        assertEq(a.stake.staked, b.stake.staked, string.concat(step, ": staked"));
        assertEq(a.stake.locked, b.stake.locked, string.concat(step, ": locked"));
        assertEq(a.stake.thawing, b.stake.thawing, string.concat(step, ": thawing"));
        assertEq(a.stake.thawEndsAt, b.stake.thawEndsAt, string.concat(step, ": thawEndsAt"));
        assertEq(a.leaseCount, b.leaseCount, string.concat(step, ": lease count"));
        assertEq(a.activeLeases, b.activeLeases, string.concat(step, ": active leases"));
    }

    function assertBooksUnchanged(Books memory b, string memory step) internal view {
        assertBooks(books(), b, step);
    }

    function assertSameLease(Lease memory a, Lease memory b, string memory step) internal pure {
        assertEq(keccak256(abi.encode(a)), keccak256(abi.encode(b)), string.concat(step, ": lease"));
    }

    function assertSameParams(Params memory a, Params memory b, string memory step) internal pure {
        assertEq(a.protocolFeeBps, b.protocolFeeBps, string.concat(step, ": protocolFeeBps"));
        assertEq(a.settlementWindow, b.settlementWindow, string.concat(step, ": settlementWindow"));
        assertEq(a.bondBps, b.bondBps, string.concat(step, ": bondBps"));
        assertEq(a.slashCutBps, b.slashCutBps, string.concat(step, ": slashCutBps"));
        assertEq(a.maxDisputeSlashBps, b.maxDisputeSlashBps, string.concat(step, ": maxDisputeSlashBps"));
        assertEq(a.disputeBondBps, b.disputeBondBps, string.concat(step, ": disputeBondBps"));
        assertEq(a.disputePeriod, b.disputePeriod, string.concat(step, ": disputePeriod"));
        assertEq(a.unbondingPeriod, b.unbondingPeriod, string.concat(step, ": unbondingPeriod"));
        assertEq(a.arbiter, b.arbiter, string.concat(step, ": arbiter"));
    }

    /// @dev Every parameter at the bound that hurts open leases most, with `arbiter_` ruling.
    function hostileParams(address arbiter_) internal pure returns (Params memory) {
        return Params({
            protocolFeeBps: 1_000,
            settlementWindow: 1 hours,
            bondBps: 50_000,
            slashCutBps: 2_000,
            maxDisputeSlashBps: 5_000,
            disputeBondBps: 10_000,
            disputePeriod: 14 days,
            unbondingPeriod: 90 days,
            arbiter: arbiter_
        });
    }

    /// @dev Schedules `p` as the admin, without waiting; returns when it takes effect.
    function scheduleParams(Params memory p) internal returns (uint256 version, uint256 effectiveAt) {
        vm.prank(admin);
        return market.scheduleParams(p);
    }

    /// @dev The protocol's fee on `settled` under the lease's own parameters.
    function leaseFee(uint256 leaseId, uint256 settled) internal view returns (uint256) {
        return LeaseMath.fee(settled, market.leaseParams(leaseId).protocolFeeBps);
    }

    /// @dev What the lease's terms let accrue by now.
    function accruedNow(uint256 leaseId) internal view returns (uint256) {
        Lease memory l = market.lease(leaseId);
        return LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, block.timestamp);
    }

    /// @dev A receipt signed by the tenant itself (an EOA: no cap).
    function tenantReceipt(uint256 leaseId, uint256 cumulativeAmount) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(tenantKey, tenant, receipt(leaseId, cumulativeAmount));
    }

    function one(SignedReceipt memory item) internal pure returns (SignedReceipt[] memory items) {
        items = new SignedReceipt[](1);
        items[0] = item;
    }

    /// @dev Registers and stakes a second EOA provider and publishes a USDC offer of `price`.
    function otherProviderOffer(string memory name, uint64 price) internal returns (address who, uint256 id) {
        who = makeAddr(name);
        registerAndStake(who, address(usdc), PROVIDER_STAKE);
        id = publishOffer(who, address(usdc), price);
    }
}
