//! The HTTP API over a mirrored random market.

use std::sync::Arc;

use alloy::transports::http::reqwest;
use openlease_indexer::{
    api::{ApiState, router},
    metrics::Metrics,
    rows::Lease,
    store::Store,
};
use serde_json::{Value, json};

use crate::{
    both_backends,
    util::{Db, Market, fresh_db, ingestor, serve_api, test_config},
};

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

both_backends!(answers_market_questions, answers);
async fn answers(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(3).await;
    market.random_ops(40).await;
    // A fourth offer, cheaper than the three before it: price order is not id order.
    let cheap = market
        .market
        .publishOffer(
            market.usdc,
            5,
            60,
            30 * 86_400,
            3_600,
            20,
            alloy::primitives::B256::ZERO,
            alloy::primitives::Address::ZERO,
        )
        .from(market.account(3));
    market.must(None, cheap, "a cheaper offer").await;
    // And one nobody could pay (u64::MAX a second): listed as it is, never "cheapest".
    let absurd = market
        .market
        .publishOffer(
            market.usdc,
            u64::MAX,
            60,
            30 * 86_400,
            3_600,
            1,
            alloy::primitives::B256::ZERO,
            alloy::primitives::Address::ZERO,
        )
        .from(market.account(3));
    market.must(None, absurd, "an absurd price").await;
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    ingestor.catch_up().await.unwrap();
    let cursor = ingestor.cursor().clone();

    // The figures the writer would share: it is at the head.
    let metrics = Arc::new(Metrics::default());
    metrics.set_writer();
    metrics.record_head(cursor.number, cursor.number);
    let state = ApiState {
        store: store.clone(),
        metrics,
        max_lag: 10,
        max_head_age: 15,
        notices: tokio::sync::broadcast::channel(16).0,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let (status, body) = get(&base, "/v1/providers?region=eu-west").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["block"]["number"], cursor.number);
    assert_eq!(body["block"]["hash"], cursor.hash.to_string());
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["region"], "eu-west");

    // Two pages of one provider each, then the third: every provider once.
    let mut seen = Vec::new();
    let mut path = "/v1/providers?limit=1&sort=address".to_owned();
    loop {
        let (status, body) = get(&base, &path).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(body["data"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/providers?limit=1&sort=address&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "sorted by address: {seen:?}");

    let (status, body) = get(&base, "/v1/leases/1").await;
    assert_eq!(status, 200, "{body}");
    let leases: Vec<Lease> = Store::all(store.pool()).await.unwrap();
    let lease = &leases[0];
    assert_eq!(lease.lease_id, 1);
    assert_eq!(body["data"]["deposit"], lease.deposit.to_string());
    assert_eq!(body["data"]["settled"], lease.settled.to_string());
    assert_eq!(body["data"]["settlements"].as_array().unwrap().len() as u128 > 0, lease.settled > 0);

    // A lease's settlements a page at a time, newest first: each once, as many as it counts.
    let busiest = leases.iter().max_by_key(|l| l.settlement_count).unwrap();
    assert!(busiest.settlement_count >= 2, "the random market settled a lease twice or more: {busiest:?}");
    let (_, detail) = get(&base, &format!("/v1/leases/{}", busiest.lease_id)).await;
    let mut pages = vec![detail["data"]["settlements"].clone()];
    let mut next = detail["data"]["settlements_next_cursor"].clone();
    let mut path = format!("/v1/leases/{}/settlements?limit=1", busiest.lease_id);
    loop {
        let (status, body) = get(&base, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 1, "{path}: {body}");
        pages.push(body["data"].clone());
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/leases/{}/settlements?limit=1&cursor={cursor}", busiest.lease_id),
            None => break,
        }
    }
    assert!(next.is_null(), "fewer than 50 settlements fit the lease's first page: {next}");
    next = Value::Array(pages[1..].iter().flat_map(|p| p.as_array().unwrap().clone()).collect());
    assert_eq!(next, pages[0], "pages of one add up to the lease's own list");
    let walked = pages[0].as_array().unwrap();
    assert_eq!(walked.len() as u64, busiest.settlement_count);
    let totals: Vec<u128> = walked.iter().map(|s| s["cumulative_amount"].as_str().unwrap().parse().unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] > w[1]), "newest (largest receipt total) first: {totals:?}");
    let (status, body) = get(&base, "/v1/leases/999999/settlements").await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = get(&base, "/v1/leases?status=open&limit=500").await;
    assert_eq!(status, 200, "{body}");
    let open = leases.iter().filter(|l| l.status == openlease_indexer::state::LeaseStatus::Open).count();
    assert_eq!(body["data"].as_array().unwrap().len(), open);

    // Offers by their providers' region; cheapest first a page at a time (in one token).
    let offers: Vec<openlease_indexer::rows::Offer> = Store::all(store.pool()).await.unwrap();
    let providers: Vec<openlease_indexer::rows::Provider> = Store::all(store.pool()).await.unwrap();
    let eu: Vec<u64> = offers
        .iter()
        .filter(|o| providers.iter().any(|p| p.address == o.provider && p.region == "eu-west"))
        .map(|o| o.offer_id)
        .collect();
    let (_, body) = get(&base, "/v1/offers?region=eu-west").await;
    let listed: Vec<u64> = body["data"].as_array().unwrap().iter().map(|o| o["offer_id"].as_u64().unwrap()).collect();
    assert!(!eu.is_empty() && listed == eu, "offers in eu-west: {listed:?}, expected {eu:?}");
    let usdc = market.usdc;
    let (status, body) = get(&base, "/v1/offers?limit=500").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].as_array().unwrap().iter().any(|o| o["price_per_second"] == json!(u64::MAX)), "{body}");
    let (_, body) = get(&base, &format!("/v1/offers?token={usdc}&max_price=1000")).await;
    assert!(body["data"].as_array().unwrap().iter().all(|o| o["price_per_second"].as_u64() <= Some(1000)), "{body}");
    let mut by_price = offers.iter().filter(|o| o.token == usdc && o.price_per_second < 1 << 63).collect::<Vec<_>>();
    by_price.sort_by_key(|o| (o.price_per_second, o.offer_id));
    let expected: Vec<u64> = by_price.iter().map(|o| o.offer_id).collect();
    let (mut walked, mut path) = (Vec::new(), format!("/v1/offers?token={usdc}&sort=price&limit=1"));
    loop {
        let (status, body) = get(&base, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        walked.extend(body["data"].as_array().unwrap().iter().map(|o| o["offer_id"].as_u64().unwrap()));
        match body["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/offers?token={usdc}&sort=price&limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, expected, "cheapest first, each offer once across pages");
    assert_ne!(
        walked,
        {
            let mut ids = walked.clone();
            ids.sort();
            ids
        },
        "price order is not id order here"
    );
    // Leases in a token, newest first, a page at a time.
    let mut newest: Vec<u64> = leases.iter().filter(|l| l.token == usdc).map(|l| l.lease_id).collect();
    newest.reverse();
    let (mut walked, mut path) = (Vec::new(), format!("/v1/leases?token={usdc}&sort=newest&limit=7"));
    loop {
        let (_, body) = get(&base, &path).await;
        walked.extend(body["data"].as_array().unwrap().iter().map(|l| l["lease_id"].as_u64().unwrap()));
        match body["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/leases?token={usdc}&sort=newest&limit=7&cursor={next}"),
            None => break,
        }
    }
    assert!(newest.len() > 7 && walked == newest, "newest first across pages: {walked:?}");

    for (path, parameter) in [
        ("/v1/offers?sort=price", "sort"),
        ("/v1/offers?sort=cheap", "sort"),
        ("/v1/leases?sort=up", "sort"),
        ("/v1/providers?limit=0", "limit"),
        ("/v1/providers?min_stake=5", "min_stake"),
        ("/v1/offers?max_price=-1", "max_price"),
        ("/v1/offers?max_price=5", "max_price"),
        ("/v1/providers?max_price=5", "max_price"),
        ("/v1/leases?tenant=0x12", "tenant"),
        ("/v1/leases?status=gone", "status"),
        ("/v1/disputes?colour=red", "colour"),
    ] {
        let (status, body) = get(&base, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(&format!("`{parameter}`")), "{path}: {body}");
    }

    // Path segments are named as such, and a malformed id is a 400, not a missing lease.
    for (path, segment) in [
        ("/v1/leases/abc", "id"),
        ("/v1/leases/-1", "id"),
        ("/v1/leases/0x10", "id"),
        ("/v1/providers/0x12", "address"),
    ] {
        let (status, body) = get(&base, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&format!("invalid path segment `{segment}`")), "{path}: {body}");
        assert!(!error.contains("query parameter"), "{path}: {body}");
    }
    let (status, _) = get(&base, "/v1/leases/999999").await;
    assert_eq!(status, 404, "a well-formed id of no lease is a 404");

    let (status, body) = get(&base, "/v1/stats").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["providers"], 3);
    let (status, body) = get(&base, "/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "writer");
    assert_eq!(body["lag_blocks"], 0);
    assert_eq!(body["node_reachable"], true, "{body}");
    // The OpenAPI document names every route, its parameters and the rows' fields.
    let (status, body) = get(&base, "/v1/openapi.json").await;
    assert_eq!(status, 200, "{body}");
    for path in ["/v1/providers", "/v1/providers/{address}/history", "/v1/leases/{id}", "/health"] {
        assert!(body["paths"][path]["get"].is_object(), "{path} in the OpenAPI document");
    }
    let parameters = body["paths"]["/v1/providers"]["get"]["parameters"].as_array().unwrap();
    assert!(parameters.iter().any(|p| p["name"] == "min_reputation"), "{parameters:?}");
    assert!(body["components"]["schemas"]["Lease"]["properties"]["settlement_window"].is_object(), "{body}");
    let (status, body) = get(&base, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().contains("openlease_indexer_lag_blocks 0"), "{body}");
}

both_backends!(clients_that_hang_up_leave_no_broken_connection, hangups);
/// Clients that hang up in the middle of their requests, at every moment, by the hundred: every
/// ordinary request afterwards is answered (no pooled connection is handed back inside a
/// half-begun read snapshot).
async fn hangups(db: Db, name: &str) {
    let Some((url, _dir)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(5).await;
    market.random_ops(30).await;
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    ingestor.catch_up().await.unwrap();
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    // Distinct URIs (by `limit`), so that every one reaches the database, not the answer cache.
    let paths = ["/v1/providers", "/v1/offers", "/v1/leases", "/v1/disputes", "/v1/signers"];
    let uri = {
        let base = base.clone();
        move |i: usize| format!("{base}{}?limit={}", paths[i % paths.len()], 1 + i % 499)
    };
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for round in 0..16u64 {
        // 32 keep-alive clients in a loop, all dropped at once mid-flight.
        let mut clients = Vec::new();
        for _ in 0..32 {
            let (n, uri) = (n.clone(), uri.clone());
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                loop {
                    let at = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = http.get(uri(at)).send().await.map(|r| r.bytes());
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100 + 37 * round)).await;
        for client in clients {
            client.abort();
        }
    }
    let n = n.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut failed = Vec::new();
    for i in 0..480 {
        let (status, body) = get(&base, &uri(n + i).replacen(&base, "", 1)).await;
        if status != 200 {
            failed.push(format!("{status}: {body}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 480 failed after the hangups: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
}
