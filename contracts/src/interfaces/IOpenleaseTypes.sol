// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Openlease types
/// @notice The structs and enums of the marketplace, shared by events, errors and functions.
/// @dev Amounts are token units (uint96 holds 79 billion of an 18-decimal stablecoin; a lease's
/// escrow is a uint88, 309 million), times are unix seconds (uint32 lasts until 2106), durations
/// are seconds.
interface IOpenleaseTypes {
    /// @notice A registered provider. The profile itself (metadata URI, endpoint, region, attributes
    /// hash) lives in the `ProviderRegistered`/`ProviderUpdated` events; the contract keeps only a
    /// commitment to it, `keccak256(abi.encode(metadataURI, endpoint, region, attributesHash))`,
    /// against which a mirror can check what it read. `attestationKey` is the EOA that signs the
    /// provider's usage attestations; it proved at registration that it is held (it signed an
    /// `AttestationKey` naming the provider) and is fixed so that evidence of equivocation can never
    /// be withdrawn (a contract wallet could stop accepting its own signatures).
    struct ProviderProfile {
        bool registered;
        address attestationKey;
        bytes32 profileHash;
    }

    /// @notice A provider's collateral in one token. `staked` includes `locked` (the SLA bonds of
    /// open leases); `staked - locked` is free. Thawing stake has left `staked` and can be withdrawn
    /// at `thawEndsAt`.
    struct Stake {
        uint96 staked;
        uint96 locked;
        uint96 thawing;
        uint32 thawEndsAt;
    }

    /// @notice What a provider sells. `provider`, `token`, `workload` and `verifier` never change; the
    /// rest are the terms new leases get. `workload` names what the offer runs (a model and its
    /// weights' digest, a container image digest, the demo workload): the gateway attests it in
    /// every answer. `verifier`, if set, is an `IAnswerVerifier` that decides whether an answer is
    /// right for its request; a provider-attested answer it rejects slashes the lease's bond with no
    /// arbiter (`slashWrongAnswer`). Both are in the terms a tenant binds at opening. `activeLeases` counts leases holding capacity (neither evicted nor finalized),
    /// against `capacity`. `paramsVersion` is the governance parameters version the provider accepted
    /// for the offer (the one in force when it was published, until it accepts another): its new
    /// leases get it, so no governance change reaches them without the provider's consent.
    struct Offer {
        address provider;
        uint64 pricePerSecond;
        uint16 capacity;
        uint16 activeLeases;
        address token;
        uint32 minDuration;
        uint32 maxDuration;
        uint32 noticePeriod;
        bool paused;
        uint16 paramsVersion;
        /// @dev `bondBps` of `paramsVersion` (a version in force never changes), kept beside it so
        /// that opening a lease reads no parameters.
        uint16 bondBps;
        address verifier;
        bytes32 workload;
    }

    /// @notice `Evicted`: the provider ended the lease over an unanswered payment demand. Its
    /// capacity is free, but its bond stays locked and disputes and evidence stay possible until
    /// the settlement deadline the lease had before the eviction; then it is finalized as usual.
    enum LeaseStatus {
        None,
        Open,
        Finalized,
        Evicted
    }

    /// @notice A lease with the terms in force when it opened: the offer's price, notice period and
    /// minimum duration, and the governance parameters of `paramsVersion` (fee, settlement window,
    /// dispute bounds, arbiter), none of which any later change reaches. Escrow is
    /// `deposit - settled`. The lease runs until `min(endsAt, startedAt + deposit / pricePerSecond)`;
    /// receipts can be settled until the lease's settlement window after that has passed, and then
    /// the rest is refunded.
    /// @dev The first two slots are all that settlement reads.
    struct Lease {
        address tenant;
        uint32 offerId;
        uint32 startedAt;
        uint32 endsAt;
        uint88 deposit;
        uint88 settled;
        uint64 pricePerSecond;
        uint16 paramsVersion;
        uint96 bond;
        uint32 noticePeriod;
        uint32 minEndsAt;
        LeaseStatus status;
    }

    /// @notice A key the tenant's service signs receipts with, for the leases of one provider: it may
    /// attest at most `cap` in total to that provider, for service whose period ended before
    /// `expiresAt`. Scoped so that a cap is never promised twice: from chain state alone, a provider
    /// knows what it has accepted of a signer cannot be claimed first by another provider. Revoking brings `expiresAt` forward to
    /// the revocation (and sets `revoked`): receipts for service delivered before it stay payable,
    /// none after. The cap counts raw units of whichever token a lease pays in, so give each
    /// stablecoin its own signer.
    struct SessionSigner {
        uint96 cap;
        uint96 spent;
        uint40 expiresAt;
        bool revoked;
    }

    /// @notice The EIP-712 message a tenant's signer attests: the lease has consumed
    /// `cumulativeAmount` in total up to `periodEnd`. Cumulative and monotone: the newest receipt
    /// alone is redeemable and pays `cumulativeAmount - settled`, at most what the terms let accrue
    /// until `periodEnd`. A signer's receipt is valid for a `periodEnd` before its expiry (or
    /// revocation), whenever it is settled within the lease's settlement window.
    struct ServiceReceipt {
        uint256 leaseId;
        uint256 cumulativeAmount;
        bytes32 usageDigest;
        uint64 periodEnd;
    }

    /// @notice A receipt with the key that signed it: a session signer of the tenant, or the tenant's
    /// own key. Both are checked by ECDSA alone (an EIP-7702 account signs with its key): a contract
    /// wallet authorizes a session signer, since an ERC-1271 answer can be flipped after the service
    /// it paid for was delivered.
    struct SignedReceipt {
        ServiceReceipt receipt;
        address signer;
        bytes signature;
    }

    /// @notice The EIP-712 message a provider's gateway signs for every answer it serves: the
    /// `sequence`-th answer of the lease was `responseDigest` (keccak256 of the answer's body) to
    /// `requestDigest` (keccak256 of `METHOD SP path-and-query LF body`), from `workload`, at
    /// `servedAt`. Two different attestations for the same lease and sequence prove equivocation; one
    /// the lease's verifier rejects proves a wrong answer.
    struct AnswerAttestation {
        uint256 leaseId;
        uint64 sequence;
        bytes32 workload;
        bytes32 requestDigest;
        bytes32 responseDigest;
        uint64 servedAt;
    }

    /// @notice The outcome of settling one receipt; `settleBatch` reports one per item.
    enum SettlementResult {
        Settled,
        UnknownLease,
        SettlementWindowClosed,
        SignerNotAuthorized,
        SignerExpired,
        SignerRevoked,
        InvalidSignature,
        AlreadySettled,
        NotYetAccrued,
        EscrowExhausted,
        SignerCapReached
    }

    enum SlashReason {
        EarlyTermination,
        Equivocation,
        Dispute,
        WrongAnswer
    }

    enum DisputeStatus {
        None,
        Open,
        Upheld,
        Rejected,
        Expired
    }

    /// @notice A provider's demand that the tenant pay what was `due` when it was made (what the
    /// terms let accrue until `PAYMENT_GRACE` before it). Any settlement that brings the lease's
    /// settled total to `due` answers it; unanswered for `PAYMENT_GRACE`, it lets the provider evict.
    /// `remediesUntil` is set by the eviction: the settlement deadline the lease had before it.
    struct PaymentDemand {
        uint88 due;
        uint32 madeAt;
        uint32 remediesUntil;
    }

    /// @notice A tenant's SLA dispute over a lease; at most one per lease. While open, the lease's
    /// bond is frozen (the lease cannot be finalized).
    struct Dispute {
        uint96 tenantBond;
        uint32 deadline;
        DisputeStatus status;
    }

    /// @notice Governance parameters, each within hard bounds (see `Governance`). Every change is a
    /// new version that takes effect after `PARAMS_DELAY`; a lease keeps the version in force when
    /// it opened for its whole life.
    struct Params {
        /// @dev Protocol fee on settled payments, in basis points.
        uint16 protocolFeeBps;
        /// @dev After a lease ends, how long the provider may still settle receipts.
        uint32 settlementWindow;
        /// @dev SLA bond locked per lease, in basis points of `pricePerSecond * noticePeriod`.
        uint16 bondBps;
        /// @dev Protocol cut of every slash, in basis points; the rest goes to the tenant.
        uint16 slashCutBps;
        /// @dev The most an arbiter may slash of a lease's bond, in basis points.
        uint16 maxDisputeSlashBps;
        /// @dev A tenant's dispute bond, in basis points of the lease's bond.
        uint16 disputeBondBps;
        /// @dev How long the arbiter has to rule on a dispute.
        uint32 disputePeriod;
        /// @dev How long unstaked collateral thaws before it can be withdrawn.
        uint32 unbondingPeriod;
        /// @dev Who rules the SLA disputes of leases opened under these parameters. Never the
        /// tenant or the provider of the lease in dispute.
        address arbiter;
    }

    /// @notice Which parameter a bounds error is about.
    enum Parameter {
        ProtocolFeeBps,
        SettlementWindow,
        BondBps,
        SlashCutBps,
        MaxDisputeSlashBps,
        DisputeBondBps,
        DisputePeriod,
        UnbondingPeriod
    }
}
