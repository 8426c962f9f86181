//! Webhook alerts through the real binary to a real HTTP receiver: the receiver is down while a
//! lease goes through a payment demand, a dispute ruled with a slash, a notice and a runway that
//! falls below its threshold; the indexer is killed with SIGKILL meanwhile and started again; when
//! the receiver comes up every alert arrives, signed, none lost, and retries carry the same id. A
//! reorg that retracts an alert's block sends a retraction of that id; a receiver that never
//! answers holds up nothing but itself.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{primitives::U256, providers::ext::AnvilApi, transports::http::reqwest};
use axum::{body::Bytes, http::HeaderMap, routing::post};
use openlease_indexer::alerts::signature;
use serde_json::{Value, json};

use crate::{
    both_backends,
    crash::{Indexer, wait_for},
    util::{Db, Market, fresh_db},
};

const TOKEN: &str = "alerts-test-token";
/// `Market::new`'s offer 1: provider account 1, raw units per second.
const PRICE: u128 = 10;
const DURATION: u64 = 14_400;
const ARBITER: usize = 7;

/// What a receiver got: each request's delivery id, signature header and body, in order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, String, Bytes)>>>);

impl Received {
    fn all(&self) -> Vec<(String, String, Bytes)> {
        self.0.lock().unwrap().clone()
    }

    /// Distinct alerts by id, each body parsed.
    fn by_id(&self) -> BTreeMap<String, Value> {
        self.all().iter().map(|(id, _, body)| (id.clone(), serde_json::from_slice(body).unwrap())).collect()
    }

    fn kinds(&self) -> BTreeSet<String> {
        self.by_id().values().map(|v| v["kind"].as_str().unwrap().to_owned()).collect()
    }
}

/// A receiver on `port`: records every request; answers 500 to the first delivery of each id
/// when `flaky` (so every alert is delivered twice), else 200; never answers when `hang`.
async fn receiver(port: u16, flaky: bool, hang: bool) -> Received {
    let received = Received::default();
    let seen = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let (record, seen) = (received.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (record, seen) = (record.clone(), seen.clone());
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let id = header("openlease-delivery");
                record.0.lock().unwrap().push((id.clone(), header("openlease-signature"), body));
                if hang {
                    tokio::time::sleep(Duration::from_secs(3_600)).await;
                }
                let first = seen.lock().unwrap().insert(id);
                if flaky && first { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `POST /v1/alerts` with `token`: status and JSON body.
async fn subscribe(base: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{base}/v1/alerts")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The signature header is the HMAC of the body under `secret`.
fn assert_signed(secret: &str, header: &str, body: &[u8]) {
    let timestamp: u64 = header.split(',').next().and_then(|t| t.strip_prefix("t=")).unwrap().parse().unwrap();
    assert_eq!(header, signature(secret, timestamp, body), "the delivery is signed with the subscription's secret");
}

async fn spawn_indexer(market: &Market, url: &str) -> (openlease_testkit::TempDir, Indexer) {
    let deployments = openlease_testkit::TempDir::new("indexer");
    market.manifest.save(&openlease_contracts::Manifest::path(deployments.path(), market.manifest.chain_id)).unwrap();
    let indexer =
        Indexer::spawn(market, &deployments, url, &["--alerts-token", TOKEN, "--alerts-max-backoff-secs", "1"]);
    indexer.wait_healthy().await;
    (deployments, indexer)
}

both_backends!(every_alert_reaches_a_receiver_that_was_down, down_then_up);
async fn down_then_up(db: Db, name: &str) {
    let Some((url, _db)) = fresh_db(db, name).await else { return };
    let market = Market::new(5).await;
    let m = &market.market;
    let (p1, tenant, other) = (market.account(1), market.account(4), market.account(5));
    let (deployments, indexer) = spawn_indexer(&market, &url).await;
    let base = indexer.base();

    // Refusals, before anything is stored: no token, a wrong one, a malformed subscription.
    let hook = format!("http://127.0.0.1:{}/hook", free_port());
    let asked = json!({ "url": hook, "kinds": ["LeaseClosed"] });
    for token in [None, Some("wrong")] {
        let (status, body) = subscribe(&base, token, asked.clone()).await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
    }
    for (bad, says) in [
        (json!({ "url": "ftp://x/hook", "kinds": ["LeaseClosed"] }), "http:// or https://"),
        (json!({ "url": hook, "kinds": ["LeaseExploded"] }), "unknown `LeaseExploded`"),
        (json!({ "url": hook, "kinds": ["RunwayBelow"], "runway_below_secs": 60 }), "needs a `lease_id`, `tenant`"),
        (json!({ "url": hook, "kinds": ["LeaseClosed"], "tenant": "0x12" }), "`tenant`"),
    ] {
        let (status, body) = subscribe(&base, Some(TOKEN), bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{says}: {body}");
    }
    let (_, listed) = {
        let r = reqwest::Client::new().get(format!("{base}/v1/alerts")).bearer_auth(TOKEN).send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(listed["subscriptions"], json!([]), "nothing refused was stored");
    let doc: Value = reqwest::get(format!("{base}/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/v1/alerts"]["post"]["security"].is_array(), "the routes are documented: {}", doc["paths"]);
    assert!(doc["paths"]["/v1/alerts/{id}"]["delete"].is_object());
    assert!(doc["components"]["schemas"]["NewSubscription"]["properties"]["runway_below_secs"].is_object());

    // A lease opened before the subscription: its opening is never alerted.
    let t0 = market.now().await + 100;
    let at = |seconds: u64| Some(t0 + seconds);
    let terms = m.offerTermsHash(U256::from(1)).call().await.unwrap();
    let deposit = U256::from(PRICE * u128::from(DURATION));
    market.must(at(0), m.openLease(U256::from(1), DURATION as u32, deposit, terms).from(tenant), "open L1").await;
    market.must(at(10), m.openLease(U256::from(1), DURATION as u32, deposit, terms).from(other), "open L2").await;

    // The tenant's alerts (every kind, runway below 7,000 s); the receiver is not up yet.
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let kinds = [
        "LeaseClosed",
        "LeaseTerminated",
        "LeaseEvicted",
        "LeaseFailedOver",
        "LeaseFinalized",
        "PaymentDemanded",
        "DisputeOpened",
        "DisputeRuled",
        "DisputeExpired",
        "BondSlashed",
        "RunwayBelow",
    ];
    let (status, sub) = subscribe(
        &base,
        Some(TOKEN),
        json!({ "url": hook, "kinds": kinds, "tenant": tenant.to_string(), "runway_below_secs": 7_000 }),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let secret = sub["secret"].as_str().unwrap().to_owned();
    let id = sub["id"].as_str().unwrap().to_owned();

    // A demand, a dispute ruled with a slash, then the tenant's notice; the other tenant's lease
    // gets a demand too, which is not this subscription's.
    market.must(at(7_200), m.demandPayment(U256::from(1)).from(p1), "P1 demands payment of L1").await;
    market.must(at(7_210), m.demandPayment(U256::from(2)).from(p1), "P1 demands payment of L2").await;
    // Killed while the alerts so far wait for the receiver; started again on the same database.
    indexer.kill_9();
    market.must(at(8_000), m.openDispute(U256::from(1), "ipfs://l1".into()).from(tenant), "dispute L1").await;
    market
        .must(at(8_100), m.ruleDispute(U256::from(1), 5_000).from(market.account(ARBITER)), "the arbiter slashes")
        .await;
    let indexer =
        Indexer::spawn(&market, &deployments, &url, &["--alerts-token", TOKEN, "--alerts-max-backoff-secs", "1"]);
    indexer.wait_healthy().await;
    market.must(at(8_200), m.closeLease(U256::from(1)).from(tenant), "the tenant gives notice").await;

    let expected: BTreeSet<String> =
        ["PaymentDemanded", "DisputeOpened", "DisputeRuled", "BondSlashed", "LeaseClosed", "RunwayBelow"]
            .map(String::from)
            .into();
    // Every alert is pending: nothing was received, nothing lost; `/metrics` shows the backlog.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = async |name: &str| -> u64 {
        let text = reqwest::get(format!("{}/metrics", indexer.base())).await.unwrap().text().await.unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(metrics("openlease_indexer_alerts_pending ").await >= 5, "the alerts wait for the receiver");
    assert!(metrics("openlease_indexer_alerts_oldest_pending_seconds ").await >= 1);
    assert!(metrics("openlease_indexer_alert_attempts_total{outcome=\"failed\"}").await >= 1, "the receiver is down");
    let received = receiver(port, true, false).await;
    wait_for(Duration::from_secs(60), "every alert at the receiver, each twice", async || {
        let all = received.all();
        received.kinds() == expected && all.len() == 2 * received.by_id().len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = received.all();
    let by_id = received.by_id();
    assert_eq!(by_id.len(), expected.len(), "one alert per kind, no other: {by_id:#?}");
    assert_eq!(all.len(), 2 * by_id.len(), "each alert twice (a 500, then a 200), never more");
    for (delivery, header, body) in &all {
        assert_signed(&secret, header, body);
        let value: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(value["id"], json!(delivery), "the body carries the delivery id");
        assert_eq!(value["subscription"], json!(id));
        assert_eq!(
            &serde_json::to_vec(&by_id[delivery]).unwrap(),
            &serde_json::to_vec(&value).unwrap(),
            "a retry is the same alert"
        );
        if value["kind"] != "RunwayBelow" {
            assert_eq!(value["lease_id"], 1, "only the tenant's lease: {value}");
            assert_eq!(value["tenant"], json!(tenant.to_string().to_lowercase()));
        }
    }
    // In the order the events happened.
    let mut firsts: Vec<&str> = Vec::new();
    for (delivery, _, _) in &all {
        if !firsts.contains(&delivery.as_str()) {
            firsts.push(delivery.as_str());
        }
    }
    let positions: Vec<(u64, u64)> = firsts
        .iter()
        .map(|d| &by_id[*d])
        .filter(|v| v["kind"] != "RunwayBelow")
        .map(|v| (v["block_number"].as_u64().unwrap(), v["log_index"].as_u64().unwrap()))
        .collect();
    assert!(positions.is_sorted(), "alerts arrive in the events' order: {positions:?}");
    let runway = by_id.values().find(|v| v["kind"] == "RunwayBelow").unwrap();
    assert!(runway["runway_secs"].as_u64().unwrap() < 7_000, "{runway}");
    let slashed = by_id.values().find(|v| v["kind"] == "BondSlashed").unwrap();
    assert_eq!(slashed["provider"], json!(p1.to_string().to_lowercase()));
    assert_eq!(slashed["args"]["lease_id"], "1", "{slashed}");

    wait_for(Duration::from_secs(10), "an empty backlog in /metrics", async || {
        metrics("openlease_indexer_alerts_pending ").await == 0
    })
    .await;
    assert_eq!(
        metrics("openlease_indexer_alert_attempts_total{outcome=\"delivered\"}").await,
        expected.len() as u64,
        "each alert delivered once by the restarted indexer"
    );
    // The API's record of it: every delivery delivered, after two attempts each.
    let r = reqwest::Client::new().get(format!("{base_}/v1/alerts/{id}", base_ = indexer.base())).bearer_auth(TOKEN);
    let record: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(record["deliveries_by_state"], json!({ "delivered": expected.len() }), "{record:#}");
    assert!(record["deliveries"].as_array().unwrap().iter().all(|d| d["attempts"].as_u64() >= Some(2)), "{record:#}");
}

both_backends!(a_reorg_sends_a_retraction_and_a_hung_receiver_holds_up_nobody, reorg_and_hung);
async fn reorg_and_hung(db: Db, name: &str) {
    let Some((url, _db)) = fresh_db(db, name).await else { return };
    let market = Market::new(6).await;
    let m = &market.market;
    let tenant = market.account(4);
    let (_deployments, indexer) = spawn_indexer(&market, &url).await;
    let base = indexer.base();
    let terms = m.offerTermsHash(U256::from(1)).call().await.unwrap();
    let deposit = U256::from(PRICE * u128::from(DURATION));
    market.must(None, m.openLease(U256::from(1), DURATION as u32, deposit, terms).from(tenant), "open L1").await;

    // One receiver that never answers, one that does: both subscribed to the same lease.
    let (hung_port, port) = (free_port(), free_port());
    let hung = receiver(hung_port, false, true).await;
    let received = receiver(port, false, false).await;
    let mut secrets = Vec::new();
    for p in [hung_port, port] {
        let (status, sub) = subscribe(
            &base,
            Some(TOKEN),
            json!({ "url": format!("http://127.0.0.1:{p}/hook"), "kinds": ["LeaseClosed"], "lease_id": 1 }),
        )
        .await;
        assert_eq!(status, 201, "{sub}");
        secrets.push(sub["secret"].as_str().unwrap().to_owned());
    }

    // The notice, in a block a reorg then replaces with empty ones.
    let snapshot = market.provider.anvil_snapshot().await.unwrap();
    market.must(None, m.closeLease(U256::from(1)).from(tenant), "notice").await;
    wait_for(Duration::from_secs(30), "the notice's alert", async || received.kinds().contains("LeaseClosed")).await;
    wait_for(Duration::from_secs(10), "the hung receiver to be asked too", async || !hung.all().is_empty()).await;
    let closed = received.by_id().into_values().next().unwrap();
    assert!(market.provider.anvil_revert(snapshot).await.unwrap());
    market.provider.anvil_mine(Some(3), None).await.unwrap();
    wait_for(Duration::from_secs(30), "the retraction", async || received.kinds().contains("Retraction")).await;
    let retraction = received.by_id().into_values().find(|v| v["kind"] == "Retraction").unwrap();
    assert_eq!(retraction["retracts"], closed["id"], "{retraction}");
    assert_eq!(retraction["retracted_kind"], "LeaseClosed");
    for (_, header, body) in received.all() {
        assert_signed(&secrets[1], &header, &body);
    }

    // The notice given again on the new chain is a new alert (another block), delivered while the
    // other receiver still hangs; ingestion keeps up meanwhile.
    market.must(None, m.closeLease(U256::from(1)).from(tenant), "notice again").await;
    wait_for(Duration::from_secs(30), "the new notice's alert", async || received.by_id().len() == 3).await;
    let again = received.by_id().into_values().find(|v| v["kind"] == "LeaseClosed" && v["id"] != closed["id"]);
    assert!(again.is_some(), "{:#?}", received.by_id());
    let health = indexer.health().await.unwrap();
    assert!(health["lag_blocks"].as_u64().is_some_and(|lag| lag <= 1), "ingestion keeps up: {health}");
    assert_eq!(hung.by_id().len(), 1, "the hung receiver holds up its own subscription: {:#?}", hung.by_id());
}
