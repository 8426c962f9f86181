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
/// `offerTermsHash`) and the governance parameters then in force (its `paramsVersion`). Governance
/// changes wait `PARAMS_DELAY` and reach new leases only.
interface IOpenlease is IOpenleaseEvents, IOpenleaseErrors {
    // ─── Providers and stake ────────────────────────────────────────────────────────────────

    /// @notice Registers the caller as a provider. `attestationKey` (an EOA) signs its usage
    /// attestations for good: evidence of equivocation must stay verifiable while a slash is
    /// possible, so it cannot be changed.
    function registerProvider(
        string calldata metadataURI,
        string calldata endpoint,
        string calldata region,
        bytes32 attributesHash,
        address attestationKey
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

    /// @notice Publishes an offer; the caller must be a registered provider.
    function publishOffer(
        address token,
        uint64 pricePerSecond,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 noticePeriod,
        uint16 capacity
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
    /// provider, token, price, minimum and maximum duration, notice period and the governance
    /// parameters' version new leases get. `openLease` reverts if it changed.
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

    /// @notice The provider ends a lease (running, or ended and not finalized) whose tenant has not
    /// paid for the service older than `PAYMENT_GRACE` (what was settled is below what the terms let
    /// accrue until `PAYMENT_GRACE` ago). No bond is slashed; the lease is finalized at once, freeing
    /// the offer's capacity and the bond, and the tenant is refunded everything not settled:
    /// receipts the provider did not settle are forfeit. Refused while a dispute is open.
    /// @dev Why this is safe for an honest tenant: it is never out of pocket. Eviction refunds all
    /// it did not pay, and it can stay current by settling its own newest receipt (anyone may
    /// settle). A provider that withholds receipts to evict loses what they were worth, at least
    /// `PAYMENT_GRACE` of service. And why it stops griefing: holding capacity without paying for it
    /// lasts at most `PAYMENT_GRACE` and earns no bond.
    function evictLease(uint256 leaseId) external;

    /// @notice The tenant leaves a lease for `offerId` without a second deposit: gives notice on the
    /// old lease if it is still running, moves the part of its escrow that no receipt can ever
    /// claim (the deposit beyond what its terms let accrue until its end) into a new lease, and adds
    /// `extraDeposit` from the caller. The old provider can still settle everything it could before.
    /// The new lease follows the same rules as `openLease` (terms hash, minimum deposit, same token).
    function failoverLease(uint256 leaseId, uint256 offerId, uint32 duration, uint256 extraDeposit, bytes32 termsHash)
        external
        returns (uint256 newLeaseId);

    /// @notice After the settlement window: refunds the remaining escrow to the tenant, releases the
    /// bond and credits the protocol's fee on what was settled. Anyone may call.
    function finalizeLease(uint256 leaseId) external;

    function lease(uint256 leaseId) external view returns (Lease memory);
    function leaseCount() external view returns (uint256);
    /// @notice When the lease stops (or stopped) running: its end or its escrow's runway, whichever is first.
    function leaseEnd(uint256 leaseId) external view returns (uint256);
    /// @notice Until when receipts of the lease can be settled.
    function settlementDeadline(uint256 leaseId) external view returns (uint256);
    /// @notice The governance parameters the lease opened with.
    function leaseParams(uint256 leaseId) external view returns (Params memory);
    /// @notice The part of the escrow no receipt can ever claim, given the lease's end as it stands:
    /// what `failoverLease` would move if notice had already been given.
    function unclaimableEscrow(uint256 leaseId) external view returns (uint256);

    // ─── Receipts and settlement ────────────────────────────────────────────────────────────

    /// @notice Lets `signer` sign receipts for the caller's leases, up to `cap` in total, until
    /// `expiresAt`. Re-authorizing changes cap and expiry and keeps what was spent.
    function authorizeSigner(address signer, uint96 cap, uint40 expiresAt) external;

    /// @notice Stops `signer` at once: receipts it signed can no longer be settled.
    function revokeSigner(address signer) external;

    function sessionSigner(address tenant, address signer) external view returns (SessionSigner memory);

    /// @notice Pays the lease's provider for a receipt: the increase over what was settled, capped by
    /// the escrow, the signer's remaining cap and what the lease's terms let accrue so far. Anyone may
    /// call. Reverts with `OpenleaseSettlementFailed` if nothing can be paid.
    function settle(SignedReceipt calldata receipt) external returns (uint256 paid);

    /// @notice Settles many receipts in one call; bad items are skipped, not reverted on.
    function settleBatch(SignedReceipt[] calldata receipts) external returns (SettlementResult[] memory results);

    /// @notice The EIP-712 digest a signer signs for `receipt`, bound to this chain and contract.
    function receiptDigest(ServiceReceipt calldata receipt) external view returns (bytes32);

    /// @notice The EIP-712 digest a provider signs for `attestation`.
    function attestationDigest(UsageAttestation calldata attestation) external view returns (bytes32);

    // ─── Balances ───────────────────────────────────────────────────────────────────────────

    /// @notice Sends the caller's whole claimable balance in `token` to `to`.
    function claim(address token, address to) external returns (uint256 amount);

    function claimable(address account, address token) external view returns (uint256);

    // ─── Slashing and disputes ──────────────────────────────────────────────────────────────

    /// @notice Slashes the rest of a lease's bond given two different usage attestations the
    /// provider signed for the same lease and sequence. Anyone may call; the tenant is paid.
    function slashEquivocation(
        UsageAttestation calldata a,
        bytes calldata signatureA,
        UsageAttestation calldata b,
        bytes calldata signatureB
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

    /// @notice After the deadline without a ruling: returns the tenant's bond and unfreezes the lease.
    function expireDispute(uint256 leaseId) external;

    function dispute(uint256 leaseId) external view returns (Dispute memory);

    // ─── Governance ─────────────────────────────────────────────────────────────────────────

    /// @notice The parameters new leases get now.
    function params() external view returns (Params memory);
    /// @notice The version new leases get now.
    function paramsVersion() external view returns (uint256);
    /// @notice The parameters of `version` (zero values for a version that does not exist).
    function paramsAt(uint256 version) external view returns (Params memory);
    /// @notice The newest version and when it takes effect (in the future while it is pending).
    function latestParams() external view returns (uint256 version, uint256 effectiveAt, Params memory params);
    /// @notice Schedules new parameters, each within its hard bounds, for leases opened `PARAMS_DELAY`
    /// from now on; replaces a version still pending. Open leases keep theirs.
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
