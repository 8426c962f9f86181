// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {OpenleaseStorage} from "../OpenleaseStorage.sol";

/// @title Disputes
/// @notice Slashing. Provable faults are slashed by anyone: equivocation (two different usage
/// attestations the provider's attestation key signed for one lease and sequence). Faults that
/// cannot be proven on chain go to SLA disputes: the tenant posts a bond, the lease's bond freezes,
/// and the lease's arbiter rules before a deadline with a bounded slash, or the dispute expires and
/// releases both sides. Every bound is the lease's own (its parameters version).
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract Disputes is OpenleaseStorage {
    bytes32 internal constant USAGE_ATTESTATION_TYPEHASH =
        keccak256("UsageAttestation(uint256 leaseId,uint64 sequence,bytes32 usageDigest,uint64 periodEnd)");

    // ─── Equivocation ───────────────────────────────────────────────────────────────────────

    function slashEquivocation(
        UsageAttestation calldata a,
        bytes calldata signatureA,
        UsageAttestation calldata b,
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
        uint96 bond = l.bond;
        if (bond == 0) revert OpenleaseNothingToSlash(a.leaseId);
        // A provider caught lying about usage serves this lease no longer.
        if (block.timestamp < _leaseEnd(l)) l.endsAt = uint32(block.timestamp);
        _slashBond(a.leaseId, l, bond, SlashReason.Equivocation);
    }

    function attestationDigest(UsageAttestation calldata attestation) external view returns (bytes32) {
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

    function _attestationDigest(UsageAttestation calldata attestation) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(USAGE_ATTESTATION_TYPEHASH, attestation)));
    }

    /// @dev Zero for a malformed or malleable signature, so it never matches a registered key.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address recovered) {
        (recovered,,) = ECDSA.tryRecover(digest, signature);
    }
}
