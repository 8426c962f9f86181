// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseEvents} from "./IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "./IOpenleaseErrors.sol";

/// @title Openlease
/// @notice The marketplace for leasing compute: providers stake stablecoin collateral and publish
/// offers; tenants open leases with an escrowed deposit; providers are paid against cumulative
/// EIP-712 service receipts signed by the tenant's session signer; providers that break their
/// commitments are slashed and the tenant is compensated from the lease's bond.
/// @dev Payouts (provider earnings, tenant refunds, compensation, returned dispute bonds) are
/// credited to claimable balances and pulled with `claim`, so no payout can be blocked by a
/// recipient (a blocklisted address, a reverting contract) and settlement stays cheap.
/// A lease lives by the terms it opened with: the offer terms the tenant accepted (bound by
/// `offerTermsHash`) and the governance parameters its provider accepted for the offer (its
/// `paramsVersion`).
/// Governance changes wait `PARAMS_DELAY` and reach only new leases of providers that accept them.
interface IOpenlease is IOpenleaseEvents, IOpenleaseErrors {
    // ─── Providers and stake ────────────────────────────────────────────────────────────────

    /// @notice Registers the caller as a provider.
    /// `attestationKey` (an EOA, or an EIP-7702 account) signs its usage attestations for good:
    /// evidence of equivocation must stay verifiable while a slash is possible, so it cannot be
    /// changed, and it must prove it is held: `keyProof` is its ECDSA signature of the EIP-712
    /// message `AttestationKey(address provider)` (the caller) under this market's domain.
    function registerProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash,
        address attestationKey,
        bytes calldata keyProof
    ) external;

    /// @notice Replaces the caller's provider profile.
    function updateProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash
    ) external;

    /// @notice Adds `amount` of an allow-listed `token` to the caller's stake.
    function stake(address token, uint256 amount) external;

    /// @notice Starts thawing `amount` of free stake; it can be withdrawn after the unbonding
    /// period. A new request restarts the thaw of everything thawing in that token.
    function requestUnstake(address token, uint256 amount) external;

    /// @notice Sends all thawed stake in `token` to `to`.
    function withdrawStake(address token, address to) external returns (uint256 amount);

    function providerProfile(address provider) external view returns (ProviderProfile memory);
    function stakeOf(address provider, address token) external view returns (Stake memory);

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────

    /// @notice Publishes an offer; the caller must be a registered provider. The offer's new leases
    /// get the parameters version in force now until the provider accepts another (`acceptParams`).
    /// `workload` and `verifier` (a contract, or zero for none) are the offer's for good: a tenant
    /// that opened a lease on them is never served, nor judged, by others.
    function publishOffer(
        address token,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity,
        bytes32 workload,
        address verifier
    ) external returns (uint256 offerId);

    /// @notice Changes the terms that new leases of an offer get; open leases keep theirs.
    function updateOffer(
        uint256 offerId,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
    ) external;

    /// @notice Stops (or resumes) new leases of an offer.
    function setOfferPaused(uint256 offerId, bool paused) external;

    function offer(uint256 offerId) external view returns (Offer memory);
    function offerCount() external view returns (uint256);

    /// @notice What a tenant accepts by opening a lease of `offerId` now: the hash of the offer's id,
    /// provider, token, price, minimum and maximum duration, notice period, the governance
    /// parameters' version its provider accepted for it (which new leases get), and the workload and
    /// verifier: `keccak256(abi.encode(offerId, provider, token, pricePerSecond, minDuration,
    /// maxDuration, noticePeriod, paramsVersion, workload, verifier))`. `openLease` reverts if it changed.
    function offerTermsHash(uint256 offerId) external view returns (bytes32);

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    /// @notice Opens a lease of `offerId` for `duration` seconds, escrowing `deposit` (pulled with
    /// an allowance). `termsHash` is the `offerTermsHash` the tenant read: if any term changed since
    /// (a front-run `updateOffer`, a new parameters version), the call reverts.
    function openLease(uint256 offerId, uint32 duration, uint256 deposit, bytes32 termsHash)
        external
        returns (uint256 leaseId);

    /// @notice `openLease` with an EIP-2612 permit for the deposit instead of an allowance.
    function openLeaseWithPermit(
        uint256 offerId,
        uint32 duration,
        uint256 deposit,
        bytes32 termsHash,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 leaseId);

    /// @notice Adds `amount` to a running lease's escrow, extending its runway. Anyone may pay.
    function topUp(uint256 leaseId, uint256 amount) external;

    /// @notice The tenant or the provider gives notice: the lease ends after the notice period
    /// (and not before its minimum duration). No penalty.
    function closeLease(uint256 leaseId) external;

    /// @notice The provider ends a lease at once, without notice: the lease's bond is slashed
    /// and pays the tenant.
    function terminateLease(uint256 leaseId) external;

    /// @notice The provider demands payment of a lease (running, or ended and not finalized) whose
    /// tenant has not paid for the service older than `PAYMENT_GRACE`, while the settlement window
    /// leaves the tenant the whole grace to answer. The demand is for `due`,
    /// what the terms let accrue until `PAYMENT_GRACE` ago; any settlement that brings the lease's
    /// settled total to it answers it. A new demand replaces the last. The provider's gateway settles
    /// what it holds first: a demand its own receipts would answer is answered by the tenant at once.
    function demandPayment(uint256 leaseId) external;

    /// @notice The provider ends a lease whose payment demand went unanswered for `PAYMENT_GRACE`,
    /// before its settlement window closes (allowed while the tenant's dispute is open: a dispute
    /// cannot stall it). The lease stops
    /// running now and the offer's capacity is freed; the tenant pays `PAYMENT_GRACE` of the price
    /// for the capacity it held (settled from its escrow, within what the terms let accrue), and the
    /// escrow no receipt can claim any more is refunded at once. The provider may still settle
    /// receipts for the service it delivered until the settlement window closes. The bond stays
    /// locked, and disputes and equivocation evidence stay possible, until the settlement deadline
    /// the lease had before the eviction (`remediesDeadline`); then it can be finalized.
    /// @dev Why an honest tenant is safe: the demand is evidence only the tenant controls. Settling
    /// its own newest receipt answers it, however many receipts the provider holds back.
    function evictLease(uint256 leaseId) external;

    /// @notice The tenant leaves a lease for `offerId` without a second deposit: gives notice on the
    /// old lease if it is still running, moves the part of its escrow that no receipt can ever
    /// claim (the deposit beyond what its terms let accrue until its end) into a new lease, and adds
    /// `extraDeposit` from the caller. The old provider can still settle everything it could before.
    /// The new lease follows the same rules as `openLease` (terms hash, minimum deposit, same token).
    function failoverLease(uint256 leaseId, uint256 offerId, uint32 duration, uint256 extraDeposit, bytes32 termsHash)
        external
        returns (uint256 newLeaseId);

    /// @notice After the settlement window (for an evicted lease, `remediesDeadline`): refunds the
    /// remaining escrow to the tenant, releases the bond and credits the protocol's fee on what was
    /// settled. Anyone may call.
    function finalizeLease(uint256 leaseId) external;

    function lease(uint256 leaseId) external view returns (Lease memory);
    function leaseCount() external view returns (uint256);
    /// @notice When the lease stops (or stopped) running: its end or its escrow's runway, whichever is first.
    function leaseEnd(uint256 leaseId) external view returns (uint256);
    /// @notice Until when receipts of the lease can be settled.
    function settlementDeadline(uint256 leaseId) external view returns (uint256);
    /// @notice Until when the lease's bond stays locked and its tenant may dispute: the settlement
    /// deadline, or for an evicted lease the one it had before the eviction.
    function remediesDeadline(uint256 leaseId) external view returns (uint256);
    /// @notice The lease's newest payment demand (zero if none was made).
    function paymentDemand(uint256 leaseId) external view returns (PaymentDemand memory);
    /// @notice The governance parameters the lease opened with.
    function leaseParams(uint256 leaseId) external view returns (Params memory);
    /// @notice The part of the escrow no receipt can ever claim, given the lease's end as it stands:
    /// what `failoverLease` would move if notice had already been given.
    function unclaimableEscrow(uint256 leaseId) external view returns (uint256);

    // ─── Receipts and settlement ────────────────────────────────────────────────────────────

    /// @notice Lets `signer` sign receipts for the caller's leases of `provider`, up to `cap` in total,
    /// for service until `expiresAt`. Each provider gets its own authorization (and cap), so no
    /// provider's receipts can use up what another accepted. Re-authorizing raises the cap (never
    /// lowers it: that would void receipts for service delivered) and sets the expiry, undoing a
    /// revocation (which also revives what the key signed for service after it: authorize a fresh
    /// key instead where that matters); what was spent is kept. Batch it with the lease it is for through
    /// `multicall`: one transaction.
    function authorizeSigner(address signer, address provider, uint96 cap, uint40 expiresAt) external;

    /// @notice Stops `signer` for `provider` at once: its receipts for service after now are void. Receipts for
    /// service delivered before (a `periodEnd` before now) stay payable for their lease's settlement
    /// window, each at most what the terms let accrue until its `periodEnd`: the delivered service
    /// cannot be repudiated, and a leaked key still pays only the lease's own provider.
    function revokeSigner(address signer, address provider) external;

    /// @notice What `tenant` authorized `signer` to attest to `provider`.
    function sessionSigner(address tenant, address signer, address provider)
        external
        view
        returns (SessionSigner memory);

    /// @notice Runs several calls of this market as the caller, in order, in one transaction (for
    /// example `authorizeSigner` and `openLeaseWithPermit`); reverts if any reverts.
    function multicall(bytes[] calldata data) external returns (bytes[] memory results);

    /// @notice Pays the lease's provider for a receipt: the increase over what was settled, capped by
    /// the escrow, the signer's remaining cap and what the lease's terms let accrue until the
    /// receipt's `periodEnd` (or now, if sooner). A session signer's receipt is valid if its
    /// `periodEnd` is before the signer's expiry or revocation. Anyone may call. Reverts with `OpenleaseSettlementFailed` if nothing can be paid.
    function settle(SignedReceipt calldata receipt) external returns (uint256 paid);

    /// @notice Settles many receipts in one call; bad items are skipped, not reverted on.
    function settleBatch(SignedReceipt[] calldata receipts) external returns (SettlementResult[] memory results);

    /// @notice The EIP-712 digest a signer signs for `receipt`, bound to this chain and contract.
    function receiptDigest(ServiceReceipt calldata receipt) external view returns (bytes32);

    /// @notice The EIP-712 digest a provider's attestation key signs for `attestation`.
    function attestationDigest(AnswerAttestation calldata attestation) external view returns (bytes32);

    // ─── Balances ───────────────────────────────────────────────────────────────────────────

    /// @notice Sends the caller's whole claimable balance in `token` to `to`.
    function claim(address token, address to) external returns (uint256 amount);

    function claimable(address account, address token) external view returns (uint256);

    // ─── Slashing and disputes ──────────────────────────────────────────────────────────────

    /// @notice Slashes the rest of a lease's bond given two different answer attestations the
    /// provider signed for the same lease and sequence. Anyone may call; the tenant is paid.
    function slashEquivocation(
        AnswerAttestation calldata a,
        bytes calldata signatureA,
        AnswerAttestation calldata b,
        bytes calldata signatureB
    ) external;

    /// @notice Slashes the rest of a lease's bond, with no arbiter, given an answer the provider
    /// attested that was wrong: the verifier the lease's offer named rejects `response` for
    /// `request` (their keccak256 are the attestation's digests), or the attestation names another
    /// workload than the offer's. Anyone may call; the tenant is paid, and the lease ends now. Only
    /// the offer's own verifier is ever asked, so a verifier reaches no lease whose terms did not
    /// name it. Reverts when the verifier accepts the answer or cannot judge the request.
    function slashWrongAnswer(
        AnswerAttestation calldata attestation,
        bytes calldata signature,
        bytes calldata request,
        bytes calldata response
    ) external;

    /// @notice The tenant disputes the provider's service of a running lease or one in its
    /// settlement window, posting a bond (pulled with an allowance). Freezes the lease's bond.
    /// Refused when the lease's arbiter is its tenant or provider: nobody could rule.
    function openDispute(uint256 leaseId, string calldata evidenceURI) external;

    /// @notice The lease's arbiter (the one of its parameters version, never its tenant or provider)
    /// rules before the deadline: `slashBps` of the lease's bond (at most the lease's
    /// `maxDisputeSlashBps`) goes to the tenant, or, with zero, the dispute is rejected and the
    /// tenant's bond goes to the provider.
    function ruleDispute(uint256 leaseId, uint16 slashBps) external;

    /// @notice After the deadline without a ruling: unfreezes the lease and returns the tenant's bond,
    /// unless the tenant is in arrears (evicted, or a payment demand unanswered for its whole grace):
    /// then the provider gets it, so that a dispute is no free way to stall an eviction.
    function expireDispute(uint256 leaseId) external;

    function dispute(uint256 leaseId) external view returns (Dispute memory);

    // ─── Governance ─────────────────────────────────────────────────────────────────────────

    /// @notice The parameters in force now: what a provider can accept.
    function params() external view returns (Params memory);
    /// @notice The version in force now.
    function paramsVersion() external view returns (uint256);
    /// @notice The offer's provider accepts parameters `version` (in force, newer than the offer's
    /// `paramsVersion`) for the offer's new leases. Until it does, they keep the version it accepted
    /// (the one in force when the offer was published): no governance change reaches a provider's
    /// leases without its consent. A provider that never accepts sells under its version until it
    /// pauses the offer for good.
    function acceptParams(uint256 offerId, uint16 version) external;
    /// @notice The parameters of `version` (zero values for a version that does not exist).
    function paramsAt(uint256 version) external view returns (Params memory);
    /// @notice The newest version and when it takes effect (in the future while it is pending).
    function latestParams() external view returns (uint256 version, uint256 effectiveAt, Params memory params);
    /// @notice Schedules new parameters, each within its hard bounds, in force `PARAMS_DELAY` from now
    /// on; replaces a version still pending. New leases get it once their provider accepts it; open
    /// leases keep theirs.
    function scheduleParams(Params calldata params) external returns (uint256 version, uint256 effectiveAt);
    function setTokenAllowed(address token, bool allowed) external;
    function isTokenAllowed(address token) external view returns (bool);
    function setTreasury(address treasury) external;
    function treasury() external view returns (address);
    /// @notice Stops new business (registrations, stakes, offers, leases). Never blocks exits.
    function pause() external;
    function unpause() external;
    /// @notice Sends the protocol's accrued fees and slash cuts in `token` to the treasury. Anyone may call.
    function collectFees(address token) external returns (uint256 amount);
    function feesOwed(address token) external view returns (uint256);
}
