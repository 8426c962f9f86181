//! One typed row per table. The same struct is what ingestion changes, what the store writes and
//! reads, what the audit compares and what the API serves (serde, snake_case): a column's type
//! is said once, here, and never guessed from its text.
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

    pub fn u64(&self, column: &str) -> Result<u64> {
        let v: i64 = self.row.try_get(column)?;
        u64::try_from(v).map_err(|_| self.corrupt(column, v))
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

/// A table whose rows ingestion changes: how a row is keyed, written and read. Generic code (the
/// store's upsert, load and undo) works on any of them.
pub trait Entity: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    const TABLE: &'static str;
    /// The key columns, then the others, in the order of `values`.
    const COLUMNS: &'static [&'static str];
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

/// Writes `Entity` for a struct whose fields are its columns: `key` fields then the others, each
/// with its column kind (`int`, `bool`, `real`, `text`, `amount`, `address`, `hash`, or a status).
macro_rules! entity {
    (
        $ty:ident, $table:literal, key($($kf:ident: $kt:ty => $kkind:ident),+),
        $($f:ident => $kind:ident),* $(,)?
    ) => {
        impl Entity for $ty {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($kf)),+, $(stringify!($f)),*];
            const KEY_COLUMNS: usize = [$(stringify!($kf)),+].len();
            type Key = ($($kt,)+);

            fn key(&self) -> Self::Key {
                ($(self.$kf.clone(),)+)
            }

            #[allow(non_snake_case)]
            fn key_values(key: &Self::Key) -> Vec<Value> {
                let ($($kf,)+) = key;
                vec![$(entity!(@to $kkind, $kf)),+]
            }

            fn values(&self) -> Vec<Value> {
                vec![$(entity!(@to $kkind, &self.$kf)),+, $(entity!(@to $kind, &self.$f)),*]
            }

            fn from_row(row: &AnyRow) -> Result<Self> {
                let c = Columns::new(row, $table);
                Ok(Self {
                    $($kf: entity!(@from $kkind, c, stringify!($kf)),)+
                    $($f: entity!(@from $kind, c, stringify!($f)),)*
                })
            }
        }
    };
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
        status(&LeaseStatus::ALL, &$c.text($n)?, LeaseStatus::as_str, "leases")?
    };
    (@from dispute_status, $c:ident, $n:expr) => {
        status(&DisputeStatus::ALL, &$c.text($n)?, DisputeStatus::as_str, "disputes")?
    };
}

/// A registered provider and its record: lifetime outcome counts, value-weighted delivery and the
/// decayed sums reputation v2 is computed from (see the crate's README). Its amounts are summed
/// over its tokens, each scaled to 6 decimals (`state::VALUE_DECIMALS`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Provider {
    #[schema(value_type = String)]
    pub address: Address,
    pub metadata_uri: String,
    pub endpoint: String,
    pub region: String,
    #[schema(value_type = String)]
    pub attributes_hash: B256,
    /// The EOA that signs its usage attestations, fixed at registration.
    #[schema(value_type = String)]
    pub attestation_key: Address,
    pub registered_block: u64,
    pub leases_opened: u64,
    /// Finalized after running to the end of their terms (or the provider's notice).
    pub leases_completed: u64,
    /// The tenant gave notice.
    pub leases_closed_early: u64,
    /// The provider ended them at once, without notice.
    pub leases_terminated: u64,
    /// The tenant moved its escrow to another provider.
    pub leases_failed_over: u64,
    /// The provider ended them because the tenant left a payment demand unanswered.
    pub leases_evicted: u64,
    /// Payment demands it made (answered or not): how often it had to chase its tenants.
    pub payment_demands: u64,
    pub disputes_won: u64,
    pub disputes_lost: u64,
    pub slashes: u64,
    /// Bond slashed, raw units.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub slashed_amount: u128,
    /// Of the slashes, what went to tenants.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub compensation: u128,
    /// Paid out to the provider by settlements, net of fees.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub total_earned: u128,
    /// Over finished leases: what tenants paid, and what the terms let accrue while they ran.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub paid: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub accruable: u128,
    /// `paid`, `accruable` and `slashed_amount`, each decayed to `decayed_at` (half-life 30 days).
    pub decayed_paid: f64,
    pub decayed_accruable: f64,
    pub decayed_slashed: f64,
    pub decayed_at: u64,
    /// Reputation v2, basis points, as of `decayed_at`.
    pub reputation_bps: u64,
    pub block_number: u64,
}
entity!(Provider, "providers", key(address: Address => address),
    metadata_uri => text, endpoint => text, region => text, attributes_hash => hash, attestation_key => address,
    registered_block => int, leases_opened => int, leases_completed => int, leases_closed_early => int,
    leases_terminated => int, leases_failed_over => int, leases_evicted => int, payment_demands => int,
    disputes_won => int, disputes_lost => int, slashes => int, slashed_amount => amount, compensation => amount, total_earned => amount,
    paid => amount, accruable => amount, decayed_paid => real, decayed_accruable => real, decayed_slashed => real,
    decayed_at => int, reputation_bps => int, block_number => int);

/// A provider's record over one UTC day (`day` = block timestamp / 86,400): the series windows
/// and `/v1/providers/{address}/history` are read from. Amounts as in [`Provider`]: 6 decimals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderDay {
    #[schema(value_type = String)]
    pub provider: Address,
    pub day: u64,
    pub leases_opened: u64,
    pub leases_completed: u64,
    pub leases_closed_early: u64,
    pub leases_terminated: u64,
    pub leases_failed_over: u64,
    pub leases_evicted: u64,
    pub payment_demands: u64,
    pub disputes_won: u64,
    pub disputes_lost: u64,
    pub slashes: u64,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub slashed_amount: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub compensation: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub earned: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub paid: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub accruable: u128,
    pub block_number: u64,
}
entity!(ProviderDay, "provider_days", key(provider: Address => address, day: u64 => int),
    leases_opened => int, leases_completed => int, leases_closed_early => int, leases_terminated => int,
    leases_failed_over => int, leases_evicted => int, payment_demands => int, disputes_won => int,
    disputes_lost => int, slashes => int, slashed_amount => amount, compensation => amount, earned => amount, paid => amount, accruable => amount,
    block_number => int);

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
        self.slashed_amount += other.slashed_amount;
        self.compensation += other.compensation;
        self.earned += other.earned;
        self.paid += other.paid;
        self.accruable += other.accruable;
        self.block_number = self.block_number.max(other.block_number);
    }
}

/// A provider's collateral in one token, as `stakeOf` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stake {
    #[schema(value_type = String)]
    pub provider: Address,
    #[schema(value_type = String)]
    pub token: Address,
    /// Staked (free + locked), not counting what thaws.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub staked: u128,
    /// Locked as SLA bonds of open leases.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub locked: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub thawing: u128,
    pub thaw_ends_at: u64,
    pub block_number: u64,
}
entity!(Stake, "stakes", key(provider: Address => address, token: Address => address),
    staked => amount, locked => amount, thawing => amount, thaw_ends_at => int, block_number => int);

impl Stake {
    /// What can back new bonds.
    pub fn free(&self) -> u128 {
        self.staked.saturating_sub(self.locked)
    }
}

/// An offer, as `offer` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    pub offer_id: u64,
    #[schema(value_type = String)]
    pub provider: Address,
    #[schema(value_type = String)]
    pub token: Address,
    pub price_per_second: u64,
    pub min_duration: u64,
    pub max_duration: u64,
    pub notice_period: u64,
    pub capacity: u64,
    /// Leases holding its capacity: neither evicted nor finalized.
    pub active_leases: u64,
    pub paused: bool,
    /// The governance parameters version its provider accepted for it: its new leases get it.
    pub params_version: u64,
    pub block_number: u64,
}
entity!(Offer, "offers", key(offer_id: u64 => int),
    provider => address, token => address, price_per_second => int, min_duration => int, max_duration => int,
    notice_period => int, capacity => int, active_leases => int, paused => bool, params_version => int,
    block_number => int);

/// A lease: its terms in force, what happened to it, and when it stopped accruing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    pub lease_id: u64,
    pub offer_id: u64,
    #[schema(value_type = String)]
    pub tenant: Address,
    #[schema(value_type = String)]
    pub provider: Address,
    #[schema(value_type = String)]
    pub token: Address,
    pub started_at: u64,
    /// End by terms or notice (s); the escrow may run dry earlier.
    pub ends_at: u64,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub deposit: u128,
    /// Settled to the provider so far.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub settled: u128,
    pub price_per_second: u64,
    /// The governance parameters version it opened under.
    pub params_version: u64,
    /// Its settlement window (from its parameters version), seconds.
    pub settlement_window: u64,
    /// SLA bond still locked.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub bond: u128,
    pub notice_period: u64,
    /// Earliest end notice can bring.
    pub min_ends_at: u64,
    #[serde(with = "lease_status")]
    #[schema(value_type = String)]
    pub status: LeaseStatus,
    /// Who gave notice (zero: nobody).
    #[schema(value_type = String)]
    pub closed_by: Address,
    /// Ended early by the provider.
    pub terminated: bool,
    /// Ended by its provider because the tenant left a payment demand unanswered (its status
    /// says `evicted` until it is finalized; this stays).
    pub evicted: bool,
    /// The provider's newest payment demand: what the settled total must reach (0: none made).
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub demand_due: u128,
    /// When that demand was made (0: none).
    pub demanded_at: u64,
    /// From when the provider may evict unless the demand is answered (0: no demand).
    pub evictable_at: u64,
    /// Set by an eviction: until when the tenant may dispute and the bond stays locked (the
    /// settlement deadline the lease had before it); then it can be finalized. 0: not evicted.
    pub remedies_until: u64,
    /// The lease its tenant failed over to (0: none).
    pub failed_over_to: u64,
    /// Receipts settled.
    pub settlement_count: u64,
    /// When it stopped accruing before its terms' end (failover; 0: it did not).
    pub stopped_at: u64,
    pub block_number: u64,
}
entity!(Lease, "leases", key(lease_id: u64 => int),
    offer_id => int, tenant => address, provider => address, token => address, started_at => int, ends_at => int,
    deposit => amount, settled => amount, price_per_second => int, params_version => int,
    settlement_window => int, bond => amount, notice_period => int, min_ends_at => int, status => lease_status,
    closed_by => address, terminated => bool, evicted => bool, demand_due => amount, demanded_at => int,
    evictable_at => int, remedies_until => int, failed_over_to => int, settlement_count => int, stopped_at => int,
    block_number => int);

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

/// A tenant's session signer for the leases of one provider, as `sessionSigner(tenant, signer,
/// provider)` reports it: each provider the tenant authorized it for is a row of its own, with its
/// own cap and spent total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Signer {
    #[schema(value_type = String)]
    pub tenant: Address,
    #[schema(value_type = String)]
    pub signer: Address,
    /// The provider whose leases' receipts it may sign.
    #[schema(value_type = String)]
    pub provider: Address,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub cap: u128,
    /// Settled against its receipts for this provider's leases.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub spent: u128,
    /// Its receipts pay for service whose period ended before this (s); a revocation brings it
    /// forward to the revocation's time.
    pub expires_at: u64,
    /// Revoked by the tenant (until authorized again).
    pub revoked: bool,
    pub block_number: u64,
}
entity!(Signer, "signers",
    key(tenant: Address => address, signer: Address => address, provider: Address => address),
    cap => amount, spent => amount, expires_at => int, revoked => bool, block_number => int);

/// An SLA dispute over a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dispute {
    pub lease_id: u64,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub tenant_bond: u128,
    /// Arbiter's deadline (s).
    pub deadline: u64,
    #[serde(with = "dispute_status")]
    #[schema(value_type = String)]
    pub status: DisputeStatus,
    pub evidence_uri: String,
    /// Slash ruled, basis points of the bond.
    pub slash_bps: u64,
    pub block_number: u64,
}
entity!(Dispute, "disputes", key(lease_id: u64 => int),
    tenant_bond => amount, deadline => int, status => dispute_status, evidence_uri => text, slash_bps => int,
    block_number => int);

/// A claimable balance (payouts, refunds, slash compensation) of an account in a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    #[schema(value_type = String)]
    pub account: Address,
    #[schema(value_type = String)]
    pub token: Address,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub claimable: u128,
    pub block_number: u64,
}
entity!(Balance, "balances", key(account: Address => address, token: Address => address),
    claimable => amount, block_number => int);

/// Protocol fees owed in a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fee {
    #[schema(value_type = String)]
    pub token: Address,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub owed: u128,
    pub block_number: u64,
}
entity!(Fee, "fees", key(token: Address => address), owed => amount, block_number => int);

/// One governance parameters version; a lease keeps the one it opened under for life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParamsVersion {
    pub version: u64,
    /// When leases start getting it (s).
    pub effective_at: u64,
    pub protocol_fee_bps: u64,
    pub settlement_window: u64,
    pub bond_bps: u64,
    pub slash_cut_bps: u64,
    pub max_dispute_slash_bps: u64,
    pub dispute_bond_bps: u64,
    pub dispute_period: u64,
    pub unbonding_period: u64,
    #[schema(value_type = String)]
    pub arbiter: Address,
    pub block_number: u64,
}
entity!(ParamsVersion, "params_versions", key(version: u64 => int),
    effective_at => int, protocol_fee_bps => int, settlement_window => int, bond_bps => int, slash_cut_bps => int,
    max_dispute_slash_bps => int, dispute_bond_bps => int, dispute_period => int, unbonding_period => int,
    arbiter => address, block_number => int);

/// A stablecoin on (or taken off) the allow-list, with its decimals (read from the token).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    #[schema(value_type = String)]
    pub token: Address,
    pub allowed: bool,
    pub decimals: u64,
    pub block_number: u64,
}
entity!(Token, "tokens", key(token: Address => address), allowed => bool, decimals => int, block_number => int);

/// Roles and pause (one row, `id` 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Governance {
    pub id: u64,
    #[schema(value_type = String)]
    pub owner: Address,
    /// Fee recipient.
    #[schema(value_type = String)]
    pub treasury: Address,
    /// New business paused.
    pub paused: bool,
    pub block_number: u64,
}
entity!(Governance, "governance", key(id: u64 => int), owner => address, treasury => address, paused => bool,
    block_number => int);

/// The market's running totals in one token; the row of the zero address holds the counts in
/// no token (providers, open disputes). Ingestion keeps them as it changes the rows they sum, so
/// `/v1/stats` reads one row per token at any size of the market.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    #[schema(value_type = String)]
    pub token: Address,
    pub providers: u64,
    pub offers: u64,
    pub open_leases: u64,
    /// Evicted and not finalized yet.
    pub evicted_leases: u64,
    pub finalized_leases: u64,
    /// Open leases whose payment demand stands unanswered.
    pub unanswered_demands: u64,
    pub settlements: u64,
    pub open_disputes: u64,
    /// Market events stored (on the zero address's row).
    pub events: u64,
    /// Escrow held for providers: open leases', and evicted ones' until finalized.
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub escrow: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub settled: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub staked: u128,
    #[serde(with = "amount_text")]
    #[schema(value_type = String)]
    pub fees_owed: u128,
    pub block_number: u64,
}
entity!(Totals, "totals", key(token: Address => address),
    providers => int, offers => int, open_leases => int, evicted_leases => int, finalized_leases => int,
    unanswered_demands => int, settlements => int, open_disputes => int, events => int, escrow => amount, settled => amount,
    staked => amount, fees_owed => amount, block_number => int);

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
