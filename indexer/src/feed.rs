//! `/v1/events`: the market's events as server-sent events, live from ingestion's notices and
//! caught up from the store for a client that reconnects or falls behind.

use std::{collections::HashMap, convert::Infallible};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast;

use crate::{
    api::ApiState,
    ingest::Notice,
    query::CODEC,
    store::{Store, StoredEvent},
};

/// Events a page of the backlog holds.
const BACKLOG_PAGE: u64 = 1_000;

fn applied(e: &StoredEvent) -> Option<Event> {
    Event::default()
        .event("applied")
        .id(e.seq.to_string())
        .json_data(json!({
            "seq": e.seq, "block_number": e.block, "log_index": e.log_index, "block_hash": e.block_hash,
            "block_timestamp": e.timestamp, "tx_hash": e.tx_hash, "name": CODEC.name(&e.topics), "args": CODEC.args(&e.topics, &e.data),
            "lease_id": e.lease_id, "summary": summary_json(e),
        }))
        .ok()
}

/// [`crate::events::summary`] as the feed sends it: `{"parties": [[role, address]], "amount":
/// {"name", "raw"} | null, "token": address | null}` (a lease's events are in the lease's token).
fn summary_json(e: &StoredEvent) -> serde_json::Value {
    let Some(decoded) = CODEC.decode(&e.topics, &e.data) else { return serde_json::Value::Null };
    let s = crate::events::summary(&decoded);
    json!({
        // Checksummed, as the pages show addresses.
        "parties": s.parties.iter().map(|(role, address)| json!([role, address.to_string()])).collect::<Vec<_>>(),
        "amount": s.amount.map(|(name, raw)| json!({ "name": name, "raw": raw.to_string() })),
        "token": s.token,
    })
}

fn retracted(block: u64, seq: Option<u64>) -> Option<Event> {
    let event = Event::default().event("retracted");
    let event = match seq {
        Some(seq) => event.id(seq.to_string()),
        None => event,
    };
    event.json_data(json!({ "above": block, "seq": seq })).ok()
}

/// Where a `/v1/events` stream stands.
struct Feed {
    store: Store,
    receiver: broadcast::Receiver<Notice>,
    /// The last id the client has: what the backlog starts after.
    last: u64,
    /// Read the store before the live notices: a resume, or notices missed by a slow client.
    backlog: bool,
}

/// New events as they are applied (`event: applied`) and reorg retractions (`event: retracted`,
/// data `{"above": N}`: drop every event above block N). Each has an `id:`; a client that
/// reconnects with `Last-Event-ID` first gets what it missed (the deepest retraction since, then
/// every event since that still stands), then the live feed. A client too slow for the live feed
/// is caught up from the store the same way.
pub(crate) async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // `Last-Event-ID` (a reconnecting client), else `after` (a page that rendered up to that id).
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(raw.get("after").map(String::as_str))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let feed = Feed {
        store: state.store.clone(),
        receiver: state.notices.subscribe(),
        last: last.unwrap_or(0),
        backlog: last.is_some(),
    };
    let stream = stream::unfold(feed, |mut feed| async move {
        loop {
            if feed.backlog {
                let read = async {
                    let mut tx = feed.store.snapshot().await?;
                    let retraction = Store::retraction_after(&mut *tx, feed.last).await?;
                    let events = Store::events_after(&mut *tx, feed.last, BACKLOG_PAGE).await?;
                    Ok::<_, crate::IndexerError>((retraction, events))
                };
                match read.await {
                    Ok((retraction, events)) => {
                        let mut out: Vec<Event> = Vec::new();
                        if let Some((seq, block)) = retraction {
                            out.extend(retracted(block, None));
                            feed.last = feed.last.max(seq.min(events.first().map_or(seq, |e| e.seq.saturating_sub(1))));
                        }
                        if let Some(e) = events.last() {
                            feed.last = feed.last.max(e.seq);
                        }
                        feed.backlog = events.len() as u64 == BACKLOG_PAGE;
                        out.extend(events.iter().filter_map(applied));
                        if !out.is_empty() {
                            return Some((
                                stream::iter(out.into_iter().map(Ok::<_, Infallible>).collect::<Vec<_>>()),
                                feed,
                            ));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "events backlog read failed");
                        return None;
                    }
                }
                continue;
            }
            let event = match feed.receiver.recv().await {
                Ok(Notice::Applied(e)) if e.seq > feed.last => {
                    feed.last = e.seq;
                    applied(&e)
                }
                Ok(Notice::Applied(_)) => None,
                Ok(Notice::Retracted { block, seq }) => {
                    feed.last = feed.last.max(seq);
                    retracted(block, Some(seq))
                }
                // Missed notices are read from the store.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    feed.backlog = true;
                    None
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(event) = event {
                return Some((stream::iter(vec![Ok::<_, Infallible>(event)]), feed));
            }
        }
    });
    Sse::new(stream.flatten()).keep_alive(KeepAlive::default())
}
