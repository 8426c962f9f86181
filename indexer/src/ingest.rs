//! Ingestion: backfill from the deploy block with adaptive `eth_getLogs` ranges, then follow the
//! head. Each step reads a range, checks it against the headers it belongs to, applies its events
//! to the working set of rows (loaded from the store as the events need them) and commits events,
//! rows, undo records, window and cursor in one transaction. A parent-hash mismatch rolls the
//! mirror back to the common ancestor with the undo records; the next steps re-apply. Neither a
//! restart nor a reorg reads more than the reorg's blocks.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256},
    rpc::types::Log,
};
use openlease_contracts::{Manifest, Openlease::OpenleaseEvents};
use tokio::sync::broadcast;

use crate::{
    IndexerError, Result,
    chain::{Backoff, Chain, Finality, RangeSizer, RpcErrorClass},
    events::EventCodec,
    metrics::Metrics,
    state::{DAY, EventPosition, Market, VALUE_DECIMALS},
    store::{Batch, BlockRef, Cursor, Store, StoredEvent},
};

/// Header requests in flight when a range inside the window is read.
const HEADERS_IN_FLIGHT: usize = 16;

/// Rows the working set may keep between batches; past this it starts empty again.
const WORKING_SET_ROWS: usize = 20_000;

/// How ingestion paces itself.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Pause between polls once at the head.
    pub poll_interval: Duration,
    /// Blocks below the head whose hashes are kept (and checked one by one): the deepest reorg
    /// the mirror survives.
    pub window: u64,
    /// First `eth_getLogs` range, in blocks.
    pub initial_range: u64,
    /// Largest `eth_getLogs` range.
    pub max_range: u64,
    /// Events one batch aims at: ranges shrink when they hold more (dense blocks), so that a
    /// backfill commits in bounded transactions while the next range is read.
    pub batch_events: usize,
    /// Shortest and longest pause after a rate limit or an outage.
    pub backoff: (Duration, Duration),
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            window: 128,
            initial_range: 10,
            max_range: 50_000,
            batch_events: 5_000,
            backoff: (Duration::from_millis(250), Duration::from_secs(30)),
        }
    }
}

/// What ingestion tells live listeners (the `/v1/events` stream).
#[derive(Debug, Clone)]
pub enum Notice {
    /// A new event, as stored.
    Applied(Arc<StoredEvent>),
    /// Every event above `block` was retracted by a reorg.
    Retracted {
        /// The common ancestor: events at or below it stand.
        block: u64,
        /// The retraction's `/v1/events` id.
        seq: u64,
    },
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Blocks were applied (or rolled back): step again at once.
    Advanced,
    /// The chain moved under the read: read again.
    Retry,
    /// The mirror is at the node's head.
    AtHead,
}

/// The single writer.
#[derive(Debug)]
pub struct Ingestor {
    store: Store,
    chain: Chain,
    codec: EventCodec,
    market: Market,
    cursor: Cursor,
    config: IngestConfig,
    metrics: Arc<Metrics>,
    sizer: RangeSizer,
    finality: Finality,
    finality_read: Option<Instant>,
    notices: broadcast::Sender<Notice>,
    /// A commit failed after the working set was changed: load it from the store again.
    stale: bool,
    /// The next ranges, contiguous, read while the previous batches were being written.
    prefetched: VecDeque<Fetched>,
}

/// A range read from the node and checked against its headers, not yet applied.
#[derive(Debug)]
struct Fetched {
    from: u64,
    to: u64,
    /// Whether the range lies in the recent window (every header held) or below it (its ends).
    near_head: bool,
    /// The hash block `from`'s parent has: the cursor's, if the chain did not reorganise.
    parent_hash: B256,
    headers: Vec<(BlockRef, u64)>,
    /// Sorted by (block, log index).
    logs: Vec<Log>,
    timestamps: HashMap<u64, u64>,
}

impl Ingestor {
    /// Resumes from the store's cursor (or starts below the deploy block) and checks the cursor is
    /// still on the chain: nothing is replayed.
    pub async fn start(
        store: Store,
        chain: Chain,
        manifest: &Manifest,
        config: IngestConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let market_address = manifest.market();
        let cursor = match store.cursor().await? {
            Some(cursor) => {
                if cursor.chain_id != manifest.chain_id || cursor.market != market_address {
                    return Err(IndexerError::WrongDatabase {
                        stored_chain: cursor.chain_id,
                        stored_market: cursor.market.to_string(),
                        chain: manifest.chain_id,
                        market: market_address.to_string(),
                    });
                }
                cursor
            }
            None => {
                let (start, timestamp) = chain.existing_block(manifest.deploy_block.saturating_sub(1)).await?;
                let cursor = Cursor {
                    chain_id: manifest.chain_id,
                    market: market_address,
                    number: start.number,
                    hash: start.hash,
                    timestamp,
                    head: start.number,
                    safe: 0,
                    finalized: 0,
                    seq: 0,
                };
                store
                    .commit(Batch {
                        events: &[],
                        market: &mut Market::default(),
                        blocks: &[start],
                        window_floor: 0,
                        cursor: &cursor,
                        below_window: false,
                    })
                    .await?;
                cursor
            }
        };
        metrics.set_writer();
        let (notices, _) = broadcast::channel(4096);
        let codec = EventCodec::new();
        let market = Market::default();
        let sizer = RangeSizer::new(config.initial_range, config.max_range);
        let mut ingestor = Self {
            store,
            chain,
            codec,
            market,
            cursor,
            config,
            metrics,
            sizer,
            finality: Finality::default(),
            finality_read: None,
            notices,
            stale: false,
            prefetched: VecDeque::new(),
        };
        // The chain may have reorganised while we were down.
        if ingestor.chain.block(ingestor.cursor.number).await?.map(|(b, _)| b.hash) != Some(ingestor.cursor.hash) {
            ingestor.roll_back().await?;
        }
        Ok(ingestor)
    }

    /// The last block applied.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Sends live notices (every applied event, every retraction) to `sender`, shared with the API.
    pub fn with_notices(mut self, sender: broadcast::Sender<Notice>) -> Self {
        self.notices = sender;
        self
    }

    /// Follows the chain forever, riding out outages; returns only on an error retrying cannot fix.
    pub async fn run(mut self) -> Result<()> {
        let mut backoff = Backoff::new(self.config.backoff.0, self.config.backoff.1);
        loop {
            match self.step().await {
                Ok(Step::Advanced | Step::Retry) => backoff.reset(),
                Ok(Step::AtHead) => {
                    backoff.reset();
                    tokio::time::sleep(self.config.poll_interval).await;
                }
                Err(error) => {
                    let delay = self.absorb(error)?;
                    tokio::time::sleep(delay.unwrap_or_else(|| backoff.next_delay())).await;
                }
            }
        }
    }

    /// Steps until the mirror reaches the head it saw last, retrying transient errors.
    pub async fn catch_up(&mut self) -> Result<()> {
        let mut backoff = Backoff::new(self.config.backoff.0, self.config.backoff.1);
        loop {
            match self.step().await {
                Ok(Step::AtHead) => return Ok(()),
                Ok(_) => backoff.reset(),
                Err(error) => {
                    let delay = self.absorb(error)?;
                    tokio::time::sleep(delay.unwrap_or_else(|| backoff.next_delay())).await;
                }
            }
        }
    }

    /// Records a failed step. `Ok(Some(delay))` or `Ok(None)` (back off) if retrying can help.
    fn absorb(&mut self, error: IndexerError) -> Result<Option<Duration>> {
        match &error {
            IndexerError::Rpc { class, message } => {
                self.metrics.record_rpc_error(*class);
                tracing::warn!(%class, %message, "rpc request failed");
                if *class == RpcErrorClass::RangeTooLarge {
                    self.sizer.shrink();
                    return Ok(Some(Duration::ZERO));
                }
                Ok(None)
            }
            IndexerError::Database(_) => {
                tracing::warn!(%error, "database write failed; retrying");
                self.stale = true;
                Ok(None)
            }
            _ => Err(error),
        }
    }

    /// One step: roll back a reorg, or apply the next range, or notice that we are at the head.
    pub async fn step(&mut self) -> Result<Step> {
        if self.stale {
            self.market = Market::default();
            self.stale = false;
        }
        let head = self.chain.head().await?;
        self.refresh_finality(head).await?;
        if head <= self.cursor.number {
            let on_chain = self.chain.block(self.cursor.number).await?.map(|(b, _)| b.hash);
            if on_chain != Some(self.cursor.hash) {
                self.roll_back().await?;
                return Ok(Step::Advanced);
            }
            if (self.cursor.safe, self.cursor.finalized) != (self.finality.safe, self.finality.finalized) {
                let (number, hash, timestamp) = (self.cursor.number, self.cursor.hash, self.cursor.timestamp);
                self.commit(Vec::new(), Vec::new(), (number, hash, timestamp), head, None).await?;
            }
            self.metrics.record_head(head, self.cursor.number);
            return Ok(Step::AtHead);
        }

        let from = self.cursor.number + 1;
        let fetched = match self.prefetched.pop_front().filter(|f| f.from == from) {
            Some(fetched) => fetched,
            None => {
                self.prefetched.clear();
                match self.reader().fetch(from, head, self.sizer.size()).await? {
                    Some(fetched) => {
                        self.sizer.fit(fetched.logs.len(), self.config.batch_events);
                        fetched
                    }
                    None => return Ok(Step::Retry),
                }
            }
        };
        if fetched.parent_hash != self.cursor.hash {
            self.roll_back().await?;
            return Ok(Step::Advanced);
        }
        let Some(fetched) = self.split(fetched).await? else {
            self.prefetched.clear();
            return Ok(Step::Retry);
        };
        let (last, last_timestamp) = *fetched.headers.last().expect("at least one header");
        let started = Instant::now();
        let events =
            self.apply(&fetched.logs, &fetched.timestamps, fetched.near_head, (last.number, last_timestamp)).await?;
        let applied = started.elapsed();
        let blocks = if fetched.near_head { fetched.headers.iter().map(|h| h.0).collect() } else { vec![last] };
        let count = events.len() as u64;
        // While the batch is written, the next ranges are read: a backfill waits on the node or on
        // the database, not on both in turn. What the prefetch read is checked against the cursor
        // (parent hash) when it is applied, like any range.
        let read_to = self.prefetched.back().map_or(fetched.to, |f| f.to);
        let next = (read_to < head).then_some(read_to + 1);
        self.commit(events, blocks, (fetched.to, last.hash, last_timestamp), head, next).await?;
        tracing::debug!(from = fetched.from, to = fetched.to, count, ?applied, committed = ?started.elapsed(), "batch");
        self.metrics.record_batch(head, fetched.to, count);
        Ok(Step::Advanced)
    }

    fn reader(&self) -> Reader {
        Reader { chain: self.chain.clone(), window: self.config.window }
    }

    /// Cuts a range read below the window that holds far more events than a batch aims at (the
    /// sizer overshoots where sparse blocks turn dense) at a block boundary, and queues the rest:
    /// batches stay about `batch_events`, so that each is written while the next is read. The
    /// cut block's header is read to link both parts; `None` when it no longer matches the logs.
    async fn split(&mut self, mut fetched: Fetched) -> Result<Option<Fetched>> {
        let target = self.config.batch_events.max(1);
        if fetched.near_head || fetched.logs.len() <= target + target / 2 {
            return Ok(Some(fetched));
        }
        let cut_block = fetched.logs[target - 1].block_number.unwrap_or_default();
        let end = fetched.logs.partition_point(|log| log.block_number.unwrap_or_default() <= cut_block);
        if end == fetched.logs.len() || cut_block >= fetched.to {
            return Ok(Some(fetched));
        }
        let cut = self.chain.existing_block(cut_block).await?;
        if fetched.logs[end - 1].block_hash != Some(cut.0.hash) {
            return Ok(None);
        }
        let rest = Fetched {
            from: cut_block + 1,
            to: fetched.to,
            near_head: false,
            parent_hash: cut.0.hash,
            headers: fetched.headers.iter().filter(|h| h.0.number > cut_block).copied().collect(),
            logs: fetched.logs.split_off(end),
            timestamps: fetched.timestamps.clone(),
        };
        self.prefetched.push_front(rest);
        fetched.to = cut_block;
        fetched.headers = vec![cut];
        Ok(Some(fetched))
    }

    async fn refresh_finality(&mut self, head: u64) -> Result<()> {
        self.finality.head = head;
        if self.finality_read.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            self.finality = self.chain.finality().await?;
            self.finality.head = head;
            self.finality_read = Some(Instant::now());
        }
        Ok(())
    }

    /// Decodes and applies the logs to the working set, loading the rows they need first;
    /// returns them as stored events. Inside the reorg window (`recording`) every change records
    /// the row as it was.
    async fn apply(
        &mut self,
        logs: &[Log],
        timestamps: &HashMap<u64, u64>,
        recording: bool,
        (last_block, last_timestamp): (u64, u64),
    ) -> Result<Vec<StoredEvent>> {
        let mut decoded = Vec::with_capacity(logs.len());
        let mut events = Vec::with_capacity(logs.len());
        let mut seq = self.cursor.seq;
        for log in logs {
            let topics = log.topics();
            let Some(event) = self.codec.decode(topics, &log.data().data) else {
                tracing::warn!(block = ?log.block_number, index = ?log.log_index, "skipping a log that is no market event");
                continue;
            };
            let block = log.block_number.unwrap_or_default();
            let position = EventPosition {
                block,
                timestamp: timestamps.get(&block).copied().unwrap_or_default(),
                log_index: log.log_index.unwrap_or_default(),
                tx_hash: log.transaction_hash.unwrap_or_default(),
            };
            seq += 1;
            events.push(StoredEvent {
                block,
                log_index: position.log_index,
                seq,
                lease_id: crate::events::lease_of(&event),
                block_hash: log.block_hash.unwrap_or_default(),
                timestamp: position.timestamp,
                tx_hash: position.tx_hash,
                topics: topics.to_vec(),
                data: log.data().data.clone(),
            });
            decoded.push((event, position));
        }
        let decimals = self.token_decimals(&decoded).await?;
        // Reputation decays with time, not only with outcomes: on the first batch of a new UTC day
        // every provider's is brought to the batch's last block.
        let new_day = last_timestamp / DAY > self.cursor.timestamp / DAY;
        let providers = if new_day { self.store.provider_addresses().await? } else { Vec::new() };
        let refresh_at = EventPosition { block: last_block, timestamp: last_timestamp, ..Default::default() };
        // A pass that asks for rows the working set lacks is thrown away; the store loads them
        // and the batch is applied again (two or three passes when the rows are new to it).
        let mut base = std::mem::take(&mut self.market);
        base.set_recording(recording);
        base.decimals = Arc::new(decimals);
        loop {
            let mut pass = base.clone();
            // The totals follow the rows block by block (a reorg undoes both alike).
            let (mut block, mut in_block) = (None, 0);
            for (event, position) in &decoded {
                if let Some(done) = block.filter(|b| *b != position.block) {
                    pass.tally(done, std::mem::take(&mut in_block));
                }
                block = Some(position.block);
                in_block += 1;
                pass.apply(event, *position);
            }
            if let Some(done) = block {
                pass.tally(done, in_block);
            }
            pass.refresh_reputations(&providers, refresh_at);
            pass.tally(last_block, 0);
            if !pass.is_missing_rows() {
                self.market = pass;
                return Ok(events);
            }
            if let Err(error) = self.store.load(&pass, &mut base).await {
                self.stale = true;
                return Err(error);
            }
        }
    }

    /// The decimals of the tokens the events allow, read from each token (6, with a warning, for
    /// one that does not say). A node that cannot be asked fails the step, which is tried again:
    /// an outage must not be taken for a token without decimals.
    async fn token_decimals(&self, decoded: &[(OpenleaseEvents, EventPosition)]) -> Result<BTreeMap<Address, u8>> {
        let mut decimals = BTreeMap::new();
        for (event, _) in decoded {
            let OpenleaseEvents::TokenAllowed(e) = event else { continue };
            if decimals.contains_key(&e.token) {
                continue;
            }
            let read = match self.chain.decimals(e.token).await {
                Ok(d) => d,
                Err(crate::IndexerError::Rpc { class, message }) if !class.is_transient() => {
                    tracing::warn!(token = %e.token, %message, "the token does not say its decimals: counting 6");
                    VALUE_DECIMALS
                }
                Err(error) => return Err(error),
            };
            decimals.insert(e.token, read);
        }
        Ok(decimals)
    }

    /// Writes a batch up to block `to` (number, hash, timestamp); meanwhile reads the range from
    /// `next`, if any.
    async fn commit(
        &mut self,
        events: Vec<StoredEvent>,
        blocks: Vec<BlockRef>,
        (to, hash, timestamp): (u64, B256, u64),
        head: u64,
        next: Option<u64>,
    ) -> Result<()> {
        let cursor = Cursor {
            number: to,
            hash,
            timestamp,
            head,
            safe: self.finality.safe,
            finalized: self.finality.finalized,
            seq: events.last().map_or(self.cursor.seq, |e| e.seq),
            ..self.cursor.clone()
        };
        // The reads run in a task of their own (parsing a range's logs is work too): at least the
        // next range, then more while the write lasts, up to two batches ahead. A failed read is
        // read again by the next step, which reports the error.
        let written_flag = Arc::new(AtomicBool::new(false));
        let reading = next.map(|from| {
            let (reader, done, target) = (self.reader(), written_flag.clone(), self.config.batch_events);
            let (mut sizer, mut queued) = (self.sizer, self.prefetched.iter().map(|f| f.logs.len()).sum::<usize>());
            tokio::spawn(async move {
                let (mut read, mut from) = (Vec::new(), Some(from));
                while let Some(start) = from {
                    let Ok(Some(fetched)) = reader.fetch(start, head, sizer.size()).await else { break };
                    sizer.fit(fetched.logs.len(), target);
                    queued += fetched.logs.len();
                    from = (fetched.to < head).then_some(fetched.to + 1);
                    read.push(fetched);
                    if done.load(Ordering::Acquire) || queued >= 2 * target {
                        break;
                    }
                }
                (read, sizer)
            })
        });
        let batch = Batch {
            events: &events,
            market: &mut self.market,
            blocks: &blocks,
            window_floor: head.saturating_sub(self.config.window).min(to),
            cursor: &cursor,
            below_window: to < head.saturating_sub(self.config.window),
        };
        let written = self.store.commit(batch).await;
        written_flag.store(true, Ordering::Release);
        let read = match reading {
            Some(task) => task.await.ok(),
            None => None,
        };
        if let Err(error) = written {
            self.stale = true;
            self.prefetched.clear();
            return Err(error);
        }
        self.cursor = cursor;
        if self.market.len() > WORKING_SET_ROWS {
            self.market = Market::default();
        }
        if let Some((read, sizer)) = read {
            self.prefetched.extend(read);
            self.sizer = sizer;
        }
        for event in events {
            // No listener is fine.
            let _ = self.notices.send(Notice::Applied(Arc::new(event)));
        }
        Ok(())
    }

    /// Finds the newest stored block still on the chain and rolls the mirror back to it.
    async fn roll_back(&mut self) -> Result<()> {
        self.prefetched.clear();
        let window = self.store.window().await?;
        let mut ancestor = None;
        for block in window.iter().filter(|b| b.number <= self.cursor.number) {
            if let Some((on_chain, timestamp)) = self.chain.block(block.number).await?
                && on_chain.hash == block.hash
            {
                ancestor = Some((*block, timestamp));
                break;
            }
        }
        let Some((ancestor, timestamp)) = ancestor else {
            return Err(IndexerError::ReorgTooDeep {
                window: self.config.window,
                oldest: window.last().map(|b| b.number).unwrap_or(self.cursor.number),
            });
        };
        let cursor = Cursor {
            number: ancestor.number,
            hash: ancestor.hash,
            timestamp,
            seq: self.cursor.seq + 1,
            ..self.cursor.clone()
        };
        self.market = Market::default();
        self.store.roll_back(&cursor).await?;
        tracing::info!(from = self.cursor.number, to = ancestor.number, "reorg: rolled back to the common ancestor");
        self.cursor = cursor;
        self.metrics.record_reorg();
        let _ = self.notices.send(Notice::Retracted { block: ancestor.number, seq: self.cursor.seq });
        Ok(())
    }
}

/// Reads ranges of the market's logs and checks them against their headers; owns what it needs,
/// so that it reads in a task of its own while a batch is written.
#[derive(Debug, Clone)]
struct Reader {
    chain: Chain,
    /// The recent window, in blocks (`IngestConfig::window`).
    window: u64,
}

impl Reader {
    /// Reads the range from `from` (`size` blocks at most, up to `head`) and checks it
    /// against its headers; `None` when the chain moved under the read.
    async fn fetch(&self, from: u64, head: u64, size: u64) -> Result<Option<Fetched>> {
        // A range lies wholly below the window (checked at its ends) or wholly inside it
        // (checked block by block).
        let deep_end = head.saturating_sub(self.window);
        let near_head = from > deep_end;
        let to = head.min(from + size - 1);
        let to = if near_head { to } else { to.min(deep_end) };
        let numbers: Vec<u64> =
            if near_head { (from..=to).collect() } else { BTreeSet::from([from, to]).into_iter().collect() };
        // Inside the window every header is read: a few at a time, not one round trip after another
        // (128 of them after a restart that fell behind).
        use futures_util::{StreamExt, TryStreamExt};
        let headers: Vec<(BlockRef, u64)> = futures_util::stream::iter(numbers)
            .map(|number| self.chain.existing_block(number))
            .buffered(HEADERS_IN_FLIGHT)
            .try_collect()
            .await?;
        if near_head && headers.windows(2).any(|w| w[1].0.parent_hash != w[0].0.hash) {
            return Ok(None);
        }
        let last = headers.last().expect("at least one header").0;

        // Two halves read at once: the node answers both on its cores while we parse.
        let mut logs = if to > from {
            let mid = from + (to - from) / 2;
            let (low, high) = tokio::try_join!(self.chain.logs(from, mid), self.chain.logs(mid + 1, to))?;
            let mut logs = low;
            logs.extend(high);
            logs
        } else {
            self.chain.logs(from, to).await?
        };
        // The logs must belong to the blocks whose headers we hold; an empty answer counts only
        // if block `to` is still the one we saw (its hash commits to every block below it).
        let known: HashMap<u64, (BlockRef, u64)> = headers.iter().map(|h| (h.0.number, *h)).collect();
        let consistent = logs.iter().all(|log| {
            !log.removed
                && known.get(&log.block_number.unwrap_or_default()).is_none_or(|(b, _)| Some(b.hash) == log.block_hash)
        });
        if !consistent || self.chain.block(to).await?.map(|(b, _)| b.hash) != Some(last.hash) {
            return Ok(None);
        }
        logs.sort_by_key(|log| (log.block_number, log.log_index));
        let timestamps = self.timestamps(&logs, &known).await?;
        let parent_hash = headers[0].0.parent_hash;
        Ok(Some(Fetched { from, to, near_head, parent_hash, headers, logs, timestamps }))
    }

    /// Block timestamps for the logs: from the logs when the node includes them, else headers.
    async fn timestamps(&self, logs: &[Log], known: &HashMap<u64, (BlockRef, u64)>) -> Result<HashMap<u64, u64>> {
        let mut out: HashMap<u64, u64> = known.iter().map(|(n, (_, ts))| (*n, *ts)).collect();
        for log in logs {
            let number = log.block_number.unwrap_or_default();
            if out.contains_key(&number) {
                continue;
            }
            let ts = match log.block_timestamp {
                Some(ts) => ts,
                None => self.chain.existing_block(number).await?.1,
            };
            out.insert(number, ts);
        }
        Ok(out)
    }
}
