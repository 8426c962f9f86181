//! `openlease session proxy` on a real stack: anvil with the market, two providers' gateways and
//! the indexer's API in this process, the real binary as the tenant's proxy, and an app reading a
//! stream through it while the provider serving it dies.

use std::{
    fs::File,
    net::TcpListener as StdListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::{ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use openlease_client::{Client, Manifest, OfferTerms, ProviderDetails};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore, workload};
use openlease_indexer::{
    api::ApiState,
    chain::Chain,
    ingest::{IngestConfig, Ingestor},
    metrics::Metrics,
    store::Store,
};
use openlease_testkit::TempDir;
use serde_json::Value;

const USDC: u64 = 1_000_000;

/// A provider's gateway serving the workload, in a runtime of its own: [`Self::kill`] drops every
/// task of it at once (the listener and the connections in flight), as a process that dies would.
/// Aborting an `axum::serve` task alone stops accepting but lets open connections stream on.
struct ProviderGateway {
    runtime: Option<tokio::runtime::Runtime>,
    _dir: TempDir,
}

impl ProviderGateway {
    async fn start(anvil: &AnvilInstance, manifest: &Manifest, key: PrivateKeySigner, listener: StdListener) -> Self {
        let dir = TempDir::new("proxy-gateway");
        let book = format!("sqlite://{}/book.db", dir.path().display());
        let (rpc, manifest) = (anvil.endpoint(), manifest.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (ready, started) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            // Its own connections to the node, in its own runtime: they die with it.
            let client = Client::connect(&rpc, key, manifest).await.unwrap();
            let store = ReceiptStore::open(&book).await.unwrap();
            // Two minutes of credit: a request pays for the time up to the previous answer.
            let config = GatewayConfig {
                credit_secs: 120,
                max_unsettled_secs: 120,
                refresh: Duration::ZERO,
                ..Default::default()
            };
            let gateway = Gateway::open(client, store, config).await.unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = ready.send(());
            axum::serve(listener, gateway.serve(workload::router())).await.unwrap();
        });
        started.await.expect("the gateway starts");
        Self { runtime: Some(runtime), _dir: dir }
    }

    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for ProviderGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Provider `index` registered with its gateway's URL as its endpoint, 1,000 USDC staked and an
/// offer at 100 raw units per second; its gateway serving.
async fn provider(anvil: &AnvilInstance, manifest: &Manifest, index: usize) -> (Address, ProviderGateway) {
    // The listener first: its URL is what the provider registers, and what tenants reach.
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let key = openlease_testkit::key(anvil, index);
    let client = Client::connect(&anvil.endpoint(), key.clone(), manifest.clone()).await.unwrap();
    let usdc = manifest.stablecoin("USDC").unwrap().address;
    client.send(client.token(usdc).mint(client.address(), U256::from(10_000 * USDC))).await.unwrap();
    let details = ProviderDetails {
        metadata_uri: String::new(),
        endpoint,
        region: "eu-west".into(),
        attributes_hash: B256::ZERO,
    };
    client.register_provider(&details).await.unwrap();
    client.stake(usdc, U256::from(1_000 * USDC)).await.unwrap();
    let terms = OfferTerms {
        token: usdc,
        price_per_second: 100,
        min_duration: 60,
        max_duration: 30 * 86_400,
        notice_period: 3_600,
        capacity: 5,
        workload: B256::ZERO,
        verifier: Address::ZERO,
    };
    client.publish_offer(&terms).await.unwrap();
    (client.address(), ProviderGateway::start(anvil, manifest, key, listener).await)
}

/// The indexer caught up with the chain, following it, and its API served; the API's base URL.
async fn indexer(anvil: &AnvilInstance, manifest: &Manifest, dir: &Path) -> String {
    let store = Store::connect(&format!("sqlite://{}/indexer.db", dir.display())).await.unwrap();
    let chain = Chain::connect(&anvil.endpoint(), manifest.market(), Default::default()).unwrap();
    let metrics = Arc::new(Metrics::default());
    let (notices, _) = tokio::sync::broadcast::channel(1024);
    let config = IngestConfig {
        poll_interval: Duration::from_millis(50),
        backoff: (Duration::from_millis(50), Duration::from_millis(500)),
        ..Default::default()
    };
    let mut ingestor = Ingestor::start(store.clone(), chain, manifest, config, metrics.clone())
        .await
        .unwrap()
        .with_notices(notices.clone());
    ingestor.catch_up().await.unwrap();
    tokio::spawn(ingestor.run());
    let state = ApiState { store, metrics, max_lag: 10, max_head_age: 15, notices };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, openlease_indexer::api::router(state)).await });
    base
}

/// Moves the chain's clock `seconds` forward and mines a block: the gateways meter by chain time.
async fn advance(anvil: &AnvilInstance, seconds: u64) {
    let node = ProviderBuilder::new().connect_http(anvil.endpoint_url());
    node.anvil_increase_time(seconds).await.unwrap();
    node.anvil_mine(Some(1), None).await.unwrap();
}

/// The `openlease session proxy` process, its output in files; killed if the test ends first.
struct ProxyProcess {
    child: Child,
    base: String,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
}

impl ProxyProcess {
    fn output(&self) -> (String, String) {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        (read(&self.stdout), read(&self.stderr))
    }

    /// Waits until the proxy serves its report.
    async fn wait_serving(&mut self) {
        let started = Instant::now();
        while reqwest::get(format!("{}/openlease/session", self.base)).await.is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the proxy exited ({status}):\n{}", self.output().1);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the proxy never served:\n{}", self.output().1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn report(&self) -> Value {
        reqwest::get(format!("{}/openlease/session", self.base)).await.unwrap().json().await.unwrap()
    }

    /// SIGTERM, then its exit status and output.
    async fn terminate(&mut self) -> (std::process::ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let (stdout, stderr) = self.output();
                return (status, stdout, stderr);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the proxy did not end:\n{}", self.output().1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn same(json: &Value, address: Address) -> bool {
    json.as_str().is_some_and(|a| a.eq_ignore_ascii_case(&address.to_string()))
}

/// Issue: "a provider killed mid-stream fails over and the client sees one complete answer or one
/// clear error, never a silent truncation". Provider A dies three events into a ten-second stream:
/// the app reads those events, then an `event: error` (or a broken body), never a body that just
/// ends early. The next request fails over to B and is answered, and the proxy's report (live and
/// at SIGTERM) shows the failover.
#[tokio::test]
async fn a_provider_killed_mid_stream_ends_the_answer_with_an_error_and_the_next_request_fails_over() {
    let began = Instant::now();
    let anvil = openlease_testkit::spawn_anvil();
    let manifest = openlease_testkit::deploy_market(&anvil).await;
    let dir = TempDir::new("cli-proxy");
    manifest.save(&Manifest::path(&dir.path().join("deployments"), manifest.chain_id)).unwrap();
    let (a, mut gateway_a) = provider(&anvil, &manifest, 1).await;
    let (b, _gateway_b) = provider(&anvil, &manifest, 2).await;
    let indexer = indexer(&anvil, &manifest, dir.path()).await;
    let tenant_key = openlease_testkit::key(&anvil, 4);
    let tenant = Client::connect(&anvil.endpoint(), tenant_key.clone(), manifest.clone()).await.unwrap();
    let usdc = manifest.stablecoin("USDC").unwrap().address;
    tenant.send(tenant.token(usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();

    let port = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (stdout, stderr) = (dir.path().join("proxy.out"), dir.path().join("proxy.err"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_openlease"));
    for (key, _) in std::env::vars() {
        if key.starts_with("OPENLEASE_") {
            command.env_remove(key);
        }
    }
    let child = command
        .current_dir(dir.path())
        .env("OPENLEASE_RPC_URL", anvil.endpoint())
        .env("OPENLEASE_PRIVATE_KEY", format!("0x{}", alloy::hex::encode(tenant_key.to_bytes())))
        .args(["--json", "session", "proxy", "--indexer", &indexer, "--deposit", "5 USDC", "--budget", "5 USDC"])
        .args(["--provider", &a.to_string(), "--failures", "1", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::from(File::create(&stdout).unwrap()))
        .stderr(Stdio::from(File::create(&stderr).unwrap()))
        .spawn()
        .expect("the proxy starts");
    let mut proxy = ProxyProcess { child, base: format!("http://127.0.0.1:{port}"), stdout, stderr };
    proxy.wait_serving().await;
    let serving = began.elapsed();
    let base = proxy.base.clone();
    let http = reqwest::Client::new();
    let work3 = workload::hash_chain(3).to_string();

    // A serves.
    advance(&anvil, 30).await;
    let answer = http.get(format!("{base}/work/3")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), work3);
    let report = proxy.report().await;
    assert!(same(&report["providers"][0]["provider"], a), "leased from A, as asked: {report}");

    // Forty events, 250 ms apart: A dies after the third reached the app.
    advance(&anvil, 30).await;
    let mut answer = http.get(format!("{base}/stream/40")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"),
        "{:?}",
        answer.headers()
    );
    let mut text = String::new();
    let mut killed: Option<Instant> = None;
    let read = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), answer.chunk())
            .await
            .unwrap_or_else(|_| panic!("the stream neither went on nor ended for 30 s: {text}"));
        match chunk {
            Ok(Some(chunk)) => {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if killed.is_none() && text.matches("data: 0x").count() >= 3 {
                    gateway_a.kill();
                    killed = Some(Instant::now());
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    let killed = killed.expect("three events came before A was killed");
    let ended_after_kill = killed.elapsed();

    // What the app got is the stream's beginning, checkable event by event.
    let events: Vec<&str> = text.split("\n\n").map(str::trim).filter(|e| !e.is_empty()).collect();
    let data: Vec<&str> = events.iter().filter_map(|e| e.strip_prefix("data: ")).collect();
    for (i, hash) in data.iter().enumerate() {
        assert_eq!(*hash, workload::hash_chain(i as u32 + 1).to_string(), "event {i} of {text}");
    }
    let complete = text.contains(&format!("event: done\ndata: {}", workload::hash_chain(40)));
    let error_event = events.last().is_some_and(|e| e.starts_with("event: error"));
    assert!(
        complete || error_event || read.is_err(),
        "the answer ended early without an error (silently truncated after {} events): {text}",
        data.len()
    );
    // Three events of forty, and A is gone: the rest cannot have come (an answer handed on in part
    // is not replayed), so the clear error it is.
    assert!(!complete, "the killed provider's stream went on: the kill did not take\n{text}");
    assert!(data.len() < 40, "{text}");
    if error_event {
        assert_eq!(text.matches("event: error").count(), 1, "one error: {text}");
        let last = events.last().unwrap();
        assert!(last.contains("provider_failed") && last.contains("broke off"), "{last}");
        assert!(read.is_ok(), "the body ends after its error event: {read:?}");
    }

    // The next request: A is dead, so the session fails over to B, which answers it.
    advance(&anvil, 30).await;
    let asked = Instant::now();
    let answer = http.get(format!("{base}/work/3")).send().await.unwrap();
    let status = answer.status();
    let body = answer.text().await.unwrap();
    let failover_took = asked.elapsed();
    assert_eq!((status.as_u16(), body.as_str()), (200, work3.as_str()), "answered after failover");

    let report = proxy.report().await;
    let providers = report["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2, "{report}");
    assert!(same(&providers[0]["provider"], a) && same(&providers[1]["provider"], b), "A, then B: {report}");
    assert_eq!(providers[0]["failed"], 1, "the break is A's failure: {report}");
    assert_eq!(providers[0]["answered"], 1, "only the whole answer counts as answered: {report}");
    assert_eq!(providers[1]["answered"], 1, "B answered the request in flight: {report}");
    assert_eq!(report["failoverSecs"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!((report["answered"].as_u64(), report["failedRequests"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["paidForNothing"]["raw"], "0", "{report}");

    let (status, printed, errors) = proxy.terminate().await;
    assert!(status.success(), "{status}\n{printed}\n{errors}");
    let last: Value = serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{e}: {printed}\n{errors}"));
    assert_eq!((last["answered"].as_u64(), last["failedRequests"].as_u64()), (Some(2), Some(1)), "{last}");
    assert_eq!(last["providers"].as_array().unwrap().len(), 2, "{last}");
    assert!(same(&last["providers"][1]["provider"], b), "{last}");
    assert_eq!(last["failoverSecs"].as_array().unwrap().len(), 1, "{last}");
    assert_eq!(last["leases"].as_array().unwrap().len(), 2, "both leases wound down: {last}");
    assert_eq!(last["paidForNothing"]["raw"], "0", "{last}");
    eprintln!(
        "proxy serving after {serving:?}; stream {} after {} events, {ended_after_kill:?} after the kill; \
         failed over and answered in {failover_took:?}; {:?} in all",
        if error_event { "ended with an error event" } else { "broke off" },
        data.len(),
        began.elapsed()
    );
}
