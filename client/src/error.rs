//! The SDK's one error type. A market revert arrives as [`Error::Market`] holding the bindings'
//! [`OpenleaseErrors`], so a caller matches on the custom error and reads its arguments.

use alloy::{
    contract,
    primitives::{Address, B256, Bytes, U256},
    providers::PendingTransactionError,
    transports::{RpcError, TransportError, TransportErrorKind},
};
pub use openlease_contracts::Openlease::OpenleaseErrors;

use crate::{receipt::ReceiptError, units::AmountError};

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to the market.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The market reverted with one of its custom errors (or an inherited OpenZeppelin one).
    #[error("the market reverted: {}", describe(.0))]
    Market(Box<OpenleaseErrors>),
    /// A call reverted with data that is none of the market's errors (a token's, a panic, a string).
    #[error("the call reverted with undecoded data {data}")]
    Reverted {
        /// The raw revert data.
        data: Bytes,
    },
    /// A transaction was mined but failed.
    /// The manifest lists a token with other decimals than the token states: it is stale.
    #[error("the manifest says token {token} has {manifest} decimals, but the token says {token_says}")]
    StaleDecimals { token: Address, manifest: u8, token_says: u8 },
    #[error("transaction {tx} was mined but reverted")]
    TransactionReverted { tx: B256 },
    /// No lease with this id was ever opened on the market.
    #[error("lease {lease_id} does not exist on the market at {market}")]
    UnknownLease {
        /// The id asked for.
        lease_id: U256,
        market: Address,
    },
    /// The node could not be reached or answered with an error other than a revert.
    #[error("RPC error: {0}")]
    Transport(Box<TransportError>),
    /// A transaction was not mined by the deadline, though broadcast again (and re-signed with
    /// higher fees) while it waited. It may still be mined: look before sending it again.
    #[error(
        "transaction {tx} (nonce {nonce}) was not mined within {waited} s, after {rebroadcasts} rebroadcasts{}; it may still be mined: check the chain before sending it again",
        last_error.as_ref().map(|e| format!(" (last node error: {e})")).unwrap_or_default()
    )]
    TransactionTimeout {
        /// Its newest hash.
        tx: B256,
        nonce: u64,
        waited: u64,
        /// Broadcasts after the first.
        rebroadcasts: u32,
        /// The node's last error while following it, if any.
        last_error: Option<String>,
    },
    /// Another transaction of the account took this one's nonce (sent elsewhere with the same
    /// key, or replaced): this one never happened.
    #[error(
        "transaction {tx} never happened: another transaction of this account took its nonce {nonce} (the same key used elsewhere?); check the chain before retrying"
    )]
    NonceConsumed { tx: B256, nonce: u64 },
    /// A session has no provider left to lease from and no fallback to send requests to.
    #[error("no provider could be leased and the session has no fallback")]
    NoProvider,
    /// An HTTP request of a session failed before any provider or fallback answered it.
    #[error("HTTP: {0}")]
    Http(String),
    /// A transaction to send names no sender (`from`): the nonce and the signature are its.
    #[error("the transaction names no sender (`from`)")]
    MissingSender,
    /// A sent transaction could not be followed to its receipt.
    #[error("waiting for the transaction failed: {0}")]
    PendingTransaction(Box<PendingTransactionError>),
    /// Encoding or decoding a call failed.
    #[error("contract call failed: {0}")]
    Contract(Box<contract::Error>),
    /// Signing (a transaction, a receipt, a permit) failed.
    #[error("signing failed: {0}")]
    Signing(#[from] alloy::signers::Error),
    /// A receipt was refused.
    #[error("receipt refused: {0}")]
    Receipt(#[from] ReceiptError),
    /// An amount in token units did not parse.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The deployment manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] openlease_contracts::ManifestError),
    /// The node is on another chain than the manifest.
    #[error("the manifest is for chain {manifest} but the node is on chain {node}")]
    WrongChain {
        /// The manifest's chain.
        manifest: u64,
        /// The node's chain.
        node: u64,
    },
    /// A transaction did not emit the event its outcome is read from.
    #[error("transaction {tx} emitted no {event} event")]
    MissingEvent { event: &'static str, tx: B256 },
    /// A value does not fit the market's field for it.
    #[error("{what} {value} is above the market's limit of {max}")]
    OutOfRange {
        /// What the value is.
        what: &'static str,
        value: U256,
        /// The largest the market stores.
        max: U256,
    },
    /// An action refused before anything was signed ([`crate::prepare`]).
    #[error(transparent)]
    Refused(Box<crate::prepare::Refusal>),
    /// A `settleBatch` reported another number of outcomes than receipts sent.
    #[error("transaction {tx} settled {sent} receipts but reported {reported} outcomes")]
    BatchMismatch {
        sent: usize,
        /// `LeaseSettled` plus `SettlementSkipped` events read.
        reported: usize,
        tx: B256,
    },
    /// Serving on would attest more than the lease's escrow can pay: settle first, or stop.
    #[error("lease {lease_id}: {unsettled} unsettled would exceed the {escrow} left in escrow; settle or stop serving")]
    ExposureExceedsEscrow {
        lease_id: U256,
        /// What the receipts would be owed beyond what was settled.
        unsettled: U256,
        /// What the escrow still holds.
        escrow: U256,
    },
}

impl Error {
    /// The market's custom error, if that is what this is.
    pub fn market_error(&self) -> Option<&OpenleaseErrors> {
        match self {
            Self::Market(e) => Some(e),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed: a rate limit or an unavailable node, never a
    /// revert (the retrying client's own classification, `openlease_rpc::RpcErrorClass`).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transport(e) if openlease_rpc::RpcErrorClass::of(e).is_transient())
    }
}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        match error.as_error_resp().and_then(|payload| payload.as_revert_data()) {
            Some(data) => revert(data),
            None => Self::Transport(Box::new(error)),
        }
    }
}

impl From<crate::prepare::Refusal> for Error {
    fn from(refusal: crate::prepare::Refusal) -> Self {
        Self::Refused(Box::new(refusal))
    }
}

impl From<PendingTransactionError> for Error {
    fn from(error: PendingTransactionError) -> Self {
        Self::PendingTransaction(Box::new(error))
    }
}

impl From<contract::Error> for Error {
    fn from(error: contract::Error) -> Self {
        match error {
            contract::Error::TransportError(e) => e.into(),
            contract::Error::PendingTransactionError(e) => e.into(),
            other => Self::Contract(Box::new(other)),
        }
    }
}

fn revert(data: Bytes) -> Error {
    use alloy::sol_types::SolInterface;
    match OpenleaseErrors::abi_decode(&data) {
        Ok(decoded) => Error::Market(Box::new(decoded)),
        Err(_) => Error::Reverted { data },
    }
}

/// Plain words for the errors users meet most; the others print with their arguments.
fn describe(error: &OpenleaseErrors) -> String {
    use OpenleaseErrors as E;
    match error {
        E::OpenleaseUnknownLease(e) => format!("lease {} does not exist", e.leaseId),
        E::OpenleaseUnknownOffer(e) => format!("offer {} does not exist", e.offerId),
        E::OpenleaseOfferAtCapacity(e) => {
            format!("offer {} is at capacity ({} leases)", e.offerId, e.capacity)
        }
        E::OpenleaseInsufficientFreeStake(e) => {
            format!("provider {} has {} free stake of token {}, {} needed", e.provider, e.free, e.token, e.needed)
        }
        E::OpenleaseOfferPaused(e) => format!("offer {} is paused: it takes no new leases", e.offerId),
        E::OpenleaseDurationOutOfRange(e) => {
            format!("a duration of {} s is outside the offer's {} to {} s", e.duration, e.minDuration, e.maxDuration)
        }
        E::OpenleaseDepositTooSmall(e) => {
            format!("a deposit of {} raw units is below the {} the shortest lease costs", e.deposit, e.required)
        }
        E::OpenleaseTermsChanged(e) => {
            format!("offer {}'s terms changed since they were read: read them again before leasing", e.offerId)
        }
        E::OpenleaseNotOfferProvider(e) => format!("{} is not the provider of offer {}", e.caller, e.offerId),
        E::OpenleaseNotLeaseParty(e) => {
            format!("{} is neither the tenant nor the provider of lease {}", e.caller, e.leaseId)
        }
        E::OpenleaseLeaseEnded(e) => format!("lease {} ended at {}", e.leaseId, e.endedAt),
        E::OpenleaseNothingToClaim(e) => format!("{} has nothing to claim in token {}", e.account, e.token),
        E::OpenleaseProviderNotRegistered(e) => format!("{} is not a registered provider", e.provider),
        E::OpenleaseTokenNotAllowed(e) => format!("token {} is not allowed on the market", e.token),
        E::OpenleaseSettlementFailed(e) => {
            format!("nothing to settle for lease {}: {:?}", e.leaseId, e.result)
        }
        other => format!("{other:?}"),
    }
}

/// `RpcError` is what alloy's transports return; re-exported for matching on transport errors.
pub type TransportFailure = RpcError<TransportErrorKind>;
