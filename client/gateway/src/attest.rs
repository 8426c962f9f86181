//! The gate's third layer: every 2xx answer to an admitted request is attested with the provider's
//! attestation key, once the gateway has one ([`Gateway::attest_with`]), whether the service is
//! the gateway's own routes or the reverse proxy's upstream.
//!
//! The request is digested as the service reads its body (nothing is buffered):
//! `METHOD SP path-and-query LF body`. The answer is attested:
//! - an answer of known length up to [`ATTEST_MAX`] is read whole and carries its
//!   [`wire::ATTESTATION_HEADER`];
//! - an event stream ends with a final [`wire::ATTESTATION_EVENT`] over every byte before it,
//!   unless it failed or was cut for want of payment (then it is not an answer);
//! - other answers (larger, or of unstated length and not events) pass unattested: buffering them
//!   would cost the tenant its first byte.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use alloy::primitives::{B256, Keccak256, keccak256};
use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use futures_util::{StreamExt, stream};
use openlease_client::{Attester, SignedAnswer, wire};

use crate::{Admission, Gateway};

/// The largest answer read whole to be attested in its header.
pub const ATTEST_MAX: usize = 1 << 20;

/// What is needed to attest one answer once its bytes are known.
struct Attest {
    attester: Arc<Attester>,
    admission: Admission,
    /// The request as the service read it.
    request: Arc<Mutex<Keccak256>>,
    started: Instant,
}

impl Attest {
    fn sign(&self, response_digest: B256) -> Option<SignedAnswer> {
        let request_digest = self.request.lock().expect("request digest lock").clone().finalize();
        // Chain time, as the admission read it, moved on by what the answer took.
        let served_at = self.admission.now + self.started.elapsed().as_secs();
        let signed = self.attester.sign(
            self.admission.lease_id,
            self.admission.workload,
            request_digest,
            response_digest,
            served_at,
        );
        signed.inspect_err(|error| tracing::error!(%error, "an answer could not be attested")).ok()
    }
}

pub(crate) async fn attest<P: alloy::providers::Provider + Clone + 'static>(
    State(gateway): State<Gateway<P>>,
    request: Request,
    next: Next,
) -> Response {
    let admission = request.extensions().get::<Admission>().copied();
    let (Some(attester), Some(admission)) = (gateway.attester(), admission) else { return next.run(request).await };
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut hasher = Keccak256::new();
    hasher.update(openlease_client::attestation::request_head(parts.method.as_str(), path));
    let digest = Arc::new(Mutex::new(hasher));
    let reading = digest.clone();
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        if let Ok(chunk) = &chunk {
            reading.lock().expect("request digest lock").update(chunk);
        }
        chunk
    }));
    let attest = Attest { attester, admission, request: digest, started: Instant::now() };
    let response = next.run(Request::from_parts(parts, body)).await;
    if !response.status().is_success() {
        return response;
    }
    let events =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    let length =
        response.body().size_hint().exact().or_else(|| {
            response.headers().get(header::CONTENT_LENGTH).and_then(|l| l.to_str().ok()?.parse::<u64>().ok())
        });
    let (mut parts, body) = response.into_parts();
    match length {
        Some(length) if length <= ATTEST_MAX as u64 => {
            let Ok(body) = axum::body::to_bytes(body, ATTEST_MAX).await else {
                // The service broke off its answer: not an answer, and the client must see a break.
                return Response::from_parts(
                    parts,
                    Body::from_stream(stream::iter([Err::<Bytes, _>(std::io::Error::other(
                        "the service broke off its answer",
                    ))])),
                );
            };
            if let Some(signed) = attest.sign(keccak256(&body))
                && let Ok(value) = HeaderValue::from_str(&signed.to_json())
            {
                parts.headers.insert(wire::ATTESTATION_HEADER, value);
            }
            Response::from_parts(parts, Body::from(body))
        }
        None if events => Response::from_parts(parts, attested_events(body, attest)),
        _ => Response::from_parts(parts, body),
    }
}

/// An event stream passed on whole, then its attestation as a final event. A stream that broke
/// off, or ended in the proxy's `event: error`, is not attested: it is not an answer.
fn attested_events(body: Body, attest: Attest) -> Body {
    let state = (body.into_data_stream().fuse(), Some(attest), Keccak256::new(), false);
    let chunks = stream::unfold(state, |(mut chunks, mut attest, mut hasher, mut failed)| async move {
        match chunks.next().await {
            Some(Ok(chunk)) => {
                failed |= chunk.starts_with(b"event: error\n");
                hasher.update(&chunk);
                Some((Ok(chunk), (chunks, attest, hasher, failed)))
            }
            Some(Err(error)) => Some((Err(error), (chunks, None, hasher, true))),
            None => {
                let attest = attest.take().filter(|_| !failed)?;
                let signed = attest.sign(std::mem::take(&mut hasher).finalize())?;
                let event = format!("event: {}\ndata: {}\n\n", wire::ATTESTATION_EVENT, signed.to_json());
                Some((Ok(Bytes::from(event)), (chunks, None, hasher, failed)))
            }
        }
    });
    Body::from_stream(chunks)
}
