// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title PackedLease
/// @notice A stored `IOpenleaseTypes.Lease` read as its first two storage words, with the field
/// offsets named once: settlement reads the words a receipt needs in two SLOADs (Solidity issues
/// one per field) and writes the settled total back into word 1. The offsets follow the
/// declaration order of `Lease`; `PackedLease.t.sol` pins them against the struct.
/// @dev Word 0: tenant (bits 0-159), offerId (160-191), startedAt (192-223), endsAt (224-255).
/// Word 1: deposit (0-87), settled (88-175), pricePerSecond (176-239), paramsVersion (240-255).
/// Reading through the getters costs settlement about 50 gas a receipt over hand-written shifts
/// (the optimizer does not inline every call; assembly getters cost three times that).
library PackedLease {
    uint256 private constant OFFER_ID = 160;
    uint256 private constant STARTED_AT = 192;
    uint256 private constant ENDS_AT = 224;
    uint256 private constant SETTLED = 88;
    uint256 private constant PRICE_PER_SECOND = 176;
    uint256 private constant PARAMS_VERSION = 240;
    uint256 private constant AMOUNT_MASK = (1 << 88) - 1;

    function tenant(uint256 word0) internal pure returns (address) {
        return address(uint160(word0));
    }

    function offerId(uint256 word0) internal pure returns (uint256) {
        return uint32(word0 >> OFFER_ID);
    }

    function startedAt(uint256 word0) internal pure returns (uint256) {
        return uint32(word0 >> STARTED_AT);
    }

    function endsAt(uint256 word0) internal pure returns (uint256) {
        return word0 >> ENDS_AT;
    }

    function deposit(uint256 word1) internal pure returns (uint256) {
        return uint88(word1);
    }

    function settled(uint256 word1) internal pure returns (uint256) {
        return uint88(word1 >> SETTLED);
    }

    function pricePerSecond(uint256 word1) internal pure returns (uint256) {
        return uint64(word1 >> PRICE_PER_SECOND);
    }

    function paramsVersion(uint256 word1) internal pure returns (uint256) {
        return word1 >> PARAMS_VERSION;
    }

    /// @notice Word 1 with its settled total replaced by `newSettled` (which must fit 88 bits).
    function withSettled(uint256 word1, uint256 newSettled) internal pure returns (uint256) {
        return (word1 & ~(AMOUNT_MASK << SETTLED)) | (newSettled << SETTLED);
    }
}
