//! Amounts, prices, durations and times as people type and read them: the rules of
//! `openlease_contracts::units`, which the indexer's console shares.

pub use openlease_contracts::units::*;
