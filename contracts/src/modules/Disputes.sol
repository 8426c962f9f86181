// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {OpenleaseStorage} from "../OpenleaseStorage.sol";
import {IAnswerVerifier} from "../interfaces/IAnswerVerifier.sol";

/// @title Disputes
/// @notice Slashing. Provable faults are slashed by anyone: equivocation (two different answer
/// attestations the provider's attestation key signed for one lease and sequence), and a wrong
/// answer the provider attested that the lease's own verifier rejects. Faults that
/// cannot be proven on chain go to SLA disputes: the tenant posts a bond, the lease's bond freezes,
/// and the lease's arbiter rules before a deadline with a bounded slash, or the dispute expires and
/// releases both sides. Every bound is the lease's own (its parameters version).
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract Disputes is OpenleaseStorage {
    bytes32 internal constant ANSWER_ATTESTATION_TYPEHASH = keccak256(
        "AnswerAttestation(uint256 leaseId,uint64 sequence,bytes32 workload,bytes32 requestDigest,bytes32 responseDigest,uint64 servedAt)"
    );

    // ─── Equivocation ───────────────────────────────────────────────────────────────────────

    function slashEquivocation(
        AnswerAttestation calldata a,
        bytes calldata signatureA,
        AnswerAttestation calldata b,
        bytes calldata signatureB
    ) external nonReentrant {
        bytes32 digestA = _attestationDigest(a);
        bytes32 digestB = _attestationDigest(b);
        if (a.leaseId != b.leaseId || a.sequence != b.sequence || digestA == digestB) {
            revert OpenleaseNotEquivocation(a.leaseId, a.sequence, b.sequence);
        }
        Lease storage l = _openLeaseOf(a.leaseId);
        address provider = _offers[l.offerId].provider;
        // The key fixed at registration: its signatures cannot be disowned later.
        address key = _providers[provider].attestationKey;
        if (_recover(digestA, signatureA) != key || _recover(digestB, signatureB) != key) {
            revert OpenleaseInvalidAttestation(a.leaseId, provider);
        }
        _slashAll(a.leaseId, l, SlashReason.Equivocation);
    }

    // ─── Wrong answers ──────────────────────────────────────────────────────────────────────

    function slashWrongAnswer(
        AnswerAttestation calldata attestation,
        bytes calldata signature,
        bytes calldata request,
        bytes calldata response
    ) external nonReentrant {
        uint256 leaseId = attestation.leaseId;
        Lease storage l = _openLeaseOf(leaseId);
        Offer storage o = _offers[l.offerId];
        // The verifier bound in the terms the tenant opened on, never one the caller picks.
        address verifier = o.verifier;
        if (verifier == address(0)) revert OpenleaseNoVerifier(leaseId);
        if (keccak256(request) != attestation.requestDigest || keccak256(response) != attestation.responseDigest) {
            revert OpenleaseEvidenceMismatch(leaseId);
        }
        address provider = o.provider;
        if (_recover(_attestationDigest(attestation), signature) != _providers[provider].attestationKey) {
            revert OpenleaseInvalidAttestation(leaseId, provider);
        }
        // An answer attested as another workload's is wrong whatever it says: the lease bought this
        // one. Otherwise the verifier judges it (by STATICCALL: it cannot act on the market).
        bytes32 workload = o.workload;
        if (attestation.workload == workload) {
            bool right;
            try IAnswerVerifier(verifier).isRightAnswer(workload, request, response) returns (bool r) {
                right = r;
            } catch {
                right = true;
            }
            if (right) revert OpenleaseAnswerNotWrong(leaseId, verifier);
        }
        _slashAll(leaseId, l, SlashReason.WrongAnswer);
    }

    function attestationDigest(AnswerAttestation calldata attestation) external view returns (bytes32) {
        return _attestationDigest(attestation);
    }

    // ─── SLA disputes ───────────────────────────────────────────────────────────────────────

    function openDispute(uint256 leaseId, string calldata evidenceURI) external nonReentrant {
        Lease storage l = _openLeaseOf(leaseId);
        if (msg.sender != l.tenant) revert OpenleaseNotTenant(leaseId, msg.sender);
        uint256 windowEnd = _remediesDeadline(leaseId, l);
        if (block.timestamp >= windowEnd) revert OpenleaseDisputeWindowClosed(leaseId, windowEnd);
        Dispute storage d = _disputes[leaseId];
        if (d.status != DisputeStatus.None) revert OpenleaseDisputeExists(leaseId, d.status);
        if (l.bond == 0) revert OpenleaseNothingToSlash(leaseId);
        Params storage p = _paramsVersions[l.paramsVersion];
        // A dispute nobody can rule would only freeze the bond (and stall eviction) until it expires.
        address arbiter = p.arbiter;
        if (arbiter == l.tenant || arbiter == _offers[l.offerId].provider) {
            revert OpenleaseArbiterIsParty(leaseId, arbiter);
        }

        uint96 tenantBond = uint96(uint256(l.bond) * p.disputeBondBps / BPS);
        uint32 deadline = uint32(block.timestamp) + p.disputePeriod;
        d.tenantBond = tenantBond;
        d.deadline = deadline;
        d.status = DisputeStatus.Open;
        emit DisputeOpened(leaseId, msg.sender, tenantBond, deadline, evidenceURI);
        if (tenantBond > 0) _pull(_offers[l.offerId].token, msg.sender, tenantBond);
    }

    function ruleDispute(uint256 leaseId, uint16 slashBps) external {
        Dispute storage d = _openDispute(leaseId);
        Lease storage l = _leases[leaseId];
        Params storage p = _paramsVersions[l.paramsVersion];
        address arbiter = p.arbiter;
        if (msg.sender != arbiter) revert OpenleaseNotArbiter(leaseId, msg.sender, arbiter);
        Offer storage o = _offers[l.offerId];
        if (arbiter == l.tenant || arbiter == o.provider) revert OpenleaseArbiterIsParty(leaseId, arbiter);
        if (block.timestamp >= d.deadline) revert OpenleaseDisputeDeadlinePassed(leaseId, d.deadline);
        uint256 maxSlashBps = p.maxDisputeSlashBps;
        if (slashBps > maxSlashBps) revert OpenleaseSlashTooLarge(slashBps, maxSlashBps);

        bool upheld = slashBps > 0;
        d.status = upheld ? DisputeStatus.Upheld : DisputeStatus.Rejected;
        // Upheld: the tenant gets its bond back. Rejected: the provider keeps it for its trouble.
        _claimable[upheld ? l.tenant : o.provider][o.token] += d.tenantBond;
        emit DisputeRuled(leaseId, msg.sender, slashBps, upheld);
        uint96 amount = uint96(uint256(l.bond) * slashBps / BPS);
        if (amount > 0) _slashBond(leaseId, l, amount, SlashReason.Dispute);
    }

    function expireDispute(uint256 leaseId) external {
        Dispute storage d = _openDispute(leaseId);
        if (block.timestamp < d.deadline) revert OpenleaseDisputeDeadlineNotReached(leaseId, d.deadline);
        d.status = DisputeStatus.Expired;
        Lease storage l = _leases[leaseId];
        Offer storage o = _offers[l.offerId];
        // A tenant in arrears gains nothing by disputing to stall: its bond pays the provider's wait.
        bool toProvider = _inArrears(leaseId, l);
        _claimable[toProvider ? o.provider : l.tenant][o.token] += d.tenantBond;
        emit DisputeExpired(leaseId, toProvider);
    }

    function dispute(uint256 leaseId) external view returns (Dispute memory) {
        return _disputes[leaseId];
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    function _openDispute(uint256 leaseId) private view returns (Dispute storage d) {
        d = _disputes[leaseId];
        if (d.status != DisputeStatus.Open) revert OpenleaseNoOpenDispute(leaseId);
    }

    /// @dev A provider proven to cheat on a lease serves it no longer and loses its whole bond.
    function _slashAll(uint256 leaseId, Lease storage l, SlashReason reason) private {
        uint96 bond = l.bond;
        if (bond == 0) revert OpenleaseNothingToSlash(leaseId);
        if (block.timestamp < _leaseEnd(l)) l.endsAt = uint32(block.timestamp);
        _slashBond(leaseId, l, bond, reason);
    }

    function _attestationDigest(AnswerAttestation calldata attestation) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ANSWER_ATTESTATION_TYPEHASH, attestation)));
    }

    /// @dev Zero for a malformed or malleable signature, so it never matches a registered key.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address recovered) {
        (recovered,,) = ECDSA.tryRecover(digest, signature);
    }
}
