// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAnswerVerifier} from "../interfaces/IAnswerVerifier.sol";

/// @title The demo workload's verifier
/// @notice Judges the demo workload's `GET /work/N` answers: keccak256 applied N times to 32 zero
/// bytes, as `0x` and 64 lowercase hex digits. Other requests of the workload (its streams, its chat
/// model) it cannot judge on chain, and reverts: a tenant checks those off chain and disputes.
/// @dev Pure: the answer depends on the request alone. Gas grows with N (about 100 a round; the
/// workload's largest, 100,000 rounds, about 10 million, fits in a block).
contract HashChainVerifier is IAnswerVerifier {
    /// @notice The demo workload's identifier, as offers name it: keccak256("openlease-demo@1").
    bytes32 public constant WORKLOAD = keccak256("openlease-demo@1");
    /// @notice The most rounds the workload computes (it answers no more).
    uint256 public constant MAX_ROUNDS = 100_000;

    error HashChainUnknownWorkload(bytes32 workload);
    error HashChainNotJudged();

    function isRightAnswer(bytes32 workload, bytes calldata request, bytes calldata response)
        external
        pure
        returns (bool)
    {
        if (workload != WORKLOAD) revert HashChainUnknownWorkload(workload);
        return _isHex(_hashChain(_rounds(request)), response);
    }

    /// @dev N of `GET /work/N` followed by LF and no body; reverts on anything else.
    function _rounds(bytes calldata request) private pure returns (uint256 n) {
        bytes memory prefix = "GET /work/";
        uint256 len = request.length;
        // Prefix, 1 to 6 digits, LF.
        if (len < prefix.length + 2 || len > prefix.length + 7 || request[len - 1] != 0x0a) {
            revert HashChainNotJudged();
        }
        for (uint256 i; i < prefix.length; ++i) {
            if (request[i] != prefix[i]) revert HashChainNotJudged();
        }
        for (uint256 i = prefix.length; i < len - 1; ++i) {
            uint8 c = uint8(request[i]);
            if (c < 0x30 || c > 0x39) revert HashChainNotJudged();
            n = n * 10 + (c - 0x30);
        }
        if (n > MAX_ROUNDS) revert HashChainNotJudged();
    }

    function _hashChain(uint256 n) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0, 0)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } { mstore(0, keccak256(0, 32)) }
            h := mload(0)
        }
    }

    /// @dev Whether `text` is `0x` and `h` in 64 lowercase hex digits.
    function _isHex(bytes32 h, bytes calldata text) private pure returns (bool) {
        if (text.length != 66 || text[0] != "0" || text[1] != "x") return false;
        for (uint256 i; i < 32; ++i) {
            uint8 b = uint8(h[i]);
            if (text[2 + 2 * i] != _digit(b >> 4) || text[3 + 2 * i] != _digit(b & 15)) return false;
        }
        return true;
    }

    function _digit(uint8 x) private pure returns (bytes1) {
        return bytes1(x < 10 ? x + 0x30 : x + 0x57);
    }
}
