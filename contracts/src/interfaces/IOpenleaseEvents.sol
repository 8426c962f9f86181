// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseTypes} from "./IOpenleaseTypes.sol";

/// @title Openlease events
/// @notice Every state change of the marketplace, with enough data to mirror the state without
/// calling the contract: new totals where a mirror would otherwise have to add up deltas.
interface IOpenleaseEvents is IOpenleaseTypes {
    // ─── Providers and stake ────────────────────────────────────────────────────────────────

    event ProviderRegistered(
        address indexed provider,
        string metadataURI,
        string endpoint,
        string region,
        bytes32 attributesHash,
        address attestationKey
    );
    event ProviderUpdated(
        address indexed provider, string metadataURI, string endpoint, string region, bytes32 attributesHash
    );
    /// @param staked The provider's stake in `token` after the deposit.
    event Staked(address indexed provider, address indexed token, uint256 amount, uint256 staked);
    /// @param staked The stake left after `amount` started thawing.
    /// @param thawing Everything now thawing, withdrawable at `thawEndsAt`.
    event UnstakeRequested(
        address indexed provider,
        address indexed token,
        uint256 amount,
        uint256 staked,
        uint256 thawing,
        uint256 thawEndsAt
    );
    event StakeWithdrawn(address indexed provider, address indexed token, uint256 amount, address to);

    // ─── Offers ─────────────────────────────────────────────────────────────────────────────

    event OfferPublished(
        uint256 indexed offerId,
        address indexed provider,
        address indexed token,
        uint256 pricePerSecond,
        uint256 minDuration,
        uint256 maxDuration,
        uint256 noticePeriod,
        uint256 capacity,
        uint256 paramsVersion,
        bytes32 workload,
        address verifier
    );
    event OfferUpdated(
        uint256 indexed offerId,
        uint256 pricePerSecond,
        uint256 minDuration,
        uint256 maxDuration,
        uint256 noticePeriod,
        uint256 capacity
    );
    event OfferPauseSet(uint256 indexed offerId, bool paused);

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    /// @notice A lease opened with `terms` in force (the governance parameters are those of
    /// `terms.paramsVersion`). `bond` was locked from the provider's stake.
    event LeaseOpened(uint256 indexed leaseId, uint256 indexed offerId, address indexed tenant, Lease terms);
    /// @param deposit The lease's total deposit after the top-up.
    event LeaseToppedUp(uint256 indexed leaseId, uint256 amount, uint256 deposit);
    /// @notice The tenant or the provider gave notice; the lease now ends at `endsAt`.
    event LeaseClosed(uint256 indexed leaseId, address indexed by, uint256 endsAt);
    /// @notice The provider ended the lease at once, without notice; its bond was slashed.
    event LeaseTerminated(uint256 indexed leaseId, uint256 endsAt);
    /// @notice The provider demanded payment: unless the lease's settled total reaches `due` (what
    /// the terms let accrue until `PAYMENT_GRACE` before the demand) by `evictableAt`, the provider
    /// may evict the lease. `settled` is what was paid when the demand was made.
    event PaymentDemanded(uint256 indexed leaseId, uint256 settled, uint256 due, uint256 evictableAt);
    /// @notice The provider evicted a lease whose tenant left a payment demand unanswered: the lease
    /// stopped running at `endsAt`, `holdCharge` was paid to the provider from the escrow for the
    /// capacity the tenant held (settled as a receipt would be; `settled` is the new total), and
    /// `refund`, the escrow no receipt can claim any more, went to the tenant. The capacity is free;
    /// the bond stays locked, and disputes and evidence stay possible, until `remediesUntil`, when
    /// the lease can be finalized.
    event LeaseEvicted(
        uint256 indexed leaseId,
        uint256 endsAt,
        uint256 holdCharge,
        uint256 settled,
        uint256 refund,
        uint256 remediesUntil
    );
    /// @notice The tenant moved `moved`, the part of the lease's escrow that no receipt can ever
    /// claim, into its new lease `newLeaseId`; `deposit` is what the old lease keeps.
    event LeaseFailedOver(uint256 indexed leaseId, uint256 indexed newLeaseId, uint256 moved, uint256 deposit);
    /// @notice The lease is done: `refund` went to the tenant's claimable balance, `bondReleased`
    /// back to the provider's free stake and `fee` (the protocol's share of everything settled) to
    /// the protocol's fees.
    event LeaseFinalized(uint256 indexed leaseId, uint256 refund, uint256 bondReleased, uint256 fee);

    // ─── Receipts and settlement ────────────────────────────────────────────────────────────

    event SignerAuthorized(
        address indexed tenant, address indexed signer, address indexed provider, uint256 cap, uint256 expiresAt
    );
    /// @notice Receipts of the signer for service after `expiresAt` (the revocation) are void; those
    /// for service before it stay payable.
    event SignerRevoked(address indexed tenant, address indexed signer, address indexed provider, uint256 expiresAt);
    /// @notice A receipt paid `paid` out of escrow: `paid - fee` to the provider's claimable
    /// balance; `fee` stays in the lease as the protocol's until it is finalized. The lease's
    /// settled total is now `settled`; the spent total of the signer's authorization for the lease's
    /// provider grew by `paid` (unless the signer is the tenant itself).
    event LeaseSettled(
        uint256 indexed leaseId,
        address indexed signer,
        uint256 cumulativeAmount,
        uint256 paid,
        uint256 fee,
        uint256 settled
    );
    /// @notice `settleBatch` skipped a receipt; nothing changed for that lease.
    event SettlementSkipped(uint256 indexed leaseId, SettlementResult result);

    // ─── Balances ───────────────────────────────────────────────────────────────────────────

    event Claimed(address indexed account, address indexed token, address to, uint256 amount);
    event FeesCollected(address indexed token, address indexed treasury, uint256 amount);

    // ─── Slashing and disputes ──────────────────────────────────────────────────────────────

    /// @notice `amount` of the lease's bond left the provider's stake: `amount - protocolCut` to the
    /// tenant's claimable balance, `protocolCut` to the protocol's fees.
    event BondSlashed(
        uint256 indexed leaseId, address indexed provider, SlashReason reason, uint256 amount, uint256 protocolCut
    );
    event DisputeOpened(
        uint256 indexed leaseId, address indexed tenant, uint256 tenantBond, uint256 deadline, string evidenceURI
    );
    /// @notice The arbiter ruled. Upheld (`slashBps > 0`): the bond was slashed and the tenant's
    /// dispute bond returned. Rejected: the tenant's dispute bond went to the provider.
    event DisputeRuled(uint256 indexed leaseId, address indexed arbiter, uint256 slashBps, bool upheld);
    /// @notice No ruling by the deadline: the lease's bond is unfrozen and the tenant's dispute bond
    /// went back to the tenant, or to the provider (`toProvider`) if the tenant was in arrears
    /// (evicted, or a payment demand unanswered): a dispute must not be a free way to stall.
    event DisputeExpired(uint256 indexed leaseId, bool toProvider);

    // ─── Governance ─────────────────────────────────────────────────────────────────────────

    /// @notice Parameters `version` take effect for leases opened from `effectiveAt` on (and for
    /// unstake requests made from then). A version scheduled while another was pending replaces it.
    event ParamsScheduled(uint256 indexed version, uint256 effectiveAt, Params params);
    /// @notice The offer's provider accepted parameters `version`: the offer's new leases get it.
    event ParamsAccepted(uint256 indexed offerId, uint256 indexed version);
    event TokenAllowed(address indexed token, bool allowed);
    event TreasuryUpdated(address indexed treasury);
}
