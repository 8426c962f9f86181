//! Decoding: a raw log becomes the bindings' typed event (to apply) and, on demand, a named JSON
//! object (to serve), both from the same topics and data. Only the raw log is stored: the typed
//! decoding is cheap, the JSON one is not, so ingestion never builds JSON.

use std::collections::HashMap;

use alloy::sol_types::SolEvent;
use alloy::{
    dyn_abi::{DynSolValue, EventExt},
    json_abi::{Event, JsonAbi},
    primitives::{Address, B256, LogData, U256},
    sol_types::SolEventInterface,
};
use openlease_contracts::{
    Openlease::{self, OpenleaseEvents},
    artifacts,
};

use crate::{
    rows::{Eviction, Settlement},
    store::StoredEvent,
};
use serde_json::{Map, Value};

/// Decodes the market's logs.
#[derive(Debug, Clone)]
pub struct EventCodec {
    by_selector: HashMap<B256, Event>,
}

impl Default for EventCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl EventCodec {
    /// Reads the event ABI from the committed `Openlease` artifact.
    pub fn new() -> Self {
        #[derive(serde::Deserialize)]
        struct Artifact {
            abi: JsonAbi,
        }
        let artifact: Artifact = serde_json::from_str(artifacts::OPENLEASE).expect("the committed artifact has an ABI");
        let by_selector = artifact.abi.events().map(|e| (e.selector(), e.clone())).collect();
        Self { by_selector }
    }

    /// Decodes a log; `None` for a log that is not one of the market's events.
    pub fn decode(&self, topics: &[B256], data: &[u8]) -> Option<OpenleaseEvents> {
        OpenleaseEvents::decode_raw_log(topics, data).ok()
    }

    /// The event's name, from its first topic.
    pub fn name(&self, topics: &[B256]) -> Option<&str> {
        Some(self.by_selector.get(topics.first()?)?.name.as_str())
    }

    /// A log's arguments by name, in snake case like every key the API writes (`lease_id`,
    /// `metadata_uri`; numbers as decimal strings, bytes and addresses as hex); `None` for a log
    /// that is not one of the market's events.
    pub fn args(&self, topics: &[B256], data: &[u8]) -> Option<Value> {
        let abi = self.by_selector.get(topics.first()?)?;
        let log = LogData::new_unchecked(topics.to_vec(), data.to_vec().into());
        let decoded = abi.decode_log(&log).ok()?;
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let mut args = Map::new();
        for input in &abi.inputs {
            let value = if input.indexed { indexed.next() } else { body.next() };
            args.insert(snake_case(&input.name), value.map(|v| to_json(&v)).unwrap_or(Value::Null));
        }
        Some(Value::Object(args))
    }
}

/// The lease an event is about (the one it changes; a failover's old lease), if any.
pub fn lease_of(event: &OpenleaseEvents) -> Option<u64> {
    use OpenleaseEvents as E;
    let id = match event {
        E::LeaseOpened(e) => e.leaseId,
        E::LeaseToppedUp(e) => e.leaseId,
        E::LeaseClosed(e) => e.leaseId,
        E::LeaseTerminated(e) => e.leaseId,
        E::PaymentDemanded(e) => e.leaseId,
        E::LeaseEvicted(e) => e.leaseId,
        E::LeaseFailedOver(e) => e.leaseId,
        E::LeaseFinalized(e) => e.leaseId,
        E::LeaseSettled(e) => e.leaseId,
        E::SettlementSkipped(e) => e.leaseId,
        E::BondSlashed(e) => e.leaseId,
        E::DisputeOpened(e) => e.leaseId,
        E::DisputeRuled(e) => e.leaseId,
        E::DisputeExpired(e) => e.leaseId,
        _ => return None,
    };
    Some(id.saturating_to())
}

/// What a feed shows of an event beside its name: who it concerns and the amount that moved
/// (with its token when the event names it; a lease's events are in its token).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Each party by its role in the event: `provider`, `tenant`, `by`, `account`, `to`, …
    pub parties: Vec<(&'static str, Address)>,
    /// The amount that moved, by its name in the event (`paid`, `amount`, `refund`, …), raw units.
    pub amount: Option<(&'static str, U256)>,
    pub token: Option<Address>,
}

/// The one rule for what an event's row shows, for the server's rows and the live feed alike.
pub fn summary(event: &OpenleaseEvents) -> Summary {
    use OpenleaseEvents as E;
    let of = |parties: Vec<(&'static str, Address)>, amount: Option<(&'static str, U256)>, token: Option<Address>| {
        Summary { parties, amount, token }
    };
    match event {
        E::ProviderRegistered(e) => of(vec![("provider", e.provider)], None, None),
        E::ProviderUpdated(e) => of(vec![("provider", e.provider)], None, None),
        E::Staked(e) => of(vec![("provider", e.provider)], Some(("amount", e.amount)), Some(e.token)),
        E::UnstakeRequested(e) => of(vec![("provider", e.provider)], Some(("amount", e.amount)), Some(e.token)),
        E::StakeWithdrawn(e) => of(vec![("provider", e.provider)], Some(("amount", e.amount)), Some(e.token)),
        E::OfferPublished(e) => of(vec![("provider", e.provider)], None, Some(e.token)),
        E::LeaseOpened(e) => of(vec![("tenant", e.tenant)], Some(("deposit", U256::from(e.terms.deposit))), None),
        E::LeaseToppedUp(e) => of(vec![], Some(("amount", e.amount)), None),
        E::LeaseClosed(e) => of(vec![("by", e.by)], None, None),
        E::PaymentDemanded(e) => of(vec![], Some(("due", e.due)), None),
        E::LeaseEvicted(e) => of(vec![], Some(("refund", e.refund)), None),
        E::LeaseFailedOver(e) => of(vec![], Some(("moved", e.moved)), None),
        E::LeaseFinalized(e) => of(vec![], Some(("refund", e.refund)), None),
        E::SignerAuthorized(e) => of(vec![("tenant", e.tenant), ("provider", e.provider)], Some(("cap", e.cap)), None),
        E::SignerRevoked(e) => of(vec![("tenant", e.tenant), ("provider", e.provider)], None, None),
        E::LeaseSettled(e) => of(vec![("signer", e.signer)], Some(("paid", e.paid)), None),
        E::Claimed(e) => of(vec![("account", e.account)], Some(("amount", e.amount)), Some(e.token)),
        E::FeesCollected(e) => of(vec![("treasury", e.treasury)], Some(("amount", e.amount)), Some(e.token)),
        E::BondSlashed(e) => of(vec![("provider", e.provider)], Some(("amount", e.amount)), None),
        E::DisputeOpened(e) => of(vec![("tenant", e.tenant)], Some(("tenant_bond", e.tenantBond)), None),
        E::DisputeRuled(e) => of(vec![("arbiter", e.arbiter)], None, None),
        _ => Summary::default(),
    }
}

/// A stored `LeaseSettled` event as a settlement; `None` for any other event.
pub fn settlement(event: &StoredEvent) -> Option<Settlement> {
    let e = Openlease::LeaseSettled::decode_raw_log(event.topics.iter().copied(), &event.data).ok()?;
    Some(Settlement {
        block_number: event.block,
        log_index: event.log_index,
        tx_hash: event.tx_hash,
        lease_id: e.leaseId.saturating_to(),
        signer: e.signer,
        cumulative_amount: e.cumulativeAmount.saturating_to(),
        paid: e.paid.saturating_to(),
        fee: e.fee.saturating_to(),
    })
}

/// A stored `LeaseEvicted` event as an eviction; `None` for any other event.
pub fn eviction(event: &StoredEvent) -> Option<Eviction> {
    let e = Openlease::LeaseEvicted::decode_raw_log(event.topics.iter().copied(), &event.data).ok()?;
    Some(Eviction {
        block_number: event.block,
        tx_hash: event.tx_hash,
        ends_at: e.endsAt.saturating_to(),
        hold_charge: e.holdCharge.saturating_to(),
        refund: e.refund.saturating_to(),
        remedies_until: e.remediesUntil.saturating_to(),
    })
}

/// `leaseId` → `lease_id`, `metadataURI` → `metadata_uri`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn to_json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::Address(a) => Value::String(a.to_string()),
        DynSolValue::FixedBytes(word, size) => Value::String(alloy::hex::encode_prefixed(&word[..*size])),
        DynSolValue::Bytes(bytes) => Value::String(alloy::hex::encode_prefixed(bytes)),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Function(f) => Value::String(f.to_string()),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn argument_names_are_snake_case() {
        for (abi, json) in [
            ("leaseId", "lease_id"),
            ("metadataURI", "metadata_uri"),
            ("evidenceURI", "evidence_uri"),
            ("thawEndsAt", "thaw_ends_at"),
            ("newOwner", "new_owner"),
            ("paused", "paused"),
            ("slashBps", "slash_bps"),
            ("EIP712Domain", "eip712_domain"),
        ] {
            assert_eq!(snake_case(abi), json, "{abi}");
        }
    }
}
