//! One typed row per table, each declared once with `table!`: a field's name, Rust type,
//! column kind, docs and JSON form are written in one place, and the rest is derived from it (the
//! struct with its serde and OpenAPI attributes, its [`Entity`]: columns, key, SQL types, binding
//! and reading), so that the struct, the columns and the JSON cannot say different things. The
//! SQL schema itself is the migrations' history (`indexer/migrations`, never edited); the test
//! `schema` in `tests/it` checks that a freshly migrated database has exactly the declared columns
//! with their declared types, on both backends.
//!
//! The same struct is what ingestion changes, what the store writes and reads, what the audit
//! compares and what the API serves (serde, snake_case): a column's type is said once, here, and
//! never guessed from its text.
//!
//! In the database amounts are `openlease_contracts::units::sortable_amount` text (decimal,
//! zero-padded to 78 digits, so that text order is numeric order on both backends), addresses
//! lowercase hex, hashes binary, flags 0/1; in JSON amounts are decimal strings, flags booleans.
//! Every row carries the block that last changed it.

use std::{fmt::Debug, str::FromStr};

use alloy::primitives::{Address, B256, U256};
use openlease_contracts::{
    DisputeStatus, LeasePhase, LeaseStatus, PhaseFacts, lease_math,
    units::{parse_sortable_amount, sortable_amount},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sqlx::{Row, any::AnyRow};
use utoipa::ToSchema;

use crate::{IndexerError, Result};

/// An address as stored: lowercase hex, so that text order is the same on both backends.
pub fn hex(address: &Address) -> String {
    format!("{address:#x}")
}

/// An amount as stored and as bound where a query compares it with stored ones: the market's
/// one SQL encoding, [`sortable_amount`].
pub fn pad(value: u128) -> String {
    sortable_amount(U256::from(value))
}

/// One column value, as bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// No value, in a column of this kind (PostgreSQL types every parameter, nulls too).
    Null(Kind),
}

/// The kind of a column that may hold no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&Address> for Value {
    fn from(v: &Address) -> Self {
        Self::Text(hex(v))
    }
}
impl From<&B256> for Value {
    fn from(v: &B256) -> Self {
        Self::Bytes(v.to_vec())
    }
}
/// An amount: padded text.
pub fn amount(v: u128) -> Value {
    Value::Text(pad(v))
}

/// Binds `values` in order.
pub fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: impl IntoIterator<Item = Value>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for value in values {
        query = match value {
            Value::Int(i) => query.bind(i),
            Value::Real(r) => query.bind(r),
            Value::Text(t) => query.bind(t),
            Value::Bytes(b) => query.bind(b),
            Value::Null(Kind::Int) => query.bind(None::<i64>),
            Value::Null(Kind::Text) => query.bind(None::<String>),
        };
    }
    query
}

/// Reads one typed column.
pub struct Columns<'r> {
    row: &'r AnyRow,
    table: &'static str,
}

impl<'r> Columns<'r> {
    pub fn new(row: &'r AnyRow, table: &'static str) -> Self {
        Self { row, table }
    }

    fn corrupt(&self, column: &str, text: impl std::fmt::Display) -> IndexerError {
        IndexerError::CorruptRow { table: self.table, message: format!("{column} = `{text}`") }
    }

    /// A u64 as `Value::from(u64)` wrote it: the same 64 bits in a signed column (only a price
    /// can reach 2^63, and SQL then orders it below zero: see `query::read_offers`).
    pub fn u64(&self, column: &str) -> Result<u64> {
        let v: i64 = self.row.try_get(column)?;
        Ok(v as u64)
    }

    pub fn bool(&self, column: &str) -> Result<bool> {
        Ok(self.row.try_get::<i64, _>(column)? != 0)
    }

    pub fn f64(&self, column: &str) -> Result<f64> {
        Ok(self.row.try_get(column)?)
    }

    pub fn text(&self, column: &str) -> Result<String> {
        Ok(self.row.try_get(column)?)
    }

    pub fn parse<T: FromStr>(&self, column: &str) -> Result<T> {
        let text: String = self.row.try_get(column)?;
        text.parse().map_err(|_| self.corrupt(column, text))
    }

    /// An amount [`pad`] wrote: a value of another width is a corrupt row, not a number.
    pub fn amount(&self, column: &str) -> Result<u128> {
        let text: String = self.row.try_get(column)?;
        parse_sortable_amount(&text).and_then(|v| u128::try_from(v).ok()).ok_or_else(|| self.corrupt(column, text))
    }

    pub fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        Ok(self.row.try_get(column)?)
    }

    pub fn hash(&self, column: &str) -> Result<B256> {
        let bytes = self.bytes(column)?;
        B256::try_from(bytes.as_slice()).map_err(|_| self.corrupt(column, alloy::hex::encode_prefixed(&bytes)))
    }
}

/// A column's type as the migrations declare it (`BYTEA` is a blob in SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    BigInt,
    DoublePrecision,
    Text,
    Bytea,
}

impl SqlType {
    /// As written in `CREATE TABLE`, and as SQLite reports it (PostgreSQL: in lowercase).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BigInt => "BIGINT",
            Self::DoublePrecision => "DOUBLE PRECISION",
            Self::Text => "TEXT",
            Self::Bytea => "BYTEA",
        }
    }
}

/// A table whose rows ingestion changes: how a row is keyed, written and read. Generic code (the
/// store's upsert, load and undo) works on any of them.
pub trait Entity: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    const TABLE: &'static str;
    /// The key columns, then the others, in the order of `values`.
    const COLUMNS: &'static [&'static str];
    /// Each of `COLUMNS`' SQL type, in that order: what the migrations must have declared.
    const SQL_TYPES: &'static [SqlType];
    /// How many of `COLUMNS` (the first ones) are the key.
    const KEY_COLUMNS: usize;
    type Key: Ord + Clone + Debug + Serialize + DeserializeOwned + Send + Sync;

    fn key(&self) -> Self::Key;
    fn key_values(key: &Self::Key) -> Vec<Value>;
    /// Every column's value, in `COLUMNS` order.
    fn values(&self) -> Vec<Value>;
    fn from_row(row: &AnyRow) -> Result<Self>;
}

/// u128 amounts as decimal strings in JSON.
pub mod amount_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! status_serde {
    ($module:ident, $ty:ty) => {
        /// The status's word in JSON.
        pub mod $module {
            use serde::{Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(value: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(value.as_str())
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let word = String::deserialize(d)?;
                <$ty>::ALL.into_iter().find(|s| s.as_str() == word).ok_or_else(|| serde::de::Error::custom(word))
            }
        }
    };
}
status_serde!(lease_status, openlease_contracts::LeaseStatus);
status_serde!(dispute_status, openlease_contracts::DisputeStatus);

fn status<T: Copy>(all: &[T], word: &str, as_str: fn(T) -> &'static str, table: &'static str) -> Result<T> {
    all.iter()
        .copied()
        .find(|s| as_str(*s) == word)
        .ok_or_else(|| IndexerError::CorruptRow { table, message: format!("status = `{word}`") })
}

/// Declares a table once: its row struct (derives, docs, JSON form) and its [`Entity`] (table,
/// columns, key, SQL types, how a row is bound and read). Each field is `name: Type => kind`,
/// marked `key` if it is a column of the key; the kind says how it is stored and served:
///
/// | kind | SQL | JSON |
/// |---|---|---|
/// | `int` | `BIGINT` | number |
/// | `bool` | `BIGINT`, 0/1 | boolean |
/// | `real` | `DOUBLE PRECISION` | number |
/// | `text` | `TEXT` | string |
/// | `amount` | `TEXT`, [`sortable_amount`] | decimal string |
/// | `address` | `TEXT`, lowercase hex | hex string |
/// | `hash` | `BYTEA` | hex string |
/// | `lease_status`, `dispute_status` | `TEXT`, the status's word | the word |
///
/// The struct derives `Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema`; other derives
/// and attributes, on it or on a field, are given as usual and kept.
macro_rules! table {
    (
        $(#[$attr:meta])*
        pub struct $name:ident in $table:literal { $($fields:tt)* }
    ) => {
        table!(@field [$(#[$attr])* $name $table] [] [] [] $($fields)*);
    };

    // The fields are read one at a time (a `key` and a field's name are both identifiers, which
    // one repetition cannot tell apart), into the struct's fields, the key's and the others.
    (@field [$(#[$attr:meta])* $name:ident $table:literal]
        [$({ $($field:tt)* })*]
        [$({ $kf:ident: $kt:ty => $kkind:ident })+]
        [$({ $f:ident => $kind:ident })*]
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            $($($field)*,)*
        }

        impl Entity for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($kf),)+ $(stringify!($f),)*];
            const SQL_TYPES: &'static [SqlType] = &[$(table!(@sql $kkind),)+ $(table!(@sql $kind),)*];
            const KEY_COLUMNS: usize = [$(stringify!($kf)),+].len();
            type Key = ($($kt,)+);

            fn key(&self) -> Self::Key {
                ($(self.$kf.clone(),)+)
            }

            fn key_values(key: &Self::Key) -> Vec<Value> {
                let ($($kf,)+) = key;
                vec![$(table!(@to $kkind, $kf)),+]
            }

            fn values(&self) -> Vec<Value> {
                vec![$(table!(@to $kkind, &self.$kf),)+ $(table!(@to $kind, &self.$f),)*]
            }

            fn from_row(row: &AnyRow) -> Result<Self> {
                let c = Columns::new(row, $table);
                Ok(Self {
                    $($kf: table!(@from $kkind, c, stringify!($kf)),)+
                    $($f: table!(@from $kind, c, stringify!($f)),)*
                })
            }
        }
    };
    (@field $h:tt $all:tt [$($keys:tt)*] $cols:tt
        $(#[$m:meta])* key $f:ident: $t:ty => $kind:ident $(, $($rest:tt)*)?
    ) => {
        table!(@json $kind [$(#[$m])*] (pub $f: $t) $h $all [$($keys)* { $f: $t => $kind }] $cols $($($rest)*)?);
    };
    (@field $h:tt $all:tt $keys:tt [$($cols:tt)*]
        $(#[$m:meta])* $f:ident: $t:ty => $kind:ident $(, $($rest:tt)*)?
    ) => {
        table!(@json $kind [$(#[$m])*] (pub $f: $t) $h $all $keys [$($cols)* { $f => $kind }] $($($rest)*)?);
    };

    // A field's JSON form, from its kind: amounts are decimal strings and statuses their words;
    // the OpenAPI schema says string for those and for addresses and hashes (hex).
    (@json amount $($r:tt)*) => {
        table!(@push [#[serde(with = "amount_text")] #[schema(value_type = String)]] $($r)*);
    };
    (@json lease_status $($r:tt)*) => {
        table!(@push [#[serde(with = "lease_status")] #[schema(value_type = String)]] $($r)*);
    };
    (@json dispute_status $($r:tt)*) => {
        table!(@push [#[serde(with = "dispute_status")] #[schema(value_type = String)]] $($r)*);
    };
    (@json address $($r:tt)*) => { table!(@push [#[schema(value_type = String)]] $($r)*); };
    (@json hash $($r:tt)*) => { table!(@push [#[schema(value_type = String)]] $($r)*); };
    (@json $kind:ident $($r:tt)*) => { table!(@push [] $($r)*); };
    (@push [$($json:tt)*] [$($m:tt)*] ($($f:tt)*) $h:tt [$($all:tt)*] $($rest:tt)*) => {
        table!(@field $h [$($all)* { $($m)* $($json)* $($f)* }] $($rest)*);
    };

    // A column's SQL type, value and reading, from its kind.
    (@sql int) => { SqlType::BigInt };
    (@sql bool) => { SqlType::BigInt };
    (@sql real) => { SqlType::DoublePrecision };
    (@sql text) => { SqlType::Text };
    (@sql amount) => { SqlType::Text };
    (@sql address) => { SqlType::Text };
    (@sql hash) => { SqlType::Bytea };
    (@sql lease_status) => { SqlType::Text };
    (@sql dispute_status) => { SqlType::Text };
    (@to int, $v:expr) => { Value::from(*$v) };
    (@to bool, $v:expr) => { Value::from(*$v) };
    (@to real, $v:expr) => { Value::from(*$v) };
    (@to text, $v:expr) => { Value::Text($v.clone()) };
    (@to amount, $v:expr) => { amount(*$v) };
    (@to address, $v:expr) => { Value::from($v) };
    (@to hash, $v:expr) => { Value::from($v) };
    (@to lease_status, $v:expr) => { Value::Text($v.as_str().to_owned()) };
    (@to dispute_status, $v:expr) => { Value::Text($v.as_str().to_owned()) };
    (@from int, $c:ident, $n:expr) => { $c.u64($n)? };
    (@from bool, $c:ident, $n:expr) => { $c.bool($n)? };
    (@from real, $c:ident, $n:expr) => { $c.f64($n)? };
    (@from text, $c:ident, $n:expr) => { $c.text($n)? };
    (@from amount, $c:ident, $n:expr) => { $c.amount($n)? };
    (@from address, $c:ident, $n:expr) => { $c.parse($n)? };
    (@from hash, $c:ident, $n:expr) => { $c.hash($n)? };
    (@from lease_status, $c:ident, $n:expr) => {
        status(&LeaseStatus::ALL, &$c.text($n)?, LeaseStatus::as_str, $c.table)?
    };
    (@from dispute_status, $c:ident, $n:expr) => {
        status(&DisputeStatus::ALL, &$c.text($n)?, DisputeStatus::as_str, $c.table)?
    };
}

table! {
    /// A registered provider and its record: lifetime outcome counts, value-weighted delivery and the
    /// decayed sums reputation v2 is computed from (see the crate's README). Its amounts are summed
    /// over its tokens, each scaled to 6 decimals (`state::VALUE_DECIMALS`).
    #[derive(Default)]
    pub struct Provider in "providers" {
        key address: Address => address,
        metadata_uri: String => text,
        endpoint: String => text,
        region: String => text,
        attributes_hash: B256 => hash,
        /// The EOA that signs its usage attestations, fixed at registration.
        attestation_key: Address => address,
        registered_block: u64 => int,
        leases_opened: u64 => int,
        /// Finalized after running to the end of their terms (or the provider's notice).
        leases_completed: u64 => int,
        /// The tenant gave notice.
        leases_closed_early: u64 => int,
        /// The provider ended them at once, without notice.
        leases_terminated: u64 => int,
        /// The tenant moved its escrow to another provider.
        leases_failed_over: u64 => int,
        /// The provider ended them because the tenant left a payment demand unanswered.
        leases_evicted: u64 => int,
        /// Payment demands it made (answered or not): how often it had to chase its tenants.
        payment_demands: u64 => int,
        disputes_won: u64 => int,
        disputes_lost: u64 => int,
        slashes: u64 => int,
        /// Of the slashes, for a wrong answer: an attested answer its lease's verifier rejected.
        wrong_answers: u64 => int,
        /// Disputes a tenant's check opened over an answer it contested (its evidence is the
        /// provider's attestation), ruled or not.
        answers_contested: u64 => int,
        /// Bond slashed, raw units.
        slashed_amount: u128 => amount,
        /// Of the slashes, what went to tenants.
        compensation: u128 => amount,
        /// Paid out to the provider by settlements, net of fees.
        total_earned: u128 => amount,
        /// Over finished leases: what tenants paid, and what the terms let accrue while they ran.
        paid: u128 => amount,
        accruable: u128 => amount,
        /// `paid`, `accruable` and `slashed_amount`, each decayed to `decayed_at` (half-life 30 days).
        decayed_paid: f64 => real,
        decayed_accruable: f64 => real,
        decayed_slashed: f64 => real,
        decayed_at: u64 => int,
        /// Reputation v2, basis points, as of `decayed_at`.
        reputation_bps: u64 => int,
        block_number: u64 => int,
    }
}

table! {
    /// A provider's record over one UTC day (`day` = block timestamp / 86,400): the series windows
    /// and `/v1/providers/{address}/history` are read from. Amounts as in [`Provider`]: 6 decimals.
    #[derive(Default)]
    pub struct ProviderDay in "provider_days" {
        key provider: Address => address,
        key day: u64 => int,
        leases_opened: u64 => int,
        leases_completed: u64 => int,
        leases_closed_early: u64 => int,
        leases_terminated: u64 => int,
        leases_failed_over: u64 => int,
        leases_evicted: u64 => int,
        payment_demands: u64 => int,
        disputes_won: u64 => int,
        disputes_lost: u64 => int,
        slashes: u64 => int,
        wrong_answers: u64 => int,
        answers_contested: u64 => int,
        slashed_amount: u128 => amount,
        compensation: u128 => amount,
        earned: u128 => amount,
        paid: u128 => amount,
        accruable: u128 => amount,
        block_number: u64 => int,
    }
}

impl ProviderDay {
    /// Adds another day's record (to sum a window).
    pub fn add(&mut self, other: &ProviderDay) {
        self.leases_opened += other.leases_opened;
        self.leases_completed += other.leases_completed;
        self.leases_closed_early += other.leases_closed_early;
        self.leases_terminated += other.leases_terminated;
        self.leases_failed_over += other.leases_failed_over;
        self.leases_evicted += other.leases_evicted;
        self.payment_demands += other.payment_demands;
        self.disputes_won += other.disputes_won;
        self.disputes_lost += other.disputes_lost;
        self.slashes += other.slashes;
        self.wrong_answers += other.wrong_answers;
        self.answers_contested += other.answers_contested;
        self.slashed_amount += other.slashed_amount;
        self.compensation += other.compensation;
        self.earned += other.earned;
        self.paid += other.paid;
        self.accruable += other.accruable;
        self.block_number = self.block_number.max(other.block_number);
    }
}

table! {
    /// A provider's collateral in one token, as `stakeOf` reports it.
    #[derive(Default, Eq)]
    pub struct Stake in "stakes" {
        key provider: Address => address,
        key token: Address => address,
        /// Staked (free + locked), not counting what thaws.
        staked: u128 => amount,
        /// Locked as SLA bonds of open leases.
        locked: u128 => amount,
        thawing: u128 => amount,
        thaw_ends_at: u64 => int,
        block_number: u64 => int,
    }
}

impl Stake {
    /// What can back new bonds.
    pub fn free(&self) -> u128 {
        self.staked.saturating_sub(self.locked)
    }
}

table! {
    /// An offer, as `offer` reports it.
    #[derive(Default, Eq)]
    pub struct Offer in "offers" {
        key offer_id: u64 => int,
        provider: Address => address,
        token: Address => address,
        price_per_second: u64 => int,
        min_duration: u64 => int,
        max_duration: u64 => int,
        notice_period: u64 => int,
        capacity: u64 => int,
        /// Leases holding its capacity: neither evicted nor finalized.
        active_leases: u64 => int,
        paused: bool => bool,
        /// The governance parameters version its provider accepted for it: its new leases get it.
        params_version: u64 => int,
        /// What it runs (`openlease_contracts::workload`), attested in every answer.
        workload: B256 => hash,
        /// The contract that judges its answers on chain; zero for none (wrong answers go to a
        /// dispute).
        verifier: Address => address,
        block_number: u64 => int,
    }
}

table! {
    /// A lease: its terms in force, what happened to it, and when it stopped accruing.
    #[derive(Eq)]
    pub struct Lease in "leases" {
        key lease_id: u64 => int,
        offer_id: u64 => int,
        tenant: Address => address,
        provider: Address => address,
        token: Address => address,
        started_at: u64 => int,
        /// End by terms or notice (s); the escrow may run dry earlier.
        ends_at: u64 => int,
        deposit: u128 => amount,
        /// Settled to the provider so far.
        settled: u128 => amount,
        price_per_second: u64 => int,
        /// The governance parameters version it opened under.
        params_version: u64 => int,
        /// Its settlement window (from its parameters version), seconds.
        settlement_window: u64 => int,
        /// SLA bond still locked.
        bond: u128 => amount,
        notice_period: u64 => int,
        /// Earliest end notice can bring.
        min_ends_at: u64 => int,
        status: LeaseStatus => lease_status,
        /// Who gave notice (zero: nobody).
        closed_by: Address => address,
        /// Ended early by the provider.
        terminated: bool => bool,
        /// Ended by its provider because the tenant left a payment demand unanswered (its status
        /// says `evicted` until it is finalized; this stays).
        evicted: bool => bool,
        /// The provider's newest payment demand: what the settled total must reach (0: none made).
        demand_due: u128 => amount,
        /// When that demand was made (0: none).
        demanded_at: u64 => int,
        /// From when the provider may evict unless the demand is answered (0: no demand).
        evictable_at: u64 => int,
        /// Set by an eviction: until when the tenant may dispute and the bond stays locked (the
        /// settlement deadline the lease had before it); then it can be finalized. 0: not evicted.
        remedies_until: u64 => int,
        /// The lease its tenant failed over to (0: none).
        failed_over_to: u64 => int,
        /// Receipts settled.
        settlement_count: u64 => int,
        /// When it stopped accruing before its terms' end (failover; 0: it did not).
        stopped_at: u64 => int,
        block_number: u64 => int,
    }
}

impl Lease {
    /// When the lease stops accruing (`LeaseMath.runEnd`): its end, or earlier when its escrow's
    /// runway runs out.
    pub fn lease_end(&self) -> u64 {
        let (started, ends) = (U256::from(self.started_at), U256::from(self.ends_at));
        lease_math::run_end(started, ends, U256::from(self.deposit), U256::from(self.price_per_second)).saturating_to()
    }

    /// Until when receipts of the lease can be settled.
    pub fn settlement_deadline(&self) -> u64 {
        self.lease_end() + self.settlement_window
    }

    /// Until when its tenant may dispute and its bond stays locked (`remediesDeadline`): the
    /// settlement deadline, or for an evicted lease the one it had before the eviction.
    pub fn remedies_deadline(&self) -> u64 {
        if self.status == LeaseStatus::Evicted { self.remedies_until } else { self.settlement_deadline() }
    }

    /// Neither finalized nor evicted: it holds its offer's capacity.
    pub fn is_open(&self) -> bool {
        self.status == LeaseStatus::Open
    }

    /// Not finalized yet: open, or evicted and still holding escrow for the provider's receipts.
    pub fn is_live(&self) -> bool {
        matches!(self.status, LeaseStatus::Open | LeaseStatus::Evicted)
    }

    /// A payment demand was made and the settled total did not reach it: it stands, or it was
    /// left unanswered until the eviction (whose hold charge may bring the settled total past it).
    pub fn demand_unanswered(&self) -> bool {
        self.demanded_at != 0 && (self.evicted || self.settled < self.demand_due)
    }

    /// Escrow still held for the provider: an open lease's, and an evicted one's until it is
    /// finalized (its provider may still settle receipts for the service it delivered); 0 once
    /// finalized.
    pub fn escrow(&self) -> u128 {
        if self.is_live() { self.deposit.saturating_sub(self.settled) } else { 0 }
    }

    /// Where the lease stands at `now`.
    pub fn phase(&self, now: u64) -> LeasePhase {
        LeasePhase::of(PhaseFacts {
            status: self.status,
            now,
            run_end: self.lease_end(),
            settlement_deadline: self.settlement_deadline(),
            notice_given: self.closed_by != Address::ZERO,
            demand_unanswered: self.demand_unanswered(),
        })
    }

    /// What its terms let accrue while it ran: the price over the time from its start to its end,
    /// or to the failover that stopped it.
    pub fn accruable(&self) -> u128 {
        self.accrued_by(u64::MAX)
    }

    /// What the tenant gets back if the provider settles everything the terms let accrue.
    pub fn refund_if_served(&self) -> u128 {
        self.deposit.saturating_sub(self.accruable().max(self.settled))
    }

    /// What its terms let accrue by `now` (while it runs, the time so far).
    pub fn accrued_by(&self, now: u64) -> u128 {
        let end = if self.stopped_at > 0 { self.stopped_at.min(self.lease_end()) } else { self.lease_end() };
        let (started, price) = (U256::from(self.started_at), U256::from(self.price_per_second));
        lease_math::accrued(started, U256::from(end), price, U256::from(now)).saturating_to()
    }

    /// Tenants paid this share of what accrued by `now`: 10,000 when fully paid; `None` before
    /// anything accrued.
    pub fn delivered_bps(&self, now: u64) -> Option<u64> {
        let accrued = self.accrued_by(now);
        (accrued > 0).then(|| (self.settled.min(accrued) * 10_000 / accrued) as u64)
    }
}

/// One receipt settled: a `LeaseSettled` event, as read from the events table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Settlement {
    pub block_number: u64,
    pub log_index: u64,
    #[schema(value_type = String)]
    pub tx_hash: B256,
    pub lease_id: u64,
    /// Who signed the receipt.
    #[schema(value_type = String)]
    pub signer: Address,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub cumulative_amount: u128,
    /// Paid out of escrow.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub paid: u128,
    /// Protocol fee out of `paid`.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub fee: u128,
}

/// A lease's eviction: its `LeaseEvicted` event, as read from the events table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Eviction {
    pub block_number: u64,
    #[schema(value_type = String)]
    pub tx_hash: B256,
    /// When the lease stopped running.
    pub ends_at: u64,
    /// Settled to the provider from the escrow for the capacity the tenant held (its protocol
    /// fee stays in the lease until it is finalized).
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub hold_charge: u128,
    /// Refunded to the tenant at once: the escrow no receipt can claim any more.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub refund: u128,
    /// Until when the tenant may dispute and the bond stays locked.
    pub remedies_until: u64,
}

table! {
    /// A tenant's session signer for the leases of one provider, as `sessionSigner(tenant, signer,
    /// provider)` reports it: each provider the tenant authorized it for is a row of its own, with its
    /// own cap and spent total.
    #[derive(Default, Eq)]
    pub struct Signer in "signers" {
        key tenant: Address => address,
        key signer: Address => address,
        /// The provider whose leases' receipts it may sign.
        key provider: Address => address,
        cap: u128 => amount,
        /// Settled against its receipts for this provider's leases.
        spent: u128 => amount,
        /// Its receipts pay for service whose period ended before this (s); a revocation brings it
        /// forward to the revocation's time.
        expires_at: u64 => int,
        /// Revoked by the tenant (until authorized again).
        revoked: bool => bool,
        block_number: u64 => int,
    }
}

table! {
    /// An SLA dispute over a lease.
    #[derive(Eq)]
    pub struct Dispute in "disputes" {
        key lease_id: u64 => int,
        tenant_bond: u128 => amount,
        /// Arbiter's deadline (s).
        deadline: u64 => int,
        status: DisputeStatus => dispute_status,
        evidence_uri: String => text,
        /// Slash ruled, basis points of the bond.
        slash_bps: u64 => int,
        block_number: u64 => int,
    }
}

table! {
    /// A claimable balance (payouts, refunds, slash compensation) of an account in a token.
    #[derive(Default, Eq)]
    pub struct Balance in "balances" {
        key account: Address => address,
        key token: Address => address,
        claimable: u128 => amount,
        block_number: u64 => int,
    }
}

table! {
    /// Protocol fees owed in a token.
    #[derive(Default, Eq)]
    pub struct Fee in "fees" {
        key token: Address => address,
        owed: u128 => amount,
        block_number: u64 => int,
    }
}

table! {
    /// One governance parameters version; a lease keeps the one it opened under for life.
    #[derive(Default, Eq)]
    pub struct ParamsVersion in "params_versions" {
        key version: u64 => int,
        /// When leases start getting it (s).
        effective_at: u64 => int,
        protocol_fee_bps: u64 => int,
        settlement_window: u64 => int,
        bond_bps: u64 => int,
        slash_cut_bps: u64 => int,
        max_dispute_slash_bps: u64 => int,
        dispute_bond_bps: u64 => int,
        dispute_period: u64 => int,
        unbonding_period: u64 => int,
        arbiter: Address => address,
        block_number: u64 => int,
    }
}

table! {
    /// A stablecoin on (or taken off) the allow-list, with its decimals (read from the token).
    #[derive(Default, Eq)]
    pub struct Token in "tokens" {
        key token: Address => address,
        allowed: bool => bool,
        decimals: u64 => int,
        block_number: u64 => int,
    }
}

table! {
    /// Roles and pause (one row, `id` 1).
    #[derive(Default, Eq)]
    pub struct Governance in "governance" {
        key id: u64 => int,
        owner: Address => address,
        /// Fee recipient.
        treasury: Address => address,
        /// New business paused.
        paused: bool => bool,
        block_number: u64 => int,
    }
}

table! {
    /// The market's running totals in one token; the row of the zero address holds the counts in
    /// no token (providers, open disputes). Ingestion keeps them as it changes the rows they sum, so
    /// `/v1/stats` reads one row per token at any size of the market.
    #[derive(Default, Eq)]
    pub struct Totals in "totals" {
        key token: Address => address,
        providers: u64 => int,
        offers: u64 => int,
        open_leases: u64 => int,
        /// Evicted and not finalized yet.
        evicted_leases: u64 => int,
        finalized_leases: u64 => int,
        /// Open leases whose payment demand stands unanswered.
        unanswered_demands: u64 => int,
        settlements: u64 => int,
        open_disputes: u64 => int,
        /// Market events stored (on the zero address's row).
        events: u64 => int,
        /// Escrow held for providers: open leases', and evicted ones' until finalized.
        escrow: u128 => amount,
        settled: u128 => amount,
        staked: u128 => amount,
        fees_owed: u128 => amount,
        block_number: u64 => int,
    }
}

/// What one row adds to the totals of its token (`Address::ZERO`: the counts in no token).
pub trait Tallied {
    fn token(&self) -> Address;
    /// Adds the row to `totals` (`add`), or takes it away.
    fn count(&self, totals: &mut Totals, add: bool);
}

/// `total` ± `value`, saturating: totals kept in step with their rows never go below zero, and
/// were one to, a figure stuck at zero is shown rather than a wrapped one.
fn step(total: &mut u64, value: u64, add: bool) {
    *total = if add { total.saturating_add(value) } else { total.saturating_sub(value) };
}

fn step_amount(total: &mut u128, value: u128, add: bool) {
    *total = if add { total.saturating_add(value) } else { total.saturating_sub(value) };
}

impl Tallied for Lease {
    fn token(&self) -> Address {
        self.token
    }

    fn count(&self, t: &mut Totals, add: bool) {
        let counter = match self.status {
            LeaseStatus::Open => Some(&mut t.open_leases),
            LeaseStatus::Evicted => Some(&mut t.evicted_leases),
            LeaseStatus::Finalized => Some(&mut t.finalized_leases),
            LeaseStatus::None => None,
        };
        if let Some(counter) = counter {
            step(counter, 1, add);
        }
        step(&mut t.unanswered_demands, u64::from(self.is_open() && self.demand_unanswered()), add);
        step(&mut t.settlements, self.settlement_count, add);
        step_amount(&mut t.escrow, self.escrow(), add);
        step_amount(&mut t.settled, self.settled, add);
    }
}

impl Tallied for Stake {
    fn token(&self) -> Address {
        self.token
    }

    fn count(&self, t: &mut Totals, add: bool) {
        step_amount(&mut t.staked, self.staked, add);
    }
}

impl Tallied for Fee {
    fn token(&self) -> Address {
        self.token
    }

    fn count(&self, t: &mut Totals, add: bool) {
        step_amount(&mut t.fees_owed, self.owed, add);
    }
}

impl Tallied for Offer {
    fn token(&self) -> Address {
        self.token
    }

    fn count(&self, t: &mut Totals, add: bool) {
        step(&mut t.offers, 1, add);
    }
}

impl Tallied for Provider {
    fn token(&self) -> Address {
        Address::ZERO
    }

    fn count(&self, t: &mut Totals, add: bool) {
        step(&mut t.providers, 1, add);
    }
}

impl Tallied for Dispute {
    fn token(&self) -> Address {
        Address::ZERO
    }

    fn count(&self, t: &mut Totals, add: bool) {
        step(&mut t.open_disputes, u64::from(self.status == DisputeStatus::Open), add);
    }
}
