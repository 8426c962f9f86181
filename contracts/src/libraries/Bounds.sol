// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Bounds
/// @notice The market's hard bounds, delays and grace periods, declared once: no parameters version
/// can leave them, and the contracts and their tests import them from here.
library Bounds {
    uint16 internal constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint16 internal constant MIN_BOND_BPS = 1_000;
    uint16 internal constant MAX_BOND_BPS = 50_000;
    uint16 internal constant MAX_SLASH_CUT_BPS = 2_000;
    uint16 internal constant MIN_DISPUTE_SLASH_BPS = 1_000;
    /// @dev Below 100%: one ruling never takes a provider's whole bond.
    uint16 internal constant MAX_DISPUTE_SLASH_BPS = 5_000;
    uint16 internal constant MIN_DISPUTE_BOND_BPS = 100;
    uint16 internal constant MAX_DISPUTE_BOND_BPS = 10_000;
    uint32 internal constant MIN_SETTLEMENT_WINDOW = 1 hours;
    uint32 internal constant MAX_SETTLEMENT_WINDOW = 7 days;
    uint32 internal constant MIN_DISPUTE_PERIOD = 1 days;
    uint32 internal constant MAX_DISPUTE_PERIOD = 14 days;
    /// @dev A provider must never outrun a slash by unstaking: stake thaws for at least as long as
    /// the longest settlement window and dispute period together.
    uint32 internal constant MIN_UNBONDING_PERIOD = MAX_SETTLEMENT_WINDOW + MAX_DISPUTE_PERIOD;
    uint32 internal constant MAX_UNBONDING_PERIOD = 90 days;
    /// @dev How long a parameters change waits: long enough for a provider to pause its offers (or
    /// a tenant to open its leases) under the version it agreed to. Open leases never change.
    uint32 internal constant PARAMS_DELAY = 7 days;
    /// @dev Every offer gives at least this much notice, so every lease locks a bond.
    uint32 internal constant MIN_NOTICE_PERIOD = 1 hours;
    /// @dev How old unpaid service must be before its provider may demand payment, and how long a
    /// demand waits for its answer before the provider may evict.
    uint32 internal constant PAYMENT_GRACE = 1 hours;
}
