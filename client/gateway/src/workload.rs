//! The demo workload the devnet's providers sell and its tests and benchmark use, answers a
//! tenant can check without trusting the provider:
//! - `GET /work/{n}`: the `n`-th keccak256 of zero (at most 100,000 rounds). About 1 ms of work at
//!   n ≈ 3,400 in a release build here.
//! - `GET /stream/{n}`: the same chain as server-sent events, one round per event
//!   ([`STREAM_EVERY`] apart, at most [`MAX_EVENTS`]): `data: <i-th hash>`, then `event: done`.
//!   What a streaming inference server looks like to the gateway.

use std::time::Duration;

use alloy::primitives::{B256, keccak256};
use axum::{
    Router,
    extract::Path,
    response::sse::{Event, Sse},
    routing::get,
};

/// The most rounds one request may ask for.
pub const MAX_ROUNDS: u32 = 100_000;
/// The most events one stream may ask for.
pub const MAX_EVENTS: u32 = 1_000;
/// Between two events of a stream.
pub const STREAM_EVERY: Duration = Duration::from_millis(250);

/// keccak256 applied `n` times to 32 zero bytes.
pub fn hash_chain(n: u32) -> B256 {
    (0..n.min(MAX_ROUNDS)).fold(B256::ZERO, |h, _| keccak256(h))
}

/// The workload's routes.
pub fn router() -> Router {
    Router::new()
        .route("/work/{n}", get(|Path(n): Path<u32>| async move { hash_chain(n).to_string() }))
        .route("/stream/{n}", get(|Path(n): Path<u32>| async move { stream(n) }))
}

fn stream(n: u32) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = futures_util::stream::unfold((0, B256::ZERO), move |(i, hash)| async move {
        if i > n.min(MAX_EVENTS) {
            return None;
        }
        if i == n.min(MAX_EVENTS) {
            return Some((Ok(Event::default().event("done").data(hash.to_string())), (i + 1, hash)));
        }
        tokio::time::sleep(STREAM_EVERY).await;
        let next = keccak256(hash);
        Some((Ok(Event::default().data(next.to_string())), (i + 1, next)))
    });
    Sse::new(events)
}
