//! Contracts v3's payment demands and evictions, mirrored on a market built by hand: a demand left
//! unanswered, the eviction an hour later (the lease stops, its capacity is freed, a hold charge is
//! settled, the escrow no receipt can claim refunded, the bond kept), a receipt the provider settles
//! after it, a dispute that expires to the provider, and the finalization after the remedies
//! deadline (which frees no capacity twice); a demand the tenant answers by settling; a provider
//! accepting a new governance parameters version for its offer. Every figure is worked out here
//! from the prices, the deposits and the block timestamps the test sets, and the audit must pass
//! at every step.

use alloy::primitives::{Address, U256};
use openlease_indexer::{
    rows::{Balance, Lease, Offer, Provider, Stake},
    store::Store,
};
use serde_json::{Value, json};

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, fresh_db, get_json, ingestor, serve_api, test_config},
};

// The devnet config's parameters (deploy/config/devnet.toml).
const FEE_BPS: u128 = 100;
const BOND_BPS: u128 = 20_000;
const DISPUTE_BOND_BPS: u128 = 1_000;
const SETTLEMENT_WINDOW: u64 = 3_600;
const DISPUTE_PERIOD: u64 = 86_400;
/// `PAYMENT_GRACE`: how old unpaid service must be to be demanded, and how long a demand waits.
const GRACE: u64 = 3_600;
const NOTICE: u128 = 3_600;
/// `Market::new`'s offers 1 and 2: provider accounts 1 and 2, raw units per second.
const PRICE_1: u128 = 10;
const PRICE_2: u128 = 11;
/// The leases, in the order they open.
const L1: u64 = 1; // offer 1: a demand unanswered, evicted, settled after, disputed, finalized
const L2: u64 = 2; // offer 2: a demand the tenant answers
// Lease 3, offer 1: open throughout, so that the offer's count would show a double decrement.
const DURATION: u64 = 14_400;

fn amount(value: u128) -> Value {
    Value::String(value.to_string())
}

/// `LeaseMath.fee`.
fn fee(settled: u128) -> u128 {
    settled * FEE_BPS / 10_000
}

async fn lease(store: &Store, id: u64) -> Lease {
    let leases: Vec<Lease> = Store::all(store.pool()).await.unwrap();
    leases.into_iter().find(|l| l.lease_id == id).unwrap_or_else(|| panic!("lease {id} is mirrored"))
}

async fn offer(store: &Store, id: u64) -> Offer {
    let offers: Vec<Offer> = Store::all(store.pool()).await.unwrap();
    offers.into_iter().find(|o| o.offer_id == id).unwrap_or_else(|| panic!("offer {id} is mirrored"))
}

async fn provider(store: &Store, address: Address) -> Provider {
    let providers: Vec<Provider> = Store::all(store.pool()).await.unwrap();
    providers.into_iter().find(|p| p.address == address).unwrap_or_else(|| panic!("provider {address} is mirrored"))
}

async fn claimable(store: &Store, account: Address) -> u128 {
    let balances: Vec<Balance> = Store::all(store.pool()).await.unwrap();
    balances.iter().filter(|b| b.account == account).map(|b| b.claimable).sum()
}

async fn locked(store: &Store, provider: Address) -> u128 {
    let stakes: Vec<Stake> = Store::all(store.pool()).await.unwrap();
    stakes.iter().filter(|s| s.provider == provider).map(|s| s.locked).sum()
}

/// Each `(field, value)` of `expected` in `actual`, all mismatches at once.
fn assert_fields(what: &str, actual: &Value, expected: &[(&str, Value)]) {
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(field, value)| &actual[*field] != value)
        .map(|(field, value)| format!("`{field}` is {}, expected {value}", actual[*field]))
        .collect();
    assert!(wrong.is_empty(), "{what}:\n{}\nin {actual:#}", wrong.join("\n"));
}

both_backends!(mirrors_demands_and_evictions, demands_and_evictions);
async fn demands_and_evictions(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let market = Market::new(13).await;
    let m = &market.market;
    let (p1, p2, p3, tenant) = (market.account(1), market.account(2), market.account(3), market.account(4));
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    let t0 = market.now().await + 100;
    let at = |seconds: u64| Some(t0 + seconds);
    let open = async |offer: u64, price: u128, seconds: u64, what: &str| {
        let terms = m.offerTermsHash(U256::from(offer)).call().await.unwrap();
        let deposit = U256::from(price * u128::from(DURATION));
        market
            .must(at(seconds), m.openLease(U256::from(offer), DURATION as u32, deposit, terms).from(tenant), what)
            .await;
    };
    open(1, PRICE_1, 0, "open L1").await;
    open(2, PRICE_2, 10, "open L2").await;
    open(1, PRICE_1, 20, "open L3").await;
    let settle = async |id: u64, cumulative: u128, seconds: u64, from: Option<Address>, what: &str| {
        let (receipt, provider) = market.tenant_receipt(id, cumulative).await;
        market.must(at(seconds), m.settle(receipt).from(from.unwrap_or(provider)), what).await;
    };
    // L1's tenant pays for 300 s, then nothing.
    settle(L1, 300 * PRICE_1, 600, None, "settle L1").await;

    // ── Two demands, two hours in: for what ran until an hour before each. ──
    market.must(at(7_200), m.demandPayment(U256::from(L1)).from(p1), "P1 demands payment of L1").await;
    market.must(at(7_210), m.demandPayment(U256::from(L2)).from(p2), "P2 demands payment of L2").await;
    let (due_1, due_2) = (3_600 * PRICE_1, (7_210 - GRACE - 10) as u128 * PRICE_2);
    // L2's tenant answers at once: it settles its own receipt for 7,000 s.
    settle(L2, 7_000 * PRICE_2, 7_300, Some(tenant), "L2's tenant answers").await;
    // L1's tenant disputes instead (its dispute bond: a tenth of the lease's bond).
    let bond = PRICE_1 * NOTICE * BOND_BPS / 10_000;
    let dispute_bond = bond * DISPUTE_BOND_BPS / 10_000;
    market.must(at(8_000), m.openDispute(U256::from(L1), "ipfs://l1".into()).from(tenant), "dispute L1").await;
    ingestor.catch_up().await.unwrap();

    let l1 = lease(&store, L1).await;
    assert_eq!(
        (l1.status.as_str(), l1.demand_due, l1.demanded_at, l1.evictable_at, l1.remedies_until),
        ("open", due_1, t0 + 7_200, t0 + 7_200 + GRACE, 0),
        "{l1:#?}"
    );
    let (_, body) = get_json(&base, &format!("/v1/leases/{L1}")).await;
    assert_fields(
        "L1 under an unanswered demand",
        &body["data"],
        &[
            ("phase", json!("payment demanded")),
            ("demand_answered", json!(false)),
            ("demand_due", amount(due_1)),
            ("evictable_at", json!(t0 + 7_200 + GRACE)),
            ("remedies_deadline", json!(t0 + DURATION + SETTLEMENT_WINDOW)),
            ("eviction", Value::Null),
        ],
    );
    let (_, body) = get_json(&base, &format!("/v1/leases/{L2}")).await;
    assert_fields(
        "L2, its demand answered",
        &body["data"],
        &[
            ("phase", json!("running")),
            ("demand_answered", json!(true)),
            ("demand_due", amount(due_2)),
            ("demanded_at", json!(t0 + 7_210)),
            ("settled", amount(7_000 * PRICE_2)),
            // Notice at the mirror's time (8,000 s in; it opened at 10 s) ends it an hour later:
            // the rest of its term is escrow no receipt could claim.
            ("refund_on_notice", amount(PRICE_2 * (DURATION as u128 - (8_000 + NOTICE - 10)))),
        ],
    );
    let (_, stats) = get_json(&base, "/v1/stats").await;
    assert_fields("stats", &stats["data"], &[("unanswered_demands", json!(1)), ("evicted_leases", json!(0))]);
    for (who, address) in [("P1", p1), ("P2", p2), ("P3", p3)] {
        let p = provider(&store, address).await;
        let demands = u64::from(address != p3);
        assert_eq!((p.payment_demands, p.leases_evicted), (demands, 0), "{who}: {p:#?}");
    }
    let (_, body) = get_json(&base, &format!("/v1/providers/{p1}/history?days=2")).await;
    let day = body["data"]["series"].as_array().unwrap().iter().find(|d| d["day"] == (t0 + 7_200) / 86_400).cloned();
    assert_fields("P1's day", &day.unwrap_or_default(), &[("payment_demands", json!(1)), ("leases_evicted", json!(0))]);
    assert_audit_passes(&store, &market).await;

    // ── An answered demand gives no eviction. ──
    assert!(!market.send(m.evictLease(U256::from(L2)).from(p2)).await, "L2's demand was answered");

    // ── L1 evicted as soon as it may be, while it runs. ──
    let p1_before = claimable(&store, p1).await;
    assert_eq!(p1_before, 300 * PRICE_1 - fee(300 * PRICE_1), "P1 was paid L1's first receipt");
    assert_eq!(claimable(&store, tenant).await, 0);
    market.must(at(7_200 + GRACE), m.evictLease(U256::from(L1)).from(p1), "P1 evicts L1").await;
    ingestor.catch_up().await.unwrap();
    let evicted_at = t0 + 7_200 + GRACE;
    // It ran 10,800 s: the escrow keeps what that let accrue, the rest is refunded at once; the
    // tenant pays an hour of the price for the capacity it held.
    let (ran, deposit) = (10_800 * PRICE_1, DURATION as u128 * PRICE_1);
    let hold_charge = PRICE_1 * GRACE as u128;
    let settled = 300 * PRICE_1 + hold_charge;
    let hold_earned = hold_charge - (fee(settled) - fee(300 * PRICE_1));
    let remedies_until = t0 + DURATION + SETTLEMENT_WINDOW;
    let l1 = lease(&store, L1).await;
    assert_eq!(
        (l1.status.as_str(), l1.evicted, l1.ends_at, l1.settled, l1.deposit, l1.bond, l1.settlement_count),
        ("evicted", true, evicted_at, settled, ran, bond, 1),
        "{l1:#?}"
    );
    assert_eq!(
        (l1.remedies_until, l1.remedies_deadline(), l1.escrow()),
        (remedies_until, remedies_until, ran - settled)
    );
    assert_eq!(offer(&store, 1).await.active_leases, 1, "L1's capacity is free; L3 holds the other");
    assert_eq!(locked(&store, p1).await, 2 * bond, "L1's bond stays locked");
    assert_eq!(claimable(&store, p1).await, p1_before + hold_earned, "the hold charge, net of its fee");
    assert_eq!(claimable(&store, tenant).await, deposit - ran, "the escrow no receipt can claim");
    let p = provider(&store, p1).await;
    assert_eq!((p.payment_demands, p.leases_evicted), (1, 1), "{p:#?}");
    assert_eq!(p.total_earned, p1_before + hold_earned, "the hold charge is earned");
    let (_, body) = get_json(&base, &format!("/v1/leases/{L1}")).await;
    let data = &body["data"];
    assert_fields(
        "L1 evicted",
        data,
        &[
            ("status", json!("evicted")),
            ("phase", json!("evicted")),
            ("demand_answered", json!(false)),
            ("escrow", amount(ran - settled)),
            ("remedies_until", json!(remedies_until)),
            ("remedies_deadline", json!(remedies_until)),
            ("settlement_deadline", json!(evicted_at + SETTLEMENT_WINDOW)),
            ("runway_secs", json!(0)),
        ],
    );
    assert_fields(
        "L1's eviction",
        &data["eviction"],
        &[
            ("ends_at", json!(evicted_at)),
            ("hold_charge", amount(hold_charge)),
            ("refund", amount(deposit - ran)),
            ("remedies_until", json!(remedies_until)),
        ],
    );
    let (_, stats) = get_json(&base, "/v1/stats").await;
    assert_fields("stats", &stats["data"], &[("unanswered_demands", json!(0)), ("evicted_leases", json!(1))]);
    let (_, body) = get_json(&base, "/v1/leases?status=evicted").await;
    assert_eq!(
        body["data"].as_array().map(|l| l.iter().map(|l| l["lease_id"].clone()).collect()),
        Some(vec![json!(L1)])
    );
    assert_audit_passes(&store, &market).await;

    // ── The provider still settles what it delivered before the eviction. ──
    settle(L1, 10_000 * PRICE_1, 9_000 + GRACE, None, "settle L1 after its eviction").await;
    ingestor.catch_up().await.unwrap();
    let l1 = lease(&store, L1).await;
    assert_eq!((l1.settled, l1.settlement_count, l1.escrow()), (10_000 * PRICE_1, 2, ran - 10_000 * PRICE_1));
    let late = 10_000 * PRICE_1 - settled;
    let p1_settled = p1_before + hold_earned + late - (fee(10_000 * PRICE_1) - fee(settled));
    assert_eq!(claimable(&store, p1).await, p1_settled);
    assert_audit_passes(&store, &market).await;

    // ── The dispute expires without a ruling: the tenant is in arrears, its bond goes to P1. ──
    let deadline = t0 + 8_000 + DISPUTE_PERIOD;
    market.must(Some(deadline), m.expireDispute(U256::from(L1)).from(tenant), "expire L1's dispute").await;
    ingestor.catch_up().await.unwrap();
    assert_eq!(claimable(&store, p1).await, p1_settled + dispute_bond, "the dispute bond went to the provider");
    let (_, body) = get_json(&base, &format!("/v1/leases/{L1}")).await;
    assert_eq!(body["data"]["dispute"]["status"], "expired", "{body}");

    // ── Finalized after its remedies: the bond is released, the capacity not freed again. ──
    market.must(Some(deadline + 100), m.finalizeLease(U256::from(L1)).from(tenant), "finalize L1").await;
    ingestor.catch_up().await.unwrap();
    let l1 = lease(&store, L1).await;
    assert_eq!((l1.status.as_str(), l1.evicted, l1.bond, l1.escrow()), ("finalized", true, 0, 0), "{l1:#?}");
    assert_eq!(offer(&store, 1).await.active_leases, 1, "L3 still holds its capacity");
    assert_eq!(locked(&store, p1).await, bond, "L1's bond is released");
    assert_eq!(claimable(&store, tenant).await, deposit - 10_000 * PRICE_1, "the refunds: at the eviction and now");
    let p = provider(&store, p1).await;
    // An eviction counts what was paid as what accrued.
    assert_eq!((p.paid, p.accruable, p.leases_completed), (10_000 * PRICE_1, 10_000 * PRICE_1, 0), "{p:#?}");
    let (_, body) = get_json(&base, &format!("/v1/leases/{L1}")).await;
    assert_fields(
        "L1 finalized",
        &body["data"],
        &[("phase", json!("finalized")), ("demand_answered", json!(false)), ("remedies_until", json!(remedies_until))],
    );
    assert_audit_passes(&store, &market).await;

    // ── Governance: P3 accepts a new parameters version for its offer; the others keep theirs. ──
    let version: u64 = m.paramsVersion().call().await.unwrap().to();
    let mut params = m.params().call().await.unwrap();
    params.settlementWindow = 7_200;
    let now = market.now().await;
    market.must(Some(now + 10), m.scheduleParams(params).from(market.account(0)), "schedule parameters").await;
    let effective = now + 10 + 7 * 86_400;
    market.must(Some(effective), m.acceptParams(U256::from(3), version as u16 + 1).from(p3), "P3 accepts them").await;
    let terms = m.offerTermsHash(U256::from(3)).call().await.unwrap();
    let deposit = U256::from(12 * 3_600);
    market.must(Some(effective + 10), m.openLease(U256::from(3), 3_600, deposit, terms).from(tenant), "open L4").await;
    ingestor.catch_up().await.unwrap();
    assert_eq!(
        (offer(&store, 1).await.params_version, offer(&store, 3).await.params_version),
        (version, version + 1),
        "offer 3 takes the new version"
    );
    let l4 = lease(&store, 4).await;
    assert_eq!((l4.params_version, l4.settlement_window), (version + 1, 7_200), "L4 opens under it: {l4:#?}");
    let (_, body) = get_json(&base, &format!("/v1/providers/{p3}")).await;
    let offers = body["data"]["offers"].as_array().unwrap();
    assert_eq!(offers[0]["params_version"], version + 1, "{body}");
    assert_audit_passes(&store, &market).await;
}
