// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseTypes} from "../../src/interfaces/IOpenleaseTypes.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";

/// @notice `LeaseMath` behind one call for the differential test that compares it with the Rust
/// `openlease_contracts::lease_math` (tests/it/lease_math.rs): a batch of cases in, every
/// function's answer for each out.
contract LeaseMathHarness {
    struct Case {
        uint256 startedAt;
        uint256 endsAt;
        uint256 deposit;
        uint256 settled;
        uint256 pricePerSecond;
        uint256 at;
        uint256 cumulativeAmount;
        uint256 capLeft;
        uint256 bps;
        uint256 noticePeriod;
        uint256 grace;
    }

    struct Answer {
        uint256 runEnd;
        uint256 accrued;
        uint8 result;
        uint256 paid;
        uint256 fee;
        uint256 bond;
        uint256 claimableCeiling;
        uint256 due;
        uint256 owed;
    }

    function evaluate(Case[] calldata cases) external pure returns (Answer[] memory answers) {
        answers = new Answer[](cases.length);
        for (uint256 i; i < cases.length; ++i) {
            answers[i] = _evaluate(cases[i]);
        }
    }

    function _evaluate(Case calldata c) private pure returns (Answer memory a) {
        a.runEnd = LeaseMath.runEnd(c.startedAt, c.endsAt, c.deposit, c.pricePerSecond);
        a.accrued = LeaseMath.accrued(c.startedAt, c.endsAt, c.pricePerSecond, c.at);
        (uint8 result, uint256 paid) = _payable(c, a.accrued);
        (a.result, a.paid) = (result, paid);
        a.fee = LeaseMath.fee(c.settled, c.bps);
        a.bond = LeaseMath.bond(c.pricePerSecond, c.noticePeriod, c.bps);
        a.claimableCeiling = LeaseMath.claimableCeiling(c.startedAt, c.endsAt, c.pricePerSecond, c.deposit);
        (a.due, a.owed) = LeaseMath.arrears(c.startedAt, c.endsAt, c.pricePerSecond, c.settled, c.grace, c.at);
    }

    function _payable(Case calldata c, uint256 accruedNow) private pure returns (uint8, uint256) {
        (IOpenleaseTypes.SettlementResult result, uint256 paid) =
            LeaseMath.payable_(c.settled, c.deposit, accruedNow, c.cumulativeAmount, c.capLeft);
        return (uint8(result), paid);
    }
}
