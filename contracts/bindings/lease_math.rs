//! The market's `LeaseMath` library in Rust: the money rules of a lease (what it lets accrue, when
//! it stops running, what a receipt may pay, the fee, the bond, what no receipt can ever claim,
//! arrears), function for function and argument for argument, over the same 256-bit integers.
//! The SDK, the CLI, the gateway and the indexer ask here and nowhere else; the differential test
//! (`tests/it/lease_math.rs`) holds it to the contract on random and edge inputs.
//!
//! Inputs outside the contract's domain (a zero price, an end before the start), where the
//! Solidity reverts, get an answer here instead: the runway of a free lease is endless and an end
//! before the start lets nothing accrue.

use alloy::primitives::U256;

use crate::SettlementResult;

/// Basis points in one: fees and bonds are `bps / BPS` of their base.
pub const BPS: u64 = 10_000;

/// `LeaseMath.runEnd`: when a lease stops running, at `ends_at` or earlier when its escrow's
/// runway runs out.
pub fn run_end(started_at: U256, ends_at: U256, deposit: U256, price_per_second: U256) -> U256 {
    match deposit.checked_div(price_per_second) {
        Some(runway) => started_at.saturating_add(runway).min(ends_at),
        None => ends_at,
    }
}

/// `LeaseMath.accrued`: what the terms let accrue by `at`, the price of every second the lease
/// ran up to `ends_at` (the escrow caps payments separately).
pub fn accrued(started_at: U256, ends_at: U256, price_per_second: U256, at: U256) -> U256 {
    at.min(ends_at).saturating_sub(started_at).saturating_mul(price_per_second)
}

/// `LeaseMath.payable_`: what a receipt for `cumulative_amount` pays, the increase over `settled`
/// capped by the escrow, by what has accrued and by the signer's remaining cap; or why it pays
/// nothing, the first failing check in the contract's order naming the result.
pub fn payable(
    settled: U256,
    deposit: U256,
    accrued_now: U256,
    cumulative_amount: U256,
    cap_left: U256,
) -> (SettlementResult, U256) {
    if cumulative_amount <= settled {
        return (SettlementResult::AlreadySettled, U256::ZERO);
    }
    if settled >= deposit {
        return (SettlementResult::EscrowExhausted, U256::ZERO);
    }
    if accrued_now <= settled {
        return (SettlementResult::NotYetAccrued, U256::ZERO);
    }
    if cap_left.is_zero() {
        return (SettlementResult::SignerCapReached, U256::ZERO);
    }
    let ceiling = cumulative_amount.min(accrued_now).min(deposit);
    (SettlementResult::Settled, (ceiling - settled).min(cap_left))
}

/// `LeaseMath.fee`: the protocol's fee on a lease's settled total. A settlement's fee is the growth
/// of this figure, so fees never round in anyone's favour across many small settlements.
pub fn fee(settled: U256, fee_bps: U256) -> U256 {
    settled.saturating_mul(fee_bps) / U256::from(BPS)
}

/// `LeaseMath.bond`: the SLA bond a lease locks, `bond_bps` of the price of its notice period.
pub fn bond(price_per_second: U256, notice_period: U256, bond_bps: U256) -> U256 {
    price_per_second.saturating_mul(notice_period).saturating_mul(bond_bps) / U256::from(BPS)
}

/// `LeaseMath.claimableCeiling`: what a lease must keep in escrow so that every receipt its terms
/// allow can still be paid, what accrues until `ends_at` capped by the deposit. The rest of the
/// deposit is unclaimable (a failover moves it).
pub fn claimable_ceiling(started_at: U256, ends_at: U256, price_per_second: U256, deposit: U256) -> U256 {
    ends_at.saturating_sub(started_at).saturating_mul(price_per_second).min(deposit)
}

/// `LeaseMath.arrears`: what a tenant owes and has not settled for service older than `grace`,
/// `(due, owed)`: the price of the time until `grace` ago, and that less what was settled.
pub fn arrears(
    started_at: U256,
    ends_at: U256,
    price_per_second: U256,
    settled: U256,
    grace: U256,
    at: U256,
) -> (U256, U256) {
    let due = if at > grace { accrued(started_at, ends_at, price_per_second, at - grace) } else { U256::ZERO };
    (due, due.saturating_sub(settled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u64) -> U256 {
        U256::from(v)
    }

    #[test]
    fn a_lease_runs_to_its_end_or_its_escrow_whichever_is_first() {
        // 100 per second from 1,000 until 87,400: 5,000,000 of escrow lasts 50,000 s.
        assert_eq!(run_end(u(1_000), u(87_400), u(5_000_000), u(100)), u(51_000));
        assert_eq!(run_end(u(1_000), u(87_400), u(50_000_000), u(100)), u(87_400));
        assert_eq!(run_end(u(1_000), u(87_400), u(5_000_000), U256::ZERO), u(87_400), "a free lease runs to its end");
        assert_eq!(accrued(u(1_000), u(87_400), u(100), u(1_500)), u(50_000));
        assert_eq!(accrued(u(1_000), u(87_400), u(100), u(999)), U256::ZERO, "nothing before the start");
        assert_eq!(accrued(u(1_000), u(87_400), u(100), U256::MAX), u(8_640_000), "nothing after the end");
    }

    #[test]
    fn a_receipt_pays_the_least_of_claim_accrual_escrow_and_cap() {
        let pay = |settled, deposit, accrued, cumulative, cap| {
            payable(u(settled), u(deposit), u(accrued), u(cumulative), u(cap))
        };
        assert_eq!(pay(100, 500, 300, 100, 50), (SettlementResult::AlreadySettled, U256::ZERO));
        assert_eq!(pay(500, 500, 900, 900, 50), (SettlementResult::EscrowExhausted, U256::ZERO));
        assert_eq!(pay(100, 500, 100, 900, 50), (SettlementResult::NotYetAccrued, U256::ZERO));
        assert_eq!(pay(100, 500, 300, 900, 0), (SettlementResult::SignerCapReached, U256::ZERO));
        assert_eq!(pay(100, 500, 300, 250, 900), (SettlementResult::Settled, u(150)), "the claim binds");
        assert_eq!(pay(100, 500, 300, 900, 900), (SettlementResult::Settled, u(200)), "the accrual binds");
        assert_eq!(pay(100, 250, 300, 900, 900), (SettlementResult::Settled, u(150)), "the escrow binds");
        assert_eq!(pay(100, 500, 300, 900, 7), (SettlementResult::Settled, u(7)), "the cap binds");
    }

    #[test]
    fn fees_and_bonds_round_down_and_arrears_wait_out_the_grace() {
        assert_eq!(fee(u(9_999), u(1)), U256::ZERO);
        assert_eq!(fee(u(1_000_000), u(250)), u(25_000));
        assert_eq!(bond(u(100), u(3_600), u(2_000)), u(72_000));
        assert_eq!(claimable_ceiling(u(1_000), u(4_600), u(100), u(1_000_000)), u(360_000));
        assert_eq!(claimable_ceiling(u(1_000), u(4_600), u(100), u(7)), u(7));
        assert_eq!(arrears(u(1_000), u(87_400), u(100), u(100_000), u(900), u(3_400)), (u(150_000), u(50_000)));
        assert_eq!(arrears(u(1_000), u(87_400), u(100), u(0), u(900), u(10)), (U256::ZERO, U256::ZERO));
    }
}
