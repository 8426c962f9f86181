//! One receipt's whole journey, the same amount at every step: a tenant's session pays for an
//! answer, the provider's gateway accepts the receipt, settles it on chain (`LeaseSettled`), the
//! indexer mirrors the settlement, the API serves it and the console's lease page shows it.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{B256, U256},
    providers::{Provider, ext::AnvilApi},
};
use openlease_client::{
    TokenAmount,
    session::{Destination, ServedBy, Session, SessionConfig},
};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore};
use openlease_indexer::{
    api::{ApiState, router},
    chain::Chain,
    console::{ConsoleState, router as console_router},
    ingest::{IngestConfig, Ingestor},
    metrics::Metrics,
    store::Store,
};
use openlease_testkit::TempDir;

use crate::util::{funded_signer, spawn_anvil};

const USDC: u64 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_receipt_is_the_same_amount_from_session_to_console() {
    let anvil = spawn_anvil();
    let manifest = openlease_testkit::deploy_market(&anvil).await;
    let usdc = manifest.stablecoin("USDC").unwrap().clone();
    let client = async |index: usize| {
        openlease_client::Client::connect(&anvil.endpoint(), funded_signer(&anvil, index), manifest.clone())
            .await
            .unwrap()
    };
    let (provider, tenant) = (client(1).await, client(4).await);

    // A provider with an offer, behind its gateway in front of the demo workload.
    provider.send(provider.token(usdc.address).mint(provider.address(), U256::from(10_000 * USDC))).await.unwrap();
    let offer = openlease_testkit::publish_demo_offer(&provider, usdc.address, 100).await;
    let dir = TempDir::new("journey");
    let book = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let config =
        GatewayConfig { credit_secs: 120, max_unsettled_secs: 120, refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), book, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = gateway.serve(openlease_gateway::workload::router());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The tenant's session.
    tenant.send(tenant.token(usdc.address).mint(tenant.address(), U256::from(100 * USDC))).await.unwrap();
    let choices = vec![Destination { provider: provider.address(), offer_id: offer, endpoint }];
    let session_config = SessionConfig {
        duration: 86_400,
        deposit: U256::from(4 * USDC),
        budget: U256::from(8 * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_secs(5),
        fallback: None,
        fallback_cost_per_request: U256::ZERO,
        dispute_dead_providers: false,
        checks: None,
    };
    let mut session = Session::start(tenant.clone(), choices, session_config).await.unwrap();
    let (_, lease) = session.lease().unwrap();
    // Service is paid in arrears: each request's receipt pays for the time served before it,
    // and each receipt's cumulative amount includes the last; the gateway settles the newest.
    for _ in 0..2 {
        anvil_advance(&provider, 90).await;
        let answer = session.get("/work/2").await.unwrap();
        assert_eq!(answer.served_by, ServedBy::Provider { provider: provider.address(), lease_id: lease });
    }
    let paid = session.report().paid();
    assert!(paid > U256::ZERO, "the session paid for the answer");
    session.finish().await.unwrap();

    // The gateway settles what it accepted once the lease has ended: the event says the same.
    anvil_advance(&provider, 3_700).await;
    gateway.settle_due().await.unwrap();
    let settled =
        provider.market().LeaseSettled_filter().topic1(B256::from(lease)).from_block(0).query().await.unwrap();
    assert_eq!(settled.len(), 1, "the newest receipt, settled once: {settled:?}");
    let (event, _) = &settled[0];
    assert_eq!(event.paid, paid, "LeaseSettled pays what the session paid");
    assert_eq!(event.cumulativeAmount, paid, "the receipt's cumulative amount");
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), paid, "the lease's settled total");

    // The indexer mirrors it; the API and the console's lease page say the same amount.
    let db = TempDir::new("journey-indexer");
    let store = Store::connect(&format!("sqlite://{}", db.path().join("indexer.db").display())).await.unwrap();
    let chain = Chain::connect(&anvil.endpoint(), manifest.market(), Default::default()).unwrap();
    let ingest = IngestConfig {
        poll_interval: Duration::from_millis(50),
        backoff: (Duration::from_millis(50), Duration::from_millis(500)),
        ..Default::default()
    };
    let metrics = Arc::new(Metrics::default());
    let ingestor = Ingestor::start(store.clone(), chain, &manifest, ingest, metrics.clone()).await.unwrap();
    let notices = tokio::sync::broadcast::channel(16).0;
    tokio::spawn(ingestor.with_notices(notices.clone()).run());
    let state = ApiState { store, metrics, max_lag: 10, max_head_age: 15, notices };
    let app = router(state.clone()).merge(console_router(ConsoleState::new(state, &manifest.stablecoins)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let head = provider.provider().get_block_number().await.unwrap();
    let http = alloy::transports::http::reqwest::Client::new();
    let mut mirrored = serde_json::Value::Null;
    for _ in 0..200 {
        let answer = http.get(format!("{base}/v1/leases/{lease}")).send().await.unwrap();
        if answer.status() == 200 {
            let body: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
            if body["block"]["number"].as_u64().is_some_and(|n| n >= head) {
                mirrored = body;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let data = &mirrored["data"];
    assert_eq!(data["settled"], paid.to_string(), "the API's settled total: {mirrored}");
    assert_eq!(data["settlement_count"], 1, "{mirrored}");
    let row = &data["settlements"][0];
    assert_eq!(
        (row["paid"].as_str(), row["cumulative_amount"].as_str()),
        (Some(&*paid.to_string()), Some(&*paid.to_string()))
    );
    assert_eq!(row["tx_hash"], serde_json::json!(settled[0].1.transaction_hash.unwrap()), "the same transaction");

    let page = http.get(format!("{base}/leases/{lease}")).send().await.unwrap().text().await.unwrap();
    let shown = TokenAmount::of(&usdc, paid).to_string();
    assert!(page.contains(&shown), "the console's lease page shows {shown}: {page}");
}

/// Moves the chain's clock on by `secs` and mines a block.
async fn anvil_advance(client: &openlease_client::Client<alloy::providers::DynProvider>, secs: u64) {
    client.provider().anvil_increase_time(secs).await.unwrap();
    client.provider().anvil_mine(Some(1), None).await.unwrap();
}
