//! `openlease session proxy`: a tenant's session as a local HTTP endpoint. An app points its
//! base URL here and sends its ordinary requests (an OpenAI client, curl, anything HTTP); each is
//! sent on through the session, which leases, signs receipts, fails over and falls back, and its
//! answer streams back as it comes. Requests take turns on the session (its receipts are one
//! running total per lease); an answer that breaks off after part of it was passed on ends with
//! an error the client sees, never as a silently shorter answer.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use alloy::providers::DynProvider;
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use openlease_client::session::{Call, Piece, SessionReport, Spread};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use super::{Coin, ProxyArgs, amount_in, json as report_json, start, text as report_text};
use crate::{
    config::Settings,
    error::{CliError, Result},
    output::{Output, Report},
};

/// The largest request body passed on.
const MAX_BODY: usize = 16 << 20;
/// Requests waiting for their turn at most; more are refused (`busy`) rather than queued without end.
const MAX_WAITING: usize = 256;

struct Proxy {
    session: tokio::sync::Mutex<Spread<DynProvider>>,
    /// The report as of the last request, for `/openlease/session` while a stream holds the session.
    report: Mutex<SessionReport>,
    coin: Coin,
    turns: Semaphore,
    answered: AtomicU64,
    failed: AtomicU64,
}

pub(super) async fn serve(args: ProxyArgs, settings: &Settings, out: Output) -> Result<Report> {
    let (session, coin) = start(&args.session, settings, &out).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
        CliError::hint(format!("cannot listen on {}: {e}", args.listen), "pass a free --listen address")
    })?;
    let address = listener.local_addr().map_err(|e| CliError::new(e.to_string()))?;
    let proxy = Arc::new(Proxy {
        report: Mutex::new(session.report()),
        session: tokio::sync::Mutex::new(session),
        coin,
        turns: Semaphore::new(MAX_WAITING),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    out.progress(format!(
        "serving the session at http://{address} (an OpenAI client's base_url: http://{address}/v1); \
         its report at http://{address}/openlease/session; Ctrl-C ends it"
    ));
    let app = Router::new().route("/openlease/session", get(report)).fallback(forward).with_state(proxy.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| CliError::new(format!("serving the session: {e}")))?;

    out.step(1, 1, "giving notice on the session's leases");
    let mut session = proxy.session.lock().await;
    session.finish().await?;
    let report = session.report();
    let amount = amount_in(&proxy.coin);
    let (answered, failed) = (proxy.answered.load(Ordering::Relaxed), proxy.failed.load(Ordering::Relaxed));
    let mut json = report_json(&report, &amount);
    json["answered"] = answered.into();
    json["failedRequests"] = failed.into();
    Ok(Report::new(report_text(&report, &amount, answered, answered + failed), json))
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// `GET /openlease/session`: served, paid, paid for nothing and failovers so far.
async fn report(State(proxy): State<Arc<Proxy>>) -> Response {
    let report = proxy.report.lock().expect("report lock").clone();
    let mut json = report_json(&report, &amount_in(&proxy.coin));
    json["answered"] = proxy.answered.load(Ordering::Relaxed).into();
    json["failedRequests"] = proxy.failed.load(Ordering::Relaxed).into();
    axum::Json(json).into_response()
}

/// A refusal of the proxy's own, in the gateway's shape: what was wrong and what to do.
fn refusal(status: StatusCode, code: &str, message: String, hint: &str) -> Response {
    (status, axum::Json(json!({ "error": code, "message": message, "hint": hint }))).into_response()
}

/// What the session's task hands the answering handler.
enum Passed {
    Head(u16, Option<String>),
    Chunk(Bytes),
    /// The request ended: `Err` with what went wrong.
    End(std::result::Result<(), String>),
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let Ok(turn) = proxy.turns.try_acquire() else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_WAITING} requests are already waiting for the session"),
            "send fewer requests at once, or spread the work with --spread",
        );
    };
    turn.forget();
    let method = request.method().clone();
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body.to_vec(),
        Err(_) => {
            proxy.turns.add_permits(1);
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is over {MAX_BODY} bytes, or broke off"),
                "send a smaller body",
            );
        }
    };
    let call = Call { method, path, content_type, body };
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The request runs to its end whatever the client does: the session's account of what was
    // paid must follow every receipt it sent.
    let runner = proxy.clone();
    tokio::spawn(async move {
        let ended = {
            let mut session = runner.session.lock().await;
            runner.turns.add_permits(1);
            let sent = session
                .send(&call, |piece| {
                    let _ = tx.send(match piece {
                        Piece::Head { status, content_type } => Passed::Head(status, content_type.map(str::to_owned)),
                        Piece::Chunk(chunk) => Passed::Chunk(Bytes::copy_from_slice(chunk)),
                    });
                })
                .await;
            *runner.report.lock().expect("report lock") = session.report();
            sent
        };
        let counter = if ended.is_ok() { &runner.answered } else { &runner.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Passed::End(ended.map(|_| ()).map_err(|e| e.to_string())));
    });

    // The answer begins at its first chunk (or its end): a head before a replay elsewhere is not it.
    let mut head = (200, None);
    let first = loop {
        match rx.recv().await {
            Some(Passed::Head(status, content_type)) => head = (status, content_type),
            Some(Passed::Chunk(chunk)) => break Some(chunk),
            Some(Passed::End(Ok(()))) => break None,
            Some(Passed::End(Err(error))) => {
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "session_failed",
                    format!("no provider of the session answered: {error}"),
                    "the session report at /openlease/session says who was tried; retry, or give --fallback",
                );
            }
            None => return refusal(StatusCode::BAD_GATEWAY, "session_failed", "the session stopped".into(), "retry"),
        }
    };
    let (status, content_type) = head;
    let event_stream = content_type.as_deref().is_some_and(|t| t.starts_with("text/event-stream"));
    let chunks = futures_util::stream::unfold(
        (first, rx, false, Vec::new()),
        move |(first, mut rx, done, mut tail)| async move {
            if done {
                return None;
            }
            if let Some(chunk) = first {
                note_tail(&mut tail, &chunk);
                return Some((Ok(chunk), (None, rx, false, tail)));
            }
            loop {
                match rx.recv().await {
                    Some(Passed::Chunk(chunk)) => {
                        note_tail(&mut tail, &chunk);
                        return Some((Ok(chunk), (None, rx, false, tail)));
                    }
                    Some(Passed::Head(..)) => continue,
                    Some(Passed::End(Ok(()))) | None => return None,
                    Some(Passed::End(Err(error))) => {
                        // Broke off after part of it went out: said in the stream when it is one and the
                        // break fell between events; the body is cut off (an error at the client) if not.
                        if event_stream && between_events(&tail) {
                            let data = json!({
                                "error": "provider_failed",
                                "message": format!("the answer broke off: {error}"),
                                "hint": "what came before this event is all there is; retry the request",
                            });
                            let event = Bytes::from(format!("event: error\ndata: {data}\n\n"));
                            return Some((Ok(event), (None, rx, true, tail)));
                        }
                        return Some((Err(std::io::Error::other(error)), (None, rx, true, tail)));
                    }
                }
            }
        },
    );
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(content_type) = content_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response
}

fn note_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(&chunk[chunk.len().saturating_sub(4)..]);
    let extra = tail.len().saturating_sub(4);
    tail.drain(..extra);
}

/// Whether the stream so far ends with a blank line, the end of an event.
fn between_events(tail: &[u8]) -> bool {
    tail.is_empty() || tail.ends_with(b"\n\n") || tail.ends_with(b"\r\n\r\n") || tail.ends_with(b"\r\r")
}
