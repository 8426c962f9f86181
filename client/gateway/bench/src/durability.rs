//! Acknowledged is settled, whatever happens: the `openlease-gateway` binary (what providers run),
//! killed with SIGKILL at random moments while tenants' receipts flow, on a SQLite book; then two
//! replicas on one PostgreSQL book, one killed again and again, the other killed for good halfway,
//! and a reorg that drops the final settlement. At the end the leases end and the surviving
//! gateway settles: every receipt it answered 200 to must be paid (acknowledged-but-unsettled = 0),
//! and nothing beyond what the tenant signed (paid twice = 0).

use std::{
    collections::HashMap,
    process::{Child, Command},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, U256},
    providers::{Provider, ext::AnvilApi},
};
use eyre::{WrapErr, bail};
use openlease_client::{ReceiptSigner, wire};
use openlease_testkit::TempDir;

use super::{Figure, Market, PRICE, PROVIDERS, TENANT, figure, listen, upstream};

/// Leases the receipts are spread over.
const LEASES: usize = 8;

/// What one kill loop saw, per lease: the largest receipt answered 200, the largest signed.
#[derive(Debug, Default)]
struct Ledger {
    acknowledged: HashMap<U256, U256>,
    signed: HashMap<U256, U256>,
    requests: u64,
}

/// The gateway binary, next to this one (`cargo build --release -p openlease-gateway`).
fn binary() -> eyre::Result<std::path::PathBuf> {
    let path = std::env::current_exe()?.with_file_name("openlease-gateway");
    if !path.exists() {
        bail!(
            "{} is missing: build it beside the bench (`cargo build --release -p openlease-gateway -p openlease-gateway-bench`), or pass --kills 0",
            path.display()
        );
    }
    Ok(path)
}

struct Replica {
    child: Option<Child>,
    listen: String,
    args: Vec<String>,
}

impl Replica {
    fn new(m: &Market, upstream: &str, db: &str, manifest: &std::path::Path) -> eyre::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let args = ["--upstream", upstream, "--listen", &listen, "--rpc-url", &m.anvil.endpoint(), "--db", db]
            .into_iter()
            .map(String::from)
            .chain(["--settle-every".into(), "1".into(), "--manifest".into(), manifest.display().to_string()])
            .collect();
        Ok(Self { child: None, listen, args })
    }

    async fn start(&mut self, m: &Market) -> eyre::Result<()> {
        let key = format!("0x{}", alloy::hex::encode(m.key(PROVIDERS[0]).to_bytes()));
        let child = Command::new(binary()?)
            .args(&self.args)
            .env("OPENLEASE_PRIVATE_KEY", key)
            .env("RUST_LOG", "error")
            .spawn()
            .wrap_err("starting the gateway binary")?;
        self.child = Some(child);
        let started = Instant::now();
        let health = format!("http://{}/openlease/health", self.listen);
        while reqwest::get(&health).await.is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the gateway at {} did not come up", self.listen);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends the tenant's receipts to `replicas` in turn, one lease after another, each larger by a
/// second of service, until `stop`; what was answered 200 is acknowledged.
async fn tenant_load(
    replicas: Vec<String>,
    leases: Vec<U256>,
    signer: ReceiptSigner,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a client");
    let period_end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 864_000;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let lease = leases[n % leases.len()];
        let to = &replicas[(n / leases.len()) % replicas.len()];
        n += 1;
        let cumulative = {
            let mut ledger = ledger.lock().expect("ledger");
            ledger.requests += 1;
            let signed = ledger.signed.entry(lease).or_default();
            *signed += U256::from(PRICE);
            *signed
        };
        let receipt = signer.sign_usage(lease, cumulative, B256::ZERO, period_end).expect("signs");
        let answer = http
            .get(format!("http://{to}/empty"))
            .header(wire::LEASE_HEADER, lease.to_string())
            .header(wire::RECEIPT_HEADER, wire::receipt_header(signer.domain(), &receipt))
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => {
                let mut ledger = ledger.lock().expect("ledger");
                let acknowledged = ledger.acknowledged.entry(lease).or_default();
                *acknowledged = (*acknowledged).max(cumulative);
            }
            // Killed mid-request, or down: the receipt may or may not be in the book.
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// A pseudo-random number in `0..n` (xorshift; the loop needs variety, not secrecy).
fn draw(state: &mut u64, n: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % n
}

/// One kill loop: `kills` SIGKILLs of `killed` at random moments (0.2–1.2 s apart) while the
/// tenant's receipts flow to every replica; `doomed`, if any, dies for good halfway. Then every
/// lease gets notice and ends, and `killed` settles (through a reorg, when `reorg`). The figures.
#[allow(clippy::too_many_arguments)]
async fn kill_loop(
    m: &Market,
    offer: U256,
    name: &str,
    db: &str,
    upstream: &str,
    manifest: &std::path::Path,
    kills: usize,
    with_doomed: bool,
    reorg: bool,
) -> eyre::Result<Vec<Figure>> {
    let provider = m.client(PROVIDERS[0], true).await?;
    let tenant = m.client(TENANT, true).await?;
    let mut leases = Vec::new();
    for _ in 0..LEASES {
        leases.push(m.lease(&tenant, offer).await?);
    }
    let mut killed = Replica::new(m, upstream, db, manifest)?;
    killed.start(m).await?;
    let mut doomed = if with_doomed {
        let mut replica = Replica::new(m, upstream, db, manifest)?;
        replica.start(m).await?;
        Some(replica)
    } else {
        None
    };
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let replicas: Vec<String> =
        std::iter::once(killed.listen.clone()).chain(doomed.as_ref().map(|d| d.listen.clone())).collect();
    let signer = tenant.receipt_signer(m.key(TENANT));
    let load = tokio::spawn(tenant_load(replicas, leases.clone(), signer, ledger.clone(), stop.clone()));

    let started = Instant::now();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(started.elapsed().subsec_nanos());
    for kill in 1..=kills {
        tokio::time::sleep(Duration::from_millis(200 + draw(&mut seed, 1_000))).await;
        killed.kill();
        if kill == kills / 2
            && let Some(mut gone) = doomed.take()
        {
            // Killed for good: whatever only it held must be settled by the other.
            gone.kill();
        }
        killed.start(m).await?;
    }
    stop.store(true, Ordering::Relaxed);
    load.await?;
    let loop_secs = started.elapsed().as_secs_f64();

    // Every lease ends; the survivor settles what it (and the dead replica) acknowledged.
    for lease in &leases {
        tenant.close_lease(*lease).await?;
    }
    let node = provider.provider().clone();
    node.anvil_increase_time(3_700).await?;
    node.anvil_mine(Some(1), None).await?;
    let snapshot = node.anvil_snapshot().await?;
    let ledger = Arc::try_unwrap(ledger).map_err(|_| eyre::eyre!("ledger still shared"))?.into_inner().expect("ledger");
    let settle_started = Instant::now();
    wait_settled(&provider, &leases, &ledger, Duration::from_secs(90)).await;
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let mut reorged = String::new();
    if reorg {
        // The settlements' blocks are gone, and the node forgot their transactions.
        node.anvil_revert(snapshot).await?;
        node.anvil_mine(Some(2), None).await?;
        let dropped = count_settled(&provider, &leases).await?;
        let again = Instant::now();
        wait_settled(&provider, &leases, &ledger, Duration::from_secs(90)).await;
        reorged = format!(
            ", a reorg dropped the settlement ({dropped} leases left settled), settled again in {:.1} s",
            again.elapsed().as_secs_f64()
        );
    }
    killed.kill();

    let (mut unsettled, mut paid_twice, mut beyond) = (U256::ZERO, U256::ZERO, U256::ZERO);
    let mut acknowledged_total = U256::ZERO;
    for lease in &leases {
        let settled = U256::from(provider.lease(*lease).await?.settled);
        let acknowledged = ledger.acknowledged.get(lease).copied().unwrap_or_default();
        let signed = ledger.signed.get(lease).copied().unwrap_or_default();
        acknowledged_total += acknowledged;
        unsettled += acknowledged.saturating_sub(settled);
        paid_twice += settled.saturating_sub(signed);
        beyond += settled.saturating_sub(acknowledged);
    }
    println!(
        "  {name}: {kills} kills in {loop_secs:.1} s, {} requests, {} raw acknowledged over {LEASES} leases; settled in {settle_secs:.1} s{reorged}; \
         settled beyond what was answered 200 (kept, then killed before the answer): {beyond} raw",
        ledger.requests, acknowledged_total
    );
    Ok(vec![
        figure(
            format!("{name}: acknowledged but unsettled"),
            format!("{unsettled} raw"),
            "0",
            Some(unsettled.is_zero()),
        ),
        figure(
            format!("{name}: paid beyond what was signed"),
            format!("{paid_twice} raw"),
            "0",
            Some(paid_twice.is_zero()),
        ),
    ])
}

async fn count_settled<P: Provider + Clone>(
    client: &openlease_client::Client<P>,
    leases: &[U256],
) -> eyre::Result<usize> {
    let mut n = 0;
    for lease in leases {
        n += usize::from(client.lease(*lease).await?.settled > alloy::primitives::Uint::ZERO);
    }
    Ok(n)
}

/// Waits until every lease has settled at least what was acknowledged of it, or `timeout`.
async fn wait_settled<P: Provider + Clone>(
    client: &openlease_client::Client<P>,
    leases: &[U256],
    ledger: &Ledger,
    timeout: Duration,
) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let mut done = true;
        for lease in leases {
            let settled = client.lease(*lease).await.map(|l| U256::from(l.settled)).unwrap_or_default();
            done &= settled >= ledger.acknowledged.get(lease).copied().unwrap_or_default();
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Both loops: SQLite (`kills` kills), and PostgreSQL replicas when `postgres` names a server.
pub(crate) async fn run(m: &Market, offer: U256, kills: usize, postgres: Option<&str>) -> eyre::Result<Vec<Figure>> {
    println!("\ndurability: the gateway binary killed with SIGKILL while receipts flow");
    let dir = TempDir::new("gateway-bench-kills");
    let manifest = dir.path().join("manifest.json");
    m.manifest.save(&manifest)?;
    let (upstream, _upstream_task) = listen(upstream()).await?;
    let mut figures = Vec::new();
    let sqlite = format!("sqlite://{}/book.db", dir.path().display());
    figures.extend(kill_loop(m, offer, "SQLite", &sqlite, &upstream, &manifest, kills, false, false).await?);
    match postgres {
        Some(server) => {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut admin = sqlx::AnyConnection::connect(server).await?;
            for sql in [
                "DROP DATABASE IF EXISTS openlease_gateway_bench WITH (FORCE)",
                "CREATE DATABASE openlease_gateway_bench",
            ] {
                sqlx::query(sql).execute(&mut admin).await?;
            }
            let db = format!("{}/openlease_gateway_bench", server.rsplit_once('/').map_or(server, |(base, _)| base));
            let name = "PostgreSQL, 2 replicas, one dies for good";
            figures.extend(kill_loop(m, offer, name, &db, &upstream, &manifest, kills, true, true).await?);
        }
        None => println!("  PostgreSQL: no --postgres (or OPENLEASE_TEST_POSTGRES_URL): the replica loop did NOT run"),
    }
    Ok(figures)
}
