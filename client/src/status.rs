//! A lease's phase in the marketplace's words (`LeasePhase`), and the market's status enums,
//! generated from `IOpenleaseTypes` (the JSON-ABI bindings read them as plain `u8`s: convert with
//! `TryFrom<u8>`, compare with `u8::from`).

pub use openlease_contracts::{DisputeStatus, LeasePhase, LeaseStatus, PhaseFacts};
