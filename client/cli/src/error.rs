//! The CLI's errors: what was wrong and, where there is one, what to do about it. SDK errors are
//! turned into these with the market's typed reverts spelled out in the marketplace's words.

use std::{fmt, sync::OnceLock};

use alloy::{
    primitives::{Address, U256},
    transports::{RpcError, TransportErrorKind},
};
use openlease_client::{
    Error as SdkError, Manifest, OpenleaseErrors, ReceiptError, StablecoinEntry, error::TransportFailure,
    format_units,
};

/// `Result` with the CLI's [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// The node's URL, for errors that happen deep inside a call.
static RPC_URL: OnceLock<String> = OnceLock::new();

/// The market's stablecoins, for reverts that name a token but give raw units.
static STABLECOINS: OnceLock<Vec<StablecoinEntry>> = OnceLock::new();

/// Remembers the node's URL for [`CliError`]'s messages (which only ever show it redacted).
pub(crate) fn set_rpc_url(url: &str) {
    let _ = RPC_URL.set(url.to_string());
}

/// Remembers the market's stablecoins, to show the amounts of its reverts in token units.
pub(crate) fn set_manifest(manifest: &Manifest) {
    let _ = STABLECOINS.set(manifest.stablecoins.clone());
}

/// `raw` in `coin`'s units (`12.5 USDC`), or as raw units when the token is not known.
fn in_units(raw: U256, coin: Option<&StablecoinEntry>) -> String {
    match coin {
        Some(coin) => format!("{} {}", format_units(raw, coin.decimals), coin.symbol),
        None => format!("{raw} raw units"),
    }
}

/// The market's stablecoin at `token`, or `fallback` if it is that token.
fn known_coin(token: Address, fallback: Option<&StablecoinEntry>) -> Option<&StablecoinEntry> {
    STABLECOINS
        .get()
        .and_then(|coins| coins.iter().find(|c| c.address == token))
        .or(fallback.filter(|c| c.address == token))
}

/// Something went wrong: what, and what to do.
#[derive(Debug)]
pub(crate) struct CliError {
    /// What was wrong.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) hint: Option<String>,
}

impl CliError {
    /// An error without a hint.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None }
    }

    /// An error with a hint.
    pub(crate) fn hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { message: message.into(), hint: Some(hint.into()) }
    }

    /// `context: message`.
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// Builds an error and returns it: `bail!("..")` or `bail!(hint = "..", "..")`.
macro_rules! bail {
    (hint = $hint:expr, $($arg:tt)+) => {
        return Err($crate::error::CliError::hint(format!($($arg)+), $hint))
    };
    ($($arg:tt)+) => {
        return Err($crate::error::CliError::new(format!($($arg)+)))
    };
}
pub(crate) use bail;

/// The node at `url` could not be reached.
pub(crate) fn unreachable(url: &str, cause: impl fmt::Display) -> CliError {
    CliError::hint(
        format!("cannot reach the node at {}: {}", redact(url), redact_urls(&cause.to_string())),
        "is the node running? `make devnet` starts one on http://127.0.0.1:8545; or pass --rpc-url",
    )
}

/// An RPC failure talking to the node at `url`: unreachable only when the connection itself
/// failed; a JSON-RPC error reply is the node's own message, with a hint for the common ones.
pub(crate) fn rpc_failure(url: &str, error: &TransportFailure) -> CliError {
    let node = redact(url);
    match error {
        RpcError::Transport(TransportErrorKind::HttpError(http))
        | RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter { error: http, .. }) => {
            let hint = match http.status {
                401 | 403 => "the node refused the credentials: check the API key in --rpc-url",
                429 => "the node is rate limiting this key: retry later or use another node",
                _ => "check --rpc-url; the node may be down or behind a proxy that refuses JSON-RPC",
            };
            let body = http.body.trim();
            let body = if body.is_empty() { String::new() } else { format!(": {}", excerpt(body)) };
            CliError::hint(format!("the node at {node} answered HTTP {}{}", http.status, redact_urls(&body)), hint)
        }
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::Custom(_) | TransportErrorKind::NonRetryable(_) | TransportErrorKind::BackendGone => {
                unreachable(url, kind)
            }
            other => CliError::new(format!("RPC error from the node at {node}: {}", redact_urls(&other.to_string()))),
        },
        RpcError::ErrorResp(payload) => {
            let message = redact_urls(&payload.message);
            let lower = message.to_lowercase();
            let hint = if lower.contains("insufficient funds") {
                Some("the account has too little ETH to pay for gas: fund it (on a devnet, from one of anvil's accounts)")
            } else if is_log_range_limit(&lower) {
                Some("the node limits eth_getLogs ranges; use the indexer API or a node without that limit")
            } else if lower.contains("nonce") {
                Some("another transaction of this account is pending or was sent elsewhere: wait for it, then retry")
            } else {
                None
            };
            let error = CliError::new(format!("the node at {node} refused the request: {message} (code {})", payload.code));
            CliError { hint: hint.map(String::from), ..error }
        }
        RpcError::DeserError { err, .. } => CliError::hint(
            format!("the node at {node} answered something that is not JSON-RPC: {err}"),
            "check that --rpc-url is a JSON-RPC endpoint",
        ),
        other => CliError::new(format!("RPC error from the node at {node}: {}", redact_urls(&other.to_string()))),
    }
}

/// Whether a node's error message (lowercased) is one of the common wordings of a limit on
/// `eth_getLogs`: a block range too large, too many results, a response too big.
fn is_log_range_limit(message: &str) -> bool {
    let range = message.contains("range") && ["block", "exceed", "too large", "too big", "limit", "max"]
        .iter()
        .any(|w| message.contains(w));
    let results = message.contains("more than") && (message.contains("results") || message.contains("logs"));
    range || results || message.contains("response size") || message.contains("too many logs")
}

/// At most the first 200 characters of a reply body, on one line.
fn excerpt(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// A node URL without what may be secret: only `scheme://host:port` stays; a user and password,
/// the path (where hosted nodes put their API key), the query and the fragment go. Text that is
/// not a URL is returned as it is.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}")
}

/// `text` with every `http(s)://` and `ws(s)://` URL in it [`redact`]ed: error texts (reqwest's
/// among them) repeat the URL they failed on.
pub(crate) fn redact_urls(text: &str) -> String {
    const SCHEMES: [&str; 4] = ["http://", "https://", "ws://", "wss://"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = SCHEMES
            .iter()
            .filter_map(|scheme| rest.to_ascii_lowercase().find(scheme))
            .min();
        let Some(start) = next else { break };
        out.push_str(&rest[..start]);
        let url_len = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ',' | ']'))
            .unwrap_or(rest.len() - start);
        out.push_str(&redact(&rest[start..start + url_len]));
        rest = &rest[start + url_len..];
    }
    out.push_str(rest);
    out
}

impl From<SdkError> for CliError {
    fn from(error: SdkError) -> Self {
        match &error {
            SdkError::Transport(e) => rpc_failure(RPC_URL.get().map_or("the RPC URL", String::as_str), e),
            SdkError::UnknownLease { lease_id, .. } => CliError::hint(
                format!("lease {lease_id} does not exist on this market"),
                "check the id: `openlease lease list` shows your leases",
            ),
            SdkError::WrongChain { manifest, node } => CliError::hint(
                error.to_string(),
                format!("point --rpc-url at a node of chain {manifest}, or use the manifest of chain {node}"),
            ),
            SdkError::Market(revert) => market(revert, None),
            SdkError::Receipt(refused) => receipt(refused),
            SdkError::ExposureExceedsEscrow { .. } => {
                CliError::hint(error.to_string(), "settle with `openlease settle`, or ask the tenant to top up")
            }
            _ => CliError::new(redact_urls(&error.to_string())),
        }
    }
}

impl CliError {
    /// An SDK error of a call about `coin` (an offer's or a lease's token): the market's reverts
    /// that carry amounts but not their token are shown in `coin`'s units.
    pub(crate) fn in_token(error: SdkError, coin: &StablecoinEntry) -> Self {
        match &error {
            SdkError::Market(revert) => market(revert, Some(coin)),
            _ => error.into(),
        }
    }
}

impl From<openlease_client::AmountError> for CliError {
    fn from(error: openlease_client::AmountError) -> Self {
        CliError::hint(error.to_string(), "write amounts in token units, like `12.5 USDC`")
    }
}

/// A market revert: its meaning and what to do. `coin` is the token of the offer or lease the
/// call was about, for the reverts whose amounts do not say their token.
fn market(revert: &OpenleaseErrors, coin: Option<&StablecoinEntry>) -> CliError {
    use OpenleaseErrors as E;
    let per_second = |raw: U256| format!("{} per second", in_units(raw, coin));
    let duration = |seconds: U256| crate::units::format_duration(seconds.saturating_to());
    let (message, hint): (String, &str) = match revert {
        E::OpenleaseProviderNotRegistered(e) => (
            format!("{} is not a registered provider", e.provider),
            "register first: `openlease provider register --endpoint URL --region REGION`",
        ),
        E::OpenleaseProviderAlreadyRegistered(e) => (
            format!("{} is already a registered provider", e.provider),
            "change the profile with `openlease provider update`",
        ),
        E::OpenleaseInsufficientFreeStake(e) => (
            match known_coin(e.token, coin) {
                Some(coin) => format!(
                    "provider {} has not enough free stake: {} free, {} needed",
                    e.provider,
                    in_units(e.free, Some(coin)),
                    in_units(e.needed, Some(coin))
                ),
                None => format!(
                    "provider {} has not enough free stake: {} free, {} needed (of token {})",
                    e.provider, e.free, e.needed, e.token
                ),
            },
            "the provider stakes more (`openlease provider stake`) or waits for bonds to be released; \
             a tenant picks another offer (`openlease offer list`)",
        ),
        E::OpenleaseNothingThawing(e) => (
            format!("no stake of token {} is thawing", e.token),
            "start the unbonding first: `openlease provider unstake AMOUNT`",
        ),
        E::OpenleaseStillThawing(e) => (
            format!("the stake is still thawing until {}", crate::units::format_time(e.thawEndsAt.to::<u64>())),
            "withdraw after the unbonding period; `openlease status` shows when",
        ),
        E::OpenleaseNothingToClaim(e) => {
            (format!("nothing to claim in token {}", e.token), "`openlease status` shows what is claimable")
        }
        E::OpenleaseTokenNotAllowed(e) => (
            format!("token {} is not allowed on this market", e.token),
            "use one of the stablecoins `openlease token list` shows",
        ),
        E::OpenleaseUnknownOffer(e) => {
            (format!("offer {} does not exist", e.offerId), "`openlease offer list` shows the offers")
        }
        E::OpenleaseNotOfferProvider(e) => {
            (format!("offer {} is not {}'s", e.offerId, e.caller), "only the offer's provider can change it")
        }
        E::OpenleaseInvalidOfferTerms(e) => (
            format!(
                "invalid offer terms: price {}, duration {} to {}, notice {}, capacity {}",
                per_second(e.pricePerSecond),
                duration(e.minDuration),
                duration(e.maxDuration),
                duration(e.noticePeriod),
                e.capacity
            ),
            "the price and capacity must be positive, the minimum duration at most the maximum, and the notice \
             period at least 1 h (every lease locks a bond) and at most the maximum duration",
        ),
        E::OpenleaseOfferPaused(e) => (format!("offer {} is paused", e.offerId), "pick another offer"),
        E::OpenleaseOfferAtCapacity(e) => {
            (format!("offer {} is at capacity ({} leases)", e.offerId, e.capacity), "pick another offer")
        }
        E::OpenleaseTermsChanged(e) => (
            format!("offer {}'s terms changed since they were read (terms hash {} now)", e.offerId, e.current),
            "nothing was paid; check the new terms with `openlease offer show` and open again if you accept them",
        ),
        E::OpenleaseTokenMismatch(e) => (
            format!("offer {} is paid in {}, not in the lease's {}", e.offerId, e.token, e.leaseToken),
            "fail over to an offer in the same token",
        ),
        E::OpenleaseNotInArrears(e) => (
            format!(
                "lease {}'s tenant is not in arrears: {} settled of {} due",
                e.leaseId,
                in_units(e.settled, coin),
                in_units(e.due, coin)
            ),
            "only a lease unpaid for longer than the payment grace can be evicted; give notice with `openlease lease close`",
        ),
        E::OpenleaseDurationOutOfRange(e) => (
            format!(
                "a duration of {} is outside the offer's {} to {}",
                duration(e.duration),
                duration(e.minDuration),
                duration(e.maxDuration)
            ),
            "pick a --duration within the offer's bounds (`openlease offer show`)",
        ),
        E::OpenleaseDepositTooSmall(e) => (
            format!(
                "a deposit of {} is below the {} required",
                in_units(e.deposit, coin),
                in_units(e.required, coin)
            ),
            "the deposit must pay for at least the offer's minimum duration",
        ),
        E::OpenleaseUnknownLease(e) => (
            format!("lease {} does not exist on this market", e.leaseId),
            "check the id: `openlease lease list` shows your leases",
        ),
        E::OpenleaseNotTenant(e) => {
            (format!("{} is not the tenant of lease {}", e.caller, e.leaseId), "use the tenant's key")
        }
        E::OpenleaseNotLeaseParty(e) => (
            format!("{} is neither the tenant nor the provider of lease {}", e.caller, e.leaseId),
            "use the tenant's or the provider's key",
        ),
        E::OpenleaseNotLeaseProvider(e) => {
            (format!("{} is not the provider of lease {}", e.caller, e.leaseId), "use the provider's key")
        }
        E::OpenleaseLeaseEnded(e) => (
            format!("lease {} ended at {}", e.leaseId, crate::units::format_time(e.endedAt.to::<u64>())),
            "an ended lease can only be settled and then finalized",
        ),
        E::OpenleaseLeaseFinalized(e) => {
            (format!("lease {} is already finalized", e.leaseId), "claim what it paid with `openlease claim`")
        }
        E::OpenleaseSettlementWindowOpen(e) => (
            format!(
                "lease {}'s settlement window is open until {}",
                e.leaseId,
                crate::units::format_time(e.windowEndsAt.to::<u64>())
            ),
            "finalize after the window; `openlease lease show` says when",
        ),
        E::OpenleaseInvalidSignerTerms(e) => (
            format!("invalid signer terms: cap {}, expiry {}", e.cap, e.expiresAt),
            "the cap must be positive and the expiry in the future",
        ),
        E::OpenleaseUnknownSigner(e) => (
            format!("{} is not a signer of tenant {}", e.signer, e.tenant),
            "authorize it first: `openlease signer authorize`",
        ),
        E::OpenleaseSettlementFailed(e) => {
            let why = match openlease_client::SettlementResult::try_from(e.result) {
                Ok(result) => crate::receipts::describe_result(result),
                Err(unknown) => unknown.to_string(),
            };
            (
                format!("lease {}: the receipt pays nothing: {why}", e.leaseId),
                "check the receipt with `openlease receipt verify`",
            )
        }
        E::OpenleaseDisputeExists(e) => {
            (format!("lease {} already has a dispute", e.leaseId), "`openlease dispute show` shows it")
        }
        E::OpenleaseNoOpenDispute(e) => {
            (format!("lease {} has no open dispute", e.leaseId), "`openlease dispute show` shows its state")
        }
        E::OpenleaseDisputeOpen(e) => (
            format!("lease {} has a dispute open until {}", e.leaseId, crate::units::format_time(e.deadline.to::<u64>())),
            "wait for the arbiter's ruling or the deadline (`openlease dispute expire`)",
        ),
        E::OpenleaseDisputeDeadlinePassed(e) => (
            format!("the dispute on lease {} passed its deadline", e.leaseId),
            "anyone can now expire it: `openlease dispute expire`",
        ),
        E::OpenleaseDisputeDeadlineNotReached(e) => (
            format!(
                "the dispute on lease {} runs until {}",
                e.leaseId,
                crate::units::format_time(e.deadline.to::<u64>())
            ),
            "wait for the deadline",
        ),
        E::OpenleaseDisputeWindowClosed(e) => (
            format!("lease {} can no longer be disputed", e.leaseId),
            "a dispute must be opened before the settlement deadline",
        ),
        E::OpenleaseSlashTooLarge(e) => (
            format!("a slash of {} bps exceeds the maximum {} bps", e.slashBps, e.maxSlashBps),
            "rule within the market's maximum",
        ),
        E::OpenleaseNotArbiter(e) => (
            format!("{} is not the arbiter of lease {} (its arbiter is {})", e.caller, e.leaseId, e.arbiter),
            "use the arbiter's key: a lease keeps the arbiter in force when it opened",
        ),
        E::OpenleaseArbiterIsParty(e) => (
            format!("the arbiter {} is a party to lease {}", e.arbiter, e.leaseId),
            "an arbiter cannot rule its own dispute; let the dispute expire (`openlease dispute expire`)",
        ),
        E::OpenleaseZeroAmount(_) => ("the amount is zero".into(), "give a positive amount"),
        other => (format!("the market reverted: {other:?}"), "see IOpenleaseErrors.sol for its meaning"),
    };
    CliError::hint(message, hint)
}

/// A receipt refusal: its meaning and what to do.
fn receipt(refused: &ReceiptError) -> CliError {
    let hint = match refused {
        ReceiptError::SignerNotAuthorized { .. } => "the tenant authorizes it with `openlease signer authorize`",
        ReceiptError::SignerRevoked { .. } | ReceiptError::SignerExpired { .. } => {
            "the tenant must authorize a signer again; this receipt cannot be settled"
        }
        ReceiptError::OverCap { .. } => "the tenant can raise the cap with `openlease signer authorize`",
        ReceiptError::NotIncreasing { .. } => "the market already settled this much; nothing to settle",
        _ => "the receipt was altered or signed for another chain, market or key; ask for a new one",
    };
    CliError::hint(format!("receipt refused: {refused}"), hint)
}

#[cfg(test)]
mod tests {
    use alloy::rpc::json_rpc::ErrorPayload;

    use super::*;

    #[test]
    fn node_urls_keep_only_scheme_host_and_port() {
        assert_eq!(redact("https://eth-mainnet.g.alchemy.com/v2/SECRETKEY"), "https://eth-mainnet.g.alchemy.com");
        assert_eq!(redact("http://user:pass@node.example:8545/path?key=SECRET#x"), "http://node.example:8545");
        assert_eq!(redact("wss://mainnet.infura.io/ws/v3/SECRET"), "wss://mainnet.infura.io");
        assert_eq!(redact("http://[::1]:8545"), "http://[::1]:8545");
        assert_eq!(redact("http://127.0.0.1:8545/"), "http://127.0.0.1:8545");
        assert_eq!(redact("/tmp/anvil.ipc"), "/tmp/anvil.ipc");

        let cause = "error sending request for url (https://u:SECRET@rpc.example/v2/KEY): connection refused; \
                     retried WSS://rpc.example/KEY2, \"http://h:1/KEY3\"";
        let redacted = redact_urls(cause);
        for secret in ["SECRET", "KEY", "KEY2", "KEY3"] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        assert!(redacted.contains("(https://rpc.example): connection refused"), "{redacted}");
        assert!(redacted.contains("\"http://h:1\""), "{redacted}");
        assert_eq!(redact_urls("no URL here"), "no URL here");
    }

    fn error_reply(code: i64, message: &'static str) -> TransportFailure {
        RpcError::ErrorResp(ErrorPayload { code, message: message.into(), data: None })
    }

    #[test]
    fn only_a_failed_connection_is_called_unreachable() {
        let url = "https://user:pw@rpc.example/v2/APIKEY";
        let refused = TransportErrorKind::custom_str("error sending request for url (https://user:pw@rpc.example/v2/APIKEY)");
        let down = rpc_failure(url, &refused);
        assert!(down.message.starts_with("cannot reach the node at https://rpc.example: "), "{down}");
        assert!(down.hint.as_deref().unwrap().contains("is the node running?"), "{down}");
        assert!(!down.to_string().contains("APIKEY") && !down.to_string().contains("pw@"), "{down}");

        let gas = rpc_failure(url, &error_reply(-32000, "insufficient funds for gas * price + value"));
        assert_eq!(
            gas.message,
            "the node at https://rpc.example refused the request: insufficient funds for gas * price + value (code -32000)"
        );
        assert!(gas.hint.as_deref().unwrap().contains("too little ETH"), "{gas}");

        for limit in [
            "query exceeds max block range 1000",
            "eth_getLogs is limited to a 10,000 range",
            "query returned more than 10000 results",
            "Log response size exceeded.",
        ] {
            let logs = rpc_failure(url, &error_reply(-32005, limit));
            assert!(logs.message.contains(limit), "{logs}");
            assert_eq!(
                logs.hint.as_deref(),
                Some("the node limits eth_getLogs ranges; use the indexer API or a node without that limit"),
                "{limit}"
            );
        }
        let nonce = rpc_failure(url, &error_reply(-32003, "nonce too low"));
        assert!(nonce.hint.as_deref().unwrap().contains("pending"), "{nonce}");

        let unauthorized = rpc_failure(url, &TransportErrorKind::http_error(401, "invalid API key".into()));
        assert_eq!(unauthorized.message, "the node at https://rpc.example answered HTTP 401: invalid API key");
        assert!(unauthorized.hint.as_deref().unwrap().contains("API key"), "{unauthorized}");
    }

    #[test]
    fn reverts_show_amounts_in_the_token_of_the_call() {
        use openlease_contracts::Openlease::{OpenleaseDepositTooSmall, OpenleaseNotInArrears};
        let usdc = StablecoinEntry { symbol: "USDC".into(), address: Address::repeat_byte(1), decimals: 6 };
        let small = OpenleaseErrors::OpenleaseDepositTooSmall(OpenleaseDepositTooSmall {
            deposit: U256::from(1_000),
            required: U256::from(6_000),
        });
        let in_usdc = CliError::in_token(SdkError::Market(Box::new(small.clone())), &usdc);
        assert_eq!(in_usdc.message, "a deposit of 0.001 USDC is below the 0.006 USDC required");
        let unknown = CliError::from(SdkError::Market(Box::new(small)));
        assert_eq!(unknown.message, "a deposit of 1000 raw units is below the 6000 raw units required");
        let current = OpenleaseErrors::OpenleaseNotInArrears(OpenleaseNotInArrears {
            leaseId: U256::from(3),
            settled: U256::from(360_000),
            due: U256::from(300_000),
        });
        let current = CliError::in_token(SdkError::Market(Box::new(current)), &usdc);
        assert_eq!(current.message, "lease 3's tenant is not in arrears: 0.36 USDC settled of 0.3 USDC due");
    }
}
