//! Answer attestations: the provider's word on every answer its gateway serves. The gateway signs,
//! with the provider's attestation key (the one fixed at registration), which lease the answer was
//! for, its sequence, the workload it came from, and digests of the request and of the answer
//! (EIP-712 `AnswerAttestation` under the market's domain). The tenant's session keeps them:
//! - two different attestations for one lease and sequence are equivocation, slashable by anyone;
//! - an answer the lease's verifier rejects (the offer named one) is slashable with no arbiter;
//! - any other wrong answer, found by a sampled check against a referee, is evidence for the
//!   lease's arbiter.
//!
//! What an attestation proves: that the provider answered this to that, as that workload. Not that
//! the answer is right (a check or a verifier decides), nor that a non-2xx answer or an answer
//! larger than the gateway buffers was served (those are not attested).

use std::sync::atomic::{AtomicU64, Ordering};

use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use serde::{Deserialize, Serialize};

use crate::{ReceiptDomain, ReceiptError, receipt::AnswerAttestation};

/// The bytes a request is attested (and judged by a verifier) as: `METHOD SP path-and-query LF
/// body`. What a tenant sent is what it can show; headers are left out (they carry the tenant's
/// receipts, not the question).
pub fn request_bytes(method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    [request_head(method, path_and_query).as_slice(), body].concat()
}

/// What [`request_bytes`] puts before the body: a gateway digests it, then the body as it is read.
pub fn request_head(method: &str, path_and_query: &str) -> Vec<u8> {
    format!("{method} {path_and_query}\n").into_bytes()
}

/// An attestation and the attestation key's signature, as it travels: in the
/// [`crate::wire::ATTESTATION_HEADER`] of an answer, or in the final
/// [`crate::wire::ATTESTATION_EVENT`] of an event stream, as compact JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedAnswer {
    pub lease_id: U256,
    /// Never the same twice for a lease among everything the provider attests ([`Attester`]).
    pub sequence: u64,
    pub workload: B256,
    /// keccak256 of [`request_bytes`].
    pub request_digest: B256,
    /// keccak256 of the answer's body (of an event stream: every byte before the attestation's
    /// event).
    pub response_digest: B256,
    /// Unix time the answer was complete.
    pub served_at: u64,
    /// `r || s || v`, 65 bytes, low `s`.
    pub signature: Bytes,
}

impl SignedAnswer {
    /// The EIP-712 message signed.
    pub fn attestation(&self) -> AnswerAttestation {
        AnswerAttestation {
            leaseId: self.lease_id,
            sequence: self.sequence,
            workload: self.workload,
            requestDigest: self.request_digest,
            responseDigest: self.response_digest,
            servedAt: self.served_at,
        }
    }

    /// The header (or event data) value.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an attestation serializes")
    }

    /// The attestation a header (or event data) value carries, or `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text.trim()).ok()
    }

    /// Who signed it under `domain`: the provider's attestation key if it is the provider's word.
    pub fn signer(&self, domain: &ReceiptDomain) -> Result<Address, ReceiptError> {
        domain.attestation_signer(&self.attestation(), &self.signature)
    }

    /// Whether it is about this request and this answer.
    pub fn covers(&self, request: &[u8], response: &[u8]) -> bool {
        keccak256(request) == self.request_digest && keccak256(response) == self.response_digest
    }
}

/// An event stream's body split at its final attestation event: the bytes attested, and the
/// attestation (`None` if the stream carries none).
pub fn split_event(body: &[u8]) -> (&[u8], Option<SignedAnswer>) {
    let marker = format!("event: {}\ndata: ", crate::wire::ATTESTATION_EVENT);
    let found = body.windows(marker.len()).rposition(|w| w == marker.as_bytes());
    let Some(at) = found else { return (body, None) };
    let data = std::str::from_utf8(&body[at + marker.len()..]).ok();
    (&body[..at], data.and_then(SignedAnswer::parse))
}

/// Signs the answers of one gateway process. A sequence must never repeat for a lease, or two
/// honest answers would read as equivocation. Each is the time of signing in microseconds, made
/// strictly increasing within the process, shifted left by 12 bits over the process's `replica`
/// number, which no other replica running beside it has (the gateway's book gives every start a
/// new one): a restart numbers past all it signed before (its clock is later, even if its book was
/// lost), and two replicas never share a sequence. A clock set back across a restart is the one
/// way to repeat one: keep the clock synchronized.
pub struct Attester {
    key: PrivateKeySigner,
    /// The same key for libsecp256k1 (Bitcoin Core's), which signs in a fraction of k256's time:
    /// one signature per answer served.
    secret: secp256k1::SecretKey,
    domain: ReceiptDomain,
    replica: u64,
    /// The last time (µs) a sequence was made of.
    last: AtomicU64,
}

/// Bits of a sequence that name the replica.
const REPLICA_BITS: u32 = 12;

impl Attester {
    /// Signs with `key` (the provider's registered attestation key) under `domain`, as replica
    /// `replica` (its low 12 bits count: a number no replica running beside this one has).
    pub fn new(key: PrivateKeySigner, domain: ReceiptDomain, replica: u64) -> Self {
        let secret = secp256k1::SecretKey::from_byte_array(key.to_bytes().0).expect("a valid private key is one");
        Self { key, secret, domain, replica: replica & ((1 << REPLICA_BITS) - 1), last: AtomicU64::new(0) }
    }

    /// The next sequence: now in µs, after the last one made. It never runs ahead of the clock
    /// (a second one in the same microsecond waits for the next), so a restart, however soon,
    /// numbers past it.
    fn sequence(&self) -> u64 {
        loop {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
            let last = self.last.load(Ordering::Relaxed);
            if now > last && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                return now << REPLICA_BITS | self.replica;
            }
            std::hint::spin_loop();
        }
    }

    /// The attestation key's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Attests that `lease_id`'s answer digested `response_digest` was served for the request
    /// digested `request_digest`, by `workload`, at `served_at`.
    pub fn sign(
        &self,
        lease_id: U256,
        workload: B256,
        request_digest: B256,
        response_digest: B256,
        served_at: u64,
    ) -> crate::Result<SignedAnswer> {
        let sequence = self.sequence();
        let attestation = AnswerAttestation {
            leaseId: lease_id,
            sequence,
            workload,
            requestDigest: request_digest,
            responseDigest: response_digest,
            servedAt: served_at,
        };
        let digest = self.domain.attestation_digest(&attestation);
        // Deterministic (RFC 6979) and low-s, as the market's ECDSA.tryRecover demands.
        let message = secp256k1::Message::from_digest(digest.0);
        let (id, compact) = secp256k1::SECP256K1.sign_ecdsa_recoverable(message, &self.secret).serialize_compact();
        let mut signature = [0u8; 65];
        signature[..64].copy_from_slice(&compact);
        signature[64] = 27 + i32::from(id) as u8;
        Ok(SignedAnswer {
            lease_id,
            sequence,
            workload,
            request_digest,
            response_digest,
            served_at,
            signature: signature.into(),
        })
    }
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attester").field("key", &self.key.address()).field("replica", &self.replica).finish()
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolStruct;

    use super::*;

    fn attester(replica: u64) -> Attester {
        let domain = ReceiptDomain::new(31_337, Address::repeat_byte(0x11));
        Attester::new(PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap(), domain, replica)
    }

    #[test]
    fn the_digest_is_eip712s_and_the_signature_recovers_to_the_key() {
        let a = attester(3);
        let request = request_bytes("GET", "/work/5", b"");
        assert_eq!(request, b"GET /work/5\n");
        let signed = a.sign(U256::from(9), B256::repeat_byte(1), keccak256(&request), keccak256(b"0xab"), 100).unwrap();
        let attestation = signed.attestation();
        assert_eq!(a.domain.attestation_digest(&attestation), attestation.eip712_signing_hash(&a.domain.eip712()));
        assert_eq!(signed.signer(&a.domain).unwrap(), a.address());
        // The same signature k256 makes (RFC 6979, low s): libsecp256k1 only makes it faster.
        let k256 = alloy::signers::SignerSync::sign_hash_sync(&a.key, &a.domain.attestation_digest(&attestation))
            .unwrap()
            .normalized_s();
        assert_eq!(signed.signature.as_ref(), k256.as_bytes().as_slice());
        assert!(signed.covers(&request, b"0xab"));
        assert!(!signed.covers(&request, b"0xac"));
        let moved = SignedAnswer { lease_id: U256::from(10), ..signed.clone() };
        assert_ne!(moved.signer(&a.domain).unwrap(), a.address(), "the lease is part of what is signed");
        assert_eq!(SignedAnswer::parse(&signed.to_json()), Some(signed));
    }

    #[test]
    fn sequences_never_repeat_across_replicas_and_restarts() {
        let (first, second) = (attester(1), attester(2));
        let mut seen = std::collections::HashSet::new();
        let mut last = 0;
        for _ in 0..10_000 {
            let (a, b) = (first.sequence(), second.sequence());
            assert!(a > last, "a replica's sequences increase");
            last = a;
            assert_eq!((a & 0xfff, b & 0xfff), (1, 2));
            assert!(seen.insert(a) && seen.insert(b), "no sequence repeats");
        }
        // A restart (a new attester) numbers past everything the one before signed.
        assert!(attester(1).sequence() > last);
    }
}
