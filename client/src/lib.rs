#![doc = include_str!("../README.md")]

pub mod client;
pub mod error;
mod events;
pub mod provider;
pub mod receipt;
pub mod risk;
pub mod status;
pub mod tenant;
pub mod units;
pub mod watch;

pub use client::Client;
pub use openlease_contracts::manifest::{Manifest, ManifestError, StablecoinEntry};
pub use error::{Error, OpenleaseErrors, Result};
pub use provider::{OfferTerms, OpenedLease, ProviderDetails, SettlementOutcome, SettlementResult};
pub use receipt::{
    ReceiptBook, ReceiptDomain, ReceiptError, ReceiptSigner, ReceiptVerifier, ServiceReceipt, SignedReceipt,
    SignerTerms, recover_signer,
};
pub use risk::{Exposure, Runway, StakeView};
pub use tenant::{DepositMethod, Failover, LeaseOpening, LeaseRequest, OfferQuote};
pub use units::{AmountError, TokenAmount, format_units, parse_units};
pub use watch::{DueReason, SettlementWatcher, WatchAlert, WatchReport};
