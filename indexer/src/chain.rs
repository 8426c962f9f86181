//! The node, as ingestion sees it: heads, headers, the market's logs. Every failure is classified
//! so the caller knows whether to shrink the range, back off, or give up.

use std::{fmt, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{
        client::RpcClient,
        types::{Filter, Log},
    },
    transports::{
        RpcError, TransportErrorKind,
        http::{Http, reqwest},
    },
};

use crate::{IndexerError, Result, store::BlockRef};

/// Longest wait for one answer of the node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What kind of RPC failure it was: what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcErrorClass {
    /// The `eth_getLogs` range returned too much: shrink it.
    RangeTooLarge,
    /// The node asks us to slow down: back off.
    RateLimited,
    /// The node is unreachable or failing: back off and retry.
    Unavailable,
    /// Anything else (a malformed answer, a missing block): retry slowly.
    Other,
}

impl RpcErrorClass {
    /// Every class, for metrics.
    pub const ALL: [Self; 4] = [Self::RangeTooLarge, Self::RateLimited, Self::Unavailable, Self::Other];

    /// The label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RangeTooLarge => "range_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }

    /// Classifies an error from the transport or the node.
    pub fn of(error: &RpcError<TransportErrorKind>) -> Self {
        match error {
            RpcError::ErrorResp(payload) => {
                let message = payload.message.to_ascii_lowercase();
                if payload.code == 429 || message.contains("rate limit") || message.contains("too many requests") {
                    Self::RateLimited
                } else if ["too many", "limit exceeded", "more than", "response size", "range", "exceed", "too large"]
                    .iter()
                    .any(|needle| message.contains(needle))
                {
                    Self::RangeTooLarge
                } else {
                    Self::Other
                }
            }
            RpcError::Transport(TransportErrorKind::HttpError(e)) if e.status == 429 => Self::RateLimited,
            RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter { error, .. }) if error.status == 429 => {
                Self::RateLimited
            }
            RpcError::Transport(TransportErrorKind::HttpError(e)) if e.status == 413 => Self::RangeTooLarge,
            RpcError::Transport(_) => Self::Unavailable,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for RpcErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn rpc_error(error: RpcError<TransportErrorKind>) -> IndexerError {
    IndexerError::Rpc { class: RpcErrorClass::of(&error), message: error.to_string() }
}

/// The node's view of finality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Finality {
    /// Latest block.
    pub head: u64,
    /// `safe` block (0 when the node has none).
    pub safe: u64,
    /// `finalized` block (0 when the node has none).
    pub finalized: u64,
}

/// A read-only connection to the node.
#[derive(Debug, Clone)]
pub struct Chain {
    provider: DynProvider,
    market: Address,
}

impl Chain {
    /// Connects over HTTP; `market` is the contract whose logs are read.
    pub fn connect(rpc_url: &str, market: Address) -> Result<Self> {
        let url: reqwest::Url = rpc_url.parse().map_err(|e| IndexerError::Rpc {
            class: RpcErrorClass::Other,
            message: format!("bad rpc url `{rpc_url}`: {e}"),
        })?;
        // A request the node never answers fails (as `unavailable`) instead of stalling ingestion.
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| IndexerError::Rpc {
            class: RpcErrorClass::Other,
            message: format!("building the HTTP client: {e}"),
        })?;
        let is_local = url.host_str().is_some_and(|host| host == "localhost" || host == "127.0.0.1");
        let client = RpcClient::new(Http::with_client(http, url), is_local);
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_client(client).erased();
        Ok(Self { provider, market })
    }

    /// The underlying provider, for contract view calls.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The chain id.
    pub async fn chain_id(&self) -> Result<u64> {
        self.provider.get_chain_id().await.map_err(rpc_error)
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64> {
        self.provider.get_block_number().await.map_err(rpc_error)
    }

    /// Head, `safe` and `finalized`.
    pub async fn finality(&self) -> Result<Finality> {
        let head = self.head().await?;
        let safe = self.tagged(BlockNumberOrTag::Safe).await?.unwrap_or(0);
        let finalized = self.tagged(BlockNumberOrTag::Finalized).await?.unwrap_or(0);
        Ok(Finality { head, safe, finalized })
    }

    async fn tagged(&self, tag: BlockNumberOrTag) -> Result<Option<u64>> {
        let block = self.provider.get_block_by_number(tag).await.map_err(rpc_error)?;
        Ok(block.map(|b| b.header.number))
    }

    /// The header of block `number`, with its timestamp; `None` if the node does not have it.
    pub async fn block(&self, number: u64) -> Result<Option<(BlockRef, u64)>> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await.map_err(rpc_error)?;
        Ok(block
            .map(|b| (BlockRef { number, hash: b.header.hash, parent_hash: b.header.parent_hash }, b.header.timestamp)))
    }

    /// Like [`Self::block`], but a missing block is an error.
    pub async fn existing_block(&self, number: u64) -> Result<(BlockRef, u64)> {
        self.block(number).await?.ok_or_else(|| IndexerError::Rpc {
            class: RpcErrorClass::Other,
            message: format!("the node does not have block {number} yet"),
        })
    }

    /// The market's logs in `from..=to`.
    pub async fn logs(&self, from: u64, to: u64) -> Result<Vec<Log>> {
        let filter = Filter::new().address(self.market).from_block(from).to_block(to);
        self.provider.get_logs(&filter).await.map_err(rpc_error)
    }
}

/// The `eth_getLogs` range: grows on success, halves when the node says it was too much.
#[derive(Debug, Clone, Copy)]
pub struct RangeSizer {
    size: u64,
    max: u64,
}

impl RangeSizer {
    /// Starts at `initial` blocks, never above `max`.
    pub fn new(initial: u64, max: u64) -> Self {
        Self { size: initial.clamp(1, max.max(1)), max: max.max(1) }
    }

    /// The current range in blocks.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The last range went through with `events` events: scales the range so that the next
    /// one holds about `target` (at most doubling it: the blocks ahead may be denser). Doubling
    /// whenever a range held less than `target` swung ranges between one and two targets, and
    /// a range's response is held whole in memory while it is read.
    pub fn fit(&mut self, events: usize, target: usize) {
        let scaled = self.size as u128 * target.max(1) as u128 / events.max(1) as u128;
        self.size = (scaled.min(self.size as u128 * 2) as u64).clamp(1, self.max);
    }

    /// The last range was too much.
    pub fn shrink(&mut self) {
        self.size = (self.size / 2).max(1);
    }
}

/// Exponential back-off for rate limits and outages, reset by any success.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// From `min`, doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { next: min, min, max }
    }

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// A request succeeded.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::RangeSizer;

    #[test]
    fn ranges_settle_near_the_target_and_at_most_double() {
        // 350 events a block: 10-block ranges grow to about 10,000 events and stay there.
        let mut sizer = RangeSizer::new(10, 50_000);
        let mut events = Vec::new();
        for _ in 0..10 {
            let before = sizer.size();
            let held = sizer.size() as usize * 350;
            events.push(held);
            sizer.fit(held, 10_000);
            assert!(sizer.size() <= before * 2, "{before} → {}", sizer.size());
        }
        assert!(events[5..].iter().all(|e| (9_000..=10_000).contains(e)), "{events:?}");
        // An empty range doubles; a dense one shrinks to the target at once.
        sizer.fit(0, 10_000);
        let size = sizer.size();
        sizer.fit(size as usize * 3_500, 10_000);
        assert_eq!(sizer.size(), 10_000 / 3_500, "blocks of 3,500 events: 2 a range");
    }
}
