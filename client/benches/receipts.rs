//! Receipt throughput: signing, verification (one core and all cores), and the raw k256 public-key
//! recovery that verification is built on, measured in the same run as the baseline.
//!
//! `cargo bench -p openlease-client`. After criterion's report, a short head-to-head run prints
//! verified/s against recovered/s and their ratio (the target: verification ≥ 90% of recovery).

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::{
        k256::ecdsa::{RecoveryId, Signature, VerifyingKey},
        local::PrivateKeySigner,
    },
};
use criterion::{Criterion, Throughput};
use openlease_client::{ReceiptDomain, ReceiptSigner, ReceiptVerifier, ServiceReceipt, SignedReceipt, SignerTerms};
use rayon::prelude::*;

const BATCH: usize = 1_024;
const LEASE: U256 = U256::from_limbs([1, 0, 0, 0]);
const NOW: u64 = 1_700_000_000;

struct Fixture {
    signer: ReceiptSigner,
    verifier: ReceiptVerifier,
    receipts: Vec<SignedReceipt>,
    /// The same signatures, parsed, with their digests: the raw recovery's input.
    raw: Vec<(B256, Signature, RecoveryId)>,
}

fn fixture() -> Fixture {
    let key = PrivateKeySigner::random();
    let domain = ReceiptDomain::new(31337, Address::repeat_byte(0x42));
    let terms = SignerTerms { cap: U256::MAX, spent: U256::ZERO, expires_at: u64::MAX, revoked: false };
    let verifier = ReceiptVerifier::new(domain, key.address(), terms).with_lease(LEASE, U256::ZERO);
    let signer = ReceiptSigner::new(key, domain);
    let receipts: Vec<_> = (1..=BATCH as u64).map(|i| signer.sign(receipt(i)).unwrap()).collect();
    let raw = receipts
        .iter()
        .map(|r| {
            let sig = Signature::from_slice(&r.signature[..64]).unwrap();
            (domain.digest(&r.receipt), sig, RecoveryId::new(r.signature[64] == 28, false))
        })
        .collect();
    Fixture { signer, verifier, receipts, raw }
}

fn receipt(i: u64) -> ServiceReceipt {
    ServiceReceipt {
        leaseId: LEASE,
        cumulativeAmount: U256::from(i * 100),
        usageDigest: keccak256(i.to_be_bytes()),
        periodEnd: NOW + i,
    }
}

fn recover(digest: &B256, sig: &Signature, recid: RecoveryId) -> Address {
    Address::from_public_key(&VerifyingKey::recover_from_prehash(digest.as_slice(), sig, recid).unwrap())
}

fn benches(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("receipts/one core");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("sign", |b| {
        b.iter(|| {
            i += 1;
            f.signer.sign(black_box(receipt(i))).unwrap()
        })
    });
    let mut n = 0usize;
    group.bench_function("verify", |b| {
        b.iter(|| {
            n = (n + 1) % BATCH;
            f.verifier.verify(black_box(&f.receipts[n]), NOW).unwrap()
        })
    });
    group.bench_function("k256 recover (baseline)", |b| {
        b.iter(|| {
            n = (n + 1) % BATCH;
            let (digest, sig, recid) = &f.raw[n];
            recover(black_box(digest), sig, *recid)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("receipts/all cores");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("verify", |b| {
        b.iter(|| f.receipts.par_iter().for_each(|r| f.verifier.verify(black_box(r), NOW).unwrap()))
    });
    group.bench_function("k256 recover (baseline)", |b| {
        b.iter(|| {
            f.raw.par_iter().for_each(|(digest, sig, recid)| {
                black_box(recover(black_box(digest), sig, *recid));
            })
        })
    });
    group.finish();
}

/// Verified and recovered per second over `window`, alternating so both see the same machine.
fn head_to_head(f: &Fixture, window: Duration) {
    let rate = |work: &dyn Fn()| {
        let started = Instant::now();
        let mut done = 0usize;
        while started.elapsed() < window / 4 {
            work();
            done += BATCH;
        }
        done as f64 / started.elapsed().as_secs_f64()
    };
    let verify_one = || f.receipts.iter().for_each(|r| f.verifier.verify(r, NOW).unwrap());
    let recover_one = || {
        f.raw.iter().for_each(|(d, s, r)| {
            black_box(recover(d, s, *r));
        })
    };
    let verify_all = || f.receipts.par_iter().for_each(|r| f.verifier.verify(r, NOW).unwrap());
    let recover_all = || {
        f.raw.par_iter().for_each(|(d, s, r)| {
            black_box(recover(d, s, *r));
        })
    };
    let (v1, r1, va, ra) = (rate(&verify_one), rate(&recover_one), rate(&verify_all), rate(&recover_all));
    println!("\nhead to head ({} threads):", rayon::current_num_threads());
    println!("  one core:  verified {v1:>9.0}/s  recovered {r1:>9.0}/s  ratio {:.1}%", 100.0 * v1 / r1);
    println!("  all cores: verified {va:>9.0}/s  recovered {ra:>9.0}/s  ratio {:.1}%", 100.0 * va / ra);
}

fn main() {
    let f = fixture();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &f);
    c.final_summary();
    head_to_head(&f, Duration::from_secs(4));
}
