//! The market console: pages rendered on the server from the same reads as the JSON API (the
//! same parameters, the same rows, the same derived figures), amounts in token units as the CLI
//! shows them. Tables, sorting, filters and pagination are plain links and forms, so every page
//! works without JavaScript and a view can be shared by its URL; a little script (embedded, like
//! the style sheet) adds the live event feed on the market page.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::{Address, B256, U256};
use axum::{
    Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use openlease_contracts::{
    LeasePhase, LeaseStatus,
    display::{format_duration, format_time, format_time_from, format_units},
    manifest::StablecoinEntry,
    units::TypedPrice,
};

use crate::{
    api::ApiState,
    metadata::MetadataStatus,
    query::{self, BlockView, QueryError},
    rows::{Offer, ProviderDay, Stake},
    state::{DAY, VALUE_DECIMALS},
};

/// What the pages share: the API's state and the market's tokens (to show amounts in units).
#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub api: ApiState,
    /// Symbol and decimals by token address, from the deployment manifest.
    pub tokens: BTreeMap<Address, (String, u8)>,
}

impl ConsoleState {
    pub fn new(api: ApiState, stablecoins: &[StablecoinEntry]) -> Self {
        let tokens = stablecoins.iter().map(|s| (s.address, (s.symbol.clone(), s.decimals))).collect();
        Self { api, tokens }
    }

    /// `12.5 USDC`; an unknown token's raw units say so.
    fn amount(&self, token: Address, raw: u128) -> String {
        match self.tokens.get(&token) {
            Some((symbol, decimals)) => format!("{} {symbol}", format_units(U256::from(raw), *decimals)),
            None => format!("{raw} (raw units of {})", short(token)),
        }
    }

    /// A list page's query as the API takes it: a price per hour in the chosen token's
    /// units (`0.36`, with `token`) becomes `max_price`, raw units per second, by the rules the
    /// CLI's `--price` follows (`TypedPrice`): a price that is not a whole number of raw units
    /// per second is refused with the nearest one, never truncated.
    fn api_query(&self, query: &HashMap<String, String>) -> Result<HashMap<String, String>, PageError> {
        let mut api = query.clone();
        let Some(per_hour) = api.remove("max_price_per_hour") else { return Ok(api) };
        let bad = |what: &str| PageError(StatusCode::BAD_REQUEST, format!("max. price per hour: {what}"));
        let token: Address =
            api.get("token").and_then(|t| t.parse().ok()).ok_or_else(|| bad("choose the token the price is in"))?;
        let (symbol, decimals) = self.tokens.get(&token).ok_or_else(|| bad("that token is not one of the market's"))?;
        let coin = StablecoinEntry { symbol: symbol.clone(), address: token, decimals: *decimals };
        let per_second = format!("{}/h", per_hour.trim())
            .parse::<TypedPrice>()
            .map_err(|e| e.to_string())
            .and_then(|price| {
                price.per_second(&coin).map_err(|e| match e.nearest_hint() {
                    Some(hint) => format!("{e}: {hint}"),
                    None => e.to_string(),
                })
            })
            .map_err(|e| bad(&e))?;
        api.insert("max_price".into(), per_second.to_string());
        Ok(api)
    }

    /// An offer's price in 6-decimal units, to compare offers in different tokens.
    fn value_of_price(&self, offer: &Offer) -> u128 {
        let decimals = self.tokens.get(&offer.token).map_or(crate::state::VALUE_DECIMALS, |t| t.1);
        crate::state::value(u128::from(offer.price_per_second) * 1_000_000_000_000, decimals)
    }

    /// A price per second, per hour in units: `0.036 USDC/h`.
    fn price(&self, token: Address, per_second: u64) -> String {
        format!("{}/h", self.amount(token, u128::from(per_second) * 3_600))
    }
}

/// The pages and their assets.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(market))
        .route("/providers", get(providers))
        .route("/providers/{address}", get(provider))
        .route("/accounts/{address}", get(account))
        .route("/offers", get(offers))
        .route("/leases", get(leases))
        .route("/leases/{id}", get(lease))
        .route("/console.css", get(|| asset("text/css; charset=utf-8", include_str!("console/console.css"))))
        .route("/console.js", get(|| asset("text/javascript; charset=utf-8", include_str!("console/console.js"))))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.api.metrics.clone(), crate::api::mark_stopped))
        .layer(axum::middleware::from_fn(crate::api::to_completion))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// An error page: what went wrong, and the way back.
struct PageError(StatusCode, String);

impl From<QueryError> for PageError {
    fn from(error: QueryError) -> Self {
        Self(error.status(), error.message().to_owned())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html! {
            (DOCTYPE)
            html lang="en" {
                head { (head("Error")) }
                body {
                    (nav())
                    main { h1 { (self.0.as_u16()) " " (self.0.canonical_reason().unwrap_or("")) } p.error { (self.1) } p { a href="/" { "Back to the market" } } }
                }
            }
        };
        (self.0, body).into_response()
    }
}

type PageResult = Result<Markup, PageError>;

/// The console's icon: the header's colours, as a data URL.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E\
    %3Crect width='16' height='16' rx='3' fill='%23141a2b'/%3E%3Ccircle cx='8' cy='8' r='4' fill='%232f5bd3'/%3E%3C/svg%3E";

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Openlease" }
        // Inline: without an icon of its own a browser asks for /favicon.ico, a 404 in every page's log.
        link rel="icon" type="image/svg+xml" href=(FAVICON);
        link rel="stylesheet" href="/console.css";
    }
}

fn nav() -> Markup {
    html! { header { nav {
        a.brand href="/" { "Openlease" } a href="/" { "Market" } a href="/providers" { "Providers" }
        a href="/offers" { "Offers" } a href="/leases" { "Leases" }
    } } }
}

/// Every page says which block it reflects and whether that block is final.
fn layout(title: &str, block: &BlockView, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                (nav())
                p #block .block data-number=(block.number) data-final=(block.r#final) {
                    "Block " span #block-number { (block.number) } " · "
                    span #block-final { @if block.r#final { "final" } @else { "not final yet" } }
                    " · " (format_time(block.timestamp))
                }
                main { h1 { (title) } (body) }
                script src="/console.js" defer {}
            }
        }
    }
}

/// A form whose action the browser's wallet takes (`console.js`): the server prepares it
/// (`POST /v1/actions/{action}`), the wallet signs and sends it. Its button stays disabled
/// without the script, which keeps the page a read-only one.
fn action_form(action: &str, hidden: &[(&str, String)], fields: Markup, button: &str) -> Markup {
    html! {
        form.action data-action=(action) {
            @for (name, value) in hidden { input type="hidden" name=(name) value=(value); }
            (fields)
            button type="submit" disabled { (button) }
            output.action-status role="status" {}
        }
    }
}

/// What the action forms need, said once per page.
fn wallet_note() -> Markup {
    html! { p.hint.wallet-note { "Actions go through your browser's wallet (MetaMask, Rabby…), which signs and sends them; the server never holds a key. Without a wallet and JavaScript the page is read-only." } }
}

/// A provider's record amount (summed over its tokens at 6 decimals: USD stablecoins).
fn usd(value: u128) -> String {
    format!("{} USD", format_units(U256::from(value), VALUE_DECIMALS))
}

fn short(address: Address) -> String {
    short_text(&address.to_string())
}

fn short_text(checksummed: &str) -> String {
    format!("{}…{}", &checksummed[..6], &checksummed[checksummed.len() - 4..])
}

/// The checksum (a keccak256 of the address) is worked out once for the title and the text.
fn address_cell(address: Address) -> Markup {
    let text = address.to_string();
    html! { code title=(text) { (short_text(&text)) } }
}

/// What an offer runs, by name where known, and whether the chain judges its answers.
fn workload_cell(workload: B256, verifier: Address) -> Markup {
    let name = openlease_client::contracts::workload::name(workload);
    html! {
        @match name { Some(name) => (name), None if workload == B256::ZERO => "unnamed", None => code title=(workload) { (short_hash(&workload.to_string())) } }
        @if verifier != Address::ZERO { " · " span.verified title=(format!("answers judged on chain by {verifier}: a wrong one slashes the bond, no arbiter")) { "verified on chain" } }
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{:.1}%", r * 100.0))
}

fn bps(value: u64) -> String {
    format!("{:.2}%", value as f64 / 100.0)
}

/// A bar chart of one value per day, as inline SVG (no script): `days` days ending `today`.
fn chart(title: &str, today: u64, days: u64, values: &BTreeMap<u64, f64>, label: impl Fn(f64) -> String) -> Markup {
    let max = values.values().copied().fold(0.0f64, f64::max);
    let (width, height, gap) = (10.0, 60.0, 2.0);
    let first = (today + 1).saturating_sub(days);
    html! {
        figure.chart {
            figcaption { span { (title) } span.max { "max " (label(max)) } }
            svg viewBox=(format!("0 0 {} {}", days as f64 * width, height)) preserveAspectRatio="none" role="img" aria-label=(title) {
                @for (i, day) in (first..=today).enumerate() {
                    @let value = values.get(&day).copied().unwrap_or(0.0);
                    @let h = if max > 0.0 { (value / max * (height - 2.0)).max(if value > 0.0 { 1.0 } else { 0.0 }) } else { 0.0 };
                    rect x=(i as f64 * width) y=(height - h) width=(width - gap) height=(h) {
                        title { (format_time(day * DAY)[..10].to_owned()) ": " (label(value)) }
                    }
                }
            }
            p.axis { span { (format_time(first * DAY)[..10].to_owned()) } span { (format_time(today * DAY)[..10].to_owned()) } }
        }
    }
}

fn no_params() -> HashMap<String, String> {
    HashMap::new()
}

async fn market(State(state): State<ConsoleState>) -> PageResult {
    let stats = query::read_stats(&state.api.store).await?;
    let block = stats.block.clone();
    let today = block.timestamp / DAY;
    let days = query::read_market_days(&state.api.store, today.saturating_sub(29)).await?;
    // The feed starts at the page's block; the script streams what came after.
    let (mut recent, lease_tokens) = query::read_recent_events(&state.api.store, 20).await?;
    recent.retain(|e| e.block <= block.number);
    let s = &stats.data;
    let mut opened: BTreeMap<u64, f64> = BTreeMap::new();
    let mut earned: BTreeMap<u64, f64> = BTreeMap::new();
    for d in &days {
        *opened.entry(d.day).or_default() += d.leases_opened as f64;
        *earned.entry(d.day).or_default() += d.earned as f64;
    }
    let body = html! {
        section {
            h2 { "Totals" }
            div.scroll { table #totals {
                thead { tr { th { "Token" } th.num { "In escrow" } th.num { "Settled" } th.num { "Staked" } th.num { "Fees owed" } } }
                tbody {
                    @for (token, t) in &s.tokens {
                        @let token: Address = token.parse().unwrap_or_default();
                        tr data-token=(token) {
                            td { (state.tokens.get(&token).map_or_else(|| short(token), |t| t.0.clone())) }
                            td.num data-field="escrow" { (state.amount(token, t.escrow)) }
                            td.num data-field="settled" { (state.amount(token, t.settled)) }
                            td.num data-field="staked" { (state.amount(token, t.staked)) }
                            td.num data-field="fees_owed" { (state.amount(token, t.fees_owed)) }
                        }
                    }
                }
            } }
            ul.counts #counts {
                li { b data-field="providers" { (s.providers) } " providers" }
                li { b data-field="offers" { (s.offers) } " offers" }
                li { b data-field="open_leases" { (s.open_leases) } " open leases" }
                li { b data-field="unanswered_demands" { (s.unanswered_demands) } " awaiting payment" }
                li { b data-field="evicted_leases" { (s.evicted_leases) } " evicted" }
                li { b data-field="finalized_leases" { (s.finalized_leases) } " finalized" }
                li { b data-field="settlements" { (s.settlements) } " settlements" }
                li { b data-field="open_disputes" { (s.open_disputes) } " open disputes" }
            }
        }
        section.charts {
            h2 { "Last 30 days" }
            (chart("Leases opened per day", today, 30, &opened, |v| format!("{v:.0}")))
            (chart("Paid to providers per day", today, 30, &earned, |v| usd(v as u128)))
        }
        section {
            h2 { "Live events" }
            p.hint { "New events appear as the indexer applies them; events a reorg took back are struck through." }
            div.scroll { table #feed data-after=(recent.first().map_or(0, |e| e.seq)) data-tokens=(tokens_json(&state)) {
                thead { tr { th.num { "#" } th.num { "Block" } th { "Event" } th { "Lease" } th { "Who" } th.num { "Amount" } th { "Transaction" } } }
                tbody {
                    @for e in &recent {
                        @let summary = query::event_summary(e);
                        tr data-block=(e.block) {
                            td.num { (e.seq) } td.num { (e.block) } td { (query::event_name(e)) }
                            td { @if let Some(id) = e.lease_id { a href={ "/leases/" (id) } { (id) } } }
                            td { @for (role, address) in &summary.parties {
                                span.party { (role) " " a href=(account_link(*address)) { (short(*address)) } " " }
                            } }
                            td.num data-field="amount" { @if let Some((name, raw)) = summary.amount {
                                @let token = summary.token.or_else(|| e.lease_id.and_then(|id| lease_tokens.get(&id).copied()));
                                (name) " "
                                @match token {
                                    Some(token) => { (state.amount(token, raw.saturating_to())) }
                                    None => { (raw) " (raw)" }
                                }
                            } }
                            td { code { (short_hash(&e.tx_hash.to_string())) } }
                        }
                    }
                }
            } }
        }
    };
    Ok(layout("Market", &block, body))
}

/// The market's tokens for the feed's script: `{address: [symbol, decimals]}`.
fn tokens_json(state: &ConsoleState) -> String {
    let tokens: BTreeMap<String, (&str, u8)> = state
        .tokens
        .iter()
        .map(|(address, (symbol, decimals))| (format!("{address:#x}"), (symbol.as_str(), *decimals)))
        .collect();
    serde_json::to_string(&tokens).unwrap_or_default()
}

/// Where an address is shown: its account page (which links to its provider page if it is one).
fn account_link(address: Address) -> String {
    format!("/accounts/{address:#x}")
}

fn short_hash(hash: &str) -> String {
    format!("{}…{}", &hash[..10], &hash[hash.len() - 6..])
}

/// `path` with the query string, `key` set to `value` (or removed when `None`): sort and page links.
fn with(path: &str, query: &HashMap<String, String>, key: &str, value: Option<&str>) -> String {
    let mut query: BTreeMap<&str, &str> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match value {
        Some(value) => query.insert(key, value),
        None => query.remove(key),
    };
    if key != "cursor" {
        query.remove("cursor");
    }
    query.retain(|_, v| !v.is_empty());
    match serde_urlencoded::to_string(&query) {
        Ok(encoded) if !encoded.is_empty() => format!("{path}?{encoded}"),
        _ => path.into(),
    }
}

/// Rows of a list page unless its URL says `limit`: a screenful.
const LIST_PAGE: u64 = 25;

/// A list page's query: empty form fields mean "any".
fn filled(raw: HashMap<String, String>) -> HashMap<String, String> {
    raw.into_iter().filter(|(_, v)| !v.is_empty()).collect()
}

/// The token choice of a filter form.
fn token_select(state: &ConsoleState, chosen: &str) -> Markup {
    html! {
        label { "Token " select name="token" {
            option value="" { "any" }
            @for (address, (symbol, _)) in &state.tokens {
                option value=(address) selected[chosen.parse::<Address>().ok() == Some(*address)] { (symbol) }
            }
        } }
    }
}

fn token_name(state: &ConsoleState, token: Address) -> String {
    state.tokens.get(&token).map_or_else(|| short(token), |t| t.0.clone())
}

/// Every offer, filtered as `/v1/offers` filters (provider, token, a maximum price per hour in
/// the token's units, available ones only), a page at a time.
async fn offers(State(state): State<ConsoleState>, Query(raw): Query<HashMap<String, String>>) -> PageResult {
    let query = filled(raw);
    let mut api = state.api_query(&query)?;
    api.entry("limit".into()).or_insert_with(|| LIST_PAGE.to_string());
    let page = query::read_offers(&state.api.store, api).await?;
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/offers" {
            label { "Provider " input name="provider" value=(field("provider")) placeholder="any address"; }
            label { "Region " input name="region" value=(field("region")) placeholder="any"; }
            label { "Runs " input name="workload" value=(field("workload")) placeholder="any workload (demo, 0x…)"; }
            (token_select(&state, &field("token")))
            label { "Max. price per hour " input name="max_price_per_hour" inputmode="decimal" value=(field("max_price_per_hour")) placeholder="any"; }
            label { "Available only " input type="checkbox" name="available" value="true" checked[field("available") == "true"]; }
            label { "Sort " select name="sort" {
                option value="offer_id" selected[field("sort") != "price"] { "offer" }
                option value="price" selected[field("sort") == "price"] { "price (with a token)" }
            } }
            button type="submit" { "Apply" }
            a href="/offers" { "Reset" }
        }
        div.scroll { table #offers {
            thead { tr { th.num { "Offer" } th { "Provider" } th { "Runs" } th { "Token" } th.num { "Price" } th { "Duration" } th { "Notice" } th.num { "Leases" } th { "State" } th { "Actions" } } }
            tbody { @for o in &page.data {
                tr data-offer=(o.offer_id) {
                    td.num { (o.offer_id) }
                    td { a href=(format!("/providers/{}", o.provider)) { (address_cell(o.provider)) } }
                    td data-field="workload" { (workload_cell(o.workload, o.verifier)) }
                    td { (token_name(&state, o.token)) }
                    td.num data-field="price" { (state.price(o.token, o.price_per_second)) }
                    td { (format_duration(o.min_duration)) " – " (format_duration(o.max_duration)) }
                    td { (format_duration(o.notice_period)) }
                    td.num { (o.active_leases) " / " (o.capacity) }
                    td data-field="state" { @if o.paused { "paused" } @else if o.active_leases >= o.capacity { "full" } @else { "open" } }
                    td.actions {
                        (action_form("open_lease", &[("offer_id", o.offer_id.to_string())], html! {
                            label { "For " input name="duration" size="5" placeholder=(format_duration(o.min_duration)) required; }
                            label { "deposit " input name="deposit" size="8" inputmode="decimal" placeholder=(token_name(&state, o.token)) required; }
                        }, "Lease"))
                        (action_form("set_offer_paused", &[("offer_id", o.offer_id.to_string()), ("paused", (!o.paused).to_string())], html! {}, if o.paused { "Resume" } else { "Pause" }))
                    }
                }
            } }
        } }
        (wallet_note())
        @if page.data.is_empty() { p.empty { "No offer matches." } }
        @if let Some(next) = &page.next_cursor { p.pager { a #next href=(with("/offers", &query, "cursor", Some(next))) { "Next page →" } } }
    };
    Ok(layout("Offers", &page.block, body))
}

/// Every lease, filtered as `/v1/leases` filters (tenant, provider, status), a page at a time,
/// each with its phase in the words the CLI and the lease page use.
async fn leases(State(state): State<ConsoleState>, Query(raw): Query<HashMap<String, String>>) -> PageResult {
    let query = filled(raw);
    let mut api = query.clone();
    api.entry("limit".into()).or_insert_with(|| LIST_PAGE.to_string());
    let page = query::read_leases(&state.api.store, api).await?;
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let now = page.block.timestamp;
    let body = html! {
        form.filters method="get" action="/leases" {
            label { "Tenant " input name="tenant" value=(field("tenant")) placeholder="any address"; }
            label { "Provider " input name="provider" value=(field("provider")) placeholder="any address"; }
            (token_select(&state, &field("token")))
            label { "Status " select name="status" {
                option value="" { "any" }
                @for status in [LeaseStatus::Open, LeaseStatus::Evicted, LeaseStatus::Finalized] {
                    option value=(status.as_str()) selected[field("status") == status.as_str()] { (status.as_str()) }
                }
            } }
            label { "Sort " select name="sort" {
                option value="oldest" selected[field("sort") != "newest"] { "oldest first" }
                option value="newest" selected[field("sort") == "newest"] { "newest first" }
            } }
            button type="submit" { "Apply" }
            a href="/leases" { "Reset" }
        }
        (lease_table(&state, "leases", &page.data, now))
        @if let Some(next) = &page.next_cursor { p.pager { a #next href=(with("/leases", &query, "cursor", Some(next))) { "Next page →" } } }
    };
    Ok(layout("Leases", &page.block, body))
}

async fn providers(State(state): State<ConsoleState>, Query(raw): Query<HashMap<String, String>>) -> PageResult {
    let query = filled(raw);
    let page = query::read_providers(&state.api.store, state.api_query(&query)?).await?;
    let addresses: Vec<Address> = page.data.iter().map(|p| p.row.address).collect();
    let (offers, stakes) = query::read_offers_and_stakes(&state.api.store, &addresses).await?;
    let sort = query.get("sort").map_or("reputation", String::as_str);
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/providers" {
            label { "Region " input name="region" value=(field("region")) placeholder="any"; }
            label { "Min. reputation (bps) " input name="min_reputation" inputmode="numeric" value=(field("min_reputation")) placeholder="0"; }
            (token_select(&state, &field("token")))
            label { "Max. price per hour " input name="max_price_per_hour" inputmode="decimal" value=(field("max_price_per_hour")) placeholder="any"; }
            label { "Sort " select name="sort" {
                @for (value, text) in [("reputation", "reputation"), ("earned", "earned"), ("address", "address")] {
                    option value=(value) selected[sort == value] { (text) }
                }
            } }
            button type="submit" { "Apply" }
            a href="/providers" { "Reset" }
        }
        div.scroll { table #providers {
            thead { tr {
                th { a href=(with("/providers", &query, "sort", Some("address"))) { "Provider" } }
                th { "Region" }
                th { "Offers" }
                th.num { "Free stake" }
                th.num { a href=(with("/providers", &query, "sort", Some("reputation"))) { "Reputation" } }
                th.num { "Delivered" }
                th.num { "Effective price" }
                th.num { a href=(with("/providers", &query, "sort", Some("earned"))) { "Earned" } }
            } }
            tbody {
                @for p in &page.data {
                    @let own: Vec<&Offer> = offers.iter().filter(|o| o.provider == p.row.address).collect();
                    @let cheapest = own.iter().filter(|o| !o.paused).min_by_key(|o| state.value_of_price(o));
                    tr data-address=(p.row.address) {
                        td { a href=(format!("/providers/{}", p.row.address)) { (address_cell(p.row.address)) } }
                        td data-field="region" { (p.row.region) }
                        td { @if own.is_empty() { "none" } @else {
                            @for o in &own { span.offer { (state.price(o.token, o.price_per_second)) @if o.paused { " (paused)" } } }
                        } }
                        td.num { @for s in stakes.iter().filter(|s| s.provider == p.row.address) { span { (state.amount(s.token, s.free())) } } }
                        td.num data-field="reputation_bps" data-value=(p.row.reputation_bps) { (bps(p.row.reputation_bps)) }
                        td.num data-field="delivered_ratio" { (percent(p.delivered_ratio)) }
                        td.num { @match (cheapest, p.delivered_ratio.filter(|d| *d > 0.0)) {
                            (Some(o), Some(d)) => (state.price(o.token, (o.price_per_second as f64 / d).round() as u64)),
                            _ => "–",
                        } }
                        td.num { (usd(p.row.total_earned)) }
                    }
                }
            }
        } }
        @if page.data.is_empty() { p.empty { "No provider matches." } }
        @if let Some(next) = &page.next_cursor { p.pager { a #next href=(with("/providers", &query, "cursor", Some(next))) { "Next page →" } } }
    };
    Ok(layout("Providers", &page.block, body))
}

async fn provider(State(state): State<ConsoleState>, Path(address): Path<String>) -> PageResult {
    let detail = query::read_provider(&state.api.store, &address).await?;
    let block = detail.block.clone();
    let d = &detail.data;
    let p = &d.provider.row;
    let history =
        query::read_history(&state.api.store, &address, HashMap::from([("days".into(), "30".into())])).await?;
    let mut disputes_query = no_params();
    disputes_query.insert("provider".into(), address.clone());
    let disputes = query::read_disputes(&state.api.store, disputes_query).await?;
    let today = block.timestamp / DAY;
    let series = |f: fn(&ProviderDay) -> f64| -> BTreeMap<u64, f64> {
        history.data.series.iter().map(|point| (point.row.day, f(&point.row))).collect()
    };
    let body = html! {
        section.profile {
            dl {
                dt { "Address" } dd { code #address { (p.address) } }
                dt { "Region" } dd { (p.region) }
                dt { "Endpoint" } dd { code { (p.endpoint) } }
                dt { "Metadata" } dd { code { (p.metadata_uri) } }
                dt { "Attributes" } dd #attributes data-status=(d.metadata.as_ref().map_or("unchecked", |m| m.status.as_str())) {
                    @match &d.metadata {
                        None => { "not checked yet" }
                        Some(m) => {
                            @match m.status {
                                MetadataStatus::Verified => { span.verified { "✓ verified" } " against the registered hash" }
                                MetadataStatus::Mismatch => { span.mismatch { "✗ does not match" } " the registered hash: " }
                                MetadataStatus::Unreachable => { "not read: " }
                            }
                            @if let Some(detail) = &m.detail { (detail) }
                            " (checked " (format_time_from(m.checked_at, block.timestamp)) ")"
                            @if !m.attributes.is_empty() {
                                dl.attributes { @for (key, value) in &m.attributes { dt { (key) } dd { (value) } } }
                            }
                        }
                    }
                }
                dt { "Attributes hash" } dd { code { (p.attributes_hash) } }
                dt { "Attestation key" } dd { code { (p.attestation_key) } }
                dt { "Registered" } dd { "block " (p.registered_block) }
                dt { "Reputation" } dd #reputation data-value=(p.reputation_bps) { (bps(p.reputation_bps)) }
                dt { "Delivered" } dd #delivered { (percent(d.provider.delivered_ratio)) " of what accrued was paid, over " (d.provider.leases_finished) " finished leases" }
                dt { "Verification" } dd #verification data-wrong=(p.wrong_answers) data-contested=(p.answers_contested) {
                    (p.wrong_answers) " wrong answers slashed through a verifier, no arbiter; "
                    (p.answers_contested) " answers contested by tenants' checks (disputed with its signed answer)"
                }
                dt { "Compensation" } dd { (percent(d.provider.compensation_per_paid)) " of what tenants paid came back to them from slashes" }
            }
        }
        section {
            h2 { "Stakes" }
            div.scroll { table #stakes {
                thead { tr { th { "Token" } th.num { "Free" } th.num { "Locked in bonds" } th.num { "Thawing" } th { "Thaw ends" } } }
                tbody { @for s in &d.stakes {
                    @let s: &Stake = &s.row;
                    tr {
                        td { (token_name(&state, s.token)) }
                        td.num { (state.amount(s.token, s.free())) }
                        td.num { (state.amount(s.token, s.locked)) }
                        td.num { (state.amount(s.token, s.thawing)) }
                        td { @if s.thawing > 0 { (format_time_from(s.thaw_ends_at, block.timestamp)) } @else { "–" } }
                    }
                } }
            } }
        }
        section {
            h2 { "Offers" }
            div.scroll { table #offers {
                thead { tr { th.num { "Offer" } th.num { "Price" } th.num { "Effective price" } th { "Duration" } th { "Notice" } th.num { "Leases" } th.num { "Governance version" } th { "State" } } }
                tbody { @for o in &d.offers {
                    tr {
                        td.num { (o.row.offer_id) }
                        td.num { (state.price(o.row.token, o.row.price_per_second)) }
                        td.num { @match o.effective_price_per_second { Some(e) => (state.price(o.row.token, e.round() as u64)), None => "–" } }
                        td { (format_duration(o.row.min_duration)) " – " (format_duration(o.row.max_duration)) }
                        td { (format_duration(o.row.notice_period)) }
                        td.num { (o.row.active_leases) " / " (o.row.capacity) }
                        td.num { (o.row.params_version) }
                        td { @if o.row.paused { "paused" } @else { "open" } }
                    }
                } }
            } }
        }
        section {
            h2 { "Record" }
            div.scroll { table #windows {
                thead { tr { th { "Window" } th.num { "Opened" } th.num { "Completed" } th.num { "Closed early" } th.num { "Terminated" } th.num { "Failed over" } th.num { "Payment demands" } th.num { "Evicted" } th.num { "Disputes won / lost" } th.num { "Slashes" } th.num { "Delivered" } } }
                tbody {
                    @for w in &d.windows {
                        tr {
                            td { (w.days) " d" }
                            td.num { (w.totals.leases_opened) } td.num { (w.totals.leases_completed) } td.num { (w.totals.leases_closed_early) }
                            td.num { (w.totals.leases_terminated) } td.num { (w.totals.leases_failed_over) }
                            td.num data-field="payment_demands" { (w.totals.payment_demands) } td.num data-field="leases_evicted" { (w.totals.leases_evicted) }
                            td.num { (w.totals.disputes_won) " / " (w.totals.disputes_lost) } td.num { (w.totals.slashes) }
                            td.num { (percent(w.delivered_ratio)) }
                        }
                    }
                    tr {
                        td { "all time" }
                        td.num { (p.leases_opened) } td.num { (p.leases_completed) } td.num { (p.leases_closed_early) }
                        td.num { (p.leases_terminated) } td.num { (p.leases_failed_over) }
                        td.num data-field="payment_demands" { (p.payment_demands) } td.num data-field="leases_evicted" { (p.leases_evicted) }
                        td.num { (p.disputes_won) " / " (p.disputes_lost) } td.num { (p.slashes) }
                        td.num { (percent(d.provider.delivered_ratio)) }
                    }
                }
            } }
        }
        section.charts {
            h2 { "Last 30 days" }
            (chart("Delivered ratio per day", today, 30, &series(|r| if r.accruable > 0 { r.paid as f64 / r.accruable as f64 } else { 0.0 }), |v| format!("{:.1}%", v * 100.0)))
            (chart("Leases finished per day", today, 30, &series(|r| (r.leases_completed + r.leases_closed_early + r.leases_terminated + r.leases_failed_over + r.leases_evicted) as f64), |v| format!("{v:.0}")))
            (chart("Earnings per day", today, 30, &series(|r| r.earned as f64), |v| usd(v as u128)))
        }
        section {
            h2 { "Slashes and disputes" }
            p { (p.slashes) " slashes took " (usd(p.slashed_amount)) " of bond; tenants received " (usd(p.compensation)) "." }
            p #demands { (p.payment_demands) " payment demands made, " (p.leases_evicted) " leases evicted for leaving one unanswered." }
            div.scroll { table #disputes {
                thead { tr { th.num { "Lease" } th { "Status" } th { "Deadline" } th.num { "Slash" } th { "Evidence" } } }
                tbody { @for x in &disputes.data {
                    tr {
                        td.num { a href=(format!("/leases/{}", x.row.lease_id)) { (x.row.lease_id) } }
                        td { (x.row.status.as_str()) }
                        td { (format_time_from(x.row.deadline, block.timestamp)) }
                        td.num { (bps(x.row.slash_bps)) }
                        td { code { (x.row.evidence_uri) } }
                    }
                } }
            } }
            @if disputes.data.is_empty() { p.empty { "No dispute." } }
        }
    };
    Ok(layout(&format!("Provider {}", short(p.address)), &block, body))
}

/// A table of leases, each with its phase (and where it failed over to), price, escrow, what was
/// settled and what comes back if it is fully served, as of `now`: the list and the account page.
fn lease_table(state: &ConsoleState, id: &str, leases: &[query::LeaseView], now: u64) -> Markup {
    html! {
        div.scroll { table id=(id) {
            thead { tr {
                th.num { "Lease" } th { "Tenant" } th { "Provider" } th { "Phase" } th.num { "Price" } th.num { "In escrow" }
                th.num { "Settled" } th.num { "Refund if served" } th.num { "Refund on notice now" } th { "Accrues until" }
            } }
            tbody { @for l in leases {
                @let r = &l.row;
                tr data-lease=(r.lease_id) {
                    td.num { a href=(format!("/leases/{}", r.lease_id)) { (r.lease_id) } }
                    td { a href=(format!("/accounts/{}", r.tenant)) { (address_cell(r.tenant)) } }
                    td { a href=(format!("/providers/{}", r.provider)) { (address_cell(r.provider)) } }
                    td data-field="phase" { (l.phase) @if r.failed_over_to != 0 { " · failed over to " a href=(format!("/leases/{}", r.failed_over_to)) { "lease " (r.failed_over_to) } } }
                    td.num { (state.price(r.token, r.price_per_second)) }
                    td.num data-field="escrow" { (state.amount(r.token, l.escrow)) }
                    td.num data-field="settled" { (state.amount(r.token, r.settled)) }
                    td.num data-field="refund_if_served" { (state.amount(r.token, l.refund_if_served)) }
                    td.num data-field="refund_on_notice" { (state.amount(r.token, l.refund_on_notice)) }
                    td { @if l.runway_secs > 0 { (format_time_from(l.lease_end, now)) } @else { "–" } }
                }
            } }
        } }
        @if leases.is_empty() { p.empty { "None." } }
    }
}

/// Any address: what it can claim, its newest leases as a tenant and its signers, its newest
/// leases as a provider (its record is on its provider page; all its leases on `/leases`).
async fn account(State(state): State<ConsoleState>, Path(address): Path<String>) -> PageResult {
    let account = query::read_account(&state.api.store, &address).await?;
    let block = account.block.clone();
    let a = &account.data;
    let now = block.timestamp;
    let body = html! {
        section.profile {
            dl {
                dt { "Address" } dd { code #address { (a.address) } }
                @if a.provider { dt { "Provider" } dd { a #provider-page href=(format!("/providers/{}", a.address)) { "its record, stakes and offers" } } }
            }
        }
        section {
            h2 { "Claimable" }
            p.hint { "Payouts, refunds and slash compensation the market holds for this address until it claims them." }
            div.scroll { table #claimable {
                thead { tr { th { "Token" } th.num { "Claimable" } th { "Action" } } }
                tbody { @for b in &a.claimable {
                    tr data-token=(b.token) {
                        td { (token_name(&state, b.token)) } td.num data-field="claimable" { (state.amount(b.token, b.claimable)) }
                        td.actions { @if b.claimable > 0 { (action_form("claim", &[("token", b.token.to_string())], html! {}, "Claim")) } }
                    }
                } }
            } }
            @if a.claimable.is_empty() { p.empty { "Nothing to claim." } }
            (wallet_note())
        }
        section {
            h2 { "As a tenant" }
            (lease_table(&state, "tenant-leases", &a.leases, now))
            p { a #all-tenant-leases href=(format!("/leases?tenant={}", a.address)) { "All its leases as a tenant" } }
            h3 { "Session signers" }
            div.scroll { table #signers {
                // A signer's cap is in raw units of the token of the leases it signs for.
                thead { tr { th { "Signer" } th { "Provider" } th.num { "Spent (raw units)" } th.num { "Cap (raw units)" } th { "Signs for service until" } } }
                tbody { @for s in &a.signers {
                    tr {
                        td { (address_cell(s.signer)) }
                        td { a href=(format!("/providers/{}", s.provider)) { (address_cell(s.provider)) } }
                        td.num { (s.spent) } td.num { (s.cap) }
                        td { (format_time_from(s.expires_at, now)) @if s.revoked { " (revoked)" } }
                    }
                } }
            } }
            @if a.signers.is_empty() { p.empty { "No session signer." } }
        }
        @if a.provider {
            section #provider-actions {
                h2 { "Provider actions" }
                (action_form("stake", &[], html! {
                    label { "Stake " input name="amount" size="10" placeholder="100 USDC" required; }
                }, "Stake"))
                (action_form("publish_offer", &[], html! {
                    label { "Price " input name="price" size="10" placeholder="0.36 USDC/h" required; }
                    label { "shortest " input name="min_duration" size="4" placeholder="1h" required; }
                    label { "longest " input name="max_duration" size="4" placeholder="30d" required; }
                    label { "notice " input name="notice_period" size="4" placeholder="1h" required; }
                    label { "capacity " input name="capacity" size="3" inputmode="numeric" placeholder="10" required; }
                }, "Publish an offer"))
                p { "Pause or resume an offer from " a href=(format!("/offers?provider={}", a.address)) { "its offers" } "." }
            }
        }
        @if a.provider || !a.provider_leases.is_empty() {
            section {
                h2 { "As a provider" }
                (lease_table(&state, "provider-leases", &a.provider_leases, now))
                p { a #all-provider-leases href=(format!("/leases?provider={}", a.address)) { "All its leases as a provider" } }
            }
        }
    };
    Ok(layout(&format!("Account {}", short(a.address)), &block, body))
}

async fn lease(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> PageResult {
    let detail = query::read_lease(&state.api.store, &id).await?;
    // Older settlements a page at a time (`?cursor=`, as the API's `settlements_next_cursor`).
    let (settlements, older) = if raw.is_empty() {
        (detail.data.settlements.clone(), detail.data.settlements_next_cursor.clone())
    } else {
        let page = query::read_lease_settlements(&state.api.store, &id, raw).await?;
        (page.data, page.next_cursor)
    };
    let block = detail.block.clone();
    let l = &detail.data.lease;
    let r = &l.row;
    let now = block.timestamp;
    let amount = |raw: u128| state.amount(r.token, raw);
    let open = r.status == LeaseStatus::Open;
    let live = r.is_live();
    let body = html! {
        section {
            h2 { "Terms in force" }
            dl #terms {
                dt { "Status" } dd #status { (l.phase)
                    @if l.phase == LeasePhase::PaymentDemanded {
                        ", evictable " @if now < r.evictable_at { "at " } @else { "since " } (format_time_from(r.evictable_at, now))
                    }
                    @if r.terminated { " · terminated by the provider" }
                    @if r.status == LeaseStatus::Evicted {
                        " · for leaving a payment demand unanswered; disputes possible until " (format_time_from(r.remedies_until, now))
                    } @else if r.evicted { " · evicted for leaving a payment demand unanswered" }
                    @if r.closed_by != Address::ZERO {
                        @if l.phase == LeasePhase::NoticeGiven { " by " } @else { " · notice given by " }
                        @if r.closed_by == r.tenant { "the tenant" } @else { "the provider" }
                    }
                    @if r.failed_over_to != 0 { " · failed over to " a href=(format!("/leases/{}", r.failed_over_to)) { "lease " (r.failed_over_to) } }
                }
                dt { "Tenant" } dd { a href=(format!("/accounts/{}", r.tenant)) { code { (r.tenant) } } }
                dt { "Provider" } dd { a href=(format!("/providers/{}", r.provider)) { code { (r.provider) } } }
                dt { "Offer" } dd { (r.offer_id) }
                dt { "Price" } dd #price { (state.price(r.token, r.price_per_second)) }
                dt { "Started" } dd { (format_time_from(r.started_at, now)) }
                dt { "Ends" } dd { (format_time_from(r.ends_at, now)) }
                dt { "Notice period" } dd { (format_duration(r.notice_period)) }
                dt { "SLA bond" } dd { (amount(r.bond)) }
                dt { "Governance version" } dd { (r.params_version) " (kept for the lease's life)" }
            }
        }
        @if open && now < r.ends_at {
            section #lease-actions {
                h2 { "Actions" }
                (action_form("top_up", &[("lease_id", r.lease_id.to_string())], html! {
                    label { "Top up " input name="amount" size="10" inputmode="decimal" placeholder=(token_name(&state, r.token)) required; }
                }, "Top up"))
                @if r.closed_by == Address::ZERO {
                    (action_form("close_lease", &[("lease_id", r.lease_id.to_string())], html! {}, "Give notice"))
                }
                (wallet_note())
            }
        }
        section {
            h2 { "Payment demand" }
            @if r.demanded_at == 0 { p.empty #demand { "No payment demand." } } @else {
                dl #demand {
                    dt { "Due" } dd #demand-due { (amount(r.demand_due)) }
                    dt { "Demanded" } dd { (format_time_from(r.demanded_at, now)) }
                    dt { "Answer" } dd #demand-answer {
                        @if r.evicted { "unanswered: the provider evicted the lease" }
                        @else if !r.demand_unanswered() { "answered: the settled total reached what was due" }
                        @else { "unanswered; evictable " @if now < r.evictable_at { "at " } @else { "since " } (format_time_from(r.evictable_at, now)) }
                    }
                    @if let Some(e) = &detail.data.eviction {
                        dt { "Evicted" } dd #evicted-at { "stopped running " (format_time_from(e.ends_at, now)) }
                        dt { "Hold charge" } dd #hold-charge { (amount(e.hold_charge)) " paid to the provider for the capacity held" }
                        dt { "Refunded at once" } dd #eviction-refund { (amount(e.refund)) }
                        dt { "Remedies until" } dd #remedies { (format_time_from(r.remedies_until, now)) " (disputes stay possible and the bond locked; then it can be finalized)" }
                    }
                }
            }
        }
        section {
            h2 { "Escrow" }
            dl #escrow {
                dt { "Deposit" } dd #deposit { (amount(r.deposit)) }
                dt { "Settled to the provider" } dd #settled { (amount(r.settled)) }
                dt { "In escrow" } dd #in-escrow { (amount(l.escrow)) }
                @if live && !open {
                    dt { "Refund if fully served" } dd #refund-served { (amount(l.refund_if_served)) }
                }
                @if open {
                    dt { "Runway" } dd #runway { @if l.runway_secs > 0 { "accrues until " (format_time_from(l.lease_end, now)) } @else { "ended " (format_time_from(l.lease_end, now)) } }
                    dt { "Refund if fully served" } dd #refund-served { (amount(l.refund_if_served)) }
                    dt { "Refund if nothing more is settled" } dd #refund-now { (amount(l.escrow)) }
                }
                dt { "Settlement deadline" } dd #deadline { (format_time_from(l.settlement_deadline, now)) }
                @if l.remedies_deadline != l.settlement_deadline {
                    dt { "Disputes until" } dd #remedies-deadline { (format_time_from(l.remedies_deadline, now)) }
                }
                dt { "Delivered" } dd #delivered { @match l.delivered_bps { Some(b) => (bps(b)), None => "–" }
                    @if open { " of what has accrued so far was paid (receipts are settled in arrears)" } @else { " of what accrued was paid" }
                }
            }
        }
        section {
            h2 { "Settlements" }
            p.hint { (r.settlement_count) " in all, newest first." }
            div.scroll { table #settlements {
                thead { tr { th.num { "Block" } th { "Signer" } th.num { "Receipt total" } th.num { "Paid" } th.num { "Fee" } th { "Transaction" } } }
                tbody { @for s in &settlements {
                    tr {
                        td.num { (s.block_number) }
                        td { (address_cell(s.signer)) }
                        td.num { (amount(s.cumulative_amount)) }
                        td.num { (amount(s.paid)) }
                        td.num { (amount(s.fee)) }
                        td { code { (short_hash(&s.tx_hash.to_string())) } }
                    }
                } }
            } }
            @if settlements.is_empty() { p.empty { "Nothing settled yet." } }
            @if let Some(cursor) = older { p { a #older-settlements href=(format!("/leases/{}?cursor={cursor}", r.lease_id)) { "Older settlements" } } }
        }
        section {
            h2 { "Session signers" }
            p.hint { "The tenant's signers authorized for this lease's provider: each authorization is for one provider, with its own cap." }
            div.scroll { table #signers {
                thead { tr { th { "Signer" } th { "Provider" } th.num { "Spent" } th.num { "Cap" } th { "Signs for service until" } } }
                tbody { @for s in &detail.data.signers {
                    tr {
                        td { (address_cell(s.signer)) }
                        td { (address_cell(s.provider)) }
                        td.num { (amount(s.spent)) }
                        td.num { (amount(s.cap)) }
                        td { (format_time_from(s.expires_at, now)) @if s.revoked { " (revoked)" } }
                    }
                } }
            } }
            @if detail.data.signers.is_empty() { p.empty { "No session signer: the tenant signs its receipts itself." } }
        }
        section {
            h2 { "Dispute" }
            @match &detail.data.dispute {
                Some(x) => dl #dispute {
                    dt { "Status" } dd { (x.status.as_str()) }
                    dt { "Tenant's bond" } dd { (amount(x.tenant_bond)) }
                    dt { "Arbiter's deadline" } dd { (format_time_from(x.deadline, now)) }
                    dt { "Slash ruled" } dd { (bps(x.slash_bps)) }
                    dt { "Evidence" } dd { code { (x.evidence_uri) } }
                },
                None => p.empty { "No dispute." },
            }
        }
        (PreEscaped(""))
    };
    Ok(layout(&format!("Lease {}", r.lease_id), &block, body))
}
