//! Provider metadata, checked: a provider registers a metadata URI and the keccak-256 hash of its
//! attributes document on chain; the indexer fetches the document and keeps it only if it hashes
//! to that value, so the attributes the console and the API show are either the ones the provider
//! committed to (`verified`) or marked as not matching. The chain holds only the hash: without
//! this, attributes are a hash nobody can read, or a document nobody checked.
//!
//! The URI is chosen by a stranger (anyone can register), so fetching it is bounded and fenced:
//! `http(s)://` to public addresses only (unless the operator allows private ones, as the devnet
//! does), no redirects, 5 s, 64 KiB; `data:` URIs carry the document themselves; `ipfs://` goes
//! through the operator's gateway if one is configured. Checks are repeated every 6 hours (a
//! document can change after it was checked), and after a failure with a backoff.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{B256, keccak256};
use futures_util::StreamExt;
use serde::Serialize;
use sqlx::Row;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::{Result, ingest::Notice, store::Store};

/// A metadata document, at most.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// Providers checked per pass, and fetches at once.
const PER_PASS: i64 = 16;
const AT_ONCE: usize = 4;
/// When a check that reached a document (verified or not) is repeated.
const RECHECK: Duration = Duration::from_secs(6 * 3600);

/// How metadata is fetched.
#[derive(Debug, Clone)]
pub struct MetadataConfig {
    /// Allow hosts that resolve to loopback, private or link-local addresses (a devnet's).
    pub allow_private_hosts: bool,
    /// `https://gateway.example` to fetch `ipfs://CID/path` as `<gateway>/ipfs/CID/path`.
    pub ipfs_gateway: Option<String>,
    pub timeout: Duration,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self { allow_private_hosts: false, ipfs_gateway: None, timeout: Duration::from_secs(5) }
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetadataStatus {
    /// The document hashes to the on-chain attributes hash.
    Verified,
    /// A document was read, and it does not.
    Mismatch,
    /// It could not be read (yet): unreachable, refused, too large, or a scheme not served here.
    Unreachable,
}

impl MetadataStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Mismatch => "mismatch",
            Self::Unreachable => "unreachable",
        }
    }

    fn parse(word: &str) -> Self {
        match word {
            "verified" => Self::Verified,
            "mismatch" => Self::Mismatch,
            _ => Self::Unreachable,
        }
    }
}

/// A provider's metadata as last checked, for its current URI and hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Metadata {
    pub status: MetadataStatus,
    /// The document's attributes, when verified: its top-level values and those of its
    /// `attributes` object, as text.
    #[schema(value_type = Vec<Vec<String>>)]
    pub attributes: Vec<(String, String)>,
    /// What went wrong, or the hash the document had instead.
    pub detail: Option<String>,
    /// Unix seconds.
    pub checked_at: u64,
}

impl Metadata {
    /// The check of `provider`'s current URI and hash, if one was made.
    pub(crate) async fn of<'e>(
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        provider: &str,
        uri: &str,
        hash: &B256,
    ) -> Result<Option<Self>> {
        let row = sqlx::query(
            "SELECT status, document, detail, checked_at FROM provider_metadata \
             WHERE provider = $1 AND metadata_uri = $2 AND attributes_hash = $3",
        )
        .bind(provider.to_owned())
        .bind(uri.to_owned())
        .bind(hash.to_vec())
        .fetch_optional(executor)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status = MetadataStatus::parse(&row.try_get::<String, _>(0)?);
        let document: Option<String> = row.try_get(1)?;
        Ok(Some(Self {
            attributes: document.as_deref().map(attributes).unwrap_or_default(),
            status,
            detail: row.try_get(2)?,
            checked_at: row.try_get::<i64, _>(3)? as u64,
        }))
    }
}

/// A verified document's attributes: top-level scalars and the entries of an `attributes` object;
/// a document that is not a JSON object shows as its text.
fn attributes(document: &str) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match serde_json::from_str::<serde_json::Value>(document) {
        Ok(serde_json::Value::Object(top)) => {
            let mut out = Vec::new();
            for (key, value) in &top {
                match value {
                    serde_json::Value::Object(inner) if key == "attributes" => {
                        out.extend(inner.iter().map(|(k, v)| (k.clone(), text(v))))
                    }
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {}
                    scalar => out.push((key.clone(), text(scalar))),
                }
            }
            out
        }
        _ => vec![("document".into(), document.chars().take(200).collect())],
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Checks providers' metadata beside ingestion (on the writer).
#[derive(Debug)]
pub struct MetadataChecker {
    store: Store,
    config: MetadataConfig,
}

impl MetadataChecker {
    pub fn new(store: Store, config: MetadataConfig) -> Self {
        Self { store, config }
    }

    /// Checks what is due, then waits for a registration or update (or 5 s), forever.
    pub async fn run(self, mut notices: broadcast::Receiver<Notice>) {
        loop {
            match self.check_due().await {
                Ok(n) if n as i64 == PER_PASS => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "checking provider metadata failed; trying again"),
            }
            tokio::select! {
                _ = notices.recv() => { while notices.try_recv().is_ok() {} }
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// One pass: the providers never checked for their current URI and hash, or due again.
    pub async fn check_due(&self) -> Result<usize> {
        let due = sqlx::query(
            "SELECT p.address, p.metadata_uri, p.attributes_hash, COALESCE(m.failures, 0) FROM providers p \
             LEFT JOIN provider_metadata m ON m.provider = p.address \
             WHERE m.provider IS NULL OR m.metadata_uri <> p.metadata_uri OR m.attributes_hash <> p.attributes_hash \
             OR m.next_check_at <= $1 ORDER BY p.address LIMIT $2",
        )
        .bind(now() as i64)
        .bind(PER_PASS)
        .fetch_all(self.store.pool())
        .await?;
        let due: Vec<(String, String, Vec<u8>, i64)> = due
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        let count = due.len();
        let checked: Vec<_> = futures_util::stream::iter(due)
            .map(|(provider, uri, hash, failures)| async move {
                let expected = B256::try_from(hash.as_slice()).unwrap_or_default();
                let outcome = match self.fetch(&uri).await {
                    Ok(document) => {
                        let got = keccak256(&document);
                        if got == expected {
                            (MetadataStatus::Verified, Some(String::from_utf8_lossy(&document).into_owned()), None)
                        } else {
                            let detail =
                                format!("the document at the URI hashes to {got}, not the registered {expected}");
                            (MetadataStatus::Mismatch, None, Some(detail))
                        }
                    }
                    Err(why) => (MetadataStatus::Unreachable, None, Some(why)),
                };
                (provider, uri, hash, failures, outcome)
            })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        for (provider, uri, hash, failures, (status, document, detail)) in checked {
            let failures = if status == MetadataStatus::Unreachable { failures + 1 } else { 0 };
            // Unreachable: again after 30 s, doubling to 6 hours.
            let pause = if failures == 0 { RECHECK } else { Duration::from_secs(30 << failures.min(10)).min(RECHECK) };
            let at = now();
            sqlx::query(
                "INSERT INTO provider_metadata (provider, metadata_uri, attributes_hash, status, document, detail, \
                 checked_at, failures, next_check_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (provider) DO UPDATE SET metadata_uri = excluded.metadata_uri, \
                 attributes_hash = excluded.attributes_hash, status = excluded.status, document = excluded.document, \
                 detail = excluded.detail, checked_at = excluded.checked_at, failures = excluded.failures, \
                 next_check_at = excluded.next_check_at",
            )
            .bind(provider)
            .bind(uri)
            .bind(hash)
            .bind(status.as_str())
            .bind(document)
            .bind(detail)
            .bind(at as i64)
            .bind(failures)
            .bind((at + pause.as_secs()) as i64)
            .execute(self.store.pool())
            .await?;
        }
        Ok(count)
    }

    /// The document at `uri`, or why it could not be read.
    async fn fetch(&self, uri: &str) -> std::result::Result<Vec<u8>, String> {
        if let Some(data) = uri.strip_prefix("data:") {
            return data_uri(data);
        }
        let url = match uri.strip_prefix("ipfs://") {
            Some(path) => match &self.config.ipfs_gateway {
                Some(gateway) => format!("{}/ipfs/{path}", gateway.trim_end_matches('/')),
                None => return Err("an ipfs:// URI, and this indexer has no IPFS gateway (--ipfs-gateway)".into()),
            },
            None => uri.to_owned(),
        };
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("a {}: URI; only http(s), ipfs and data URIs are read", parsed.scheme()));
        }
        let host = parsed.host_str().ok_or("a URL without a host")?.trim_matches(['[', ']']).to_owned();
        let port = parsed.port_or_known_default().unwrap_or(80);
        // Resolved once and pinned: what was checked is what is connected to.
        let addresses: Vec<SocketAddr> =
            tokio::time::timeout(self.config.timeout, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| format!("resolving {host} took longer than {:?}", self.config.timeout))?
                .map_err(|e| format!("resolving {host}: {e}"))?
                .collect();
        let address = *addresses.first().ok_or_else(|| format!("{host} resolves to no address"))?;
        if !self.config.allow_private_hosts && addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(format!("{host} resolves to a private address, which this indexer does not fetch"));
        }
        let client = reqwest::Client::builder()
            .timeout(self.config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the host itself, past the check above.
            .no_proxy()
            .resolve(&host, address)
            .user_agent(concat!("openlease-indexer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let mut response = client.get(parsed).send().await.map_err(|e| format!("fetching: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the server answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading: {e}"))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(format!("the document is larger than {MAX_DOCUMENT} bytes"));
            }
        }
        Ok(body)
    }
}

/// A `data:` URI's bytes (`[<type>][;base64],<data>`).
fn data_uri(data: &str) -> std::result::Result<Vec<u8>, String> {
    use base64::Engine;
    let (head, payload) = data.split_once(',').ok_or("a data: URI without a comma")?;
    let bytes = if head.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| format!("a data: URI whose base64 does not decode: {e}"))?
    } else {
        if payload
            .split('%')
            .skip(1)
            .any(|rest| rest.len() < 2 || !rest.is_char_boundary(2) || u8::from_str_radix(&rest[..2], 16).is_err())
        {
            return Err("a data: URI with a malformed %-escape".into());
        }
        percent_encoding::percent_decode_str(payload).collect()
    };
    if bytes.len() > MAX_DOCUMENT {
        return Err(format!("the document is larger than {MAX_DOCUMENT} bytes"));
    }
    Ok(bytes)
}

/// An address anyone on the internet could reach: not loopback, private, link-local, unique
/// local, unspecified or multicast (a metadata URI must not make the indexer probe its own network).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a == 100 && (b & 0xc0) == 64
                || a == 198 && (b & 0xfe) == 18
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // IPv4 carried in IPv6 (mapped, compatible, NAT64, 6to4) is judged as that IPv4.
            let embedded = if s[..6] == [0, 0, 0, 0, 0, 0xffff] || s[..6] == [0; 6] {
                v6.to_ipv4()
            } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                Some(std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
            } else if s[0] == 0x2002 {
                Some(std::net::Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8))
            } else {
                None
            };
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || embedded.is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{attributes, data_uri, is_public};

    #[test]
    fn data_uris_carry_their_document() {
        assert_eq!(data_uri("application/json,%7B%22a%22%3A1%7D").unwrap(), br#"{"a":1}"#);
        assert_eq!(data_uri("application/json;base64,eyJhIjoxfQ==").unwrap(), br#"{"a":1}"#);
        assert!(data_uri("no comma").is_err());
        assert!(data_uri("text/plain,%zz").is_err());
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "::10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn attributes_are_the_documents_scalars() {
        let shown = attributes(r#"{"name":"p1","attributes":{"gpu":"a100","vcpu":32},"tags":["x"]}"#);
        let expected = [("gpu", "a100"), ("vcpu", "32"), ("name", "p1")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(shown, expected);
        assert_eq!(attributes("gpu:a100"), [("document".to_owned(), "gpu:a100".to_owned())]);
    }
}
