//! Issue 21's targets, on anvil with real gateways and sessions:
//! - signing: what one answer's attestation costs (median over `--samples` signatures);
//! - detection: repeated sessions, each checking a share `s` of its answers against a referee,
//!   on a provider whose gateway answers wrongly a share `f` of the time; how many answers each
//!   took to catch it, against `ln(0.01) / ln(1 - s·f)` (99%);
//! - no false accusations: one session checking every one of its answers from an honest provider:
//!   no contest, no slash, no dispute;
//! - what the checks cost the tenant, against `s` times the price of the answers.

use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256, keccak256};
use axum::Router;
use openlease_client::{
    Attester, Client,
    check::{Checks, ContestOutcome, answers_to_catch, exact},
    session::{Destination, Session, SessionConfig},
};
use openlease_gateway::{Gateway, GatewayConfig, ReceiptStore, workload};
use openlease_testkit::TempDir;

use super::{Figure, Market, PRICE, PROVIDERS, USDC, figure, listen};

/// The tenant of the checked sessions.
const CHECKING_TENANT: usize = 7;

/// A gateway serving `router` for `provider` (account `index`), attesting every answer.
async fn gateway(m: &Market, index: usize, router: Router) -> eyre::Result<(String, TempDir)> {
    let dir = TempDir::new("checks-bench");
    let store = ReceiptStore::open(&format!("sqlite://{}/book.db", dir.path().display())).await?;
    let config = GatewayConfig { credit_secs: u64::MAX, ..GatewayConfig::default() };
    let gateway = Gateway::open(m.client(index, true).await?, store, config).await?;
    gateway.attest_with(m.key(index)).await?;
    let _settlement = gateway.spawn_settlement();
    let (url, _task) = listen(gateway.serve(router)).await?;
    Ok((url, dir))
}

/// Runs the checks phase: `runs` detection sessions at `share` against a provider wrong on
/// `wrong` of its answers, then `honest` answers all checked from an honest provider.
pub(crate) async fn run(
    m: &Market,
    runs: usize,
    share: f64,
    wrong: f64,
    honest: u64,
    samples: usize,
) -> eyre::Result<Vec<Figure>> {
    let mut figures = Vec::new();

    // Signing alone, as the gateway does it per answer.
    let domain = m.client(PROVIDERS[0], true).await?.receipt_domain();
    let attester = Attester::new(m.key(PROVIDERS[0]), domain, 1);
    let mut took = Vec::with_capacity(samples);
    for i in 0..samples {
        let (request, response) = (keccak256(i.to_be_bytes()), keccak256((i + 1).to_be_bytes()));
        let started = Instant::now();
        std::hint::black_box(attester.sign(U256::from(1), workload_id(), request, response, 0)?);
        took.push(started.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    figures.push(figure(
        format!("attestation signing per answer, median of {samples}"),
        format!("{:.1} µs", median.as_secs_f64() * 1e6),
        "≤ 50 µs",
        Some(median <= Duration::from_micros(50)),
    ));

    // The market: a provider that cheats, an honest one, a referee (the cloud fallback).
    let (cheat, honest_provider) = (m.client(PROVIDERS[0], true).await?, m.client(PROVIDERS[1], true).await?);
    let (cheat_offer, honest_offer) = (m.provider(&cheat).await?, m.provider(&honest_provider).await?);
    let (cheat_url, _cheat_dir) = gateway(m, PROVIDERS[0], workload::answering_wrong(wrong)).await?;
    let (honest_url, _honest_dir) = gateway(m, PROVIDERS[1], workload::router()).await?;
    let (referee, _referee_task) = listen(workload::router()).await?;
    let tenant = m.client(CHECKING_TENANT, false).await?;
    m.mint(&tenant, 10_000_000 * USDC).await?;
    let checks = |share| Checks {
        share,
        referee: referee.clone(),
        comparator: exact(),
        cost_per_check: U256::from(PRICE),
        dispute: false,
    };
    let config = |share| SessionConfig {
        duration: 86_400,
        deposit: U256::from(86_400 * PRICE),
        budget: U256::from(1_000_000 * USDC),
        failures_before_failover: 3,
        request_timeout: Duration::from_secs(10),
        fallback: None,
        fallback_cost_per_request: U256::ZERO,
        dispute_dead_providers: false,
        checks: Some(checks(share)),
    };
    let destination = |provider: &Client<_>, offer, endpoint: &str| Destination {
        provider: provider.address(),
        offer_id: offer,
        endpoint: endpoint.to_owned(),
    };

    // Detection, over repeated sessions.
    let bound = answers_to_catch(share, wrong, 0.99);
    let mut needed = Vec::with_capacity(runs);
    let (mut slashed, mut checked, mut cost, started) = (0, 0, U256::ZERO, Instant::now());
    for run in 0..runs {
        let choices = vec![
            destination(&cheat, cheat_offer, &cheat_url),
            destination(&honest_provider, honest_offer, &honest_url),
        ];
        let mut session = Session::start(tenant.clone(), choices, config(share)).await?;
        let mut answers = 0u64;
        while session.report().checks.contested == 0 {
            answers += 1;
            eyre::ensure!(answers <= 20 * bound as u64, "run {run}: not caught after {answers} answers");
            session.get("/work/8").await?;
        }
        let report = session.report();
        slashed +=
            report.checks.evidence.iter().filter(|e| matches!(e.outcome, ContestOutcome::Slashed { .. })).count();
        checked += report.checks.checked;
        cost += report.checks.cost;
        needed.push(answers);
        session.finish().await?;
    }
    needed.sort_unstable();
    let p99 = needed[(needed.len() * 99).div_ceil(100).saturating_sub(1)];
    let within = needed.iter().filter(|&&n| n as f64 <= bound).count();
    let mean = needed.iter().sum::<u64>() as f64 / needed.len() as f64;
    println!(
        "detection: {runs} sessions at s = {:.0}%, f = {:.0}% in {:.0} s: answers to catch mean {mean:.0}, median {}, p99 {p99}, max {}; caught within {bound:.0}: {within}/{runs}; slashed without an arbiter: {slashed}/{runs}",
        share * 100.0,
        wrong * 100.0,
        started.elapsed().as_secs_f64(),
        needed[needed.len() / 2],
        needed.last().copied().unwrap_or_default(),
    );
    figures.push(figure(
        format!("answers to catch, p99 of {runs} sessions (s {:.0}%, f {:.0}%)", share * 100.0, wrong * 100.0),
        format!("{p99} (mean {mean:.0})"),
        format!("≤ {bound:.0}"),
        Some(p99 as f64 <= bound && within * 100 >= runs * 99),
    ));
    figures.push(figure(
        "caught providers slashed without an arbiter",
        format!("{slashed}/{runs}"),
        "all",
        Some(slashed == runs),
    ));
    let answered: u64 = needed.iter().sum();
    let share_paid = u128::try_from(cost).unwrap_or(u128::MAX) as f64 / (answered as f64 * PRICE as f64);
    figures.push(figure(
        "check cost / price of the answers",
        format!("{:.2}% ({checked} checks)", share_paid * 100.0),
        format!("≈ {:.0}%", share * 100.0),
        None,
    ));

    // No false accusations: every honest answer checked.
    let choices = vec![destination(&honest_provider, honest_offer, &honest_url)];
    let mut session = Session::start(tenant.clone(), choices, config(1.0)).await?;
    let started = Instant::now();
    for i in 0..honest {
        session.get(&format!("/work/{}", 1 + i % 64)).await?;
    }
    let report = session.report().clone();
    let (_, lease) = session.lease().ok_or_else(|| eyre::eyre!("the honest provider was left"))?;
    let bond = honest_provider.lease(lease).await?.bond;
    let disputes = u8::from(honest_provider.market().dispute(lease).call().await?.status != 0);
    println!(
        "honest: {} answers, all checked in {:.0} s: checked {}, agreed {}, contested {}, unattested {}, bond intact: {}",
        honest,
        started.elapsed().as_secs_f64(),
        report.checks.checked,
        report.checks.agreed,
        report.checks.contested,
        report.checks.unattested,
        bond > 0,
    );
    figures.push(figure(
        format!("false accusations over {honest} honest answers, all checked"),
        format!("{} contested, {} disputes", report.checks.contested, disputes),
        "0",
        Some(report.checks.contested == 0 && disputes == 0 && report.checks.checked == honest && bond > 0),
    ));
    session.finish().await?;
    Ok(figures)
}

fn workload_id() -> B256 {
    openlease_client::contracts::workload::DEMO
}
