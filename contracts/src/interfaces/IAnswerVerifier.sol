// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Answer verifier
/// @notice Decides on chain whether an answer is right for its request, for a workload whose answers
/// the chain can check. An offer names one in its terms; the market asks it (read-only) only about
/// that offer's leases, and slashes the lease's bond when it says no.
interface IAnswerVerifier {
    /// @notice Whether `response` is the right answer to `request` for `workload`. MUST revert when
    /// it cannot judge (a request the workload does not answer, an unknown workload): a revert never
    /// slashes, `false` does.
    /// @param request `METHOD SP path-and-query LF body`, as the provider's attestation digests it.
    /// @param response The answer's body.
    function isRightAnswer(bytes32 workload, bytes calldata request, bytes calldata response)
        external
        view
        returns (bool);
}
