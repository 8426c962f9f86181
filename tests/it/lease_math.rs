//! The Rust lease rules (`openlease_contracts::lease_math`) against the contract's `LeaseMath`,
//! compiled and run on anvil: 12,000 cases, a third of them built from edge values (zero, one,
//! each storage field's maximum, the instants around the start, the end and the grace), every
//! function's answer compared.

use alloy::{primitives::U256, sol};
use openlease_contracts::{SettlementResult, lease_math};

use crate::util::{funded_signer, provider_for, spawn_anvil};

sol!(
    #[sol(rpc, all_derives)]
    LeaseMathHarness,
    "../contracts/artifacts/LeaseMathHarness.json"
);

use LeaseMathHarness::{Answer, Case};

const CASES: usize = 12_000;
/// Cases per `eth_call`: well inside anvil's call gas cap.
const BATCH: usize = 500;

/// SplitMix64: a seeded, reproducible source of cases (the seed is printed on a mismatch).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Below `2^bits`, uniform in the number of bits so that small values come up as often as large.
    fn bits(&mut self, bits: u32) -> U256 {
        let width = (self.next() % u64::from(bits + 1)) as usize;
        let mut value = U256::from(self.next()) | (U256::from(self.next()) << 64);
        value >>= 128 - width.min(128);
        if width == 0 { U256::ZERO } else { value }
    }

    /// One of `edges`, or a random value below `2^bits`.
    fn pick(&mut self, edge_share: u64, edges: &[U256], bits: u32) -> U256 {
        if self.next() % 100 < edge_share {
            edges[(self.next() % edges.len() as u64) as usize]
        } else {
            self.bits(bits)
        }
    }
}

fn max_of(bits: u32) -> U256 {
    (U256::from(1) << bits) - U256::from(1)
}

/// A case inside the contract's domain: the widths the market stores (times uint32, amounts
/// uint88, price uint64, notice uint32), a price of at least one, an end no earlier than the start.
fn case(rng: &mut Rng, edge_share: u64) -> Case {
    let (zero, one) = (U256::ZERO, U256::from(1));
    let started_at = rng.pick(edge_share, &[zero, one, max_of(32) - one, max_of(32)], 32);
    let ends_at = started_at + rng.pick(edge_share, &[zero, one, U256::from(3_600)], 32);
    let ends_at = ends_at.min(max_of(32));
    let deposit = rng.pick(edge_share, &[zero, one, max_of(88)], 88);
    let settled = match rng.next() % 4 {
        0 => deposit,
        1 => deposit.saturating_sub(one),
        _ => rng.pick(edge_share, &[zero, one, max_of(88)], 88),
    };
    let price = rng.pick(edge_share, &[one, U256::from(2), max_of(64)], 64).max(one);
    let around = |rng: &mut Rng, t: U256| match rng.next() % 3 {
        0 => t.saturating_sub(one),
        1 => t,
        _ => t + one,
    };
    let at = match rng.next() % 4 {
        0 => around(rng, started_at),
        1 => around(rng, ends_at),
        2 => started_at + rng.bits(24),
        _ => rng.pick(edge_share, &[zero, max_of(40)], 40),
    };
    let grace = rng.pick(edge_share, &[zero, U256::from(900), max_of(32)], 32);
    let cumulative = match rng.next() % 3 {
        0 => around(rng, settled),
        _ => rng.pick(edge_share, &[zero, one, max_of(96)], 96),
    };
    Case {
        startedAt: started_at,
        endsAt: ends_at,
        deposit,
        settled,
        pricePerSecond: price,
        at,
        cumulativeAmount: cumulative,
        capLeft: if rng.next().is_multiple_of(10) { zero } else { rng.pick(edge_share, &[one, max_of(96)], 96) },
        bps: rng.pick(edge_share, &[zero, one, U256::from(10_000)], 14),
        noticePeriod: rng.pick(edge_share, &[zero, one, max_of(32)], 32),
        grace,
    }
}

/// What the Rust rules answer for `c`, in the harness's shape.
fn rust(c: &Case) -> Answer {
    let accrued = lease_math::accrued(c.startedAt, c.endsAt, c.pricePerSecond, c.at);
    let (result, paid) = lease_math::payable(c.settled, c.deposit, accrued, c.cumulativeAmount, c.capLeft);
    let (due, owed) = lease_math::arrears(c.startedAt, c.endsAt, c.pricePerSecond, c.settled, c.grace, c.at);
    Answer {
        runEnd: lease_math::run_end(c.startedAt, c.endsAt, c.deposit, c.pricePerSecond),
        accrued,
        result: u8::from(result),
        paid,
        fee: lease_math::fee(c.settled, c.bps),
        bond: lease_math::bond(c.pricePerSecond, c.noticePeriod, c.bps),
        claimableCeiling: lease_math::claimable_ceiling(c.startedAt, c.endsAt, c.pricePerSecond, c.deposit),
        due,
        owed,
    }
}

#[tokio::test]
async fn the_rust_lease_rules_answer_as_the_contract_does() {
    let anvil = spawn_anvil();
    let provider = provider_for(&anvil, funded_signer(&anvil, 0));
    let harness = LeaseMathHarness::deploy(&provider).await.expect("deploy the harness");

    let seed = 0x0_1ea5e_u64;
    let mut rng = Rng(seed);
    let cases: Vec<Case> = (0..CASES).map(|i| case(&mut rng, if i % 3 == 0 { 60 } else { 5 })).collect();
    let mut mismatches = Vec::new();
    let mut results = [0usize; 11];
    for (batch, chunk) in cases.chunks(BATCH).enumerate() {
        let answers = harness.evaluate(chunk.to_vec()).call().await.expect("the harness answers");
        assert_eq!(answers.len(), chunk.len());
        for (i, (c, contract)) in chunk.iter().zip(&answers).enumerate() {
            results[usize::from(contract.result)] += 1;
            let ours = rust(c);
            if ours != *contract {
                mismatches.push(format!(
                    "case {} (seed {seed:#x}): {c:?}\n  contract {contract:?}\n  rust     {ours:?}",
                    batch * BATCH + i
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {CASES} cases differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );

    // The cases reach every answer a settlement's arithmetic can give, each many times.
    for result in [
        SettlementResult::Settled,
        SettlementResult::AlreadySettled,
        SettlementResult::NotYetAccrued,
        SettlementResult::EscrowExhausted,
        SettlementResult::SignerCapReached,
    ] {
        assert!(
            results[usize::from(u8::from(result))] >= 100,
            "{result:?} came up {} times",
            results[usize::from(u8::from(result))]
        );
    }
}
