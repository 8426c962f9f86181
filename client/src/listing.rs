//! What a tenant chooses providers by, read from the market's indexer (`openlease-indexer`'s HTTP
//! API): each open offer in a token with its provider's region, endpoint, free stake and record,
//! as [`Candidate`]s for [`crate::select`]. The record is the indexer's delivered ratio: what
//! tenants paid against what accrued on the provider's finished leases, by value.

use alloy::primitives::{Address, U256};
use openlease_contracts::lease_math;
use serde_json::Value;

use crate::{Error, Result, select::Candidate, session::Destination};

/// An offer a session may lease: its candidate for selection and where its gateway listens.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub candidate: Candidate,
    pub endpoint: String,
}

impl Listing {
    /// Where a session sends this offer's requests.
    pub fn destination(&self) -> Destination {
        Destination {
            provider: self.candidate.provider,
            offer_id: self.candidate.offer_id,
            endpoint: self.endpoint.trim_end_matches('/').to_string(),
        }
    }
}

async fn get(http: &reqwest::Client, url: String) -> Result<Value> {
    let answer = http.get(&url).send().await.map_err(|e| Error::Http(format!("{url}: {e}")))?;
    if !answer.status().is_success() {
        return Err(Error::Http(format!("{url}: HTTP {}", answer.status())));
    }
    answer.json().await.map_err(|e| Error::Http(format!("{url}: {e}")))
}

fn number(value: &Value) -> Option<U256> {
    match value {
        Value::String(text) => text.parse().ok(),
        Value::Number(n) => n.as_u64().map(U256::from),
        _ => None,
    }
}

/// Every unpaused offer in `token` with capacity left, from the indexer at `indexer` (its base
/// URL), with the bond a lease of it would lock at `bond_bps` (the market's parameters).
pub async fn listings(indexer: &str, token: Address, bond_bps: u16) -> Result<Vec<Listing>> {
    let http = reqwest::Client::new();
    let base = indexer.trim_end_matches('/');
    let mut listings = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/offers?token={token}&available=true&limit=100");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = get(&http, url).await?;
        for offer in page["data"].as_array().into_iter().flatten() {
            let provider: Address = offer["provider"].as_str().and_then(|a| a.parse().ok()).unwrap_or_default();
            let detail = get(&http, format!("{base}/v1/providers/{provider}")).await?;
            let p = &detail["data"];
            let free = p["stakes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["token"].as_str().and_then(|t| t.parse::<Address>().ok()) == Some(token))
                .and_then(|s| number(&s["free"]))
                .unwrap_or_default();
            let price = number(&offer["price_per_second"]).unwrap_or_default().saturating_to::<u64>();
            let notice = offer["notice_period"].as_u64().unwrap_or_default();
            let history = p["leases_finished"].as_u64().unwrap_or(0);
            let delivered = p["delivered_ratio"].as_f64();
            let capacity = offer["capacity"].as_u64().unwrap_or(0);
            let candidate = Candidate {
                provider,
                offer_id: number(&offer["offer_id"]).unwrap_or_default(),
                region: p["region"].as_str().unwrap_or_default().to_string(),
                token,
                price_per_second: price,
                free_stake: free,
                bond: lease_math::bond(U256::from(price), U256::from(notice), U256::from(bond_bps)),
                capacity_left: capacity.saturating_sub(offer["active_leases"].as_u64().unwrap_or(0)),
                delivered: delivered.filter(|_| history > 0).map(|d| d.clamp(0.0, 1.0)),
                history,
                wrong_answers: p["wrong_answers"].as_u64().unwrap_or(0) + p["answers_contested"].as_u64().unwrap_or(0),
            };
            let endpoint = p["endpoint"].as_str().unwrap_or_default().to_string();
            listings.push(Listing { candidate, endpoint });
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            return Ok(listings);
        }
    }
}
