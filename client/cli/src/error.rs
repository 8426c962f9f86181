//! The CLI's errors: what was wrong and, where there is one, what to do about it. SDK errors are
//! kept as they are until printed, then rendered in the marketplace's words with what the command
//! knew by then ([`ErrorContext`]: the node's URL, the market's stablecoins), so that amounts show
//! in token units and the node's URL only ever redacted. A leaf: it knows the SDK, not the commands.

use std::{fmt, path::Path};

use alloy::{
    primitives::{Address, U256},
    transports::RpcError,
};
use openlease_client::{
    Error as SdkError, ManifestError, OpenleaseErrors, PriceError, ReceiptError, ReceiptFileError, Refusal,
    SettlementResult, StablecoinEntry, TokenAmount, TypedAmountError, error::TransportFailure, format_duration,
    format_time, rpc::RpcErrorClass, terms::settlement_reason,
};

/// `Result` with the CLI's [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// What an error is rendered with: what the command had learnt when it failed. Empty before it
/// connected; the node's URL once it had one; the market's stablecoins once it read the manifest.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ErrorContext<'a> {
    /// The node's URL (shown redacted).
    pub(crate) rpc_url: Option<&'a str>,
    /// The market's stablecoins, for reverts that name a token but give raw units.
    pub(crate) stablecoins: &'a [StablecoinEntry],
}

impl<'a> ErrorContext<'a> {
    /// The market's stablecoin at `token`, or `fallback` if it is that token.
    fn coin_at(&self, token: Address, fallback: Option<&'a StablecoinEntry>) -> Option<&'a StablecoinEntry> {
        self.stablecoins.iter().find(|c| c.address == token).or(fallback.filter(|c| c.address == token))
    }
}

/// `raw` in `coin`'s units (`12.5 USDC`), or as raw units when the token is not known.
fn in_units(raw: U256, coin: Option<&StablecoinEntry>) -> String {
    match coin {
        Some(coin) => TokenAmount::of(coin, raw).to_string(),
        None => format!("{raw} raw units"),
    }
}

/// An error as printed: what was wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// What was wrong.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) hint: Option<String>,
}

impl Rendered {
    fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        Self { message: message.into(), hint }
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Something went wrong: said in the CLI's words already, or an SDK error to render when printed.
#[derive(Debug)]
pub(crate) struct CliError {
    what: What,
    /// What the command was doing, innermost first: `receipt r1.json: …`.
    context: Vec<String>,
}

#[derive(Debug)]
enum What {
    Said(Rendered),
    /// `coin`: the token of the offer or lease the call was about, for amounts that do not say theirs.
    Sdk {
        error: Box<SdkError>,
        coin: Option<StablecoinEntry>,
    },
}

impl CliError {
    /// An error without a hint.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { what: What::Said(Rendered::new(message, None)), context: Vec::new() }
    }

    /// An error with a hint.
    pub(crate) fn hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { what: What::Said(Rendered::new(message, Some(hint.into()))), context: Vec::new() }
    }

    /// `context: message`.
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.context.push(context.to_string());
        self
    }

    /// An SDK error of a call about `coin` (an offer's or a lease's token): the amounts of the
    /// market's reverts and of receipt refusals that do not say their token are shown in `coin`'s units.
    pub(crate) fn in_token(error: SdkError, coin: &StablecoinEntry) -> Self {
        Self { what: What::Sdk { error: Box::new(error), coin: Some(coin.clone()) }, context: Vec::new() }
    }

    /// The SDK error this is, if it is one: for callers that handle some (an unknown lease) themselves.
    pub(crate) fn sdk_error(&self) -> Option<&SdkError> {
        match &self.what {
            What::Sdk { error, .. } => Some(error),
            What::Said(_) => None,
        }
    }

    /// The error as printed, with what the command knew.
    pub(crate) fn render(&self, cx: &ErrorContext<'_>) -> Rendered {
        let mut rendered = match &self.what {
            What::Said(said) => said.clone(),
            What::Sdk { error, coin } => sdk(error, coin.as_ref(), cx),
        };
        for context in &self.context {
            rendered.message = format!("{context}: {}", rendered.message);
        }
        rendered
    }

    /// The error rendered without context: for tests of errors the CLI words itself.
    #[cfg(test)]
    pub(crate) fn plain(&self) -> Rendered {
        self.render(&ErrorContext::default())
    }
}

impl From<SdkError> for CliError {
    fn from(error: SdkError) -> Self {
        Self { what: What::Sdk { error: Box::new(error), coin: None }, context: Vec::new() }
    }
}

impl From<Rendered> for CliError {
    fn from(rendered: Rendered) -> Self {
        Self { what: What::Said(rendered), context: Vec::new() }
    }
}

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

/// An RPC failure talking to the node at `url`, by the retrying client's classification
/// (`RpcErrorClass`, the one the indexer, the SDK and the gateway use): unreachable only when no
/// answer came; a JSON-RPC error reply is the node's own message, with a hint for the common ones.
pub(crate) fn rpc_failure(url: &str, error: &TransportFailure) -> CliError {
    let node = redact(url);
    let class = RpcErrorClass::of(error);
    let class_hint = match class {
        RpcErrorClass::RateLimited => Some("the node is rate limiting this key: retry later or use another node"),
        RpcErrorClass::RangeTooLarge => {
            Some("the node limits eth_getLogs ranges; use the indexer API or a node without that limit")
        }
        RpcErrorClass::Unavailable | RpcErrorClass::Other => None,
    };
    match error {
        RpcError::Transport(kind) => match kind.as_http_error() {
            Some(http) => {
                let hint = class_hint.unwrap_or(match http.status {
                    401 | 403 => "the node refused the credentials: check the API key in --rpc-url",
                    _ => "check --rpc-url; the node may be down or behind a proxy that refuses JSON-RPC",
                });
                let body = http.body.trim();
                let body = if body.is_empty() { String::new() } else { format!(": {}", excerpt(body)) };
                CliError::hint(format!("the node at {node} answered HTTP {}{}", http.status, redact_urls(&body)), hint)
            }
            None if class == RpcErrorClass::Unavailable => unreachable(url, kind),
            None => CliError::new(format!("RPC error from the node at {node}: {}", redact_urls(&kind.to_string()))),
        },
        RpcError::ErrorResp(payload) => {
            let message = redact_urls(&payload.message);
            let lower = message.to_lowercase();
            let hint = class_hint.or_else(|| {
                if lower.contains("insufficient funds") {
                    Some(
                        "the account has too little ETH to pay for gas: fund it (on a devnet, from one of anvil's accounts)",
                    )
                } else if lower.contains("nonce") {
                    Some("another transaction of this account is pending or was sent elsewhere: wait for it, then retry")
                } else {
                    None
                }
            });
            let message = format!("the node at {node} refused the request: {message} (code {})", payload.code);
            Rendered::new(message, hint.map(String::from)).into()
        }
        RpcError::DeserError { err, .. } => CliError::hint(
            format!("the node at {node} answered something that is not JSON-RPC: {err}"),
            "check that --rpc-url is a JSON-RPC endpoint",
        ),
        other => CliError::new(format!("RPC error from the node at {node}: {}", redact_urls(&other.to_string()))),
    }
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
        let next = SCHEMES.iter().filter_map(|scheme| rest.to_ascii_lowercase().find(scheme)).min();
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

/// An SDK error in the marketplace's words, with what to do.
fn sdk(error: &SdkError, coin: Option<&StablecoinEntry>, cx: &ErrorContext<'_>) -> Rendered {
    let hint = |message: String, hint: &str| Rendered::new(message, Some(hint.into()));
    match error {
        SdkError::Transport(e) => rpc_failure(cx.rpc_url.unwrap_or("the RPC URL"), e).render(cx),
        SdkError::UnknownLease { lease_id, .. } => hint(
            format!("lease {lease_id} does not exist on this market"),
            "check the id: `openlease lease list` shows your leases",
        ),
        SdkError::WrongChain { manifest, node } => Rendered::new(
            error.to_string(),
            Some(format!("point --rpc-url at a node of chain {manifest}, or use the manifest of chain {node}")),
        ),
        SdkError::Market(revert) => market(revert, coin, cx),
        SdkError::Refused(refusal) => refused(refusal),
        SdkError::Receipt(refused) => receipt(refused, coin),
        SdkError::ExposureExceedsEscrow { lease_id, unsettled, escrow } => hint(
            format!(
                "lease {lease_id}: {} unsettled would exceed the {} left in escrow",
                in_units(*unsettled, coin),
                in_units(*escrow, coin)
            ),
            "settle with `openlease settle`, or ask the tenant to top up",
        ),
        SdkError::TransactionTimeout { .. } | SdkError::NonceConsumed { .. } => hint(
            redact_urls(&error.to_string()),
            "check the chain (`openlease lease show`, `openlease status` or a block explorer) before sending again",
        ),
        SdkError::Amount(e) => amount_error(&TypedAmountError::Units(e.clone()), None),
        SdkError::Manifest(e) => manifest_error(e),
        _ => Rendered::new(redact_urls(&error.to_string()), None),
    }
}

/// An action the SDK refused before sending, in its words, with what to do.
fn refused(refusal: &Refusal) -> Rendered {
    let hint = match refusal {
        Refusal::DepositBeyondTerm { full, .. } => {
            Some(format!("deposit at most {full}, or lease for longer (--duration)"))
        }
        Refusal::InsufficientBalance { have, need } => {
            let short = TokenAmount::new(need.raw - have.raw, need.decimals, need.symbol.clone());
            Some(format!("get more {} first (on a devnet: `openlease token mint \"{short}\"`)", need.symbol))
        }
        Refusal::TopUpUseless { .. } => {
            Some("nothing to top up: the lease runs to its end; to lease for longer, open a new lease".into())
        }
        Refusal::TopUpBeyondTerm { useful, .. } => Some(format!("top up at most {useful}")),
        Refusal::UnknownOffer { .. } => Some("`openlease offer list` shows the offers".into()),
        Refusal::OfferPaused { .. } | Refusal::OfferAtCapacity { .. } => Some("pick another offer".into()),
        Refusal::DurationOutOfBounds { .. } => {
            Some("pick a --duration within the offer's bounds (`openlease offer show`)".into())
        }
        Refusal::DepositBelowMinimum { .. } => {
            Some("the deposit must pay for at least the offer's minimum duration".into())
        }
        Refusal::NotRegisteredProvider { .. } => Some("register with `openlease provider register`".into()),
        _ => None,
    };
    Rendered::new(refusal.to_string(), hint)
}

/// A deployment manifest that could not be read.
pub(crate) fn manifest_error(error: &ManifestError) -> Rendered {
    let message = match error {
        ManifestError::Read { path, source } => {
            format!("cannot read the deployment manifest {}: {source}", path.display())
        }
        other => other.to_string(),
    };
    Rendered::new(
        message,
        Some(
            "pass the market's manifest with --manifest PATH or --deployments DIR (or set them in openlease.toml)"
                .into(),
        ),
    )
}

/// An amount refused: what was wrong with it and how to write it. `what` is what it pays
/// (`lease 3`, `the offer`), for an amount in another token than that.
pub(crate) fn amount_error(error: &TypedAmountError, what: Option<&str>) -> Rendered {
    use TypedAmountError as E;
    let like = || Some("write amounts like `12.5 USDC`".to_string());
    match error {
        E::NoNumber { .. } | E::NotANumber { .. } | E::NotASymbol { .. } => Rendered::new(error.to_string(), like()),
        E::Negative { .. } => Rendered::new(error.to_string(), Some("give the amount without a sign".into())),
        E::NoSymbol { input } => {
            Rendered::new(format!("`{input}`: say which token"), Some(format!("for example `{} USDC`", input.trim())))
        }
        E::UnknownToken { known, .. } => {
            Rendered::new(error.to_string(), Some(format!("use one of: {}", known.join(", "))))
        }
        E::WrongToken { input, expected, given } => {
            let number = input.trim().trim_end_matches(given.as_str()).trim();
            Rendered::new(
                format!("`{input}`: {} is paid in {expected}, not {given}", what.unwrap_or("it")),
                Some(format!("write the amount in {expected}, like `{number} {expected}`")),
            )
        }
        E::Units(_) => Rendered::new(error.to_string(), Some("write amounts in token units, like `12.5 USDC`".into())),
    }
}

impl From<TypedAmountError> for CliError {
    fn from(error: TypedAmountError) -> Self {
        amount_error(&error, None).into()
    }
}

/// A price refused: what was wrong with it and what price would do.
pub(crate) fn price_error(error: &PriceError) -> Rendered {
    match error {
        PriceError::Amount(e) => amount_error(e, Some("the offer")),
        PriceError::NotWhole { .. } => Rendered::new(error.to_string(), error.nearest_hint()),
        PriceError::TimeUnit { .. } | PriceError::TooLarge { .. } => Rendered::new(error.to_string(), None),
    }
}

impl From<PriceError> for CliError {
    fn from(error: PriceError) -> Self {
        price_error(&error).into()
    }
}

/// A receipt file that cannot be settled on this market.
pub(crate) fn receipt_file_error(error: &ReceiptFileError, path: &Path) -> CliError {
    let file = path.display();
    match error {
        ReceiptFileError::Malformed(detail) => CliError::hint(
            format!("{file} is not a signed receipt: {detail}"),
            "receipts are the JSON `openlease receipt sign` writes",
        ),
        ReceiptFileError::Version(_) => CliError::hint(format!("receipt {file}: {error}"), "upgrade openlease"),
        ReceiptFileError::WrongChain { file: signed, market } => CliError::hint(
            format!("receipt {file} was signed for chain {signed}, but this market is on chain {market}"),
            "settle it on the chain it was signed for",
        ),
        ReceiptFileError::WrongMarket { file: signed, market } => CliError::hint(
            format!("receipt {file} was signed for the market at {signed}, not this one at {market}"),
            "settle it on the market it was signed for",
        ),
        ReceiptFileError::NotANumber { .. } => CliError::new(format!("receipt {file}: {error}")),
    }
}

/// A receipt refusal: its meaning, amounts in the lease's token, and what to do.
fn receipt(refused: &ReceiptError, coin: Option<&StablecoinEntry>) -> Rendered {
    let message = match refused {
        ReceiptError::OverCap { signer, cap, attested } => format!(
            "signer {signer} would attest {} in total, over its cap of {}",
            in_units(*attested, coin),
            in_units(*cap, coin)
        ),
        ReceiptError::NotIncreasing { lease_id, cumulative, accepted } => format!(
            "lease {lease_id}: its {} in total does not exceed the {} already settled",
            in_units(*cumulative, coin),
            in_units(*accepted, coin)
        ),
        ReceiptError::SignerExpired { signer, expires_at, now } => format!(
            "signer {signer}'s authorization expired at {} (now {})",
            format_time(*expires_at),
            format_time(*now)
        ),
        other => other.to_string(),
    };
    let hint = match refused {
        ReceiptError::SignerNotAuthorized { .. } => "the tenant authorizes it with `openlease signer authorize`",
        ReceiptError::SignerRevoked { .. } | ReceiptError::SignerExpired { .. } => {
            "the tenant must authorize a signer again; this receipt cannot be settled"
        }
        ReceiptError::OverCap { .. } => "the tenant can raise the cap with `openlease signer authorize`",
        ReceiptError::NotIncreasing { .. } => "the market already settled this much; nothing to settle",
        _ => "the receipt was altered or signed for another chain, market or key; ask for a new one",
    };
    Rendered::new(format!("receipt refused: {message}"), Some(hint.into()))
}

/// A market revert: its meaning and what to do. `coin` is the token of the offer or lease the
/// call was about, for the reverts whose amounts do not say their token.
fn market(revert: &OpenleaseErrors, coin: Option<&StablecoinEntry>, cx: &ErrorContext<'_>) -> Rendered {
    use OpenleaseErrors as E;
    let per_second = |raw: U256| format!("{} per second", in_units(raw, coin));
    let duration = |seconds: U256| format_duration(seconds.saturating_to());
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
            match cx.coin_at(e.token, coin) {
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
            format!("the stake is still thawing until {}", format_time(e.thawEndsAt.to::<u64>())),
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
            "payment can be demanded only of service unpaid for longer than the payment grace; settle the receipts you hold, or give notice with `openlease lease close`",
        ),
        E::OpenleaseNoPaymentDemand(e) => (
            if e.evictableAt <= U256::from(openlease_client::contracts::constants::PAYMENT_GRACE) {
                format!("no payment demand stands on lease {}", e.leaseId)
            } else {
                format!(
                    "lease {}'s payment demand leaves the tenant until {} to answer",
                    e.leaseId,
                    format_time(e.evictableAt.saturating_to())
                )
            },
            "demand payment first (`openlease lease demand`), then evict once the demand went unanswered for the payment grace",
        ),
        E::OpenleaseDemandAnswered(e) => (
            format!(
                "lease {}'s tenant answered the payment demand: {} settled of {} due",
                e.leaseId,
                in_units(e.settled, coin),
                in_units(e.due, coin)
            ),
            "a tenant that paid what was due cannot be evicted; give notice with `openlease lease close` to end the lease",
        ),
        E::OpenleaseLeaseNotOpen(e) => (
            format!(
                "lease {} is {}",
                e.leaseId,
                openlease_client::status::LeaseStatus::try_from(e.status).map_or("in an unknown state", |s| s.as_str())
            ),
            "only an open lease can be demanded of or evicted",
        ),
        E::OpenleaseTooLateToDemand(e) => (
            format!(
                "lease {}'s settlement window closes at {}: too late to demand payment or evict",
                e.leaseId,
                format_time(e.deadline.saturating_to())
            ),
            "a demand must leave the tenant the whole payment grace to settle; finalize the lease after the window (`openlease lease finalize`)",
        ),
        E::OpenleaseCapDecrease(e) => (
            format!(
                "signer {}'s cap for provider {} is {}: it cannot be lowered to {}",
                e.signer,
                e.provider,
                in_units(e.cap, coin),
                in_units(e.requested, coin)
            ),
            "a lower cap would void receipts for service already delivered; revoke the signer (`openlease signer revoke`) to stop new spending",
        ),
        E::OpenleaseAttestationKeyUnproven(e) => (
            format!("attestation key {} did not sign the registration of provider {}", e.attestationKey, e.provider),
            "register with a key you hold: it signs `AttestationKey(provider)` under this market's domain",
        ),
        E::OpenleaseParamsNotAcceptable(e) => (
            format!(
                "parameters version {} cannot be accepted: the offer has version {} and version {} is in force",
                e.version, e.accepted, e.inForce
            ),
            "accept a version newer than the offer's that is in force (`openlease offer show` says which)",
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
            format!("a deposit of {} is below the {} required", in_units(e.deposit, coin), in_units(e.required, coin)),
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
            format!("lease {} ended at {}", e.leaseId, format_time(e.endedAt.to::<u64>())),
            "an ended lease can only be settled and then finalized",
        ),
        E::OpenleaseLeaseFinalized(e) => {
            (format!("lease {} is already finalized", e.leaseId), "claim what it paid with `openlease claim`")
        }
        E::OpenleaseSettlementWindowOpen(e) => (
            format!(
                "lease {}'s settlement window is open until {}",
                e.leaseId,
                format_time(e.windowEndsAt.to::<u64>())
            ),
            "finalize after the window; `openlease lease show` says when",
        ),
        E::OpenleaseInvalidSignerTerms(e) => (
            format!(
                "invalid signer terms: cap {}, expiry {}",
                in_units(e.cap, coin),
                format_time(e.expiresAt.saturating_to())
            ),
            "the cap must be positive and the expiry in the future",
        ),
        E::OpenleaseUnknownSigner(e) => (
            format!("{} is not a signer of tenant {} for provider {}", e.signer, e.tenant, e.provider),
            "authorize it first: `openlease signer authorize --provider`",
        ),
        E::OpenleaseSettlementFailed(e) => {
            let why = match SettlementResult::try_from(e.result) {
                Ok(result) => settlement_reason(result).to_string(),
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
            format!("lease {} has a dispute open until {}", e.leaseId, format_time(e.deadline.to::<u64>())),
            "wait for the arbiter's ruling or the deadline (`openlease dispute expire`)",
        ),
        E::OpenleaseDisputeDeadlinePassed(e) => (
            format!("the dispute on lease {} passed its deadline", e.leaseId),
            "anyone can now expire it: `openlease dispute expire`",
        ),
        E::OpenleaseDisputeDeadlineNotReached(e) => (
            format!("the dispute on lease {} runs until {}", e.leaseId, format_time(e.deadline.to::<u64>())),
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
    Rendered::new(message, Some(hint.into()))
}

#[cfg(test)]
mod tests {
    use alloy::{rpc::json_rpc::ErrorPayload, transports::TransportErrorKind};

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
        let refused =
            TransportErrorKind::custom_str("error sending request for url (https://user:pw@rpc.example/v2/APIKEY)");
        let down = rpc_failure(url, &refused).plain();
        assert!(down.message.starts_with("cannot reach the node at https://rpc.example: "), "{down}");
        assert!(down.hint.as_deref().unwrap().contains("is the node running?"), "{down}");
        assert!(!down.to_string().contains("APIKEY") && !down.to_string().contains("pw@"), "{down}");

        let gas = rpc_failure(url, &error_reply(-32000, "insufficient funds for gas * price + value")).plain();
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
            let logs = rpc_failure(url, &error_reply(-32005, limit)).plain();
            assert!(logs.message.contains(limit), "{logs}");
            assert_eq!(
                logs.hint.as_deref(),
                Some("the node limits eth_getLogs ranges; use the indexer API or a node without that limit"),
                "{limit}"
            );
        }
        let nonce = rpc_failure(url, &error_reply(-32003, "nonce too low")).plain();
        assert!(nonce.hint.as_deref().unwrap().contains("pending"), "{nonce}");
        // The classes are the retrying client's: a JSON-RPC 429 is a rate limit as an HTTP 429
        // is, and a refusal that only sounds like a log limit is not one.
        let limited = rpc_failure(url, &error_reply(429, "Too Many Requests")).plain();
        assert!(limited.hint.as_deref().unwrap().contains("rate limiting"), "{limited}");
        let gas_cap = rpc_failure(url, &error_reply(-32000, "gas required exceeds allowance (30000000)")).plain();
        assert_eq!(gas_cap.hint, None, "{gas_cap}");

        let unauthorized = rpc_failure(url, &TransportErrorKind::http_error(401, "invalid API key".into())).plain();
        assert_eq!(unauthorized.message, "the node at https://rpc.example answered HTTP 401: invalid API key");
        assert!(unauthorized.hint.as_deref().unwrap().contains("API key"), "{unauthorized}");
    }

    #[test]
    fn reverts_show_amounts_in_the_token_of_the_call() {
        use openlease_client::contracts::Openlease::{
            OpenleaseDepositTooSmall, OpenleaseInsufficientFreeStake, OpenleaseNotInArrears,
        };
        let usdc = StablecoinEntry { symbol: "USDC".into(), address: Address::repeat_byte(1), decimals: 6 };
        let small = OpenleaseErrors::OpenleaseDepositTooSmall(OpenleaseDepositTooSmall {
            deposit: U256::from(1_000),
            required: U256::from(6_000),
        });
        let in_usdc = CliError::in_token(SdkError::Market(Box::new(small.clone())), &usdc).plain();
        assert_eq!(in_usdc.message, "a deposit of 0.001 USDC is below the 0.006 USDC required");
        let unknown = CliError::from(SdkError::Market(Box::new(small))).plain();
        assert_eq!(unknown.message, "a deposit of 1000 raw units is below the 6000 raw units required");
        let current = OpenleaseErrors::OpenleaseNotInArrears(OpenleaseNotInArrears {
            leaseId: U256::from(3),
            settled: U256::from(360_000),
            due: U256::from(300_000),
        });
        let current = CliError::in_token(SdkError::Market(Box::new(current)), &usdc).plain();
        assert_eq!(current.message, "lease 3's tenant is not in arrears: 0.36 USDC settled of 0.3 USDC due");

        // A revert that names its token is shown in it when the market's stablecoins are known.
        let stake = OpenleaseErrors::OpenleaseInsufficientFreeStake(OpenleaseInsufficientFreeStake {
            provider: Address::repeat_byte(2),
            token: usdc.address,
            free: U256::from(100_000),
            needed: U256::from(720_000),
        });
        let stake = CliError::from(SdkError::Market(Box::new(stake)));
        assert!(stake.plain().message.contains("(of token"), "{}", stake.plain());
        let coins = [usdc.clone()];
        let cx = ErrorContext { rpc_url: None, stablecoins: &coins };
        assert!(stake.render(&cx).message.ends_with("0.1 USDC free, 0.72 USDC needed"), "{}", stake.render(&cx));
    }

    #[test]
    fn the_node_of_a_failed_call_is_the_one_the_command_used() {
        let failure = TransportErrorKind::custom_str("error sending request for url (https://rpc.example/v2/KEY)");
        let error = CliError::from(SdkError::Transport(Box::new(failure))).context("lease 3");
        let cx = ErrorContext { rpc_url: Some("https://rpc.example/v2/KEY"), stablecoins: &[] };
        let rendered = error.render(&cx);
        assert!(rendered.message.starts_with("lease 3: cannot reach the node at https://rpc.example: "), "{rendered}");
        assert!(!rendered.to_string().contains("KEY"), "{rendered}");
    }

    #[test]
    fn receipt_refusals_count_in_the_lease_token() {
        let usdc = StablecoinEntry { symbol: "USDC".into(), address: Address::repeat_byte(1), decimals: 6 };
        let over = ReceiptError::OverCap {
            signer: Address::repeat_byte(3),
            cap: U256::from(1_000_000),
            attested: U256::from(2_000_000),
        };
        let rendered = CliError::in_token(SdkError::Receipt(over), &usdc).plain();
        assert!(rendered.message.ends_with("would attest 2 USDC in total, over its cap of 1 USDC"), "{rendered}");
        assert!(rendered.hint.unwrap().contains("raise the cap"));
    }

    #[test]
    fn unsent_transactions_say_to_look_before_sending_again() {
        let timeout = SdkError::TransactionTimeout {
            tx: Default::default(),
            nonce: 4,
            waited: 120,
            rebroadcasts: 3,
            last_error: None,
        };
        let hint = CliError::from(timeout).plain().hint.unwrap();
        assert!(hint.contains("before sending again") && hint.contains("openlease lease show"), "{hint}");
        let taken = CliError::from(SdkError::NonceConsumed { tx: Default::default(), nonce: 4 }).plain();
        assert!(taken.hint.unwrap().contains("before sending again"));
    }

    #[test]
    fn amounts_in_another_token_name_what_they_pay() {
        let amount: openlease_client::TypedAmount = "5 DAI".parse().unwrap();
        let usdc = StablecoinEntry { symbol: "USDC".into(), address: Address::ZERO, decimals: 6 };
        let wrong = amount_error(&amount.resolve_in(&usdc).unwrap_err(), Some("lease 3"));
        assert_eq!(wrong.message, "`5 DAI`: lease 3 is paid in USDC, not DAI");
        assert_eq!(wrong.hint.as_deref(), Some("write the amount in USDC, like `5 USDC`"));
        let negative = CliError::from("-5".parse::<openlease_client::TypedAmount>().unwrap_err()).plain();
        assert_eq!(negative.message, "`-5`: amounts cannot be negative");
    }
}
