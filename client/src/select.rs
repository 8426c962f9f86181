//! Which provider a tenant leases from: the offer with the lowest expected cost per useful hour,
//! not the lowest price. A cheap provider that fails half its leases costs more than a dearer one
//! that delivers, once the lost hours and the failover are paid for.
//!
//! Everything here is pure: the candidates come from the indexer's API (offers, stakes,
//! reputation), the randomness from the caller (`draw`), so a selection can be replayed and
//! table-tested. [`rank`] orders every qualifying offer; [`choose`] picks the providers to lease
//! from on top of it. When a lease fails, the session fails over to the first ranked offer of a
//! provider it does not use yet.

use std::cmp::Ordering;

use alloy::primitives::{Address, U256};

/// One offer as the indexer reports it, with what its provider has shown so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub provider: Address,
    pub offer_id: U256,
    pub region: String,
    pub token: Address,
    /// Raw token units per second.
    pub price_per_second: u64,
    /// The provider's stake in `token` not locked by open leases.
    pub free_stake: U256,
    /// What a lease of this offer locks of the provider's free stake: without it, opening fails.
    pub bond: U256,
    /// Leases the offer can still take (capacity minus open leases); zero for a paused offer.
    pub capacity_left: u64,
    /// Share of its past leases the provider delivered, in `[0, 1]`; `None` for a newcomer.
    pub delivered: Option<f64>,
    /// How many leases `delivered` is measured on: the more, the less the prior counts.
    pub history: u64,
    /// Answers proven wrong against the provider: slashed through a verifier, or contested by a
    /// tenant's check. Each counts as a lease it delivered none of.
    pub wrong_answers: u64,
}

impl Candidate {
    /// A provider without a track record: judged by the prior alone.
    pub fn is_newcomer(&self) -> bool {
        self.delivered.is_none() || self.history == 0
    }
}

/// What the tenant asks for, and how it weighs risk.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    /// The stablecoin the tenant pays in; offers in any other are out.
    pub token: Address,
    /// Offers elsewhere are out; `None` takes any region.
    pub region: Option<String>,
    /// Raw token units per second.
    pub max_price_per_second: Option<u64>,
    /// Distinct providers to spread the work over, so that one failing provider never takes all
    /// of it down. Zero counts as one.
    pub spread: usize,
    /// Share of selections, in `[0, 1]`, whose first choice goes to a newcomer: without it no
    /// newcomer would ever earn the history that lets it compete.
    pub exploration: f64,
    /// What one failover costs, in raw token units: the work lost and the time to move it.
    pub failover_cost: f64,
    /// Delivered ratio assumed of a provider without history.
    pub prior: f64,
    /// How many leases the prior is worth against a provider's history: a provider with a short
    /// record is judged mostly by the prior, one with a long record by its record.
    pub prior_weight: f64,
}

impl Preferences {
    /// One provider, any region and price, newcomers tried one selection in ten and assumed to
    /// deliver 90% until ten leases of their own outweigh that, failovers counted at nothing
    /// (only the hours they waste are priced).
    pub fn new(token: Address) -> Self {
        Self {
            token,
            region: None,
            max_price_per_second: None,
            spread: 1,
            exploration: 0.1,
            failover_cost: 0.0,
            prior: 0.9,
            prior_weight: 10.0,
        }
    }

    /// Whether `draw`, a uniformly random `u64`, falls in the exploration share: it does when
    /// `draw / 2^64 < exploration`.
    pub fn explores(&self, draw: u64) -> bool {
        let share = if self.exploration.is_nan() { 0.0 } else { self.exploration.clamp(0.0, 1.0) };
        // Compared as integers: `u64::MAX as f64` rounds to 2^64, which would never explore at 1.
        u128::from(draw) < (share * 18_446_744_073_709_551_616.0) as u128
    }
}

/// Why an offer cannot be leased as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// Priced in another token than the tenant pays in.
    OtherToken,
    /// In another region than asked.
    OtherRegion,
    /// Dearer than the tenant's maximum.
    OverMaxPrice,
    /// No lease left to open on it.
    AtCapacity,
    /// The provider's free stake cannot cover the bond, so opening the lease would revert.
    StakeShort,
    /// The delivered ratio is NaN or outside `[0, 1]`: the record cannot be trusted to rank.
    BadRecord,
}

/// Whether `c` can be leased as `prefs` asks, or the first reason it cannot.
pub fn qualifies(c: &Candidate, prefs: &Preferences) -> Result<(), Unfit> {
    if c.token != prefs.token {
        return Err(Unfit::OtherToken);
    }
    if prefs.region.as_ref().is_some_and(|r| *r != c.region) {
        return Err(Unfit::OtherRegion);
    }
    if prefs.max_price_per_second.is_some_and(|max| c.price_per_second > max) {
        return Err(Unfit::OverMaxPrice);
    }
    if c.capacity_left == 0 {
        return Err(Unfit::AtCapacity);
    }
    if c.free_stake < c.bond {
        return Err(Unfit::StakeShort);
    }
    if c.delivered.is_some_and(|d| !(0.0..=1.0).contains(&d)) {
        return Err(Unfit::BadRecord);
    }
    Ok(())
}

/// The chance that `c` delivers a lease: its delivered ratio blended with the prior, each
/// weighted by the leases it is worth, `(delivered·history + prior·prior_weight) / (history +
/// prior_weight)`. A newcomer gets the prior; a long record outweighs it.
pub fn reliability(c: &Candidate, prefs: &Preferences) -> f64 {
    let prior = prefs.prior;
    let (weight, wrong) = (prefs.prior_weight.max(0.0), c.wrong_answers as f64);
    match c.delivered {
        Some(delivered) if c.history > 0 => {
            let history = c.history as f64;
            (delivered * history + prior * weight) / (history + weight + wrong)
        }
        _ if wrong > 0.0 => prior * weight / (weight + wrong),
        _ => prior,
    }
}

/// What an hour of work that is actually delivered costs on `c`, in raw token units:
///
/// `price_per_hour / p + (1 − p) · failover_cost`, with `p` = [`reliability`].
///
/// Only a share `p` of the hours paid is useful, so a useful hour costs `1 / p` paid ones; and
/// with chance `1 − p` the lease fails and the tenant pays a failover on top. A provider that
/// never delivers (`p = 0`) costs infinitely much and ranks last.
pub fn expected_cost_per_useful_hour(c: &Candidate, prefs: &Preferences) -> f64 {
    let p = reliability(c, prefs).clamp(0.0, 1.0);
    let price_per_hour = c.price_per_second as f64 * 3_600.0;
    let failover = (1.0 - p) * prefs.failover_cost;
    if p == 0.0 { f64::INFINITY } else { price_per_hour / p + failover }
}

/// A qualifying offer with what [`rank`] judged of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked<'a> {
    pub candidate: &'a Candidate,
    /// [`reliability`].
    pub reliability: f64,
    /// [`expected_cost_per_useful_hour`].
    pub cost: f64,
}

/// Every offer of `candidates` that [`qualifies`], cheapest expected cost per useful hour first.
/// Ties go to the lower provider address, then the lower offer id, so the order never depends
/// on the order the indexer listed them in. A provider may appear with several offers.
pub fn rank<'a>(candidates: &'a [Candidate], prefs: &Preferences) -> Vec<Ranked<'a>> {
    let mut ranked: Vec<Ranked<'a>> = candidates
        .iter()
        .filter(|c| qualifies(c, prefs).is_ok())
        .map(|c| Ranked {
            candidate: c,
            reliability: reliability(c, prefs),
            cost: expected_cost_per_useful_hour(c, prefs),
        })
        .collect();
    ranked.sort_by(by_cost);
    ranked
}

fn by_cost(a: &Ranked<'_>, b: &Ranked<'_>) -> Ordering {
    a.cost
        .total_cmp(&b.cost)
        .then_with(|| a.candidate.provider.cmp(&b.candidate.provider))
        .then_with(|| a.candidate.offer_id.cmp(&b.candidate.offer_id))
}

/// Why an offer was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The lowest expected cost per useful hour.
    Cheapest,
    /// A newcomer tried because the draw fell in the exploration share, ahead of cheaper known
    /// providers, so that it can earn a history.
    Exploring,
    /// The next cheapest provider not chosen yet, because the tenant asked for spread.
    Spread,
}

/// One provider to lease from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<'a> {
    pub candidate: &'a Candidate,
    pub reliability: f64,
    pub cost: f64,
    pub why: Why,
}

impl<'a> Choice<'a> {
    fn new(r: &Ranked<'a>, why: Why) -> Self {
        Self { candidate: r.candidate, reliability: r.reliability, cost: r.cost, why }
    }
}

/// The providers to lease from: up to `prefs.spread` of them, each a different provider on its
/// cheapest offer, in [`rank`]'s order. When `draw` (a uniformly random `u64` the caller draws,
/// see [`Preferences::explores`]) falls in the exploration share and a newcomer qualifies, the
/// cheapest newcomer comes first instead of the cheapest provider. Fewer than `spread` choices
/// means fewer distinct providers qualify; none, that nothing does.
pub fn choose<'a>(candidates: &'a [Candidate], prefs: &Preferences, draw: u64) -> Vec<Choice<'a>> {
    let ranked = rank(candidates, prefs);
    let wanted = prefs.spread.max(1);
    let mut chosen: Vec<Choice<'a>> = Vec::with_capacity(wanted.min(ranked.len()));
    if prefs.explores(draw)
        && let Some(newcomer) = ranked.iter().find(|r| r.candidate.is_newcomer())
    {
        // A newcomer that ranks first anyway was chosen on its cost, not by the draw.
        let cheapest = std::ptr::eq(newcomer.candidate, ranked[0].candidate);
        chosen.push(Choice::new(newcomer, if cheapest { Why::Cheapest } else { Why::Exploring }));
    }
    for r in &ranked {
        if chosen.len() == wanted {
            break;
        }
        if chosen.iter().any(|c| c.candidate.provider == r.candidate.provider) {
            continue;
        }
        chosen.push(Choice::new(r, if chosen.is_empty() { Why::Cheapest } else { Why::Spread }));
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    const USDC: Address = Address::repeat_byte(0xAA);
    const DAI: Address = Address::repeat_byte(0xDD);

    fn provider(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    /// A known, reliable offer of `provider(p)` in eu-west, priced in USDC, with stake to spare.
    fn offer(p: u8, id: u64, price_per_second: u64) -> Candidate {
        Candidate {
            provider: provider(p),
            offer_id: U256::from(id),
            region: "eu-west".into(),
            token: USDC,
            price_per_second,
            free_stake: U256::from(1_000),
            bond: U256::from(100),
            capacity_left: 4,
            delivered: Some(0.99),
            history: 100,
            wrong_answers: 0,
        }
    }

    fn record(mut c: Candidate, delivered: Option<f64>, history: u64) -> Candidate {
        c.delivered = delivered;
        c.history = history;
        c
    }

    fn newcomer(p: u8, id: u64, price_per_second: u64) -> Candidate {
        record(offer(p, id, price_per_second), None, 0)
    }

    fn prefs() -> Preferences {
        Preferences { exploration: 0.0, ..Preferences::new(USDC) }
    }

    /// The middle of the i-th of n equal slices of the draws: clear of the share's boundary.
    fn draw(i: u64, n: u64) -> u64 {
        ((2 * u128::from(i) + 1) * (1u128 << 64) / (2 * u128::from(n))) as u64
    }

    type Picked = (u8, u64, Why);

    fn picked(choices: &[Choice<'_>]) -> Vec<Picked> {
        choices.iter().map(|c| (c.candidate.provider.0[0], c.candidate.offer_id.to::<u64>(), c.why)).collect()
    }

    #[test]
    fn qualification() {
        let base = offer(1, 1, 10);
        let rows: Vec<(&str, Candidate, Preferences, Result<(), Unfit>)> = vec![
            ("a reliable offer as asked", base.clone(), prefs(), Ok(())),
            ("priced in another token", Candidate { token: DAI, ..base.clone() }, prefs(), Err(Unfit::OtherToken)),
            (
                "in another region than asked",
                base.clone(),
                Preferences { region: Some("us-east".into()), ..prefs() },
                Err(Unfit::OtherRegion),
            ),
            ("in the region asked", base.clone(), Preferences { region: Some("eu-west".into()), ..prefs() }, Ok(())),
            (
                "over the maximum price",
                base.clone(),
                Preferences { max_price_per_second: Some(9), ..prefs() },
                Err(Unfit::OverMaxPrice),
            ),
            ("at the maximum price", base.clone(), Preferences { max_price_per_second: Some(10), ..prefs() }, Ok(())),
            ("at capacity", Candidate { capacity_left: 0, ..base.clone() }, prefs(), Err(Unfit::AtCapacity)),
            ("one lease left", Candidate { capacity_left: 1, ..base.clone() }, prefs(), Ok(())),
            (
                "no free stake behind the bond",
                Candidate { free_stake: U256::ZERO, ..base.clone() },
                prefs(),
                Err(Unfit::StakeShort),
            ),
            (
                "free stake one unit short of the bond",
                Candidate { free_stake: U256::from(99), ..base.clone() },
                prefs(),
                Err(Unfit::StakeShort),
            ),
            ("free stake exactly the bond", Candidate { free_stake: U256::from(100), ..base.clone() }, prefs(), Ok(())),
            ("delivered is NaN", record(base.clone(), Some(f64::NAN), 10), prefs(), Err(Unfit::BadRecord)),
            ("delivered above one", record(base.clone(), Some(1.01), 10), prefs(), Err(Unfit::BadRecord)),
            ("delivered below zero", record(base.clone(), Some(-0.1), 10), prefs(), Err(Unfit::BadRecord)),
            ("delivered infinite", record(base.clone(), Some(f64::INFINITY), 10), prefs(), Err(Unfit::BadRecord)),
            ("delivered nothing", record(base.clone(), Some(0.0), 10), prefs(), Ok(())),
            ("delivered everything", record(base.clone(), Some(1.0), 10), prefs(), Ok(())),
            ("a newcomer", record(base.clone(), None, 0), prefs(), Ok(())),
            (
                "the token is checked before the rest",
                Candidate { token: DAI, capacity_left: 0, free_stake: U256::ZERO, ..base.clone() },
                prefs(),
                Err(Unfit::OtherToken),
            ),
        ];
        for (why, c, p, expected) in rows {
            assert_eq!(qualifies(&c, &p), expected, "{why}");
            assert_eq!(rank(std::slice::from_ref(&c), &p).len(), usize::from(expected.is_ok()), "{why}: rank");
        }
    }

    #[test]
    fn reliability_and_cost() {
        let hour = 3_600.0;
        let with_failover = Preferences { failover_cost: 36_000.0, ..prefs() };
        let rows: Vec<(&str, Candidate, Preferences, f64, f64)> = vec![
            ("a newcomer gets the prior", newcomer(1, 1, 10), prefs(), 0.9, 10.0 * hour / 0.9),
            (
                "delivered with no leases behind it counts as a newcomer",
                record(offer(1, 1, 10), Some(0.2), 0),
                prefs(),
                0.9,
                10.0 * hour / 0.9,
            ),
            (
                "a short record leans on the prior",
                record(offer(1, 1, 10), Some(0.5), 10),
                prefs(),
                0.7,
                10.0 * hour / 0.7,
            ),
            (
                "a long record outweighs the prior",
                record(offer(1, 1, 10), Some(1.0), 990),
                prefs(),
                0.999,
                10.0 * hour / 0.999,
            ),
            (
                "no prior weight: the record alone",
                record(offer(1, 1, 10), Some(0.5), 3),
                Preferences { prior_weight: 0.0, ..prefs() },
                0.5,
                10.0 * hour / 0.5,
            ),
            (
                "a failover is paid with the chance of failing",
                record(offer(1, 1, 10), Some(0.5), 10),
                with_failover.clone(),
                0.7,
                10.0 * hour / 0.7 + 0.3 * 36_000.0,
            ),
            ("a perfect record never pays a failover", record(offer(1, 1, 10), Some(1.0), 10), with_failover, 0.95, {
                10.0 * hour / 0.95 + 0.05 * 36_000.0
            }),
            (
                "never delivering costs infinitely much",
                record(offer(1, 1, 10), Some(0.0), 10),
                Preferences { prior_weight: 0.0, ..prefs() },
                0.0,
                f64::INFINITY,
            ),
            ("a free offer costs only its failovers", record(offer(1, 1, 0), Some(0.5), 10), prefs(), 0.7, 0.0),
        ];
        for (why, c, p, reliable, cost) in rows {
            assert!((reliability(&c, &p) - reliable).abs() < 1e-12, "{why}: reliability {}", reliability(&c, &p));
            let got = expected_cost_per_useful_hour(&c, &p);
            assert!(got == cost || (got - cost).abs() < 1e-6 * cost, "{why}: cost {got}, expected {cost}");
        }
    }

    #[test]
    fn choices() {
        let spread = |n| Preferences { spread: n, ..prefs() };
        let rows: Vec<(&str, Vec<Candidate>, Preferences, Vec<Picked>)> = vec![
            ("no candidates", vec![], prefs(), vec![]),
            (
                "none qualifying",
                vec![Candidate { capacity_left: 0, ..offer(1, 1, 10) }, Candidate { token: DAI, ..offer(2, 2, 10) }],
                spread(3),
                vec![],
            ),
            (
                "the cheaper of two equally reliable providers",
                vec![offer(1, 1, 12), offer(2, 2, 10)],
                prefs(),
                vec![(2, 2, Why::Cheapest)],
            ),
            (
                "a dearer reliable provider beats a cheaper unreliable one",
                vec![record(offer(1, 1, 8), Some(0.5), 100), offer(2, 2, 10)],
                prefs(),
                vec![(2, 2, Why::Cheapest)],
            ),
            (
                "a much cheaper provider beats a slightly more reliable one",
                vec![record(offer(1, 1, 5), Some(0.9), 100), offer(2, 2, 10)],
                prefs(),
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "the failover cost tips the balance to the reliable provider",
                vec![record(offer(1, 1, 9), Some(0.9), 100), offer(2, 2, 10)],
                Preferences { failover_cost: 10_000.0, ..prefs() },
                vec![(2, 2, Why::Cheapest)],
            ),
            (
                "without failover cost the same pair goes to the cheaper",
                vec![record(offer(1, 1, 9), Some(0.9), 100), offer(2, 2, 10)],
                prefs(),
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "a provider without free stake behind the bond is out, however cheap",
                vec![Candidate { free_stake: U256::from(50), ..offer(1, 1, 1) }, offer(2, 2, 10)],
                prefs(),
                vec![(2, 2, Why::Cheapest)],
            ),
            (
                "an offer at capacity is out; the provider's other offer stays in",
                vec![Candidate { capacity_left: 0, ..offer(1, 1, 1) }, offer(1, 2, 11), offer(2, 3, 10)],
                spread(2),
                vec![(2, 3, Why::Cheapest), (1, 2, Why::Spread)],
            ),
            (
                "wrong token, wrong region, over the maximum price are out",
                vec![
                    Candidate { token: DAI, ..offer(1, 1, 1) },
                    Candidate { region: "us-east".into(), ..offer(2, 2, 1) },
                    offer(3, 3, 50),
                    offer(4, 4, 20),
                ],
                Preferences { region: Some("eu-west".into()), max_price_per_second: Some(20), spread: 4, ..prefs() },
                vec![(4, 4, Why::Cheapest)],
            ),
            (
                "a newcomer ranks between the reliable and the unreliable",
                vec![record(offer(1, 1, 10), Some(0.5), 100), newcomer(2, 2, 10), offer(3, 3, 10)],
                spread(3),
                vec![(3, 3, Why::Cheapest), (2, 2, Why::Spread), (1, 1, Why::Spread)],
            ),
            (
                "spread gives distinct providers even when one holds the two cheapest offers",
                vec![offer(1, 1, 10), offer(1, 2, 11), offer(2, 3, 12)],
                spread(2),
                vec![(1, 1, Why::Cheapest), (2, 3, Why::Spread)],
            ),
            (
                "spread beyond the providers there are gives each once",
                vec![offer(1, 1, 10), offer(1, 2, 11), offer(2, 3, 12)],
                spread(5),
                vec![(1, 1, Why::Cheapest), (2, 3, Why::Spread)],
            ),
            (
                "spread with a single provider gives it once",
                vec![offer(1, 1, 10), offer(1, 2, 10)],
                spread(2),
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "spread zero counts as one",
                vec![offer(1, 1, 10), offer(2, 2, 10)],
                spread(0),
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "a tie goes to the lower provider address",
                vec![offer(9, 1, 10), offer(3, 2, 10), offer(5, 3, 10)],
                spread(3),
                vec![(3, 2, Why::Cheapest), (5, 3, Why::Spread), (9, 1, Why::Spread)],
            ),
            (
                "a tie within one provider goes to the lower offer id",
                vec![offer(1, 7, 10), offer(1, 3, 10), offer(1, 5, 10)],
                prefs(),
                vec![(1, 3, Why::Cheapest)],
            ),
            (
                "a record with NaN is out, not ranked",
                vec![record(offer(1, 1, 1), Some(f64::NAN), 100), offer(2, 2, 10)],
                spread(2),
                vec![(2, 2, Why::Cheapest)],
            ),
        ];
        for (why, candidates, p, expected) in rows {
            assert_eq!(picked(&choose(&candidates, &p, u64::MAX)), expected, "{why}");
            let reversed: Vec<Candidate> = candidates.iter().rev().cloned().collect();
            assert_eq!(picked(&choose(&reversed, &p, u64::MAX)), expected, "{why}: the listing's order matters");
        }
    }

    #[test]
    fn exploration() {
        let explore = |share, n| Preferences { exploration: share, spread: n, ..prefs() };
        let known = vec![offer(1, 1, 10), offer(2, 2, 11)];
        let with_newcomers = vec![offer(1, 1, 10), offer(2, 2, 11), newcomer(3, 3, 12), newcomer(4, 4, 11)];
        type Row = (&'static str, Vec<Candidate>, Preferences, u64, Vec<Picked>);
        let rows: Vec<Row> = vec![
            (
                "a draw in the share tries the best newcomer",
                with_newcomers.clone(),
                explore(0.1, 1),
                0,
                vec![(4, 4, Why::Exploring)],
            ),
            (
                "a draw past the share takes the cheapest",
                with_newcomers.clone(),
                explore(0.1, 1),
                draw(100, 1000),
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "exploring with spread: the newcomer, then the cheapest",
                with_newcomers.clone(),
                explore(0.1, 3),
                0,
                vec![(4, 4, Why::Exploring), (1, 1, Why::Spread), (2, 2, Why::Spread)],
            ),
            (
                "not exploring with spread: newcomers only by cost",
                with_newcomers.clone(),
                explore(0.1, 3),
                u64::MAX,
                vec![(1, 1, Why::Cheapest), (2, 2, Why::Spread), (4, 4, Why::Spread)],
            ),
            ("no newcomer to try: the cheapest", known, explore(0.1, 1), 0, vec![(1, 1, Why::Cheapest)]),
            (
                "a newcomer that is cheapest anyway is chosen on cost",
                vec![offer(1, 1, 10), newcomer(2, 2, 5)],
                explore(0.1, 1),
                0,
                vec![(2, 2, Why::Cheapest)],
            ),
            (
                "a newcomer that does not qualify is not tried",
                vec![offer(1, 1, 10), Candidate { capacity_left: 0, ..newcomer(2, 2, 5) }],
                explore(1.0, 1),
                0,
                vec![(1, 1, Why::Cheapest)],
            ),
            (
                "a share of one always explores",
                with_newcomers.clone(),
                explore(1.0, 1),
                u64::MAX,
                vec![(4, 4, Why::Exploring)],
            ),
            ("a share of zero never explores", with_newcomers.clone(), explore(0.0, 1), 0, vec![(1, 1, Why::Cheapest)]),
            (
                "a NaN share never explores",
                with_newcomers.clone(),
                explore(f64::NAN, 1),
                0,
                vec![(1, 1, Why::Cheapest)],
            ),
        ];
        for (why, candidates, p, d, expected) in rows {
            assert_eq!(picked(&choose(&candidates, &p, d)), expected, "{why}");
        }
    }

    #[test]
    fn exploration_takes_its_share_of_draws() {
        let candidates = [offer(1, 1, 10), newcomer(2, 2, 11)];
        for (share, n, explored) in [(0.1, 1000, 100), (0.05, 1000, 50), (0.0, 1000, 0), (1.0, 1000, 1000)] {
            let p = Preferences { exploration: share, ..prefs() };
            let tried = (0..n).filter(|&i| choose(&candidates, &p, draw(i, n))[0].why == Why::Exploring).count() as u64;
            assert_eq!(tried, explored, "share {share}");
            // The first draws explore, the rest do not: the share is a prefix of the draws.
            let first = (0..n).position(|i| !p.explores(draw(i, n))).unwrap_or(n as usize) as u64;
            assert_eq!(first, explored, "share {share}: explored draws are the lowest");
        }
    }

    /// Issue 21: a provider caught answering wrongly ranks below the same offer without the record,
    /// a newcomer included; each wrong answer weighs as a lease delivered to no one.
    #[test]
    fn wrong_answers_count_against_a_provider() {
        let clean = record(offer(1, 1, 10), Some(0.99), 100);
        let caught = Candidate { wrong_answers: 1, ..clean.clone() };
        assert!(reliability(&caught, &prefs()) < reliability(&clean, &prefs()));
        let newcomer_caught = Candidate { wrong_answers: 1, ..newcomer(2, 2, 10) };
        assert!(reliability(&newcomer_caught, &prefs()) < reliability(&newcomer(2, 2, 10), &prefs()));
        let candidates = [Candidate { provider: provider(2), offer_id: U256::from(2), ..caught }, clean];
        let ranked = rank(&candidates, &prefs());
        assert_eq!(ranked[0].candidate.provider, provider(1), "the clean provider first at the same price");
    }

    #[test]
    fn rank_keeps_every_offer_for_failover() {
        let candidates = [
            offer(1, 1, 10),
            offer(1, 2, 11),
            record(offer(2, 3, 9), Some(0.5), 100),
            Candidate { bond: U256::MAX, ..offer(3, 4, 1) },
        ];
        let ranked = rank(&candidates, &prefs());
        let order: Vec<u64> = ranked.iter().map(|r| r.candidate.offer_id.to::<u64>()).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!(ranked.windows(2).all(|w| w[0].cost <= w[1].cost));
        // Failing over from provider 1: the first ranked offer of another provider.
        let next = ranked.iter().find(|r| r.candidate.provider != provider(1)).unwrap();
        assert_eq!(next.candidate.offer_id, U256::from(3));
    }
}
