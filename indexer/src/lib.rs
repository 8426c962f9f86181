#![doc = include_str!("../README.md")]

pub mod api;
pub mod audit;
pub mod chain;
mod error;
pub mod events;
pub mod ingest;
pub mod metrics;
pub mod state;
pub mod store;

pub use error::{IndexerError, Result};
