//! A provider's record against a small market built by hand on anvil: the outcome counters (payment
//! demands and evictions among them), what
//! tenants paid against what accrued, the decayed sums and reputation v2, slashes, each lease's
//! `delivered_bps`, the windows of `/v1/providers/{a}` and `/v1/providers/{a}/history`. Every
//! block timestamp is set by the test, and every expected figure is worked out here from the
//! offers' prices, the deposits and those timestamps, not by the indexer's code.

use alloy::primitives::{Address, B256, U256, keccak256};
use serde_json::{Value, json};

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, fresh_db, get_json, ingestor, serve_api, test_config},
};

// The devnet config's parameters (deploy/config/devnet.toml).
const FEE_BPS: u128 = 100;
const BOND_BPS: u128 = 20_000;
const SLASH_CUT_BPS: u128 = 1_000;
const SETTLEMENT_WINDOW: u64 = 3_600;
// Reputation v2 as the provider's record documents it: sums halve every 30 days; a neutral prior of
// 100 USDC (6 decimals) served at 50%.
const HALF_LIFE_SECS: f64 = 30.0 * 86_400.0;
const PRIOR: f64 = 100_000_000.0;
const DAY: u64 = 86_400;
/// What `Market::new` staked per provider: 100,000 USDC.
const STAKE: u128 = 100_000 * 1_000_000;

/// The offers published here (`Market::new` published 1 to 3), raw units per second.
const OFFER_1: u64 = 4;
const PRICE_1: u128 = 10_000;
const OFFER_2: u64 = 5;
const PRICE_2: u128 = 20_000;
const NOTICE: u64 = 3_600;

// The leases, in the order they open.
const A: u64 = 1; // P1, runs its term, fully paid
const B: u64 = 2; // P1, runs its term, half paid
const C: u64 = 3; // P1, closed early by its tenant
const D: u64 = 4; // P1, failed over to P2's offer (lease E)
const F: u64 = 5; // P1, terminated by P1: its bond is slashed
const I: u64 = 6; // P2, evicted by P2 for leaving a payment demand unanswered
const E: u64 = 7; // P2, D's failover, runs its term, fully paid
const G: u64 = 8; // P1, opened 15 days later, finalized 5 days after that

/// Mismatches found so far: the test reports all of them at once.
#[derive(Default)]
struct Check(Vec<String>);

impl Check {
    /// Each `(field, value)` of `expected` in `actual`.
    fn fields(&mut self, what: &str, actual: &Value, expected: &[(&str, Value)]) {
        for (field, value) in expected {
            if &actual[*field] != value {
                self.0.push(format!("{what}: `{field}` is {}, expected {value}", actual[*field]));
            }
        }
    }

    /// A float within `relative` of `expected`.
    fn near(&mut self, what: &str, actual: &Value, expected: f64, relative: f64) {
        match actual.as_f64() {
            Some(v) if (v - expected).abs() <= relative * expected.abs().max(1e-12) => {}
            _ => self.0.push(format!("{what} is {actual}, expected {expected}")),
        }
    }

    /// Reputation in basis points: the exact figure rounded (a rounding boundary may go either way).
    fn bps(&mut self, what: &str, actual: &Value, exact: f64) {
        match actual.as_u64() {
            Some(v) if (v as f64 - exact).abs() <= 0.5 + 1e-6 => {}
            _ => self.0.push(format!("{what} is {actual}, expected {exact:.3} rounded")),
        }
    }

    fn finish(self) {
        assert!(self.0.is_empty(), "{} mismatches:\n{}", self.0.len(), self.0.join("\n"));
    }
}

fn amount(value: u128) -> Value {
    Value::String(value.to_string())
}

/// What a settlement of `paid` credits its provider: `paid` less the protocol's fee.
fn earned(paid: u128) -> u128 {
    paid - paid * FEE_BPS / 10_000
}

/// `Σ value · ½^((at − t) / half-life)` over `(value, t)`.
fn decayed(items: &[(u128, u64)], at: u64) -> f64 {
    items.iter().map(|(value, t)| *value as f64 * 0.5f64.powf((at - t) as f64 / HALF_LIFE_SECS)).sum()
}

/// Reputation v2, unrounded basis points.
fn reputation(paid: f64, accruable: f64, slashed: f64) -> f64 {
    ((paid + PRIOR / 2.0) / (accruable + slashed + PRIOR)).clamp(0.0, 1.0) * 10_000.0
}

/// A finished lease as its provider's record counts it: what its tenant paid, what accrued while
/// it ran, and when it was finalized.
#[derive(Clone, Copy)]
struct Finished {
    paid: u128,
    accruable: u128,
    at: u64,
}

/// One day (or a window) of a provider's record.
#[derive(Clone, Copy, Default)]
struct Figures {
    opened: u64,
    completed: u64,
    closed_early: u64,
    terminated: u64,
    failed_over: u64,
    demands: u64,
    evicted: u64,
    slashes: u64,
    slashed: u128,
    compensation: u128,
    earned: u128,
    paid: u128,
    accruable: u128,
}

impl Figures {
    fn plus(self, o: Figures) -> Figures {
        Figures {
            opened: self.opened + o.opened,
            completed: self.completed + o.completed,
            closed_early: self.closed_early + o.closed_early,
            terminated: self.terminated + o.terminated,
            failed_over: self.failed_over + o.failed_over,
            demands: self.demands + o.demands,
            evicted: self.evicted + o.evicted,
            slashes: self.slashes + o.slashes,
            slashed: self.slashed + o.slashed,
            compensation: self.compensation + o.compensation,
            earned: self.earned + o.earned,
            paid: self.paid + o.paid,
            accruable: self.accruable + o.accruable,
        }
    }

    /// The fields a day row, a window and the provider's lifetime record share.
    fn common(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("leases_opened", json!(self.opened)),
            ("leases_completed", json!(self.completed)),
            ("leases_closed_early", json!(self.closed_early)),
            ("leases_terminated", json!(self.terminated)),
            ("leases_failed_over", json!(self.failed_over)),
            ("payment_demands", json!(self.demands)),
            ("leases_evicted", json!(self.evicted)),
            ("disputes_won", json!(0)),
            ("disputes_lost", json!(0)),
            ("slashes", json!(self.slashes)),
            ("slashed_amount", amount(self.slashed)),
            ("compensation", amount(self.compensation)),
            ("paid", amount(self.paid)),
            ("accruable", amount(self.accruable)),
        ]
    }

    /// A day row or a window: `earned` and the plain (undecayed) delivered ratio.
    fn day(&self) -> Vec<(&'static str, Value)> {
        let mut fields = self.common();
        fields.push(("earned", amount(self.earned)));
        if self.accruable == 0 {
            fields.push(("delivered_ratio", Value::Null));
        }
        fields
    }

    fn ratio(&self) -> f64 {
        self.paid as f64 / self.accruable as f64
    }
}

/// Checks a day row or window against `expected`.
fn check_day(check: &mut Check, what: &str, actual: &Value, expected: &Figures) {
    check.fields(what, actual, &expected.day());
    if expected.accruable > 0 {
        check.near(&format!("{what}: delivered_ratio"), &actual["delivered_ratio"], expected.ratio(), 1e-12);
    }
}

/// The lifetime record and reputation of a provider that finished `finished` leases and was
/// slashed `slashed` (amount, time). Its decayed sums stand as of `decayed_at`: its last
/// finalization or slash, or the day's refresh (every provider's is decayed on the first block of
/// each day), so no earlier than either the last outcome or the start of `now`'s day.
fn check_record(
    check: &mut Check,
    what: &str,
    actual: &Value,
    totals: &Figures,
    (finished, slashed): (&[Finished], &[(u128, u64)]),
    now: u64,
) {
    let mut fields = totals.common();
    fields.push(("total_earned", amount(totals.earned)));
    check.fields(what, actual, &fields);
    let last = finished.iter().map(|f| f.at).chain(slashed.iter().map(|s| s.1)).max().unwrap();
    let at = actual["decayed_at"].as_u64().unwrap_or_default();
    if at < last || at < now / DAY * DAY || at > now {
        check.0.push(format!("{what}: decayed_at {at}: expected from max(last outcome {last}, start of day) to {now}"));
    }
    let paid = decayed(&finished.iter().map(|f| (f.paid, f.at)).collect::<Vec<_>>(), at);
    let accruable = decayed(&finished.iter().map(|f| (f.accruable, f.at)).collect::<Vec<_>>(), at);
    let slashed = decayed(slashed, at);
    check.near(&format!("{what}: decayed_paid"), &actual["decayed_paid"], paid, 1e-9);
    check.near(&format!("{what}: decayed_accruable"), &actual["decayed_accruable"], accruable, 1e-9);
    if slashed > 0.0 {
        check.near(&format!("{what}: decayed_slashed"), &actual["decayed_slashed"], slashed, 1e-9);
    } else {
        check.fields(what, actual, &[("decayed_slashed", json!(0.0))]);
    }
    check.near(&format!("{what}: delivered_ratio"), &actual["delivered_ratio"], paid / accruable, 1e-9);
    check.bps(&format!("{what}: reputation_bps"), &actual["reputation_bps"], reputation(paid, accruable, slashed));
}

both_backends!(history_figures_match_a_hand_computed_market, hand_computed);
async fn hand_computed(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let market = Market::new(1).await;
    let m = &market.market;
    // Market::new's accounts: 1 and 2 are providers (staked, registered), 4 a tenant.
    let (p1, p2, tenant) = (market.account(1), market.account(2), market.account(4));
    let usdc = market.usdc;
    market
        .must(
            None,
            m.publishOffer(
                usdc,
                PRICE_1 as u64,
                60,
                30 * 86_400,
                NOTICE as u32,
                10,
                alloy::primitives::B256::ZERO,
                alloy::primitives::Address::ZERO,
            )
            .from(p1),
            "offer 4",
        )
        .await;
    market
        .must(
            None,
            m.publishOffer(
                usdc,
                PRICE_2 as u64,
                60,
                30 * 86_400,
                NOTICE as u32,
                10,
                alloy::primitives::B256::ZERO,
                alloy::primitives::Address::ZERO,
            )
            .from(p2),
            "offer 5",
        )
        .await;
    let terms_1 = m.offerTermsHash(U256::from(OFFER_1)).call().await.unwrap();
    let terms_2 = m.offerTermsHash(U256::from(OFFER_2)).call().await.unwrap();

    // Everything of the first part happens on day `day`, from one hour past its start (T0).
    let day = market.now().await / DAY + 1;
    let t0 = day * DAY + 3_600;
    let at = |seconds: u64| Some(t0 + seconds);
    let open = |offer: u64, duration: u32, deposit: u128| {
        let terms = if offer == OFFER_1 { terms_1 } else { terms_2 };
        m.openLease(U256::from(offer), duration, U256::from(deposit), terms).from(tenant)
    };
    let lease = U256::from;
    market.must(at(0), open(OFFER_1, 3_600, 3_600 * PRICE_1), "open A").await;
    market.must(at(10), open(OFFER_1, 3_600, 3_600 * PRICE_1), "open B").await;
    market.must(at(20), open(OFFER_1, 14_400, 14_400 * PRICE_1), "open C").await;
    market.must(at(30), open(OFFER_1, 14_400, 14_400 * PRICE_1), "open D").await;
    market.must(at(40), open(OFFER_1, 7_200, 7_200 * PRICE_1), "open F").await;
    market.must(at(50), open(OFFER_2, 14_400, 14_400 * PRICE_2), "open I").await;
    // P1 ends F at once, 300 s in: the bond is slashed; the tenant pays for the 300 s.
    market.must(at(340), m.terminateLease(lease(F)).from(p1), "terminate F").await;
    let settle = async |id: u64, cumulative: u128, seconds: u64, what: &str| {
        let (receipt, provider) = market.tenant_receipt(id, cumulative).await;
        market.must(at(seconds), m.settle(receipt).from(provider), what).await;
    };
    settle(F, 300 * PRICE_1, 400, "settle F").await;
    // The tenant gives notice on C 600 s in: it ends an hour later, at +4,220.
    market.must(at(620), m.closeLease(lease(C)).from(tenant), "close C").await;
    // I's tenant pays for 300 of the 600 s run so far, then nothing.
    settle(I, 300 * PRICE_2, 650, "settle I").await;
    // D's tenant moves to P2 at +1,230 (1,200 s in): notice ends D at +4,830; D keeps what can
    // accrue until then (4,800 s), the rest (9,600 s worth) opens E for an hour.
    market
        .must(
            at(1_230),
            m.failoverLease(lease(D), U256::from(OFFER_2), 3_600, U256::ZERO, terms_2).from(tenant),
            "fail D over",
        )
        .await;
    settle(D, 1_200 * PRICE_1, 1_300, "settle D").await;
    settle(B, 1_800 * PRICE_1, 1_810, "settle B (half)").await;
    settle(A, 3_600 * PRICE_1, 3_600, "settle A").await;
    // An hour past the 300 s paid, I is in arrears: P2 demands what ran until an hour ago (350 s)
    // at +4,000; the tenant may evict from +7,600.
    market.must(at(4_000), m.demandPayment(lease(I)).from(p2), "demand payment of I").await;
    settle(C, 4_200 * PRICE_1, 4_220, "settle C").await;
    settle(E, 3_600 * PRICE_2, 4_830, "settle E").await;
    // Unanswered: P2 evicts I at +7,600, while it runs. It stops then (7,550 s ran), the tenant
    // pays an hour for the capacity it held (settled: 3,900 s), the escrow past the stop is
    // refunded; the bond stays locked until the deadline I had: its end (+14,450) plus the window.
    market.must(at(7_600), m.evictLease(lease(I)).from(p2), "evict I").await;
    // Every settlement window but I's has closed by +8,430 (D and E: +4,830 + 1 h).
    for (i, id) in [F, A, B, C, D, E].into_iter().enumerate() {
        market.must(at(8_500 + 10 * i as u64), m.finalizeLease(lease(id)).from(tenant), "finalize").await;
    }
    market.must(at(18_100), m.finalizeLease(lease(I)).from(tenant), "finalize I").await;
    assert_eq!(market.now().await / DAY, day, "the first part stays within its day");

    // The mirror of the first part, served.
    let (store, mut first) = ingestor(&market, &url, test_config()).await;
    first.catch_up().await.unwrap();
    drop(first);
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    let mut check = Check::default();

    // What each finished lease counts for, by hand.
    let bond_1 = PRICE_1 * NOTICE as u128 * BOND_BPS / 10_000;
    let cut_1 = bond_1 * SLASH_CUT_BPS / 10_000;
    let f = Finished { paid: 300 * PRICE_1, accruable: 300 * PRICE_1, at: t0 + 8_500 };
    let a = Finished { paid: 3_600 * PRICE_1, accruable: 3_600 * PRICE_1, at: t0 + 8_510 };
    let b = Finished { paid: 1_800 * PRICE_1, accruable: 3_600 * PRICE_1, at: t0 + 8_520 };
    let c = Finished { paid: 4_200 * PRICE_1, accruable: 4_200 * PRICE_1, at: t0 + 8_530 };
    // D accrued until the failover: 1,200 s.
    let d = Finished { paid: 1_200 * PRICE_1, accruable: 1_200 * PRICE_1, at: t0 + 8_540 };
    // An eviction counts what was paid (the hold charge included) as what accrued.
    let i = Finished { paid: 3_900 * PRICE_2, accruable: 3_900 * PRICE_2, at: t0 + 18_100 };
    let e = Finished { paid: 3_600 * PRICE_2, accruable: 3_600 * PRICE_2, at: t0 + 8_550 };
    let sum = |leases: &[Finished]| -> (u128, u128) {
        (leases.iter().map(|l| l.paid).sum(), leases.iter().map(|l| l.accruable).sum())
    };
    let (p1_paid, p1_accruable) = sum(&[f, a, b, c, d]);
    assert_eq!((p1_paid, p1_accruable), (111_000_000, 129_000_000), "the hand arithmetic");
    let p1_day_0 = Figures {
        opened: 5,
        completed: 2,
        // C only: `failoverLease` gives notice first (a `LeaseClosed` by the tenant), and D must
        // count once, as a failover.
        closed_early: 1,
        terminated: 1,
        failed_over: 1,
        demands: 0,
        evicted: 0,
        slashes: 1,
        slashed: bond_1,
        compensation: bond_1 - cut_1,
        earned: [f, a, b, c, d].iter().map(|l| earned(l.paid)).sum(),
        paid: p1_paid,
        accruable: p1_accruable,
    };
    let (p2_paid, p2_accruable) = sum(&[i, e]);
    let p2_day_0 = Figures {
        opened: 2,
        completed: 1,
        demands: 1,
        evicted: 1,
        earned: earned(i.paid) + earned(e.paid),
        paid: p2_paid,
        accruable: p2_accruable,
        ..Default::default()
    };
    let p1_slashes = [(bond_1, t0 + 340)];

    let (status, body) = get_json(&base, &format!("/v1/providers/{p1}")).await;
    assert_eq!(status, 200, "{body}");
    check.fields("P1 after day 0", &body["block"], &[("timestamp", json!(t0 + 18_100))]);
    check_record(&mut check, "P1 after day 0", &body["data"], &p1_day_0, (&[f, a, b, c, d], &p1_slashes), t0 + 18_100);
    check.fields("P1 after day 0", &body["data"], &[("leases_finished", json!(5))]);

    // The second part: G opens 15 days later and is finalized 5 days after that.
    let t15 = t0 + 15 * DAY;
    let t20 = t0 + 20 * DAY;
    market.must(Some(t15), open(OFFER_1, 3_600, 3_600 * PRICE_1), "open G").await;
    let (receipt, provider) = market.tenant_receipt(G, 3_600 * PRICE_1).await;
    market.must(Some(t15 + 3_600), m.settle(receipt).from(provider), "settle G").await;
    assert!(t20 >= t15 + 3_600 + SETTLEMENT_WINDOW);
    market.must(Some(t20), m.finalizeLease(lease(G)).from(tenant), "finalize G").await;
    assert_eq!(m.leaseCount().call().await.unwrap(), U256::from(8), "leases A to G");

    // Mirrored by a second ingestor: the rows it changes are read back from the database.
    let (_, mut second) = ingestor(&market, &url, test_config()).await;
    second.catch_up().await.unwrap();
    drop(second);

    let g = Finished { paid: 3_600 * PRICE_1, accruable: 3_600 * PRICE_1, at: t20 };
    let p1_day_15 = Figures { opened: 1, earned: earned(g.paid), ..Default::default() };
    let p1_day_20 = Figures { completed: 1, paid: g.paid, accruable: g.accruable, ..Default::default() };
    let p1_all = p1_day_0.plus(p1_day_15).plus(p1_day_20);
    assert_eq!((p1_all.paid, p1_all.accruable), (147_000_000, 165_000_000), "the hand arithmetic");

    // P1: the lifetime record, reputation as of G's finalization, stake, offers and windows.
    let (status, body) = get_json(&base, &format!("/v1/providers/{p1}")).await;
    assert_eq!(status, 200, "{body}");
    check.fields("P1", &body["block"], &[("timestamp", json!(t20))]);
    let data = &body["data"];
    check_record(&mut check, "P1", data, &p1_all, (&[f, a, b, c, d, g], &p1_slashes), t20);
    check.fields("P1", data, &[("address", json!(p1)), ("leases_finished", json!(6))]);
    check.near(
        "P1: compensation_per_paid",
        &data["compensation_per_paid"],
        (bond_1 - cut_1) as f64 / p1_all.paid as f64,
        1e-12,
    );
    let stakes = data["stakes"].as_array().unwrap();
    assert_eq!(stakes.len(), 1, "{data}");
    check.fields(
        "P1 stake",
        &stakes[0],
        &[
            ("token", json!(usdc)),
            ("staked", amount(STAKE - bond_1)),
            ("locked", amount(0)),
            ("free", amount(STAKE - bond_1)),
        ],
    );
    let offer = data["offers"].as_array().unwrap().iter().find(|o| o["offer_id"] == OFFER_1).expect("offer 4");
    check.fields("P1 offer 4", offer, &[("price_per_second", json!(PRICE_1)), ("active_leases", json!(0))]);
    let delivered = data["delivered_ratio"].as_f64().unwrap_or(f64::NAN);
    check.near("P1 offer 4: effective price", &offer["effective_price_per_second"], PRICE_1 as f64 / delivered, 1e-12);
    // Today is day+20: the 1-day window holds G's finalization, the 7-day one G's opening too.
    let windows = data["windows"].as_array().unwrap();
    assert_eq!(windows.iter().map(|w| w["days"].clone()).collect::<Vec<_>>(), [json!(1), json!(7), json!(30)]);
    check_day(&mut check, "P1 window 1", &windows[0], &p1_day_20);
    check_day(&mut check, "P1 window 7", &windows[1], &p1_day_15.plus(p1_day_20));
    check_day(&mut check, "P1 window 30", &windows[2], &p1_all);

    // P2: nothing since day 0; its reputation was decayed by the day's refresh, not left as of E.
    let (status, body) = get_json(&base, &format!("/v1/providers/{p2}")).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    check_record(&mut check, "P2", data, &p2_day_0, (&[i, e], &[]), t20);
    check.fields("P2", data, &[("leases_finished", json!(2)), ("slashes", json!(0))]);
    let windows = data["windows"].as_array().unwrap();
    check_day(&mut check, "P2 window 1", &windows[0], &Figures::default());
    check_day(&mut check, "P2 window 7", &windows[1], &Figures::default());
    check_day(&mut check, "P2 window 30", &windows[2], &p2_day_0);

    // The series: a day without activity has no entry; `days` counts back from today.
    let series = async |provider: Address, query: &str| -> Vec<Value> {
        let (status, body) = get_json(&base, &format!("/v1/providers/{provider}/history{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        body["data"]["series"].as_array().unwrap().clone()
    };
    let p1_days = [(day, p1_day_0), (day + 15, p1_day_15), (day + 20, p1_day_20)];
    for (query, from) in
        [("", 0), ("?days=30", 0), ("?days=21", 0), ("?days=20", 1), ("?days=6", 1), ("?days=5", 2), ("?days=1", 2)]
    {
        let got = series(p1, query).await;
        let expected = &p1_days[from..];
        assert_eq!(got.len(), expected.len(), "P1 history{query}: {got:#?}");
        for (point, (n, figures)) in got.iter().zip(expected) {
            let what = format!("P1 history{query} day {n}");
            check.fields(&what, point, &[("day", json!(n)), ("starts_at", json!(n * DAY)), ("provider", json!(p1))]);
            check_day(&mut check, &what, point, figures);
        }
    }
    let got = series(p2, "").await;
    assert_eq!(got.len(), 1, "P2 history: {got:#?}");
    check_day(&mut check, "P2 history day 0", &got[0], &p2_day_0);
    assert!(series(p2, "?days=20").await.is_empty(), "P2 had nothing in the last 20 days");
    let (status, _) = get_json(&base, &format!("/v1/providers/{p1}/history?days=0")).await;
    assert_eq!(status, 400);

    // Each lease: how it ended, and the share of what accrued its tenant paid.
    let zero = Address::ZERO;
    let leases = [
        (A, 10_000, vec![("settled", amount(a.paid)), ("closed_by", json!(zero))]),
        (B, 5_000, vec![("settled", amount(b.paid)), ("ends_at", json!(t0 + 10 + 3_600))]),
        (C, 10_000, vec![("closed_by", json!(tenant)), ("ends_at", json!(t0 + 4_220))]),
        (
            D,
            10_000,
            vec![
                ("failed_over_to", json!(E)),
                ("stopped_at", json!(t0 + 1_230)),
                ("ends_at", json!(t0 + 4_830)),
                // Kept: what can accrue until the notice's end, 4,800 s.
                ("deposit", amount(4_800 * PRICE_1)),
            ],
        ),
        (F, 10_000, vec![("terminated", json!(true)), ("ends_at", json!(t0 + 340)), ("bond", amount(0))]),
        // Paid 3,900 s of the 7,550 s it ran: the provider's receipts may have claimed the rest.
        (
            I,
            3_900 * 10_000 / 7_550,
            vec![
                ("evicted", json!(true)),
                ("ends_at", json!(t0 + 7_600)),
                ("deposit", amount(7_550 * PRICE_2)),
                ("settled", amount(i.paid)),
                ("demand_due", amount(350 * PRICE_2)),
                ("demanded_at", json!(t0 + 4_000)),
                ("evictable_at", json!(t0 + 7_600)),
                ("demand_answered", json!(false)),
                ("remedies_until", json!(t0 + 14_450 + SETTLEMENT_WINDOW)),
                ("bond", amount(0)),
            ],
        ),
        (
            E,
            10_000,
            vec![
                ("provider", json!(p2)),
                ("offer_id", json!(OFFER_2)),
                ("started_at", json!(t0 + 1_230)),
                // D's deposit less what it kept.
                ("deposit", amount((14_400 - 4_800) * PRICE_1)),
            ],
        ),
        (G, 10_000, vec![("started_at", json!(t15)), ("settled", amount(g.paid))]),
    ];
    for (id, bps, fields) in leases {
        let (status, body) = get_json(&base, &format!("/v1/leases/{id}")).await;
        assert_eq!(status, 200, "{body}");
        let what = format!("lease {id}");
        let data = &body["data"];
        check.fields(
            &what,
            data,
            &[("status", json!("finalized")), ("delivered_bps", json!(bps)), ("tenant", json!(tenant))],
        );
        check.fields(&what, data, &fields);
        if data["settlements"].as_array().map(Vec::len) != Some(1) {
            check.0.push(format!("{what}: one settlement expected: {}", data["settlements"]));
        }
    }

    // The console's page of the failed-over lease links to where its tenant went.
    let (status, page) = get_json(&base, &format!("/leases/{D}")).await;
    let page = page.as_str().unwrap_or_default();
    let said = format!("failed over to <a href=\"/leases/{E}\">lease {E}</a>");
    if status != 200 || !page.contains(&said) {
        check.0.push(format!("console lease {D}: {status}, no {said:?} in {page}"));
    }

    assert_audit_passes(&store, &market).await;
    check.finish();
}

both_backends!(a_providers_verification_record_counts_wrong_answers_and_contested_ones, verification_record);
/// Issue 21: a wrong answer slashed through its offer's verifier counts in the provider's
/// `wrong_answers` (and the day's), a dispute carrying a check's evidence in `answers_contested`;
/// another provider's record stays clean. Both in `/v1/providers/{a}` and its history.
async fn verification_record(db: Db, name: &str) {
    use openlease_client::{Attester, attestation::request_bytes, contracts::workload, receipt::ReceiptDomain};
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let market = Market::new(1).await;
    let m = &market.market;
    let (p1, p2, tenant) = (market.account(1), market.account(2), market.account(4));
    let verifier = market.manifest.demo_verifier().expect("the demo verifier is deployed");
    let offer =
        |price: u64, verifier| m.publishOffer(market.usdc, price, 60, 30 * 86_400, 3_600, 10, workload::DEMO, verifier);
    market.must(None, offer(10, verifier).from(p1), "p1's checked offer").await;
    market.must(None, offer(11, Address::ZERO).from(p2), "p2's unchecked offer").await;
    let open = async |offer: u64, what: &str| {
        let terms = m.offerTermsHash(U256::from(offer)).call().await.unwrap();
        market
            .must(None, m.openLease(U256::from(offer), 3_600, U256::from(3_600 * 11), terms).from(tenant), what)
            .await;
        m.leaseCount().call().await.unwrap()
    };
    let (checked, disputed) = (open(4, "lease of p1").await, open(5, "lease of p2").await);

    let domain = ReceiptDomain::new(market.manifest.chain_id, market.manifest.market());
    let attester = Attester::new(market.key(1), domain, 1);
    let request = request_bytes("GET", "/work/3", b"");
    let wrong = b"0x0000000000000000000000000000000000000000000000000000000000000000".to_vec();
    let signed =
        attester.sign(checked, workload::DEMO, keccak256(&request), keccak256(&wrong), market.now().await).unwrap();
    let slash = m.slashWrongAnswer(signed.attestation(), signed.signature.clone(), request.into(), wrong.into());
    market.must(None, slash.from(market.account(5)), "slash p1's wrong answer").await;
    let evidence = format!("{}7:{}", openlease_client::check::WRONG_ANSWER_EVIDENCE, B256::repeat_byte(1));
    market.must(None, m.openDispute(disputed, evidence).from(tenant), "contest p2's answer").await;

    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    ingestor.catch_up().await.unwrap();
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    for (provider, wrong, contested) in [(p1, 1, 0), (p2, 0, 1), (market.account(3), 0, 0)] {
        let (status, body) = get_json(&base, &format!("/v1/providers/{provider}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["wrong_answers"], wrong, "{provider}: {body}");
        assert_eq!(body["data"]["answers_contested"], contested, "{provider}: {body}");
        if provider == market.account(3) {
            continue; // no day of its own: nothing happened to it
        }
        let (_, history) = get_json(&base, &format!("/v1/providers/{provider}/history?days=1")).await;
        let days = history["data"].to_string();
        assert!(days.contains(&format!("\"wrong_answers\":{wrong}")), "{provider}: {days}");
        assert!(days.contains(&format!("\"answers_contested\":{contested}")), "{provider}: {days}");
    }
    let (_, body) = get_json(&base, &format!("/v1/providers/{p1}")).await;
    assert_eq!(body["data"]["slashes"], 1, "{body}");

    // Offers by what they run: the two of the demo workload, by name or digest; the three that
    // name none by the zero digest; a name nobody knows is refused in words.
    let ids = async |query: &str| {
        let (status, body) = get_json(&base, &format!("/v1/offers?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        body["data"].as_array().unwrap().iter().map(|o| o["offer_id"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(ids("workload=demo").await, [4, 5]);
    assert_eq!(ids(&format!("workload={}", workload::DEMO)).await, [4, 5]);
    assert_eq!(ids(&format!("workload={}", B256::ZERO)).await, [1, 2, 3]);
    let (status, body) = get_json(&base, "/v1/offers?workload=llama").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("workload"), "{body}");
}
