#![doc = include_str!("../README.md")]

pub mod actions;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod chain;
pub mod console;
mod error;
pub mod events;
pub mod feed;
pub mod ingest;
pub mod metadata;
pub mod metrics;
pub mod query;
pub mod rows;
pub mod state;
pub mod store;

pub use error::{IndexerError, Result};
