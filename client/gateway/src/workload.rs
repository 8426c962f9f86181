//! The demo workload the devnet's providers sell and its tests and benchmark use: `GET
//! /work/{n}` answers the `n`-th keccak256 of zero (at most 100,000 rounds), an answer a tenant
//! can check without trusting the provider. About 1 ms of work at n ≈ 3,400 in a release build here.

use alloy::primitives::{B256, keccak256};
use axum::{Router, extract::Path, routing::get};

/// The most rounds one request may ask for.
pub const MAX_ROUNDS: u32 = 100_000;

/// keccak256 applied `n` times to 32 zero bytes.
pub fn hash_chain(n: u32) -> B256 {
    (0..n.min(MAX_ROUNDS)).fold(B256::ZERO, |h, _| keccak256(h))
}

/// The workload's routes.
pub fn router() -> Router {
    Router::new().route("/work/{n}", get(|Path(n): Path<u32>| async move { hash_chain(n).to_string() }))
}
