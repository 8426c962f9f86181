//! Risk views: how long a lease still runs, how much a provider has served without being paid,
//! and where its stake stands. What a provider checks before serving more.

use alloy::primitives::U256;
use openlease_contracts::IOpenleaseTypes;

use crate::{Error, Result};

/// How long a lease still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runway {
    pub lease_id: U256,
    /// When it stops running: its end or its escrow's runway, whichever comes first.
    pub lease_end: u64,
    /// The chain's time when asked.
    pub now: u64,
}

impl Runway {
    /// Seconds left; zero once it ended.
    pub fn seconds_left(&self) -> u64 {
        self.lease_end.saturating_sub(self.now)
    }
}

/// A lease's unsettled value against its escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub lease_id: U256,
    /// What the escrow still holds: deposit minus settled.
    pub escrow: U256,
    /// The newest accepted receipt's cumulative amount minus what the market settled.
    pub unsettled: U256,
}

impl Exposure {
    /// The exposure of `lease` when the newest accepted receipt is worth `accepted` in total.
    pub fn new(lease_id: U256, lease: &IOpenleaseTypes::Lease, accepted: U256) -> Self {
        let deposit = U256::from(lease.deposit);
        let settled = U256::from(lease.settled);
        Self { lease_id, escrow: deposit - settled, unsettled: accepted.saturating_sub(settled) }
    }

    /// Whether the escrow pays for everything accepted.
    pub fn is_covered(&self) -> bool {
        self.unsettled <= self.escrow
    }

    /// An error unless the escrow covers what is unsettled plus `next` more.
    pub fn ensure_covers(&self, next: U256) -> Result<()> {
        let unsettled = self.unsettled.saturating_add(next);
        if unsettled > self.escrow {
            return Err(Error::ExposureExceedsEscrow { lease_id: self.lease_id, unsettled, escrow: self.escrow });
        }
        Ok(())
    }
}

/// A provider's stake in one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StakeView {
    /// Staked, bonds included.
    pub staked: U256,
    /// Locked in the SLA bonds of open leases.
    pub locked: U256,
    /// Free to back new leases or unstake.
    pub free: U256,
    /// Unstaked and thawing.
    pub thawing: U256,
    /// When the thawing stake can be withdrawn.
    pub thaw_ends_at: u64,
}

impl From<IOpenleaseTypes::Stake> for StakeView {
    fn from(s: IOpenleaseTypes::Stake) -> Self {
        let (staked, locked) = (U256::from(s.staked), U256::from(s.locked));
        Self {
            staked,
            locked,
            free: staked - locked,
            thawing: U256::from(s.thawing),
            thaw_ends_at: u64::from(s.thawEndsAt),
        }
    }
}
