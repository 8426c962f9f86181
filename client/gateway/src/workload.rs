//! The demo workload the devnet's providers sell and its tests and benchmark use, answers a
//! tenant can check without trusting the provider:
//! - `GET /work/{n}`: the `n`-th keccak256 of zero (at most 100,000 rounds). About 1 ms of work at
//!   n ≈ 3,400 in a release build here.
//! - `GET /stream/{n}`: the same chain as server-sent events, one round per event
//!   ([`STREAM_EVERY`] apart, at most [`MAX_EVENTS`]): `data: <i-th hash>`, then `event: done`.
//!   What a streaming inference server looks like to the gateway.
//! - `POST /v1/chat/completions`: an OpenAI-compatible chat model (what apps already call, with
//!   their own clients) whose answer is [`chat_answer`] of the last message: `max_tokens` words
//!   (16 by default, at most [`MAX_TOKENS`]), streamed as `chat.completion.chunk` events
//!   ([`TOKEN_EVERY`] apart, then `data: [DONE]`) with `"stream": true`.

use std::time::Duration;

use alloy::primitives::{B256, keccak256};
use axum::{
    Json, Router,
    extract::Path,
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
    routing::{get, post},
};
use serde_json::{Value, json};

/// The most rounds one request may ask for.
pub const MAX_ROUNDS: u32 = 100_000;
/// The most events one stream may ask for.
pub const MAX_EVENTS: u32 = 1_000;
/// Between two events of a stream.
pub const STREAM_EVERY: Duration = Duration::from_millis(250);

/// The most words one chat completion may ask for.
pub const MAX_TOKENS: u32 = 256;
/// Between two words of a streamed chat completion.
pub const TOKEN_EVERY: Duration = Duration::from_millis(20);

/// The chat model's answer to `prompt`: `n` words, word `i` the first 8 hex digits of keccak256
/// applied `i + 1` times to the prompt's keccak256. A tenant recomputes it to check an answer.
pub fn chat_answer(prompt: &str, n: u32) -> Vec<String> {
    let mut hash = keccak256(prompt.as_bytes());
    (0..n.min(MAX_TOKENS))
        .map(|_| {
            hash = keccak256(hash);
            alloy::hex::encode(&hash[..4])
        })
        .collect()
}

/// keccak256 applied `n` times to 32 zero bytes.
pub fn hash_chain(n: u32) -> B256 {
    (0..n.min(MAX_ROUNDS)).fold(B256::ZERO, |h, _| keccak256(h))
}

/// The workload's routes.
pub fn router() -> Router {
    answering_wrong(0.0)
}

/// The workload as a cheating provider runs it: `/work/{n}` (n ≥ 1) answers the chain one round short
/// (cheaper, and wrong) for a share `wrong` of requests, drawn at random. What sampled checks and
/// the chain's verifier must catch; the devnet runs one.
pub fn answering_wrong(wrong: f64) -> Router {
    let work = move |Path(n): Path<u32>| async move {
        use alloy::signers::k256::elliptic_curve::rand_core::{OsRng, RngCore};
        let cheat = wrong > 0.0 && (OsRng.next_u64() as f64 / u64::MAX as f64) < wrong;
        hash_chain(if cheat { n.saturating_sub(1) } else { n }).to_string()
    };
    Router::new()
        .route("/work/{n}", get(work))
        .route("/stream/{n}", get(|Path(n): Path<u32>| async move { stream(n) }))
        .route("/v1/chat/completions", post(chat))
}

/// `POST /v1/chat/completions`, OpenAI's shape: refusals as `{"error": {"message", "type"}}`.
async fn chat(body: axum::body::Bytes) -> Response {
    let refuse = |message: &str| {
        let error = json!({"error": {"message": message, "type": "invalid_request_error", "code": null}});
        (StatusCode::BAD_REQUEST, Json(error)).into_response()
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON: send {\"model\", \"messages\": [{\"role\", \"content\"}]}");
    };
    let Some(prompt) = request["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str()) else {
        return refuse("`messages` must hold at least one message with a string `content`");
    };
    let model = request["model"].as_str().unwrap_or("openlease-demo").to_owned();
    let n = request["max_tokens"].as_u64().or(request["max_completion_tokens"].as_u64()).unwrap_or(16);
    let n = u32::try_from(n).unwrap_or(u32::MAX).min(MAX_TOKENS);
    let words = chat_answer(prompt, n);
    let prompt_tokens = prompt.split_whitespace().count();
    let id = format!("chatcmpl-{}", alloy::hex::encode(&keccak256(body.as_ref())[..8]));
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if request["stream"].as_bool() != Some(true) {
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": words.join(" ")},
                "finish_reason": "length",
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": words.len(), "total_tokens": prompt_tokens + words.len()},
        }))
        .into_response();
    }
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string()
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    events.extend(words.iter().enumerate().map(|(i, word)| {
        let content = if i == 0 { word.clone() } else { format!(" {word}") };
        chunk(json!({"content": content}), None)
    }));
    events.push(chunk(json!({}), Some("length")));
    events.push("[DONE]".to_owned());
    use futures_util::StreamExt;
    let paced = futures_util::stream::iter(events).then(|data| async move {
        tokio::time::sleep(TOKEN_EVERY).await;
        Ok::<_, std::convert::Infallible>(Event::default().data(data))
    });
    Sse::new(paced).into_response()
}

fn stream(n: u32) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = futures_util::stream::unfold((0, B256::ZERO), move |(i, hash)| async move {
        if i > n.min(MAX_EVENTS) {
            return None;
        }
        if i == n.min(MAX_EVENTS) {
            return Some((Ok(Event::default().event("done").data(hash.to_string())), (i + 1, hash)));
        }
        tokio::time::sleep(STREAM_EVERY).await;
        let next = keccak256(hash);
        Some((Ok(Event::default().data(next.to_string())), (i + 1, next)))
    });
    Sse::new(events)
}
