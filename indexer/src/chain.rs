//! The node, as ingestion sees it: heads, headers, the market's logs. Every failure is classified
//! so the caller knows whether to shrink the range, back off, or give up.

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, Log},
    transports::{RpcError, TransportErrorKind, http::reqwest},
};
pub use openlease_rpc::{RetryPolicy, RpcErrorClass, RpcStats};

use crate::{IndexerError, Result, store::BlockRef};

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
    stats: Arc<RpcStats>,
}

impl Chain {
    /// Connects over HTTP; `market` is the contract whose logs are read. Each request is asked
    /// again under `policy` while the node refuses or fails it.
    pub fn connect(rpc_url: &str, market: Address, policy: RetryPolicy) -> Result<Self> {
        let url: reqwest::Url = rpc_url.parse().map_err(|e| IndexerError::Rpc {
            class: RpcErrorClass::Other,
            message: format!("bad rpc url `{rpc_url}`: {e}"),
        })?;
        let layer = openlease_rpc::RetryLayer::new(policy);
        let stats = layer.stats();
        let client = openlease_rpc::http(url, layer);
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_client(client).erased();
        Ok(Self { provider, market, stats })
    }

    /// What the retries did so far, shared.
    pub fn rpc_stats(&self) -> Arc<RpcStats> {
        self.stats.clone()
    }

    /// The underlying provider, for contract view calls.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// A token's decimals, as the token states them: the one source of them for the mirror's
    /// values and the console's amounts (a manifest's may be stale).
    pub async fn decimals(&self, token: Address) -> Result<u8> {
        let erc20 = openlease_contracts::MockStablecoin::new(token, self.provider.clone());
        erc20.decimals().call().await.map_err(|e| match e {
            alloy::contract::Error::TransportError(e) => rpc_error(e),
            other => IndexerError::Rpc { class: RpcErrorClass::Other, message: other.to_string() },
        })
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

/// Back-off between failed steps (an outage longer than a request's patience), reset by any
/// success: the shared retry policy's delays.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    /// From `min`, doubling up to `max`, with jitter.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { policy: RetryPolicy { first_delay: min, max_delay: max, ..RetryPolicy::default() }, failures: 0 }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures - 1, None)
    }

    /// A step succeeded.
    pub fn reset(&mut self) {
        self.failures = 0;
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
