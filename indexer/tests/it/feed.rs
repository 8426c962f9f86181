//! `/v1/events` read as a client reads it (frames parsed here): the live feed, a resume with
//! `Last-Event-ID`, a resume across a reorg (the retraction first, then only the events that
//! stand); and a reorg deeper than the undo window, which ingestion must refuse without touching
//! the database.

use std::time::Duration;

use alloy::{
    primitives::U256,
    providers::{Provider, ext::AnvilApi},
    transports::http::reqwest,
};
use openlease_indexer::{
    IndexerError,
    events::EventCodec,
    ingest::{IngestConfig, Ingestor, Step},
    rows::{Lease, Provider as ProviderRow},
    store::{Store, StoredEvent},
};
use serde_json::Value;

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, chain_log_count, fresh_db, ingestor, serve_api, test_config},
};

/// How long a frame that should come may take.
const FRAME_WAIT: Duration = Duration::from_secs(10);
/// How long we listen to be sure nothing more comes.
const QUIET: Duration = Duration::from_millis(500);

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    id: Option<u64>,
    event: String,
    data: Value,
}

impl Frame {
    /// An `applied` frame as (id, seq, block, log index, block hash, name).
    fn applied(&self) -> (Option<u64>, u64, u64, u64, String, String) {
        assert_eq!(self.event, "applied", "{self:?}");
        let d = &self.data;
        (
            self.id,
            d["seq"].as_u64().unwrap(),
            d["block_number"].as_u64().unwrap(),
            d["log_index"].as_u64().unwrap(),
            d["block_hash"].as_str().unwrap().to_owned(),
            d["name"].as_str().unwrap().to_owned(),
        )
    }
}

/// The same tuple for a stored event.
fn stored(e: &StoredEvent) -> (Option<u64>, u64, u64, u64, String, String) {
    (
        Some(e.seq),
        e.seq,
        e.block,
        e.log_index,
        e.block_hash.to_string(),
        EventCodec::new().name(&e.topics).unwrap_or_default().to_owned(),
    )
}

/// A `/v1/events` connection, its frames parsed by hand.
struct Feed {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Feed {
    async fn connect(base: &str, last_event_id: Option<u64>) -> Self {
        let mut request = reqwest::Client::new().get(format!("{base}/v1/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(kind.starts_with("text/event-stream"), "content-type {kind}");
        Self { response, buffer: Vec::new() }
    }

    /// The next frame with an event or data (comments, such as keep-alives, are skipped);
    /// `None` if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let raw: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(raw).expect("frames are UTF-8");
                let (mut id, mut event, mut data) = (None, None, Vec::new());
                for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with(':')) {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => id = Some(value.parse::<u64>().unwrap_or_else(|_| panic!("a numeric id: {line}"))),
                        "event" => event = Some(value.to_owned()),
                        "data" => data.push(value.to_owned()),
                        other => panic!("unexpected field `{other}` in {text:?}"),
                    }
                }
                if event.is_none() && data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                return Some(Frame { id, event: event.unwrap_or_else(|| "message".into()), data });
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.unwrap()?;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next `n` frames; panics if one does not come in time.
    async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(n);
        while frames.len() < n {
            let frame = self.next(FRAME_WAIT).await;
            frames.push(frame.unwrap_or_else(|| panic!("frame {} of {n} did not come: got {frames:#?}", frames.len())));
        }
        frames
    }

    /// Asserts nothing more comes for a while.
    async fn assert_quiet(&mut self, what: &str) {
        if let Some(frame) = self.next(QUIET).await {
            panic!("{what}: unexpected frame {frame:?}");
        }
    }
}

/// Steps until the mirror is at the head.
async fn step_to_head(ingestor: &mut Ingestor) {
    for _ in 0..100 {
        if ingestor.step().await.unwrap() == Step::AtHead {
            return;
        }
    }
    panic!("not at the head after 100 steps");
}

both_backends!(events_feed_resumes_across_a_reorg, feed_resumes);
async fn feed_resumes(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(17).await;
    let (store, ingestor) = ingestor(&market, &url, test_config()).await;
    let notices = tokio::sync::broadcast::channel(4096).0;
    let mut ingestor = ingestor.with_notices(notices.clone());
    let base = serve_api(&store, notices).await;

    // A live reader from before the first event: it gets every event as it is applied.
    let mut live = Feed::connect(&base, None).await;
    market.random_ops(12).await;
    ingestor.catch_up().await.unwrap();
    let events = Store::events_after(store.pool(), 0, 10_000).await.unwrap();
    assert_eq!(events.len() as u64, chain_log_count(&market).await);
    assert!(events.len() >= 20, "only {} events", events.len());
    let first: Vec<_> = live.take(events.len()).await.iter().map(Frame::applied).collect();
    live.assert_quiet("the live feed after the backlog").await;
    assert_eq!(first, events.iter().map(stored).collect::<Vec<_>>(), "the live feed is the stored events");
    let ids: Vec<u64> = first.iter().map(|f| f.0.expect("every applied event has an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert!(first.iter().all(|f| f.0 == Some(f.1)), "the id is the event's seq");
    let order: Vec<(u64, u64)> = first.iter().map(|f| (f.2, f.3)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "chain order: {order:?}");

    // A resume from the middle: exactly the events after it, then the live feed.
    let middle = first.len() / 2;
    let mut resumed = Feed::connect(&base, Some(ids[middle])).await;
    let rest: Vec<_> = resumed.take(first.len() - middle - 1).await.iter().map(Frame::applied).collect();
    assert_eq!(rest, first[middle + 1..], "a resume from id {} gets the events after it", ids[middle]);
    resumed.assert_quiet("a resume after the backlog").await;
    drop(resumed);

    // Fork A: blocks the mirror applies and the reader sees...
    let snapshot = market.provider.anvil_snapshot().await.unwrap();
    let ancestor = market.provider.get_block_number().await.unwrap();
    let m = market.market.clone();
    for (offer, provider) in [(1u64, 1usize), (2, 2), (3, 3)] {
        market.must(None, m.setOfferPaused(U256::from(offer), true).from(market.account(provider)), "pause").await;
    }
    ingestor.catch_up().await.unwrap();
    let fork_a = Store::events_after(store.pool(), *ids.last().unwrap(), 100).await.unwrap();
    assert_eq!(fork_a.len(), 3, "{fork_a:?}");
    assert!(fork_a.iter().all(|e| e.block > ancestor));
    let seen: Vec<_> = live.take(3).await.iter().map(Frame::applied).collect();
    assert_eq!(seen, fork_a.iter().map(stored).collect::<Vec<_>>());
    let last_seen = seen.last().unwrap().1;

    // ...then gone: the chain goes back to `ancestor` and on with other blocks.
    assert!(market.provider.anvil_revert(snapshot).await.unwrap());
    market.provider.anvil_increase_time(100).await.unwrap();
    market.provider.evm_mine(None).await.unwrap();
    market.random_ops(4).await;
    market.must(None, m.setOfferPaused(U256::from(2), true).from(market.account(2)), "pause 2").await;
    step_to_head(&mut ingestor).await;
    assert_eq!(store.event_count().await.unwrap(), chain_log_count(&market).await);
    let fork_b = Store::events_after(store.pool(), last_seen, 1_000).await.unwrap();
    assert!(!fork_b.is_empty() && fork_b.iter().all(|e| e.block > ancestor), "{fork_b:?}");
    let fork_b: Vec<_> = fork_b.iter().map(stored).collect();
    let head = market.provider.get_block_number().await.unwrap();
    let logs = market.chain().logs(ancestor + 1, head).await.unwrap();
    let on_chain: Vec<_> = logs
        .iter()
        .map(|l| (l.block_number.unwrap(), l.log_index.unwrap(), l.block_hash.unwrap().to_string()))
        .collect();
    assert_eq!(
        fork_b.iter().map(|e| (e.2, e.3, e.4.clone())).collect::<Vec<_>>(),
        on_chain,
        "fork B's events are the chain's"
    );

    // The live reader: the retraction (with its id), then fork B.
    let retraction = live.next(FRAME_WAIT).await.expect("a retraction on the live feed");
    assert_eq!(retraction.event, "retracted", "{retraction:?}");
    assert_eq!(retraction.data["above"], ancestor, "{retraction:?}");
    let retraction_id = retraction.id.expect("a live retraction has an id");
    assert!(retraction_id > last_seen && fork_b.iter().all(|e| e.1 > retraction_id), "{retraction:?}");
    let live_b: Vec<_> = live.take(fork_b.len()).await.iter().map(Frame::applied).collect();
    assert_eq!(live_b, fork_b);
    live.assert_quiet("the live feed after the reorg").await;

    // A reader that saw fork A and reconnects: the retraction first, down to the common ancestor,
    // then fork B's events, and nothing else.
    let mut resumed = Feed::connect(&base, Some(last_seen)).await;
    let frame = resumed.next(FRAME_WAIT).await.expect("a retraction first");
    assert_eq!(frame.event, "retracted", "{frame:?}");
    assert_eq!(frame.data["above"], ancestor, "the common ancestor: {frame:?}");
    assert!(fork_a.iter().all(|e| e.block > ancestor), "every event of fork A is retracted");
    let after: Vec<_> = resumed.take(fork_b.len()).await.iter().map(Frame::applied).collect();
    assert_eq!(after, fork_b, "then exactly the events that replaced them");
    resumed.assert_quiet("a resume across the reorg").await;

    // One that saw the retraction gets only what followed it.
    let mut resumed = Feed::connect(&base, Some(retraction_id)).await;
    let after: Vec<_> = resumed.take(fork_b.len()).await.iter().map(Frame::applied).collect();
    assert_eq!(after, fork_b);
    resumed.assert_quiet("a resume after the retraction").await;

    assert_audit_passes(&store, &market).await;
}

both_backends!(a_reorg_deeper_than_the_undo_window_is_refused, too_deep);
async fn too_deep(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(29).await;
    market.random_ops(10).await;
    let config = IngestConfig { window: 4, ..test_config() };
    let (store, mut ingestor) = ingestor(&market, &url, config.clone()).await;
    ingestor.catch_up().await.unwrap();

    // Ten blocks the mirror applies, then a fork from below them all.
    let snapshot = market.provider.anvil_snapshot().await.unwrap();
    let base = market.provider.get_block_number().await.unwrap();
    while market.provider.get_block_number().await.unwrap() < base + 10 {
        market.random_op().await;
    }
    ingestor.catch_up().await.unwrap();
    let cursor = store.cursor().await.unwrap().unwrap();
    assert_eq!(cursor.number, market.provider.get_block_number().await.unwrap());
    let window = store.window().await.unwrap();
    let oldest = window.last().unwrap().number;
    assert!(oldest > base, "the window ({oldest}..) lies above the fork ({base})");
    let events = store.event_count().await.unwrap();
    let leases: Vec<Lease> = Store::all(store.pool()).await.unwrap();
    let providers: Vec<ProviderRow> = Store::all(store.pool()).await.unwrap();

    assert!(market.provider.anvil_revert(snapshot).await.unwrap());
    market.provider.anvil_increase_time(100).await.unwrap();
    for _ in 0..12 {
        market.provider.evm_mine(None).await.unwrap();
    }

    let error = ingestor.step().await.expect_err("a reorg deeper than the window is an error");
    assert!(matches!(error, IndexerError::ReorgTooDeep { window: 4, oldest: o } if o == oldest), "{error:?}");
    assert!(error.to_string().contains("the chain no longer matches the database"), "{error}");
    // Nothing was rewritten: the cursor, the window, the events and the rows are as they were.
    let unchanged = async |what: &str| {
        assert_eq!(store.cursor().await.unwrap().as_ref(), Some(&cursor), "{what}: the cursor");
        assert_eq!(store.window().await.unwrap(), window, "{what}: the window");
        assert_eq!(store.event_count().await.unwrap(), events, "{what}: the events");
        assert_eq!(Store::all::<Lease>(store.pool()).await.unwrap(), leases, "{what}: the leases");
        assert_eq!(Store::all::<ProviderRow>(store.pool()).await.unwrap(), providers, "{what}: the providers");
        assert_eq!(Store::retraction_after(store.pool(), 0).await.unwrap(), None, "{what}: no retraction");
    };
    unchanged("after the step").await;

    // It keeps refusing: catching up gives up at once, and so does a restart.
    let again = tokio::time::timeout(Duration::from_secs(20), ingestor.catch_up()).await.expect("catch_up gives up");
    assert!(matches!(again, Err(IndexerError::ReorgTooDeep { .. })), "{again:?}");
    drop(ingestor);
    let restarted = Ingestor::start(
        store.clone(),
        market.chain(),
        &market.manifest,
        config,
        std::sync::Arc::new(openlease_indexer::metrics::Metrics::default()),
    )
    .await;
    assert!(matches!(restarted, Err(IndexerError::ReorgTooDeep { window: 4, .. })), "{restarted:?}");
    unchanged("after a restart").await;
}
