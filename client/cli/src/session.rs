//! `openlease session run`: a tenant's session from the command line. Chooses providers from the
//! indexer by expected cost, leases the cheapest (by permit), pays for the service it gets,
//! fails over when the provider stops answering and falls back to a URL of your own when none
//! is left; progress on a terminal, and the session's real cost at the end (`--json` too).
//! `openlease session proxy` serves the same session as a local HTTP endpoint any app can use.

mod proxy;

use std::time::Duration;

use alloy::providers::DynProvider;
use clap::Args;
use openlease_client::{
    StablecoinEntry as Coin, TypedAmount, TypedDuration,
    check::{self, CheckReport, Checks, ContestOutcome},
    listing,
    select::{self, Preferences},
    session::{ServedBy, SessionConfig, SessionReport, Spread},
};
use serde_json::json;

use crate::{
    config::Settings,
    error::{Result, bail},
    output::{Output, Report},
    units::{amount_arg, amount_json, duration_arg, resolve, resolve_in, share_arg},
};

/// `openlease session`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SessionCommand {
    /// Runs a session, e.g. `session run --indexer http://127.0.0.1:8080 --deposit "5 USDC"
    /// --budget "5 USDC" --path /work/2000 --requests 60`.
    Run(Box<RunArgs>),
    /// Serves a session at a local URL: point an app's base URL at it (an OpenAI client's
    /// `base_url` at `http://LISTEN/v1`) and its requests are paid for, failed over and answered
    /// as they stream; the report at `/openlease/session`, and on exit (Ctrl-C, SIGTERM).
    Proxy(Box<ProxyArgs>),
}

/// How a session chooses, pays and fails over: shared by `run` and `proxy`.
#[derive(Debug, Args)]
pub(crate) struct SessionArgs {
    /// The indexer's API, where providers are chosen from.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    indexer: String,
    /// Escrow per lease, with its token (which every offer chosen is paid in).
    #[arg(long, value_parser = amount_arg)]
    deposit: TypedAmount,
    /// The most the session's receipts may attest, over every lease.
    #[arg(long, value_parser = amount_arg)]
    budget: TypedAmount,
    /// How long each lease runs.
    #[arg(long, default_value = "1d", value_parser = duration_arg)]
    duration: TypedDuration,
    /// Only providers in this region.
    #[arg(long)]
    region: Option<String>,
    /// Only offers at this price per second or less, in the deposit's token (e.g. "0.0001 USDC").
    #[arg(long, value_parser = amount_arg)]
    max_price: Option<TypedAmount>,
    /// Providers to spread the requests over (a session each, taken in turn).
    #[arg(long, default_value_t = 1)]
    spread: usize,
    /// Failed requests in a row on one provider before failing over.
    #[arg(long, default_value_t = 3)]
    failures: u32,
    /// A URL to send requests to when no provider can serve (a centralized cloud).
    #[arg(long)]
    fallback: Option<String>,
    /// Dispute a lease whose provider stopped answering altogether (posts the dispute bond; the
    /// lease's arbiter rules).
    #[arg(long)]
    dispute: bool,
    /// What one fallback request costs, for the report.
    #[arg(long, value_parser = amount_arg)]
    fallback_cost: Option<TypedAmount>,
    /// Lease from this provider (its offers in the deposit's token), whatever selection says;
    /// the rest stay the failover order.
    #[arg(long, conflicts_with = "offer")]
    provider: Option<alloy::primitives::Address>,
    /// Lease this offer first, whatever selection says; the rest stay the failover order.
    #[arg(long)]
    offer: Option<u64>,
    /// Re-run this share of the answers on the referee (`0.05` or `5%`) and compare them byte for
    /// byte, as deterministic workloads allow (the demo's /work/N). A mismatch answers you with
    /// the referee's, fails over, and slashes the lease left through its offer's verifier (or
    /// disputes it, with --dispute). Attestations are kept and equivocation slashed either way.
    #[arg(long, default_value = "0", value_parser = share_arg)]
    check_share: f64,
    /// Where checks are re-run: a service of the same workload that you trust (default: the
    /// fallback). Each check costs what --fallback-cost says a request there costs.
    #[arg(long)]
    referee: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The path requested on the provider's service.
    #[arg(long, default_value = "/")]
    path: String,
    /// Between requests.
    #[arg(long, default_value = "1s", value_parser = duration_arg)]
    every: TypedDuration,
    /// Requests to send, then report.
    #[arg(long, default_value_t = 10)]
    requests: u64,
    /// Print each answer on stdout as it arrives, piece by piece (a stream of server-sent events,
    /// a chunked body), before the report; not with --json.
    #[arg(long)]
    stream: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Where the session is served.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
}

/// Runs `openlease session …`.
pub(crate) async fn run(command: SessionCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        SessionCommand::Run(args) => run_requests(*args, settings, out).await,
        SessionCommand::Proxy(args) => proxy::serve(*args, settings, out).await,
    }
}

/// Leases the best offers for `args` (selection by expected cost, or the one picked by hand) and
/// starts the session on them: with the coin it pays in.
async fn start(args: &SessionArgs, settings: &Settings, out: &Output) -> Result<(Spread<DynProvider>, Coin)> {
    let client = settings.connect_to_send().await?;
    let (coin, deposit) = resolve(&args.deposit, client.manifest())?;
    let budget = resolve_in(&args.budget, &coin, "the budget")?;
    let fallback_cost = match &args.fallback_cost {
        Some(cost) => resolve_in(cost, &coin, "the fallback")?.raw,
        None => alloy::primitives::U256::ZERO,
    };
    let bond_bps = client.market().params().call().await.map_err(openlease_client::Error::from)?.bondBps;
    let listings = listing::listings(&args.indexer, coin.address, bond_bps).await?;
    let candidates: Vec<_> = listings.iter().map(|l| l.candidate.clone()).collect();
    let max_price_per_second = match &args.max_price {
        Some(price) => Some(resolve_in(price, &coin, "the maximum price")?.raw.saturating_to::<u64>()),
        None => None,
    };
    let prefs = Preferences { region: args.region.clone(), max_price_per_second, ..Preferences::new(coin.address) };
    let ranked = select::rank(&candidates, &prefs);
    // Now and then a newcomer goes first, so providers without a history can earn one.
    let draw = {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    };
    let first = select::choose(&candidates, &prefs, draw).first().map(|c| c.candidate.offer_id);
    let mut ranked = ranked;
    let picked = |c: &select::Candidate| {
        args.offer.is_some_and(|id| c.offer_id == alloy::primitives::U256::from(id))
            || args.provider.is_some_and(|p| c.provider == p)
    };
    if args.offer.is_some() || args.provider.is_some() {
        // Picked by hand: first, even if selection would not have ranked it at all.
        let Some(chosen) = candidates.iter().find(|c| c.token == coin.address && picked(c)) else {
            bail!(
                hint = "list offers with `openlease offer list` or the indexer's /v1/offers; the deposit's token must be the offer's",
                "no offer in {} matches {}",
                coin.symbol,
                args.offer.map_or_else(
                    || format!("provider {}", args.provider.unwrap_or_default()),
                    |id| format!("offer {id}")
                )
            );
        };
        ranked.retain(|r| !picked(r.candidate));
        let (reliability, cost) =
            (select::reliability(chosen, &prefs), select::expected_cost_per_useful_hour(chosen, &prefs));
        ranked.insert(0, select::Ranked { candidate: chosen, reliability, cost });
    } else if let Some(at) = first.and_then(|id| ranked.iter().position(|r| r.candidate.offer_id == id)) {
        let chosen = ranked.remove(at);
        ranked.insert(0, chosen);
    }
    if ranked.is_empty() && args.fallback.is_none() {
        bail!(
            hint = "check the indexer's /v1/offers, relax --region or --max-price, or give --fallback",
            "no offer in {} qualifies ({} listed by the indexer at {})",
            coin.symbol,
            listings.len(),
            args.indexer
        );
    }
    let choices = ranked
        .iter()
        .filter_map(|r| listings.iter().find(|l| l.candidate.offer_id == r.candidate.offer_id))
        .map(|l| l.destination())
        .collect();
    let referee = args.referee.as_ref().or(args.fallback.as_ref());
    let checks = if args.check_share == 0.0 {
        None
    } else {
        let Some(referee) = referee else {
            bail!(
                hint = "give --referee URL (a service of the same workload you trust) or --fallback URL",
                "--check-share needs a referee to re-run answers on"
            );
        };
        Some(Checks {
            share: args.check_share,
            referee: referee.trim_end_matches('/').to_owned(),
            comparator: check::exact(),
            cost_per_check: fallback_cost,
            dispute: args.dispute,
        })
    };
    let duration = u32::try_from(args.duration.secs()).unwrap_or(u32::MAX);
    let config = SessionConfig {
        duration,
        deposit: deposit.raw,
        budget: budget.raw,
        failures_before_failover: args.failures.max(1),
        request_timeout: Duration::from_secs(5),
        fallback: args.fallback.clone(),
        fallback_cost_per_request: fallback_cost,
        dispute_dead_providers: args.dispute,
        checks,
    };
    out.step(1, 1, format!("leasing the cheapest of {} offers in {}", ranked.len(), coin.symbol));
    let session = Spread::start(client.clone(), choices, config, args.spread).await?;
    Ok((session, coin))
}

async fn run_requests(args: RunArgs, settings: &Settings, out: Output) -> Result<Report> {
    let (mut session, coin) = start(&args.session, settings, &out).await?;
    let mut answered = 0;
    for n in 1..=args.requests {
        let answer = if args.stream && !out.json {
            use std::io::Write;
            let printed =
                session.request_with(openlease_client::session::Method::GET, &args.path, Vec::new(), |chunk| {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(chunk);
                    let _ = stdout.flush();
                });
            printed.await
        } else {
            session.get(&args.path).await
        };
        let answer = match answer {
            Ok(answer) => answer,
            // The provider failed this request but stays (it answers its health probe).
            Err(openlease_client::Error::Http(error)) => {
                out.progress(format!("request {n}/{}: failed: {error}", args.requests));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        answered += u64::from(answer.status < 400);
        let by = match answer.served_by {
            ServedBy::Provider { provider, lease_id } => format!("{provider} (lease {lease_id})"),
            ServedBy::Fallback => "the fallback".into(),
            ServedBy::Referee => "the referee (a check contested the provider's answer)".into(),
        };
        out.progress(format!("request {n}/{}: HTTP {} from {by}", args.requests, answer.status));
        if n < args.requests {
            tokio::time::sleep(Duration::from_secs(args.every.secs())).await;
        }
    }
    out.step(1, 1, "giving notice on the session's leases");
    session.finish().await?;
    let report = session.report();
    let amount = amount_in(&coin);
    Ok(Report::new(text(&report, &amount, answered, args.requests), json(&report, &amount)))
}

/// `raw` units of `coin`, as reports show them.
fn amount_in(coin: &Coin) -> impl Fn(alloy::primitives::U256) -> openlease_client::TokenAmount + '_ {
    move |raw| openlease_client::TokenAmount::new(raw, coin.decimals, coin.symbol.clone())
}

fn text(
    report: &SessionReport,
    amount: &impl Fn(alloy::primitives::U256) -> openlease_client::TokenAmount,
    answered: u64,
    requests: u64,
) -> String {
    let mut out = format!("session: {answered} of {requests} requests answered\n");
    for used in &report.providers {
        out.push_str(&format!(
            "  provider {} lease {}: served {} s, paid {} ({} served since the last receipt), paid for nothing {}, {} answered, {} failed\n",
            used.provider,
            used.lease_id,
            used.served_secs,
            amount(used.paid),
            amount(used.unpaid()),
            amount(used.paid_for_nothing()),
            used.answered,
            used.failed
        ));
    }
    for took in &report.failovers {
        out.push_str(&format!("  failed over in {:.1} s\n", took.as_secs_f64()));
    }
    out.push_str(&format!(
        "  fallback: {} requests, {}\n  paid {} in all, {} for nothing",
        report.fallback_requests,
        amount(report.fallback_cost),
        amount(report.paid()),
        amount(report.paid_for_nothing())
    ));
    out.push_str(&checks_text(&report.checks, amount));
    for lease in &report.wind_down {
        out.push_str(&format!(
            "\n  lease {}: runs until {}; {} stays in escrow for you, claimable from {} (`openlease lease finalize {}`)",
            lease.lease_id,
            openlease_client::format_time(lease.ends_at),
            amount(lease.refund),
            openlease_client::format_time(lease.refund_from),
            lease.lease_id
        ));
    }
    out
}

/// What a contested answer or an equivocation came to, in words.
fn outcome(outcome: &ContestOutcome) -> String {
    match outcome {
        ContestOutcome::Slashed { tx } => format!("slashed on chain (tx {tx})"),
        ContestOutcome::Disputed => "disputed before the lease's arbiter".into(),
        ContestOutcome::Kept => "kept as evidence".into(),
    }
}

/// The checks' line, and a line per answer contested and per equivocation (nothing when no check
/// ran and nothing was caught).
fn checks_text(
    checks: &CheckReport,
    amount: &impl Fn(alloy::primitives::U256) -> openlease_client::TokenAmount,
) -> String {
    let mut out = String::new();
    if checks.checked + checks.referee_failed > 0 || !checks.equivocations.is_empty() {
        out.push_str(&format!(
            "\n  checks: {} answers re-run on the referee, {} agreed, {} contested, {} the referee could not answer, {} unattested; cost {}",
            checks.checked,
            checks.agreed,
            checks.contested,
            checks.referee_failed,
            checks.unattested,
            amount(checks.cost)
        ));
    }
    for contested in &checks.evidence {
        out.push_str(&format!(
            "\n  contested: provider {} lease {} answered {} wrongly (sequence {}): {}",
            contested.provider,
            contested.lease_id,
            String::from_utf8_lossy(&contested.request).trim_end(),
            contested.attestation.sequence,
            outcome(&contested.outcome)
        ));
    }
    for twice in &checks.equivocations {
        out.push_str(&format!(
            "\n  equivocation: provider {} lease {} attested two answers as sequence {}: {}",
            twice.provider,
            twice.lease_id,
            twice.second.sequence,
            outcome(&twice.outcome)
        ));
    }
    out
}

/// A provider caught (a contested answer or an equivocation), for `--json`.
fn caught_json(
    provider: alloy::primitives::Address,
    lease_id: alloy::primitives::U256,
    sequence: u64,
    caught: &ContestOutcome,
) -> serde_json::Value {
    json!({ "provider": provider, "leaseId": lease_id.to_string(), "sequence": sequence, "outcome": outcome(caught) })
}

fn json(
    report: &SessionReport,
    amount: &impl Fn(alloy::primitives::U256) -> openlease_client::TokenAmount,
) -> serde_json::Value {
    json!({
        "providers": report.providers.iter().map(|used| json!({
            "provider": used.provider,
            "leaseId": used.lease_id.to_string(),
            "servedSecs": used.served_secs,
            "paid": amount_json(&amount(used.paid)),
            "inDoubt": amount_json(&amount(used.in_doubt)),
            "paidForNothing": amount_json(&amount(used.paid_for_nothing())),
            "unpaid": amount_json(&amount(used.unpaid())),
            "answered": used.answered,
            "failed": used.failed,
        })).collect::<Vec<_>>(),
        "failoverSecs": report.failovers.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        "fallbackRequests": report.fallback_requests,
        "fallbackCost": amount_json(&amount(report.fallback_cost)),
        "paid": amount_json(&amount(report.paid())),
        "paidForNothing": amount_json(&amount(report.paid_for_nothing())),
        "checks": json!({
            "checked": report.checks.checked,
            "agreed": report.checks.agreed,
            "contested": report.checks.contested,
            "refereeFailed": report.checks.referee_failed,
            "unattested": report.checks.unattested,
            "cost": amount_json(&amount(report.checks.cost)),
            "evidence": report.checks.evidence.iter()
                .map(|c| caught_json(c.provider, c.lease_id, c.attestation.sequence, &c.outcome))
                .collect::<Vec<_>>(),
            "equivocations": report.checks.equivocations.iter()
                .map(|e| caught_json(e.provider, e.lease_id, e.second.sequence, &e.outcome))
                .collect::<Vec<_>>(),
        }),
        "leases": report.wind_down.iter().map(|lease| json!({
            "leaseId": lease.lease_id.to_string(),
            "endsAt": lease.ends_at,
            "refund": amount_json(&amount(lease.refund)),
            "refundFrom": lease.refund_from,
        })).collect::<Vec<_>>(),
    })
}
