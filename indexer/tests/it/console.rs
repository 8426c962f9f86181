//! The market console in a real browser: headless Chromium, driven through chromedriver, loads
//! each page of a small market built by hand on anvil and served by a live ingestor. Every page
//! must load without a console error or a missing asset and show the figures the JSON API gives;
//! sorting, filters, pagination and the filter form must pick the API's rows; the live feed must
//! show a settlement within two devnet blocks without a reload; the providers page must fit a
//! phone's width. Every page is also captured; with `OPENLEASE_CONSOLE_SCREENSHOTS=1` the
//! captures go to docs/console/ (the README shows them), else to a scratch directory, so that a
//! test run leaves the worktree as it was.
//!
//! Chromium and chromedriver are Debian's packages (`make browser` installs them).

use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, ext::AnvilApi},
    transports::http::reqwest,
};
use fantoccini::{Client, ClientBuilder, Locator};
use openlease_contracts::{LeasePhase, MockStablecoin};
use openlease_indexer::{
    api::{self, ApiState},
    console::{self, ConsoleState},
    metrics::Metrics,
};
use serde_json::{Value, json};

use crate::util::{Db, Market, fresh_db, get_json, ingestor, key_proof, test_config};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The devnet's block time: the live feed must show an event within two of them.
const DEVNET_BLOCK: Duration = Duration::from_secs(1);
const USDC: u128 = 1_000_000;
const DAY: u32 = 86_400;
const NOTICE: u32 = 3_600;

/// The fourth provider (anvil account 6; `Market::new` registered accounts 1 to 3 in eu-west,
/// us-east and ap-south): in eu-west too, so a region filter has more than one row to keep.
const P4: usize = 6;
/// Offers 4 to 7, published here at prices a market would see: (provider account, raw units a second).
const OFFERS: [(usize, u64); 4] = [(1, 10_000), (2, 20_000), (3, 15_000), (P4, 8_000)];
/// The tenants of `Market::new`.
const TENANT_A: usize = 4;
const TENANT_B: usize = 5;

/// The leases opened here, in order, and what makes the providers' reputations differ: P1's
/// lease is paid in full, P2's a quarter; both are finalized. P3's and P4's stay open, partly
/// settled (P4's is settled again while the market page watches); P3 demands payment of its lease,
/// which stands unanswered.
const L1: u64 = 1;
const L2: u64 = 2;
const L3: u64 = 3;
const L4: u64 = 4;

/// Builds the market the pages show: four providers in three regions with offers, two leases
/// finalized (one fully paid, one a quarter paid), two open and settled in part, one of them under
/// a payment demand.
async fn build_market(market: &Market) {
    let m = &market.market;
    let usdc = market.usdc;
    let p4 = market.account(P4);
    let token = MockStablecoin::new(usdc, market.provider.clone());
    market.must(None, token.mint(p4, U256::from(100_000 * USDC)).from(p4), "mint for P4").await;
    market.must(None, token.approve(market.manifest.market(), U256::MAX).from(p4), "approve for P4").await;
    let proof = key_proof(&market.manifest, &market.key(P4), p4);
    market
        .must(
            None,
            m.registerProvider("ipfs://p4".into(), "https://p4".into(), "eu-west".into(), B256::ZERO, p4, proof)
                .from(p4),
            "register P4",
        )
        .await;
    market.must(None, m.stake(usdc, U256::from(50_000 * USDC)).from(p4), "stake P4").await;
    for (account, price) in OFFERS {
        let from = market.account(account);
        market
            .must(
                None,
                m.publishOffer(usdc, price, 60, 30 * DAY, NOTICE, 10, B256::ZERO, Address::ZERO).from(from),
                "publish an offer",
            )
            .await;
    }
    // Offer 1 paused: the table says so.
    market.must(None, m.setOfferPaused(U256::from(1), true).from(market.account(1)), "pause offer 1").await;

    let open = async |offer: u64, duration: u32, tenant: usize| {
        let price = OFFERS[offer as usize - 4].1;
        let terms = m.offerTermsHash(U256::from(offer)).call().await.unwrap();
        let deposit = U256::from(u128::from(duration) * u128::from(price));
        let call = m.openLease(U256::from(offer), duration, deposit, terms).from(market.account(tenant));
        market.must(None, call, "open a lease").await;
    };
    let settle = async |lease: u64, cumulative: u128| {
        let (receipt, provider) = market.tenant_receipt(lease, cumulative).await;
        market.must(None, m.settle(receipt).from(provider), "settle").await;
    };
    let advance = async |seconds: u64| market.provider.anvil_increase_time(seconds).await.unwrap();
    open(4, 3_600, TENANT_A).await; // L1, P1
    open(5, 3_600, TENANT_B).await; // L2, P2
    open(6, DAY, TENANT_A).await; // L3, P3
    open(7, DAY, TENANT_B).await; // L4, P4
    advance(3_700).await;
    settle(L1, 3_600 * 10_000).await;
    settle(L2, 900 * 20_000).await;
    // Past both leases' settlement windows (their end plus an hour).
    advance(3_700).await;
    market.must(None, m.finalizeLease(U256::from(L1)).from(market.account(TENANT_A)), "finalize L1").await;
    market.must(None, m.finalizeLease(U256::from(L2)).from(market.account(TENANT_B)), "finalize L2").await;
    settle(L3, 7_000 * 15_000).await;
    settle(L4, 7_000 * 8_000).await;
    // Two hours on, L3's tenant has not paid for what ran an hour ago: P3 demands it.
    advance(7_200).await;
    market.must(None, m.demandPayment(U256::from(L3)).from(market.account(3)), "P3 demands payment of L3").await;
}

/// A free port on the loopback interface (free when asked: chromedriver takes it at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver, in a process group of its own with the Chromium it starts: the whole group is
/// ended on drop, also when the test fails half-way.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: `make browser` installs Debian's chromium and chromium-driver"
            );
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = reqwest::get(format!("{}/status", driver.url)).await.ok();
            let status: Option<Value> = match ready {
                Some(response) => response.text().await.ok().and_then(|t| serde_json::from_str(&t).ok()),
                None => None,
            };
            if status.is_some_and(|s| s["value"]["ready"] == true) {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready on {}", driver.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group chromedriver leads (its id): chromedriver and every Chromium process it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session on the served console.
pub(crate) struct Browser {
    pub(crate) client: Client,
    session: String,
    driver: Chromedriver,
    base: String,
}

impl Browser {
    pub(crate) async fn start(base: &str) -> Self {
        let driver = Chromedriver::start().await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through {}: {e}", driver.url));
        let session = client.session_id().await.unwrap().expect("a session id");
        Self { client, session, driver, base: base.to_owned() }
    }

    /// Loads `path` and waits for the page's block line (every page has one).
    pub(crate) async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("loading {path}: {e}"));
        self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#block-number")).await.unwrap();
    }

    /// Waits for the navigation a click started: until the URL's query has `part` and the new page
    /// has its block line.
    async fn wait_for_query(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.unwrap();
            if url.query().is_some_and(|q| q.contains(part)) {
                break;
            }
            assert!(Instant::now() < deadline, "still at {url}: no `{part}` in its query");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#block-number")).await.unwrap();
    }

    /// Runs `script` in the page; what it returns.
    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        element.text().await.unwrap().trim().to_owned()
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        element.attr(name).await.unwrap().unwrap_or_else(|| panic!("`{css}` has no `{name}`"))
    }

    /// The browser's console entries since the last call (chromedriver's log endpoint drains them).
    pub(crate) async fn console_log(&self) -> Vec<Value> {
        let response = reqwest::Client::new()
            .post(format!("{}/session/{}/se/log", self.driver.url, self.session))
            .header("content-type", "application/json")
            .body(json!({ "type": "browser" }).to_string())
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        body["value"].as_array().unwrap_or_else(|| panic!("the browser log: {body}")).clone()
    }

    /// The page loaded cleanly: no SEVERE console entry (script errors, failed loads), every
    /// resource answered 200, its style sheet and script among them and the style applied, and
    /// the block line agrees with the API's block.
    async fn assert_clean(&self, page: &str, block: &Value) {
        let severe: Vec<Value> = self.console_log().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
        assert!(severe.is_empty(), "{page}: console errors: {severe:#?}");
        let resources = self
            .js("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                   .map(e => [new URL(e.name).pathname, e.responseStatus]);")
            .await;
        let resources = resources.as_array().unwrap();
        let failed: Vec<&Value> = resources.iter().filter(|r| r[1] != 200).collect();
        assert!(failed.is_empty(), "{page}: resources that did not answer 200: {failed:?}");
        for asset in ["/console.css", "/console.js"] {
            assert!(resources.iter().any(|r| r[0] == asset), "{page}: {asset} was not loaded: {resources:?}");
        }
        // The header's colour comes from console.css only.
        let header = self.js("return getComputedStyle(document.querySelector('header')).backgroundColor;").await;
        assert_eq!(header, "rgb(20, 26, 43)", "{page}: the style sheet is applied");
        assert_eq!(self.text("#block-number").await, block["number"].to_string(), "{page}: the block it reflects");
        let finality = if block["final"] == true { "final" } else { "not final yet" };
        assert_eq!(self.text("#block-final").await, finality, "{page}: the block's finality");
        // The block line starts where the page's heading does.
        let edges = self
            .js("const line = document.querySelector('#block');
                 return [line.getBoundingClientRect().left + parseFloat(getComputedStyle(line).paddingLeft),
                         document.querySelector('main h1').getBoundingClientRect().left];")
            .await;
        let (line, heading) = (edges[0].as_f64().unwrap(), edges[1].as_f64().unwrap());
        assert!((line - heading).abs() < 1.0, "{page}: the block line and the heading line up: {edges}");
    }

    async fn screenshot(&self, name: &str) {
        let dir = if std::env::var_os("OPENLEASE_CONSOLE_SCREENSHOTS").is_some() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console")
        } else {
            std::env::temp_dir().join("openlease-console-screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
        std::fs::write(dir.join(name), png).unwrap();
    }

    /// The providers table's rows: (address, region, reputation in bps, the reputation as shown).
    async fn provider_rows(&self) -> Vec<(Address, String, u64, String)> {
        let rows = self
            .js("return [...document.querySelectorAll('#providers tbody tr')].map(tr => {
                   const reputation = tr.querySelector('[data-field=reputation_bps]');
                   return [tr.dataset.address, tr.querySelector('[data-field=region]').textContent.trim(),
                           Number(reputation.dataset.value), reputation.textContent.trim()];
                 });")
            .await;
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let address = r[0].as_str().unwrap().parse().unwrap();
                (address, r[1].as_str().unwrap().to_owned(), r[2].as_u64().unwrap(), r[3].as_str().unwrap().to_owned())
            })
            .collect()
    }
}

/// An amount as the console shows it (`12.5 USDC`) in raw units of a token of `decimals`, and its
/// symbol. Exact: the figure shown must be the raw amount over 10^decimals, neither rounded nor cut.
fn raw_units(text: &str, decimals: u8) -> (u128, String) {
    let (number, symbol) = text.trim().split_once(' ').unwrap_or_else(|| panic!("an amount and a symbol: {text:?}"));
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let decimals = usize::from(decimals);
    assert!(fraction.len() <= decimals, "{text:?}: more decimals than the token's {decimals}");
    let fraction = format!("{fraction:0<decimals$}");
    let raw = whole.parse::<u128>().unwrap() * 10u128.pow(decimals as u32) + fraction.parse::<u128>().unwrap_or(0);
    (raw, symbol.to_owned())
}

fn amount(value: &Value) -> u128 {
    value.as_str().unwrap_or_else(|| panic!("an amount as text: {value}")).parse().unwrap()
}

/// Basis points as the console shows them: `63.24%`.
fn bps_text(bps: u64) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

/// The API's providers for `query`: (address, region, reputation in bps).
async fn api_providers(base: &str, query: &str) -> Vec<(Address, String, u64)> {
    let (status, body) = get_json(base, &format!("/v1/providers{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let address = p["address"].as_str().unwrap().parse().unwrap();
            (address, p["region"].as_str().unwrap().to_owned(), p["reputation_bps"].as_u64().unwrap())
        })
        .collect()
}

/// The page's rows are the API's, in its order, each reputation shown as it is.
fn assert_rows_match(what: &str, page: &[(Address, String, u64, String)], api: &[(Address, String, u64)]) {
    let shown: Vec<(Address, String, u64)> = page.iter().map(|r| (r.0, r.1.clone(), r.2)).collect();
    assert_eq!(shown, api, "{what}: the page's rows are the API's");
    for row in page {
        assert_eq!(row.3, bps_text(row.2), "{what}: {}'s reputation as shown", row.0);
    }
}

/// Waits until the mirror the API serves reflects the node's head.
pub(crate) async fn synced(base: &str, market: &Market) -> Value {
    let head = market.provider.get_block_number().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get_json(base, "/v1/stats").await;
        if status == 200 && body["block"]["number"] == head {
            return body;
        }
        assert!(Instant::now() < deadline, "the mirror did not reach block {head}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let Some((url, _guard)) = fresh_db(Db::Sqlite, "console_sqlite").await else { return };
    let market = Market::new(41).await;
    build_market(&market).await;

    // The ingestor follows the chain in the background; the API and the console share its notices.
    let (store, ingestor) = ingestor(&market, &url, test_config()).await;
    let notices = tokio::sync::broadcast::channel(4096).0;
    let ingesting = tokio::spawn(ingestor.with_notices(notices.clone()).run());
    let state = ApiState { store, metrics: Arc::new(Metrics::default()), max_lag: 10, max_head_age: 15, notices };
    let app = api::router(state.clone()).merge(console::router(ConsoleState::new(state, &market.manifest.stablecoins)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let stats = synced(&base, &market).await;
    let browser = Browser::start(&base).await;

    // ── The market: counts and totals per token are /v1/stats's. ──
    browser.open("/").await;
    browser.assert_clean("market", &stats["block"]).await;
    assert_eq!(browser.client.title().await.unwrap(), "Market · Openlease");
    let s = &stats["data"];
    for field in [
        "providers",
        "offers",
        "open_leases",
        "unanswered_demands",
        "evicted_leases",
        "finalized_leases",
        "settlements",
        "open_disputes",
    ] {
        let shown = browser.text(&format!("#counts [data-field={field}]")).await;
        assert_eq!(shown, s[field].to_string(), "market: the `{field}` count");
    }
    assert_eq!(
        (s["providers"].as_u64(), s["open_leases"].as_u64(), s["finalized_leases"].as_u64()),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(
        (s["unanswered_demands"].as_u64(), s["evicted_leases"].as_u64()),
        (Some(1), Some(0)),
        "L3's demand stands unanswered"
    );
    let tokens = s["tokens"].as_object().unwrap();
    assert!(!tokens.is_empty(), "{s}");
    let shown_tokens = browser.js("return document.querySelectorAll('#totals tbody tr').length;").await;
    assert_eq!(shown_tokens, tokens.len(), "market: one totals row per token");
    for (token, totals) in tokens {
        let address: Address = token.parse().unwrap();
        let coin = market.manifest.stablecoin_at(address).expect("a manifest stablecoin");
        for field in ["escrow", "settled", "staked", "fees_owed"] {
            let text = browser.text(&format!("#totals tr[data-token='{address}'] [data-field={field}]")).await;
            let (raw, symbol) = raw_units(&text, coin.decimals);
            assert_eq!(symbol, coin.symbol, "market: {field} of {token} is in {}", coin.symbol);
            assert_eq!(raw, amount(&totals[field]), "market: {field} of {token} ({text:?})");
        }
    }
    let feed_rows = browser.js("return document.querySelectorAll('#feed tbody tr').length;").await;
    assert_eq!(feed_rows, 20, "market: the feed opens with the 20 newest events");

    // ── Providers: the rows are /v1/providers's, sorted and filtered the same way. ──
    browser.open("/providers").await;
    browser.assert_clean("providers", &stats["block"]).await;
    let by_reputation = browser.provider_rows().await;
    assert_rows_match("providers", &by_reputation, &api_providers(&base, "").await);
    assert_eq!(by_reputation.len(), 4);
    browser.screenshot("providers.png").await;

    browser.open("/providers?sort=address").await;
    browser.assert_clean("providers by address", &stats["block"]).await;
    let by_address = browser.provider_rows().await;
    assert_rows_match("providers by address", &by_address, &api_providers(&base, "?sort=address").await);
    let addresses: Vec<Address> = by_address.iter().map(|r| r.0).collect();
    assert!(addresses.windows(2).all(|w| w[0] < w[1]), "sort=address: in address order: {addresses:?}");
    let reputation_order: Vec<Address> = by_reputation.iter().map(|r| r.0).collect();
    assert_ne!(reputation_order, addresses, "sorting by reputation and by address give different orders");
    let reputations: Vec<u64> = by_reputation.iter().map(|r| r.2).collect();
    assert!(reputations.windows(2).all(|w| w[0] >= w[1]), "sort=reputation: best first: {reputations:?}");

    browser.open("/providers?region=eu-west").await;
    browser.assert_clean("region=eu-west", &stats["block"]).await;
    let eu_west = browser.provider_rows().await;
    assert_rows_match("region=eu-west", &eu_west, &api_providers(&base, "?region=eu-west").await);
    assert_eq!(eu_west.len(), 2, "two providers are in eu-west: {eu_west:?}");
    assert!(eu_west.iter().all(|r| r.1 == "eu-west"), "region=eu-west: only eu-west rows: {eu_west:?}");

    let best = reputations[0];
    browser.open(&format!("/providers?min_reputation={best}")).await;
    browser.assert_clean("min_reputation", &stats["block"]).await;
    let top = browser.provider_rows().await;
    assert_rows_match("min_reputation", &top, &api_providers(&base, &format!("?min_reputation={best}")).await);
    assert!(!top.is_empty() && top.len() < 4 && top.iter().all(|r| r.2 >= best), "min_reputation={best}: {top:?}");

    // Pagination: two rows a page in address order, the next page through `#next`.
    browser.open("/providers?sort=address&limit=2").await;
    browser.assert_clean("providers, page 1", &stats["block"]).await;
    let first_page = browser.provider_rows().await;
    assert_eq!(first_page.iter().map(|r| r.0).collect::<Vec<_>>(), addresses[..2], "the first page");
    browser.client.find(Locator::Css("#next")).await.expect("a next page link").click().await.unwrap();
    browser.wait_for_query("cursor=").await;
    browser.assert_clean("providers, page 2", &stats["block"]).await;
    let second_page = browser.provider_rows().await;
    assert_eq!(second_page.iter().map(|r| r.0).collect::<Vec<_>>(), addresses[2..], "the second page");
    assert!(browser.client.find(Locator::Css("#next")).await.is_err(), "the last page has no next link");

    // The filter form, filled and submitted in the browser, picks what the URL picks.
    browser.open("/providers").await;
    let region = browser.client.find(Locator::Css("form.filters input[name=region]")).await.unwrap();
    region.send_keys("eu-west").await.unwrap();
    browser.client.find(Locator::Css("form.filters button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_query("region=eu-west").await;
    browser.assert_clean("providers, filtered with the form", &stats["block"]).await;
    assert_eq!(browser.provider_rows().await, eu_west, "the form's rows are the URL's");
    assert_eq!(browser.attr("form.filters input[name=region]", "value").await, "eu-west", "the form keeps its filter");

    // A maximum price per hour is read by the CLI's rules: 54 USDC/h is 15,000 raw units a
    // second (the API's `max_price`); 0.0001 USDC/h is no whole number of them and is
    // refused with the nearest, not truncated to zero.
    let usdc = market.usdc;
    browser.open(&format!("/providers?token={usdc}&max_price_per_hour=54")).await;
    browser.assert_clean("max_price_per_hour=54", &stats["block"]).await;
    let affordable = browser.provider_rows().await;
    assert_rows_match(
        "max_price_per_hour=54",
        &affordable,
        &api_providers(&base, &format!("?token={usdc}&max_price=15000")).await,
    );
    assert!(!affordable.is_empty(), "offers at 15,000 a second or less are listed");
    let (status, refused) = get_json(&base, &format!("/providers?token={usdc}&max_price_per_hour=0.0001")).await;
    let refused = refused.as_str().unwrap_or_default().to_owned();
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("max. price per hour: `0.0001/h`") && refused.contains("0 USDC"), "{refused}");

    // ── Leases and offers: the rows and phases are /v1/leases's and /v1/offers's, filtered alike. ──
    let lease_rows = "return [...document.querySelectorAll('#leases tbody tr')].map(tr =>
                        [Number(tr.dataset.lease), tr.querySelector('[data-field=phase]').textContent]);";
    let api_leases = async |query: &str| -> Vec<Value> {
        let (status, page) = get_json(&base, &format!("/v1/leases{query}")).await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().iter().map(|l| json!([l["lease_id"], l["phase"]])).collect()
    };
    browser.open("/leases").await;
    browser.assert_clean("leases", &stats["block"]).await;
    browser.screenshot("leases.png").await;
    let all_leases = api_leases("").await;
    assert_eq!(browser.js(lease_rows).await, json!(all_leases), "leases: /v1/leases's rows and phases");
    assert!(all_leases.len() >= 4, "{all_leases:?}");
    browser.open("/leases?status=finalized").await;
    browser.assert_clean("leases, finalized", &stats["block"]).await;
    let finalized = browser.js(lease_rows).await;
    assert_eq!(finalized, json!(api_leases("?status=finalized").await), "leases: status=finalized");
    assert_eq!(finalized.as_array().unwrap().len(), 2, "two leases are finalized: {finalized}");
    assert!(finalized.as_array().unwrap().iter().all(|l| l[1] == "finalized"), "{finalized}");
    let (_, l3) = get_json(&base, &format!("/v1/leases/{L3}")).await;
    let tenant = l3["data"]["tenant"].as_str().unwrap().to_owned();
    browser.open(&format!("/leases?tenant={tenant}")).await;
    browser.assert_clean("leases, one tenant", &stats["block"]).await;
    let tenants = browser.js(lease_rows).await;
    assert_eq!(tenants, json!(api_leases(&format!("?tenant={tenant}")).await), "leases: tenant={tenant}");
    assert!(
        !tenants.as_array().unwrap().is_empty() && tenants.as_array().unwrap().len() < all_leases.len(),
        "one tenant's leases: {tenants}"
    );
    browser.open("/leases?limit=2").await;
    let first = browser.js(lease_rows).await;
    browser.client.find(Locator::Css("#next")).await.expect("a next page link").click().await.unwrap();
    browser.wait_for_query("cursor=").await;
    browser.assert_clean("leases, page 2", &stats["block"]).await;
    let second = browser.js(lease_rows).await;
    let paged: Vec<Value> =
        first.as_array().unwrap().iter().chain(second.as_array().unwrap()).take(all_leases.len()).cloned().collect();
    assert_eq!(paged, all_leases[..paged.len()], "leases: the pages follow each other");
    assert_eq!(first.as_array().unwrap().len(), 2);

    // ── An account: its leases as a tenant and as a provider, and what it can claim, as /v1/accounts says. ──
    let account_rows = |table: &str| {
        format!(
            "return [...document.querySelectorAll('#{table} tbody tr')].map(tr =>
               [Number(tr.dataset.lease), tr.querySelector('[data-field=phase]').textContent]);"
        )
    };
    let (status, account) = get_json(&base, &format!("/v1/accounts/{tenant}")).await;
    assert_eq!(status, 200, "{account}");
    let a = &account["data"];
    let as_rows = |leases: &Value| -> Value {
        json!(leases.as_array().unwrap().iter().map(|l| json!([l["lease_id"], l["phase"]])).collect::<Vec<_>>())
    };
    let newest_first = |rows: Value| json!(rows.as_array().unwrap().iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(
        as_rows(&a["leases"]),
        newest_first(tenants),
        "the account's leases are the tenant's, newest first: {a}"
    );
    browser.open(&format!("/accounts/{tenant}")).await;
    browser.assert_clean("account, a tenant", &account["block"]).await;
    assert_eq!(browser.js(&account_rows("tenant-leases")).await, as_rows(&a["leases"]), "account: as a tenant");
    // Each lease's refund on notice now, in units, is the API's.
    for lease in a["leases"].as_array().unwrap() {
        let id = &lease["lease_id"];
        let text = browser.text(&format!("#tenant-leases tr[data-lease='{id}'] [data-field=refund_on_notice]")).await;
        assert_eq!(
            raw_units(&text, 6).0,
            amount(&lease["refund_on_notice"]),
            "lease {id}: refund on notice ({text:?})"
        );
    }
    assert!(
        a["leases"].as_array().unwrap().iter().any(|l| amount(&l["refund_on_notice"]) > 0),
        "a running lease would hand back escrow on notice: {a}"
    );
    let claimable_shown = async |a: &Value| {
        let claimable = browser.js("return document.querySelectorAll('#claimable tbody tr').length;").await;
        assert_eq!(claimable, a["claimable"].as_array().unwrap().len(), "account: one row per claimable token");
        for balance in a["claimable"].as_array().unwrap() {
            let token: Address = balance["token"].as_str().unwrap().parse().unwrap();
            let text = browser.text(&format!("#claimable tr[data-token='{token}'] [data-field=claimable]")).await;
            let decimals = market.manifest.stablecoin_at(token).unwrap().decimals;
            assert_eq!(raw_units(&text, decimals).0, amount(&balance["claimable"]), "account: claimable ({text:?})");
        }
    };
    claimable_shown(a).await;
    let provider = l3["data"]["provider"].as_str().unwrap().to_owned();
    let (_, provider_account) = get_json(&base, &format!("/v1/accounts/{provider}")).await;
    let p = &provider_account["data"];
    assert_eq!(p["provider"], true, "{p}");
    assert_eq!(
        as_rows(&p["provider_leases"]),
        newest_first(json!(api_leases(&format!("?provider={provider}")).await)),
        "a provider's leases, newest first"
    );
    browser.open(&format!("/accounts/{provider}")).await;
    browser.assert_clean("account, a provider", &provider_account["block"]).await;
    assert_eq!(
        browser.js(&account_rows("provider-leases")).await,
        as_rows(&p["provider_leases"]),
        "account: as a provider"
    );
    assert!(!p["claimable"].as_array().unwrap().is_empty(), "the provider was paid: {p}");
    claimable_shown(p).await;
    assert_eq!(
        browser.attr("#provider-page", "href").await,
        format!("/providers/{}", provider.parse::<Address>().unwrap())
    );
    browser.screenshot("account.png").await;
    let (status, refused) = get_json(&base, "/v1/accounts/0x1234").await;
    assert_eq!(status, 400, "{refused}");
    let (status, stranger) = get_json(&base, &format!("/v1/accounts/{}", Address::repeat_byte(0x42))).await;
    assert_eq!(status, 200, "{stranger}");
    assert_eq!(
        (&stranger["data"]["provider"], stranger["data"]["leases"].as_array().map(Vec::len)),
        (&json!(false), Some(0)),
        "an address the market never saw is an empty account"
    );

    let offer_rows = "return [...document.querySelectorAll('#offers tbody tr')].map(tr => Number(tr.dataset.offer));";
    let api_offers = async |query: &str| -> Value {
        let (status, page) = get_json(&base, &format!("/v1/offers{query}")).await;
        assert_eq!(status, 200, "{page}");
        json!(page["data"].as_array().unwrap().iter().map(|o| o["offer_id"].clone()).collect::<Vec<_>>())
    };
    browser.open("/offers").await;
    browser.assert_clean("offers", &stats["block"]).await;
    let all_offers = browser.js(offer_rows).await;
    assert_eq!(all_offers, api_offers("").await, "offers: /v1/offers's rows");
    assert!(all_offers.as_array().unwrap().len() >= 4, "{all_offers}");
    browser.open(&format!("/offers?token={usdc}&max_price_per_hour=54")).await;
    browser.assert_clean("offers, max price", &stats["block"]).await;
    let cheap = browser.js(offer_rows).await;
    assert_eq!(cheap, api_offers(&format!("?token={usdc}&max_price=15000")).await, "offers: max. price per hour 54");
    assert!(
        !cheap.as_array().unwrap().is_empty() && cheap.as_array().unwrap().len() < all_offers.as_array().unwrap().len(),
        "some offers cost more than 54 USDC/h: {cheap} of {all_offers}"
    );
    browser.open("/offers?available=true").await;
    browser.assert_clean("offers, available", &stats["block"]).await;
    assert_eq!(browser.js(offer_rows).await, api_offers("?available=true").await, "offers: available only");
    browser.screenshot("offers.png").await;

    // ── One provider: the best one, whose record has a finished lease. ──
    let best_provider = by_reputation[0].0;
    let (status, detail) = get_json(&base, &format!("/v1/providers/{best_provider}")).await;
    assert_eq!(status, 200, "{detail}");
    browser.open(&format!("/providers/{best_provider}")).await;
    browser.assert_clean("provider", &detail["block"]).await;
    let d = &detail["data"];
    assert_eq!(browser.text("#address").await.parse::<Address>().unwrap(), best_provider);
    let bps = d["reputation_bps"].as_u64().unwrap();
    assert_eq!(browser.attr("#reputation", "data-value").await, bps.to_string(), "provider: reputation");
    assert_eq!(browser.text("#reputation").await, bps_text(bps), "provider: reputation as shown");
    let ratio = d["delivered_ratio"].as_f64().expect("a delivered ratio: the provider finished a lease");
    let delivered = browser.text("#delivered").await;
    let expected =
        format!("{:.1}% of what accrued was paid, over {} finished leases", ratio * 100.0, d["leases_finished"]);
    assert_eq!(delivered, expected, "provider: delivered");
    let offers = browser.js("return document.querySelectorAll('#offers tbody tr').length;").await;
    assert_eq!(offers, d["offers"].as_array().unwrap().len(), "provider: one row per offer");
    let stakes = browser.js("return document.querySelectorAll('#stakes tbody tr').length;").await;
    assert_eq!(stakes, d["stakes"].as_array().unwrap().len(), "provider: one row per stake");
    browser.screenshot("provider.png").await;

    // ── One lease: open, settled in part. ──
    let (status, lease) = get_json(&base, &format!("/v1/leases/{L3}")).await;
    assert_eq!(status, 200, "{lease}");
    browser.open(&format!("/leases/{L3}")).await;
    browser.assert_clean("lease", &lease["block"]).await;
    let l = &lease["data"];
    let token: Address = l["token"].as_str().unwrap().parse().unwrap();
    let decimals = market.manifest.stablecoin_at(token).unwrap().decimals;
    for (css, field) in [
        ("#deposit", "deposit"),
        ("#settled", "settled"),
        ("#in-escrow", "escrow"),
        ("#refund-now", "escrow"),
        ("#refund-served", "refund_if_served"),
    ] {
        let text = browser.text(css).await;
        assert_eq!(raw_units(&text, decimals).0, amount(&l[field]), "lease: {field} ({text:?})");
    }
    assert!(amount(&l["settled"]) > 0, "the lease was settled in part: {l}");
    let status = browser.text("#status").await;
    // The page says the phase in the API's words (and the CLI's: one `LeasePhase`).
    assert!(status.starts_with(l["phase"].as_str().unwrap()), "lease: status {status:?}");
    // The demand stands unanswered: the phase says so, and when the provider may evict.
    assert_eq!(l["phase"], LeasePhase::PaymentDemanded.as_str(), "{l}");
    assert_eq!(l["demand_answered"], false, "{l}");
    assert!(status.contains("payment demanded, evictable at"), "lease: status {status:?}");
    let due = browser.text("#demand-due").await;
    assert_eq!(raw_units(&due, decimals).0, amount(&l["demand_due"]), "lease: demand due ({due:?})");
    assert!(amount(&l["demand_due"]) > amount(&l["settled"]), "the demand is for more than was settled: {l}");
    assert!(browser.text("#demand-answer").await.starts_with("unanswered; evictable at"), "lease: the answer");
    let delivered = browser.text("#delivered").await;
    let bps = l["delivered_bps"].as_u64().expect("something accrued");
    assert!(delivered.starts_with(&bps_text(bps)), "lease: delivered {delivered:?}, the API's {bps} bps");
    let settlements = browser.js("return document.querySelectorAll('#settlements tbody tr').length;").await;
    assert_eq!(settlements, l["settlements"].as_array().unwrap().len(), "lease: one row per settlement");
    browser.screenshot("lease.png").await;

    // ── The live feed: a settlement shows at the top of #feed within two blocks, without a reload. ──
    browser.open("/").await;
    browser.js("window.sameDocument = true; return null;").await;
    let feed = "return [...document.querySelectorAll('#feed tbody tr')].slice(0, 3).map(tr =>
                  [Number(tr.cells[0].textContent), Number(tr.dataset.block), tr.cells[2].textContent, tr.className,
                   tr.cells.length, tr.cells[6].querySelector('code') !== null,
                   tr.cells[3].querySelector('a') && tr.cells[3].querySelector('a').getAttribute('href'),
                   [...tr.cells[4].querySelectorAll('a')].map(a => a.getAttribute('href')),
                   tr.cells[5].textContent]);";
    let before = browser.js(feed).await;
    let newest = before[0][0].as_u64().unwrap();
    // Let the page's event stream connect before the block comes, as a reader's would have.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (receipt, provider) = market.tenant_receipt(L4, 7_500 * 8_000).await;
    let sent = Instant::now();
    market.must(None, market.market.settle(receipt).from(provider), "settle L4 live").await;
    let block = market.provider.get_block_number().await.unwrap();
    let rows = loop {
        let rows = browser.js(feed).await;
        if rows[0][0].as_u64().unwrap() > newest {
            break rows;
        }
        assert!(
            sent.elapsed() < 2 * DEVNET_BLOCK,
            "no new row in #feed {:?} after the settlement: {rows}",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("the settlement showed in #feed {:?} after it was sent", sent.elapsed());
    assert_eq!(rows[0][2], "LeaseSettled", "the new top row is the settlement: {rows}");
    assert_eq!(rows[0][1], block, "the settlement's block: {rows}");
    assert_eq!(rows[0][3], "new", "a live row is marked new: {rows}");
    assert_eq!(
        (&rows[0][4], &rows[0][5]),
        (&json!(7), &json!(true)),
        "a live row is shaped as the rendered ones: {rows}"
    );
    assert_eq!(rows[0][6], format!("/leases/{L4}"), "the row links its lease: {rows}");
    let signer = market.market.lease(alloy::primitives::U256::from(L4)).call().await.unwrap().tenant;
    assert_eq!(rows[0][7], json!([format!("/accounts/{signer:#x}")]), "and the receipt's signer: {rows}");
    assert_eq!(rows[0][0], newest + 1, "the next event after the rendered ones: {rows}");
    // The amount, in the lease's token once the script has learnt it: as the server renders it.
    let live_amount = loop {
        let rows = browser.js(feed).await;
        let text = rows[0][8].as_str().unwrap().to_owned();
        if !text.contains("(raw)") {
            break text;
        }
        assert!(sent.elapsed() < 2 * DEVNET_BLOCK, "the live row's amount stayed in raw units: {rows}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(live_amount.starts_with("paid ") && live_amount.ends_with(" USDC"), "{live_amount}");
    assert_eq!(browser.js("return window.sameDocument === true;").await, true, "the page was not reloaded");
    assert_eq!(browser.text("#block-number").await, block.to_string(), "the block line follows the feed");
    let severe: Vec<Value> = browser.console_log().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(severe.is_empty(), "market, live: console errors: {severe:#?}");
    browser.screenshot("market.png").await;
    browser.open("/").await;
    let rendered = browser.js(feed).await;
    assert_eq!(rendered[0][0], newest + 1, "{rendered}");
    assert_eq!(
        (&rendered[0][6], &rendered[0][7], &rendered[0][8]),
        (&json!(format!("/leases/{L4}")), &rows[0][7], &json!(live_amount)),
        "the server renders the row the script drew"
    );

    // ── A phone: the providers page fits the width; its table scrolls inside `.scroll`. ──
    browser.client.set_window_size(390, 844).await.unwrap();
    let stats = synced(&base, &market).await;
    browser.open("/providers").await;
    browser.assert_clean("providers, phone", &stats["block"]).await;
    let widths = browser
        .js("const scroll = document.querySelector('#providers').closest('.scroll');
             return [document.documentElement.scrollWidth, window.innerWidth, scroll.scrollWidth, scroll.clientWidth];")
        .await;
    let [page, viewport, table, frame] = [0, 1, 2, 3].map(|i| widths[i].as_u64().unwrap());
    assert!(viewport <= 400, "a phone's viewport: {widths}");
    assert!(page <= viewport, "the page is no wider than the phone's viewport: {widths}");
    assert!(table > frame, "the table scrolls inside its frame: {widths}");
    browser.screenshot("providers-phone.png").await;

    ingesting.abort();
    browser.client.close().await.unwrap();
}
