//! Contracts v3's session signers, scoped to one provider: a tenant authorizes one signer for two
//! providers, and the mirror keeps two rows whose caps and spent totals grow separately (as
//! `sessionSigner(tenant, signer, provider)` says); a revocation for one provider brings its expiry
//! forward and flags it, leaves the other alone, and still lets receipts for service before it be
//! settled; authorizing again undoes it and keeps what was spent. Served by `/v1/signers` and each
//! lease's detail; the audit must pass.

use alloy::primitives::{Address, U256, Uint};
use openlease_indexer::{rows::Signer, store::Store};
use serde_json::{Value, json};

use crate::{
    both_backends,
    util::{Db, Market, SESSION_SIGNER, assert_audit_passes, fresh_db, get_json, ingestor, serve_api, test_config},
};

/// `Market::new`'s offers 1 and 2: provider accounts 1 and 2, raw units per second.
const PRICE_1: u128 = 10;
const PRICE_2: u128 = 11;
const DURATION: u64 = 3_600;
const CAP_1: u128 = 1_000_000;
/// Small enough that P2's receipts reach it.
const CAP_2: u128 = 10_000;

/// The signer's rows, by provider.
async fn rows(store: &Store) -> Vec<Signer> {
    let mut rows: Vec<Signer> = Store::all(store.pool()).await.unwrap();
    rows.sort_by_key(|r| r.provider);
    rows
}

fn row(rows: &[Signer], provider: Address) -> &Signer {
    rows.iter().find(|r| r.provider == provider).unwrap_or_else(|| panic!("a row for {provider}: {rows:#?}"))
}

both_backends!(mirrors_a_signer_per_provider, signer_per_provider);
async fn signer_per_provider(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let market = Market::new(17).await;
    let m = &market.market;
    let (p1, p2, tenant, signer) =
        (market.account(1), market.account(2), market.account(4), market.account(SESSION_SIGNER));
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    let t0 = market.now().await + 100;
    let at = |seconds: u64| Some(t0 + seconds);
    let expiry = t0 + 30 * 86_400;
    let authorize = async |provider: Address, cap: u128, seconds: u64, what: &str| {
        let call = m.authorizeSigner(signer, provider, Uint::from(cap), Uint::from(expiry));
        market.must(at(seconds), call.from(tenant), what).await;
    };
    authorize(p1, CAP_1, 0, "authorize the signer for P1").await;
    authorize(p2, CAP_2, 1, "authorize the signer for P2").await;
    for (offer, price, seconds) in [(1u64, PRICE_1, 10), (2, PRICE_2, 20)] {
        let terms = m.offerTermsHash(U256::from(offer)).call().await.unwrap();
        let deposit = U256::from(price * u128::from(DURATION));
        let call = m.openLease(U256::from(offer), DURATION as u32, deposit, terms);
        market.must(at(seconds), call.from(tenant), "open a lease").await;
    }
    // Receipts the signer signs for service until `period_end` (seconds from T0).
    let settle = async |lease: u64, cumulative: u128, period_end: u64, seconds: u64| {
        let (receipt, provider) = market.receipt(lease, cumulative, SESSION_SIGNER, t0 + period_end).await;
        let call = m.settle(receipt).from(provider);
        if seconds == 0 {
            // Expected to pay nothing: refused (its estimate reverts), no block.
            return market.send(call).await;
        }
        market.must(at(seconds), call, "settle a session signer's receipt").await;
        true
    };
    settle(1, 5_000, 1_000, 1_000).await;
    settle(2, 6_000, 1_010, 1_010).await;
    ingestor.catch_up().await.unwrap();
    let r = rows(&store).await;
    assert_eq!(r.len(), 2, "one row per provider: {r:#?}");
    assert_eq!((row(&r, p1).cap, row(&r, p1).spent), (CAP_1, 5_000));
    assert_eq!((row(&r, p2).cap, row(&r, p2).spent), (CAP_2, 6_000));
    assert!(r.iter().all(|r| r.tenant == tenant && r.signer == signer && r.expires_at == expiry && !r.revoked));

    // Each grows by its own provider's receipts only; P2's stops at its cap.
    settle(1, 9_000, 1_100, 1_100).await;
    settle(2, 20_000, 1_900, 1_900).await;
    ingestor.catch_up().await.unwrap();
    let r = rows(&store).await;
    assert_eq!((row(&r, p1).spent, row(&r, p2).spent), (9_000, CAP_2), "{r:#?}");
    assert_audit_passes(&store, &market).await;

    // Revoked for P1 at +2,000: the expiry comes forward to it; P2's authorization is untouched.
    market.must(at(2_000), m.revokeSigner(signer, p1).from(tenant), "revoke the signer for P1").await;
    ingestor.catch_up().await.unwrap();
    let r = rows(&store).await;
    assert_eq!((row(&r, p1).expires_at, row(&r, p1).revoked), (t0 + 2_000, true), "{r:#?}");
    assert_eq!((row(&r, p2).expires_at, row(&r, p2).revoked, row(&r, p2).spent), (expiry, false, CAP_2));
    // Service before the revocation stays payable; after it, not.
    settle(1, 15_000, 1_900, 2_100).await;
    assert!(!settle(1, 19_000, 2_050, 0).await, "a receipt for service after the revocation pays nothing");
    ingestor.catch_up().await.unwrap();
    assert_eq!(row(&rows(&store).await, p1).spent, 15_000);
    assert_audit_passes(&store, &market).await;

    // Served: every row, filtered by provider, paged, and with each lease.
    let (status, body) = get_json(&base, &format!("/v1/signers?tenant={tenant}")).await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<(Value, Value, Value)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["provider"].clone(), s["spent"].clone(), s["revoked"].clone()))
        .collect();
    let mut expected =
        vec![(json!(p1), json!("15000"), json!(true)), (json!(p2), json!(CAP_2.to_string()), json!(false))];
    expected.sort_by_key(|e| e.0.as_str().unwrap().to_lowercase());
    assert_eq!(listed, expected, "{body}");
    let (_, body) = get_json(&base, &format!("/v1/signers?provider={p2}")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["cap"], CAP_2.to_string(), "{body}");
    let (_, first) = get_json(&base, "/v1/signers?limit=1").await;
    let next = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (_, second) = get_json(&base, &format!("/v1/signers?limit=1&cursor={next}")).await;
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    assert_ne!(first["data"][0]["provider"], second["data"][0]["provider"]);
    let (status, body) = get_json(&base, "/v1/signers?cursor=nonsense").await;
    assert_eq!(status, 400, "{body}");
    for (lease, provider) in [(1, p1), (2, p2)] {
        let (_, body) = get_json(&base, &format!("/v1/leases/{lease}")).await;
        let signers = body["data"]["signers"].as_array().unwrap();
        assert_eq!(signers.len(), 1, "lease {lease}: its provider's authorization only: {body}");
        assert_eq!(signers[0]["provider"], json!(provider), "{body}");
    }

    // Authorized again for P1: the revocation is undone, what was spent kept.
    authorize(p1, CAP_1, 2_200, "authorize the signer for P1 again").await;
    ingestor.catch_up().await.unwrap();
    let r = rows(&store).await;
    assert_eq!((row(&r, p1).expires_at, row(&r, p1).revoked, row(&r, p1).spent), (expiry, false, 15_000));
    assert_audit_passes(&store, &market).await;
}
