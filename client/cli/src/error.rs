//! The CLI's errors: what was wrong and, where there is one, what to do about it. SDK errors are
//! turned into these with the market's typed reverts spelled out in the marketplace's words.

use std::{fmt, sync::OnceLock};

use openlease_client::{Error as SdkError, OpenleaseErrors, ReceiptError};

/// `Result` with the CLI's [`CliError`].
pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// The node's URL, for errors that happen deep inside a call.
static RPC_URL: OnceLock<String> = OnceLock::new();

/// Remembers the node's URL for [`CliError`]'s hints.
pub(crate) fn set_rpc_url(url: &str) {
    let _ = RPC_URL.set(url.to_string());
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

/// The hint for a node that does not answer.
pub(crate) fn unreachable_hint() -> String {
    "is the node running? `make devnet` starts one on http://127.0.0.1:8545; or pass --rpc-url".into()
}

/// The node at `url` could not be reached.
pub(crate) fn unreachable(url: &str, cause: impl fmt::Display) -> CliError {
    CliError::hint(format!("cannot reach the node at {url}: {cause}"), unreachable_hint())
}

impl From<SdkError> for CliError {
    fn from(error: SdkError) -> Self {
        match &error {
            SdkError::Transport(e) => {
                let url = RPC_URL.get().map_or("the RPC URL", String::as_str);
                unreachable(url, e)
            }
            SdkError::UnknownLease { lease_id, .. } => CliError::hint(
                format!("lease {lease_id} does not exist on this market"),
                "check the id: `openlease lease list` shows your leases",
            ),
            SdkError::WrongChain { manifest, node } => CliError::hint(
                error.to_string(),
                format!("point --rpc-url at a node of chain {manifest}, or use the manifest of chain {node}"),
            ),
            SdkError::Market(revert) => market(revert),
            SdkError::Receipt(refused) => receipt(refused),
            SdkError::ExposureExceedsEscrow { .. } => {
                CliError::hint(error.to_string(), "settle with `openlease settle`, or ask the tenant to top up")
            }
            _ => CliError::new(error.to_string()),
        }
    }
}

impl From<openlease_client::AmountError> for CliError {
    fn from(error: openlease_client::AmountError) -> Self {
        CliError::hint(error.to_string(), "write amounts in token units, like `12.5 USDC`")
    }
}

/// A market revert: its meaning and what to do.
fn market(revert: &OpenleaseErrors) -> CliError {
    use OpenleaseErrors as E;
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
            format!("not enough free stake: {} free, {} needed (raw units of {})", e.free, e.needed, e.token),
            "stake more with `openlease provider stake`, or wait for open leases to release their bonds",
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
                "invalid offer terms: price {} per second, duration {}..{} s, capacity {}",
                e.pricePerSecond, e.minDuration, e.maxDuration, e.capacity
            ),
            "the price and capacity must be positive and the minimum duration at most the maximum",
        ),
        E::OpenleaseOfferPaused(e) => (format!("offer {} is paused", e.offerId), "pick another offer"),
        E::OpenleaseOfferAtCapacity(e) => {
            (format!("offer {} is at capacity ({} leases)", e.offerId, e.capacity), "pick another offer")
        }
        E::OpenleasePriceAboveMax(e) => (
            format!("offer {} now costs {} per second, above your maximum {}", e.offerId, e.pricePerSecond, e.maxPricePerSecond),
            "check the offer with `openlease offer show` and raise --max-price if you accept it",
        ),
        E::OpenleaseDurationOutOfRange(e) => (
            format!("a duration of {} s is outside the offer's {}..{} s", e.duration, e.minDuration, e.maxDuration),
            "pick a --duration within the offer's bounds (`openlease offer show`)",
        ),
        E::OpenleaseDepositTooSmall(e) => (
            format!("a deposit of {} raw units is below the {} required", e.deposit, e.required),
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
            let result = openlease_client::SettlementResult::from(e.result);
            (
                format!("lease {}: the receipt pays nothing: {}", e.leaseId, crate::receipts::describe_result(result)),
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
        E::OpenleaseNotArbiter(e) => (format!("{} is not the market's arbiter", e.caller), "use the arbiter's key"),
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
