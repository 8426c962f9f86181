//! The HTTP wire format between a tenant and a provider's gateway.
//!
//! A request names its lease in [`LEASE_HEADER`] (decimal id) and proves that it comes from the
//! lease's tenant (or a session signer the tenant authorized for the lease's provider) with one of:
//! - [`RECEIPT_HEADER`]: the tenant's newest cumulative receipt, as a [`ReceiptFile`] in compact
//!   JSON (one line of ASCII: the same format as the file, so a receipt read off the wire can be
//!   saved and settled by hand);
//! - [`ACCESS_HEADER`]: an [`AccessGrant`], the signer's EIP-712 signature of
//!   `Access(uint256 leaseId,uint64 expiresAt)` under the market's domain (bound to the chain and
//!   the market), for requests that bring no new receipt.
//!
//! A grant is a bearer credential until it expires: the gateway checks its signature once and then
//! only its lease, its expiry and that its signer is still authorized, so a request costs no
//! signature check. What a copied grant can draw on is bounded by the lease's credit window (every
//! receipt is signed, cumulative and capped); gateways refuse grants that live longer than they
//! allow, and sessions sign short ones. A refusal is a JSON body `{"error": CODE, "message", "hint",
//! ...}` whose code is a [`RefusalCode`].

use alloy::primitives::U256;

use crate::{ReceiptDomain, ReceiptFile, ReceiptFileError, SignedReceipt};

/// Names the lease a request is served under: its id in decimal.
pub const LEASE_HEADER: &str = "openlease-lease";
/// The tenant's newest cumulative receipt: a [`ReceiptFile`] in compact JSON.
pub const RECEIPT_HEADER: &str = "openlease-receipt";
/// An [`AccessGrant`]: `leaseId.expiresAt.0x<65-byte signature>`.
pub const ACCESS_HEADER: &str = "openlease-access";
/// The provider's attestation of an answer ([`crate::SignedAnswer`], compact JSON).
pub const ATTESTATION_HEADER: &str = "openlease-attestation";
/// An event stream's final event, after the service's own, carrying its attestation (the same
/// JSON); its digest covers every byte before this event.
pub const ATTESTATION_EVENT: &str = "openlease-attestation";

/// The lease a [`LEASE_HEADER`] value names: its id in decimal digits alone (no sign, no `0x`,
/// at most 78 digits: a uint256), or `None`.
pub fn parse_lease_header(value: &str) -> Option<U256> {
    let digits = value.trim();
    if digits.is_empty() || digits.len() > 78 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(digits, 10).ok()
}

/// The [`RECEIPT_HEADER`] value carrying `signed`, a receipt of the market in `domain`.
pub fn receipt_header(domain: &ReceiptDomain, signed: &SignedReceipt) -> String {
    serde_json::to_string(&ReceiptFile::new(domain, signed)).expect("a receipt file serializes")
}

/// The receipt a [`RECEIPT_HEADER`] value carries, checked to be for the market of `domain`.
pub fn parse_receipt_header(value: &str, domain: &ReceiptDomain) -> Result<SignedReceipt, ReceiptFileError> {
    ReceiptFile::from_json(value)?.for_domain(domain)
}

/// Access to one lease's service until a time (chain time), signed by the lease's tenant or its
/// session signer ([`crate::ReceiptSigner::sign_access`]); who signed it is recovered
/// ([`ReceiptDomain::access_signer`]), never claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub lease_id: U256,
    pub expires_at: u64,
    /// `r || s || v`, low `s`, `v` 27 or 28.
    pub signature: [u8; 65],
}

impl AccessGrant {
    /// The [`ACCESS_HEADER`] value.
    pub fn header(&self) -> String {
        format!("{}.{}.{}", self.lease_id, self.expires_at, alloy::hex::encode_prefixed(self.signature))
    }

    /// The grant an [`ACCESS_HEADER`] value carries, or `None` if it is not one.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('.');
        let (lease, expires, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut bytes = [0u8; 65];
        alloy::hex::decode_to_slice(signature.strip_prefix("0x")?, &mut bytes).ok()?;
        Some(Self { lease_id: parse_lease_header(lease)?, expires_at: expires.parse().ok()?, signature: bytes })
    }
}

/// Why a gateway refused a request: the `error` of its JSON body, one word per reason, with its
/// HTTP status and whether the gateway kept the request's receipt before refusing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// No [`LEASE_HEADER`].
    LeaseRequired,
    /// The [`LEASE_HEADER`] is not a decimal id.
    MalformedLease,
    UnknownLease,
    /// The lease is another provider's.
    NotOurLease,
    /// The lease is not open or stopped running.
    LeaseEnded,
    /// Neither a receipt nor an access grant: nothing says the request is the tenant's.
    AccessRequired,
    /// The access grant does not read, is for another lease, or lives longer than the gateway allows.
    AccessInvalid,
    AccessExpired,
    MalformedReceipt,
    /// The receipt's signature is not its signer's, or is for another chain or market.
    ReceiptInvalid,
    /// The signer was never authorized for this provider, or is revoked or expired.
    SignerUnauthorized,
    SignerCapReached,
    /// The receipt claims more than accrues until its period's end.
    ReceiptPeriodTooShort,
    /// A receipt as large is held already: what the request carried is paid.
    ReceiptReplayed,
    /// The receipt claims more than the lease's escrow.
    EscrowExhausted,
    /// What is owed beyond the newest receipt passed the credit window.
    PaymentRequired,
    /// What is unsettled passed the provider's limit and could not be settled yet.
    SettlementPending,
    BookUnavailable,
    ChainUnavailable,
    /// The service behind the gateway did not answer.
    UpstreamUnavailable,
    /// The service behind the gateway failed in the middle of its answer: the final event of a
    /// stream of server-sent events (any other answer is broken off).
    UpstreamFailed,
    BodyTooLarge,
    /// The request body broke off before its end.
    BodyUnreadable,
    /// The client stayed silent in the middle of the request body.
    BodyTimeout,
    HeadersTooLarge,
}

impl RefusalCode {
    /// Every code.
    pub const ALL: [Self; 25] = [
        Self::LeaseRequired,
        Self::MalformedLease,
        Self::UnknownLease,
        Self::NotOurLease,
        Self::LeaseEnded,
        Self::AccessRequired,
        Self::AccessInvalid,
        Self::AccessExpired,
        Self::MalformedReceipt,
        Self::ReceiptInvalid,
        Self::SignerUnauthorized,
        Self::SignerCapReached,
        Self::ReceiptPeriodTooShort,
        Self::ReceiptReplayed,
        Self::EscrowExhausted,
        Self::PaymentRequired,
        Self::SettlementPending,
        Self::BookUnavailable,
        Self::ChainUnavailable,
        Self::UpstreamUnavailable,
        Self::UpstreamFailed,
        Self::BodyTooLarge,
        Self::BodyUnreadable,
        Self::BodyTimeout,
        Self::HeadersTooLarge,
    ];

    /// The word in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaseRequired => "lease_required",
            Self::MalformedLease => "malformed_lease",
            Self::UnknownLease => "unknown_lease",
            Self::NotOurLease => "not_our_lease",
            Self::LeaseEnded => "lease_ended",
            Self::AccessRequired => "access_required",
            Self::AccessInvalid => "access_invalid",
            Self::AccessExpired => "access_expired",
            Self::MalformedReceipt => "malformed_receipt",
            Self::ReceiptInvalid => "receipt_invalid",
            Self::SignerUnauthorized => "signer_unauthorized",
            Self::SignerCapReached => "signer_cap_reached",
            Self::ReceiptPeriodTooShort => "receipt_period_too_short",
            Self::ReceiptReplayed => "receipt_replayed",
            Self::EscrowExhausted => "escrow_exhausted",
            Self::PaymentRequired => "payment_required",
            Self::SettlementPending => "settlement_pending",
            Self::BookUnavailable => "book_unavailable",
            Self::ChainUnavailable => "chain_unavailable",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamFailed => "upstream_failed",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyUnreadable => "body_unreadable",
            Self::BodyTimeout => "body_timeout",
            Self::HeadersTooLarge => "headers_too_large",
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::LeaseRequired
            | Self::MalformedLease
            | Self::MalformedReceipt
            | Self::ReceiptPeriodTooShort
            | Self::BodyUnreadable => 400,
            Self::AccessRequired
            | Self::AccessInvalid
            | Self::AccessExpired
            | Self::ReceiptInvalid
            | Self::SignerUnauthorized => 401,
            Self::SignerCapReached | Self::EscrowExhausted | Self::PaymentRequired => 402,
            Self::NotOurLease => 403,
            Self::UnknownLease => 404,
            Self::ReceiptReplayed => 409,
            Self::BodyTimeout => 408,
            Self::LeaseEnded => 410,
            Self::BodyTooLarge => 413,
            Self::HeadersTooLarge => 431,
            Self::UpstreamUnavailable | Self::UpstreamFailed => 502,
            Self::SettlementPending | Self::BookUnavailable | Self::ChainUnavailable => 503,
        }
    }

    /// Whether the gateway holds the request's receipt (or one as large) despite the refusal: it
    /// kept it before checking credit, before settling past its exposure limit, before reading
    /// the body or before the service behind it failed, or it held one as large already. The
    /// tenant's attestation stands; any other refusal kept nothing. (`body_too_large` comes before
    /// admission for a body that states its length, after it for a chunked one, whose receipt
    /// the next request finds held: `receipt_replayed`.)
    pub fn keeps_receipt(self) -> bool {
        matches!(
            self,
            Self::ReceiptReplayed
                | Self::PaymentRequired
                | Self::SettlementPending
                | Self::UpstreamUnavailable
                | Self::UpstreamFailed
                | Self::BodyUnreadable
                | Self::BodyTimeout
        )
    }

    /// The code a refusal's JSON body names, if it is a gateway refusal this SDK knows.
    pub fn of_body(body: &[u8]) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Body {
            error: RefusalCode,
        }
        serde_json::from_slice::<Body>(body).ok().map(|b| b.error)
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;
    use crate::ReceiptSigner;

    #[test]
    fn a_lease_header_is_a_decimal_id_and_nothing_else() {
        assert_eq!(parse_lease_header("13"), Some(U256::from(13)));
        assert_eq!(parse_lease_header(" 7 "), Some(U256::from(7)));
        for bad in ["", "0x1", "0X1", "+1", "-1", "1e3", "1_000", "１"] {
            assert_eq!(parse_lease_header(bad), None, "{bad:?}");
        }
        assert_eq!(parse_lease_header(&U256::MAX.to_string()), Some(U256::MAX));
        assert_eq!(parse_lease_header(&"9".repeat(78)), None, "past a uint256");
        assert_eq!(parse_lease_header(&"9".repeat(79)), None);
    }

    #[test]
    fn an_access_header_reads_back_and_nothing_else_reads() {
        let domain = ReceiptDomain::new(31337, alloy::primitives::Address::repeat_byte(1));
        let grant = ReceiptSigner::new(PrivateKeySigner::random(), domain).sign_access(U256::from(13), 99).unwrap();
        let header = grant.header();
        assert_eq!(AccessGrant::parse(&header), Some(grant.clone()));
        let signature = alloy::hex::encode_prefixed(grant.signature);
        for bad in [
            String::new(),
            format!("13.99.{}", &signature[2..]),
            format!("0x13.99.{signature}"),
            format!("13.-1.{signature}"),
            format!("13.99.{signature}00"),
            format!("13.99.{signature}.1"),
            format!("13..{signature}"),
        ] {
            assert_eq!(AccessGrant::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_refusal_code_reads_back_from_its_word() {
        for code in RefusalCode::ALL {
            let body = format!(r#"{{"error":"{code}","message":"m","hint":"h","due":"1"}}"#);
            assert_eq!(RefusalCode::of_body(body.as_bytes()), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!((400..600).contains(&code.status()));
        }
        assert_eq!(RefusalCode::of_body(br#"{"error":"nonsense"}"#), None);
    }
}
