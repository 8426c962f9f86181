//! Fixtures: anvil with the suite deployed, a random marketplace, fresh databases.

use std::{sync::Arc, time::Duration};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::SolStruct,
};
use openlease_contracts::{Manifest, MockStablecoin, Openlease};
use openlease_indexer::{
    audit::audit,
    chain::Chain,
    ingest::{IngestConfig, Ingestor},
    metrics::Metrics,
    store::Store,
};

pub(crate) use openlease_testkit::spawn_anvil;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

/// What a fresh database leaves behind, removed on drop (also when the test panics).
pub(crate) enum DbGuard {
    /// The SQLite file's directory (removed by its own drop).
    Sqlite { _dir: openlease_testkit::TempDir },
    /// A database on the test PostgreSQL server: `(server url, database name)`.
    Postgres(String, String),
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        let DbGuard::Postgres(server, name) = self else { return };
        let (server, name) = (server.clone(), name.clone());
        // Drop runs outside any runtime we may block: a thread of its own with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                let mut admin = sqlx::AnyConnection::connect(&server).await?;
                // FORCE: the indexer's pools and lock sessions may still be open.
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database: {dropped:?}");
        }
    }
}

/// A fresh database of `kind`, or `None` (said plainly) when no PostgreSQL server is configured.
/// A PostgreSQL database is dropped with the guard.
pub(crate) async fn fresh_db(kind: Db, test: &str) -> Option<(String, DbGuard)> {
    match kind {
        Db::Sqlite => {
            let dir = openlease_testkit::TempDir::new("indexer");
            Some((format!("sqlite://{}", dir.path().join("indexer.db").display()), DbGuard::Sqlite { _dir: dir }))
        }
        Db::Postgres => {
            let Ok(server) = std::env::var("OPENLEASE_TEST_POSTGRES_URL") else {
                eprintln!("{test}: OPENLEASE_TEST_POSTGRES_URL is not set: the PostgreSQL variant did NOT run");
                return None;
            };
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            // One database per test, named after it: a leftover of a killed run is replaced here.
            let name = format!("openlease_{test}");
            let mut admin = sqlx::AnyConnection::connect(&server).await.expect("the test PostgreSQL server answers");
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
            let base = server.rsplit_once('/').map(|(base, _)| base).unwrap_or(&server);
            Some((format!("{base}/{name}"), DbGuard::Postgres(server, name)))
        }
    }
}

/// anvil with the suite deployed and a handle to drive a random market on it.
pub(crate) struct Market {
    pub(crate) anvil: AnvilInstance,
    pub(crate) provider: DynProvider,
    pub(crate) manifest: Manifest,
    pub(crate) market: Openlease::OpenleaseInstance<DynProvider>,
    pub(crate) usdc: Address,
    rng: u64,
    /// Leases a payment was demanded of: evictions are tried on these.
    demanded: Vec<U256>,
}

const USDC: u64 = 1_000_000;
/// anvil accounts: 1..=3 providers, 4..=5 tenants, 7 arbiter (devnet config), 8 a session signer
/// the tenants authorize for some providers.
const PROVIDERS: [usize; 3] = [1, 2, 3];
const TENANTS: [usize; 2] = [4, 5];
const ARBITER: usize = 7;
pub(crate) const SESSION_SIGNER: usize = 8;

alloy::sol! {
    /// What an attestation key signs to prove it is held (`registerProvider`'s `keyProof`).
    struct AttestationKey {
        address provider;
    }
}

/// `registerProvider`'s `keyProof`: `key`'s signature of `AttestationKey(provider)` under the
/// market's EIP-712 domain.
pub(crate) fn key_proof(manifest: &Manifest, key: &PrivateKeySigner, provider: Address) -> Bytes {
    let domain = alloy::sol_types::eip712_domain! {
        name: "Openlease",
        version: "1",
        chain_id: manifest.chain_id,
        verifying_contract: manifest.market(),
    };
    let digest = AttestationKey { provider }.eip712_signing_hash(&domain);
    Bytes::from(key.sign_hash_sync(&digest).expect("signing").as_bytes().to_vec())
}

impl Market {
    /// Deploys the suite and registers, funds and stakes three providers with an offer each.
    pub(crate) async fn new(seed: u64) -> Self {
        let anvil = spawn_anvil();
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(anvil.endpoint_url()).erased();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let market = Openlease::new(manifest.market(), provider.clone());
        let usdc = manifest.stablecoin("USDC").unwrap().address;
        let this = Self { anvil, provider, manifest, market, usdc, rng: seed.max(1), demanded: Vec::new() };
        let token = MockStablecoin::new(usdc, this.provider.clone());
        for (i, index) in PROVIDERS.into_iter().chain(TENANTS).enumerate() {
            let from = this.account(index);
            this.send(token.mint(from, U256::from(1_000_000 * USDC)).from(from)).await;
            this.send(token.approve(manifest_market(&this), U256::MAX).from(from)).await;
            if i < PROVIDERS.len() {
                let region = ["eu-west", "us-east", "ap-south"][i];
                // The provider's own key attests its usage, and proves it.
                let proof = key_proof(&this.manifest, &this.key(index), from);
                let register = this.market.registerProvider(
                    format!("ipfs://p{i}"),
                    format!("https://p{i}"),
                    region.into(),
                    B256::ZERO,
                    from,
                    proof,
                );
                assert!(this.send(register.from(from)).await, "provider {from} registers");
                this.send(this.market.stake(usdc, U256::from(100_000 * USDC)).from(from)).await;
                this.send(
                    this.market
                        .publishOffer(usdc, 10 + i as u64, 60, 30 * 86_400, 3_600, 20, B256::ZERO, Address::ZERO)
                        .from(from),
                )
                .await;
            }
        }
        this
    }

    pub(crate) fn account(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    pub(crate) fn key(&self, index: usize) -> PrivateKeySigner {
        PrivateKeySigner::from(self.anvil.keys()[index].clone())
    }

    fn next(&mut self, n: u64) -> u64 {
        // xorshift64: reproducible from the seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    /// Sends a transaction; `false` if it reverted (random operations often do).
    pub(crate) async fn send<C: alloy::contract::CallDecoder>(
        &self,
        call: alloy::contract::CallBuilder<&DynProvider, C>,
    ) -> bool {
        match call.send().await {
            Ok(pending) => pending.get_receipt().await.map(|r| r.status()).unwrap_or(false),
            Err(_) => false,
        }
    }

    /// One random marketplace operation; `true` if it went through.
    pub(crate) async fn random_op(&mut self) -> bool {
        let lease_count: u64 = self.market.leaseCount().call().await.unwrap().to();
        let lease = U256::from(1 + self.next(lease_count.max(1)));
        let provider = PROVIDERS[self.next(3) as usize];
        let tenant_index = TENANTS[self.next(2) as usize];
        let tenant = self.account(tenant_index);
        let offer = U256::from(1 + self.next(3));
        let m = self.market.clone();
        let usdc = self.usdc;
        let (a, b) = (self.next(1 << 32), self.next(1 << 32));
        match self.next(17) {
            0 | 1 => {
                let terms = m.offerTermsHash(offer).call().await.unwrap_or_default();
                let (duration, deposit) = (3_600 + (a % 7_200) as u32, U256::from(200_000 + b % 100_000));
                if b % 5 == 0 {
                    // A failover from one of the tenant's leases, moving its unclaimable escrow.
                    self.send(m.failoverLease(lease, offer, duration, deposit / U256::from(4), terms).from(tenant))
                        .await
                } else {
                    self.send(m.openLease(offer, duration, deposit, terms).from(tenant)).await
                }
            }
            2 => self.send(m.topUp(lease, U256::from(1 + a % 50_000)).from(tenant)).await,
            3 => self.send(m.closeLease(lease).from(tenant)).await,
            4 => self.send(m.terminateLease(lease).from(self.account(provider))).await,
            // An eviction needs a demand left unanswered for an hour: time steps and settlements
            // (answers) come between them at random. Both are sent by the lease's own provider.
            14 => {
                let Some(by) = self.provider_of(lease).await else { return false };
                let demanded = self.send(m.demandPayment(lease).from(by)).await;
                if demanded {
                    self.demanded.push(lease);
                }
                demanded
            }
            15 => {
                let lease = match self.demanded.len() as u64 {
                    0 => lease,
                    n => {
                        let pick = self.next(n) as usize;
                        self.demanded[pick]
                    }
                };
                let Some(by) = self.provider_of(lease).await else { return false };
                self.send(m.evictLease(lease).from(by)).await
            }
            5 | 16 => self.settle(lease, b % 2 == 0).await,
            6 => {
                let seconds = 60 + self.next(3_000);
                self.provider.anvil_increase_time(seconds).await.unwrap();
                self.provider.evm_mine(None).await.unwrap();
                true
            }
            7 => self.send(m.finalizeLease(lease).from(tenant)).await,
            8 => self.send(m.openDispute(lease, "ipfs://evidence".into()).from(tenant)).await,
            9 if a % 4 == 0 => self.send(m.expireDispute(lease).from(tenant)).await,
            9 => {
                let bps = self.next(5_001) as u16;
                self.send(m.ruleDispute(lease, bps).from(self.account(ARBITER))).await
            }
            10 => self.send(m.claim(usdc, tenant).from(tenant)).await,
            // The session signer, authorized (or revoked) for one provider at a time.
            11 if a % 4 == 0 => {
                self.send(m.revokeSigner(self.account(SESSION_SIGNER), self.account(provider)).from(tenant)).await
            }
            11 => {
                let expiry = alloy::primitives::Uint::from(4_000_000_000u64);
                let cap = alloy::primitives::Uint::from(100_000 + b % 1_000_000);
                let signer = self.account(SESSION_SIGNER);
                self.send(m.authorizeSigner(signer, self.account(provider), cap, expiry).from(tenant)).await
            }
            12 => {
                self.send(m.requestUnstake(usdc, U256::from(1 + a % (1_000 * USDC))).from(self.account(provider))).await
            }
            _ => self.send(m.setOfferPaused(offer, a % 2 == 0).from(self.account(provider))).await,
        }
    }

    /// The provider of `lease`, if it exists.
    async fn provider_of(&self, lease: U256) -> Option<Address> {
        let terms = self.market.lease(lease).call().await.ok()?;
        Some(self.market.offer(U256::from(terms.offerId)).call().await.ok()?.provider).filter(|p| !p.is_zero())
    }

    /// Settles a receipt for `lease` signed by its tenant, or by the session signer (which pays
    /// only if the tenant authorized it for the lease's provider).
    async fn settle(&mut self, lease: U256, by_session_signer: bool) -> bool {
        let Ok(terms) = self.market.lease(lease).call().await else { return false };
        let Some(tenant_index) = TENANTS.into_iter().find(|i| self.account(*i) == terms.tenant) else { return false };
        let offer = self.market.offer(U256::from(terms.offerId)).call().await.unwrap();
        let cumulative = terms.settled.to::<u128>() + 1 + u128::from(self.next(5_000));
        let key = self.key(if by_session_signer { SESSION_SIGNER } else { tenant_index });
        let signer = openlease_testkit::receipt_signer(&self.manifest, key);
        // The service period ends with the lease: the receipt pays what accrued until it is settled.
        let period_end = u64::from(terms.endsAt);
        let signed =
            signer.sign_usage(lease, U256::from(cumulative), keccak256(cumulative.to_be_bytes()), period_end).unwrap();
        self.send(self.market.settle(signed).from(offer.provider)).await
    }

    /// Runs random operations until `n` went through.
    pub(crate) async fn random_ops(&mut self, n: usize) {
        let mut done = 0;
        while done < n {
            done += usize::from(self.random_op().await);
        }
    }

    /// A connection to the node for the indexer.
    pub(crate) fn chain(&self) -> Chain {
        Chain::connect(&self.anvil.endpoint(), self.manifest.market(), Default::default()).unwrap()
    }
}

fn manifest_market(m: &Market) -> Address {
    m.manifest.market()
}

/// Quick pacing for tests.
pub(crate) fn test_config() -> IngestConfig {
    IngestConfig {
        poll_interval: Duration::from_millis(50),
        backoff: (Duration::from_millis(50), Duration::from_millis(500)),
        ..Default::default()
    }
}

/// Starts an ingestor on `url`.
pub(crate) async fn ingestor(market: &Market, url: &str, config: IngestConfig) -> (Store, Ingestor) {
    let store = Store::connect(url).await.unwrap();
    let ingestor =
        Ingestor::start(store.clone(), market.chain(), &market.manifest, config, Arc::new(Metrics::default()))
            .await
            .unwrap();
    (store, ingestor)
}

/// Asserts the audit finds nothing and checked something.
pub(crate) async fn assert_audit_passes(store: &Store, market: &Market) {
    let report = audit(store, &market.chain()).await.unwrap();
    let divergences: Vec<String> = report.divergences.iter().map(ToString::to_string).collect();
    assert!(divergences.is_empty(), "audit at block {}:\n{}", report.block, divergences.join("\n"));
    assert!(report.checked > 50, "the audit compared only {} fields", report.checked);
}

/// Every log the market emitted, per the node.
pub(crate) async fn chain_log_count(market: &Market) -> u64 {
    let head = market.provider.get_block_number().await.unwrap();
    market.chain().logs(0, head).await.unwrap().len() as u64
}

/// Runs `$body` (an async fn taking `Db` and a name) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body($crate::util::Db::Sqlite, concat!(stringify!($name), "_sqlite")).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$body($crate::util::Db::Postgres, concat!(stringify!($name), "_pg")).await;
            }
        }
    };
}

// ─── Helpers for markets built by hand and for the served API (history, feed) ───────────────

impl Market {
    /// Sends `call` in a block of its own, stamped `timestamp` when given; panics with `what` and
    /// the node's error if it is refused or reverts.
    pub(crate) async fn must<C: alloy::contract::CallDecoder>(
        &self,
        timestamp: Option<u64>,
        call: alloy::contract::CallBuilder<&DynProvider, C>,
        what: &str,
    ) {
        if let Some(timestamp) = timestamp {
            self.provider.anvil_set_next_block_timestamp(timestamp).await.unwrap();
        }
        // A gas limit of our own: anvil estimates at the latest block's time, not the one set for
        // the next block, so its estimate can revert or come out a few gas short.
        let call = call.gas(2_000_000);
        let pending = call.send().await.unwrap_or_else(|e| panic!("{what} (at {timestamp:?}) was refused: {e}"));
        let receipt = pending.get_receipt().await.unwrap();
        if !receipt.status() {
            // The same call against the block's state says why (as far as the node can tell).
            let why = call.call_raw().block(receipt.block_number.unwrap().into()).await.err();
            panic!("{what} (at {timestamp:?}) reverted, gas used {}: {why:?}", receipt.gas_used);
        }
        if let Some(timestamp) = timestamp {
            let block = self.provider.get_block_by_number(receipt.block_number.unwrap().into()).await.unwrap();
            assert_eq!(block.unwrap().header.timestamp, timestamp, "{what}: the block has the timestamp set");
        }
    }

    /// A receipt of `lease` for `cumulative` raw units, signed by its tenant (one of the tenant
    /// accounts) for service until the lease's end (so it pays what accrued until it is settled),
    /// and the provider that settles it.
    pub(crate) async fn tenant_receipt(
        &self,
        lease: u64,
        cumulative: u128,
    ) -> (openlease_contracts::IOpenleaseTypes::SignedReceipt, Address) {
        let terms = self.market.lease(U256::from(lease)).call().await.unwrap();
        let tenant = TENANTS.into_iter().find(|i| self.account(*i) == terms.tenant).expect("a tenant account's lease");
        self.receipt(lease, cumulative, tenant, u64::from(terms.endsAt)).await
    }

    /// A receipt of `lease` for `cumulative` raw units for service until `period_end`, signed by
    /// the key of account `key`, and the provider that settles it.
    pub(crate) async fn receipt(
        &self,
        lease: u64,
        cumulative: u128,
        key: usize,
        period_end: u64,
    ) -> (openlease_contracts::IOpenleaseTypes::SignedReceipt, Address) {
        let lease = U256::from(lease);
        let terms = self.market.lease(lease).call().await.unwrap();
        let offer = self.market.offer(U256::from(terms.offerId)).call().await.unwrap();
        let signer = openlease_testkit::receipt_signer(&self.manifest, self.key(key));
        let digest = keccak256(cumulative.to_be_bytes());
        let signed = signer.sign_usage(lease, U256::from(cumulative), digest, period_end).unwrap();
        (signed, offer.provider)
    }

    /// The latest block's timestamp.
    pub(crate) async fn now(&self) -> u64 {
        let latest = self.provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.unwrap();
        latest.unwrap().header.timestamp
    }
}

/// Serves the API and the console over `store` on a free port, as the binary does (amounts in
/// raw units), with `notices` as its live feed; its base URL.
pub(crate) async fn serve_api(
    store: &Store,
    notices: tokio::sync::broadcast::Sender<openlease_indexer::ingest::Notice>,
) -> String {
    let state = openlease_indexer::api::ApiState {
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        max_lag: 10,
        max_head_age: 15,
        notices,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let console = openlease_indexer::console::ConsoleState::new(state.clone(), &[]);
    let app = openlease_indexer::api::router(state).merge(openlease_indexer::console::router(console));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// `GET base+path`: the status and the JSON body (the text, as a string, if it is not JSON).
pub(crate) async fn get_json(base: &str, path: &str) -> (u16, serde_json::Value) {
    let response = alloy::transports::http::reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}
