//! The client SDK against a deployed market: receipts byte-for-byte the market's, typed reverts,
//! the whole life of a lease with exact balances, each way a receipt is refused, and a dispute.

use crate::util::{funded_signer, spawn_anvil};
use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256, address, keccak256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use openlease_client::{
    Client, DepositMethod, DueReason, Error, LeaseRequest, Manifest, OfferTerms, OpenleaseErrors, ProviderDetails,
    ReceiptDomain, ReceiptError, ReceiptSigner, ReceiptVerifier, ServiceReceipt, SettlementResult, SettlementWatcher,
    SignedReceipt, WatchAlert,
};

/// One USDC in raw units.
const USDC: u64 = 1_000_000;
/// The offer's price: 100 raw units (0.0001 USDC) per second.
const PRICE: u64 = 100;
const NOTICE: u32 = 3_600;

struct Market {
    anvil: AnvilInstance,
    manifest: Manifest,
    usdc: Address,
}

impl Market {
    async fn deploy() -> Self {
        let anvil = spawn_anvil();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let usdc = manifest.stablecoin("USDC").unwrap().address;
        Self { anvil, manifest, usdc }
    }

    async fn client(&self, index: usize) -> Client<DynProvider> {
        let signer = funded_signer(&self.anvil, index);
        Client::connect(&self.anvil.endpoint(), signer, self.manifest.clone()).await.unwrap()
    }

    /// A registered provider with 10,000 USDC staked and an offer; returns the offer.
    async fn provider_with_offer(&self, provider: &Client<DynProvider>, capacity: u16) -> U256 {
        self.mint(provider, 10_000 * USDC).await;
        provider
            .register_provider(&ProviderDetails {
                metadata_uri: "ipfs://provider".into(),
                endpoint: "https://provider.example".into(),
                region: "eu-west".into(),
                attributes_hash: keccak256("gpu:a100"),
            })
            .await
            .unwrap();
        provider.stake(self.usdc, U256::from(10_000 * USDC)).await.unwrap();
        provider
            .publish_offer(&OfferTerms {
                token: self.usdc,
                price_per_second: PRICE,
                min_duration: 60,
                max_duration: 30 * 86_400,
                notice_period: NOTICE,
                capacity,
                workload: B256::ZERO,
                verifier: Address::ZERO,
            })
            .await
            .unwrap()
    }

    async fn mint(&self, client: &Client<DynProvider>, amount: u64) {
        client.send(client.token(self.usdc).mint(client.address(), U256::from(amount))).await.unwrap();
    }

    async fn open(&self, tenant: &Client<DynProvider>, offer_id: U256, deposit: u64) -> U256 {
        let quote = tenant.offer_quote(offer_id).await.unwrap();
        assert_eq!(quote.offer.pricePerSecond, PRICE);
        let request = LeaseRequest::new(&quote, 7 * 86_400, U256::from(deposit));
        let opening = tenant.open_lease(request).await.unwrap();
        assert_eq!(opening.deposit_method, DepositMethod::Permit, "MockUSDC has EIP-2612");
        opening.lease_id
    }

    async fn advance(&self, client: &Client<DynProvider>, seconds: u64) {
        client.provider().anvil_increase_time(seconds).await.unwrap();
        client.provider().anvil_mine(Some(1), None).await.unwrap();
    }
}

fn receipt(lease_id: U256, amount: u64, period_end: u64) -> ServiceReceipt {
    ServiceReceipt {
        leaseId: lease_id,
        cumulativeAmount: U256::from(amount),
        usageDigest: keccak256(amount.to_be_bytes()),
        periodEnd: period_end,
    }
}

#[tokio::test]
async fn the_receipt_digest_is_the_markets_byte_for_byte() {
    let market = Market::deploy().await;
    let client = market.client(4).await;
    let domain = client.receipt_domain();
    for (lease, amount, period_end) in [(1u64, 0u64, 0u64), (7, 12_345, 1_700_000_000), (u64::MAX, u64::MAX, u64::MAX)]
    {
        let r = receipt(U256::from(lease), amount, period_end);
        let on_chain = client.market().receiptDigest(r.clone()).call().await.unwrap();
        assert_eq!(domain.digest(&r), on_chain, "lease {lease}");
    }
    let other_chain = ReceiptDomain::new(1, market.manifest.market());
    let r = receipt(U256::from(1), 1, 1);
    assert_ne!(other_chain.digest(&r), client.market().receiptDigest(r.clone()).call().await.unwrap());
}

#[tokio::test]
async fn a_revert_is_the_markets_typed_error_with_its_arguments() {
    let market = Market::deploy().await;
    let (provider, tenant) = (market.client(1).await, market.client(4).await);
    let offer = market.provider_with_offer(&provider, 1).await;
    market.mint(&tenant, 1_000 * USDC).await;
    market.open(&tenant, offer, 100 * USDC).await;

    let request = LeaseRequest::new(&tenant.offer_quote(offer).await.unwrap(), 86_400, U256::from(100 * USDC));
    let error = tenant.open_lease(request).await.unwrap_err();
    match error.market_error() {
        Some(OpenleaseErrors::OpenleaseOfferAtCapacity(e)) => {
            assert_eq!(e.offerId, offer);
            assert_eq!(e.capacity, U256::from(1));
        }
        other => panic!("expected OpenleaseOfferAtCapacity, got {other:?} ({error})"),
    }
    assert!(error.to_string().contains(&format!("offer {offer} is at capacity (1 leases)")), "{error}");

    let error = tenant.lease(U256::from(99)).await.unwrap_err();
    assert!(matches!(error, Error::UnknownLease { lease_id, .. } if lease_id == U256::from(99)), "{error}");
    assert!(error.to_string().contains("lease 99 does not exist"), "{error}");
    let error = tenant.close_lease(U256::from(99)).await.unwrap_err();
    assert!(
        matches!(error.market_error(), Some(OpenleaseErrors::OpenleaseUnknownLease(e)) if e.leaseId == U256::from(99))
    );
}

#[tokio::test]
async fn concurrent_calls_from_one_client_do_not_collide() {
    let market = Market::deploy().await;
    let tenant = market.client(4).await;
    let expiry = tenant.now().await.unwrap() + 86_400;
    let signers: Vec<Address> = (0..4).map(|_| PrivateKeySigner::random().address()).collect();
    let provider = Address::repeat_byte(0x0b);
    let cap = U256::from(1_000);
    let results = tokio::join!(
        tenant.authorize_signer(signers[0], provider, cap, expiry),
        tenant.authorize_signer(signers[1], provider, cap, expiry),
        tenant.authorize_signer(signers[2], provider, cap, expiry),
        tenant.authorize_signer(signers[3], provider, cap, expiry),
    );
    for result in [results.0, results.1, results.2, results.3] {
        result.unwrap();
    }
    for s in &signers {
        assert_eq!(tenant.session_signer(tenant.address(), *s, provider).await.unwrap().cap, cap);
    }
}

#[tokio::test]
async fn the_whole_life_of_two_leases_with_exact_balances() {
    let market = Market::deploy().await;
    let (provider, tenant, session) = (market.client(1).await, market.client(4).await, funded_signer(&market.anvil, 6));
    let usdc = market.usdc;
    let offer = market.provider_with_offer(&provider, 5).await;
    let provider_balance = provider.balance(usdc, provider.address()).await.unwrap();
    assert_eq!(provider_balance, U256::ZERO, "all of it staked");

    market.mint(&tenant, 1_000 * USDC).await;
    let (deposit_a, deposit_b) = (200 * USDC, 50 * USDC);
    let lease_a = market.open(&tenant, offer, deposit_a).await;
    let lease_b = market.open(&tenant, offer, deposit_b).await;
    let bond = PRICE * u64::from(NOTICE) * 2; // bondBps 20000
    let stake = provider.stake_of(provider.address(), usdc).await.unwrap();
    assert_eq!(stake.locked, U256::from(2 * bond));
    assert_eq!(stake.free, U256::from(10_000 * USDC - 2 * bond));

    let leases: Vec<U256> = provider.leases_of(provider.address()).await.unwrap().iter().map(|l| l.lease_id).collect();
    assert_eq!(leases, [lease_a, lease_b]);

    let runway = tenant.runway(lease_b).await.unwrap();
    let started = u64::from(tenant.lease(lease_b).await.unwrap().startedAt);
    assert_eq!(runway.lease_end, started + deposit_b / PRICE, "the escrow runs out before the 7 days");

    let expiry = tenant.now().await.unwrap() + 86_400;
    tenant.authorize_signer(session.address(), provider.address(), U256::from(500 * USDC), expiry).await.unwrap();

    // The tenant's service signs a receipt per unit of work; the provider verifies each one.
    let signer = tenant.receipt_signer(session.clone());
    let terms = provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap();
    let mut verifier = ReceiptVerifier::new(provider.receipt_domain(), session.address(), terms)
        .with_lease(lease_a, U256::ZERO)
        .with_lease(lease_b, U256::ZERO);
    let now = provider.now().await.unwrap();
    for i in 1..=1_000u64 {
        let signed = signer.sign(receipt(lease_a, i * PRICE, now + i)).unwrap();
        assert_eq!(verifier.accept(signed, now).unwrap(), U256::from(PRICE));
    }
    for amount in [10_000, 30_000, 50_000] {
        // A receipt pays for service until its period's end: 50,000 is 500 s of service.
        verifier.accept(signer.sign(receipt(lease_b, amount, now + 500)).unwrap(), now).unwrap();
    }
    let (owed_a, owed_b) = (1_000 * PRICE, 50_000);
    assert_eq!(verifier.book().total_unsettled(), U256::from(owed_a + owed_b));
    let exposure = provider.exposure(lease_a, verifier.book()).await.unwrap();
    assert_eq!((exposure.unsettled, exposure.escrow), (U256::from(owed_a), U256::from(deposit_a)));
    let refused = provider.ensure_can_serve(lease_a, verifier.book(), U256::from(deposit_a)).await.unwrap_err();
    assert!(matches!(refused, Error::ExposureExceedsEscrow { .. }), "{refused}");

    // Let enough accrue, then settle only the newest receipt of each lease, in one batch.
    market.advance(&provider, 2_000).await;
    let outcomes = provider.settle_book(verifier.book_mut()).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    let fee = |paid: u64| paid / 100; // protocol fee 1%
    for (outcome, (lease, owed)) in outcomes.iter().zip([(lease_a, owed_a), (lease_b, owed_b)]) {
        assert_eq!(outcome.lease_id, lease);
        assert_eq!(outcome.result, SettlementResult::Settled);
        assert_eq!((outcome.paid, outcome.fee), (U256::from(owed), U256::from(fee(owed))));
    }
    assert_eq!(verifier.book().total_unsettled(), U256::ZERO);
    assert_eq!(tenant.lease(lease_a).await.unwrap().settled.to::<u64>(), owed_a);
    // The same receipts again pay nothing: skipped, not reverted.
    let again =
        vec![verifier.book().newest(lease_a).unwrap().clone(), verifier.book().newest(lease_b).unwrap().clone()];
    let outcomes = provider.settle_batch(again).await.unwrap();
    assert!(outcomes.iter().all(|o| o.result == SettlementResult::AlreadySettled && o.paid.is_zero()));
    assert_eq!(
        tenant.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap().spent,
        U256::from(owed_a + owed_b)
    );

    // Close, let the settlement window pass, finalize: the rest is refunded, the bonds released.
    tenant.close_lease(lease_a).await.unwrap();
    market.advance(&tenant, 7 * 86_400 + 3_600).await;
    let (refund_a, released_a) = tenant.finalize_lease(lease_a).await.unwrap();
    let (refund_b, released_b) = provider.finalize_lease(lease_b).await.unwrap();
    assert_eq!((refund_a, released_a), (U256::from(deposit_a - owed_a), U256::from(bond)));
    assert_eq!((refund_b, released_b), (U256::from(deposit_b - owed_b), U256::from(bond)));
    assert_eq!(provider.stake_of(provider.address(), usdc).await.unwrap().locked, U256::ZERO);

    let provider_share = owed_a + owed_b - fee(owed_a) - fee(owed_b);
    assert_eq!(provider.claimable(provider.address(), usdc).await.unwrap(), U256::from(provider_share));
    assert_eq!(provider.claim(usdc, provider.address()).await.unwrap(), U256::from(provider_share));
    assert_eq!(provider.balance(usdc, provider.address()).await.unwrap(), U256::from(provider_share));
    let refunds = deposit_a - owed_a + deposit_b - owed_b;
    assert_eq!(tenant.claim(usdc, tenant.address()).await.unwrap(), U256::from(refunds));
    assert_eq!(
        tenant.balance(usdc, tenant.address()).await.unwrap(),
        U256::from(1_000 * USDC - deposit_a - deposit_b + refunds)
    );
    assert_eq!(provider.market().feesOwed(usdc).call().await.unwrap(), U256::from(fee(owed_a) + fee(owed_b)));
    assert_eq!(
        provider.balance(usdc, market.manifest.market()).await.unwrap(),
        U256::from(10_000 * USDC + fee(owed_a) + fee(owed_b))
    );
}

#[tokio::test]
async fn the_verifier_refuses_each_bad_receipt_with_its_own_error() {
    let market = Market::deploy().await;
    let (provider, tenant, session) = (market.client(1).await, market.client(4).await, funded_signer(&market.anvil, 6));
    let offer = market.provider_with_offer(&provider, 5).await;
    market.mint(&tenant, 1_000 * USDC).await;
    let lease = market.open(&tenant, offer, 100 * USDC).await;
    let now = tenant.now().await.unwrap();
    tenant.authorize_signer(session.address(), provider.address(), U256::from(1_000), now + 3_600).await.unwrap();

    let signer = tenant.receipt_signer(session.clone());
    let terms = provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap();
    let mut verifier =
        ReceiptVerifier::new(provider.receipt_domain(), session.address(), terms).with_lease(lease, U256::ZERO);
    let good = signer.sign(receipt(lease, 500, now + 30)).unwrap();
    verifier.verify(&good, now).unwrap();

    let refuse = |signed: &SignedReceipt| verifier.verify(signed, now).unwrap_err();
    assert_eq!(
        refuse(&signer.sign(receipt(lease + U256::from(1), 500, now)).unwrap()),
        ReceiptError::WrongLease { lease_id: lease + U256::from(1) }
    );
    let other_chain = ReceiptSigner::new(session.clone(), ReceiptDomain::new(1, market.manifest.market()));
    let other_market = ReceiptSigner::new(
        session.clone(),
        ReceiptDomain::new(31337, address!("0x00000000000000000000000000000000000000aa")),
    );
    for foreign in [&other_chain, &other_market] {
        let error = refuse(&foreign.sign(receipt(lease, 500, now)).unwrap());
        assert!(
            matches!(error, ReceiptError::SignerMismatch { signer, recovered } if signer == session.address() && recovered != signer),
            "{error}"
        );
    }
    let mut short = good.clone();
    short.signature = good.signature.slice(..64);
    assert_eq!(refuse(&short), ReceiptError::WrongLength { len: 64 });
    let mut forged = good.clone();
    let mut bytes = good.signature.to_vec();
    bytes[10] ^= 1;
    forged.signature = bytes.into();
    assert!(matches!(refuse(&forged), ReceiptError::SignerMismatch { .. } | ReceiptError::BadSignature));
    let high_s = malleate(&good);
    assert_eq!(refuse(&high_s), ReceiptError::HighS);
    assert!(matches!(refuse(&signer.sign(receipt(lease, 1_001, now)).unwrap()), ReceiptError::OverCap { .. }));

    verifier.accept(good.clone(), now).unwrap();
    let error = verifier.verify(&signer.sign(receipt(lease, 400, now)).unwrap(), now).unwrap_err();
    assert_eq!(
        error,
        ReceiptError::NotIncreasing { lease_id: lease, cumulative: U256::from(400), accepted: U256::from(500) }
    );

    // The market agrees: a malleated signature does not settle, the good one does.
    market.advance(&provider, 60).await;
    let outcomes = provider.settle_batch(vec![high_s, good.clone()]).await.unwrap();
    assert_eq!(outcomes[0].result, SettlementResult::InvalidSignature);
    assert_eq!(outcomes[1].result, SettlementResult::Settled);
    verifier.book_mut().mark_settled(lease, U256::from(500));

    // Expiry and revocation, read back from the chain.
    let next = signer.sign(receipt(lease, 600, now + 60)).unwrap();
    market.advance(&provider, 3_600).await;
    let later = provider.now().await.unwrap();
    assert!(matches!(verifier.verify(&next, later), Err(ReceiptError::SignerExpired { .. })));
    tenant.authorize_signer(session.address(), provider.address(), U256::from(1_000), later + 3_600).await.unwrap();
    verifier.set_terms(provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap());
    verifier.verify(&next, later).unwrap();
    tenant.revoke_signer(session.address(), provider.address()).await.unwrap();
    verifier.set_terms(provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap());
    let revoked_at = provider.now().await.unwrap();
    // No more service on its word; the receipt for the period before the revocation still pays.
    assert_eq!(verifier.verify(&next, revoked_at), Err(ReceiptError::SignerRevoked { signer: session.address() }));
    assert_eq!(verifier.terms().refusal(next.receipt.periodEnd), None);
    let outcomes = provider.settle_batch(vec![next.clone()]).await.unwrap();
    assert_eq!((outcomes[0].result, outcomes[0].paid), (SettlementResult::Settled, U256::from(100)));
    let stranger = PrivateKeySigner::random();
    let mut unknown = next.clone();
    unknown.signer = stranger.address();
    assert!(matches!(verifier.verify(&unknown, later), Err(ReceiptError::UnknownSigner { .. })));
}

/// The same signature with `s' = n - s` and the parity flipped: valid ECDSA, but malleable.
fn malleate(signed: &SignedReceipt) -> SignedReceipt {
    let order = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let sig = alloy::primitives::Signature::from_raw(&signed.signature).unwrap();
    let flipped = alloy::primitives::Signature::new(sig.r(), order - sig.s(), !sig.v());
    SignedReceipt { signature: flipped.as_bytes().into(), ..signed.clone() }
}

#[tokio::test]
async fn an_upheld_dispute_slashes_the_bond_to_the_tenant() {
    let market = Market::deploy().await;
    let (provider, tenant, arbiter) = (market.client(1).await, market.client(4).await, market.client(7).await);
    assert_eq!(arbiter.address(), market.manifest.roles.arbiter);
    let offer = market.provider_with_offer(&provider, 5).await;
    market.mint(&tenant, 1_000 * USDC).await;
    let lease = market.open(&tenant, offer, 100 * USDC).await;
    let bond = PRICE * u64::from(NOTICE) * 2;

    let tenant_bond = tenant.open_dispute(lease, "ipfs://evidence").await.unwrap();
    assert_eq!(tenant_bond, U256::from(bond / 10)); // disputeBondBps 1000
    let error = provider.finalize_lease(lease).await.unwrap_err();
    assert!(matches!(error.market_error(), Some(OpenleaseErrors::OpenleaseSettlementWindowOpen(_))), "{error}");

    arbiter.rule_dispute(lease, 5_000).await.unwrap();
    let slashed = bond / 2;
    let cut = slashed / 10; // slashCutBps 1000
    assert_eq!(
        tenant.claimable(tenant.address(), market.usdc).await.unwrap(),
        U256::from(slashed - cut + bond / 10),
        "the slash less the protocol's cut, and the dispute bond back"
    );
    let stake = provider.stake_of(provider.address(), market.usdc).await.unwrap();
    assert_eq!(stake.staked, U256::from(10_000 * USDC - slashed));
    assert_eq!(stake.locked, U256::from(bond - slashed));
    assert_eq!(provider.market().feesOwed(market.usdc).call().await.unwrap(), U256::from(cut));
    assert_eq!(tenant.lease(lease).await.unwrap().bond.to::<u64>(), bond - slashed);
}

#[tokio::test]
async fn a_provider_withdraws_its_stake_only_after_the_unbonding_period() {
    let market = Market::deploy().await;
    let provider = market.client(1).await;
    let (usdc, me) = (market.usdc, provider.address());
    market.mint(&provider, 10_000 * USDC).await;
    let details = ProviderDetails {
        metadata_uri: "ipfs://provider".into(),
        endpoint: "https://provider.example".into(),
        region: "eu-west".into(),
        attributes_hash: keccak256("gpu:a100"),
    };
    provider.register_provider(&details).await.unwrap();
    provider.stake(usdc, U256::from(10_000 * USDC)).await.unwrap();

    let error = provider.withdraw_stake(usdc, me).await.unwrap_err();
    assert!(matches!(error.market_error(), Some(OpenleaseErrors::OpenleaseNothingThawing(_))), "{error}");
    // The refused call took no nonce: the next transaction is mined, not stuck behind a gap.
    let unstake = provider.request_unstake(usdc, U256::from(4_000 * USDC));
    let stake = tokio::time::timeout(std::time::Duration::from_secs(30), unstake)
        .await
        .expect("a transaction after a refused one is mined")
        .unwrap();
    assert_eq!(
        (stake.staked, stake.free, stake.thawing),
        (U256::from(6_000 * USDC), U256::from(6_000 * USDC), U256::from(4_000 * USDC))
    );
    assert_eq!(stake.thaw_ends_at, provider.now().await.unwrap() + 21 * 86_400);

    market.advance(&provider, 21 * 86_400 - 60).await;
    let error = provider.withdraw_stake(usdc, me).await.unwrap_err();
    match error.market_error() {
        Some(OpenleaseErrors::OpenleaseStillThawing(e)) => {
            assert_eq!(u64::try_from(e.thawEndsAt).unwrap(), stake.thaw_ends_at)
        }
        other => panic!("expected OpenleaseStillThawing, got {other:?} ({error})"),
    }
    market.advance(&provider, 60).await;
    assert_eq!(provider.withdraw_stake(usdc, me).await.unwrap(), U256::from(4_000 * USDC));
    assert_eq!(provider.balance(usdc, me).await.unwrap(), U256::from(4_000 * USDC));
    let stake = provider.stake_of(me, usdc).await.unwrap();
    assert_eq!((stake.staked, stake.thawing), (U256::from(6_000 * USDC), U256::ZERO));
}

#[tokio::test]
async fn the_watcher_settles_before_a_close_an_expiry_or_a_finalize_costs_the_provider() {
    let market = Market::deploy().await;
    let (provider, tenant, session) = (market.client(1).await, market.client(4).await, funded_signer(&market.anvil, 6));
    let offer = market.provider_with_offer(&provider, 5).await;
    market.mint(&tenant, 1_000 * USDC).await;
    let (lease_a, lease_b) =
        (market.open(&tenant, offer, 100 * USDC).await, market.open(&tenant, offer, 100 * USDC).await);
    let start = tenant.now().await.unwrap();
    tenant
        .authorize_signer(session.address(), provider.address(), U256::from(500 * USDC), start + 2 * 3_600)
        .await
        .unwrap();
    let signer = tenant.receipt_signer(session.clone());
    let terms = provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap();
    let mut verifier = ReceiptVerifier::new(provider.receipt_domain(), session.address(), terms)
        .with_lease(lease_a, U256::ZERO)
        .with_lease(lease_b, U256::ZERO);
    let from = provider.provider().get_block_number().await.unwrap();
    let mut watcher = SettlementWatcher::new(provider.clone(), from, 600);

    market.advance(&provider, 100).await;
    let now = provider.now().await.unwrap();
    for lease in [lease_a, lease_b] {
        verifier.accept(signer.sign(receipt(lease, 50 * PRICE, now)).unwrap(), now).unwrap();
    }
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    assert!(report.settled.is_empty() && report.alerts.is_empty(), "nothing is due yet: {report:?}");
    assert_eq!(verifier.book().total_unsettled(), U256::from(100 * PRICE));

    // The tenant gives notice on A: A is settled at once, B waits. A poll that fails (here: the
    // provider cannot pay for gas) loses no alert: the next one brings it.
    let ends_at = tenant.close_lease(lease_a).await.unwrap();
    let gas_money = provider.provider().get_balance(provider.address()).await.unwrap();
    provider.provider().anvil_set_balance(provider.address(), U256::ZERO).await.unwrap();
    watcher.poll(verifier.book_mut()).await.unwrap_err();
    provider.provider().anvil_set_balance(provider.address(), gas_money).await.unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    assert_eq!(report.alerts, [WatchAlert::LeaseClosing { lease_id: lease_a, by: tenant.address(), ends_at }]);
    assert_eq!(report.settled.len(), 1);
    assert_eq!(report.settled[0].0, DueReason::Closing);
    assert_eq!((report.settled[0].1.lease_id, report.settled[0].1.paid), (lease_a, U256::from(50 * PRICE)));
    assert_eq!(tenant.lease(lease_a).await.unwrap().settled.to::<u64>(), 50 * PRICE);
    assert_eq!(verifier.book().unsettled(lease_b), U256::from(50 * PRICE));

    // Once A has ended (after its notice period), its last receipt is final: settled. B still waits.
    market.advance(&provider, u64::from(NOTICE) + 100).await;
    let now = provider.now().await.unwrap();
    assert!(now >= ends_at);
    verifier.accept(signer.sign(receipt(lease_a, 60 * PRICE, now)).unwrap(), now).unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    let settled: Vec<(U256, DueReason, U256)> = report.settled.iter().map(|(r, o)| (o.lease_id, *r, o.paid)).collect();
    assert_eq!(settled, [(lease_a, DueReason::Ended, U256::from(10 * PRICE))]);

    // Ten minutes before the signer expires, B is settled.
    market.advance(&provider, start + 2 * 3_600 - 600 - now).await;
    let now = provider.now().await.unwrap();
    verifier.accept(signer.sign(receipt(lease_b, 1_000 * PRICE, now)).unwrap(), now).unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    let settled: Vec<(U256, DueReason, U256)> = report.settled.iter().map(|(r, o)| (o.lease_id, *r, o.paid)).collect();
    assert_eq!(settled, [(lease_b, DueReason::SignerExpiry, U256::from(1_000 * PRICE))]);
    assert_eq!(verifier.book().total_unsettled(), U256::ZERO);

    // A revocation voids only receipts for service after it: one for service before is settled at
    // once; one signed for a period that runs past the revocation is stranded, and the watcher
    // says so (it cannot repair it).
    tenant.authorize_signer(session.address(), provider.address(), U256::from(500 * USDC), now + 86_400).await.unwrap();
    verifier.set_terms(provider.session_signer(tenant.address(), session.address(), provider.address()).await.unwrap());
    verifier.accept(signer.sign(receipt(lease_a, 70 * PRICE, now)).unwrap(), now).unwrap();
    verifier.accept(signer.sign(receipt(lease_b, 1_100 * PRICE, now + 1_000)).unwrap(), now).unwrap();
    tenant.revoke_signer(session.address(), provider.address()).await.unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    assert_eq!(
        report.alerts,
        [
            WatchAlert::SignerRevoked {
                tenant: tenant.address(),
                signer: session.address(),
                leases: vec![lease_a, lease_b],
                stranded: U256::from(100 * PRICE),
            },
            WatchAlert::SettlementRefused {
                lease_id: lease_b,
                cumulative_amount: U256::from(1_100 * PRICE),
                result: SettlementResult::SignerRevoked,
            }
        ]
    );
    let settled: Vec<(U256, DueReason, U256)> = report.settled.iter().map(|(r, o)| (o.lease_id, *r, o.paid)).collect();
    assert_eq!(settled, [(lease_a, DueReason::Ended, U256::from(10 * PRICE))], "served before the revocation: paid");

    // Once B has ended its receipt is due, but the market refused it: it is not sent again.
    market.advance(&provider, 7 * 86_400 - 6_000).await;
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    assert!(report.settled.is_empty() && report.alerts.is_empty(), "{report:?}");

    // The tenant authorizes the signer again: the refusal is lifted and the receipt pays.
    let now = provider.now().await.unwrap();
    tenant.authorize_signer(session.address(), provider.address(), U256::from(500 * USDC), now + 86_400).await.unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    let settled: Vec<(U256, DueReason, U256)> = report.settled.iter().map(|(r, o)| (o.lease_id, *r, o.paid)).collect();
    assert_eq!(settled, [(lease_b, DueReason::Ended, U256::from(100 * PRICE))]);

    // Finalized leases leave the book.
    market.advance(&provider, 3_600).await;
    provider.finalize_lease(lease_b).await.unwrap();
    let report = watcher.poll(verifier.book_mut()).await.unwrap();
    assert_eq!(report.alerts, [WatchAlert::LeaseFinalized { lease_id: lease_b, stranded: U256::ZERO }]);
    assert!(!verifier.book().has_lease(lease_b));
    assert_eq!(verifier.book().total_unsettled(), U256::ZERO);
}

#[tokio::test]
async fn a_smaller_allowance_is_reset_to_zero_before_it_is_raised_as_usdt_demands() {
    let market = Market::deploy().await;
    let tenant = market.client(4).await;
    let (usdt, spender) = (market.manifest.stablecoin("USDT").unwrap().address, market.manifest.market());
    let erc20 = tenant.token(usdt);
    tenant.send(erc20.approve(spender, U256::from(1_000))).await.unwrap();
    let nonce = || async { tenant.provider().get_transaction_count(tenant.address()).await.unwrap() };
    let before = nonce().await;

    tenant.ensure_allowance(usdt, U256::from(5_000)).await.unwrap();
    assert_eq!(nonce().await - before, 2, "approve(0), then approve(5,000)");
    assert_eq!(erc20.allowance(tenant.address(), spender).call().await.unwrap(), U256::from(5_000));
    let zero_first = market_approvals(&tenant, usdt, before).await;
    assert_eq!(zero_first, [U256::ZERO, U256::from(5_000)]);

    tenant.ensure_allowance(usdt, U256::from(4_000)).await.unwrap();
    assert_eq!(nonce().await - before, 2, "an allowance that covers the amount is left alone");
}

/// The values of the approvals `client` gave the market for `token` in its transactions from `nonce` on.
async fn market_approvals(client: &Client<DynProvider>, token: Address, nonce: u64) -> Vec<U256> {
    let filter = alloy::rpc::types::Filter::new()
        .address(token)
        .event_signature(openlease_contracts::MockStablecoin::Approval::SIGNATURE_HASH)
        .topic1(client.address())
        .from_block(0);
    let logs = client.provider().get_logs(&filter).await.unwrap();
    let mut approvals = Vec::new();
    for log in logs {
        let tx = client.provider().get_transaction_by_hash(log.transaction_hash.unwrap()).await.unwrap().unwrap();
        if alloy::consensus::Transaction::nonce(&tx) >= nonce {
            approvals.push(log.log_decode::<openlease_contracts::MockStablecoin::Approval>().unwrap().inner.data.value);
        }
    }
    approvals
}
