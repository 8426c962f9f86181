//! The retries against a real HTTP front that refuses the way hosted providers do.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, keccak256},
    providers::{Provider, ProviderBuilder},
};
use axum::{http::StatusCode, response::IntoResponse};
use openlease_rpc::{RetryLayer, RetryPolicy, RpcErrorClass};
use serde_json::Value;

/// How the front answers request number `n` (from 0) with JSON-RPC body `body`.
type Script = Arc<dyn Fn(u64, &Value) -> axum::response::Response + Send + Sync>;

/// A JSON-RPC front on a free port; counts requests.
async fn front(script: Script) -> (String, Arc<AtomicU64>) {
    let seen = Arc::new(AtomicU64::new(0));
    let counted = seen.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let (script, counted) = (script.clone(), counted.clone());
            async move {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                script(n, &serde_json::from_str(&body).unwrap())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn answer(body: &Value, result: Value) -> axum::response::Response {
    axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "result": result})).into_response()
}

fn too_many(retry_after: Option<&str>) -> axum::response::Response {
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":429,"message":"Too Many Requests"}}"#;
    let mut response = (StatusCode::TOO_MANY_REQUESTS, [("content-type", "application/json")], body).into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert("retry-after", after.parse().unwrap());
    }
    response
}

fn bad_gateway() -> axum::response::Response {
    (StatusCode::BAD_GATEWAY, [("content-type", "text/html")], "<html><body>502 Bad Gateway</body></html>")
        .into_response()
}

fn fast() -> RetryPolicy {
    RetryPolicy { first_delay: Duration::from_millis(20), max_delay: Duration::from_millis(200), ..Default::default() }
}

#[tokio::test]
async fn refusals_and_failures_are_asked_again_until_answered() {
    // 429, 502, 503 and a 429 with Retry-After, then the answer.
    let script: Script = Arc::new(|n, body| match n {
        0 => too_many(None),
        1 => bad_gateway(),
        2 => (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response(),
        3 => too_many(Some("1")),
        _ => answer(body, "0x2a".into()),
    });
    let (url, seen) = front(script).await;
    let layer = RetryLayer::new(fast());
    let stats = layer.stats();
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect_with(&url, layer).await.unwrap());
    let started = Instant::now();
    assert_eq!(node.get_block_number().await.unwrap(), 42);
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured: {:?}", started.elapsed());
    assert_eq!(stats.retried(RpcErrorClass::RateLimited), 2);
    assert_eq!(stats.retried(RpcErrorClass::Unavailable), 2);
}

#[tokio::test]
async fn a_request_gives_up_after_its_patience_with_the_last_error() {
    let (url, seen) = front(Arc::new(|_, _| too_many(None))).await;
    let layer = RetryLayer::new(fast().with_patience(Duration::from_millis(600)));
    let stats = layer.stats();
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect_with(&url, layer).await.unwrap());
    let started = Instant::now();
    let error = node.get_block_number().await.unwrap_err();
    assert_eq!(RpcErrorClass::of(&error), RpcErrorClass::RateLimited, "{error}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(seen.load(Ordering::SeqCst) >= 3, "asked {} times", seen.load(Ordering::SeqCst));
    assert_eq!(stats.gave_up(), 1);
}

#[tokio::test]
async fn what_retrying_cannot_fix_is_returned_at_once() {
    let script: Script = Arc::new(|_, body| {
        axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "error": {"code": 3, "message": "execution reverted"}}))
            .into_response()
    });
    let (url, seen) = front(script).await;
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, fast()).await.unwrap());
    node.get_block_number().await.unwrap_err();
    let (url401, seen401) = front(Arc::new(|_, _| (StatusCode::UNAUTHORIZED, "bad key").into_response())).await;
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url401, fast()).await.unwrap());
    node.get_block_number().await.unwrap_err();
    assert_eq!((seen.load(Ordering::SeqCst), seen401.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn a_transaction_sent_again_that_the_node_already_has_is_sent() {
    // The first send reaches the node but its answer is lost (502); the second is told it is known.
    let script: Script = Arc::new(|n, body| {
        match n {
        0 => bad_gateway(),
        _ => axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32000, "message": "already known"}}))
            .into_response(),
    }
    });
    let (url, _) = front(script).await;
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, fast()).await.unwrap());
    let raw = [0x02u8, 0xf8, 0x70, 0x01];
    let hash: B256 =
        node.client().request("eth_sendRawTransaction", (alloy::primitives::Bytes::from(raw),)).await.unwrap();
    assert_eq!(hash, keccak256(raw));
    // Told so on the first send, it is an error: another program sent it, not this request.
    let (url, _) = front(Arc::new(|_, body| {
        axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32000, "message": "already known"}}))
            .into_response()
    }))
    .await;
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, fast()).await.unwrap());
    let sent: Result<B256, _> =
        node.client().request("eth_sendRawTransaction", (alloy::primitives::Bytes::from(raw),)).await;
    sent.unwrap_err();
}

#[tokio::test]
async fn a_rate_cap_spaces_requests() {
    let (url, seen) = front(Arc::new(|_, body| answer(body, "0x1".into()))).await;
    let policy = fast().with_max_rps(NonZeroU32::new(20));
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, policy).await.unwrap());
    let started = Instant::now();
    let asks: Vec<_> = (0..21).map(|_| node.get_block_number()).collect();
    for ask in futures_join(asks).await {
        ask.unwrap();
    }
    // 21 requests at 20/s: the last goes out a second after the first.
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
    assert_eq!(seen.load(Ordering::SeqCst), 21);
}

async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_address_nothing_listens_at_is_waited_for_by_services_and_reported_at_once_to_people() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let person = RetryPolicy { fail_when_unreachable: true, ..fast() };
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, person).await.unwrap());
    let started = Instant::now();
    let error = node.get_block_number().await.unwrap_err();
    assert_eq!(RpcErrorClass::of(&error), RpcErrorClass::Unavailable, "{error}");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());

    // A service waits for a node that comes up meanwhile.
    let service = fast().with_patience(Duration::from_secs(10));
    let node = ProviderBuilder::new().connect_client(openlease_rpc::connect(&url, service).await.unwrap());
    let asked = tokio::spawn(async move { node.get_block_number().await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|body: String| async move { answer(&serde_json::from_str(&body).unwrap(), "0x7".into()) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(asked.await.unwrap().unwrap(), 7);
}
