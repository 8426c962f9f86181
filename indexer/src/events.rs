//! Decoding: a raw log becomes the bindings' typed event (to apply) and, on demand, a named JSON
//! object (to serve), both from the same topics and data. Only the raw log is stored: the typed
//! decoding is cheap, the JSON one is not, so ingestion never builds JSON.

use std::collections::HashMap;

use alloy::{
    dyn_abi::{DynSolValue, EventExt},
    json_abi::{Event, JsonAbi},
    primitives::{B256, LogData},
    sol_types::SolEventInterface,
};
use openlease_contracts::{Openlease::OpenleaseEvents, artifacts};
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

/// One decoded log.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub event: OpenleaseEvents,
    pub name: String,
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
    pub fn decode(&self, topics: &[B256], data: &[u8]) -> Option<Decoded> {
        let event = OpenleaseEvents::decode_raw_log(topics, data).ok()?;
        let abi = self.by_selector.get(topics.first()?)?;
        Some(Decoded { event, name: abi.name.clone() })
    }

    /// A log's arguments by name (numbers as decimal strings, bytes and addresses as hex); `None`
    /// for a log that is not one of the market's events.
    pub fn args(&self, topics: &[B256], data: &[u8]) -> Option<Value> {
        let abi = self.by_selector.get(topics.first()?)?;
        let log = LogData::new_unchecked(topics.to_vec(), data.to_vec().into());
        let decoded = abi.decode_log(&log).ok()?;
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let mut args = Map::new();
        for input in &abi.inputs {
            let value = if input.indexed { indexed.next() } else { body.next() };
            args.insert(input.name.clone(), value.map(|v| to_json(&v)).unwrap_or(Value::Null));
        }
        Some(Value::Object(args))
    }
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
