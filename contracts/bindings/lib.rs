#![doc = include_str!("../README.md")]
#![allow(missing_docs)] // generated items; the Solidity NatSpec is the documentation
#![allow(clippy::too_many_arguments)] // generated calls mirror the Solidity signatures

use alloy::sol;

pub mod display;
pub mod lease_math;
pub mod phase;
pub mod units;
pub mod workload;
pub use phase::{LeasePhase, PhaseFacts};
pub mod manifest;
pub use manifest::{Manifest, ManifestError};

#[rustfmt::skip]
pub mod types;
pub use types::{DisputeStatus, LeaseStatus, Parameter, SettlementResult, SlashReason, UnknownVariant, constants};

sol!(
    /// The marketplace: staking, offers, leases, receipt settlement, disputes, governance — every
    /// function its address answers, `OpenleaseExtension`'s included. Its `OpenleaseEvents` and
    /// `OpenleaseErrors` enums hold every event and error it can emit, the inherited OpenZeppelin
    /// ones (ownership, pause, ERC-20 safety) included.
    #[sol(rpc, all_derives)]
    Openlease,
    "artifacts/Openlease.json"
);

sol!(
    /// The demo workload's answer verifier: judges `GET /work/N` answers on chain, for offers that
    /// name it (`publishOffer`'s `verifier`) and their leases' `slashWrongAnswer`.
    #[sol(rpc, all_derives)]
    HashChainVerifier,
    "artifacts/HashChainVerifier.json"
);

sol!(
    /// USDC-like test token: configurable decimals, EIP-2612 permit, blocklist, open faucet.
    #[sol(rpc, all_derives)]
    MockStablecoin,
    "artifacts/MockStablecoin.json"
);

sol!(
    /// USDT-like test token: `transfer`, `transferFrom` and `approve` return nothing.
    #[sol(rpc, all_derives)]
    MockUSDT,
    "artifacts/MockUSDT.json"
);

/// The interfaces on their own, each in a module of its own (every one carries its own copy
/// of the `IOpenleaseTypes` structs). For a consumer that needs only part of the ABI.
pub mod interfaces {
    /// `IOpenlease`: the functions, events and errors, without implementation details.
    pub mod market {
        alloy::sol!(
            #[sol(rpc, all_derives)]
            IOpenlease,
            "artifacts/IOpenlease.json"
        );
    }
    /// `IOpenleaseEvents`: the marketplace's events alone, as `IOpenleaseEventsEvents`.
    pub mod events {
        alloy::sol!(
            #[sol(all_derives)]
            IOpenleaseEvents,
            "artifacts/IOpenleaseEvents.json"
        );
    }
    /// `IOpenleaseErrors`: the marketplace's custom errors alone, as `IOpenleaseErrorsErrors`.
    pub mod errors {
        alloy::sol!(
            #[sol(all_derives)]
            IOpenleaseErrors,
            "artifacts/IOpenleaseErrors.json"
        );
    }
}

/// The artifacts the bindings are generated from, as JSON: ABI, creation and runtime bytecode,
/// immutable references (to verify deployed code) and the compiler version.
pub mod artifacts {
    /// `Openlease`.
    pub const OPENLEASE: &str = include_str!("../artifacts/Openlease.json");
    /// `HashChainVerifier`.
    pub const HASH_CHAIN_VERIFIER: &str = include_str!("../artifacts/HashChainVerifier.json");
    /// `MockStablecoin`.
    pub const MOCK_STABLECOIN: &str = include_str!("../artifacts/MockStablecoin.json");
    /// `MockUSDT`.
    pub const MOCK_USDT: &str = include_str!("../artifacts/MockUSDT.json");
}
