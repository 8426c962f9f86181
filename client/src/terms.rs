//! The money rules of a lease read off its stored terms: `openlease_contracts::lease_math` (the
//! market's `LeaseMath`, held to it by a differential test) applied to a `Lease`, and what follows
//! from them for a tenant (what a deposit can ever buy, what notice frees).

use alloy::primitives::U256;
use openlease_contracts::{IOpenleaseTypes::Lease, SettlementResult, lease_math};

/// The figures of `lease` that `lease_math` takes, as its 256-bit integers.
struct Figures {
    started_at: U256,
    ends_at: U256,
    deposit: U256,
    settled: U256,
    price: U256,
}

impl From<&Lease> for Figures {
    fn from(l: &Lease) -> Self {
        Self {
            started_at: U256::from(l.startedAt),
            ends_at: U256::from(l.endsAt),
            deposit: U256::from(l.deposit),
            settled: U256::from(l.settled),
            price: U256::from(l.pricePerSecond),
        }
    }
}

/// When `lease` stops running: at its end, or earlier when its escrow's runway runs out
/// (`LeaseMath.runEnd`).
pub fn run_end(lease: &Lease) -> u64 {
    let f = Figures::from(lease);
    lease_math::run_end(f.started_at, f.ends_at, f.deposit, f.price).saturating_to()
}

/// What the terms let accrue by `at`: the price of every second the lease ran, up to its end
/// (`LeaseMath.accrued`).
pub fn accrued(lease: &Lease, at: u64) -> U256 {
    let f = Figures::from(lease);
    lease_math::accrued(f.started_at, f.ends_at, f.price, U256::from(at))
}

/// Until when `amount` pays for `lease`'s service: the last time by which no more than it accrued
/// (the inverse of [`accrued`]), at most when the lease stops running.
pub fn covered_until(lease: &Lease, amount: U256) -> u64 {
    let price = U256::from(lease.pricePerSecond.max(1));
    let secs: u64 = (amount / price).try_into().unwrap_or(u64::MAX);
    u64::from(lease.startedAt).saturating_add(secs).min(run_end(lease))
}

/// What settling a receipt for `cumulative`, for service until `period_end`, at `at` would pay out
/// of `lease`'s escrow when its signer has `cap_left` to attest, or why it pays nothing: the
/// market's `LeaseMath.payable_` over what accrued until the period's end (or `at`, if sooner).
/// (Whether the signature, the signer and the settlement window hold is the verifier's and the
/// market's to say.)
pub fn payable(lease: &Lease, cumulative: U256, period_end: u64, at: u64, cap_left: U256) -> (SettlementResult, U256) {
    let f = Figures::from(lease);
    lease_math::payable(f.settled, f.deposit, accrued(lease, at.min(period_end)), cumulative, cap_left)
}

/// The most a lease of `duration` seconds at `price_per_second` can ever consume: a deposit above
/// it buys nothing and waits in escrow until the lease is finalized.
pub fn full_term_cost(price_per_second: u64, duration: u64) -> U256 {
    lease_math::accrued(U256::ZERO, U256::from(duration), U256::from(price_per_second), U256::from(duration))
}

/// What `lease` can still use of a top-up: the cost of its whole term (to its current end) less
/// its deposit. Zero when the deposit already pays for every second until the end.
pub fn useful_top_up(lease: &Lease) -> U256 {
    let term = u64::from(lease.endsAt).saturating_sub(u64::from(lease.startedAt));
    full_term_cost(lease.pricePerSecond, term).saturating_sub(U256::from(lease.deposit))
}

/// What `lease`'s tenant owes and has not settled for service older than the market's payment
/// grace, at `at`: `(due, owed)`, the market's `LeaseMath.arrears` over the time the lease runs.
/// A provider may demand payment while `owed` is above zero.
pub fn arrears(lease: &Lease, at: u64) -> (U256, U256) {
    let f = Figures::from(lease);
    let grace = U256::from(openlease_contracts::constants::PAYMENT_GRACE);
    lease_math::arrears(f.started_at, U256::from(run_end(lease)), f.price, f.settled, grace, U256::from(at))
}

/// When `lease` ends if notice is given at `at`: its notice period on, not before its minimum
/// end, never later than its end (the market's `closeLease`).
pub fn end_after_notice(lease: &Lease, at: u64) -> u64 {
    at.saturating_add(u64::from(lease.noticePeriod)).max(u64::from(lease.minEndsAt)).min(u64::from(lease.endsAt))
}

/// What no receipt of `lease` can ever claim once it ends at `ends_at`: its deposit beyond
/// `LeaseMath.claimableCeiling`. `failoverLease` moves this into the new lease.
pub fn unclaimable(lease: &Lease, ends_at: u64) -> U256 {
    let f = Figures::from(lease);
    f.deposit - lease_math::claimable_ceiling(f.started_at, U256::from(ends_at), f.price, f.deposit)
}

/// Why a settlement paid nothing, in the marketplace's words (`Settled` reads "settled").
pub fn settlement_reason(result: SettlementResult) -> &'static str {
    use SettlementResult::*;
    match result {
        Settled => "settled",
        UnknownLease => "no such lease",
        SettlementWindowClosed => "the lease's settlement window has closed",
        SignerNotAuthorized => "the signer is not authorized by the tenant",
        SignerExpired => "the signer's authorization expired",
        SignerRevoked => "the tenant revoked the signer",
        InvalidSignature => "the signature is not the signer's",
        AlreadySettled => "already settled",
        NotYetAccrued => "nothing more has accrued under the lease's terms yet",
        EscrowExhausted => "the escrow is used up",
        SignerCapReached => "the signer's cap is used up",
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, Uint};

    use super::*;

    fn lease(deposit: u64, settled: u64) -> Lease {
        Lease {
            tenant: Address::ZERO,
            offerId: 1,
            startedAt: 1_000,
            endsAt: 1_000 + 86_400,
            deposit: Uint::from(deposit),
            settled: Uint::from(settled),
            pricePerSecond: 100,
            paramsVersion: 1,
            bond: Uint::from(0),
            noticePeriod: 3_600,
            minEndsAt: 1_060,
            status: 1,
        }
    }

    #[test]
    fn an_amount_covers_service_until_what_it_pays_for_accrued() {
        let l = lease(5_000_000, 0);
        for amount in [0u64, 99, 100, 12_345, 4_999_999] {
            let until = covered_until(&l, U256::from(amount));
            assert!(accrued(&l, until) <= U256::from(amount), "{amount}");
            assert!(accrued(&l, until + 1) > U256::from(amount), "{amount}: the last such second");
        }
        // Never past the runway (50,000 s of escrow) or the end.
        assert_eq!(covered_until(&l, U256::MAX), run_end(&l));
        assert_eq!(run_end(&l), 1_000 + 50_000);
    }

    #[test]
    fn receipts_pay_the_least_of_claim_accrual_escrow_and_cap() {
        let l = lease(5_000_000, 100_000);
        assert_eq!(
            payable(&l, U256::from(90_000), 2_000, 2_000, U256::MAX),
            (SettlementResult::AlreadySettled, U256::ZERO)
        );
        // 1,000 s ran: 100,000 accrued, all settled.
        assert_eq!(payable(&l, U256::from(150_000), 2_000, 2_000, U256::MAX).0, SettlementResult::NotYetAccrued);
        // 2,000 s ran: 200,000 accrued; the claim, the accrual and the cap each bind in turn.
        assert_eq!(
            payable(&l, U256::from(150_000), 3_000, 3_000, U256::MAX),
            (SettlementResult::Settled, U256::from(50_000))
        );
        assert_eq!(
            payable(&l, U256::from(900_000), 3_000, 3_000, U256::MAX),
            (SettlementResult::Settled, U256::from(100_000))
        );
        assert_eq!(
            payable(&l, U256::from(900_000), 3_000, 3_000, U256::from(7)),
            (SettlementResult::Settled, U256::from(7))
        );
        assert_eq!(payable(&l, U256::from(900_000), 3_000, 3_000, U256::ZERO).0, SettlementResult::SignerCapReached);
        // The escrow caps what accrued past it.
        let small = lease(150_000, 100_000);
        assert_eq!(
            payable(&small, U256::from(900_000), 9_000, 9_000, U256::MAX),
            (SettlementResult::Settled, U256::from(50_000))
        );
        assert_eq!(
            payable(&lease(100_000, 100_000), U256::from(1), 9_000, 9_000, U256::MAX).0,
            SettlementResult::AlreadySettled
        );
        assert_eq!(
            payable(&lease(100_000, 100_000), U256::from(200_000), 9_000, 9_000, U256::MAX).0,
            SettlementResult::EscrowExhausted
        );
        // A receipt pays for service until its period's end, never later: settled at 3,000 for a
        // period that ended at 1,500, only 50,000 had accrued (50,000 settled: nothing to pay).
        assert_eq!(payable(&l, U256::from(900_000), 1_500, 3_000, U256::MAX).0, SettlementResult::NotYetAccrued);
        assert_eq!(
            payable(&l, U256::from(900_000), 2_500, 3_000, U256::MAX),
            (SettlementResult::Settled, U256::from(50_000))
        );
    }

    #[test]
    fn arrears_count_only_service_older_than_the_grace() {
        let grace = openlease_contracts::constants::PAYMENT_GRACE;
        // 100 per second from 1,000; 100,000 settled (1,000 s).
        let l = lease(50_000_000, 100_000);
        assert_eq!(arrears(&l, 1_000 + grace + 1_000), (U256::from(100_000), U256::ZERO), "paid up to the grace");
        assert_eq!(arrears(&l, 1_000 + grace + 1_500), (U256::from(150_000), U256::from(50_000)));
        assert_eq!(arrears(&l, 10), (U256::ZERO, U256::ZERO));
    }

    #[test]
    fn a_lease_runs_until_its_end_or_its_runway() {
        assert_eq!(run_end(&lease(5_000_000, 0)), 1_000 + 50_000, "the escrow runs out first");
        assert_eq!(run_end(&lease(50_000_000, 0)), 1_000 + 86_400);
        assert_eq!(accrued(&lease(0, 0), 1_000 + 100_000), U256::from(8_640_000), "nothing accrues past the end");
        // A day at 100 per second: 8.64 USDC.
        assert_eq!(full_term_cost(100, 86_400), U256::from(8_640_000));
        assert_eq!(useful_top_up(&lease(5_000_000, 0)), U256::from(3_640_000));
        assert_eq!(useful_top_up(&lease(9_000_000, 0)), U256::ZERO);
    }

    #[test]
    fn notice_ends_a_lease_early_and_frees_what_no_receipt_can_claim() {
        let l = lease(5_000_000, 0);
        assert_eq!(
            end_after_notice(&Lease { minEndsAt: 10_000, ..l.clone() }, 1_010),
            10_000,
            "not before the minimum end"
        );
        assert_eq!(end_after_notice(&l, 2_000), 5_600, "the notice period on");
        assert_eq!(end_after_notice(&l, 90_000), 1_000 + 86_400, "never after the end");
        // Ending at 5,600 the terms let 460,000 accrue: the rest of the 5 USDC is free to move.
        assert_eq!(unclaimable(&l, 5_600), U256::from(4_540_000));
        assert_eq!(unclaimable(&l, 1_000 + 86_400), U256::ZERO, "the escrow runs out before the end");
    }
}
