//! The read side the JSON API and the console both sit on: each answer read in one database
//! snapshot with the block it reflects, query parameters checked one by one, and the views (the
//! store's typed rows with what is derived from them: deadlines, escrow, delivered ratio,
//! effective price, computed against the reflected block's time). A read that gives no answer
//! says why in a [`QueryError`], which the API answers as JSON and the console as a page.

use std::{collections::HashMap, sync::LazyLock};

use alloy::primitives::{Address, B256};
use axum::http::StatusCode;
use openlease_contracts::{DisputeStatus, LeasePhase, LeaseStatus};
use serde::Serialize;
use sqlx::{AssertSqlSafe, any::AnyRow};
use utoipa::{IntoParams, ToSchema};

use crate::{
    events::EventCodec,
    rows::{
        Balance, Dispute, Entity, Eviction, Governance, Lease, Offer, ParamsVersion, Provider, ProviderDay, Settlement,
        Signer, Stake, Token, Totals,
    },
    state::DAY,
    store::{Cursor, Store, StoredEvent, hex, pad},
};

/// Why a read gave no answer.
#[derive(Debug)]
pub enum QueryError {
    /// The request was malformed: what was wrong and what was expected.
    BadRequest(String),
    /// Nothing by that key.
    NotFound(String),
    /// The mirror cannot answer yet (it has not started).
    Unavailable(String),
    /// The database failed; the cause is logged where it happened, never shown.
    Store,
}

impl QueryError {
    /// The HTTP status that says what kind of refusal it is, for the API and the console alike.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) | Self::Unavailable(m) => m,
            Self::Store => "database error",
        }
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "query failed");
        Self::Store
    }
}

impl From<crate::IndexerError> for QueryError {
    fn from(error: crate::IndexerError) -> Self {
        tracing::warn!(%error, "read failed");
        Self::Store
    }
}

pub type QueryResult<T> = Result<T, QueryError>;

/// Decodes the arguments of the events `/v1/events` streams (the store keeps raw logs only).
pub(crate) static CODEC: LazyLock<EventCodec> = LazyLock::new(EventCodec::new);

/// Most rows one page holds.
const MAX_LIMIT: u64 = 500;
/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u64 = 50;

fn bad(parameter: &str, expected: &str) -> QueryError {
    QueryError::BadRequest(format!("invalid query parameter `{parameter}`: expected {expected}"))
}

fn bad_path(segment: &str, expected: &str, got: &str) -> QueryError {
    QueryError::BadRequest(format!("invalid path segment `{segment}`: expected {expected}, got `{got}`"))
}

/// The query string, checked parameter by parameter.
struct Params {
    raw: HashMap<String, String>,
}

impl Params {
    /// Rejects parameters the endpoint does not know: those of its documented parameters `P`.
    fn of<P: IntoParams>(raw: HashMap<String, String>) -> QueryResult<Self> {
        let known: Vec<String> =
            P::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query)).into_iter().map(|p| p.name).collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        Self::new(raw, &known)
    }

    fn new(raw: HashMap<String, String>, known: &[&str]) -> QueryResult<Self> {
        if let Some(unknown) = raw.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(QueryError::BadRequest(format!(
                "unknown query parameter `{unknown}`: expected one of {}",
                known.join(", ")
            )));
        }
        Ok(Self { raw })
    }

    fn address(&self, name: &str) -> QueryResult<Option<String>> {
        self.raw
            .get(name)
            .map(|v| v.parse::<Address>().map(|a| hex(&a)).map_err(|_| bad(name, "a 0x-prefixed 20-byte address")))
            .transpose()
    }

    fn amount(&self, name: &str) -> QueryResult<Option<String>> {
        self.raw
            .get(name)
            .map(|v| v.parse::<u128>().map(pad).map_err(|_| bad(name, "a non-negative integer")))
            .transpose()
    }

    fn price(&self, name: &str) -> QueryResult<Option<i64>> {
        self.raw
            .get(name)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .and_then(|p| i64::try_from(p).ok())
                    .ok_or_else(|| bad(name, "a non-negative integer"))
            })
            .transpose()
    }

    fn integer(&self, name: &str) -> QueryResult<Option<i64>> {
        self.raw.get(name).map(|v| v.parse::<i64>().map_err(|_| bad(name, "an integer"))).transpose()
    }

    fn one_of(&self, name: &str, allowed: &[&'static str]) -> QueryResult<Option<&'static str>> {
        self.raw
            .get(name)
            .map(|v| {
                allowed
                    .iter()
                    .find(|a| **a == v)
                    .copied()
                    .ok_or_else(|| bad(name, &format!("one of {}", allowed.join(", "))))
            })
            .transpose()
    }

    fn text(&self, name: &str) -> Option<String> {
        self.raw.get(name).cloned()
    }

    fn limit(&self) -> QueryResult<u64> {
        match self.raw.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad("limit", "an integer from 1 to 500")),
        }
    }
}

/// A SQL query under construction: clauses and their bound values.
#[derive(Default)]
struct Sql {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

impl Sql {
    /// Adds a clause; `?` in it is replaced by the next placeholder.
    fn filter(&mut self, clause: &str, values: Vec<Bind>) {
        let mut out = String::new();
        let mut values = values.into_iter();
        for part in clause.split('?').enumerate() {
            if part.0 > 0 {
                self.binds.push(values.next().expect("one value per placeholder"));
                out.push_str(&format!("${}", self.binds.len()));
            }
            out.push_str(part.1);
        }
        self.clauses.push(out);
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }

    async fn fetch(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        sql: String,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        // Clauses are literals with placeholders; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
                Bind::Bytes(b) => query.bind(b.clone()),
            };
        }
        query.fetch_all(&mut **tx).await
    }

    /// The rows of `E` the query selects.
    async fn rows<E: Entity>(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        sql: String,
    ) -> QueryResult<Vec<E>> {
        Ok(self.fetch(tx, sql).await?.iter().map(E::from_row).collect::<crate::Result<_>>()?)
    }
}

/// The block an answer reflects.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct BlockView {
    pub(crate) number: u64,
    #[schema(value_type = String)]
    pub(crate) hash: B256,
    /// Its timestamp: the "now" of derived figures.
    pub(crate) timestamp: u64,
    /// At or below the node's finalized block.
    pub(crate) r#final: bool,
}

type Snapshot = sqlx::Transaction<'static, sqlx::Any>;

/// A read snapshot and the block it reflects.
async fn snapshot(store: &Store) -> QueryResult<(Snapshot, BlockView)> {
    let mut tx = store.snapshot().await?;
    let Some(cursor) = Store::cursor_in(&mut *tx).await? else {
        return Err(QueryError::Unavailable("the mirror has not started yet".into()));
    };
    Ok((tx, block_view(&cursor)))
}

fn block_view(cursor: &Cursor) -> BlockView {
    BlockView {
        number: cursor.number,
        hash: cursor.hash,
        timestamp: cursor.timestamp,
        r#final: cursor.number <= cursor.finalized,
    }
}

/// One answer: the data and the block it reflects.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct One<T> {
    pub(crate) block: BlockView,
    pub(crate) data: T,
}

/// A page of rows: pass `next_cursor` back as `cursor` for the next (`null`: the last page).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub(crate) block: BlockView,
    pub(crate) data: Vec<T>,
    pub(crate) next_cursor: Option<String>,
}

fn answer<T>(block: &BlockView, data: T) -> One<T> {
    One { block: block.clone(), data }
}

fn page<T>(block: &BlockView, mut rows: Vec<T>, limit: u64, next: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let cursor = if more { rows.last().map(&next) } else { None };
    Page { block: block.clone(), data: rows, next_cursor: cursor }
}

fn ratio(paid: u128, accruable: u128) -> Option<f64> {
    (accruable > 0).then(|| (paid as f64 / accruable as f64).min(1.0))
}

/// A provider as served: its row and what is derived from it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderView {
    #[serde(flatten)]
    pub(crate) row: Provider,
    /// Tenants' payments over what accrued on its finished leases, decayed (`null`: none yet).
    pub(crate) delivered_ratio: Option<f64>,
    /// Finished leases: how much history the figures stand on.
    pub(crate) leases_finished: u64,
    /// Compensation tenants received per unit they paid.
    pub(crate) compensation_per_paid: Option<f64>,
}

impl From<Provider> for ProviderView {
    fn from(row: Provider) -> Self {
        let leases_finished = row.leases_completed
            + row.leases_closed_early
            + row.leases_terminated
            + row.leases_failed_over
            + row.leases_evicted;
        Self {
            delivered_ratio: row.delivered_ratio(),
            compensation_per_paid: (row.paid > 0).then(|| row.compensation as f64 / row.paid as f64),
            leases_finished,
            row,
        }
    }
}

/// A stake as served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StakeView {
    #[serde(flatten)]
    pub(crate) row: Stake,
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) free: u128,
}

/// An offer as served, with the price a tenant can expect to pay per second delivered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OfferView {
    #[serde(flatten)]
    pub(crate) row: Offer,
    /// The price over the provider's delivered ratio (`null` before it has one).
    pub(crate) effective_price_per_second: Option<f64>,
}

/// A lease as served, with its deadlines and escrow as of the block.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeaseView {
    #[serde(flatten)]
    pub(crate) row: Lease,
    /// Where it stands at the block's time: `running`, `notice given`, `payment demanded` (a
    /// demand stands unanswered; see `evictable_at`), `ended, settlement window open`, `ended,
    /// awaiting finalization`, `evicted` or `finalized` (the CLI's words too).
    #[schema(value_type = String)]
    pub(crate) phase: LeasePhase,
    /// When it stops accruing: its end, or when the escrow runs dry.
    pub(crate) lease_end: u64,
    /// Until when receipts of it can be settled.
    pub(crate) settlement_deadline: u64,
    /// Until when its tenant may dispute and its bond stays locked: the settlement deadline, or for
    /// an evicted lease `remedies_until` (the one it had before the eviction).
    pub(crate) remedies_deadline: u64,
    /// Whether the settled total reached the newest payment demand in time (`null`: no demand
    /// made; `false` for a lease evicted over it).
    pub(crate) demand_answered: Option<bool>,
    /// Escrow held for the provider's receipts: an open lease's, or an evicted one's until it is
    /// finalized.
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) escrow: u128,
    /// Seconds of service its escrow still pays for, from the block's time (0 once it ended).
    pub(crate) runway_secs: u64,
    /// What the tenant gets back if everything that accrues is settled (a lease not finalized;
    /// then its refund at finalization is between this and `escrow`).
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) refund_if_served: u128,
    /// What giving notice at the block's time would hand back for sure: the escrow no receipt
    /// could claim once the lease ends after its notice (what `failoverLease` would move); 0 for a
    /// lease that no longer runs.
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) refund_on_notice: u128,
    /// What was paid of what accrued by the block's time, in basis points (`null` before anything
    /// accrued; settlements come in arrears, so a running lease's figure trails).
    pub(crate) delivered_bps: Option<u64>,
}

impl LeaseView {
    fn new(row: Lease, now: u64) -> Self {
        Self {
            phase: row.phase(now),
            lease_end: row.lease_end(),
            settlement_deadline: row.settlement_deadline(),
            remedies_deadline: row.remedies_deadline(),
            demand_answered: (row.demanded_at != 0).then(|| !row.demand_unanswered()),
            escrow: row.escrow(),
            runway_secs: if row.is_open() { row.lease_end().saturating_sub(now) } else { 0 },
            delivered_bps: row.delivered_bps(now),
            refund_if_served: if row.is_live() { row.refund_if_served() } else { 0 },
            refund_on_notice: if row.is_open() && now < row.lease_end() { refund_on_notice(&row, now) } else { 0 },
            row,
        }
    }
}

/// [`LeaseView::refund_on_notice`], by the SDK's rules for notice (`terms::end_after_notice`)
/// and for the escrow no receipt can claim (`terms::unclaimable`): the figures a session acts on.
fn refund_on_notice(row: &Lease, now: u64) -> u128 {
    use alloy::primitives::Uint;
    let lease = openlease_contracts::IOpenleaseTypes::Lease {
        startedAt: row.started_at as u32,
        endsAt: row.ends_at as u32,
        deposit: Uint::from(row.deposit),
        pricePerSecond: row.price_per_second,
        noticePeriod: row.notice_period as u32,
        minEndsAt: row.min_ends_at as u32,
        ..Default::default()
    };
    let ends = openlease_client::terms::end_after_notice(&lease, now);
    openlease_client::terms::unclaimable(&lease, ends).saturating_to()
}

/// A provider's record over the last `days` days up to the block's day, summed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Window {
    pub(crate) days: u64,
    #[serde(flatten)]
    pub(crate) totals: ProviderDay,
    pub(crate) delivered_ratio: Option<f64>,
}

fn window(provider: Address, days: u64, today: u64, rows: &[ProviderDay]) -> Window {
    let mut totals = ProviderDay { provider, day: today, ..Default::default() };
    for row in rows.iter().filter(|r| r.day + days > today) {
        totals.add(row);
    }
    Window { days, delivered_ratio: ratio(totals.paid, totals.accruable), totals }
}

async fn provider_days(tx: &mut Snapshot, address: &str, since_day: u64) -> QueryResult<Vec<ProviderDay>> {
    let rows = sqlx::query("SELECT * FROM provider_days WHERE provider = $1 AND day >= $2 ORDER BY day")
        .bind(address.to_owned())
        .bind(since_day as i64)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(ProviderDay::from_row).collect::<crate::Result<_>>()?)
}

/// A provider with its stakes, offers and record over 1, 7 and 30 days.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderDetail {
    #[serde(flatten)]
    pub(crate) provider: ProviderView,
    pub(crate) stakes: Vec<StakeView>,
    pub(crate) offers: Vec<OfferView>,
    pub(crate) windows: Vec<Window>,
    /// Its metadata document, checked against the attributes hash it registered (`null`: not
    /// checked yet).
    pub(crate) metadata: Option<crate::metadata::Metadata>,
}

/// A lease with its settlements, its dispute and its tenant's session signers for its provider.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeaseDetail {
    #[serde(flatten)]
    pub(crate) lease: LeaseView,
    /// Its newest settlements, newest first (`settlement_count` says how many it has).
    pub(crate) settlements: Vec<Settlement>,
    /// The next page of them: `GET /v1/leases/{id}/settlements?cursor=` (`null`: none older).
    pub(crate) settlements_next_cursor: Option<String>,
    /// Its eviction, if its provider evicted it (`null`: not evicted).
    pub(crate) eviction: Option<Eviction>,
    pub(crate) dispute: Option<Dispute>,
    /// The tenant's session signers authorized for the lease's provider (each authorization is
    /// scoped to one provider).
    pub(crate) signers: Vec<Signer>,
}

/// A provider's record day by day.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct History {
    pub(crate) days: u64,
    pub(crate) series: Vec<HistoryPoint>,
}

/// Counts, and totals per token (by token address).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct Stats {
    pub(crate) providers: u64,
    pub(crate) offers: u64,
    pub(crate) open_leases: u64,
    /// Evicted and not finalized yet.
    pub(crate) evicted_leases: u64,
    pub(crate) finalized_leases: u64,
    /// Open leases whose payment demand stands unanswered.
    pub(crate) unanswered_demands: u64,
    pub(crate) settlements: u64,
    pub(crate) open_disputes: u64,
    pub(crate) events: u64,
    pub(crate) tokens: std::collections::BTreeMap<String, TokenTotals>,
}

/// The governance the mirror knows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GovernanceView {
    pub(crate) params_versions: Vec<ParamsVersion>,
    pub(crate) tokens: Vec<Token>,
    /// Roles and pause (`null` before any governance event).
    pub(crate) roles: Option<Governance>,
}

/// `GET /v1/providers` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProvidersQuery {
    region: Option<String>,
    /// With `min_stake` and `max_price`: the token they are in.
    token: Option<String>,
    /// An unpaused offer in `token` at or below this price per second (raw units; needs `token`).
    max_price: Option<u64>,
    /// Staked at least this (raw units of `token`).
    min_stake: Option<String>,
    /// Reputation v2 at least this, basis points.
    min_reputation: Option<u64>,
    /// `reputation` (default), `earned` or `address`.
    sort: Option<String>,
    /// 1 to 500 (50).
    limit: Option<u64>,
    /// A previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /v1/providers/{address}/history` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Days up to the reflected block's day, 1 to 366 (30).
    days: Option<u64>,
}

/// `GET /v1/offers` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OffersQuery {
    provider: Option<String>,
    /// Offers of providers in this region.
    region: Option<String>,
    token: Option<String>,
    /// Offers that run this workload: `demo` or its 32-byte digest.
    workload: Option<String>,
    /// `offer_id` (default) or `price`, cheapest first (needs `token`: prices in different
    /// tokens do not compare).
    sort: Option<String>,
    /// At or below this price per second (raw units; needs `token`).
    max_price: Option<u64>,
    /// `true`: unpaused with capacity left.
    available: Option<bool>,
    limit: Option<u64>,
    /// A previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /v1/leases` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LeasesQuery {
    tenant: Option<String>,
    provider: Option<String>,
    token: Option<String>,
    /// `open`, `evicted` or `finalized`.
    status: Option<String>,
    /// `oldest` (default) or `newest` first.
    sort: Option<String>,
    limit: Option<u64>,
    cursor: Option<u64>,
}

/// `GET /v1/signers` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignersQuery {
    tenant: Option<String>,
    signer: Option<String>,
    /// The provider the authorization is for.
    provider: Option<String>,
    limit: Option<u64>,
    /// A previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /v1/disputes` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DisputesQuery {
    /// `open`, `upheld`, `rejected` or `expired`.
    status: Option<String>,
    provider: Option<String>,
    limit: Option<u64>,
    cursor: Option<u64>,
}

/// Every provider's day records since `since_day` (the market's series).
pub(crate) async fn read_market_days(store: &Store, since_day: u64) -> QueryResult<Vec<ProviderDay>> {
    let rows = sqlx::query("SELECT * FROM provider_days WHERE day >= $1 ORDER BY day")
        .bind(since_day as i64)
        .fetch_all(store.pool())
        .await?;
    Ok(rows.iter().map(ProviderDay::from_row).collect::<crate::Result<_>>()?)
}

/// The newest `limit` events, newest first, and the token of each lease they are about (a
/// lease's amounts are in its token), in one snapshot.
pub(crate) async fn read_recent_events(
    store: &Store,
    limit: u64,
) -> QueryResult<(Vec<StoredEvent>, HashMap<u64, Address>)> {
    let mut tx = store.snapshot().await?;
    let last = Store::cursor_in(&mut *tx).await?.map_or(0, |c| c.seq);
    let mut events = Store::events_after(&mut *tx, last.saturating_sub(limit), limit).await?;
    events.reverse();
    let tokens = lease_tokens(&mut tx, events.iter().filter_map(|e| e.lease_id)).await?;
    Ok((events, tokens))
}

/// The offers and stakes of `providers`.
pub(crate) async fn read_offers_and_stakes(
    store: &Store,
    providers: &[Address],
) -> QueryResult<(Vec<Offer>, Vec<Stake>)> {
    let mut tx = store.snapshot().await?;
    Ok((store.of_providers(&mut tx, providers).await?, store.of_providers(&mut tx, providers).await?))
}

/// What an event's row shows beside its name ([`crate::events::summary`]).
pub(crate) fn event_summary(event: &StoredEvent) -> crate::events::Summary {
    CODEC.decode(&event.topics, &event.data).map(|e| crate::events::summary(&e)).unwrap_or_default()
}

/// The token of each of `leases` the mirror has.
async fn lease_tokens(tx: &mut Snapshot, leases: impl Iterator<Item = u64>) -> QueryResult<HashMap<u64, Address>> {
    let ids: std::collections::BTreeSet<String> = leases.map(|id| id.to_string()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Integers only: the ids are formatted from u64s.
    let list: Vec<String> = ids.into_iter().collect();
    let sql = format!("SELECT lease_id, token FROM leases WHERE lease_id IN ({})", list.join(", "));
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| {
            let c = crate::rows::Columns::new(r, "leases");
            Ok((c.u64("lease_id")?, c.parse("token")?))
        })
        .collect::<crate::Result<_>>()
        .map_err(Into::into)
}

/// An event's name, from its first topic.
pub(crate) fn event_name(event: &StoredEvent) -> &'static str {
    CODEC.name(&event.topics).unwrap_or("unknown")
}

pub(crate) async fn read_providers(store: &Store, raw: HashMap<String, String>) -> QueryResult<Page<ProviderView>> {
    let q = Params::of::<ProvidersQuery>(raw)?;
    let sort = q.one_of("sort", &["reputation", "earned", "address"])?.unwrap_or("reputation");
    let limit = q.limit()?;
    let token = q.address("token")?;
    let mut sql = Sql::default();
    if let Some(region) = q.text("region") {
        sql.filter("p.region = ?", vec![Bind::Text(region)]);
    }
    if let Some(min) = q.integer("min_reputation")? {
        sql.filter("p.reputation_bps >= ?", vec![Bind::Int(min)]);
    }
    if let Some(min) = q.amount("min_stake")? {
        let Some(token) = token.clone() else { return Err(bad("min_stake", "a `token` to measure the stake in")) };
        sql.filter(
            "EXISTS (SELECT 1 FROM stakes s WHERE s.provider = p.address AND s.token = ? AND s.staked >= ?)",
            vec![Bind::Text(token), Bind::Text(min)],
        );
    }
    // A price in raw units per second means nothing without its token (decimals differ).
    if let Some(max) = q.price("max_price")? {
        let Some(token) = token.clone() else { return Err(bad("max_price", "a `token` the price is in")) };
        sql.filter(
            "EXISTS (SELECT 1 FROM offers o WHERE o.provider = p.address AND o.paused = 0 AND o.token = ? AND o.price_per_second BETWEEN 0 AND ?)",
            vec![Bind::Text(token), Bind::Int(max)],
        );
    } else if let Some(token) = token {
        sql.filter(
            "EXISTS (SELECT 1 FROM stakes s WHERE s.provider = p.address AND s.token = ?)",
            vec![Bind::Text(token)],
        );
    }
    // Keyset pagination: the cursor is the last row's sort key and address.
    let (key, order) = match sort {
        "reputation" => ("p.reputation_bps", "p.reputation_bps DESC, p.address"),
        "earned" => ("p.total_earned", "p.total_earned DESC, p.address"),
        _ => ("p.address", "p.address"),
    };
    if let Some(cursor) = q.text("cursor") {
        let malformed = || bad("cursor", "a `next_cursor` from a previous page");
        let (value, address) = cursor.split_once('_').ok_or_else(malformed)?;
        let address = address.parse::<Address>().map(|a| hex(&a)).map_err(|_| malformed())?;
        match sort {
            "reputation" => {
                let value = value.parse::<i64>().map_err(|_| malformed())?;
                sql.filter(
                    &format!("({key} < ? OR ({key} = ? AND p.address > ?))"),
                    vec![Bind::Int(value), Bind::Int(value), Bind::Text(address)],
                );
            }
            "earned" => {
                let value = value.parse::<u128>().map(pad).map_err(|_| malformed())?;
                sql.filter(
                    &format!("({key} < ? OR ({key} = ? AND p.address > ?))"),
                    vec![Bind::Text(value.clone()), Bind::Text(value), Bind::Text(address)],
                );
            }
            _ => sql.filter("p.address > ?", vec![Bind::Text(address)]),
        }
    }
    let (mut tx, block) = snapshot(store).await?;
    let query = format!("SELECT p.* FROM providers p{} ORDER BY {order} LIMIT {}", sql.where_clause(), limit + 1);
    let rows: Vec<ProviderView> = sql.rows::<Provider>(&mut tx, query).await?.into_iter().map(Into::into).collect();
    Ok(page(&block, rows, limit, |p| {
        let value = match sort {
            "reputation" => p.row.reputation_bps.to_string(),
            "earned" => p.row.total_earned.to_string(),
            _ => "0".into(),
        };
        format!("{value}_{}", p.row.address)
    }))
}

fn path_address(address: &str) -> QueryResult<String> {
    address
        .parse::<Address>()
        .map(|a| hex(&a))
        .map_err(|_| bad_path("address", "a 0x-prefixed 20-byte address", address))
}

pub(crate) async fn read_provider(store: &Store, address: &str) -> QueryResult<One<ProviderDetail>> {
    let address = path_address(address)?;
    let (mut tx, block) = snapshot(store).await?;
    let row = sqlx::query("SELECT * FROM providers WHERE address = $1")
        .bind(address.clone())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else { return Err(QueryError::NotFound(format!("no provider {address}"))) };
    let provider = ProviderView::from(Provider::from_row(&row)?);
    let stakes = sqlx::query("SELECT * FROM stakes WHERE provider = $1 ORDER BY token")
        .bind(address.clone())
        .fetch_all(&mut *tx)
        .await?;
    let stakes: Vec<StakeView> = stakes
        .iter()
        .map(|r| Stake::from_row(r).map(|row| StakeView { free: row.free(), row }))
        .collect::<crate::Result<_>>()?;
    let offers = sqlx::query("SELECT * FROM offers WHERE provider = $1 ORDER BY offer_id")
        .bind(address.clone())
        .fetch_all(&mut *tx)
        .await?;
    let delivered = provider.delivered_ratio;
    let offers: Vec<OfferView> = offers
        .iter()
        .map(|r| {
            Offer::from_row(r).map(|row| OfferView {
                effective_price_per_second: delivered.filter(|d| *d > 0.0).map(|d| row.price_per_second as f64 / d),
                row,
            })
        })
        .collect::<crate::Result<_>>()?;
    let today = block.timestamp / DAY;
    let days = provider_days(&mut tx, &address, today.saturating_sub(29)).await?;
    let windows: Vec<Window> = [1, 7, 30].into_iter().map(|n| window(provider.row.address, n, today, &days)).collect();
    let p = &provider.row;
    let metadata = crate::metadata::Metadata::of(&mut *tx, &address, &p.metadata_uri, &p.attributes_hash).await?;
    Ok(answer(&block, ProviderDetail { provider, stakes, offers, windows, metadata }))
}

/// Rows of `E` selected by `sql` with `address` bound as `$1`, as `tx` sees them.
async fn rows_of<E: Entity>(tx: &mut Snapshot, sql: &'static str, address: &str) -> QueryResult<Vec<E>> {
    let rows = sqlx::query(sql).bind(address.to_owned()).fetch_all(&mut **tx).await?;
    Ok(rows.iter().map(E::from_row).collect::<crate::Result<_>>()?)
}

/// Any address as the market knows it: as a tenant, as a provider, and what it can claim.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Account {
    #[schema(value_type = String)]
    pub(crate) address: Address,
    /// Claimable now, per token: payouts, refunds and slash compensation, paid out by `claim`.
    pub(crate) claimable: Vec<Balance>,
    /// Its newest 20 leases as a tenant, each with its runway and refunds (the rest:
    /// `/v1/leases?tenant=`).
    pub(crate) leases: Vec<LeaseView>,
    /// The session signers it authorized, per provider, with their caps and what they spent.
    pub(crate) signers: Vec<Signer>,
    /// Whether it is a registered provider (its record: `/v1/providers/{address}`).
    pub(crate) provider: bool,
    /// Its newest 20 leases as a provider (the rest: `/v1/leases?provider=`).
    pub(crate) provider_leases: Vec<LeaseView>,
}

/// An account in one snapshot; an address the market never saw is an empty account, not an error.
pub(crate) async fn read_account(store: &Store, address: &str) -> QueryResult<One<Account>> {
    let account = path_address(address)?;
    let (mut tx, block) = snapshot(store).await?;
    let now = block.timestamp;
    let mut claimable =
        rows_of::<Balance>(&mut tx, "SELECT * FROM balances WHERE account = $1 ORDER BY token", &account).await?;
    claimable.retain(|b| b.claimable > 0);
    let leases =
        rows_of::<Lease>(&mut tx, "SELECT * FROM leases WHERE tenant = $1 ORDER BY lease_id DESC LIMIT 20", &account)
            .await?;
    let signers =
        rows_of::<Signer>(&mut tx, "SELECT * FROM signers WHERE tenant = $1 ORDER BY signer, provider", &account)
            .await?;
    let provider =
        !rows_of::<Provider>(&mut tx, "SELECT * FROM providers WHERE address = $1", &account).await?.is_empty();
    let provider_leases =
        rows_of::<Lease>(&mut tx, "SELECT * FROM leases WHERE provider = $1 ORDER BY lease_id DESC LIMIT 20", &account)
            .await?;
    let view = |rows: Vec<Lease>| rows.into_iter().map(|l| LeaseView::new(l, now)).collect();
    Ok(answer(
        &block,
        Account {
            address: address.parse().expect("checked by path_address"),
            claimable,
            leases: view(leases),
            signers,
            provider,
            provider_leases: view(provider_leases),
        },
    ))
}

/// One day of a provider's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryPoint {
    /// The day's first second (UTC).
    pub(crate) starts_at: u64,
    #[serde(flatten)]
    pub(crate) row: ProviderDay,
    pub(crate) delivered_ratio: Option<f64>,
}

pub(crate) async fn read_history(
    store: &Store,
    address: &str,
    raw: HashMap<String, String>,
) -> QueryResult<One<History>> {
    let address = path_address(address)?;
    let q = Params::of::<HistoryQuery>(raw)?;
    let days = match q.integer("days")? {
        None => 30,
        Some(n) if (1..=366).contains(&n) => n as u64,
        Some(_) => return Err(bad("days", "an integer from 1 to 366")),
    };
    let (mut tx, block) = snapshot(store).await?;
    let known = sqlx::query("SELECT 1 FROM providers WHERE address = $1")
        .bind(address.clone())
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        return Err(QueryError::NotFound(format!("no provider {address}")));
    }
    let today = block.timestamp / DAY;
    let rows = provider_days(&mut tx, &address, (today + 1).saturating_sub(days)).await?;
    let series: Vec<HistoryPoint> = rows
        .into_iter()
        .map(|row| HistoryPoint { starts_at: row.day * DAY, delivered_ratio: ratio(row.paid, row.accruable), row })
        .collect();
    Ok(answer(&block, History { days, series }))
}

pub(crate) async fn read_offers(store: &Store, raw: HashMap<String, String>) -> QueryResult<Page<Offer>> {
    let q = Params::of::<OffersQuery>(raw)?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    if let Some(provider) = q.address("provider")? {
        sql.filter("provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(region) = q.text("region") {
        sql.filter("provider IN (SELECT address FROM providers WHERE region = ?)", vec![Bind::Text(region)]);
    }
    if let Some(workload) = q.text("workload") {
        let workload = openlease_client::contracts::workload::parse(&workload)
            .map_err(|_| bad("workload", "`demo` or a 32-byte digest (0x and 64 hex digits)"))?;
        sql.filter("workload = ?", vec![Bind::Bytes(workload.to_vec())]);
    }
    if let Some(token) = q.address("token")? {
        sql.filter("token = ?", vec![Bind::Text(token)]);
    }
    if let Some(max) = q.price("max_price")? {
        if q.address("token")?.is_none() {
            return Err(bad("max_price", "a `token` the price is in"));
        }
        // A price of 2^63 or more (no tenant could pay a second of it) is stored below zero.
        sql.filter("price_per_second BETWEEN 0 AND ?", vec![Bind::Int(max)]);
    }
    if q.one_of("available", &["true", "false"])? == Some("true") {
        sql.filter("paused = 0 AND active_leases < capacity", vec![]);
    }
    let by_price = q.one_of("sort", &["offer_id", "price"])? == Some("price");
    if by_price && q.address("token")?.is_none() {
        return Err(bad("sort", "`offer_id`, or `price` with a `token` the prices are in"));
    }
    if by_price {
        // Prices of 2^63 raw units a second or more are stored below zero: not in price order.
        sql.filter("price_per_second >= 0", vec![]);
    }
    // Keyset pages: after the last offer id, or after the last (price, offer id).
    match (by_price, q.text("cursor")) {
        (_, None) => {}
        (false, Some(cursor)) => {
            let after = cursor.parse::<i64>().map_err(|_| bad("cursor", "a previous page's `next_cursor`"))?;
            sql.filter("offer_id > ?", vec![Bind::Int(after)]);
        }
        (true, Some(cursor)) => {
            let parsed =
                cursor.split_once(':').and_then(|(p, id)| Some((p.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
            let (price, id) = parsed.ok_or_else(|| bad("cursor", "a previous page's `next_cursor`"))?;
            sql.filter(
                "(price_per_second > ? OR (price_per_second = ? AND offer_id > ?))",
                vec![Bind::Int(price), Bind::Int(price), Bind::Int(id)],
            );
        }
    }
    let order = if by_price { "price_per_second, offer_id" } else { "offer_id" };
    let (mut tx, block) = snapshot(store).await?;
    let query = format!("SELECT * FROM offers{} ORDER BY {order} LIMIT {}", sql.where_clause(), limit + 1);
    let rows = sql.rows::<Offer>(&mut tx, query).await?;
    Ok(page(&block, rows, limit, |o| {
        if by_price { format!("{}:{}", o.price_per_second, o.offer_id) } else { o.offer_id.to_string() }
    }))
}

pub(crate) async fn read_leases(store: &Store, raw: HashMap<String, String>) -> QueryResult<Page<LeaseView>> {
    let q = Params::of::<LeasesQuery>(raw)?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    if let Some(tenant) = q.address("tenant")? {
        sql.filter("tenant = ?", vec![Bind::Text(tenant)]);
    }
    if let Some(provider) = q.address("provider")? {
        sql.filter("provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(token) = q.address("token")? {
        sql.filter("token = ?", vec![Bind::Text(token)]);
    }
    let statuses = [LeaseStatus::Open, LeaseStatus::Evicted, LeaseStatus::Finalized].map(LeaseStatus::as_str);
    if let Some(status) = q.one_of("status", &statuses)? {
        sql.filter("status = ?", vec![Bind::Text(status.into())]);
    }
    let newest = q.one_of("sort", &["oldest", "newest"])? == Some("newest");
    if let Some(after) = q.integer("cursor")? {
        sql.filter(if newest { "lease_id < ?" } else { "lease_id > ?" }, vec![Bind::Int(after)]);
    }
    let order = if newest { "lease_id DESC" } else { "lease_id" };
    let (mut tx, block) = snapshot(store).await?;
    let query = format!("SELECT * FROM leases{} ORDER BY {order} LIMIT {}", sql.where_clause(), limit + 1);
    let rows: Vec<LeaseView> =
        sql.rows::<Lease>(&mut tx, query).await?.into_iter().map(|l| LeaseView::new(l, block.timestamp)).collect();
    Ok(page(&block, rows, limit, |l| l.row.lease_id.to_string()))
}

fn lease_id(id: &str) -> QueryResult<i64> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(|| bad_path("id", "a lease id (a whole number, 1 or more)", id))
}

/// The lease `id`, as `tx` sees it.
async fn lease_row(tx: &mut Snapshot, id: i64) -> QueryResult<Lease> {
    let row = sqlx::query("SELECT * FROM leases WHERE lease_id = $1").bind(id).fetch_optional(&mut **tx).await?;
    let Some(row) = row else { return Err(QueryError::NotFound(format!("no lease {id}"))) };
    Ok(Lease::from_row(&row)?)
}

/// A page of a lease's settlements, newest first, below the id `cursor`.
async fn settlements_page(
    tx: &mut Snapshot,
    block: &BlockView,
    id: i64,
    cursor: Option<i64>,
    limit: u64,
) -> QueryResult<Page<Settlement>> {
    let topic = <openlease_contracts::Openlease::LeaseSettled as alloy::sol_types::SolEvent>::SIGNATURE_HASH;
    let before = cursor.map(|c| c.max(0) as u64);
    let events = Store::lease_events(&mut **tx, id as u64, topic, before, limit + 1).await?;
    let more = events.len() as u64 > limit;
    let last_seq = events.get(limit as usize - 1).map(|e| e.seq);
    let data: Vec<Settlement> = events.iter().take(limit as usize).filter_map(crate::events::settlement).collect();
    let next_cursor = if more { last_seq.map(|s| s.to_string()) } else { None };
    Ok(Page { block: block.clone(), data, next_cursor })
}

pub(crate) async fn read_lease(store: &Store, id: &str) -> QueryResult<One<LeaseDetail>> {
    let id = lease_id(id)?;
    let (mut tx, block) = snapshot(store).await?;
    let lease = LeaseView::new(lease_row(&mut tx, id).await?, block.timestamp);
    let settlements = settlements_page(&mut tx, &block, id, None, DEFAULT_LIMIT).await?;
    let eviction = if lease.row.evicted {
        let topic = <openlease_contracts::Openlease::LeaseEvicted as alloy::sol_types::SolEvent>::SIGNATURE_HASH;
        Store::lease_events(&mut *tx, id as u64, topic, None, 1).await?.first().and_then(crate::events::eviction)
    } else {
        None
    };
    let dispute = sqlx::query("SELECT * FROM disputes WHERE lease_id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let dispute = dispute.as_ref().map(Dispute::from_row).transpose()?;
    let signers = sqlx::query("SELECT * FROM signers WHERE tenant = $1 AND provider = $2 ORDER BY signer")
        .bind(hex(&lease.row.tenant))
        .bind(hex(&lease.row.provider))
        .fetch_all(&mut *tx)
        .await?;
    let signers = signers.iter().map(Signer::from_row).collect::<crate::Result<_>>()?;
    let detail = LeaseDetail {
        lease,
        settlements: settlements.data,
        settlements_next_cursor: settlements.next_cursor,
        eviction,
        dispute,
        signers,
    };
    Ok(answer(&block, detail))
}

/// `GET /v1/leases/{id}/settlements` parameters.
#[allow(dead_code)] // Read as a query by `Params`; this is its documentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SettlementsQuery {
    /// 1 to 500 (50).
    limit: Option<u64>,
    /// A previous page's `next_cursor` (or the lease's `settlements_next_cursor`).
    cursor: Option<u64>,
}

pub(crate) async fn read_lease_settlements(
    store: &Store,
    id: &str,
    raw: HashMap<String, String>,
) -> QueryResult<Page<Settlement>> {
    let id = lease_id(id)?;
    let q = Params::of::<SettlementsQuery>(raw)?;
    let (limit, cursor) = (q.limit()?, q.integer("cursor")?);
    let (mut tx, block) = snapshot(store).await?;
    lease_row(&mut tx, id).await?;
    settlements_page(&mut tx, &block, id, cursor, limit).await
}

/// A dispute as served, with its lease's parties.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisputeView {
    #[serde(flatten)]
    pub(crate) row: Dispute,
    #[schema(value_type = String)]
    pub(crate) tenant: Address,
    #[schema(value_type = String)]
    pub(crate) provider: Address,
}

pub(crate) async fn read_disputes(store: &Store, raw: HashMap<String, String>) -> QueryResult<Page<DisputeView>> {
    let q = Params::of::<DisputesQuery>(raw)?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    let disputed = [DisputeStatus::Open, DisputeStatus::Upheld, DisputeStatus::Rejected, DisputeStatus::Expired];
    if let Some(status) = q.one_of("status", &disputed.map(DisputeStatus::as_str))? {
        sql.filter("d.status = ?", vec![Bind::Text(status.into())]);
    }
    if let Some(provider) = q.address("provider")? {
        sql.filter("l.provider = ?", vec![Bind::Text(provider)]);
    }
    if let Some(after) = q.integer("cursor")? {
        sql.filter("d.lease_id > ?", vec![Bind::Int(after)]);
    }
    let (mut tx, block) = snapshot(store).await?;
    let query = format!(
        "SELECT d.*, l.tenant, l.provider FROM disputes d JOIN leases l ON l.lease_id = d.lease_id{} ORDER BY d.lease_id LIMIT {}",
        sql.where_clause(),
        limit + 1
    );
    let rows: Vec<DisputeView> = sql
        .fetch(&mut tx, query)
        .await?
        .iter()
        .map(|r: &AnyRow| {
            let c = crate::rows::Columns::new(r, "disputes");
            Ok(DisputeView { row: Dispute::from_row(r)?, tenant: c.parse("tenant")?, provider: c.parse("provider")? })
        })
        .collect::<crate::Result<_>>()?;
    Ok(page(&block, rows, limit, |d| d.row.lease_id.to_string()))
}

pub(crate) async fn read_signers(store: &Store, raw: HashMap<String, String>) -> QueryResult<Page<Signer>> {
    let q = Params::of::<SignersQuery>(raw)?;
    let limit = q.limit()?;
    let mut sql = Sql::default();
    for column in ["tenant", "signer", "provider"] {
        if let Some(address) = q.address(column)? {
            sql.filter(&format!("{column} = ?"), vec![Bind::Text(address)]);
        }
    }
    // Keyset pagination on the key: the cursor is the last row's tenant, signer and provider.
    if let Some(cursor) = q.text("cursor") {
        let malformed = || bad("cursor", "a `next_cursor` from a previous page");
        let parts: Vec<String> = cursor
            .split('_')
            .map(|a| a.parse::<Address>().map(|a| hex(&a)).map_err(|_| malformed()))
            .collect::<QueryResult<_>>()?;
        let [tenant, signer, provider] = <[String; 3]>::try_from(parts).map_err(|_| malformed())?;
        sql.filter(
            "(tenant > ? OR (tenant = ? AND (signer > ? OR (signer = ? AND provider > ?))))",
            vec![
                Bind::Text(tenant.clone()),
                Bind::Text(tenant),
                Bind::Text(signer.clone()),
                Bind::Text(signer),
                Bind::Text(provider),
            ],
        );
    }
    let (mut tx, block) = snapshot(store).await?;
    let query =
        format!("SELECT * FROM signers{} ORDER BY tenant, signer, provider LIMIT {}", sql.where_clause(), limit + 1);
    let rows = sql.rows::<Signer>(&mut tx, query).await?;
    Ok(page(&block, rows, limit, |s| format!("{}_{}_{}", s.tenant, s.signer, s.provider)))
}

/// Totals of one token.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct TokenTotals {
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) escrow: u128,
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) settled: u128,
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) staked: u128,
    #[serde(with = "crate::rows::amount_text")]
    #[schema(value_type = String)]
    pub(crate) fees_owed: u128,
}

pub(crate) async fn read_stats(store: &Store) -> QueryResult<One<Stats>> {
    let (mut tx, block) = snapshot(store).await?;
    // The running totals ingestion keeps: one row per token, whatever the market's size.
    let mut stats = Stats::default();
    for t in Store::all::<Totals>(&mut *tx).await? {
        stats.providers += t.providers;
        stats.offers += t.offers;
        stats.open_leases += t.open_leases;
        stats.evicted_leases += t.evicted_leases;
        stats.finalized_leases += t.finalized_leases;
        stats.unanswered_demands += t.unanswered_demands;
        stats.settlements += t.settlements;
        stats.open_disputes += t.open_disputes;
        stats.events += t.events;
        if t.token != Address::ZERO {
            let totals = TokenTotals { escrow: t.escrow, settled: t.settled, staked: t.staked, fees_owed: t.fees_owed };
            stats.tokens.insert(t.token.to_string(), totals);
        }
    }
    Ok(answer(&block, stats))
}

pub(crate) async fn read_governance(store: &Store) -> QueryResult<One<GovernanceView>> {
    let (mut tx, block) = snapshot(store).await?;
    let versions: Vec<ParamsVersion> = Store::all(&mut *tx).await?;
    let tokens: Vec<Token> = Store::all(&mut *tx).await?;
    let roles: Option<Governance> = Store::all(&mut *tx).await?.into_iter().next();
    Ok(answer(&block, GovernanceView { params_versions: versions, tokens, roles }))
}
