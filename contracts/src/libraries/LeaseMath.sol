// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseTypes} from "../interfaces/IOpenleaseTypes.sol";

/// @title LeaseMath
/// @notice The money rules of a lease, written once: what it lets accrue, when it stops running, what
/// a receipt may pay, the protocol's fee, the bond it locks, what no receipt can ever claim and what
/// a tenant owes. The market and the test models (fuzz, invariant) use these functions and no copies.
/// @dev Pure functions over plain integers; the callers read storage.
library LeaseMath {
    uint256 internal constant BPS = 10_000;

    /// @notice When a lease stops running: at `endsAt`, or earlier when its escrow's runway runs out.
    function runEnd(uint256 startedAt, uint256 endsAt, uint256 deposit, uint256 pricePerSecond)
        internal
        pure
        returns (uint256)
    {
        uint256 runwayEnd = startedAt + deposit / pricePerSecond;
        return runwayEnd < endsAt ? runwayEnd : endsAt;
    }

    /// @notice What the terms let accrue by `at`: the price for every second the lease ran, up to
    /// `endsAt` (the escrow caps payments separately).
    function accrued(uint256 startedAt, uint256 endsAt, uint256 pricePerSecond, uint256 at)
        internal
        pure
        returns (uint256)
    {
        uint256 until = at < endsAt ? at : endsAt;
        return until > startedAt ? (until - startedAt) * pricePerSecond : 0;
    }

    /// @notice What a receipt for `cumulativeAmount` pays: the increase over `settled`, capped by the
    /// escrow, by what has accrued and by the signer's remaining cap; or why it pays nothing. The
    /// checks run in this order, so the first that fails names the result.
    function payable_(uint256 settled, uint256 deposit, uint256 accruedNow, uint256 cumulativeAmount, uint256 capLeft)
        internal
        pure
        returns (IOpenleaseTypes.SettlementResult result, uint256 paid)
    {
        if (cumulativeAmount <= settled) return (IOpenleaseTypes.SettlementResult.AlreadySettled, 0);
        if (settled >= deposit) return (IOpenleaseTypes.SettlementResult.EscrowExhausted, 0);
        if (accruedNow <= settled) return (IOpenleaseTypes.SettlementResult.NotYetAccrued, 0);
        if (capLeft == 0) return (IOpenleaseTypes.SettlementResult.SignerCapReached, 0);
        uint256 ceiling = cumulativeAmount;
        if (accruedNow < ceiling) ceiling = accruedNow;
        if (deposit < ceiling) ceiling = deposit;
        paid = ceiling - settled;
        if (capLeft < paid) paid = capLeft;
        return (IOpenleaseTypes.SettlementResult.Settled, paid);
    }

    /// @notice The protocol's fee on a lease's settled total. A settlement's fee is the growth of
    /// this figure, so fees never round in anyone's favour across many small settlements.
    function fee(uint256 settled, uint256 feeBps) internal pure returns (uint256) {
        return settled * feeBps / BPS;
    }

    /// @notice The SLA bond a lease locks: `bondBps` of the price of its notice period.
    function bond(uint256 pricePerSecond, uint256 noticePeriod, uint256 bondBps) internal pure returns (uint256) {
        return pricePerSecond * noticePeriod * bondBps / BPS;
    }

    /// @notice What a lease must keep in escrow so that every receipt its terms allow can still be
    /// paid: what accrues until `endsAt`, capped by the deposit (a runway-limited lease may settle its
    /// escrow's last fraction of a second). Nothing settled can exceed it; the rest of the deposit is
    /// unclaimable.
    function claimableCeiling(uint256 startedAt, uint256 endsAt, uint256 pricePerSecond, uint256 deposit)
        internal
        pure
        returns (uint256)
    {
        uint256 ceiling = (endsAt - startedAt) * pricePerSecond;
        return ceiling < deposit ? ceiling : deposit;
    }

    /// @notice What a tenant owes and has not settled for service older than `grace`: the price of
    /// the time until `grace` ago, less what was settled (zero if it is current).
    function arrears(
        uint256 startedAt,
        uint256 endsAt,
        uint256 pricePerSecond,
        uint256 settled,
        uint256 grace,
        uint256 at
    ) internal pure returns (uint256 due, uint256 owed) {
        due = at > grace ? accrued(startedAt, endsAt, pricePerSecond, at - grace) : 0;
        owed = due > settled ? due - settled : 0;
    }
}
