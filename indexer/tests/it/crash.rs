//! The real binary, killed with SIGKILL mid-backfill and during live ingestion, then restarted:
//! the mirror must equal the chain, with every event exactly once. A second instance waits as a
//! standby meanwhile, reports itself as such on `/health`, and takes over when the writer dies.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{providers::Provider, sol_types::SolEvent, transports::http::reqwest};
use openlease_indexer::store::Store;
use serde_json::Value;

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, chain_log_count, fresh_db},
};

/// `openlease-indexer run` against `market`'s anvil and the database `url`, its API on `port`.
pub(crate) struct Indexer {
    child: Child,
    port: u16,
}

impl Indexer {
    pub(crate) fn spawn(market: &Market, deployments: &openlease_testkit::TempDir, url: &str, extra: &[&str]) -> Self {
        Self::spawn_via(&market.anvil.endpoint(), deployments, url, extra)
    }

    /// Reading the chain through the node at `rpc`.
    fn spawn_via(rpc: &str, deployments: &openlease_testkit::TempDir, url: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
            .args(["--rpc-url", rpc, "--db", url])
            .arg("--deployments")
            .arg(deployments.path())
            .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--poll-ms", "50"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the indexer binary starts");
        Self { child, port }
    }

    /// SIGKILL: no destructor, no commit finished on the way out.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) async fn health(&self) -> Option<Value> {
        let response = reqwest::get(format!("{}/health", self.base())).await.ok()?;
        response.json().await.ok()
    }

    /// Its API's base URL.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Until it serves a healthy mirror.
    pub(crate) async fn wait_healthy(&self) {
        wait_for(Duration::from_secs(60), "a healthy indexer", async || {
            self.health().await.is_some_and(|h| h["healthy"] == true)
        })
        .await;
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `done` holds, polling every 20 ms, for at most `limit`.
pub(crate) async fn wait_for<F: AsyncFnMut() -> bool>(limit: Duration, what: &str, mut done: F) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The mirror's events as (block, log index, block hash) equal the node's logs, one for one.
async fn assert_exactly_the_chain(store: &Store, market: &Market) {
    let head = market.provider.get_block_number().await.unwrap();
    let logs = market.chain().logs(0, head).await.unwrap();
    let on_chain: Vec<_> =
        logs.iter().map(|l| (l.block_number.unwrap(), l.log_index.unwrap(), l.block_hash.unwrap())).collect();
    let stored: Vec<_> =
        store.events_up_to(head).await.unwrap().iter().map(|e| (e.block, e.log_index, e.block_hash)).collect();
    assert_eq!(stored.len(), on_chain.len(), "as many events stored as logs on the chain");
    assert_eq!(stored, on_chain, "the same events, each once");
    let settled =
        logs.iter().filter(|l| l.topics()[0] == openlease_contracts::Openlease::LeaseSettled::SIGNATURE_HASH).count();
    let counted: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(settlement_count), 0) AS BIGINT) FROM leases")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(counted as usize, settled, "every LeaseSettled counted once by its lease");
}

/// The mirror reached the node's head with every log.
async fn caught_up(store: &Store, market: &Market) -> bool {
    let head = market.provider.get_block_number().await.unwrap();
    let cursor = store.cursor().await.ok().flatten().map(|c| c.number);
    cursor == Some(head) && store.event_count().await.unwrap() == chain_log_count(market).await
}

both_backends!(survives_kill_9, kill_9);
async fn kill_9(db: Db, name: &str) {
    let Some((url, _db)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(31).await;
    market.random_ops(80).await;
    let deployments = openlease_testkit::TempDir::new("indexer");
    market.manifest.save(&openlease_contracts::Manifest::path(deployments.path(), market.manifest.chain_id)).unwrap();
    let store = Store::connect(&url).await.unwrap();
    let total = chain_log_count(&market).await;

    // 1. Killed mid-backfill: two-block ranges make the backfill take many commits.
    let first = Indexer::spawn(&market, &deployments, &url, &["--max-range", "2"]);
    wait_for(Duration::from_secs(60), "the backfill to start", async || store.event_count().await.unwrap_or(0) > 0)
        .await;
    first.kill_9();
    let partial = store.event_count().await.unwrap();
    assert!(partial < total, "killed mid-backfill: {partial} of {total} events");

    // 2. Restarted, it finishes the backfill and follows the head; a standby waits beside it.
    let writer = Indexer::spawn(&market, &deployments, &url, &[]);
    wait_for(Duration::from_secs(60), "the restarted writer to catch up", async || caught_up(&store, &market).await)
        .await;
    let standby = Indexer::spawn(&market, &deployments, &url, &[]);
    wait_for(Duration::from_secs(10), "the standby's /health", async || {
        standby.health().await.is_some_and(|h| h["lag_blocks"].is_u64())
    })
    .await;
    let health = standby.health().await.unwrap();
    assert_eq!(health["role"], "standby", "{health}");
    assert!(health["lag_blocks"].as_u64().unwrap() <= 1, "the standby reports the mirror's real lag: {health}");
    assert_eq!(writer.health().await.unwrap()["role"], "writer");

    // 3. Killed during live ingestion: once it has followed a few new events, while more come.
    let before = store.event_count().await.unwrap();
    let kill = async {
        wait_for(Duration::from_secs(60), "live events", async || store.event_count().await.unwrap() >= before + 4)
            .await;
        writer.kill_9();
    };
    tokio::join!(market.random_ops(30), kill);
    // The standby takes over and catches up by itself.
    wait_for(Duration::from_secs(60), "the standby to take over and catch up", async || {
        caught_up(&store, &market).await
    })
    .await;
    assert_eq!(standby.health().await.unwrap()["role"], "writer");
    standby.kill_9();

    // 4. Restarted once more after live operations it missed, then stopped with SIGKILL again.
    market.random_ops(10).await;
    let last = Indexer::spawn(&market, &deployments, &url, &[]);
    wait_for(Duration::from_secs(60), "the last restart to catch up", async || caught_up(&store, &market).await).await;
    last.kill_9();

    assert_exactly_the_chain(&store, &market).await;
    assert_audit_passes(&store, &market).await;
}

/// Operators' truths: while the node refuses connections the mirror is not called fresh, and a
/// chain that was reset under the database (a devnet restarted) is named as such, with what to do.
#[tokio::test]
async fn an_unreachable_node_is_unhealthy_and_a_reset_chain_is_named() {
    let Some((url, _db)) = fresh_db(Db::Sqlite, "outage_and_reset").await else { return };
    let mut market = Market::new(7).await;
    market.random_ops(10).await;
    let deployments = openlease_testkit::TempDir::new("indexer");
    market.manifest.save(&openlease_contracts::Manifest::path(deployments.path(), market.manifest.chain_id)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = deployments.path().join("indexer.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", &market.anvil.endpoint(), "--db", &url])
        .arg("--deployments")
        .arg(deployments.path())
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--poll-ms", "50", "--max-head-age", "2"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the indexer binary starts");
    let health = async || -> Option<Value> {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/health")).await.ok()?;
        response.json().await.ok()
    };
    wait_for(Duration::from_secs(60), "a healthy mirror", async || {
        health().await.is_some_and(|h| h["healthy"] == true)
    })
    .await;

    // Audits while the writer commits live: each reads one snapshot, so each report is true.
    let store = Store::connect(&url).await.unwrap();
    let chain = market.chain();
    let audits = async {
        for _ in 0..12 {
            let report = openlease_indexer::audit::audit(&store, &chain).await.unwrap();
            let divergences: Vec<String> = report.divergences.iter().map(ToString::to_string).collect();
            assert!(
                divergences.is_empty(),
                "audit at block {} during ingestion:\n{}",
                report.block,
                divergences.join("\n")
            );
        }
    };
    tokio::join!(market.random_ops(25), audits);

    // The node goes away: within a few seconds the mirror is no longer called fresh.
    let anvil_port = market.anvil.port();
    let Market { anvil, .. } = market;
    drop(anvil);
    wait_for(Duration::from_secs(20), "/health to say the node is unreachable", async || {
        health().await.is_some_and(|h| h["healthy"] == false && h["node_reachable"] == false)
    })
    .await;

    // It comes back reset: a new chain on the same port, the suite deployed again at the same
    // addresses. Ingestion stops until an operator acts, and says what happened and what to do;
    // the last good mirror stays served, marked as stopped, and /health is unhealthy (a load
    // balancer sees an unhealthy instance, not connection refused).
    let anvil = openlease_testkit::anvil().port(anvil_port).try_spawn().unwrap();
    openlease_testkit::deploy_market(&anvil).await;
    let provider = alloy::providers::ProviderBuilder::new().connect_http(anvil.endpoint_url());
    alloy::providers::ext::AnvilApi::anvil_mine(&provider, Some(20), None).await.unwrap();
    let stopped_mirror = async || {
        wait_for(Duration::from_secs(60), "/health to say ingestion stopped", async || {
            health().await.is_some_and(|h| h["healthy"] == false && h["stopped"]["reason"].is_string())
        })
        .await;
        let health = health().await.unwrap();
        let reason = health["stopped"]["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("the chain no longer matches the database"), "{health}");
        assert!(reason.contains("start from an empty database"), "what to do: {health}");
        let at_block = health["stopped"]["at_block"].as_u64().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let stats: Value = reqwest::get(format!("{base}/v1/stats")).await.unwrap().json().await.unwrap();
        assert_eq!(stats["block"]["number"], at_block, "the last good mirror, served: {stats}");
        assert_eq!(stats["stopped"]["at_block"], at_block, "and marked as stopped: {stats}");
        let page = reqwest::get(format!("{base}/")).await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("Ingestion stopped at block {at_block}")), "the console says so too");
        let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
        assert!(metrics.contains("openlease_indexer_ingestion_stopped 1"), "{metrics}");
    };
    stopped_mirror().await;
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    let _ = child.kill();
    let _ = child.wait();

    // Started again, it refuses the chain again, the same way: nothing stored was touched.
    let mut again = Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", &anvil.endpoint(), "--db", &url])
        .arg("--deployments")
        .arg(deployments.path())
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--poll-ms", "50", "--max-head-age", "2"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the indexer binary starts");
    stopped_mirror().await;
    let _ = again.kill();
    let _ = again.wait();
}

/// A hosted node refuses some requests (429, with a JSON-RPC error body) and fails others (502,
/// with an HTML page), and one being started is not up yet: at start-up the indexer keeps asking,
/// with backoff, and becomes healthy; it does not exit at the first refusal.
#[tokio::test]
async fn refusals_at_start_up_are_waited_out() {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };
    let Some((url, _db)) = fresh_db(Db::Sqlite, "start_up_refusals").await else { return };
    let mut market = Market::new(11).await;
    market.random_ops(5).await;
    let deployments = openlease_testkit::TempDir::new("indexer");
    market.manifest.save(&openlease_contracts::Manifest::path(deployments.path(), market.manifest.chain_id)).unwrap();

    // The node behind a front that refuses its first four requests, by turns 429 and 502.
    let (node, seen) = (market.anvil.endpoint(), Arc::new(AtomicU64::new(0)));
    let counted = seen.clone();
    let front = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let (node, counted) = (node.clone(), counted.clone());
            async move {
                use axum::{http::StatusCode, response::IntoResponse};
                let n = counted.fetch_add(1, Ordering::SeqCst);
                if n < 4 && n % 2 == 0 {
                    let refusal = r#"{"jsonrpc":"2.0","id":1,"error":{"code":429,"message":"Too Many Requests"}}"#;
                    return (StatusCode::TOO_MANY_REQUESTS, [("content-type", "application/json")], refusal)
                        .into_response();
                }
                if n < 4 {
                    return (StatusCode::BAD_GATEWAY, [("content-type", "text/html")], "<html>502 Bad Gateway</html>")
                        .into_response();
                }
                let answer = reqwest::Client::new()
                    .post(node)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let text = answer.unwrap().text().await.unwrap();
                ([("content-type", "application/json")], text).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, front).await });

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", &front_url, "--db", &url])
        .arg("--deployments")
        .arg(deployments.path())
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--poll-ms", "50"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the indexer binary starts");
    wait_for(Duration::from_secs(60), "a healthy mirror despite the refusals", async || {
        assert!(child.try_wait().unwrap().is_none(), "the indexer exited at a refusal");
        let health = reqwest::get(format!("http://127.0.0.1:{port}/health")).await.ok();
        match health {
            Some(health) => health.json::<Value>().await.is_ok_and(|h| h["healthy"] == true),
            None => false,
        }
    })
    .await;
    assert!(seen.load(Ordering::SeqCst) > 4, "the refusals were met");
    let _ = child.kill();
    let _ = child.wait();
}

/// A start-up that cannot go on says what was wrong and what to do, in words: no source location
/// of ours, which a user cannot act on.
#[tokio::test]
async fn a_failed_start_says_what_to_do_without_source_locations() {
    let dir = openlease_testkit::TempDir::new("indexer-no-node");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", &format!("http://127.0.0.1:{port}"), "--node-wait-secs", "1", "--db"])
        .arg(format!("sqlite://{}", dir.path().join("indexer.db").display()))
        .arg("run")
        .env("RUST_LOG", "off")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("the indexer binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("is it running? Give its URL with --rpc-url"), "{stderr}");
    assert!(!stderr.contains("Location") && !stderr.contains(".rs:"), "no source location: {stderr}");
}

both_backends!(rides_out_a_hosted_rpc, hosted_rpc);
/// Through an endpoint that behaves as hosted providers do (5% of requests refused with 429, 1%
/// failed with a 502 page, `eth_getLogs` capped at 2,000 blocks and a result cap, `eth_blockNumber`
/// a block behind 10% of the time), the binary reaches the head, stays within `--max-lag` while
/// the market trades, and its audit through the same endpoint finds the mirror equal to the chain.
async fn hosted_rpc(db: Db, name: &str) {
    use openlease_testkit::hosted::{Faults, HostedRpc};
    let Some((url, _db)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(23).await;
    market.random_ops(30).await;
    // 4,000 empty blocks: ranges grow past the range cap (each read as two halves).
    alloy::providers::ext::AnvilApi::anvil_mine(&market.provider, Some(4_000), None).await.unwrap();
    market.random_ops(10).await;
    let deployments = openlease_testkit::TempDir::new("indexer");
    market.manifest.save(&openlease_contracts::Manifest::path(deployments.path(), market.manifest.chain_id)).unwrap();
    // Caps below the usual 2,000 blocks and 10,000 logs, so that this small chain meets both (no
    // block holds 8 logs).
    let faults = Faults { max_log_range: 500, max_logs: 8, seed: 7, ..Faults::hosted() };
    let hosted = HostedRpc::start(market.anvil.endpoint(), faults).await;

    let max_lag = 2;
    let store = Store::connect(&url).await.unwrap();
    let indexer = Indexer::spawn_via(&hosted.url(), &deployments, &url, &["--max-lag", &max_lag.to_string()]);
    wait_for(Duration::from_secs(120), "the mirror at the head through the hosted endpoint", async || {
        caught_up(&store, &market).await
    })
    .await;
    // Trading goes on; every health probe meanwhile finds the mirror within the lag bound.
    let mut worst = 0;
    for _ in 0..20 {
        market.random_ops(1).await;
        let health = indexer.health().await.expect("the API answers");
        assert_eq!(health["healthy"], true, "{health}");
        worst = worst.max(health["lag_blocks"].as_u64().unwrap_or(u64::MAX));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(worst <= max_lag, "lag reached {worst} blocks (--max-lag {max_lag})");
    wait_for(Duration::from_secs(60), "the last trades mirrored", async || caught_up(&store, &market).await).await;
    drop(indexer);

    let audit = tokio::process::Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", &hosted.url(), "--db", &url])
        .arg("--deployments")
        .arg(deployments.path())
        .arg("audit")
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("the audit runs");
    let report = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{report}{}", String::from_utf8_lossy(&audit.stderr));
    assert!(report.contains(" 0 divergences"), "{report}");
    assert_exactly_the_chain(&store, &market).await;

    // Every kind of misbehaviour was met, not only survived by luck.
    let met = hosted.stats();
    assert!(met.rate_limited > 0 && met.bad_gateway > 0, "{met:?}");
    assert!(met.range_capped > 0 && met.result_capped > 0 && met.lagged_heads > 0, "{met:?}");
}

/// On PostgreSQL a database that does not exist yet is named, with how to create it.
#[tokio::test]
async fn a_missing_postgres_database_says_how_to_create_it() {
    let Ok(server) = std::env::var("OPENLEASE_TEST_POSTGRES_URL") else {
        eprintln!("a_missing_postgres_database: OPENLEASE_TEST_POSTGRES_URL is not set: did NOT run");
        return;
    };
    let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
    let missing = format!("{base}/openlease_never_created_{}", std::process::id());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_openlease-indexer"))
        .args(["--rpc-url", "http://127.0.0.1:1", "--node-wait-secs", "1", "--db", &missing, "audit"])
        .env("RUST_LOG", "off")
        .output()
        .await
        .expect("the indexer binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let name = missing.rsplit('/').next().unwrap();
    assert!(stderr.contains(&format!("createdb {name}")), "{stderr}");
}

/// The console counts in each token's own decimals, read from the token: a manifest that states
/// others (stale, or edited) is warned about, and does not put the console's amounts off by
/// powers of ten.
#[tokio::test]
async fn the_console_counts_in_the_tokens_own_decimals() {
    let Some((url, _db)) = fresh_db(Db::Sqlite, "token_decimals").await else { return };
    let market = Market::new(5).await;
    let mut stale = market.manifest.clone();
    stale.stablecoins.iter_mut().find(|s| s.address == market.usdc).unwrap().decimals = 18;
    let deployments = openlease_testkit::TempDir::new("indexer");
    stale.save(&openlease_contracts::Manifest::path(deployments.path(), stale.chain_id)).unwrap();
    let store = Store::connect(&url).await.unwrap();
    let indexer = Indexer::spawn(&market, &deployments, &url, &[]);
    wait_for(Duration::from_secs(60), "the indexer to catch up", async || caught_up(&store, &market).await).await;
    wait_for(Duration::from_secs(10), "the console", async || {
        reqwest::get(format!("http://127.0.0.1:{}/", indexer.port)).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let page = reqwest::get(format!("http://127.0.0.1:{}/", indexer.port)).await.unwrap().text().await.unwrap();
    // Three providers staked 100,000 USDC each.
    let staked = "data-field=\"staked\">300000 USDC<";
    assert!(page.contains(staked), "{staked} in {page}");
}
