//! Provider metadata checked against the attributes hash registered on chain, with documents
//! served by a real HTTP server: one provider's document matches (its attributes shown,
//! verified), one's does not (marked, with the hash it had), one's host does not answer; an
//! indexer that may not fetch private hosts refuses to; a provider that registers a new hash is
//! checked again; a `data:` URI carries its own document.

use alloy::primitives::{B256, keccak256};
use axum::routing::get;
use openlease_indexer::metadata::{MetadataChecker, MetadataConfig};
use serde_json::{Value, json};

use alloy::transports::http::reqwest;

use crate::{
    both_backends,
    util::{Db, Market, fresh_db, ingestor, serve_api, test_config},
};

const DOCUMENT: &str = r#"{"name":"p1","attributes":{"gpu":"a100","vcpu":32,"region":"eu-west"}}"#;
const OTHER: &str = r#"{"name":"p2","attributes":{"gpu":"h100"}}"#;

/// Serves `/p1.json` (DOCUMENT) and `/p2.json` (OTHER); its base URL.
async fn documents() -> String {
    let app =
        axum::Router::new().route("/p1.json", get(|| async { DOCUMENT })).route("/p2.json", get(|| async { OTHER }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn update(market: &Market, index: usize, uri: String, hash: B256) {
    let from = market.account(index);
    let call = market.market.updateProvider(uri, format!("https://p{index}"), "eu-west".into(), hash).from(from);
    market.must(None, call, "updateProvider").await;
}

/// The provider's metadata as `/v1/providers/{address}` serves it now (checks land between blocks:
/// past the answer cache).
async fn metadata(base: &str, market: &Market, index: usize) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/providers/{}", market.account(index)))
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]["metadata"].clone()
}

fn sorted(value: &Value) -> Vec<Value> {
    let mut pairs = value.as_array().cloned().unwrap_or_default();
    pairs.sort_by_key(|p| p.to_string());
    pairs
}

both_backends!(provider_metadata_is_checked_against_its_hash, checked_against_its_hash);
async fn checked_against_its_hash(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let market = Market::new(9).await;
    let served = documents().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    // Provider 1: its document. Provider 2: a hash of something else. Provider 3: nobody answers.
    update(&market, 1, format!("{served}/p1.json"), keccak256(DOCUMENT)).await;
    update(&market, 2, format!("{served}/p2.json"), keccak256(DOCUMENT)).await;
    update(&market, 3, format!("http://{dead}/p3.json"), keccak256(DOCUMENT)).await;
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    ingestor.catch_up().await.unwrap();
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    assert_eq!(metadata(&base, &market, 1).await, Value::Null, "not checked yet");

    // An indexer that fetches public hosts only refuses the loopback documents.
    let fenced = MetadataChecker::new(store.clone(), MetadataConfig::default());
    assert_eq!(fenced.check_due().await.unwrap(), 3);
    let refused = metadata(&base, &market, 1).await;
    assert_eq!(refused["status"], "unreachable", "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("private address"), "{refused}");
    // Not again before its backoff.
    assert_eq!(fenced.check_due().await.unwrap(), 0);

    // The devnet's indexer may (due again at once: the test does not wait out the backoff).
    let open = MetadataChecker::new(store.clone(), MetadataConfig { allow_private_hosts: true, ..Default::default() });
    sqlx::query("UPDATE provider_metadata SET next_check_at = 0").execute(store.pool()).await.unwrap();
    assert_eq!(open.check_due().await.unwrap(), 3);
    let verified = metadata(&base, &market, 1).await;
    assert_eq!(verified["status"], "verified", "{verified}");
    let expected = json!([["gpu", "a100"], ["name", "p1"], ["region", "eu-west"], ["vcpu", "32"]]);
    assert_eq!(sorted(&verified["attributes"]), sorted(&expected), "{verified}");
    let mismatch = metadata(&base, &market, 2).await;
    assert_eq!(mismatch["status"], "mismatch", "{mismatch}");
    assert_eq!(mismatch["attributes"], json!([]), "a document that does not match shows no attributes");
    assert!(mismatch["detail"].as_str().unwrap().contains(&keccak256(OTHER).to_string()), "{mismatch}");
    let unreachable = metadata(&base, &market, 3).await;
    assert_eq!(unreachable["status"], "unreachable", "{unreachable}");

    // The console says the same.
    let page = reqwest::get(format!("{base}/providers/{}", market.account(1))).await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"data-status="verified""#) && page.contains("a100"), "the provider page shows it verified");
    let page = reqwest::get(format!("{base}/providers/{}", market.account(2))).await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"data-status="mismatch""#) && page.contains("does not match"), "and the mismatch");

    // Provider 2 registers the hash of what it serves, in a data: URI for provider 3: both are
    // checked again at once, and verified.
    update(&market, 2, format!("{served}/p2.json"), keccak256(OTHER)).await;
    let inline = format!("data:application/json,{}", DOCUMENT.replace('"', "%22"));
    update(&market, 3, inline, keccak256(DOCUMENT)).await;
    ingestor.catch_up().await.unwrap();
    assert_eq!(metadata(&base, &market, 2).await, Value::Null, "the old check does not stand for the new hash");
    assert_eq!(open.check_due().await.unwrap(), 2);
    assert_eq!(metadata(&base, &market, 2).await["status"], "verified");
    assert_eq!(metadata(&base, &market, 3).await["status"], "verified");
}
