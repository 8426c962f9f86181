//! Ingestion: exactness after random operations, random reorgs, an interrupted backfill, an RPC
//! outage, and the single-writer lock.

use std::time::Duration;

use alloy::providers::{Provider, ext::AnvilApi};
use openlease_indexer::ingest::IngestConfig;

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, chain_log_count, fresh_db, ingestor, test_config},
};

both_backends!(mirrors_a_random_market_exactly, mirrors_a_random_market);
async fn mirrors_a_random_market(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(7).await;
    market.random_ops(60).await;
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    ingestor.catch_up().await.unwrap();
    assert_eq!(store.event_count().await.unwrap(), chain_log_count(&market).await);
    let leases: Vec<openlease_indexer::rows::Lease> = openlease_indexer::store::Store::all(store.pool()).await.unwrap();
    assert!(!leases.is_empty(), "the random market opened no lease");
    assert_audit_passes(&store, &market).await;
}

both_backends!(survives_random_reorgs, random_reorgs);
async fn random_reorgs(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(11).await;
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    let mut depths = Vec::new();
    for round in 0..6u64 {
        market.random_ops(5).await;
        ingestor.catch_up().await.unwrap();
        // Mine a fork: operations the mirror sees, then revert them and mine others.
        let snapshot = market.provider.anvil_snapshot().await.unwrap();
        let before = market.provider.get_block_number().await.unwrap();
        let depth = 1 + (round * 7 + 3) % 10;
        while market.provider.get_block_number().await.unwrap() < before + depth {
            market.random_op().await;
        }
        ingestor.catch_up().await.unwrap();
        if round % 2 == 0 {
            assert!(market.provider.anvil_revert(snapshot).await.unwrap());
        } else {
            // A fork inside the blocks the mirror took in one batch: the ancestor is no batch's end.
            let options = alloy::rpc::types::anvil::ReorgOptions { depth: depth / 2 + 1, tx_block_pairs: vec![] };
            market.provider.anvil_reorg(options).await.unwrap();
        }
        market.random_ops(1 + (round as usize % 3)).await;
        ingestor.catch_up().await.unwrap();
        assert_eq!(store.event_count().await.unwrap(), chain_log_count(&market).await, "round {round}");
        assert_audit_passes(&store, &market).await;
        depths.push(depth);
    }
    assert!(depths.iter().any(|d| *d >= 8), "deep reorgs covered: {depths:?}");
}

both_backends!(resumes_an_interrupted_backfill, interrupted_backfill);
async fn interrupted_backfill(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(23).await;
    market.random_ops(80).await;
    // Small ranges so that the backfill takes many batches; the task is dropped mid-way.
    let slow = IngestConfig { initial_range: 2, max_range: 4, ..test_config() };
    let (store, mut first) = ingestor(&market, &url, slow).await;
    for _ in 0..5 {
        first.step().await.unwrap();
    }
    let partial = store.event_count().await.unwrap();
    let total = chain_log_count(&market).await;
    assert!(partial > 0 && partial < total, "interrupted mid-backfill: {partial} of {total} events");
    // Then dropped wherever it is, possibly inside a commit.
    let task = tokio::spawn(first.run());
    tokio::time::sleep(Duration::from_millis(40)).await;
    task.abort();
    let _ = task.await;
    assert!(store.event_count().await.unwrap() < total, "still mid-backfill when dropped");
    // As with a process that died, its connections go: a transaction left open rolls back.
    tokio::time::timeout(Duration::from_secs(10), store.pool().close())
        .await
        .expect("the dropped writer's connections close");

    let (store, mut second) = ingestor(&market, &url, test_config()).await;
    tokio::time::timeout(Duration::from_secs(60), second.catch_up())
        .await
        .expect("the second writer catches up within a minute")
        .unwrap();
    assert_eq!(store.event_count().await.unwrap(), total, "no duplicate, nothing lost");
    assert_audit_passes(&store, &market).await;
}

both_backends!(cuts_dense_ranges_into_batches, dense_ranges);
async fn dense_ranges(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(31).await;
    market.random_ops(40).await;
    // One range covers the whole chain below a 2-block window, but a batch aims at 3 events: the
    // range is cut at block boundaries, each part committed on its own, linked by the cut blocks.
    let dense = IngestConfig { initial_range: 10_000, window: 2, batch_events: 3, ..test_config() };
    let (store, mut ingestor) = ingestor(&market, &url, dense).await;
    let total = chain_log_count(&market).await;
    let mut steps = 0;
    while ingestor.step().await.unwrap() != openlease_indexer::ingest::Step::AtHead {
        steps += 1;
    }
    // Uncut, the range would be one batch (plus the few blocks of the window).
    assert!(total >= 30 && steps >= total / 5, "{total} events in {steps} batches: the range was not cut");
    assert_eq!(store.event_count().await.unwrap(), total, "no duplicate, nothing lost");
    assert_audit_passes(&store, &market).await;
}

both_backends!(rides_out_an_rpc_outage, rpc_outage);
async fn rpc_outage(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(5).await;
    market.random_ops(20).await;
    // The indexer reads through a proxy that we cut and restore.
    let proxy = Proxy::start(market.anvil.port()).await;
    // Each request is asked again for 5 s: the 30 s outage fails whole steps.
    let policy = openlease_indexer::chain::RetryPolicy::default().with_patience(Duration::from_secs(5));
    let chain = openlease_indexer::chain::Chain::connect(&proxy.url(), market.manifest.market(), policy).unwrap();
    let store = openlease_indexer::store::Store::connect(&url).await.unwrap();
    let metrics = std::sync::Arc::new(openlease_indexer::metrics::Metrics::default());
    let mut ingestor = openlease_indexer::ingest::Ingestor::start(
        store.clone(),
        chain,
        &market.manifest,
        test_config(),
        metrics.clone(),
    )
    .await
    .unwrap();
    ingestor.catch_up().await.unwrap();
    let task = tokio::spawn(ingestor.run());
    let caught_up = store.event_count().await.unwrap();
    // 30 s without the node, while the chain keeps producing blocks and events.
    proxy.set_up(false);
    let outage = std::time::Instant::now();
    while outage.elapsed() < OUTAGE {
        market.random_ops(1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metrics.rpc_errors(openlease_indexer::chain::RpcErrorClass::Unavailable) > 0, "the outage was noticed");
    assert!(store.event_count().await.unwrap() <= caught_up, "nothing was read during the outage");
    proxy.set_up(true);
    let total = chain_log_count(&market).await;
    assert!(total > caught_up + 20, "the chain moved on during the outage: {caught_up} -> {total} events");
    for _ in 0..100 {
        if store.event_count().await.unwrap() == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.event_count().await.unwrap(), total, "resumed by itself after the outage");
    assert!(!task.is_finished(), "ingestion kept running");
    task.abort();
    assert_audit_passes(&store, &market).await;
}

/// How long the node stays unreachable in `rides_out_an_rpc_outage`.
const OUTAGE: Duration = Duration::from_secs(30);

both_backends!(a_second_writer_waits_as_a_standby, standby);
async fn standby(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let first = openlease_indexer::store::Store::connect(&url).await.unwrap();
    let second = openlease_indexer::store::Store::connect(&url).await.unwrap();
    let lock = first.try_lock_writer().await.unwrap().expect("the first writer gets the lock");
    assert!(second.try_lock_writer().await.unwrap().is_none(), "the second waits");
    drop(lock);
    let taken = tokio::time::timeout(Duration::from_secs(5), second.lock_writer(Duration::from_millis(50))).await;
    assert!(taken.expect("the standby takes over once the writer is gone").is_ok());
}

/// A TCP proxy to anvil: while down it refuses connections and cuts the open ones.
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !*watch.borrow() {
                    continue;
                }
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
