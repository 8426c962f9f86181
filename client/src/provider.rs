//! The provider's side: profile, stake, offers, the leases it serves, and settlement of the
//! newest receipt of each.

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
pub use openlease_contracts::SettlementResult;
use openlease_contracts::{IOpenleaseTypes, Openlease};

use crate::{Client, Error, Result, SignedReceipt, events::find, receipt::ReceiptBook, risk::StakeView};

/// A provider's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDetails {
    /// Where the provider describes itself (JSON).
    pub metadata_uri: String,
    /// Where tenants reach the service.
    pub endpoint: String,
    /// Where the hardware runs.
    pub region: String,
    /// Hash of the hardware attributes.
    pub attributes_hash: B256,
}

/// The terms of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferTerms {
    /// The stablecoin leases pay in (fixed once published).
    pub token: Address,
    /// Raw token units per second.
    pub price_per_second: u64,
    /// Shortest lease, seconds; a deposit must pay for at least this long.
    pub min_duration: u32,
    /// Longest lease, seconds.
    pub max_duration: u32,
    /// How long a close takes effect after notice, seconds; the bond is sized on it.
    pub notice_period: u32,
    /// How many leases may be open at once.
    pub capacity: u16,
    /// What the offer runs ([`openlease_contracts::workload`]), fixed once published; the gateway
    /// attests it in every answer.
    pub workload: B256,
    /// The contract that judges the workload's answers on chain, or zero for none; fixed once
    /// published. A wrong answer it rejects costs the provider the lease's bond.
    pub verifier: Address,
}

/// A lease as it was opened, read from its `LeaseOpened` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedLease {
    pub lease_id: U256,
    pub offer_id: U256,
    pub tenant: Address,
    /// The terms in force when it opened.
    pub terms: IOpenleaseTypes::Lease,
}

impl From<Openlease::LeaseOpened> for OpenedLease {
    fn from(e: Openlease::LeaseOpened) -> Self {
        Self { lease_id: e.leaseId, offer_id: e.offerId, tenant: e.tenant, terms: e.terms }
    }
}

/// What settling one receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementOutcome {
    /// The receipt's lease.
    pub lease_id: U256,
    /// `Settled`, or why nothing was paid.
    pub result: SettlementResult,
    /// Paid out of escrow (provider's share plus fee).
    pub paid: U256,
    /// The protocol's fee out of `paid`.
    pub fee: U256,
}

impl SettlementOutcome {
    /// Whether the receipt paid anything.
    pub fn is_settled(&self) -> bool {
        self.result == SettlementResult::Settled
    }
}

/// A payment demand: unless the lease's settled total reaches `due` by `evictable_at`, the
/// provider may evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentDemand {
    pub lease_id: U256,
    /// What the terms let accrue until the payment grace before the demand.
    pub due: U256,
    /// Settled when the demand was made.
    pub settled: U256,
    pub evictable_at: u64,
}

/// An eviction just made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eviction {
    pub lease_id: U256,
    /// Paid to the provider from the escrow for the capacity the tenant held.
    pub hold_charge: U256,
    /// Refunded to the tenant at once: the escrow no receipt can claim any more.
    pub refund: U256,
    /// Until when the bond stays locked and the tenant may dispute; then it can be finalized.
    pub remedies_until: u64,
}

impl<P: Provider + Clone> Client<P> {
    /// Registers this account as a provider, its own key as the attestation key (see
    /// [`Self::register_provider_with_key`]).
    pub async fn register_provider(&self, details: &ProviderDetails) -> Result<TransactionReceipt> {
        let key = self.signer().clone();
        self.register_provider_with_key(details, &key).await
    }

    /// Registers this account as a provider whose usage attestations `attestation_key` signs, for
    /// good: it cannot be changed later. The key proves it is held by signing the registration.
    pub async fn register_provider_with_key(
        &self,
        details: &ProviderDetails,
        attestation_key: &alloy::signers::local::PrivateKeySigner,
    ) -> Result<TransactionReceipt> {
        let d = details.clone();
        let proof = self.receipt_domain().attestation_key_proof(attestation_key, self.address())?;
        let call = self.market().registerProvider(
            d.metadata_uri,
            d.endpoint,
            d.region,
            d.attributes_hash,
            attestation_key.address(),
            proof,
        );
        self.send(call).await
    }

    /// Demands payment of a lease whose tenant has not paid for service older than the market's
    /// payment grace. Settle the receipts held for it first: a demand they answer is wasted.
    pub async fn demand_payment(&self, lease_id: U256) -> Result<PaymentDemand> {
        let tx = self.send(self.market().demandPayment(lease_id)).await?;
        let e = find::<Openlease::PaymentDemanded>(&tx)?;
        Ok(PaymentDemand { lease_id, due: e.due, settled: e.settled, evictable_at: e.evictableAt.saturating_to() })
    }

    /// The payment demand on a lease that stands unanswered (made, and the settled total below
    /// what it asked), read from the market; `None` if none does. The market's rule, in one place
    /// for the tenant that answers it and the provider that evicts on it.
    pub async fn standing_demand(&self, lease_id: U256) -> Result<Option<PaymentDemand>> {
        let demand = self.market().paymentDemand(lease_id).call().await?;
        let settled = U256::from(self.lease(lease_id).await?.settled);
        let due = U256::from(demand.due);
        if demand.madeAt == 0 || settled >= due {
            return Ok(None);
        }
        let evictable_at = u64::from(demand.madeAt) + openlease_contracts::constants::PAYMENT_GRACE;
        Ok(Some(PaymentDemand { lease_id, due, settled, evictable_at }))
    }

    /// Ends a lease whose payment demand went unanswered for the payment grace: the lease stops,
    /// its capacity is freed, the tenant pays for the grace it held and is refunded what no
    /// receipt can claim. Receipts this provider holds for service before now stay settleable
    /// through the settlement window; the bond stays locked until the tenant's remedies end.
    pub async fn evict_lease(&self, lease_id: U256) -> Result<Eviction> {
        let tx = self.send(self.market().evictLease(lease_id)).await?;
        let e = find::<Openlease::LeaseEvicted>(&tx)?;
        Ok(Eviction {
            lease_id,
            hold_charge: e.holdCharge,
            refund: e.refund,
            remedies_until: e.remediesUntil.saturating_to(),
        })
    }

    /// Accepts governance parameters `version` (in force) for the new leases of `offer_id`.
    pub async fn accept_params(&self, offer_id: U256, version: u16) -> Result<TransactionReceipt> {
        self.send(self.market().acceptParams(offer_id, version)).await
    }

    /// Replaces this provider's profile.
    pub async fn update_provider(&self, details: &ProviderDetails) -> Result<TransactionReceipt> {
        let d = details.clone();
        self.send(self.market().updateProvider(d.metadata_uri, d.endpoint, d.region, d.attributes_hash)).await
    }

    /// Stakes `amount` of `token` (approving the market first if needed); returns the stake after.
    pub async fn stake(&self, token: Address, amount: U256) -> Result<StakeView> {
        self.send_calls(self.prepare().stake(self.address(), token, amount).await?).await?;
        self.stake_of(self.address(), token).await
    }

    /// Starts thawing `amount` of free stake; returns the stake after.
    pub async fn request_unstake(&self, token: Address, amount: U256) -> Result<StakeView> {
        self.send(self.market().requestUnstake(token, amount)).await?;
        self.stake_of(self.address(), token).await
    }

    /// Withdraws all thawed stake in `token` to `to`; returns the amount.
    pub async fn withdraw_stake(&self, token: Address, to: Address) -> Result<U256> {
        let receipt = self.send(self.market().withdrawStake(token, to)).await?;
        Ok(find::<Openlease::StakeWithdrawn>(&receipt)?.amount)
    }

    /// Publishes an offer; returns its id.
    pub async fn publish_offer(&self, terms: &OfferTerms) -> Result<U256> {
        let receipt = self.send_call(self.prepare().publish_offer(self.address(), terms)).await?;
        Ok(find::<Openlease::OfferPublished>(&receipt)?.offerId)
    }

    /// Changes the terms new leases of an offer get (its token never changes).
    pub async fn update_offer(&self, offer_id: U256, terms: &OfferTerms) -> Result<TransactionReceipt> {
        let t = *terms;
        self.send(self.market().updateOffer(
            offer_id,
            t.price_per_second,
            t.min_duration,
            t.max_duration,
            t.notice_period,
            t.capacity,
        ))
        .await
    }

    /// Stops (or resumes) new leases of an offer.
    pub async fn set_offer_paused(&self, offer_id: U256, paused: bool) -> Result<TransactionReceipt> {
        self.send_call(self.prepare().set_offer_paused(self.address(), offer_id, paused)).await
    }

    /// The offers `provider` published, oldest first.
    pub async fn offers_of(&self, provider: Address) -> Result<Vec<U256>> {
        let logs = self
            .market()
            .OfferPublished_filter()
            .topic2(provider.into_word())
            .from_block(self.manifest().deploy_block)
            .query()
            .await?;
        Ok(logs.into_iter().map(|(event, _)| event.offerId).collect())
    }

    /// Every lease opened on `provider`'s offers, oldest first.
    pub async fn leases_of(&self, provider: Address) -> Result<Vec<OpenedLease>> {
        let offers = self.offers_of(provider).await?;
        self.leases_of_offers(&offers).await
    }

    /// Every lease opened on these offers, oldest first.
    pub async fn leases_of_offers(&self, offer_ids: &[U256]) -> Result<Vec<OpenedLease>> {
        if offer_ids.is_empty() {
            return Ok(Vec::new());
        }
        let topics: Vec<B256> = offer_ids.iter().map(|id| B256::from(*id)).collect();
        let logs =
            self.market().LeaseOpened_filter().topic2(topics).from_block(self.manifest().deploy_block).query().await?;
        Ok(logs.into_iter().map(|(e, _)| e.into()).collect())
    }

    /// Ends a lease at once, without notice: its bond is slashed to the tenant.
    pub async fn terminate_lease(&self, lease_id: U256) -> Result<TransactionReceipt> {
        self.send(self.market().terminateLease(lease_id)).await
    }

    /// Settles one receipt. A receipt that pays nothing is the market's `OpenleaseSettlementFailed`.
    pub async fn settle(&self, receipt: SignedReceipt) -> Result<SettlementOutcome> {
        let lease_id = receipt.receipt.leaseId;
        let tx = self.send(self.market().settle(receipt)).await?;
        let settled = find::<Openlease::LeaseSettled>(&tx)?;
        Ok(SettlementOutcome { lease_id, result: SettlementResult::Settled, paid: settled.paid, fee: settled.fee })
    }

    /// Settles many receipts in one transaction; bad items are skipped by the market. Returns one
    /// outcome per receipt, in order. Keep batches to a few hundred receipts: the gas grows with
    /// each.
    pub async fn settle_batch(&self, receipts: Vec<SignedReceipt>) -> Result<Vec<SettlementOutcome>> {
        let sent = receipts.len();
        let tx = self.send(self.market().settleBatch(receipts)).await?;
        // Each item emits exactly one of the two events, in the order of the items.
        let outcomes = tx
            .logs()
            .iter()
            .filter(|log| log.address() == self.manifest().market())
            .filter_map(|log| match log.topic0() {
                Some(&Openlease::LeaseSettled::SIGNATURE_HASH) => {
                    let e = log.log_decode::<Openlease::LeaseSettled>().ok()?.inner.data;
                    Some(SettlementOutcome {
                        lease_id: e.leaseId,
                        result: SettlementResult::Settled,
                        paid: e.paid,
                        fee: e.fee,
                    })
                }
                Some(&Openlease::SettlementSkipped::SIGNATURE_HASH) => {
                    let e = log.log_decode::<Openlease::SettlementSkipped>().ok()?.inner.data;
                    // A result this SDK does not know is an outcome all the same: not settled.
                    let result = SettlementResult::try_from(e.result).ok()?;
                    Some(SettlementOutcome { lease_id: e.leaseId, result, paid: U256::ZERO, fee: U256::ZERO })
                }
                _ => None,
            })
            .collect::<Vec<_>>();
        if outcomes.len() != sent {
            return Err(Error::BatchMismatch { sent, reported: outcomes.len(), tx: tx.transaction_hash });
        }
        Ok(outcomes)
    }

    /// Settles the newest receipt of every lease in `book` with something unsettled, in one
    /// batch, then records the market's settled totals in the book.
    pub async fn settle_book(&self, book: &mut ReceiptBook) -> Result<Vec<SettlementOutcome>> {
        let receipts = book.to_settle();
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = self.settle_batch(receipts).await?;
        for outcome in &outcomes {
            let lease = self.lease(outcome.lease_id).await?;
            book.mark_settled(outcome.lease_id, U256::from(lease.settled));
        }
        Ok(outcomes)
    }
}
