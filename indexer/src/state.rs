//! The mirrored market in memory: what every event does to it. Ingestion applies each decoded
//! event here, in (block, log index) order, and writes the entities it touched to the store in
//! the batch's transaction. A rollback replays the stored event log into a fresh `Market`.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, B256, U256};
use openlease_contracts::{
    IOpenleaseTypes::Params,
    Openlease::{self, OpenleaseEvents},
    SlashReason,
};

pub use openlease_contracts::{DisputeStatus, LeaseStatus};

/// Where an event sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventPosition {
    pub block: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Log index within the block.
    pub log_index: u64,
    /// The transaction that emitted it.
    pub tx_hash: B256,
}

/// A registered provider and what its history says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provider {
    /// Off-chain metadata document.
    pub metadata_uri: String,
    /// Where tenants reach the service.
    pub endpoint: String,
    pub region: String,
    /// Hash of the provider's attribute document.
    pub attributes_hash: B256,
    /// The EOA that signs its usage attestations, fixed at registration.
    pub attestation_key: Address,
    /// Block of registration.
    pub registered_block: u64,
    /// Leases finalized.
    pub leases_completed: u64,
    /// Leases the provider ended without notice.
    pub early_terminations: u64,
    /// Disputes ruled against the provider.
    pub disputes_lost: u64,
    /// Bond slashed, all tokens, raw units.
    pub slashed_amount: u128,
    /// Paid out to the provider by settlements, net of fees, all tokens, raw units.
    pub total_earned: u128,
    /// Last block that changed this row.
    pub block: u64,
}

impl Provider {
    /// Reputation in basis points: the share of good outcomes (completed leases) among all
    /// outcomes, with one good and one bad prior so that a newcomer sits at 50%.
    pub fn reputation_bps(&self) -> u64 {
        let good = self.leases_completed + 1;
        let all = self.leases_completed + self.early_terminations + self.disputes_lost + 2;
        good * 10_000 / all
    }
}

/// A provider's collateral in one token, as `stakeOf` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stake {
    /// Staked (free + locked), not counting what thaws.
    pub staked: u128,
    /// Locked as SLA bonds of open leases.
    pub locked: u128,
    /// Unstaked, thawing.
    pub thawing: u128,
    /// When the thawing stake becomes withdrawable.
    pub thaw_ends_at: u64,
    /// Last block that changed this row.
    pub block: u64,
}

/// An offer, as `offer` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub provider: Address,
    pub token: Address,
    /// Price per second, raw token units.
    pub price_per_second: u64,
    /// Minimum lease duration (s).
    pub min_duration: u64,
    /// Maximum lease duration (s).
    pub max_duration: u64,
    /// Notice period (s).
    pub notice_period: u64,
    /// Maximum open leases.
    pub capacity: u64,
    /// Leases open now.
    pub active_leases: u64,
    /// Paused by the provider.
    pub paused: bool,
    /// Last block that changed this row.
    pub block: u64,
}

/// A lease, as `lease` reports it, plus how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The offer it was opened on.
    pub offer_id: u64,
    pub tenant: Address,
    /// Provider (from the offer).
    pub provider: Address,
    /// Payment token (from the offer).
    pub token: Address,
    /// Start (s).
    pub started_at: u64,
    /// End by terms or notice (s); the escrow may run dry earlier.
    pub ends_at: u64,
    /// Escrowed deposit, raw units.
    pub deposit: u128,
    /// Settled to the provider so far.
    pub settled: u128,
    /// Price in force.
    pub price_per_second: u64,
    /// The governance parameters version it opened under.
    pub params_version: u64,
    /// Its settlement window (from its parameters version), seconds.
    pub settlement_window: u64,
    /// SLA bond still locked.
    pub bond: u128,
    /// Notice period in force.
    pub notice_period: u64,
    /// Earliest end notice can bring.
    pub min_ends_at: u64,
    /// Open or finalized.
    pub status: LeaseStatus,
    /// Ended early by the provider.
    pub terminated: bool,
    /// Ended by its provider because the tenant left service unpaid.
    pub evicted: bool,
    /// Last block that changed this row.
    pub block: u64,
}

impl Lease {
    /// `min(endsAt, startedAt + deposit / price)`: when the lease stops accruing.
    pub fn lease_end(&self) -> u64 {
        let runway = self.started_at.saturating_add((self.deposit / u128::from(self.price_per_second.max(1))) as u64);
        runway.min(self.ends_at)
    }

    /// Until when receipts of the lease can be settled.
    pub fn settlement_deadline(&self) -> u64 {
        self.lease_end() + self.settlement_window
    }
}

/// A tenant's session signer, as `sessionSigner` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signer {
    /// Spend cap, raw units.
    pub cap: u128,
    /// Spent against the cap.
    pub spent: u128,
    /// Expiry (s); 0 once revoked.
    pub expires_at: u64,
    /// Last block that changed this row.
    pub block: u64,
}

/// An SLA dispute over a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// Tenant's dispute bond.
    pub tenant_bond: u128,
    /// Arbiter's deadline (s).
    pub deadline: u64,
    /// Where it stands.
    pub status: DisputeStatus,
    /// Tenant's evidence.
    pub evidence_uri: String,
    /// Slash ruled, basis points of the bond.
    pub slash_bps: u64,
    /// Last block that changed this row.
    pub block: u64,
}

/// One receipt settled: a `LeaseSettled` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// Where it happened.
    pub position: EventPosition,
    pub lease_id: u64,
    /// Who signed the receipt.
    pub signer: Address,
    /// The receipt's cumulative amount.
    pub cumulative_amount: u128,
    /// Paid out of escrow.
    pub paid: u128,
    /// Protocol fee out of `paid`, credited to the protocol when the lease is finalized.
    pub fee: u128,
}

/// One governance parameters version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsVersion {
    /// The parameters.
    pub params: Params,
    /// When leases start getting it (s).
    pub effective_at: u64,
}

/// Governance state: parameters versions, roles, allow-list, pause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Governance {
    /// Every parameters version by number; a pending one may still be replaced.
    pub versions: BTreeMap<u64, ParamsVersion>,
    /// Fee recipient.
    pub treasury: Address,
    pub owner: Address,
    /// New business paused.
    pub paused: bool,
    /// Stablecoin allow-list.
    pub allowed_tokens: BTreeMap<Address, bool>,
    /// Last block that changed it.
    pub block: u64,
}

/// The keys of the entities a batch changed: what the store must write.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    pub providers: BTreeSet<Address>,
    /// (provider, token).
    pub stakes: BTreeSet<(Address, Address)>,
    pub offers: BTreeSet<u64>,
    /// Lease ids.
    pub leases: BTreeSet<u64>,
    /// (tenant, signer).
    pub signers: BTreeSet<(Address, Address)>,
    /// Lease ids.
    pub disputes: BTreeSet<u64>,
    /// (account, token).
    pub claimable: BTreeSet<(Address, Address)>,
    /// Tokens.
    pub fees: BTreeSet<Address>,
    /// Governance changed.
    pub governance: bool,
    /// Settlements, in order.
    pub settlements: Vec<Settlement>,
}

/// The whole mirrored market.
#[derive(Debug, Default, Clone)]
pub struct Market {
    pub providers: BTreeMap<Address, Provider>,
    /// Stakes by (provider, token).
    pub stakes: BTreeMap<(Address, Address), Stake>,
    pub offers: BTreeMap<u64, Offer>,
    pub leases: BTreeMap<u64, Lease>,
    /// Session signers by (tenant, signer).
    pub signers: BTreeMap<(Address, Address), Signer>,
    /// Disputes by lease id.
    pub disputes: BTreeMap<u64, Dispute>,
    /// Claimable balances by (account, token), with the block that last changed them.
    pub claimable: BTreeMap<(Address, Address), (u128, u64)>,
    /// Protocol fees owed by token, with the block that last changed them.
    pub fees: BTreeMap<Address, (u128, u64)>,
    pub governance: Governance,
    /// What changed since the last `take_touched`.
    touched: Touched,
}

fn amount(value: U256) -> u128 {
    value.saturating_to()
}

fn number(value: U256) -> u64 {
    value.saturating_to()
}

impl Market {
    /// The keys changed since the last call, leaving none.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    /// Every key of the market, as if all had changed (to rewrite the store after a rollback).
    pub fn everything(&self) -> Touched {
        Touched {
            providers: self.providers.keys().copied().collect(),
            stakes: self.stakes.keys().copied().collect(),
            offers: self.offers.keys().copied().collect(),
            leases: self.leases.keys().copied().collect(),
            signers: self.signers.keys().copied().collect(),
            disputes: self.disputes.keys().copied().collect(),
            claimable: self.claimable.keys().copied().collect(),
            fees: self.fees.keys().copied().collect(),
            governance: true,
            settlements: Vec::new(),
        }
    }

    fn stake_mut(&mut self, provider: Address, token: Address, block: u64) -> &mut Stake {
        self.touched.stakes.insert((provider, token));
        let stake = self.stakes.entry((provider, token)).or_default();
        stake.block = block;
        stake
    }

    fn provider_mut(&mut self, provider: Address, block: u64) -> &mut Provider {
        self.touched.providers.insert(provider);
        let row = self
            .providers
            .entry(provider)
            .or_insert_with(|| Provider { registered_block: block, ..Default::default() });
        row.block = block;
        row
    }

    fn credit(&mut self, account: Address, token: Address, value: u128, block: u64) {
        self.touched.claimable.insert((account, token));
        let entry = self.claimable.entry((account, token)).or_default();
        entry.0 += value;
        entry.1 = block;
    }

    fn owe_fee(&mut self, token: Address, value: u128, block: u64) {
        self.touched.fees.insert(token);
        let entry = self.fees.entry(token).or_default();
        entry.0 += value;
        entry.1 = block;
    }

    /// The lease, touched, and its offer's provider and token. `None` for a lease the mirror never
    /// saw open, which the contract cannot emit.
    fn lease_mut(&mut self, lease_id: U256, block: u64) -> Option<&mut Lease> {
        let id = number(lease_id);
        self.touched.leases.insert(id);
        let lease = self.leases.get_mut(&id)?;
        lease.block = block;
        Some(lease)
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &OpenleaseEvents, at: EventPosition) {
        use OpenleaseEvents as E;
        let block = at.block;
        match event {
            E::ProviderRegistered(e) => {
                let row = self.provider_mut(e.provider, block);
                (row.metadata_uri, row.endpoint, row.region) =
                    (e.metadataURI.clone(), e.endpoint.clone(), e.region.clone());
                row.attributes_hash = e.attributesHash;
                row.attestation_key = e.attestationKey;
            }
            E::ProviderUpdated(e) => {
                let row = self.provider_mut(e.provider, block);
                (row.metadata_uri, row.endpoint, row.region) =
                    (e.metadataURI.clone(), e.endpoint.clone(), e.region.clone());
                row.attributes_hash = e.attributesHash;
            }
            E::Staked(e) => self.stake_mut(e.provider, e.token, block).staked = amount(e.staked),
            E::UnstakeRequested(e) => {
                let stake = self.stake_mut(e.provider, e.token, block);
                stake.staked = amount(e.staked);
                stake.thawing = amount(e.thawing);
                stake.thaw_ends_at = number(e.thawEndsAt);
            }
            E::StakeWithdrawn(e) => {
                let stake = self.stake_mut(e.provider, e.token, block);
                stake.thawing = 0;
                stake.thaw_ends_at = 0;
            }
            E::OfferPublished(e) => {
                let id = number(e.offerId);
                self.touched.offers.insert(id);
                self.offers.insert(
                    id,
                    Offer {
                        provider: e.provider,
                        token: e.token,
                        price_per_second: number(e.pricePerSecond),
                        min_duration: number(e.minDuration),
                        max_duration: number(e.maxDuration),
                        notice_period: number(e.noticePeriod),
                        capacity: number(e.capacity),
                        active_leases: 0,
                        paused: false,
                        block,
                    },
                );
            }
            E::OfferUpdated(e) => {
                let id = number(e.offerId);
                self.touched.offers.insert(id);
                if let Some(offer) = self.offers.get_mut(&id) {
                    offer.price_per_second = number(e.pricePerSecond);
                    offer.min_duration = number(e.minDuration);
                    offer.max_duration = number(e.maxDuration);
                    offer.notice_period = number(e.noticePeriod);
                    offer.capacity = number(e.capacity);
                    offer.block = block;
                }
            }
            E::OfferPauseSet(e) => {
                let id = number(e.offerId);
                self.touched.offers.insert(id);
                if let Some(offer) = self.offers.get_mut(&id) {
                    offer.paused = e.paused;
                    offer.block = block;
                }
            }
            E::LeaseOpened(e) => self.open_lease(e, block),
            E::LeaseToppedUp(e) => {
                if let Some(lease) = self.lease_mut(e.leaseId, block) {
                    lease.deposit = amount(e.deposit);
                }
            }
            E::LeaseClosed(e) => {
                if let Some(lease) = self.lease_mut(e.leaseId, block) {
                    lease.ends_at = number(e.endsAt);
                }
            }
            E::LeaseTerminated(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                lease.ends_at = number(e.endsAt);
                lease.terminated = true;
                let provider = lease.provider;
                self.provider_mut(provider, block).early_terminations += 1;
            }
            E::LeaseEvicted(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                // A running lease ends now; one that already ended keeps its end.
                if at.timestamp < lease.lease_end() {
                    lease.ends_at = at.timestamp;
                }
                lease.evicted = true;
                // What the provider did not settle is refunded by the finalization that follows;
                // no receipt can be settled after it.
                lease.deposit = amount(e.settled);
            }
            E::LeaseFailedOver(e) => {
                if let Some(lease) = self.lease_mut(e.leaseId, block) {
                    lease.deposit = amount(e.deposit);
                }
            }
            E::LeaseFinalized(e) => {
                let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
                lease.status = LeaseStatus::Finalized;
                lease.bond = 0;
                let (offer_id, provider, token, tenant) = (lease.offer_id, lease.provider, lease.token, lease.tenant);
                self.touched.offers.insert(offer_id);
                if let Some(offer) = self.offers.get_mut(&offer_id) {
                    offer.active_leases = offer.active_leases.saturating_sub(1);
                    offer.block = block;
                }
                let stake = self.stake_mut(provider, token, block);
                stake.locked = stake.locked.saturating_sub(amount(e.bondReleased));
                self.credit(tenant, token, amount(e.refund), block);
                self.owe_fee(token, amount(e.fee), block);
                self.provider_mut(provider, block).leases_completed += 1;
            }
            E::SignerAuthorized(e) => {
                self.touched.signers.insert((e.tenant, e.signer));
                let signer = self.signers.entry((e.tenant, e.signer)).or_default();
                signer.cap = amount(e.cap);
                signer.expires_at = number(e.expiresAt);
                signer.block = block;
            }
            E::SignerRevoked(e) => {
                self.touched.signers.insert((e.tenant, e.signer));
                let signer = self.signers.entry((e.tenant, e.signer)).or_default();
                signer.expires_at = 0;
                signer.block = block;
            }
            E::LeaseSettled(e) => self.settle(e, at),
            E::Claimed(e) => {
                self.touched.claimable.insert((e.account, e.token));
                self.claimable.insert((e.account, e.token), (0, block));
            }
            E::FeesCollected(e) => {
                self.touched.fees.insert(e.token);
                self.fees.insert(e.token, (0, block));
            }
            E::BondSlashed(e) => self.slash(e, at),
            E::DisputeOpened(e) => {
                let id = number(e.leaseId);
                self.touched.disputes.insert(id);
                self.disputes.insert(
                    id,
                    Dispute {
                        tenant_bond: amount(e.tenantBond),
                        deadline: number(e.deadline),
                        status: DisputeStatus::Open,
                        evidence_uri: e.evidenceURI.clone(),
                        slash_bps: 0,
                        block,
                    },
                );
            }
            E::DisputeRuled(e) => {
                let id = number(e.leaseId);
                let Some(lease) = self.leases.get(&id).copied() else { return };
                let Some(dispute) = self.disputes.get_mut(&id) else { return };
                self.touched.disputes.insert(id);
                dispute.status = if e.upheld { DisputeStatus::Upheld } else { DisputeStatus::Rejected };
                dispute.slash_bps = number(e.slashBps);
                dispute.block = block;
                let bond = dispute.tenant_bond;
                let winner = if e.upheld { lease.tenant } else { lease.provider };
                self.credit(winner, lease.token, bond, block);
                if e.upheld {
                    self.provider_mut(lease.provider, block).disputes_lost += 1;
                }
            }
            E::DisputeExpired(e) => {
                let id = number(e.leaseId);
                let Some(lease) = self.leases.get(&id).copied() else { return };
                let Some(dispute) = self.disputes.get_mut(&id) else { return };
                self.touched.disputes.insert(id);
                dispute.status = DisputeStatus::Expired;
                dispute.block = block;
                let bond = dispute.tenant_bond;
                self.credit(lease.tenant, lease.token, bond, block);
            }
            E::ParamsScheduled(e) => {
                let version = ParamsVersion { params: e.params.clone(), effective_at: number(e.effectiveAt) };
                self.governance.versions.insert(number(e.version), version);
                self.touch_governance(block);
            }
            E::TokenAllowed(e) => {
                self.governance.allowed_tokens.insert(e.token, e.allowed);
                self.touch_governance(block);
            }
            E::TreasuryUpdated(e) => {
                self.governance.treasury = e.treasury;
                self.touch_governance(block);
            }
            E::OwnershipTransferred(e) => {
                self.governance.owner = e.newOwner;
                self.touch_governance(block);
            }
            E::Paused(_) | E::Unpaused(_) => {
                self.governance.paused = matches!(event, E::Paused(_));
                self.touch_governance(block);
            }
            // Recorded in the event log only: they change nothing the mirror keeps.
            E::SettlementSkipped(_) | E::OwnershipTransferStarted(_) | E::EIP712DomainChanged(_) => {}
        }
    }

    fn touch_governance(&mut self, block: u64) {
        self.governance.block = block;
        self.touched.governance = true;
    }

    fn open_lease(&mut self, e: &Openlease::LeaseOpened, block: u64) {
        let id = number(e.leaseId);
        let offer_id = number(e.offerId);
        let Some(offer) = self.offers.get_mut(&offer_id) else { return };
        offer.active_leases += 1;
        offer.block = block;
        let (provider, token) = (offer.provider, offer.token);
        self.touched.offers.insert(offer_id);
        let t = &e.terms;
        let lease = Lease {
            offer_id,
            tenant: t.tenant,
            provider,
            token,
            started_at: t.startedAt.into(),
            ends_at: t.endsAt.into(),
            deposit: t.deposit.to(),
            settled: t.settled.to(),
            price_per_second: t.pricePerSecond,
            params_version: t.paramsVersion.into(),
            settlement_window: self
                .governance
                .versions
                .get(&u64::from(t.paramsVersion))
                .map_or(0, |v| v.params.settlementWindow.into()),
            bond: t.bond.to(),
            notice_period: t.noticePeriod.into(),
            min_ends_at: t.minEndsAt.into(),
            status: LeaseStatus::Open,
            terminated: false,
            evicted: false,
            block,
        };
        self.stake_mut(provider, token, block).locked += lease.bond;
        self.touched.leases.insert(id);
        self.leases.insert(id, lease);
    }

    fn settle(&mut self, e: &Openlease::LeaseSettled, at: EventPosition) {
        let block = at.block;
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        let (paid, fee) = (amount(e.paid), amount(e.fee));
        lease.settled = amount(e.settled);
        let (tenant, provider, token) = (lease.tenant, lease.provider, lease.token);
        if e.signer != tenant {
            self.touched.signers.insert((tenant, e.signer));
            let signer = self.signers.entry((tenant, e.signer)).or_default();
            signer.spent += paid;
            signer.block = block;
        }
        let earned = paid.saturating_sub(fee);
        self.credit(provider, token, earned, block);
        self.provider_mut(provider, block).total_earned += earned;
        self.touched.settlements.push(Settlement {
            position: at,
            lease_id: number(e.leaseId),
            signer: e.signer,
            cumulative_amount: amount(e.cumulativeAmount),
            paid,
            fee,
        });
    }

    fn slash(&mut self, e: &Openlease::BondSlashed, at: EventPosition) {
        let block = at.block;
        let Some(lease) = self.lease_mut(e.leaseId, block) else { return };
        let (slashed, cut) = (amount(e.amount), amount(e.protocolCut));
        lease.bond = lease.bond.saturating_sub(slashed);
        // Equivocation ends the lease at once; the event leaves that to the block's timestamp.
        if e.reason == SlashReason::Equivocation as u8 && at.timestamp < lease.lease_end() {
            lease.ends_at = at.timestamp;
        }
        let (tenant, provider, token) = (lease.tenant, lease.provider, lease.token);
        let stake = self.stake_mut(provider, token, block);
        stake.locked = stake.locked.saturating_sub(slashed);
        stake.staked = stake.staked.saturating_sub(slashed);
        self.credit(tenant, token, slashed.saturating_sub(cut), block);
        self.owe_fee(token, cut, block);
        self.provider_mut(provider, block).slashed_amount += slashed;
    }
}
