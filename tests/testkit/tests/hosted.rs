//! The hosted-RPC front against a real anvil: each fault a provider throws, met as a client meets
//! it over HTTP.

use alloy::providers::{Provider, ProviderBuilder};
use openlease_testkit::{
    deploy_market,
    hosted::{Faults, HostedRpc, HostedStats},
    spawn_anvil,
};
use serde_json::{Value, json};

const ANVIL_CHAIN_ID: &str = "0x7a69";
const BAD_GATEWAY_PAGE: &str = "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>";

/// An HTTP answer as a client sees it.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: not JSON: {}", self.body))
    }
}

async fn post(client: &reqwest::Client, url: &str, request: &Value) -> Answer {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(request).unwrap())
        .send()
        .await
        .expect("the front answers");
    let header = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap().to_string());
    let (status, content_type, retry_after) =
        (response.status().as_u16(), header("content-type").unwrap_or_default(), header("retry-after"));
    let body = String::from_utf8(response.bytes().await.unwrap().to_vec()).unwrap();
    Answer { status, content_type, retry_after, body }
}

fn call(id: impl Into<Value>, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.into(), "method": method, "params": params })
}

/// A call answered 200 with a result.
async fn result(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let answer = post(client, url, &call(1, method, params)).await;
    assert_eq!(answer.status, 200, "{method}: {answer:?}");
    let answer = answer.json();
    assert!(answer.get("result").is_some(), "{method} has no result: {answer}");
    answer["result"].clone()
}

/// A call answered 200 with a JSON-RPC error.
async fn error(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let answer = post(client, url, &call(1, method, params)).await;
    assert_eq!(answer.status, 200, "{method}: {answer:?}");
    let answer = answer.json();
    assert!(answer.get("error").is_some(), "{method} did not fail: {answer}");
    answer["error"].clone()
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn number(quantity: &Value) -> u64 {
    u64::from_str_radix(quantity.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn refuses_a_share_of_requests_as_a_provider_does() {
    let anvil = spawn_anvil();
    let faults = Faults { rate_limited: 0.05, bad_gateway: 0.01, retry_after_share: 0.1, ..Faults::none() };
    let hosted = HostedRpc::start(anvil.endpoint(), faults).await;
    let client = reqwest::Client::new();

    // Eight keep-alive connections at once, as an indexer and a gateway would hold.
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8u64 {
        let (client, url) = (client.clone(), hosted.url());
        workers.spawn(async move {
            let mut answers = Vec::new();
            for n in 0..250 {
                let id = worker * 1_000 + n;
                answers.push((id, post(&client, &url, &call(id, "eth_chainId", json!([]))).await));
            }
            answers
        });
    }
    let (mut ok, mut limited, mut retry_after, mut bad_gateway) = (0u64, 0u64, 0u64, 0u64);
    for (id, answer) in workers.join_all().await.into_iter().flatten() {
        match answer.status {
            200 => {
                ok += 1;
                assert_eq!(answer.json(), json!({ "jsonrpc": "2.0", "id": id, "result": ANVIL_CHAIN_ID }));
            }
            429 => {
                limited += 1;
                assert_eq!(answer.content_type, "application/json");
                let refusal =
                    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": 429, "message": "Too Many Requests" } });
                assert_eq!(answer.json(), refusal);
                match answer.retry_after.as_deref() {
                    Some("1") => retry_after += 1,
                    None => {}
                    Some(other) => panic!("Retry-After: {other}"),
                }
            }
            502 => {
                bad_gateway += 1;
                assert_eq!(answer.content_type, "text/html");
                assert_eq!(answer.body, BAD_GATEWAY_PAGE);
                assert_eq!(answer.retry_after, None);
            }
            status => panic!("unexpected {status}: {answer:?}"),
        }
    }

    // 5% of 2,000 is 100 (σ ≈ 10); 1% of the rest is 19 (σ ≈ 4.4); 10% of the 429s is 10 (σ ≈ 3).
    assert!((60..=140).contains(&limited), "{limited} rate-limited of 2000");
    assert!((5..=40).contains(&bad_gateway), "{bad_gateway} bad gateways of 2000");
    assert!((1..=30).contains(&retry_after), "{retry_after} of {limited} 429s carry Retry-After");
    assert_eq!(ok + limited + bad_gateway, 2_000);
    let stats = hosted.stats();
    assert_eq!(
        stats,
        HostedStats {
            requests: 2_000,
            calls: ok,
            rate_limited: limited,
            bad_gateway,
            forwarded: ok,
            ..HostedStats::default()
        }
    );
}

#[tokio::test]
async fn caps_the_log_range_and_the_result() {
    let anvil = spawn_anvil();
    let manifest = deploy_market(&anvil).await;
    let market = manifest.market().to_string();
    let hosted = HostedRpc::start(anvil.endpoint(), Faults::none()).await;
    let (client, url) = (reqwest::Client::new(), hosted.url());
    let logs = |from: Value, to: Value| json!([{ "address": market, "fromBlock": from, "toBlock": to }]);

    let all = result(&client, &url, "eth_getLogs", logs(json!("earliest"), json!("latest"))).await;
    let all = all.as_array().unwrap().clone();
    assert!(all.len() >= 3, "the deployment emits at least 3 market events, got {}", all.len());
    // Past 2 x 2,000 blocks, so the split below takes three pieces and "finalized" lies past the cap.
    result(&client, &url, "anvil_mine", json!([hex(5_000)])).await;
    let head = number(&result(&client, &url, "eth_blockNumber", json!([])).await);

    hosted.set_faults(Faults { max_log_range: 2_000, max_logs: 10_000, ..Faults::none() });
    let message = "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no \
                   limit on the response size, or you can request any block range with a cap of 10K logs in the response.";
    let refusal = json!({ "code": -32602, "message": message });
    for (from, to) in [
        (json!("earliest"), json!("latest")),
        (json!("0x0"), json!(hex(2_000))),
        (json!(hex(head - 2_000)), Value::Null),
        (json!("earliest"), json!("finalized")),
        (json!("earliest"), json!("safe")),
    ] {
        let refused = error(&client, &url, "eth_getLogs", logs(from.clone(), to.clone())).await;
        assert_eq!(refused, refusal, "{from}..{to}");
    }
    let pieces = (0..=head).step_by(2_000).map(|from| (from, (from + 1_999).min(head)));
    let mut pieced = Vec::new();
    for (from, to) in pieces {
        let piece = result(&client, &url, "eth_getLogs", logs(json!(hex(from)), json!(hex(to)))).await;
        pieced.extend(piece.as_array().unwrap().iter().cloned());
    }
    assert_eq!(pieced, all, "2,000-block pieces give every log");
    let stats = hosted.stats();
    assert_eq!((stats.range_capped, stats.result_capped), (5, 0));

    // A block hash names one block: served whatever the range cap.
    hosted.set_faults(Faults { max_log_range: 0, ..Faults::none() });
    let block_hash = all[0]["blockHash"].clone();
    let in_block = result(&client, &url, "eth_getLogs", json!([{ "address": market, "blockHash": block_hash }])).await;
    assert!(in_block.as_array().unwrap().contains(&all[0]));
    let block = all[0]["blockNumber"].clone();
    assert_eq!(error(&client, &url, "eth_getLogs", logs(block.clone(), block)).await["code"], -32602);

    hosted.set_faults(Faults { max_logs: 2, ..Faults::none() });
    let refused = error(&client, &url, "eth_getLogs", logs(json!("earliest"), json!("latest"))).await;
    assert_eq!(refused, json!({ "code": -32005, "message": "query returned more than 2 results" }));
    hosted.set_faults(Faults { max_logs: all.len(), ..Faults::none() });
    let at_cap = result(&client, &url, "eth_getLogs", logs(json!("earliest"), json!("latest"))).await;
    assert_eq!(at_cap.as_array().unwrap().len(), all.len());
    let stats = hosted.stats();
    assert_eq!((stats.range_capped, stats.result_capped), (6, 1));
}

#[tokio::test]
async fn lags_the_head_by_one_block() {
    let anvil = spawn_anvil();
    let hosted = HostedRpc::start(anvil.endpoint(), Faults { lagging_head: 1.0, ..Faults::none() }).await;
    let (client, url) = (reqwest::Client::new(), hosted.url());
    let head = async || number(&result(&client, &url, "eth_blockNumber", json!([])).await);

    assert_eq!(head().await, 0, "never below genesis");
    result(&client, &url, "anvil_mine", json!([hex(10)])).await;
    for _ in 0..20 {
        assert_eq!(head().await, 9);
    }
    assert_eq!(hosted.stats().lagged_heads, 21);

    hosted.set_faults(Faults::none());
    for _ in 0..20 {
        assert_eq!(head().await, 10);
    }

    hosted.set_faults(Faults { lagging_head: 0.5, ..Faults::none() });
    let mut behind = 0;
    for _ in 0..200 {
        match head().await {
            9 => behind += 1,
            10 => {}
            other => panic!("head {other}"),
        }
    }
    assert!((60..=140).contains(&behind), "{behind} of 200 behind");
    assert_eq!(hosted.stats().lagged_heads, 21 + behind);
}

#[tokio::test]
async fn answers_a_batch_as_a_batch() {
    let anvil = spawn_anvil();
    let hosted = HostedRpc::start(anvil.endpoint(), Faults { max_log_range: 2_000, ..Faults::none() }).await;
    let (client, url) = (reqwest::Client::new(), hosted.url());

    let batch = json!([
        call(1, "eth_chainId", json!([])),
        call("two", "eth_blockNumber", json!([])),
        call(3, "eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": hex(5_000) }])),
        call(4, "openlease_noSuchMethod", json!([])),
    ]);
    let answer = post(&client, &url, &batch).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answers = answer.json();
    let answers = answers.as_array().expect("a batch is answered with an array");
    let ids: Vec<_> = answers.iter().map(|answer| answer["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!("two"), json!(3), json!(4)]);
    assert_eq!(answers[0]["result"], ANVIL_CHAIN_ID);
    assert_eq!(answers[1]["result"], "0x0");
    assert_eq!(answers[2]["error"]["code"], -32602);
    assert_eq!(answers[3]["error"]["code"], -32601, "the node's own error: {}", answers[3]);

    // Refused before it is read: one 429 object for the whole batch.
    hosted.set_faults(Faults { rate_limited: 1.0, ..Faults::none() });
    let refused = post(&client, &url, &batch).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["id"], Value::Null);
    assert_eq!(refused.json()["error"]["code"], 429);

    let stats = hosted.stats();
    assert_eq!((stats.requests, stats.calls, stats.rate_limited, stats.range_capped), (2, 4, 1, 1));
}

#[tokio::test]
async fn passes_the_nodes_answers_through_untouched() {
    let anvil = spawn_anvil();
    let hosted = HostedRpc::start(anvil.endpoint(), Faults::none()).await;
    let client = reqwest::Client::new();

    // An eth_call into code that reverts (PUSH0 PUSH0 REVERT) as a state override.
    let reverting = "0x000000000000000000000000000000000000dead";
    let requests = [
        call(7, "eth_chainId", json!([])),
        call(8, "eth_getBalance", json!([anvil.addresses()[0].to_string(), "latest"])),
        call(9, "openlease_noSuchMethod", json!([])),
        call(10, "eth_call", json!([{ "to": reverting }, "latest", { reverting: { "code": "0x5f5ffd" } }])),
    ];
    for request in &requests {
        let direct = post(&client, &anvil.endpoint(), request).await;
        let hosted = post(&client, &hosted.url(), request).await;
        assert_eq!((hosted.status, &hosted.content_type), (direct.status, &direct.content_type), "{request}");
        assert_eq!(hosted.body, direct.body, "{request}");
    }
    assert!(post(&client, &hosted.url(), &requests[3]).await.json()["error"]["message"].is_string());

    // An alloy provider, as the SDK and the indexer hold one.
    let provider = ProviderBuilder::new().connect_http(hosted.url().parse().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), 31_337);
    assert_eq!(hosted.stats().forwarded, 4 + 1 + 1);
}

#[tokio::test]
async fn answers_502_when_the_node_is_down() {
    // Nothing listens on port 1.
    let hosted = HostedRpc::start("http://127.0.0.1:1", Faults::none()).await;
    let answer = post(&reqwest::Client::new(), &hosted.url(), &call(1, "eth_chainId", json!([]))).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str(), answer.body.as_str()),
        (502, "text/html", BAD_GATEWAY_PAGE)
    );
    let stats = hosted.stats();
    assert_eq!((stats.forwarded, stats.upstream_failed), (0, 1));
}
