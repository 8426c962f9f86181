// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseTypes} from "./IOpenleaseTypes.sol";

/// @title Openlease errors
/// @notice Every custom error the marketplace reverts with, each carrying the values that explain it.
interface IOpenleaseErrors is IOpenleaseTypes {
    // ─── Input and tokens ───────────────────────────────────────────────────────────────────
    error OpenleaseZeroAmount();
    error OpenleaseZeroAddress();
    error OpenleaseAmountTooLarge(uint256 amount, uint256 max);
    error OpenleaseTokenNotAllowed(address token);
    /// @notice The token delivered less than was sent (a fee-on-transfer token): not supported.
    error OpenleaseFeeOnTransfer(address token, uint256 expected, uint256 received);
    error OpenleaseNothingToClaim(address account, address token);

    // ─── Providers and stake ────────────────────────────────────────────────────────────────
    error OpenleaseProviderNotRegistered(address provider);
    error OpenleaseProviderAlreadyRegistered(address provider);
    /// @notice The attestation key did not sign `AttestationKey(provider)` under this market's domain:
    /// a key nobody proves to hold would make equivocation unprovable.
    error OpenleaseAttestationKeyUnproven(address provider, address attestationKey);
    error OpenleaseInsufficientFreeStake(address provider, address token, uint256 free, uint256 needed);
    error OpenleaseNothingThawing(address provider, address token);
    error OpenleaseStillThawing(address provider, address token, uint256 thawEndsAt);

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────
    error OpenleaseUnknownOffer(uint256 offerId);
    error OpenleaseNotOfferProvider(uint256 offerId, address caller);
    /// @notice Offer terms need a price, a minimum duration, `minDuration <= maxDuration`, a notice
    /// period of at least `MIN_NOTICE_PERIOD` (so that every lease locks a bond) and at most
    /// `maxDuration`, and capacity.
    error OpenleaseInvalidOfferTerms(
        uint256 pricePerSecond, uint256 minDuration, uint256 maxDuration, uint256 noticePeriod, uint256 capacity
    );
    error OpenleaseOfferPaused(uint256 offerId);
    error OpenleaseOfferAtCapacity(uint256 offerId, uint256 capacity);
    /// @notice The offer's terms (or the governance parameters new leases get) changed since the
    /// tenant read them: `current` is `offerTermsHash(offerId)` now. Read the offer again.
    error OpenleaseTermsChanged(uint256 offerId, bytes32 expected, bytes32 current);
    /// @notice A failover must stay in the token of the lease it leaves.
    error OpenleaseTokenMismatch(uint256 offerId, address token, address leaseToken);

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────
    error OpenleaseUnknownLease(uint256 leaseId);
    error OpenleaseDurationOutOfRange(uint256 duration, uint256 minDuration, uint256 maxDuration);
    error OpenleaseDepositTooSmall(uint256 deposit, uint256 required);
    error OpenleaseNotTenant(uint256 leaseId, address caller);
    error OpenleaseNotLeaseParty(uint256 leaseId, address caller);
    error OpenleaseNotLeaseProvider(uint256 leaseId, address caller);
    error OpenleaseLeaseEnded(uint256 leaseId, uint256 endedAt);
    error OpenleaseLeaseFinalized(uint256 leaseId);
    error OpenleaseSettlementWindowOpen(uint256 leaseId, uint256 windowEndsAt);
    /// @notice A payment demand needs a tenant that has not paid for service older than
    /// `PAYMENT_GRACE`: `due` is what the terms let accrue until then, `settled` what was paid.
    error OpenleaseNotInArrears(uint256 leaseId, uint256 settled, uint256 due);
    /// @notice Eviction needs a payment demand made `PAYMENT_GRACE` before (zero: none was made).
    error OpenleaseNoPaymentDemand(uint256 leaseId, uint256 evictableAt);
    /// @notice The tenant answered the payment demand: the lease's settled total reached `due`.
    error OpenleaseDemandAnswered(uint256 leaseId, uint256 settled, uint256 due);
    /// @notice Only a lease that is open (not evicted, not finalized) can be demanded of or evicted.
    error OpenleaseLeaseNotOpen(uint256 leaseId, LeaseStatus status);
    /// @notice A demand must leave the tenant its whole payment grace to answer inside the lease's
    /// settlement window (nothing settles after it), and an eviction must come before that window
    /// closes: `deadline` is the lease's settlement deadline.
    error OpenleaseTooLateToDemand(uint256 leaseId, uint256 deadline);

    // ─── Receipts ───────────────────────────────────────────────────────────────────────────
    error OpenleaseInvalidSignerTerms(uint256 cap, uint256 expiresAt);
    /// @notice A signer's cap never decreases: a lower one would void receipts for service already
    /// delivered. Revoke the signer to stop new spending at once.
    error OpenleaseCapDecrease(address signer, address provider, uint256 cap, uint256 requested);
    error OpenleaseUnknownSigner(address tenant, address signer, address provider);
    /// @notice `settle` could not pay anything for this receipt; `result` says why.
    error OpenleaseSettlementFailed(uint256 leaseId, SettlementResult result);

    // ─── Slashing and disputes ──────────────────────────────────────────────────────────────
    error OpenleaseNotEquivocation(uint256 leaseId, uint64 sequenceA, uint64 sequenceB);
    error OpenleaseInvalidAttestation(uint256 leaseId, address provider);
    /// @notice The lease's offer named no verifier: a wrong answer goes to an SLA dispute instead.
    error OpenleaseNoVerifier(uint256 leaseId);
    /// @notice `request` or `response` is not what the attestation's digests commit to.
    error OpenleaseEvidenceMismatch(uint256 leaseId);
    /// @notice The lease's verifier accepted the answer (or could not judge the request).
    error OpenleaseAnswerNotWrong(uint256 leaseId, address verifier);
    /// @notice An offer's verifier must be a contract (or zero for none).
    error OpenleaseVerifierNotContract(address verifier);
    error OpenleaseNothingToSlash(uint256 leaseId);
    error OpenleaseDisputeExists(uint256 leaseId, DisputeStatus status);
    error OpenleaseNoOpenDispute(uint256 leaseId);
    error OpenleaseDisputeOpen(uint256 leaseId, uint256 deadline);
    error OpenleaseDisputeDeadlinePassed(uint256 leaseId, uint256 deadline);
    error OpenleaseDisputeDeadlineNotReached(uint256 leaseId, uint256 deadline);
    error OpenleaseDisputeWindowClosed(uint256 leaseId, uint256 settlementDeadline);
    error OpenleaseSlashTooLarge(uint256 slashBps, uint256 maxSlashBps);
    error OpenleaseNotArbiter(uint256 leaseId, address caller, address arbiter);
    /// @notice An arbiter never rules a dispute in which it is the tenant or the provider.
    error OpenleaseArbiterIsParty(uint256 leaseId, address arbiter);

    // ─── Governance ─────────────────────────────────────────────────────────────────────────
    error OpenleaseRenounceDisabled();
    error OpenleaseParameterOutOfBounds(Parameter parameter, uint256 value, uint256 min, uint256 max);
    /// @notice A provider accepts a version newer than its own that is in force (`inForce` now).
    error OpenleaseParamsNotAcceptable(uint256 version, uint256 accepted, uint256 inForce);
}
