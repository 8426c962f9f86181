//! The gateway on anvil in front of a real HTTP service: every refusal with its status and code,
//! a tenant who stops paying refused at the credit limit, and a gateway killed with SIGKILL that
//! settles every receipt it acknowledged once it is back (none lost, none twice).

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use axum::Router;
use openlease_client::{Client, LeaseRequest, Manifest, ReceiptSigner, SignerGrant, wire};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore};
use openlease_testkit::TempDir;
use serde_json::Value;

const USDC: u64 = 1_000_000;
const PRICE: u64 = 100;

fn workload() -> Router {
    openlease_gateway::workload::router()
}

/// A day's leases of `deposit` USDC each, a session signer capped at `budget` USDC, three
/// failures before failing over, no fallback, no disputes.
fn session_config(deposit: u64, budget: u64) -> openlease_client::session::SessionConfig {
    openlease_client::session::SessionConfig {
        duration: 86_400,
        deposit: U256::from(deposit * USDC),
        budget: U256::from(budget * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_secs(2),
        fallback: None,
        fallback_cost_per_request: U256::ZERO,
        dispute_dead_providers: false,
        checks: None,
    }
}

async fn listen(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

struct Market {
    anvil: AnvilInstance,
    manifest: Manifest,
    node: DynProvider,
    usdc: Address,
}

impl Market {
    async fn new() -> Self {
        let anvil = openlease_testkit::spawn_anvil();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let node = ProviderBuilder::new().connect_http(anvil.endpoint_url()).erased();
        let usdc = manifest.stablecoin("USDC").unwrap().address;
        Self { anvil, manifest, node, usdc }
    }

    async fn client(&self, index: usize) -> Client<DynProvider> {
        let key = openlease_testkit::key(&self.anvil, index);
        Client::connect(&self.anvil.endpoint(), key, self.manifest.clone()).await.unwrap()
    }

    /// A provider with an offer at 100 raw units per second; returns the offer.
    async fn provider(&self, provider: &Client<DynProvider>) -> U256 {
        provider.send(provider.token(self.usdc).mint(provider.address(), U256::from(10_000 * USDC))).await.unwrap();
        openlease_testkit::publish_demo_offer(provider, self.usdc, PRICE).await
    }

    /// A day's lease of `offer` by `tenant`, whose session signer (account 6) may attest `cap`.
    async fn lease(&self, tenant: &Client<DynProvider>, offer: U256, cap: u64) -> U256 {
        tenant.send(tenant.token(self.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let quote = tenant.offer_quote(offer).await.unwrap();
        let signer = openlease_testkit::key(&self.anvil, 6).address();
        let grant = SignerGrant { signer, cap: U256::from(cap), expires_at: tenant.now().await.unwrap() + 86_400 * 30 };
        let request = LeaseRequest::new(&quote, 86_400, U256::from(8_640_000)).authorizing(grant);
        tenant.open_lease(request).await.unwrap().lease_id
    }

    fn session(&self) -> ReceiptSigner {
        openlease_testkit::receipt_signer(&self.manifest, openlease_testkit::key(&self.anvil, 6))
    }

    async fn advance(&self, seconds: u64) {
        self.node.anvil_increase_time(seconds).await.unwrap();
        self.node.anvil_mine(Some(1), None).await.unwrap();
    }

    async fn now(&self) -> u64 {
        self.client(0).await.now().await.unwrap()
    }

    /// An access grant to `lease` by `signer` for the next ten minutes of chain time.
    async fn access(&self, signer: &ReceiptSigner, lease: U256) -> Option<String> {
        Some(signer.sign_access(lease, self.now().await + 600).unwrap().header())
    }
}

/// A request to the gateway at `address` for `lease`, with `receipt` and `access` (header values)
/// if given.
async fn ask(
    address: SocketAddr,
    lease: Option<&str>,
    receipt: Option<String>,
    access: Option<String>,
) -> (u16, Value, String) {
    let mut request = reqwest::Client::new().get(format!("http://{address}/work/3"));
    if let Some(lease) = lease {
        request = request.header(wire::LEASE_HEADER, lease);
    }
    if let Some(receipt) = receipt {
        request = request.header(wire::RECEIPT_HEADER, receipt);
    }
    if let Some(access) = access {
        request = request.header(wire::ACCESS_HEADER, access);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn receipt(signer: &ReceiptSigner, lease: U256, cumulative: u64) -> String {
    // For service until ten days from now: the market pays what accrued by the time it settles.
    let period_end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 864_000;
    let signed = signer.sign_usage(lease, U256::from(cumulative), B256::ZERO, period_end).unwrap();
    wire::receipt_header(signer.domain(), &signed)
}

/// A tenant that stops paying is evicted by the gateway on its own, the market's way: its book
/// settled first, then a payment demand, then the eviction once the demand went unanswered for
/// the payment grace. The capacity is back on sale, the bond stays locked for the tenant's remedies.
#[tokio::test]
async fn a_gateway_demands_payment_of_a_lease_that_stopped_paying_and_evicts_it_when_unanswered() {
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let lease = m.lease(&tenant, offer, 5 * USDC).await;
    let dir = TempDir::new("gateway-evict");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let config = GatewayConfig { credit_secs: 60, refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
    let address = listen(gateway.serve(workload())).await;
    let (id, session) = (lease.to_string(), m.session());

    // Ten minutes paid by a receipt, then nothing more: refused, and remembered as unpaid.
    m.advance(600).await;
    let paid = 600 * PRICE;
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, paid)), None).await.0, 200);
    m.advance(600).await;
    assert_eq!(ask(address, Some(&id), None, m.access(&session, lease).await).await.0, 402);
    // Within the payment grace nothing is demanded (nothing older than the grace is unpaid).
    gateway.settle_due().await.unwrap();
    let demand = provider.market().paymentDemand(lease).call().await.unwrap();
    assert_eq!(demand.madeAt, 0);
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), U256::from(paid), "its book settled first");

    m.advance(3_600).await;
    gateway.settle_due().await.unwrap();
    let demand = provider.market().paymentDemand(lease).call().await.unwrap();
    assert!(demand.madeAt > 0 && U256::from(demand.due) > U256::from(paid), "demanded: {demand:?}");
    gateway.settle_due().await.unwrap();
    assert_eq!(provider.lease(lease).await.unwrap().status, 1, "not before the grace");

    m.advance(3_600).await;
    gateway.settle_due().await.unwrap();
    let evicted = provider.lease(lease).await.unwrap();
    assert_eq!(evicted.status, openlease_client::status::LeaseStatus::Evicted as u8);
    assert_eq!(provider.offer(offer).await.unwrap().activeLeases, 0, "capacity back on sale");
    assert!(evicted.bond > alloy::primitives::Uint::ZERO, "the bond stays locked for the tenant's remedies");
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, paid + 1)), None).await.0, 410);
}

#[tokio::test]
async fn every_refusal_has_its_status_and_code_and_paid_service_is_served() {
    let m = Market::new().await;
    let (provider, other, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let other_offer = m.provider(&other).await;
    let lease = m.lease(&tenant, offer, 2 * USDC).await;
    let not_ours = m.lease(&tenant, other_offer, 2 * USDC).await;

    let dir = TempDir::new("gateway");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let config = GatewayConfig { credit_secs: 60, refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
    let address = listen(gateway.serve(workload())).await;
    let id = lease.to_string();
    let session = m.session();

    let expect = |got: (u16, Value, String), status: u16, code: &str| {
        assert_eq!(got.0, status, "{}", got.2);
        assert_eq!(got.1["error"], code, "{}", got.2);
        assert!(got.1["hint"].as_str().is_some_and(|h| !h.is_empty()), "every refusal says what to do: {}", got.2);
        got.1
    };
    expect(ask(address, None, None, None).await, 400, "lease_required");
    expect(ask(address, Some("abc"), None, None).await, 400, "malformed_lease");
    // Decimal as documented: not hex, not signed, not longer than a uint256 can be.
    for malformed in ["0x1", "+1", "-1", "1e3", &"9".repeat(79)] {
        expect(ask(address, Some(malformed), None, None).await, 400, "malformed_lease");
    }
    // Only the tenant draws on its lease: a lease id alone, the ids being public, is refused
    // before anything is looked up.
    expect(ask(address, Some(&id), None, None).await, 401, "access_required");
    let grant = m.access(&session, lease).await;
    expect(ask(address, Some("999"), None, m.access(&session, U256::from(999)).await).await, 404, "unknown_lease");
    let second = m.lease(&tenant, offer, 2 * USDC).await;
    expect(ask(address, Some(&second.to_string()), None, grant.clone()).await, 401, "access_invalid");
    expect(
        ask(address, Some(&not_ours.to_string()), None, m.access(&session, not_ours).await).await,
        403,
        "not_our_lease",
    );
    // A grant signed by anyone but the tenant or a signer it authorized for this provider, for
    // another chain, expired, living longer than the gateway allows, or not a grant: refused.
    let stranger = ReceiptSigner::new(PrivateKeySigner::random(), *session.domain());
    expect(ask(address, Some(&id), None, m.access(&stranger, lease).await).await, 401, "signer_unauthorized");
    let elsewhere = ReceiptSigner::new(
        openlease_testkit::key(&m.anvil, 6),
        openlease_client::ReceiptDomain::new(1, m.manifest.market()),
    );
    expect(ask(address, Some(&id), None, m.access(&elsewhere, lease).await).await, 401, "signer_unauthorized");
    let now = m.now().await;
    let expired = Some(session.sign_access(lease, now - 1).unwrap().header());
    expect(ask(address, Some(&id), None, expired).await, 401, "access_expired");
    let forever = Some(session.sign_access(lease, now + 86_400).unwrap().header());
    expect(ask(address, Some(&id), None, forever).await, 401, "access_invalid");
    expect(ask(address, Some(&id), None, Some("13.99.0x00".into())).await, 401, "access_invalid");
    let tenant_signer = openlease_testkit::receipt_signer(&m.manifest, openlease_testkit::key(&m.anvil, 4));
    let served = |got: (u16, Value, String)| assert_eq!(got.0, 200, "{}", got.2);
    served(ask(address, Some(&id), None, m.access(&tenant_signer, lease).await).await);
    assert_eq!(gateway.metrics().served.load(std::sync::atomic::Ordering::Relaxed), 1, "strangers got nothing");
    expect(ask(address, Some(&id), Some("{not json".into()), None).await, 400, "malformed_receipt");
    expect(ask(address, Some(&id), Some(receipt(&session, not_ours, 100)), None).await, 400, "malformed_receipt");
    let stranger = ReceiptSigner::new(PrivateKeySigner::random(), *session.domain());
    expect(ask(address, Some(&id), Some(receipt(&stranger, lease, 100)), None).await, 401, "signer_unauthorized");
    // Strangers leave no state: no book, no watcher for any key the tenant never authorized.
    for _ in 0..20 {
        let stranger = ReceiptSigner::new(PrivateKeySigner::random(), *session.domain());
        expect(ask(address, Some(&id), Some(receipt(&stranger, lease, 100)), None).await, 401, "signer_unauthorized");
    }
    assert_eq!(gateway.signer_books(), 0, "no book for a stranger");
    let elsewhere = openlease_client::ReceiptDomain::new(1, m.manifest.market());
    let foreign = ReceiptSigner::new(openlease_testkit::key(&m.anvil, 6), elsewhere);
    expect(ask(address, Some(&id), Some(receipt(&foreign, lease, 100)), None).await, 401, "receipt_invalid");

    // Within the credit limit (a minute of service), no receipt is needed.
    let (status, _, body) = ask(address, Some(&id), None, grant.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, keccak256(keccak256(keccak256(B256::ZERO))).to_string(), "the upstream's answer, unchanged");

    // Ten minutes later the tenant owes more than the limit: refused with the amount due.
    m.advance(600).await;
    let due = expect(ask(address, Some(&id), None, m.access(&session, lease).await).await, 402, "payment_required");
    let owed: u64 = due["due"]["raw"].as_str().unwrap().parse().unwrap();
    assert!((600 * PRICE..=660 * PRICE).contains(&owed), "{due}");
    // A receipt for what accrued pays it: served, and kept.
    let paid = owed;
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, paid)), None).await.0, 200);
    expect(ask(address, Some(&id), Some(receipt(&session, lease, paid)), None).await, 409, "receipt_replayed");
    expect(ask(address, Some(&id), Some(receipt(&session, lease, 3 * USDC)), None).await, 402, "signer_cap_reached");
    // Beyond what the escrow (8.64 USDC) can ever pay: refused with what is left of it.
    let over =
        expect(ask(address, Some(&id), Some(receipt(&session, lease, 9 * USDC)), None).await, 402, "escrow_exhausted");
    assert_eq!(over["left"]["raw"], (8_640_000 - paid).to_string(), "{over}");

    // The tenant revokes its session signer: its grant opens nothing from then on.
    let grant = m.access(&session, lease).await;
    served(ask(address, Some(&id), None, grant.clone()).await);
    tenant.revoke_signer(session.address(), provider.address()).await.unwrap();
    expect(ask(address, Some(&id), None, grant.clone()).await, 401, "signer_unauthorized");

    // The lease ends: served no more, whatever it carries.
    m.advance(86_400).await;
    expect(ask(address, Some(&id), Some(receipt(&session, lease, paid + 1)), None).await, 410, "lease_ended");

    let metrics = reqwest::get(format!("http://{address}/openlease/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("openlease_gateway_requests_served_total 4"), "{metrics}");
    assert!(metrics.contains("openlease_gateway_requests_refused_total{reason=\"payment_required\"} 1"), "{metrics}");
    assert!(metrics.contains("openlease_gateway_receipts_total 1"), "{metrics}");
    let health: Value = reqwest::get(format!("http://{address}/openlease/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["healthy"], true);
}

/// The gateway binary, as a provider runs it.
struct Binary(Child);

impl Binary {
    fn start(m: &Market, upstream: SocketAddr, listen: SocketAddr, db: &str, manifest: &PathBuf) -> Self {
        let mut command = Self::command(m, upstream, listen, db, manifest);
        command.env("OPENLEASE_PRIVATE_KEY", format!("0x{}", alloy::hex::encode(m.anvil.keys()[1].to_bytes())));
        Self(command.spawn().expect("the gateway starts"))
    }

    /// [`Binary::start`] with the provider's key in an encrypted keystore file in `dir`.
    fn start_from_keystore(
        m: &Market,
        upstream: SocketAddr,
        listen: SocketAddr,
        db: &str,
        manifest: &PathBuf,
        dir: &std::path::Path,
    ) -> Self {
        let key = m.anvil.keys()[1].to_bytes();
        let name = "provider.json";
        PrivateKeySigner::encrypt_keystore(dir, &mut rand::thread_rng(), key, "provider's password", Some(name))
            .unwrap();
        let mut command = Self::command(m, upstream, listen, db, manifest);
        command.arg("--keystore").arg(dir.join(name)).env("OPENLEASE_KEYSTORE_PASSWORD", "provider's password");
        Self(command.spawn().expect("the gateway starts"))
    }

    fn command(m: &Market, upstream: SocketAddr, listen: SocketAddr, db: &str, manifest: &PathBuf) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_openlease-gateway"));
        command
            .args(["--upstream", &format!("http://{upstream}"), "--listen", &listen.to_string()])
            .args(["--rpc-url", &m.anvil.endpoint(), "--db", db, "--settle-every", "1"])
            .arg("--manifest")
            .arg(manifest)
            .env_remove("OPENLEASE_PRIVATE_KEY")
            .env_remove("OPENLEASE_KEYSTORE")
            .env("RUST_LOG", "warn");
        command
    }

    async fn wait_healthy(listen: SocketAddr) {
        let started = Instant::now();
        while reqwest::get(format!("http://{listen}/openlease/health")).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the gateway never came up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_gateway_killed_mid_lease_settles_every_receipt_it_acknowledged_once_back() {
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let lease = m.lease(&tenant, offer, 5 * USDC).await;
    let dir = TempDir::new("gateway-kill");
    let manifest = dir.path().join("31337.json");
    m.manifest.save(&manifest).unwrap();
    let db = format!("sqlite://{}/book.db", dir.path().display());
    let upstream = listen(workload()).await;
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    let mut gateway = Binary::start(&m, upstream, address, &db, &manifest);
    Binary::wait_healthy(address).await;
    let session = m.session();
    let started = m.now().await;
    let mut acknowledged = 0;
    for step in 1..=5u64 {
        m.advance(60).await;
        let cumulative = (m.now().await - started) * PRICE;
        let (status, _, body) =
            ask(address, Some(&lease.to_string()), Some(receipt(&session, lease, cumulative)), None).await;
        assert_eq!(status, 200, "step {step}: {body}");
        acknowledged = cumulative;
    }
    // SIGKILL: no chance to flush or settle anything.
    gateway.0.kill().unwrap();
    gateway.0.wait().unwrap();
    assert_eq!(provider.lease(lease).await.unwrap().settled, alloy::primitives::Uint::ZERO, "nothing settled yet");

    // The tenant leaves; the lease ends; the provider's gateway comes back (its key from a
    // keystore file this time) and settles its book.
    tenant.close_lease(lease).await.unwrap();
    m.advance(3_700).await;
    let _back = Binary::start_from_keystore(&m, upstream, address, &db, &manifest, dir.path());
    Binary::wait_healthy(address).await;
    let started = Instant::now();
    loop {
        let settled = U256::from(provider.lease(lease).await.unwrap().settled);
        if settled == U256::from(acknowledged) {
            break;
        }
        assert!(settled < U256::from(acknowledged), "settled more than was acknowledged: {settled}");
        assert!(started.elapsed() < Duration::from_secs(30), "settled {settled} of {acknowledged}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A book row for a lease the node does not know (another market's book, a node behind, a reorg)
/// is flagged and skipped at start: the gateway starts, serves and settles the rest.
#[tokio::test]
async fn a_book_row_for_an_unknown_lease_is_flagged_and_the_rest_is_served() {
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let lease = m.lease(&tenant, offer, 5 * USDC).await;
    let dir = TempDir::new("gateway-unknown");
    let db = format!("sqlite://{}/book.db", dir.path().display());
    let session = m.session();
    let domain = provider.receipt_domain();
    let store = ReceiptStore::open(&db).await.unwrap();
    let stray = session.sign_usage(U256::from(999), U256::from(100), B256::ZERO, 1).unwrap();
    assert!(store.keep(&domain, tenant.address(), &stray).await.unwrap());
    m.advance(60).await;
    let period_end = m.now().await;
    let known = session.sign_usage(lease, U256::from(60 * PRICE), B256::ZERO, period_end).unwrap();
    assert!(store.keep(&domain, tenant.address(), &known).await.unwrap());

    let config = GatewayConfig { refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), store, config).await.expect("starts despite the stray row");
    let metrics = gateway.metrics().render();
    assert!(metrics.contains("openlease_gateway_book_unknown_leases 1"), "{metrics}");
    let address = listen(gateway.serve(workload())).await;
    let grant = m.access(&session, lease).await;
    assert_eq!(ask(address, Some(&lease.to_string()), None, grant).await.0, 200, "the known lease is served");
    tenant.close_lease(lease).await.unwrap();
    m.advance(3_700).await;
    gateway.settle_due().await.unwrap();
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), U256::from(60 * PRICE), "and settled");
}

/// Settlement is confirmed against the chain, not assumed from a send: a reorg that drops the
/// settlement transaction makes the receipt owed again, and the gateway settles it again.
#[tokio::test]
async fn a_settlement_dropped_by_a_reorg_is_settled_again() {
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let lease = m.lease(&tenant, offer, 5 * USDC).await;
    let dir = TempDir::new("gateway-reorg");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let config = GatewayConfig { refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
    let address = listen(gateway.serve(workload())).await;
    m.advance(60).await;
    let acknowledged = U256::from(60 * PRICE);
    let (status, _, body) =
        ask(address, Some(&lease.to_string()), Some(receipt(&m.session(), lease, 60 * PRICE)), None).await;
    assert_eq!(status, 200, "{body}");
    tenant.close_lease(lease).await.unwrap();
    m.advance(3_700).await;

    use alloy::providers::ext::AnvilApi;
    let before = m.node.anvil_snapshot().await.unwrap();
    gateway.settle_due().await.unwrap();
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), acknowledged, "settled once");
    // The blocks that held the settlement are gone, and the node forgot the transaction.
    assert!(m.node.anvil_revert(before).await.unwrap());
    m.node.anvil_mine(Some(2), None).await.unwrap();
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), U256::ZERO, "reorged away");

    gateway.settle_due().await.unwrap();
    assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), acknowledged, "settled again");
}

/// Bounded exposure: what a lease holds accepted and unsettled never passes what the provider chose
/// to risk; a receipt that would leave more is settled before its request is served.
#[tokio::test]
async fn unsettled_value_never_passes_the_providers_limit() {
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let lease = m.lease(&tenant, offer, 5 * USDC).await;
    let dir = TempDir::new("gateway-exposure");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let config =
        GatewayConfig { credit_secs: 60, max_unsettled_secs: 120, refresh: Duration::ZERO, ..Default::default() };
    let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
    let address = listen(gateway.serve(workload())).await;
    let (id, session) = (lease.to_string(), m.session());
    let settled = || async { U256::from(provider.lease(lease).await.unwrap().settled) };

    m.advance(100).await;
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, 100 * PRICE)), None).await.0, 200);
    assert_eq!(settled().await, U256::ZERO, "100 s unsettled: within the 120 s risked");
    m.advance(100).await;
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, 200 * PRICE)), None).await.0, 200);
    assert_eq!(settled().await, U256::from(200 * PRICE), "200 s would pass it: settled before serving");
    m.advance(100).await;
    assert_eq!(ask(address, Some(&id), Some(receipt(&session, lease, 300 * PRICE)), None).await.0, 200);
    assert_eq!(settled().await, U256::from(200 * PRICE), "100 s unsettled again: within the limit");
}

/// A stranger repeating a lease id that is unknown, or another provider's, costs the node next to
/// nothing: after the first, the refusal comes from memory (≤ 0.05 RPC calls per bad request).
#[tokio::test]
async fn repeated_bad_lease_ids_cost_the_node_almost_nothing() {
    let m = Market::new().await;
    let (provider, other, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
    m.provider(&provider).await;
    let other_offer = m.provider(&other).await;
    let foreign = m.lease(&tenant, other_offer, 2 * USDC).await;

    // The gateway's node, behind a proxy that counts its JSON-RPC requests.
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (node, counted) = (m.anvil.endpoint(), calls.clone());
    let proxy = Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let (node, counted) = (node.clone(), counted.clone());
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let answer = reqwest::Client::new()
                    .post(node)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                ([("content-type", "application/json")], answer.text().await.unwrap())
            }
        }),
    );
    let rpc = format!("http://{}", listen(proxy).await);
    let key = openlease_testkit::key(&m.anvil, 1);
    let through_proxy = Client::connect(&rpc, key, m.manifest.clone()).await.unwrap();
    let dir = TempDir::new("gateway-bad-ids");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
    let gateway = Gateway::open(through_proxy, store, GatewayConfig::default()).await.unwrap();
    let address = listen(gateway.serve(workload())).await;

    // A stranger's own grants: it can sign them for any id.
    let stranger = ReceiptSigner::new(PrivateKeySigner::random(), provider.receipt_domain());
    let (unknown, foreign_id) = ("999".to_string(), foreign.to_string());
    let (for_unknown, for_foreign) = (m.access(&stranger, U256::from(999)).await, m.access(&stranger, foreign).await);
    assert_eq!(ask(address, Some(&unknown), None, for_unknown.clone()).await.0, 404);
    assert_eq!(ask(address, Some(&foreign_id), None, for_foreign.clone()).await.0, 403);
    let before = calls.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..200 {
        assert_eq!(ask(address, Some(&unknown), None, for_unknown.clone()).await.0, 404);
        assert_eq!(ask(address, Some(&foreign_id), None, for_foreign.clone()).await.0, 403);
    }
    let spent = calls.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(spent <= 20, "{spent} RPC calls for 400 repeated bad requests");
    // A lease id alone costs the node nothing at all.
    let before = calls.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(ask(address, Some(&foreign_id), None, None).await.0, 401);
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), before, "no RPC call for a request without proof");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

mod session {
    use openlease_client::session::{Destination, ServedBy, Session, SessionConfig};

    use super::*;

    /// The workload, and two paths that fail while the service stays up: `/stall` answers after
    /// ten seconds (past a session's request timeout), `/broken` with a 500.
    fn flaky() -> Router {
        workload()
            .route(
                "/stall",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            )
            .route(
                "/broken",
                axum::routing::get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
            )
    }

    /// The session tells the truth: a request that stalls after its receipt reached the gateway
    /// leaves that receipt in doubt, not unpaid; the gateway's `receipt_replayed` for it says it
    /// was paid; and one stalled request on a healthy provider fails that request, not the
    /// provider. Only `failures_before_failover` distinct failed requests leave it.
    #[tokio::test]
    async fn a_stalled_request_is_possibly_paid_and_no_reason_to_leave_a_healthy_provider() {
        let m = Market::new().await;
        let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
        let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url_a, _task_a, _dir_a, gateway_a) = gateway_with(&m, &a, 120).await;
        let (url_b, _task_b, _dir_b) = gateway(&m, &b).await;
        let choices = vec![
            Destination { provider: a.address(), offer_id: offer_a, endpoint: url_a },
            Destination { provider: b.address(), offer_id: offer_b, endpoint: url_b },
        ];
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let (_, lease) = session.lease().unwrap();
        for _ in 0..3 {
            m.advance(30).await;
            session.get("/work/1").await.unwrap();
        }
        // The stalled request carries a receipt for the service up to the previous answer; the
        // gateway keeps it, the answer never comes in time.
        m.advance(30).await;
        let stalled = session.get("/stall").await;
        assert!(stalled.is_err(), "the stalled request is answered with an error");
        let used = session.report().providers[0].clone();
        assert_eq!(session.lease().unwrap().0, a.address(), "a healthy provider is not left for one stall");
        let sent = U256::from(used.served_secs * PRICE);
        assert!(used.paid < sent, "{used:?}");
        assert_eq!(used.in_doubt, sent, "the receipt sent is in doubt: {used:?}");

        // The next request sends it again: `receipt_replayed` says the gateway held it.
        let answer = session.get("/work/1").await.unwrap();
        assert_eq!(answer.served_by, ServedBy::Provider { provider: a.address(), lease_id: lease });
        let used = session.report().providers[0].clone();
        assert_eq!(used.in_doubt, U256::ZERO);
        assert_eq!(used.paid, sent, "held, so paid: {used:?}");
        assert!(session.report().failovers.is_empty());

        // What the report says is paid is what the market settles.
        tenant.close_lease(lease).await.unwrap();
        m.advance(3_700).await;
        gateway_a.settle_due().await.unwrap();
        assert_eq!(U256::from(a.lease(lease).await.unwrap().settled), used.paid, "the report's paid is the truth");
    }

    /// Issue 20: the provider's gateway (staking, offers, checks of each lease, settlement) and a
    /// tenant's session (lease by permit, receipts, the chain's time) all reach the chain through
    /// an endpoint that refuses 5% of requests (429) and fails 1% (502): every request is answered, the node's refusals cost the session no
    /// failover, and what the session reports paid is what the market settles.
    #[tokio::test]
    async fn a_gateway_and_a_session_work_through_a_hosted_rpc() {
        use openlease_testkit::hosted::{Faults, HostedRpc};
        let m = Market::new().await;
        let hosted = HostedRpc::start(m.anvil.endpoint(), Faults { seed: 20, ..Faults::hosted() }).await;
        let rpc = hosted.url();
        let through = async |index: usize| {
            Client::connect(&rpc, openlease_testkit::key(&m.anvil, index), m.manifest.clone()).await.unwrap()
        };
        let (a, tenant) = (through(1).await, through(4).await);
        let offer = m.provider(&a).await;
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url, _task, _dir, gateway) = gateway_with(&m, &a, 120).await;
        let choices = vec![Destination { provider: a.address(), offer_id: offer, endpoint: url }];
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let (_, lease) = session.lease().unwrap();
        for _ in 0..20 {
            m.advance(30).await;
            let answer = session.get("/work/2").await.unwrap();
            assert_eq!(answer.served_by, ServedBy::Provider { provider: a.address(), lease_id: lease });
        }
        let report = session.report().clone();
        assert!(report.failovers.is_empty(), "the node's refusals are not the provider's failures: {report:?}");
        assert_eq!((report.providers[0].answered, report.providers[0].failed), (20, 0), "{report:?}");
        assert_eq!(report.paid_for_nothing(), U256::ZERO);

        session.finish().await.unwrap();
        m.advance(3_700).await;
        gateway.settle_due().await.unwrap();
        assert_eq!(U256::from(a.lease(lease).await.unwrap().settled), report.paid(), "settled what was paid");
        let met = hosted.stats();
        assert!(met.rate_limited > 0 && met.bad_gateway > 0, "{met:?}");
    }

    /// The service's own answer to a request it judged wrong (a 4xx without a gateway refusal
    /// code) is the app's to read: passed on, served and paid, and no reason to leave a provider.
    /// (It had been counted as the provider failing: three bad requests from an app left a healthy
    /// provider.)
    #[tokio::test]
    async fn a_bad_request_is_the_apps_answer_not_the_providers_failure() {
        let m = Market::new().await;
        let TwoProviders { a, tenant, choices, .. } = two_providers(&m).await;
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let bad = openlease_client::session::Call {
            method: reqwest::Method::POST,
            path: "/v1/chat/completions".into(),
            content_type: Some("application/json".into()),
            body: b"{}".to_vec(),
        };
        for _ in 0..4 {
            let answer = session.send(&bad, |_| {}).await.unwrap();
            assert_eq!(answer.status, 400);
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body["error"]["type"], "invalid_request_error", "the service's own words: {body}");
        }
        assert_eq!(session.lease().unwrap().0, a.address(), "still on A");
        let used = &session.report().providers[0];
        assert_eq!((used.answered, used.failed), (4, 0), "{used:?}");
        assert!(session.report().failovers.is_empty());
    }

    /// Leaving a provider that answers its health probe takes `failures_before_failover` distinct
    /// failed requests (3 here), each answered with an error while the session stays.
    #[tokio::test]
    async fn a_provider_that_answers_its_probe_is_left_after_k_distinct_failed_requests() {
        let m = Market::new().await;
        let TwoProviders { a, b, tenant, choices, _gateways } = two_providers(&m).await;
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        for attempt in 1..=2 {
            assert!(session.get("/broken").await.is_err());
            assert_eq!(session.lease().unwrap().0, a.address(), "still on A after {attempt} failed request(s)");
        }
        // The third distinct failure leaves A; the request is replayed on B (whose /broken fails too).
        assert!(session.get("/broken").await.is_err());
        assert_eq!(session.lease().unwrap().0, b.address(), "left A after three");
        assert_eq!(session.report().providers[0].failed, 3);
        let answer = session.get("/work/1").await.unwrap();
        assert!(matches!(answer.served_by, ServedBy::Provider { provider, .. } if provider == b.address()));
    }

    /// At its end a session gives notice on the lease in use and says what each lease leaves in
    /// escrow and from when it can be claimed.
    #[tokio::test]
    async fn a_finished_session_gives_notice_and_says_what_comes_back_and_when() {
        let m = Market::new().await;
        let (a, tenant) = (m.client(1).await, m.client(4).await);
        let offer = m.provider(&a).await;
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url, _task, _dir) = gateway(&m, &a).await;
        let choices = vec![Destination { provider: a.address(), offer_id: offer, endpoint: url }];
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let (_, lease) = session.lease().unwrap();
        m.advance(60).await;
        session.get("/work/1").await.unwrap();
        let paid = session.report().providers[0].paid;
        let wind_down = session.finish().await.unwrap();
        assert_eq!(wind_down.len(), 1);
        let notice = tenant.notice(lease).await.unwrap().expect("notice given");
        let ends = &wind_down[0];
        assert_eq!((ends.lease_id, ends.ends_at), (lease, notice.1));
        assert_eq!(ends.refund, U256::from(4 * USDC) - paid, "the deposit beyond what was attested");
        assert_eq!(ends.refund_from, tenant.settlement_deadline(lease).await.unwrap());
        assert_eq!(session.report().wind_down, wind_down);

        // It comes back then, less only what the provider settles (what was attested).
        m.advance(ends.refund_from - m.now().await + 1).await;
        let (refund, _) = tenant.finalize_lease(lease).await.unwrap();
        assert!(refund >= ends.refund, "refunded {refund}, promised at least {}", ends.refund);
    }

    /// Answers stream through the gate as they are produced, and the session hands them on piece
    /// by piece: the workload's server-sent events, 250 ms apart, arrive 250 ms apart.
    #[tokio::test]
    async fn a_streamed_answer_reaches_the_session_event_by_event() {
        let m = Market::new().await;
        let (a, tenant) = (m.client(1).await, m.client(4).await);
        let offer = m.provider(&a).await;
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url, _task, _dir) = gateway(&m, &a).await;
        let choices = vec![Destination { provider: a.address(), offer_id: offer, endpoint: url }];
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let started = Instant::now();
        let mut arrivals = Vec::new();
        let answer = session
            .request_with(reqwest::Method::GET, "/stream/8", Vec::new(), |chunk| {
                if String::from_utf8_lossy(chunk).contains("data:") {
                    arrivals.push(started.elapsed());
                }
            })
            .await
            .unwrap();
        let text = String::from_utf8(answer.body).unwrap();
        let last = openlease_gateway::workload::hash_chain(8).to_string();
        assert!(text.contains(&format!("event: done\ndata: {last}")), "the whole, checkable answer: {text}");
        assert!(arrivals.len() >= 8, "{arrivals:?}");
        assert!(arrivals[0] < Duration::from_millis(1_000), "the first event came at once: {arrivals:?}");
        assert!(
            *arrivals.last().unwrap() - arrivals[0] >= Duration::from_millis(1_500),
            "the events came as produced, not together at the end: {arrivals:?}"
        );
        assert!(session.report().providers[0].answered == 1);
    }

    /// A stream that outlives what its lease paid for (receipts and credit) is cut with a final
    /// error event, never silently, and the gateway counts it.
    #[tokio::test]
    async fn a_stream_that_outlives_its_payment_ends_with_an_error_event() {
        let m = Market::new().await;
        let (a, tenant) = (m.client(1).await, m.client(4).await);
        let offer = m.provider(&a).await;
        let lease = m.lease(&tenant, offer, 5 * USDC).await;
        let dir = TempDir::new("gateway-stream-cut");
        let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
        let config = GatewayConfig { credit_secs: 2, refresh: Duration::ZERO, ..Default::default() };
        let gateway = Gateway::open(a.clone(), store, config).await.unwrap();
        let address = listen(gateway.serve(workload())).await;
        // Paid until now: two more seconds of credit, and the stream takes five.
        m.advance(100).await;
        let paid = (m.now().await - u64::from(a.lease(lease).await.unwrap().startedAt)) * PRICE;
        let answer = reqwest::Client::new()
            .get(format!("http://{address}/stream/20"))
            .header(wire::LEASE_HEADER, lease.to_string())
            .header(wire::RECEIPT_HEADER, receipt(&m.session(), lease, paid))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let text = answer.text().await.unwrap();
        let events = text.matches("data: 0x").count();
        assert!((1..20).contains(&events), "cut partway: {events} events\n{text}");
        assert!(text.trim_end().ends_with("}"), "{text}");
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert!(last.starts_with("event: error") && last.contains("payment_required"), "{text}");
        let metrics = gateway.metrics().render();
        assert!(metrics.contains("refused_total{reason=\"payment_required\"} 1"), "{metrics}");
    }

    /// Providers A (account 1) and B (account 2), each with an offer and a gateway in this process,
    /// and a tenant (account 4) holding 1,000 USDC.
    struct TwoProviders {
        a: Client<DynProvider>,
        b: Client<DynProvider>,
        tenant: Client<DynProvider>,
        /// A, then B.
        choices: Vec<Destination>,
        _gateways: [(tokio::task::JoinHandle<()>, TempDir); 2],
    }

    async fn two_providers(m: &Market) -> TwoProviders {
        let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
        let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url_a, task_a, dir_a) = gateway(m, &a).await;
        let (url_b, task_b, dir_b) = gateway(m, &b).await;
        let choices = vec![
            Destination { provider: a.address(), offer_id: offer_a, endpoint: url_a },
            Destination { provider: b.address(), offer_id: offer_b, endpoint: url_b },
        ];
        TwoProviders { a, b, tenant, choices, _gateways: [(task_a, dir_a), (task_b, dir_b)] }
    }

    /// A provider's gateway serving the workload, in this process; aborting the task kills it.
    async fn gateway(m: &Market, provider: &Client<DynProvider>) -> (String, tokio::task::JoinHandle<()>, TempDir) {
        // Two minutes of credit: a request pays for the time up to the previous answer.
        let (url, task, dir, _) = gateway_with(m, provider, 120).await;
        (url, task, dir)
    }

    /// [`gateway`] with `credit_secs` of credit, and the gateway itself (to settle by hand).
    async fn gateway_with(
        m: &Market,
        provider: &Client<DynProvider>,
        credit_secs: u64,
    ) -> (String, tokio::task::JoinHandle<()>, TempDir, Gateway<DynProvider>) {
        let dir = TempDir::new("session-gateway");
        let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
        let config = GatewayConfig {
            credit_secs,
            max_unsettled_secs: credit_secs,
            refresh: Duration::ZERO,
            ..Default::default()
        };
        let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
        let handle = gateway.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = gateway.serve(flaky());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _ = m;
        (url, task, dir, handle)
    }

    /// A gateway serving `router` that attests its answers with `index`'s key (the provider's
    /// registered attestation key).
    async fn attesting_gateway(
        m: &Market,
        provider: &Client<DynProvider>,
        index: usize,
        router: Router,
    ) -> (String, tokio::task::JoinHandle<()>, TempDir) {
        wrapped_gateway(m, provider, index, router, |app| app).await
    }

    /// An attesting gateway whose served app `wrap` can rewrite: a provider tampering with what
    /// its gateway sends.
    async fn wrapped_gateway(
        m: &Market,
        provider: &Client<DynProvider>,
        index: usize,
        router: Router,
        wrap: impl FnOnce(Router) -> Router,
    ) -> (String, tokio::task::JoinHandle<()>, TempDir) {
        let dir = TempDir::new("attesting-gateway");
        let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await.unwrap();
        let config =
            GatewayConfig { credit_secs: 120, max_unsettled_secs: 120, refresh: Duration::ZERO, ..Default::default() };
        let gateway = Gateway::open(provider.clone(), store, config).await.unwrap();
        gateway.attest_with(openlease_testkit::key(&m.anvil, index)).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = wrap(gateway.serve(router));
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, task, dir)
    }

    /// Issue 21: a session checking every answer against a referee catches a provider that
    /// answers wrongly, keeps its signed answer and the referee's as evidence, answers the app with
    /// the referee's (right) answer, fails over, and slashes the lease it left through the
    /// verifier its offer named: no arbiter, the tenant paid the bond, the next provider untouched.
    /// An honest provider, checked on every answer, is never contested.
    #[tokio::test]
    async fn a_wrong_answer_is_caught_slashed_without_an_arbiter_and_left() {
        use openlease_client::{
            check::{Checks, ContestOutcome, exact},
            contracts::SlashReason,
        };
        let m = Market::new().await;
        let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
        let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url_a, _task_a, _dir_a) =
            attesting_gateway(&m, &a, 1, openlease_gateway::workload::answering_wrong(0.5)).await;
        let (url_b, _task_b, _dir_b) = attesting_gateway(&m, &b, 2, workload()).await;
        let referee = format!("http://{}", listen(workload()).await);
        let checks = Checks { share: 1.0, referee, comparator: exact(), cost_per_check: U256::from(7), dispute: false };
        let config = SessionConfig { checks: Some(checks), ..session_config(4, 8) };
        let choices = vec![
            Destination { provider: a.address(), offer_id: offer_a, endpoint: url_a },
            Destination { provider: b.address(), offer_id: offer_b, endpoint: url_b },
        ];
        let mut session = Session::start(tenant.clone(), choices, config).await.unwrap();
        let (_, lease_a) = session.lease().unwrap();
        let bond = a.lease(lease_a).await.unwrap().bond;
        let claimable = tenant.claimable(tenant.address(), m.usdc).await.unwrap();
        let right = openlease_gateway::workload::hash_chain(7).to_string().into_bytes();

        let mut answers = 0;
        while session.report().checks.contested == 0 {
            answers += 1;
            assert!(answers <= 40, "a provider wrong half the time, every answer checked, is caught");
            m.advance(5).await;
            let answer = session.get("/work/7").await.unwrap();
            assert_eq!(answer.body, right, "the app never gets the wrong answer");
        }
        let report = session.report().clone();
        assert_eq!(report.checks.checked, answers);
        assert_eq!(report.checks.agreed, answers - 1);
        assert_eq!(report.checks.unattested, 0, "every answer came attested");
        assert_eq!(report.checks.attestations.len() as u64, answers, "and the session keeps each");
        assert_eq!(report.checks.cost, U256::from(7 * answers), "the checks cost what the referee charged");
        assert_eq!(report.providers[0].contested, 1);
        let evidence = &report.checks.evidence[0];
        assert_eq!((evidence.provider, evidence.lease_id), (a.address(), lease_a));
        assert_eq!(evidence.referee_response, right);
        assert_ne!(evidence.response, right);
        assert!(evidence.attestation.covers(&evidence.request, &evidence.response));
        assert!(matches!(evidence.outcome, ContestOutcome::Slashed { .. }), "{:?}", evidence.outcome);

        // On chain: the whole bond, to the tenant (less the protocol's cut), by the verifier alone.
        assert_eq!(a.lease(lease_a).await.unwrap().bond, 0);
        let slashes = a.market().BondSlashed_filter().topic1(lease_a).from_block(0).query().await.unwrap();
        assert_eq!(slashes.len(), 1);
        assert_eq!(slashes[0].0.reason, SlashReason::WrongAnswer as u8);
        let gained = tenant.claimable(tenant.address(), m.usdc).await.unwrap() - claimable;
        assert_eq!(gained, slashes[0].0.amount - slashes[0].0.protocolCut);
        assert_eq!(slashes[0].0.amount, U256::from(bond));

        // The session moved to B, which answers right every time and is never contested.
        let (provider, lease_b) = session.lease().unwrap();
        assert_eq!(provider, b.address(), "the provider caught is left");
        let bond_b = b.lease(lease_b).await.unwrap().bond;
        for _ in 0..20 {
            m.advance(5).await;
            assert_eq!(session.get("/work/7").await.unwrap().body, right);
        }
        let report = session.report();
        assert_eq!(report.checks.contested, 1, "an honest provider is never contested");
        assert_eq!(report.checks.checked, answers + 20);
        let kept = &report.checks.attestations;
        assert_eq!(kept.len() as u64, answers + 20);
        assert!(kept.iter().skip(answers as usize).all(|a| a.lease_id == lease_b), "B's answers, attested by B");
        assert_eq!(b.lease(lease_b).await.unwrap().bond, bond_b, "and never slashed");
    }

    /// Issue 21: a provider that signs two different answers with one sequence (here a layer in
    /// front of its gateway re-signs every later answer with the first one's sequence) is caught
    /// by a session that checks nothing: the session keeps every attestation, leaves the provider
    /// at the repeat, and the market slashes the lease it left on the two signatures alone. The
    /// same answer attested again is no equivocation, and the next provider is never accused.
    #[tokio::test]
    async fn a_provider_attesting_two_answers_with_one_sequence_is_slashed_and_left() {
        use alloy::signers::SignerSync;
        use openlease_client::{SignedAnswer, check::ContestOutcome, contracts::SlashReason};
        let m = Market::new().await;
        let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
        let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let key = openlease_testkit::key(&m.anvil, 1);
        let domain = a.receipt_domain();
        let first = Arc::new(std::sync::Mutex::new(None::<u64>));
        let equivocating = axum::middleware::map_response(move |mut response: axum::response::Response| {
            let (key, first) = (key.clone(), first.clone());
            async move {
                let header = response.headers().get(wire::ATTESTATION_HEADER);
                let Some(mut signed) = header.and_then(|h| SignedAnswer::parse(h.to_str().ok()?)) else {
                    return response;
                };
                let sequence = *first.lock().unwrap().get_or_insert(signed.sequence);
                if signed.sequence != sequence {
                    signed.sequence = sequence;
                    let digest = domain.attestation_digest(&signed.attestation());
                    signed.signature = key.sign_hash_sync(&digest).unwrap().as_bytes().to_vec().into();
                    response.headers_mut().insert(wire::ATTESTATION_HEADER, signed.to_json().parse().unwrap());
                }
                response
            }
        });
        let (url_a, _task_a, _dir_a) = wrapped_gateway(&m, &a, 1, workload(), |app| app.layer(equivocating)).await;
        let (url_b, _task_b, _dir_b) = attesting_gateway(&m, &b, 2, workload()).await;
        let choices = vec![
            Destination { provider: a.address(), offer_id: offer_a, endpoint: url_a },
            Destination { provider: b.address(), offer_id: offer_b, endpoint: url_b },
        ];
        let mut session = Session::start(tenant.clone(), choices, session_config(4, 8)).await.unwrap();
        let (_, lease_a) = session.lease().unwrap();
        let bond = a.lease(lease_a).await.unwrap().bond;
        let claimable = tenant.claimable(tenant.address(), m.usdc).await.unwrap();

        m.advance(5).await;
        session.get("/work/7").await.unwrap();
        assert_eq!(session.lease().unwrap().0, a.address(), "one answer, one sequence: nothing to say");
        m.advance(5).await;
        let answer = session.get("/work/8").await.unwrap();
        assert_eq!(answer.body, openlease_gateway::workload::hash_chain(8).to_string().into_bytes());
        let report = session.report().clone();
        assert_eq!(report.checks.equivocations.len(), 1, "the second answer repeated the first's sequence");
        let caught = &report.checks.equivocations[0];
        assert_eq!((caught.provider, caught.lease_id), (a.address(), lease_a));
        assert_eq!(caught.first.sequence, caught.second.sequence);
        assert_ne!(caught.first.response_digest, caught.second.response_digest);
        assert!(matches!(caught.outcome, ContestOutcome::Slashed { .. }), "{:?}", caught.outcome);
        assert_eq!(report.checks.checked, 0, "no check was needed");
        assert_eq!(report.providers[0].contested, 1, "and it counts against the provider");

        // On chain: the whole bond, to the tenant (less the protocol's cut), with no arbiter.
        assert_eq!(a.lease(lease_a).await.unwrap().bond, 0);
        let slashes = a.market().BondSlashed_filter().topic1(lease_a).from_block(0).query().await.unwrap();
        assert_eq!(slashes.len(), 1);
        assert_eq!(slashes[0].0.reason, SlashReason::Equivocation as u8);
        assert_eq!(slashes[0].0.amount, U256::from(bond));
        let gained = tenant.claimable(tenant.address(), m.usdc).await.unwrap() - claimable;
        assert_eq!(gained, slashes[0].0.amount - slashes[0].0.protocolCut);

        // B numbers its answers afresh each time: never taken for an equivocation.
        let (provider, lease_b) = session.lease().unwrap();
        assert_eq!(provider, b.address(), "the provider caught is left");
        let bond_b = b.lease(lease_b).await.unwrap().bond;
        for n in 0..10 {
            m.advance(5).await;
            session.get(&format!("/work/{}", n % 2)).await.unwrap();
        }
        assert_eq!(session.report().checks.equivocations.len(), 1);
        assert_eq!(b.lease(lease_b).await.unwrap().bond, bond_b, "and never slashed");
    }

    /// Issue 18, property 3: "in arrears" is evidence only the tenant controls. A provider whose
    /// gateway holds a paying session's receipts back for hours demands payment; the session
    /// answers by settling its own newest receipt, and the eviction is refused.
    #[tokio::test]
    async fn a_provider_holding_receipts_back_cannot_evict_a_session_that_pays() {
        let m = Market::new().await;
        let (a, tenant) = (m.client(1).await, m.client(4).await);
        let offer = m.provider(&a).await;
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        // A day of credit: the gateway never needs a receipt settled to keep serving.
        let (url, _task, _dir, _gateway) = gateway_with(&m, &a, 86_400).await;
        let choices = vec![Destination { provider: a.address(), offer_id: offer, endpoint: url }];
        let mut session = Session::start(tenant.clone(), choices, session_config(20, 20)).await.unwrap();
        let (_, lease) = session.lease().unwrap();
        // Two hours of service, a request every ten minutes; the gateway settles none of it.
        for _ in 0..12 {
            m.advance(600).await;
            session.get("/work/1").await.unwrap();
        }
        assert_eq!(U256::from(a.lease(lease).await.unwrap().settled), U256::ZERO, "held back");

        let demand = a.demand_payment(lease).await.unwrap();
        assert!(demand.due > U256::ZERO);
        // The session's next requests look for demands and answer this one.
        m.advance(600).await;
        session.get("/work/1").await.unwrap();
        let settled = U256::from(a.lease(lease).await.unwrap().settled);
        assert!(settled >= demand.due, "answered: {settled} settled of {} due", demand.due);

        m.advance(3_600).await;
        let refused = a.evict_lease(lease).await.unwrap_err();
        assert!(
            matches!(refused.market_error(), Some(openlease_client::OpenleaseErrors::OpenleaseDemandAnswered(_))),
            "{refused}"
        );
        assert_eq!(a.lease(lease).await.unwrap().status, 1, "still open");
    }

    /// Issue 18, property 1: delivered service cannot be repudiated. A tenant served for an hour
    /// revokes its session signer; the gateway still settles what it served, and serves no more.
    #[tokio::test]
    async fn a_revoked_signer_still_pays_for_the_service_delivered_before() {
        let m = Market::new().await;
        let (a, tenant) = (m.client(1).await, m.client(4).await);
        let offer = m.provider(&a).await;
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url, _task, _dir, gateway) = gateway_with(&m, &a, 3_600).await;
        let choices = vec![Destination { provider: a.address(), offer_id: offer, endpoint: url }];
        let mut session = Session::start(tenant.clone(), choices, session_config(20, 20)).await.unwrap();
        let (_, lease) = session.lease().unwrap();
        for _ in 0..6 {
            m.advance(600).await;
            session.get("/work/1").await.unwrap();
        }
        let attested = session.report().providers[0].paid;
        assert!(attested >= U256::from(50 * 60 * PRICE), "50 minutes attested at least: {attested}");
        gateway.settle_due().await.unwrap();
        assert_eq!(U256::from(a.lease(lease).await.unwrap().settled), U256::ZERO, "nothing due before");

        tenant.revoke_signer(session.signer(), a.address()).await.unwrap();
        gateway.settle_due().await.unwrap();
        assert_eq!(U256::from(a.lease(lease).await.unwrap().settled), attested, "what was served is paid");
        // No service from the revocation on: the next receipt is refused.
        m.advance(60).await;
        let before = session.report().providers[0].failed;
        let _ = session.get("/work/1").await;
        assert!(session.report().providers[0].failed > before, "refused after the revocation");
    }

    #[tokio::test]
    async fn a_session_pays_for_service_only_fails_over_when_its_provider_dies_and_falls_back_last() {
        let m = Market::new().await;
        let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
        let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
        tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
        let (url_a, task_a, _dir_a) = gateway(&m, &a).await;
        let (url_b, task_b, _dir_b) = gateway(&m, &b).await;
        let fallback = format!("http://{}", listen(workload()).await);

        let choices = vec![
            Destination { provider: a.address(), offer_id: offer_a, endpoint: url_a },
            Destination { provider: b.address(), offer_id: offer_b, endpoint: url_b },
        ];
        let config = SessionConfig {
            fallback: Some(fallback),
            fallback_cost_per_request: U256::from(500),
            ..session_config(4, 8)
        };
        let mut session = Session::start(tenant.clone(), choices, config).await.unwrap();
        let (_, lease_a) = session.lease().unwrap();
        let expected = keccak256(keccak256(keccak256(B256::ZERO))).to_string().into_bytes();

        // A serves for 50 s, a request every 10 s.
        for _ in 0..5 {
            m.advance(10).await;
            let answer = session.get("/work/3").await.unwrap();
            assert_eq!(answer.served_by, ServedBy::Provider { provider: a.address(), lease_id: lease_a });
            assert_eq!(answer.body, expected, "the workload's answer");
        }
        // A dies; 40 s pass unanswered; the next request fails, and so does A's health probe: the
        // session fails over at once.
        task_a.abort();
        m.advance(40).await;
        let died = Instant::now();
        let answer = session.get("/work/3").await.unwrap();
        let ServedBy::Provider { provider, lease_id: lease_b } = answer.served_by else { panic!("served by B") };
        assert_eq!(provider, b.address());
        assert_eq!(answer.body, expected, "the request in flight was replayed on B");
        assert!(died.elapsed() < Duration::from_secs(5), "failed over in {:?}", died.elapsed());

        let report = session.report().clone();
        let used_a = &report.providers[0];
        assert_eq!(used_a.lease_id, lease_a);
        assert!((50..=55).contains(&used_a.served_secs), "A served ~50 s, not its dead time: {used_a:?}");
        assert_eq!(used_a.failed, 1);
        assert_eq!(report.paid_for_nothing(), U256::ZERO);
        assert_eq!(report.failovers.len(), 1);
        // A's lease got notice and gave up what no receipt can claim; B's lease holds the rest.
        let old = tenant.lease(lease_a).await.unwrap();
        assert!(tenant.notice(lease_a).await.unwrap().is_some(), "notice given on A's lease");
        let new = tenant.lease(lease_b).await.unwrap();
        // Topped up to the session's deposit, less the seconds between reading the time and the
        // failover's block (notice runs from the block).
        let deposit = U256::from(new.deposit);
        assert!(deposit <= U256::from(4 * USDC) && deposit >= U256::from(4 * USDC - 10 * PRICE), "{deposit}");
        assert!(U256::from(old.deposit) < U256::from(4 * USDC), "A's lease keeps only its notice's worth");

        // B dies too: nobody left, so the fallback serves, and the report says so.
        task_b.abort();
        m.advance(10).await;
        let answer = session.get("/work/3").await.unwrap();
        assert_eq!(answer.served_by, ServedBy::Fallback);
        assert_eq!(answer.body, expected);
        let report = session.report();
        assert_eq!(report.fallback_requests, 1);
        assert_eq!(report.fallback_cost, U256::from(500));
        assert_eq!(report.paid_for_nothing(), U256::ZERO);
    }

    /// With no provider that qualifies, a spread with a fallback falls back (it once divided by zero).
    #[tokio::test]
    async fn a_spread_with_no_provider_falls_back() {
        let m = Market::new().await;
        let tenant = m.client(4).await;
        let config =
            SessionConfig { fallback: Some(format!("http://{}", listen(workload()).await)), ..session_config(2, 2) };
        let mut spread = openlease_client::session::Spread::start(tenant.clone(), Vec::new(), config, 3).await.unwrap();
        for _ in 0..2 {
            assert_eq!(spread.get("/work/1").await.unwrap().served_by, ServedBy::Fallback);
        }
        assert_eq!(spread.report().fallback_requests, 2);
        let without = openlease_client::session::Spread::start(tenant, Vec::new(), session_config(2, 2), 3).await;
        assert!(matches!(without, Err(openlease_client::Error::NoProvider)), "no provider and no fallback: an error");
    }

    #[tokio::test]
    async fn a_tenant_that_asks_for_spread_never_puts_all_its_work_on_one_provider() {
        let m = Market::new().await;
        let TwoProviders { a, b, tenant, choices, _gateways } = two_providers(&m).await;
        let config = session_config(2, 2);
        let mut spread = openlease_client::session::Spread::start(tenant.clone(), choices, config, 2).await.unwrap();
        let mut served = std::collections::BTreeSet::new();
        for _ in 0..4 {
            m.advance(5).await;
            if let ServedBy::Provider { provider, .. } = spread.get("/work/1").await.unwrap().served_by {
                served.insert(provider);
            }
        }
        assert_eq!(served, [a.address(), b.address()].into(), "both providers took a share");
        assert!(spread.reports().iter().all(|r| r.paid_for_nothing().is_zero()));
    }
}

/// Two gateway replicas on one PostgreSQL book: the newest receipt of a lease wins whichever
/// replica took it, nothing is lost or counted twice, and one replica at a time settles.
#[tokio::test]
async fn replicas_share_one_book_on_postgres() {
    let Some(url) = postgres_database("openlease_gateway_book").await else { return };
    let (one, two) = (ReceiptStore::open(&url).await.unwrap(), ReceiptStore::open(&url).await.unwrap());

    let domain = openlease_client::ReceiptDomain::new(31337, Address::repeat_byte(9));
    let signer = ReceiptSigner::new(PrivateKeySigner::random(), domain);
    let tenant = Address::repeat_byte(4);
    let signed =
        |lease: u64, amount: u64| signer.sign_usage(U256::from(lease), U256::from(amount), B256::ZERO, 0).unwrap();
    assert!(one.keep(&domain, tenant, &signed(1, 100)).await.unwrap());
    assert!(two.keep(&domain, tenant, &signed(1, 250)).await.unwrap(), "a newer receipt from the other replica");
    assert!(!one.keep(&domain, tenant, &signed(1, 200)).await.unwrap(), "an older one changes nothing");
    assert!(!two.keep(&domain, tenant, &signed(1, 250)).await.unwrap(), "a replay changes nothing");
    // 1,000 beats 250 though "1000" < "250" as text: amounts compare as numbers.
    assert!(one.keep(&domain, tenant, &signed(1, 1_000)).await.unwrap());
    assert!(one.keep(&domain, tenant, &signed(2, 7)).await.unwrap());
    let held: Vec<(U256, U256)> = two
        .all(&domain)
        .await
        .unwrap()
        .iter()
        .map(|s| (s.receipt.receipt.leaseId, s.receipt.receipt.cumulativeAmount))
        .collect();
    assert_eq!(held, [(U256::from(1), U256::from(1_000)), (U256::from(2), U256::from(7))]);

    // While one replica settles, the other does not.
    let (entered, leave) = (tokio::sync::oneshot::channel::<()>(), tokio::sync::oneshot::channel::<()>());
    let (entered_tx, entered_rx) = entered;
    let (leave_tx, leave_rx) = leave;
    let holder = tokio::spawn(async move {
        one.with_settlement_lock(async move {
            entered_tx.send(()).unwrap();
            leave_rx.await.unwrap();
        })
        .await
        .unwrap()
    });
    entered_rx.await.unwrap();
    assert_eq!(two.with_settlement_lock(async { 1 }).await.unwrap(), None, "the other replica is settling");
    leave_tx.send(()).unwrap();
    assert_eq!(holder.await.unwrap(), Some(()));
    assert_eq!(two.with_settlement_lock(async { 2 }).await.unwrap(), Some(2), "free again");
}

/// A book an older gateway kept (cumulative amounts as 64 hex digits) is converted when it is
/// opened, once, on SQLite and on PostgreSQL, and the newest receipt of a lease still wins across
/// the conversion, above u128::MAX too.
#[tokio::test]
async fn an_older_gateways_book_is_converted_on_open() {
    let dir = TempDir::new("gateway-old-book");
    older_book_is_converted(&format!("sqlite://{}/book.db", dir.path().display())).await;
    if let Some(url) = postgres_database("openlease_gateway_old_book").await {
        older_book_is_converted(&url).await;
    }
}

async fn older_book_is_converted(url: &str) {
    use openlease_client::{ReceiptDomain, ReceiptFile, units::sortable_amount};
    use sqlx::{Connection, Row};
    let domain = ReceiptDomain::new(31337, Address::repeat_byte(9));
    let signer = ReceiptSigner::new(PrivateKeySigner::random(), domain);
    let tenant = Address::repeat_byte(4);
    let signed = |lease: u64, amount: U256| signer.sign_usage(U256::from(lease), amount, B256::ZERO, 0).unwrap();
    let above_u128 = U256::from(u128::MAX) + U256::from(1);
    let old = [(1, above_u128 + U256::from(5)), (2, U256::from(1_000)), (3, U256::MAX)];

    // The book as the older gateway wrote it: its table, its rows.
    sqlx::any::install_default_drivers();
    let create = if url.starts_with("sqlite://") { format!("{url}?mode=rwc") } else { url.to_owned() };
    let mut older = sqlx::AnyConnection::connect(&create).await.unwrap();
    sqlx::query(
        "CREATE TABLE gateway_receipts (
            lease_id TEXT PRIMARY KEY,
            cumulative TEXT NOT NULL,
            tenant TEXT NOT NULL,
            receipt TEXT NOT NULL
        )",
    )
    .execute(&mut older)
    .await
    .unwrap();
    for (lease, amount) in old {
        let file = serde_json::to_string(&ReceiptFile::new(&domain, &signed(lease, amount))).unwrap();
        sqlx::query("INSERT INTO gateway_receipts (lease_id, cumulative, tenant, receipt) VALUES ($1, $2, $3, $4)")
            .bind(lease.to_string())
            .bind(format!("{amount:064x}"))
            .bind(tenant.to_string())
            .bind(file)
            .execute(&mut older)
            .await
            .unwrap();
    }
    older.close().await.unwrap();

    let stored = |store: ReceiptStore| async move {
        let held = store.all(&domain).await.unwrap();
        held.iter()
            .map(|s| (s.receipt.receipt.leaseId.to::<u64>(), s.receipt.receipt.cumulativeAmount))
            .collect::<Vec<_>>()
    };
    let columns = || async {
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        let rows = sqlx::query("SELECT lease_id, cumulative FROM gateway_receipts ORDER BY lease_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))).collect::<Vec<_>>()
    };
    let encoded = |held: &[(u64, U256)]| -> Vec<(String, String)> {
        held.iter().map(|(lease, amount)| (lease.to_string(), sortable_amount(*amount))).collect()
    };

    let store = ReceiptStore::open(url).await.unwrap();
    assert_eq!(columns().await, encoded(&old), "every row in the one encoding");
    assert_eq!(stored(store.clone()).await, old, "the receipts are the book's");
    // Newest wins, as numbers: smaller, equal and larger receipts against the converted rows.
    let keep = |lease: u64, amount: U256| {
        let store = store.clone();
        let receipt = signed(lease, amount);
        async move { store.keep(&domain, tenant, &receipt).await.unwrap() }
    };
    assert!(!keep(1, above_u128 + U256::from(4)).await, "an older receipt changes nothing");
    assert!(!keep(1, above_u128 + U256::from(5)).await, "a replay changes nothing");
    assert!(!keep(1, U256::from(u128::MAX)).await, "u128::MAX is below it");
    assert!(keep(1, above_u128 + U256::from(6)).await, "a newer one replaces it");
    assert!(!keep(2, U256::from(999)).await);
    assert!(keep(2, above_u128).await, "past u128::MAX from 1,000");
    assert!(!keep(3, U256::MAX - U256::from(1)).await, "nothing passes U256::MAX");
    assert!(keep(4, U256::from(7)).await, "a new lease");
    let newest = [(1, above_u128 + U256::from(6)), (2, above_u128), (3, U256::MAX), (4, U256::from(7))];
    assert_eq!(stored(store).await, newest);

    // Opened again (a restart, another replica): nothing left to convert, nothing changed.
    let again = ReceiptStore::open(url).await.unwrap();
    assert_eq!(columns().await, encoded(&newest));
    assert_eq!(stored(again).await, newest);
}

/// A fresh PostgreSQL database `name` on the test server, or `None` (said on stderr) when the
/// tests run without one.
async fn postgres_database(name: &str) -> Option<String> {
    let Ok(server) = std::env::var("OPENLEASE_TEST_POSTGRES_URL") else {
        eprintln!("OPENLEASE_TEST_POSTGRES_URL is not set: the PostgreSQL book test did NOT run");
        return None;
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }
    Some(format!("{}/{name}", server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base)))
}

/// A replica that dies for good loses nothing it acknowledged: the replica holding the settlement
/// lock settles from the shared book, not from what it holds in memory.
#[tokio::test]
async fn what_a_replica_that_died_for_good_acknowledged_is_settled_by_the_other() {
    let Some(url) = postgres_database("openlease_gateway_replicas").await else { return };
    let m = Market::new().await;
    let (provider, tenant) = (m.client(1).await, m.client(4).await);
    let offer = m.provider(&provider).await;
    let leases = [m.lease(&tenant, offer, 5 * USDC).await, m.lease(&tenant, offer, 5 * USDC).await];
    let config = || GatewayConfig { refresh: Duration::ZERO, ..Default::default() };
    let doomed = Gateway::open(provider.clone(), ReceiptStore::open(&url).await.unwrap(), config()).await.unwrap();
    let survivor = Gateway::open(provider.clone(), ReceiptStore::open(&url).await.unwrap(), config()).await.unwrap();
    let address = listen(doomed.serve(workload())).await;
    let session = m.session();
    let mut acknowledged = Vec::new();
    m.advance(120).await;
    for lease in leases {
        let cumulative = 100 * PRICE;
        let (status, _, body) =
            ask(address, Some(&lease.to_string()), Some(receipt(&session, lease, cumulative)), None).await;
        assert_eq!(status, 200, "{body}");
        acknowledged.push(U256::from(cumulative));
    }
    // The replica that took them is gone for good, its memory with it.
    drop(doomed);
    for lease in leases {
        tenant.close_lease(lease).await.unwrap();
    }
    m.advance(3_700).await;
    survivor.settle_due().await.unwrap();
    for (lease, acknowledged) in leases.into_iter().zip(acknowledged) {
        assert_eq!(U256::from(provider.lease(lease).await.unwrap().settled), acknowledged, "lease {lease}");
    }
}

/// The whole story: a provider's gateway is SIGKILLed mid-lease; the session fails over and pays
/// nothing for the dead time; back up, the dead provider settles every receipt it acknowledged:
/// exactly what the session paid it, none lost, none twice.
#[tokio::test]
async fn a_killed_provider_is_left_and_still_paid_exactly_what_it_served() {
    use openlease_client::session::{Destination, ServedBy, Session, SessionConfig};

    let m = Market::new().await;
    let (a, b, tenant) = (m.client(1).await, m.client(2).await, m.client(4).await);
    let (offer_a, offer_b) = (m.provider(&a).await, m.provider(&b).await);
    tenant.send(tenant.token(m.usdc).mint(tenant.address(), U256::from(1_000 * USDC))).await.unwrap();
    let dir = TempDir::new("gateway-story");
    let manifest = dir.path().join("31337.json");
    m.manifest.save(&manifest).unwrap();
    let db = format!("sqlite://{}/book.db", dir.path().display());
    let upstream = listen(workload()).await;
    let address_a: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut gateway_a = Binary::start(&m, upstream, address_a, &db, &manifest);
    Binary::wait_healthy(address_a).await;
    let store_b = ReceiptStore::open(&format!("sqlite://{}/b.db", dir.path().display())).await.unwrap();
    let config_b = GatewayConfig { credit_secs: 120, refresh: Duration::ZERO, ..Default::default() };
    let gateway_b = Gateway::open(b.clone(), store_b, config_b).await.unwrap();
    let address_b = listen(gateway_b.serve(workload())).await;

    let choices = vec![
        Destination { provider: a.address(), offer_id: offer_a, endpoint: format!("http://{address_a}") },
        Destination { provider: b.address(), offer_id: offer_b, endpoint: format!("http://{address_b}") },
    ];
    let config = SessionConfig { dispute_dead_providers: true, ..session_config(4, 8) };
    let mut session = Session::start(tenant.clone(), choices, config).await.unwrap();
    let (_, lease_a) = session.lease().unwrap();
    for _ in 0..6 {
        m.advance(10).await;
        assert!(matches!(session.get("/work/3").await.unwrap().served_by, ServedBy::Provider { .. }));
    }
    gateway_a.0.kill().unwrap();
    gateway_a.0.wait().unwrap();
    m.advance(120).await;
    let answer = session.get("/work/3").await.unwrap();
    assert!(matches!(answer.served_by, ServedBy::Provider { provider, .. } if provider == b.address()));
    let used_a = session.report().providers[0].clone();
    assert!((60..=62).contains(&used_a.served_secs), "A served ~60 s, not its dead 120 s: {used_a:?}");
    assert_eq!(used_a.paid_for_nothing(), U256::ZERO);
    // The receipt for the last 10 s was signed for the request A never answered: unsent.
    assert_eq!(used_a.unpaid(), U256::from(10 * PRICE), "{used_a:?}");
    let paid_a = used_a.paid;
    // A stopped answering altogether: the session disputed the lease it left, with the times.
    let dispute = tenant.dispute(lease_a).await.unwrap();
    assert_eq!(dispute.status, u8::from(openlease_client::status::DisputeStatus::Open), "{dispute:?}");
    let evidence = tenant.market().DisputeOpened_filter().query().await.unwrap();
    assert!(evidence.iter().any(|(e, _)| e.leaseId == lease_a && e.evidenceURI.starts_with("openlease:unanswered:")));

    // A comes back after its lease ended (the failover gave notice); it settles its book.
    m.advance(3_700).await;
    let _back = Binary::start(&m, upstream, address_a, &db, &manifest);
    let started = Instant::now();
    loop {
        let settled = U256::from(a.lease(lease_a).await.unwrap().settled);
        if settled == paid_a {
            break;
        }
        assert!(settled < paid_a, "settled {settled}, more than the {paid_a} the session attested");
        assert!(started.elapsed() < Duration::from_secs(30), "settled {settled} of {paid_a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
