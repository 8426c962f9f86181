//! Service receipts: the tenant's service signs them ([`ReceiptSigner`]), the provider checks each
//! one before serving more ([`ReceiptVerifier`]) and keeps the newest per lease ([`ReceiptBook`]),
//! which is all it needs to settle: receipts are cumulative, so the newest pays for every older one.
//!
//! The digest is the market's own, byte for byte: EIP-712 over the domain
//! `{name "Openlease", version "1", chainId, verifyingContract = market}` and
//! `ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)`.
//! Signatures are 65 bytes `r || s || v` with `v` 27 or 28 and a low `s`, as the market's
//! `ECDSA.tryRecover` demands.

use std::{collections::HashMap, sync::LazyLock};

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::{SignerSync, k256::ecdsa::Signature as EcdsaSignature, local::PrivateKeySigner},
    sol_types::{Eip712Domain, eip712_domain},
};
pub use openlease_contracts::IOpenleaseTypes::{AnswerAttestation, ServiceReceipt, SignedReceipt};

/// keccak256 of the `ServiceReceipt` type string, as in the market's `SERVICE_RECEIPT_TYPEHASH`.
static SERVICE_RECEIPT_TYPEHASH: LazyLock<B256> = LazyLock::new(|| {
    keccak256("ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)")
});

/// keccak256 of the `AttestationKey` type string, as in the market's `ATTESTATION_KEY_TYPEHASH`.
static ATTESTATION_KEY_TYPEHASH: LazyLock<B256> = LazyLock::new(|| keccak256("AttestationKey(address provider)"));

/// keccak256 of the `AnswerAttestation` type string, as in the market's
/// `ANSWER_ATTESTATION_TYPEHASH`.
static ANSWER_ATTESTATION_TYPEHASH: LazyLock<B256> = LazyLock::new(|| {
    keccak256(
        "AnswerAttestation(uint256 leaseId,uint64 sequence,bytes32 workload,bytes32 requestDigest,bytes32 responseDigest,uint64 servedAt)",
    )
});

/// keccak256 of the `Access` type string: a tenant's (or its session signer's) grant of access to
/// one lease's service at its gateway, until a time. Off-chain only; signed under the market's
/// domain so that it is bound to the chain and the market.
static ACCESS_TYPEHASH: LazyLock<B256> = LazyLock::new(|| keccak256("Access(uint256 leaseId,uint64 expiresAt)"));

/// Why a receipt was refused. Each is a reason the market would not pay it, or would pay less
/// than it claims, found before any work is served against it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The signature is not 65 bytes.
    #[error("the signature is {len} bytes, not 65 (r || s || v)")]
    WrongLength { len: usize },
    /// The last byte is not 27 or 28: the market's `ecrecover` rejects anything else.
    #[error("the signature's v byte is {v}, not 27 or 28")]
    InvalidRecoveryByte {
        /// The byte found.
        v: u8,
    },
    /// `s` is in the upper half of the curve order: a malleable signature the market rejects.
    #[error("the signature has a high s: malleable, the market rejects it")]
    HighS,
    /// `r` or `s` is zero or not below the curve order, or no key recovers from it.
    #[error("the signature is not a valid secp256k1 signature")]
    BadSignature,
    /// The receipt is for a lease this verifier does not serve.
    #[error("lease {lease_id} is not a lease this verifier serves")]
    WrongLease {
        /// The receipt's lease.
        lease_id: U256,
    },
    /// The receipt names a signer other than the one the tenant authorized.
    #[error("the receipt names signer {signer}, not the authorized {expected}")]
    UnknownSigner {
        /// The signer the receipt names.
        signer: Address,
        /// The signer this verifier accepts.
        expected: Address,
    },
    /// The signature recovers to another address under this chain and market: it was signed for
    /// another chain or market, over other receipt fields, or by another key.
    #[error("the signature recovers to {recovered}, not {signer}: signed for another chain, market or receipt")]
    SignerMismatch {
        /// The signer the receipt names.
        signer: Address,
        /// Who actually signed this digest.
        recovered: Address,
    },
    /// The tenant never authorized the signer (its cap is zero on chain).
    #[error("signer {signer} is not authorized by the tenant")]
    SignerNotAuthorized { signer: Address },
    /// The tenant revoked the signer: no service after the revocation is paid.
    #[error("signer {signer} was revoked by the tenant")]
    SignerRevoked { signer: Address },
    /// The signer's authorization ran out: no service after its expiry is paid.
    #[error("signer {signer} expired at {expires_at} (the receipt's period or the service ends at {now})")]
    SignerExpired {
        signer: Address,
        /// When its authorization ended.
        expires_at: u64,
        /// The time checked: the receipt's period end, or now for more service.
        now: u64,
    },
    /// The receipt does not raise the lease's cumulative amount above the newest accepted one.
    #[error("lease {lease_id}: cumulative amount {cumulative} does not exceed the accepted {accepted}")]
    NotIncreasing {
        lease_id: U256,
        /// The receipt's cumulative amount.
        cumulative: U256,
        /// The newest amount accepted (or settled) for the lease.
        accepted: U256,
    },
    /// With this receipt the signer would have attested more than its cap allows.
    #[error("signer {signer} would attest {attested} in total, over its cap of {cap}")]
    OverCap {
        signer: Address,
        cap: U256,
        /// Spent on chain plus every accepted, unsettled increase, this receipt's included.
        attested: U256,
    },
}

/// The EIP-712 domain receipts are signed under, with its separator computed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptDomain {
    chain_id: u64,
    market: Address,
    separator: B256,
}

impl ReceiptDomain {
    /// The domain of the market at `market` on chain `chain_id`.
    pub fn new(chain_id: u64, market: Address) -> Self {
        let separator = eip712_domain! {
            name: "Openlease",
            version: "1",
            chain_id: chain_id,
            verifying_contract: market,
        }
        .separator();
        Self { chain_id, market, separator }
    }

    /// The chain.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The market (the verifying contract).
    pub fn market(&self) -> Address {
        self.market
    }

    /// The EIP-712 domain separator.
    pub fn separator(&self) -> B256 {
        self.separator
    }

    /// The domain as alloy's [`Eip712Domain`], for other EIP-712 tooling.
    pub fn eip712(&self) -> Eip712Domain {
        eip712_domain! {
            name: "Openlease",
            version: "1",
            chain_id: self.chain_id,
            verifying_contract: self.market,
        }
    }

    /// The signature by which an attestation key proves it is held when `provider` registers it:
    /// the key's signature of `AttestationKey(address provider)` under this domain.
    pub fn attestation_key_proof(
        &self,
        key: &PrivateKeySigner,
        provider: Address,
    ) -> crate::Result<alloy::primitives::Bytes> {
        let mut words = [0u8; 64];
        words[..32].copy_from_slice(ATTESTATION_KEY_TYPEHASH.as_slice());
        words[44..64].copy_from_slice(provider.as_slice());
        let digest = self.typed_digest(keccak256(words));
        Ok(key.sign_hash_sync(&digest)?.normalized_s().as_bytes().into())
    }

    /// The EIP-712 digest of a struct hash under this domain.
    fn typed_digest(&self, struct_hash: B256) -> B256 {
        let mut message = [0u8; 66];
        message[..2].copy_from_slice(&[0x19, 0x01]);
        message[2..34].copy_from_slice(self.separator.as_slice());
        message[34..].copy_from_slice(struct_hash.as_slice());
        keccak256(message)
    }

    /// The digest signed to grant access to `lease_id`'s service until `expires_at` (see
    /// [`crate::wire::AccessGrant`]).
    pub fn access_digest(&self, lease_id: U256, expires_at: u64) -> B256 {
        let mut words = [0u8; 96];
        words[..32].copy_from_slice(ACCESS_TYPEHASH.as_slice());
        words[32..64].copy_from_slice(&lease_id.to_be_bytes::<32>());
        words[88..96].copy_from_slice(&expires_at.to_be_bytes());
        self.typed_digest(keccak256(words))
    }

    /// The digest a provider's attestation key signs for `attestation`: what the market's
    /// `attestationDigest` returns.
    pub fn attestation_digest(&self, attestation: &AnswerAttestation) -> B256 {
        let a = attestation;
        let mut words = [0u8; 224];
        words[..32].copy_from_slice(ANSWER_ATTESTATION_TYPEHASH.as_slice());
        words[32..64].copy_from_slice(&a.leaseId.to_be_bytes::<32>());
        words[88..96].copy_from_slice(&a.sequence.to_be_bytes());
        words[96..128].copy_from_slice(a.workload.as_slice());
        words[128..160].copy_from_slice(a.requestDigest.as_slice());
        words[160..192].copy_from_slice(a.responseDigest.as_slice());
        words[216..224].copy_from_slice(&a.servedAt.to_be_bytes());
        self.typed_digest(keccak256(words))
    }

    /// Who signed `attestation` (`signature`, 65 bytes) under this domain, with the market's
    /// checks on the signature: the provider's attestation key, if it is the provider's word.
    pub fn attestation_signer(
        &self,
        attestation: &AnswerAttestation,
        signature: &[u8],
    ) -> Result<Address, ReceiptError> {
        parse_signature(signature)?.recover(&self.attestation_digest(attestation))
    }

    /// Who signed `grant` under this domain, with the market's checks on the signature.
    pub fn access_signer(&self, grant: &crate::wire::AccessGrant) -> Result<Address, ReceiptError> {
        parse_signature(grant.signature.as_slice())?.recover(&self.access_digest(grant.lease_id, grant.expires_at))
    }

    /// The digest a signer signs for `receipt`: what the market's `receiptDigest` returns.
    pub fn digest(&self, receipt: &ServiceReceipt) -> B256 {
        let mut words = [0u8; 160];
        words[..32].copy_from_slice(SERVICE_RECEIPT_TYPEHASH.as_slice());
        words[32..64].copy_from_slice(&receipt.leaseId.to_be_bytes::<32>());
        words[64..96].copy_from_slice(&receipt.cumulativeAmount.to_be_bytes::<32>());
        words[96..128].copy_from_slice(receipt.usageDigest.as_slice());
        words[152..160].copy_from_slice(&receipt.periodEnd.to_be_bytes());
        self.typed_digest(keccak256(words))
    }
}

/// The version of [`ReceiptFile`]'s format this SDK writes and reads.
pub const RECEIPT_FILE_VERSION: u64 = 1;

/// A signed receipt as a file (or any JSON carrier): JSON with camelCase keys, amounts in raw units
/// as decimal strings (they overflow JSON numbers), and the chain and market it is for, so it is
/// never settled elsewhere. `version` is [`RECEIPT_FILE_VERSION`]; a file without one is version 1.
///
/// ```json
/// { "version": 1, "chainId": 31337, "market": "0x…", "leaseId": "3", "cumulativeAmount": "8640000",
///   "usageDigest": "0x…", "periodEnd": 1795285200, "signer": "0x…", "signature": "0x…(65 bytes)" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptFile {
    #[serde(default = "first_version")]
    version: u64,
    chain_id: u64,
    market: Address,
    lease_id: String,
    cumulative_amount: String,
    usage_digest: B256,
    period_end: u64,
    signer: Address,
    signature: alloy::primitives::Bytes,
}

fn first_version() -> u64 {
    1
}

/// Why a receipt file cannot be settled where it was brought.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptFileError {
    /// Not the JSON of a receipt file.
    #[error("not a signed receipt: {0}")]
    Malformed(String),
    /// Written by a newer format.
    #[error("receipt format version {0} is newer than this SDK's {RECEIPT_FILE_VERSION}: upgrade to read it")]
    Version(u64),
    /// Signed for another chain.
    #[error("signed for chain {file}, but this market is on chain {market}: settle it on the chain it was signed for")]
    WrongChain {
        /// The file's chain.
        file: u64,
        /// The market's chain.
        market: u64,
    },
    /// Signed for another market.
    #[error("signed for the market at {file}, not this one at {market}: settle it on the market it was signed for")]
    WrongMarket {
        /// The file's market.
        file: Address,
        market: Address,
    },
    /// An amount or id is not a number.
    #[error("`{key}` is not a number: {value}")]
    NotANumber {
        key: &'static str,
        /// Its text.
        value: String,
    },
}

impl ReceiptFile {
    /// The file of `signed`, a receipt of the market in `domain`.
    pub fn new(domain: &ReceiptDomain, signed: &SignedReceipt) -> Self {
        Self {
            version: RECEIPT_FILE_VERSION,
            chain_id: domain.chain_id(),
            market: domain.market(),
            lease_id: signed.receipt.leaseId.to_string(),
            cumulative_amount: signed.receipt.cumulativeAmount.to_string(),
            usage_digest: signed.receipt.usageDigest,
            period_end: signed.receipt.periodEnd,
            signer: signed.signer,
            signature: signed.signature.clone(),
        }
    }

    /// Parses a file's text.
    pub fn from_json(text: &str) -> Result<Self, ReceiptFileError> {
        let file: Self = serde_json::from_str(text).map_err(|e| ReceiptFileError::Malformed(e.to_string()))?;
        if file.version > RECEIPT_FILE_VERSION {
            return Err(ReceiptFileError::Version(file.version));
        }
        Ok(file)
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a receipt file serializes") + "\n"
    }

    /// The receipt, checked to be for the market of `domain`.
    pub fn for_domain(&self, domain: &ReceiptDomain) -> Result<SignedReceipt, ReceiptFileError> {
        if self.chain_id != domain.chain_id() {
            return Err(ReceiptFileError::WrongChain { file: self.chain_id, market: domain.chain_id() });
        }
        if self.market != domain.market() {
            return Err(ReceiptFileError::WrongMarket { file: self.market, market: domain.market() });
        }
        let number = |value: &str, key| {
            value.parse::<U256>().map_err(|_| ReceiptFileError::NotANumber { key, value: value.to_string() })
        };
        Ok(SignedReceipt {
            receipt: ServiceReceipt {
                leaseId: number(&self.lease_id, "leaseId")?,
                cumulativeAmount: number(&self.cumulative_amount, "cumulativeAmount")?,
                usageDigest: self.usage_digest,
                periodEnd: self.period_end,
            },
            signer: self.signer,
            signature: self.signature.clone(),
        })
    }
}

/// The tenant's side: signs receipts with a session signer's key (or the tenant's own).
#[derive(Debug, Clone)]
pub struct ReceiptSigner {
    key: PrivateKeySigner,
    domain: ReceiptDomain,
}

impl ReceiptSigner {
    /// A signer for receipts of the market in `domain`.
    pub fn new(key: PrivateKeySigner, domain: ReceiptDomain) -> Self {
        Self { key, domain }
    }

    /// The address receipts are signed by: the session signer the tenant authorizes.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The domain receipts are signed under.
    pub fn domain(&self) -> &ReceiptDomain {
        &self.domain
    }

    /// Signs a receipt: a low-`s` 65-byte signature with `v` 27 or 28, ready to settle.
    pub fn sign(&self, receipt: ServiceReceipt) -> crate::Result<SignedReceipt> {
        let digest = self.domain.digest(&receipt);
        // k256 already signs with a low s; normalizing keeps that a guarantee of this type.
        let signature = self.key.sign_hash_sync(&digest)?.normalized_s();
        Ok(SignedReceipt { receipt, signer: self.key.address(), signature: signature.as_bytes().into() })
    }

    /// Grants access to `lease_id`'s service at its provider's gateway until `expires_at` (chain
    /// time): what authenticates the tenant's requests that carry no new receipt.
    pub fn sign_access(&self, lease_id: U256, expires_at: u64) -> crate::Result<crate::wire::AccessGrant> {
        let digest = self.domain.access_digest(lease_id, expires_at);
        let signature = self.key.sign_hash_sync(&digest)?.normalized_s();
        Ok(crate::wire::AccessGrant { lease_id, expires_at, signature: signature.as_bytes() })
    }

    /// Builds and signs a receipt: `lease_id` consumed `cumulative_amount` in total up to `period_end`.
    pub fn sign_usage(
        &self,
        lease_id: U256,
        cumulative_amount: U256,
        usage_digest: B256,
        period_end: u64,
    ) -> crate::Result<SignedReceipt> {
        self.sign(ServiceReceipt {
            leaseId: lease_id,
            cumulativeAmount: cumulative_amount,
            usageDigest: usage_digest,
            periodEnd: period_end,
        })
    }
}

/// What the tenant allows a session signer for one provider's leases: the market's
/// `SessionSigner`, read with `sessionSigner(tenant, signer, provider)` (see
/// [`crate::Client::session_signer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerTerms {
    /// The most the signer may attest in total, in raw token units; zero if never authorized.
    pub cap: U256,
    /// What was settled against its receipts so far.
    pub spent: U256,
    /// Unix time its authorization ends: receipts pay for service until then. A revocation
    /// brings it forward to the revocation.
    pub expires_at: u64,
    /// Whether the tenant revoked the signer.
    pub revoked: bool,
}

impl SignerTerms {
    /// The terms of a tenant signing its own receipts: no cap, no expiry.
    pub fn tenant() -> Self {
        Self { cap: U256::MAX, spent: U256::ZERO, expires_at: u64::MAX, revoked: false }
    }

    /// Whether the tenant ever authorized the signer.
    pub fn is_authorized(&self) -> bool {
        !self.cap.is_zero()
    }

    /// Whether the tenant revoked the signer.
    pub fn is_revoked(&self) -> bool {
        self.is_authorized() && self.revoked
    }

    /// Why the market would not pay this signer's receipt for service until `period_end`, if it
    /// would not: never authorized, or the period ends at or after the expiry (revoked or
    /// expired). The one rule of signer validity: the market's, whenever the receipt is settled.
    /// For more service, ask with the time it would be served at (now).
    pub fn refusal(&self, period_end: u64) -> Option<openlease_contracts::SettlementResult> {
        use openlease_contracts::SettlementResult as R;
        if !self.is_authorized() {
            Some(R::SignerNotAuthorized)
        } else if period_end >= self.expires_at {
            Some(if self.revoked { R::SignerRevoked } else { R::SignerExpired })
        } else {
            None
        }
    }

    /// [`Self::refusal`] as a [`ReceiptError`] about `signer`.
    pub fn check(&self, signer: Address, period_end: u64) -> Result<(), ReceiptError> {
        use openlease_contracts::SettlementResult as R;
        match self.refusal(period_end) {
            None => Ok(()),
            Some(R::SignerNotAuthorized) => Err(ReceiptError::SignerNotAuthorized { signer }),
            Some(R::SignerRevoked) => Err(ReceiptError::SignerRevoked { signer }),
            Some(_) => Err(ReceiptError::SignerExpired { signer, expires_at: self.expires_at, now: period_end }),
        }
    }

    /// What the signer may still attest.
    pub fn remaining(&self) -> U256 {
        self.cap.saturating_sub(self.spent)
    }
}

impl From<openlease_contracts::IOpenleaseTypes::SessionSigner> for SignerTerms {
    fn from(s: openlease_contracts::IOpenleaseTypes::SessionSigner) -> Self {
        Self {
            cap: U256::from(s.cap),
            spent: U256::from(s.spent),
            expires_at: s.expiresAt.to::<u64>(),
            revoked: s.revoked,
        }
    }
}

/// The newest accepted receipt of every lease a provider serves, against what the market has
/// settled of it. The newest receipt alone is worth settling.
#[derive(Debug, Clone, Default)]
pub struct ReceiptBook {
    leases: HashMap<U256, BookEntry>,
    unsettled: U256,
    /// Settled since the signer's terms were last read: already in the market's `spent`, no
    /// longer in `unsettled`, not yet in the verifier's copy of `spent`.
    settled_since_terms: U256,
}

#[derive(Debug, Clone, Default)]
struct BookEntry {
    settled: U256,
    newest: Option<SignedReceipt>,
}

impl BookEntry {
    fn accepted(&self) -> U256 {
        self.newest.as_ref().map_or(self.settled, |r| r.receipt.cumulativeAmount.max(self.settled))
    }

    fn unsettled(&self) -> U256 {
        self.accepted() - self.settled
    }
}

impl ReceiptBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts keeping receipts of `lease_id`, of which the market has settled `settled`.
    pub fn add_lease(&mut self, lease_id: U256, settled: U256) {
        self.leases.entry(lease_id).or_insert(BookEntry { settled, newest: None });
    }

    /// Whether the book keeps receipts of `lease_id`.
    pub fn has_lease(&self, lease_id: U256) -> bool {
        self.leases.contains_key(&lease_id)
    }

    /// The leases kept.
    pub fn leases(&self) -> impl Iterator<Item = U256> + '_ {
        self.leases.keys().copied()
    }

    /// The newest accepted receipt of a lease.
    pub fn newest(&self, lease_id: U256) -> Option<&SignedReceipt> {
        self.leases.get(&lease_id)?.newest.as_ref()
    }

    /// What the market has settled of a lease, as last recorded.
    pub fn settled(&self, lease_id: U256) -> U256 {
        self.leases.get(&lease_id).map_or(U256::ZERO, |e| e.settled)
    }

    /// Keeps `receipt` as its lease's newest if it raises the lease's accepted amount: a receipt
    /// another verifier accepted (a replica's, from a shared book), for a book that only settles.
    /// Whether it was kept. The lease must be in the book ([`Self::add_lease`]).
    pub fn keep_verified(&mut self, receipt: SignedReceipt) -> bool {
        let lease_id = receipt.receipt.leaseId;
        if !self.has_lease(lease_id) || receipt.receipt.cumulativeAmount <= self.accepted(lease_id) {
            return false;
        }
        self.record(receipt);
        true
    }

    /// The highest cumulative amount accepted for a lease (its settled total if none).
    pub fn accepted(&self, lease_id: U256) -> U256 {
        self.leases.get(&lease_id).map_or(U256::ZERO, BookEntry::accepted)
    }

    /// What the newest receipt of a lease is owed beyond what the market settled.
    pub fn unsettled(&self, lease_id: U256) -> U256 {
        self.leases.get(&lease_id).map_or(U256::ZERO, BookEntry::unsettled)
    }

    /// The sum of [`Self::unsettled`] over every lease.
    pub fn total_unsettled(&self) -> U256 {
        self.unsettled
    }

    /// The receipts worth settling: the newest of every lease with something unsettled.
    pub fn to_settle(&self) -> Vec<SignedReceipt> {
        let mut ids: Vec<_> = self.leases.iter().filter(|(_, e)| !e.unsettled().is_zero()).map(|(id, _)| *id).collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.leases[&id].newest.clone()).collect()
    }

    /// Records that the market has settled `settled` of a lease in total.
    pub fn mark_settled(&mut self, lease_id: U256, settled: U256) {
        let entry = self.leases.entry(lease_id).or_default();
        let before = entry.unsettled();
        self.settled_since_terms += settled.saturating_sub(entry.settled);
        entry.settled = entry.settled.max(settled);
        self.unsettled = self.unsettled - before + entry.unsettled();
    }

    /// Sets what the market has settled of a lease to `settled` as the chain shows it now, lower
    /// than recorded when a reorg dropped a settlement: what it paid is owed again.
    pub fn resync(&mut self, lease_id: U256, settled: U256) {
        let entry = self.leases.entry(lease_id).or_default();
        let before = entry.unsettled();
        self.settled_since_terms = self.settled_since_terms.saturating_sub(entry.settled.saturating_sub(settled));
        entry.settled = settled;
        self.unsettled = self.unsettled - before + entry.unsettled();
    }

    /// Stops keeping a lease (finalized: nothing more settles), dropping its unsettled value.
    pub fn forget(&mut self, lease_id: U256) {
        if let Some(entry) = self.leases.remove(&lease_id) {
            self.unsettled -= entry.unsettled();
        }
    }

    /// Keeps `receipt` as the lease's newest. The caller has verified it.
    fn record(&mut self, receipt: SignedReceipt) {
        let entry = self.leases.entry(receipt.receipt.leaseId).or_default();
        let before = entry.unsettled();
        entry.newest = Some(receipt);
        self.unsettled = self.unsettled - before + entry.unsettled();
    }
}

/// The provider's side: checks every incoming receipt of one tenant's session signer before more
/// work is served against it, and keeps the newest per lease in its [`ReceiptBook`].
#[derive(Debug, Clone)]
pub struct ReceiptVerifier {
    domain: ReceiptDomain,
    signer: Address,
    terms: SignerTerms,
    book: ReceiptBook,
}

impl ReceiptVerifier {
    /// A verifier for receipts signed by `signer` under `domain`, with the tenant's `terms` for it
    /// (fetch them with [`crate::Client::session_signer`]). Add the leases it serves with
    /// [`Self::with_lease`].
    pub fn new(domain: ReceiptDomain, signer: Address, terms: SignerTerms) -> Self {
        Self { domain, signer, terms, book: ReceiptBook::new() }
    }

    /// Serves `lease_id` too, of which the market has settled `settled`.
    pub fn with_lease(mut self, lease_id: U256, settled: U256) -> Self {
        self.book.add_lease(lease_id, settled);
        self
    }

    /// Serves `lease_id` too, of which the market has settled `settled`.
    pub fn add_lease(&mut self, lease_id: U256, settled: U256) {
        self.book.add_lease(lease_id, settled);
    }

    /// Replaces the signer's terms with ones just read from the chain (after a re-authorization,
    /// a revocation or settlements). Until then, what the book saw settled counts against the cap
    /// on top of the terms' `spent`, so the verifier never lets the signer attest past its cap.
    pub fn set_terms(&mut self, terms: SignerTerms) {
        self.terms = terms;
        self.book.settled_since_terms = U256::ZERO;
    }

    /// The signer's terms in use.
    pub fn terms(&self) -> SignerTerms {
        self.terms
    }

    /// The signer whose receipts are accepted.
    pub fn signer(&self) -> Address {
        self.signer
    }

    /// The newest accepted receipt per lease.
    pub fn book(&self) -> &ReceiptBook {
        &self.book
    }

    /// The book, to record settlements in.
    pub fn book_mut(&mut self) -> &mut ReceiptBook {
        &mut self.book
    }

    /// Checks a receipt at unix time `now` against everything known, without keeping it.
    /// Cheap checks come first; the signature recovery is the only expensive step.
    pub fn verify(&self, signed: &SignedReceipt, now: u64) -> Result<(), ReceiptError> {
        let signature = parse_signature(&signed.signature)?;
        self.check_signer(signed, now)?;
        let recovered = signature.recover(&self.domain.digest(&signed.receipt))?;
        if recovered != signed.signer {
            return Err(ReceiptError::SignerMismatch { signer: signed.signer, recovered });
        }
        self.check_amount(signed)
    }

    /// [`Self::verify`] for a receipt whose signature was already checked (see
    /// [`SignatureChecked`]): everything but the expensive step, so that a server can check
    /// signatures on every core and hold a lock only for this.
    pub fn verify_checked(&self, checked: &SignatureChecked, now: u64) -> Result<(), ReceiptError> {
        if checked.separator != self.domain.separator() {
            return Err(ReceiptError::SignerMismatch { signer: checked.receipt.signer, recovered: Address::ZERO });
        }
        self.check_signer(&checked.receipt, now)?;
        self.check_amount(&checked.receipt)
    }

    /// The lease is served here, the signer is the one accepted, and both the receipt's period
    /// and the service it buys at `now` fall before the signer's expiry (or revocation): the
    /// market pays the receipt whenever it is settled, and no service is given that it would not.
    fn check_signer(&self, signed: &SignedReceipt, now: u64) -> Result<(), ReceiptError> {
        let lease_id = signed.receipt.leaseId;
        if !self.book.has_lease(lease_id) {
            return Err(ReceiptError::WrongLease { lease_id });
        }
        let signer = signed.signer;
        if signer != self.signer {
            return Err(ReceiptError::UnknownSigner { signer, expected: self.signer });
        }
        self.terms.check(signer, signed.receipt.periodEnd.max(now))
    }

    /// The receipt raises its lease's accepted amount and keeps the signer within its cap.
    fn check_amount(&self, signed: &SignedReceipt) -> Result<(), ReceiptError> {
        let (lease_id, signer) = (signed.receipt.leaseId, signed.signer);
        let cumulative = signed.receipt.cumulativeAmount;
        let accepted = self.book.accepted(lease_id);
        if cumulative <= accepted {
            return Err(ReceiptError::NotIncreasing { lease_id, cumulative, accepted });
        }
        let attested = self
            .terms
            .spent
            .saturating_add(self.book.settled_since_terms)
            .saturating_add(self.book.total_unsettled())
            .saturating_add(cumulative - accepted);
        if attested > self.terms.cap {
            return Err(ReceiptError::OverCap { signer, cap: self.terms.cap, attested });
        }
        Ok(())
    }

    /// Verifies a receipt and keeps it as its lease's newest. Returns by how much it raised the
    /// lease's accepted amount: the value of the work it pays for.
    pub fn accept(&mut self, signed: SignedReceipt, now: u64) -> Result<U256, ReceiptError> {
        self.verify(&signed, now)?;
        Ok(self.keep(signed))
    }

    /// [`Self::accept`] for a receipt whose signature was already checked.
    pub fn accept_checked(&mut self, checked: SignatureChecked, now: u64) -> Result<U256, ReceiptError> {
        self.verify_checked(&checked, now)?;
        Ok(self.keep(checked.receipt))
    }

    fn keep(&mut self, signed: SignedReceipt) -> U256 {
        let increase = signed.receipt.cumulativeAmount - self.book.accepted(signed.receipt.leaseId);
        self.book.record(signed);
        increase
    }
}

/// A receipt whose signature recovers to the signer it names under a domain: the expensive half
/// of verification, done once and outside any lock (`ReceiptDomain::check_signature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureChecked {
    receipt: SignedReceipt,
    separator: B256,
}

impl SignatureChecked {
    /// The receipt.
    pub fn receipt(&self) -> &SignedReceipt {
        &self.receipt
    }
}

impl ReceiptDomain {
    /// Checks that `signed`'s signature is well formed (65 bytes, `v` 27/28, low `s`) and
    /// recovers to the signer it names under this domain. Whether that signer may sign is the
    /// verifier's to say.
    pub fn check_signature(&self, signed: SignedReceipt) -> Result<SignatureChecked, ReceiptError> {
        let recovered = recover_signer(self, &signed)?;
        if recovered != signed.signer {
            return Err(ReceiptError::SignerMismatch { signer: signed.signer, recovered });
        }
        Ok(SignatureChecked { receipt: signed, separator: self.separator })
    }
}

/// A signature split and checked the way the market's `ECDSA.tryRecover` checks it.
struct ParsedSignature {
    /// `r || s`.
    compact: [u8; 64],
    /// `v == 28`.
    odd: bool,
}

fn parse_signature(bytes: &[u8]) -> Result<ParsedSignature, ReceiptError> {
    let bytes: &[u8; 65] = bytes.try_into().map_err(|_| ReceiptError::WrongLength { len: bytes.len() })?;
    let v = bytes[64];
    if v != 27 && v != 28 {
        return Err(ReceiptError::InvalidRecoveryByte { v });
    }
    let (r, s) = (&bytes[..32], &bytes[32..64]);
    let signature = EcdsaSignature::from_scalars(
        *<&[u8; 32]>::try_from(r).expect("32 bytes"),
        *<&[u8; 32]>::try_from(s).expect("32 bytes"),
    )
    .map_err(|_| ReceiptError::BadSignature)?;
    if signature.normalize_s().is_some() {
        return Err(ReceiptError::HighS);
    }
    Ok(ParsedSignature { compact: bytes[..64].try_into().expect("64 bytes"), odd: v == 28 })
}

impl ParsedSignature {
    /// The signer's address: the recovered key's keccak256, as `ecrecover` derives it.
    fn recover(&self, digest: &B256) -> Result<Address, ReceiptError> {
        use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
        let id = RecoveryId::try_from(i32::from(self.odd)).map_err(|_| ReceiptError::BadSignature)?;
        let signature =
            RecoverableSignature::from_compact(&self.compact, id).map_err(|_| ReceiptError::BadSignature)?;
        let key =
            signature.recover(secp256k1::Message::from_digest(digest.0)).map_err(|_| ReceiptError::BadSignature)?;
        Ok(Address::from_slice(&keccak256(&key.serialize_uncompressed()[1..])[12..]))
    }
}

/// Recovers who signed a receipt under `domain`, with the market's checks on the signature
/// (65 bytes, `v` 27 or 28, low `s`). Whether that signer may sign is not checked here.
pub fn recover_signer(domain: &ReceiptDomain, signed: &SignedReceipt) -> Result<Address, ReceiptError> {
    parse_signature(&signed.signature)?.recover(&domain.digest(&signed.receipt))
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Bytes, address, b256},
        sol_types::SolStruct,
    };

    use super::*;

    const MARKET: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");

    fn receipt(lease: u64, amount: u64) -> ServiceReceipt {
        ServiceReceipt {
            leaseId: U256::from(lease),
            cumulativeAmount: U256::from(amount),
            usageDigest: b256!("0x1111111111111111111111111111111111111111111111111111111111111111"),
            periodEnd: 1_000,
        }
    }

    fn setup() -> (ReceiptSigner, ReceiptVerifier) {
        let key = PrivateKeySigner::random();
        let domain = ReceiptDomain::new(31337, MARKET);
        let terms = SignerTerms { cap: U256::from(1_000), spent: U256::from(100), expires_at: 2_000, revoked: false };
        let verifier = ReceiptVerifier::new(domain, key.address(), terms).with_lease(U256::from(1), U256::ZERO);
        (ReceiptSigner::new(key, domain), verifier)
    }

    alloy::sol! {
        struct Access { uint256 leaseId; uint64 expiresAt; }
    }

    #[test]
    fn an_access_grant_is_eip712_and_recovers_to_its_signer_only_under_its_domain() {
        let (signer, _) = setup();
        let domain = *signer.domain();
        let access = Access { leaseId: U256::from(9), expiresAt: 1_234 };
        assert_eq!(domain.access_digest(U256::from(9), 1_234), access.eip712_signing_hash(&domain.eip712()));
        let grant = signer.sign_access(U256::from(9), 1_234).unwrap();
        assert_eq!(domain.access_signer(&grant).unwrap(), signer.address());
        let elsewhere = ReceiptDomain::new(1, MARKET);
        assert_ne!(elsewhere.access_signer(&grant).unwrap(), signer.address());
        let mut longer = grant.clone();
        longer.expires_at += 1;
        assert_ne!(domain.access_signer(&longer).unwrap(), signer.address());
    }

    #[test]
    fn the_digest_is_the_eip712_signing_hash() {
        let domain = ReceiptDomain::new(31337, MARKET);
        let r = receipt(7, 12_345);
        assert_eq!(domain.digest(&r), r.eip712_signing_hash(&domain.eip712()));
        assert_ne!(domain.digest(&r), ReceiptDomain::new(1, MARKET).digest(&r));
    }

    #[test]
    fn what_was_settled_still_counts_against_the_cap_until_the_terms_are_read_again() {
        let (signer, mut verifier) = setup(); // cap 1,000, spent 100
        verifier.accept(signer.sign(receipt(1, 600)).unwrap(), 1_000).unwrap();
        verifier.book_mut().mark_settled(U256::from(1), U256::from(600));
        assert_eq!(verifier.book().total_unsettled(), U256::ZERO);
        // 100 spent before + 600 settled since + 400 more = 1,100: over the cap.
        let over = signer.sign(receipt(1, 1_000)).unwrap();
        assert_eq!(
            verifier.verify(&over, 1_000),
            Err(ReceiptError::OverCap {
                signer: signer.address(),
                cap: U256::from(1_000),
                attested: U256::from(1_100)
            })
        );
        verifier.set_terms(SignerTerms { cap: U256::from(1_000), spent: U256::from(700), ..verifier.terms() });
        assert!(matches!(verifier.verify(&over, 1_000), Err(ReceiptError::OverCap { .. })));
        verifier.accept(signer.sign(receipt(1, 900)).unwrap(), 1_000).unwrap();
    }

    #[test]
    fn signed_receipts_are_low_s_and_recover_to_the_signer() {
        let (signer, _) = setup();
        for amount in 1..50 {
            let signed = signer.sign(receipt(1, amount)).unwrap();
            assert_eq!(signed.signature.len(), 65);
            assert!(matches!(signed.signature[64], 27 | 28));
            assert_eq!(recover_signer(signer.domain(), &signed).unwrap(), signer.address());
        }
    }

    #[test]
    fn accepts_increasing_receipts_and_keeps_the_newest() {
        let (signer, mut verifier) = setup();
        assert_eq!(verifier.accept(signer.sign(receipt(1, 10)).unwrap(), 1_000).unwrap(), U256::from(10));
        assert_eq!(verifier.accept(signer.sign(receipt(1, 25)).unwrap(), 1_000).unwrap(), U256::from(15));
        assert_eq!(verifier.book().newest(U256::from(1)).unwrap().receipt.cumulativeAmount, U256::from(25));
        assert_eq!(verifier.book().total_unsettled(), U256::from(25));
        verifier.book_mut().mark_settled(U256::from(1), U256::from(20));
        assert_eq!(verifier.book().unsettled(U256::from(1)), U256::from(5));
        assert_eq!(verifier.book().total_unsettled(), U256::from(5));
        assert_eq!(verifier.book().to_settle().len(), 1);
    }

    #[test]
    fn each_fault_has_its_own_error() {
        let (signer, mut verifier) = setup();
        let good = signer.sign(receipt(1, 10)).unwrap();

        let mut short = good.clone();
        short.signature = Bytes::from(good.signature[..64].to_vec());
        assert_eq!(verifier.verify(&short, 1_000), Err(ReceiptError::WrongLength { len: 64 }));

        let mut bad_v = good.clone();
        let mut bytes = good.signature.to_vec();
        bytes[64] -= 27;
        bad_v.signature = bytes.into();
        assert!(matches!(verifier.verify(&bad_v, 1_000), Err(ReceiptError::InvalidRecoveryByte { .. })));

        let mut high_s = good.clone();
        let sig = alloy::primitives::Signature::from_raw(&good.signature).unwrap();
        let order =
            U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
        // The same signature with s' = n - s and the parity flipped: valid, but malleable.
        let flipped = alloy::primitives::Signature::new(sig.r(), order - sig.s(), !sig.v());
        high_s.signature = flipped.as_bytes().into();
        assert_eq!(verifier.verify(&high_s, 1_000), Err(ReceiptError::HighS));

        let other_lease = signer.sign(receipt(2, 10)).unwrap();
        assert_eq!(verifier.verify(&other_lease, 1_000), Err(ReceiptError::WrongLease { lease_id: U256::from(2) }));

        let other_chain =
            ReceiptSigner::new(signer.key.clone(), ReceiptDomain::new(1, MARKET)).sign(receipt(1, 10)).unwrap();
        assert!(matches!(verifier.verify(&other_chain, 1_000), Err(ReceiptError::SignerMismatch { .. })));

        assert!(matches!(verifier.verify(&good, 2_000), Err(ReceiptError::SignerExpired { expires_at: 2_000, .. })));

        verifier.accept(good.clone(), 1_000).unwrap();
        assert!(matches!(verifier.verify(&good, 1_000), Err(ReceiptError::NotIncreasing { .. })));

        let over = signer.sign(receipt(1, 901)).unwrap();
        assert_eq!(
            verifier.verify(&over, 1_000),
            Err(ReceiptError::OverCap {
                signer: signer.address(),
                cap: U256::from(1_000),
                attested: U256::from(1_001)
            })
        );
        verifier.verify(&signer.sign(receipt(1, 900)).unwrap(), 1_000).unwrap();

        // Revoked at 1,000: the receipt for the period until 1,000 is refused as more service,
        // and the market refuses no receipt for service before 999.
        verifier.set_terms(SignerTerms { expires_at: 1_000, revoked: true, ..verifier.terms() });
        assert!(matches!(verifier.verify(&over, 1_000), Err(ReceiptError::SignerRevoked { .. })));
        assert_eq!(verifier.terms().refusal(999), None, "service before the revocation stays payable");
        assert_eq!(
            verifier.terms().refusal(1_000),
            Some(openlease_contracts::SettlementResult::SignerRevoked),
            "service from the revocation on is not"
        );
    }

    #[test]
    fn an_attestation_key_proof_recovers_to_the_key_under_the_market_domain() {
        let key = PrivateKeySigner::random();
        let provider = Address::repeat_byte(0x07);
        let domain = ReceiptDomain::new(31337, MARKET);
        let proof = domain.attestation_key_proof(&key, provider).unwrap();
        alloy::sol! { struct AttestationKey { address provider; } }
        let digest = AttestationKey { provider }.eip712_signing_hash(&domain.eip712());
        let signature = alloy::primitives::Signature::from_raw(&proof).unwrap();
        assert_eq!(signature.recover_address_from_prehash(&digest).unwrap(), key.address());
        let other = ReceiptDomain::new(1, MARKET).attestation_key_proof(&key, provider).unwrap();
        assert_ne!(proof, other, "bound to the chain");
    }
}
