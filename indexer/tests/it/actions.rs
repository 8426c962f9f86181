//! Actions through a user's own wallet: `POST /v1/actions/{action}` against a real anvil, its
//! refusals in words and its bounds; a prepared call signed and sent by an anvil account lands.
//! Then the console in headless Chromium with an injected EIP-1193 wallet that forwards to anvil
//! (whose dev accounts are unlocked, so anvil signs): each action lands on chain and the page shows
//! it within two blocks.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    dyn_abi::TypedData,
    primitives::{Address, Bytes, U256, hex},
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::SignerSync,
    sol_types::SolCall,
    transports::http::reqwest,
};
use fantoccini::Locator;
use openlease_contracts::{MockStablecoin, Openlease};
use openlease_indexer::{
    actions::{self, ActionsState},
    api::{self, ApiState},
    console::{self, ConsoleState},
    metrics::Metrics,
};
use serde_json::{Value, json};

use crate::{
    console::{Browser, synced},
    util::{Db, Market, fresh_db, ingestor, test_config},
};

const TENANT: usize = 4;
const PROVIDER: usize = 1;

/// Serves the action routes alone.
async fn serve_actions(state: ActionsState) -> String {
    let app = actions::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn post(base: &str, action: &str, body: String) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/actions/{action}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), retry)
}

/// The refusal an action gets: its status and its words.
async fn refusal(base: &str, action: &str, body: Value) -> (u16, String) {
    let (status, answer, _) = post(base, action, body.to_string()).await;
    assert_ne!(status, 200, "{action} {body}: refused, not {answer}");
    let error = answer["error"].as_str().unwrap_or_else(|| panic!("the API's error shape: {answer}"));
    assert_eq!(answer.as_object().unwrap().len(), 1, "one field, `error`: {answer}");
    (status, error.to_owned())
}

/// Sends the one `send_transaction` step of `steps` as its `from` (anvil signs) and returns the
/// receipt's logs of the market.
async fn send_step(market: &Market, step: &Value) -> alloy::rpc::types::TransactionReceipt {
    assert_eq!(step["kind"], "send_transaction", "{step}");
    let tx = &step["transaction"];
    assert_eq!(tx["chainId"], format!("{:#x}", market.manifest.chain_id), "{step}");
    let request = TransactionRequest::default()
        .from(tx["from"].as_str().unwrap().parse().unwrap())
        .to(tx["to"].as_str().unwrap().parse::<Address>().unwrap())
        .input(tx["data"].as_str().unwrap().parse::<Bytes>().unwrap().into());
    let receipt = market.provider.send_transaction(request).await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "{step} landed");
    receipt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_refuse_in_words_and_prepare_calls_that_land() {
    let market = Market::new(23).await;
    let base = serve_actions(ActionsState::new(market.provider.clone(), market.manifest.clone())).await;
    let tenant = market.account(TENANT);
    let open = |offer: &str, duration: &str, deposit: &str| json!({ "from": tenant, "offer_id": offer, "duration": duration, "deposit": deposit });

    // A request that would read the node more than its budget is stopped.
    let tight = ActionsState::new(market.provider.clone(), market.manifest.clone()).with_reads(3);
    let tight = serve_actions(tight).await;
    let (status, words) = refusal(&tight, "open_lease", open("1", "2h", "0.036")).await;
    assert_eq!(
        (status, words.as_str()),
        (500, "preparing this action needed more node reads than one request may make: it was stopped")
    );

    // Documented with the other routes.
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let route = &doc["paths"]["/v1/actions/{action}"]["post"];
    assert!(route["responses"]["422"].is_object() && route["responses"]["503"].is_object(), "{route}");

    // Offer 1: 10 raw units (of 6-decimal USDC) a second, 60 s to 30 days.
    let (status, words) = refusal(&base, "open_lease", open("99", "1h", "1")).await;
    assert_eq!((status, words.as_str()), (404, "offer 99 does not exist"));
    let (status, words) = refusal(&base, "open_lease", open("1", "1h", "1.2.3")).await;
    assert_eq!(status, 400);
    assert!(words.starts_with("deposit: ") && words.contains("1.2.3"), "{words}");
    let (status, words) = refusal(&base, "open_lease", open("1", "1h", "1 DAI")).await;
    assert_eq!(status, 400, "an amount in another token than the offer's: {words}");
    let (status, words) = refusal(&base, "open_lease", open("1", "1h", "0.0001")).await;
    assert_eq!(status, 422);
    assert_eq!(words, "a deposit of 0.0001 USDC is below the 0.0006 USDC required");
    let (status, words) = refusal(&base, "open_lease", open("1", "1h", "1")).await;
    assert_eq!(status, 422);
    assert!(
        words.starts_with("a deposit of 1 USDC is more than a 1h lease of offer 1 can ever use: 1h at 0.00001 USDC per second is 0.036 USDC in all"),
        "{words}"
    );
    let (status, words) = refusal(&base, "open_lease", open("1", "31d", "0.036")).await;
    assert_eq!((status, words.as_str()), (422, "a duration of 31d is outside the offer's 1m to 30d"));
    let stranger = json!({ "from": "0x12", "offer_id": "1", "duration": "1h", "deposit": "0.036" });
    let (status, words) = refusal(&base, "open_lease", stranger).await;
    assert_eq!((status, words.as_str()), (400, "from: `0x12` is not an address (0x and 40 hex digits)"));
    let (status, words) = refusal(&base, "top_up", json!({ "from": tenant, "lease_id": "7", "amount": "1" })).await;
    assert_eq!((status, words.as_str()), (404, "lease 7 does not exist"));
    let (status, words) = refusal(&base, "withdraw_everything", json!({ "from": tenant })).await;
    assert_eq!(status, 404);
    assert!(words.starts_with("no action `withdraw_everything`"), "{words}");
    // The path is checked before the body: an unknown action is named as such, whatever was sent.
    let (status, words) = refusal(&base, "explode", json!({})).await;
    assert_eq!(status, 404);
    assert!(words.starts_with("no action `explode`: open_lease, top_up"), "{words}");
    let (status, words) = refusal(&base, "claim", json!({ "from": tenant, "token": "USDC" })).await;
    assert_eq!((status, words.as_str()), (422, format!("nothing to claim: {tenant} has no claimable USDC").as_str()));
    let not_provider = json!({ "from": tenant, "offer_id": "1", "paused": true });
    let (status, words) = refusal(&base, "set_offer_paused", not_provider).await;
    assert_eq!((status, words.as_str()), (422, format!("{tenant} is not the provider of offer 1").as_str()));
    let (status, answer, _) = post(&base, "open_lease", format!("{{\"from\": \"{}\"}}", "a".repeat(8_000))).await;
    assert_eq!(status, 413, "a body above the limit: {answer}");

    // A lease opened with a permit: the typed data signed by the tenant's key, sent back, and the
    // opening it gives sent by the tenant.
    let (status, plan, _) = post(&base, "open_lease", open("1", "2h", "0.036").to_string()).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["chain_id"], market.manifest.chain_id);
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{plan}");
    assert_eq!(steps[0]["kind"], "sign_typed_data", "USDC has a permit: {plan}");
    let typed: TypedData = serde_json::from_value(steps[0]["typed_data"].clone()).unwrap();
    let signature = market.key(TENANT).sign_hash_sync(&typed.eip712_signing_hash().unwrap()).unwrap();
    let mut again = steps[0]["resubmit"].clone();
    again["permit"]["signature"] = json!(hex::encode_prefixed(signature.as_bytes()));
    let (status, signed, _) = post(&base, "open_lease", again.to_string()).await;
    assert_eq!(status, 200, "{signed}");
    let receipt = send_step(&market, &signed["steps"][0]).await;
    let opened = receipt.decoded_log::<Openlease::LeaseOpened>().expect("a LeaseOpened event");
    assert_eq!((opened.tenant, opened.offerId), (tenant, U256::from(1)));
    let lease = opened.leaseId;
    let terms = market.market.lease(lease).call().await.unwrap();
    assert_eq!(U256::from(terms.deposit), U256::from(36_000), "the deposit signed for is the one escrowed");
    // A second signature of the same permit: its nonce is spent, the market says so in words.
    let (status, _) = refusal(&base, "open_lease", again.clone()).await;
    assert_eq!(status, 422, "a spent permit is refused before it is sent");

    // Top-ups past the whole term are refused; the rest is prepared and lands.
    let top_up = |amount: &str| json!({ "from": tenant, "lease_id": lease.to_string(), "amount": amount });
    let (status, words) = refusal(&base, "top_up", top_up("1")).await;
    assert_eq!(status, 422);
    assert!(
        words.starts_with(&format!("a top-up of 1 USDC is more than lease {lease} can use: 0.036 USDC more")),
        "{words}"
    );
    let (status, plan, _) = post(&base, "top_up", top_up("0.01").to_string()).await;
    assert_eq!(status, 200, "{plan}");
    let steps = plan["steps"].as_array().unwrap();
    // The permit replaced the allowance Market::new gave, and the opening spent it: approve first.
    assert_eq!(steps.len(), 2, "{plan}");
    assert_eq!(steps[0]["transaction"]["to"], json!(market.usdc), "an approval of USDC first: {plan}");
    for step in steps {
        send_step(&market, step).await;
    }
    let terms = market.market.lease(lease).call().await.unwrap();
    assert_eq!(U256::from(terms.deposit), U256::from(46_000));

    // Notice, by a stranger refused, by the tenant landing.
    let stranger = market.account(5);
    let (status, words) =
        refusal(&base, "close_lease", json!({ "from": stranger, "lease_id": lease.to_string() })).await;
    assert_eq!(
        (status, words),
        (422, format!("{stranger} is neither the tenant nor the provider of lease {lease}: only they may give notice"))
    );
    let (status, plan, _) =
        post(&base, "close_lease", json!({ "from": tenant, "lease_id": lease.to_string() }).to_string()).await;
    assert_eq!(status, 200, "{plan}");
    let receipt = send_step(&market, &plan["steps"][0]).await;
    assert!(receipt.decoded_log::<Openlease::LeaseClosed>().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_queue_more_than_the_gate_lets_through() {
    // A node that takes connections and never answers: every request holds its turn until the
    // deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || silent.incoming().take(64).map(|c| c.unwrap()).collect::<Vec<_>>());
    let anvil = openlease_testkit::spawn_anvil();
    let manifest = openlease_testkit::deploy_market(&anvil).await;
    let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(url.parse().unwrap()).erased();
    let base = serve_actions(ActionsState::new(provider, manifest)).await;

    let body =
        json!({ "from": Address::repeat_byte(7), "offer_id": "1", "duration": "1h", "deposit": "1" }).to_string();
    let started = Instant::now();
    let waiting: Vec<_> = (0..actions::CONCURRENT)
        .map(|_| {
            tokio::spawn({
                let (base, body) = (base.clone(), body.clone());
                async move { post(&base, "open_lease", body).await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, answer, retry) = post(&base, "open_lease", body.clone()).await;
    assert_eq!(status, 503, "the gate is full: {answer}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(answer, json!({ "error": "busy preparing other actions: try again shortly" }));
    for request in waiting {
        let (status, answer, _) = request.await.unwrap();
        assert_eq!(status, 504, "{answer}");
        assert_eq!(answer, json!({ "error": "the node took too long to answer: try again" }));
    }
    let waited = started.elapsed();
    assert!(waited >= actions::DEADLINE && waited < actions::DEADLINE + Duration::from_secs(5), "{waited:?}");
    drop(held);
}

/// How the test's wallet shows itself to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wallet {
    /// None at all.
    Missing,
    /// As `window.ethereum`.
    Injected,
    /// Through an EIP-6963 announcement only.
    Announced,
    /// As `window.ethereum`, on another chain (1) until the page asks to switch.
    OnAnotherChain,
}

/// An EIP-1193 wallet for the page, defined once the page has loaded (the page must look its
/// wallet up when a form is used): its account is `account`, every other request goes to anvil,
/// which signs for its unlocked dev accounts. A switch of chain is recorded in the session's
/// storage (the page reloads after an action).
fn inject_wallet(account: Address, anvil: &str, how: Wallet) -> String {
    let expose = match how {
        Wallet::Announced => {
            "window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({
               info: { uuid: '6f3c1c52-0000-4000-8000-000000000001', name: 'Test wallet', icon: 'data:,', rdns: 'test.wallet' },
               provider: wallet }) }));"
        }
        _ => "window.ethereum = wallet;",
    };
    let chain = if how == Wallet::OnAnotherChain { "\"0x1\"" } else { "null" };
    format!(
        r#"let chain = {chain};
           const wallet = {{
             request: async ({{ method, params }}) => {{
               if (method === "eth_requestAccounts" || method === "eth_accounts") return ["{account}"];
               if (method === "eth_chainId" && chain) return chain;
               if (method === "wallet_switchEthereumChain") {{
                 chain = null;
                 sessionStorage.setItem("switched-to", params[0].chainId);
                 return null;
               }}
               const response = await fetch("{anvil}", {{
                 method: "POST",
                 headers: {{ "content-type": "application/json" }},
                 body: JSON.stringify({{ jsonrpc: "2.0", id: 1, method, params: params || [] }}),
               }});
               const answer = await response.json();
               if (answer.error) {{ const e = new Error(answer.error.message); e.code = answer.error.code; throw e; }}
               return answer.result;
             }},
           }};
           {expose}
           return null;"#
    )
}

/// What an action did, as the page showed it once the indexer had it.
#[derive(Debug)]
struct Shown {
    tx: alloy::primitives::B256,
}

struct Console<'a> {
    browser: &'a Browser,
    market: &'a Market,
    anvil: String,
}

impl Console<'_> {
    /// Opens `path` with `account`'s wallet, fills `form`'s fields and submits it: waits until the
    /// page shows the action done (the form's refusal fails the test), within two blocks of the
    /// block the chain was at when the form was sent.
    async fn act(&self, path: &str, account: usize, form: &str, fields: &[(&str, &str)]) -> Shown {
        self.act_with(Wallet::Injected, path, account, form, fields).await
    }

    async fn act_with(&self, wallet: Wallet, path: &str, account: usize, form: &str, fields: &[(&str, &str)]) -> Shown {
        self.fill_and_submit(wallet, path, account, form, fields).await;
        let sent_at = self.market.provider.get_block_number().await.unwrap();
        let clock = Instant::now();
        let probe = format!(
            "const r = document.querySelector('#action-result');
             const out = document.querySelector(\"{form} output\");
             return [r && r.dataset.tx, r && Number(r.dataset.block), out && out.className, out && out.textContent,
                     r && Number(r.dataset.sentAt)];"
        );
        loop {
            let state = self.browser.js(&probe).await;
            if let Some(tx) = state[0].as_str() {
                let shown_at = self.market.provider.get_block_number().await.unwrap();
                let (mined, last_sent_at) = (state[1].as_u64().unwrap(), state[4].as_u64().unwrap());
                eprintln!(
                    "{form} on {path}: sent at block {sent_at} (its last transaction at {last_sent_at}), mined in \
                     {mined}, shown at {shown_at}, {:?} after it was sent",
                    clock.elapsed()
                );
                assert!(mined > last_sent_at && last_sent_at >= sent_at, "{form}: mined after it was sent");
                // An action of one transaction is shown within two blocks of the form's sending;
                // one with approvals first, within two blocks of its last transaction's.
                assert!(
                    shown_at <= last_sent_at + 2,
                    "{form}: its last transaction sent at block {last_sent_at}, shown at block {shown_at}: more than two blocks"
                );
                return Shown { tx: tx.parse().unwrap() };
            }
            assert!(!state[2].as_str().unwrap_or("").contains("error"), "{form} on {path}: {}", state[3]);
            assert!(clock.elapsed() < Duration::from_secs(20), "{form} on {path}: not shown: {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fill_and_submit(&self, wallet: Wallet, path: &str, account: usize, form: &str, fields: &[(&str, &str)]) {
        self.browser.open(path).await;
        if wallet != Wallet::Missing {
            self.browser.js(&inject_wallet(self.market.account(account), &self.anvil, wallet)).await;
        }
        for (name, value) in fields {
            let set = format!("document.querySelector(\"{form} [name={name}]\").value = {value:?}; return null;");
            self.browser.js(&set).await;
        }
        let button = self.browser.client.find(Locator::Css(&format!("{form} button"))).await.unwrap();
        assert!(button.is_enabled().await.unwrap(), "{form}: the script enabled its button");
        button.click().await.unwrap();
    }

    /// Submits `form` and returns the words it was refused with.
    async fn refused(&self, wallet: Wallet, path: &str, account: usize, form: &str, fields: &[(&str, &str)]) -> String {
        self.fill_and_submit(wallet, path, account, form, fields).await;
        let probe =
            format!("const out = document.querySelector(\"{form} output\"); return [out.className, out.textContent];");
        let clock = Instant::now();
        loop {
            let state = self.browser.js(&probe).await;
            if state[0].as_str().unwrap().contains("error") {
                return state[1].as_str().unwrap().to_owned();
            }
            assert!(clock.elapsed() < Duration::from_secs(10), "{form}: not refused: {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_in_a_browser_through_an_injected_wallet() {
    let Some((url, _guard)) = fresh_db(Db::Sqlite, "actions_browser").await else { return };
    let market = Market::new(29).await;
    let (store, ingestor) = ingestor(&market, &url, test_config()).await;
    let notices = tokio::sync::broadcast::channel(4096).0;
    let _ingesting = tokio::spawn(ingestor.with_notices(notices.clone()).run());
    let state = ApiState { store, metrics: Arc::new(Metrics::default()), max_lag: 10, max_head_age: 15, notices };
    let app = api::router(state.clone())
        .merge(console::router(ConsoleState::new(state, &market.manifest.stablecoins)))
        .merge(actions::router(ActionsState::new(market.provider.clone(), market.manifest.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Blocks every second from now on, as on a devnet: "two blocks" is a time.
    market.provider.anvil_set_interval_mining(1).await.unwrap();
    synced(&base, &market).await;
    let browser = Browser::start(&base).await;
    let anvil = market.anvil.endpoint();
    let ui = Console { browser: &browser, market: &market, anvil };
    let (usdc, m) = (market.usdc, &market.market);
    let (p1, tenant) = (market.account(PROVIDER), market.account(TENANT));

    // Without JavaScript the forms cannot be sent: their buttons are disabled in the page itself.
    let html = reqwest::get(format!("{base}/offers")).await.unwrap().text().await.unwrap();
    assert!(html.contains("<button type=\"submit\" disabled>Lease</button>"), "{html}");
    // Without a wallet the page says one is needed.
    let words = ui
        .refused(
            Wallet::Missing,
            "/offers",
            TENANT,
            "tr[data-offer='2'] form[data-action=open_lease]",
            &[("duration", "1h"), ("deposit", "0.0396")],
        )
        .await;
    assert_eq!(words, "A browser wallet is needed (MetaMask, Rabby…): none was found, so this page is read-only.");

    // ── The provider: stakes, publishes an offer, pauses it. ──
    let before = m.stakeOf(p1, usdc).call().await.unwrap().staked;
    let account_page = format!("/accounts/{p1}");
    ui.act(&account_page, PROVIDER, "form[data-action=stake]", &[("amount", "100 USDC")]).await;
    let after = m.stakeOf(p1, usdc).call().await.unwrap().staked;
    assert_eq!(U256::from(after - before), U256::from(100_000_000u64), "100 USDC staked");

    let publish = [
        ("price", "0.036 USDC/h"),
        ("min_duration", "1m"),
        ("max_duration", "30d"),
        ("notice_period", "1h"),
        ("capacity", "5"),
    ];
    let shown = ui.act(&account_page, PROVIDER, "form[data-action=publish_offer]", &publish).await;
    let receipt = market.provider.get_transaction_receipt(shown.tx).await.unwrap().unwrap();
    let published = receipt.decoded_log::<Openlease::OfferPublished>().expect("OfferPublished");
    let offer = published.offerId;
    let terms = m.offer(offer).call().await.unwrap();
    assert_eq!((terms.provider, terms.pricePerSecond, terms.capacity, terms.paused), (p1, 10, 5, false));

    let row = format!("tr[data-offer='{offer}']");
    // A wallet that only announces itself (EIP-6963) is found too.
    let offers_page = format!("/offers?provider={p1}");
    let pause = format!("{row} form[data-action=set_offer_paused]");
    ui.act_with(Wallet::Announced, &offers_page, PROVIDER, &pause, &[]).await;
    assert!(m.offer(offer).call().await.unwrap().paused, "paused on chain");
    assert_eq!(browser.text(&format!("{row} [data-field=state]")).await, "paused", "the page shows it paused");

    // ── The tenant: opens a lease on offer 2 (11 raw units a second) with a permit, is refused a
    // top-up past the whole term, tops up, gives notice, and claims the refund. ──
    let shown = ui
        .act(
            "/offers",
            TENANT,
            "tr[data-offer='2'] form[data-action=open_lease]",
            &[("duration", "2h"), ("deposit", "0.0396")],
        )
        .await;
    let tx = market.provider.get_transaction_by_hash(shown.tx).await.unwrap().unwrap();
    use alloy::consensus::Transaction as _;
    assert_eq!(&tx.input()[..4], Openlease::openLeaseWithPermitCall::SELECTOR.as_slice(), "opened with a permit");
    let receipt = market.provider.get_transaction_receipt(shown.tx).await.unwrap().unwrap();
    let lease = receipt.decoded_log::<Openlease::LeaseOpened>().expect("LeaseOpened").leaseId;
    assert_eq!(m.lease(lease).call().await.unwrap().tenant, tenant);
    assert_eq!(browser.text("tr[data-offer='2'] td:nth-child(8)").await, "1 / 20", "the page counts the lease");

    let lease_page = format!("/leases/{lease}");
    let words = ui.refused(Wallet::Injected, &lease_page, TENANT, "form[data-action=top_up]", &[("amount", "1")]).await;
    assert!(
        words.starts_with(&format!(
            "Refused: a top-up of 1 USDC is more than lease {lease} can use: 0.0396 USDC more pays for its whole term"
        )),
        "{words}"
    );
    // The refusal's 422 is the one error the browser logged.
    let logged: Vec<Value> = browser.console_log().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(
        logged.len() == 1
            && logged[0]["message"]
                .as_str()
                .unwrap()
                .contains("/v1/actions/top_up - Failed to load resource: the server responded with a status of 422"),
        "{logged:#?}"
    );
    ui.act(&lease_page, TENANT, "form[data-action=top_up]", &[("amount", "0.01")]).await;
    assert_eq!(U256::from(m.lease(lease).call().await.unwrap().deposit), U256::from(49_600));
    assert_eq!(browser.text("#deposit").await, "0.0496 USDC", "the page shows the new deposit");

    ui.act(&lease_page, TENANT, "form[data-action=close_lease]", &[]).await;
    assert!(browser.text("#status").await.contains("by the tenant"), "{}", browser.text("#status").await);

    // The provider is paid for a few seconds of service (its share becomes its to claim) ...
    let (receipt, lease_provider) = market.tenant_receipt(lease.to::<u64>(), 3 * 11).await;
    market.must(None, m.settle(receipt).from(lease_provider), "settle three seconds of the lease").await;
    // ... and after the lease's end and its settlement window anyone finalizes it: the rest of the
    // escrow becomes the tenant's to claim.
    market.provider.anvil_increase_time(4 * 3_600).await.unwrap();
    market.must(None, m.finalizeLease(lease).from(market.account(0)), "finalize the lease").await;
    let claimable = m.claimable(tenant, usdc).call().await.unwrap();
    assert!(!claimable.is_zero());
    synced(&base, &market).await;
    let balance = MockStablecoin::new(usdc, market.provider.clone()).balanceOf(tenant).call().await.unwrap();
    // A wallet on another chain is asked to switch to the market's first.
    ui.act_with(
        Wallet::OnAnotherChain,
        &format!("/accounts/{tenant}"),
        TENANT,
        &format!("#claimable tr[data-token='{usdc}'] form[data-action=claim]"),
        &[],
    )
    .await;
    let switched = browser.js("return sessionStorage.getItem('switched-to');").await;
    assert_eq!(switched, json!(format!("{:#x}", market.manifest.chain_id)), "the page asked the wallet to switch");
    let now = MockStablecoin::new(usdc, market.provider.clone()).balanceOf(tenant).call().await.unwrap();
    assert_eq!(now - balance, claimable, "the claimable balance was paid to the tenant");
    assert!(m.claimable(tenant, usdc).call().await.unwrap().is_zero());

    // The provider claims its earnings the same way.
    assert_eq!(lease_provider, market.account(2), "offer 2 is account 2's");
    let earned = m.claimable(lease_provider, usdc).call().await.unwrap();
    assert!(!earned.is_zero());
    let balance = MockStablecoin::new(usdc, market.provider.clone()).balanceOf(lease_provider).call().await.unwrap();
    let claim = format!("#claimable tr[data-token='{usdc}'] form[data-action=claim]");
    ui.act(&format!("/accounts/{lease_provider}"), 2, &claim, &[]).await;
    let now = MockStablecoin::new(usdc, market.provider.clone()).balanceOf(lease_provider).call().await.unwrap();
    assert_eq!(now - balance, earned, "the provider's earnings were paid to it");

    let severe: Vec<Value> = browser.console_log().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(severe.is_empty(), "console errors: {severe:#?}");
}
