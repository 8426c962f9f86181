#![doc = include_str!("../README.md")]

pub mod attestation;
pub mod check;
pub mod client;
pub mod error;
mod events;
pub mod listing;
pub mod prepare;
pub mod provider;
pub mod receipt;
pub mod risk;
pub mod select;
pub mod session;
pub mod status;
pub mod tenant;
pub mod terms;
pub mod tx;
pub mod units;
pub mod watch;
pub mod wire;

pub use attestation::{Attester, SignedAnswer};
pub use client::Client;
pub use error::{Error, OpenleaseErrors, Result};
/// The bindings the SDK is written on, for what it does not wrap.
pub use openlease_contracts as contracts;
pub use openlease_contracts::manifest::{Manifest, ManifestError, StablecoinEntry};
pub use openlease_rpc::{self as rpc, RetryPolicy};
pub use prepare::{LeaseOpeningSteps, PermitToSign, Prepare, Refusal, UnsignedCall};
pub use provider::{
    Eviction, OfferTerms, OpenedLease, PaymentDemand, ProviderDetails, SettlementOutcome, SettlementResult,
};
pub use receipt::{
    ReceiptBook, ReceiptDomain, ReceiptError, ReceiptFile, ReceiptFileError, ReceiptSigner, ReceiptVerifier,
    ServiceReceipt, SignatureChecked, SignedReceipt, SignerTerms, recover_signer,
};
pub use risk::{Exposure, Runway, StakeView};
pub use tenant::{DepositMethod, Failover, LeaseFailovers, LeaseOpening, LeaseRequest, OfferQuote, SignerGrant};
pub use tx::{TxPolicy, send_transaction};
pub use units::{
    AmountError, DurationError, PriceError, TokenAmount, TypedAmount, TypedAmountError, TypedDuration, TypedPrice,
    format_duration, format_time, format_time_from, format_units, parse_units,
};
pub use watch::{DueReason, SettlementWatcher, WatchAlert, WatchReport};
