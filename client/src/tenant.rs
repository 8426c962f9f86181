//! The tenant's side: read an offer's terms, open leases on them (by EIP-2612 permit when the
//! token has it), top up, close, fail over to another offer without a second deposit, authorize
//! session signers, dispute. And the arbiter's ruling, which closes a dispute.

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    signers::SignerSync,
};
use openlease_contracts::{IOpenleaseTypes, Openlease};

use crate::{
    Client, Error, Result,
    events::find,
    prepare::{LeaseOpeningSteps, PermitToSign},
};

/// An offer's terms as a tenant reads them before leasing: the offer, the governance parameters
/// a new lease gets (the version its provider accepted for it), and the hash that binds them, all
/// read at one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferQuote {
    pub offer_id: U256,
    /// Its terms.
    pub offer: IOpenleaseTypes::Offer,
    /// The parameters a lease opened now keeps for its life (fee, settlement window, bond,
    /// dispute bounds, arbiter).
    pub params: IOpenleaseTypes::Params,
    /// `offerTermsHash`: `openLease` reverts unless the terms are still these.
    pub terms_hash: B256,
    /// The block the three were read at.
    pub block: u64,
}

/// What a tenant asks for when opening a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    pub offer_id: U256,
    /// Seconds, within the offer's min and max duration.
    pub duration: u32,
    /// Escrowed up front, raw token units; at least price × min duration. In a failover, what is
    /// added to the escrow moved from the old lease.
    pub deposit: U256,
    /// The terms accepted ([`OfferQuote::terms_hash`]): if the provider changes any of them (or
    /// accepts new governance parameters) before the lease opens, opening reverts.
    pub terms_hash: B256,
    /// A session signer to authorize for the offer's provider in the same transaction.
    pub authorize: Option<SignerGrant>,
}

/// A session signer's authorization for one provider: it may attest up to `cap` raw units to that
/// provider's leases, for service until `expires_at`. Scoped so that what one provider accepted
/// can never be claimed first by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerGrant {
    pub signer: Address,
    pub cap: U256,
    pub expires_at: u64,
}

impl LeaseRequest {
    /// A request on the terms of `quote`.
    pub fn new(quote: &OfferQuote, duration: u32, deposit: U256) -> Self {
        Self { offer_id: quote.offer_id, duration, deposit, terms_hash: quote.terms_hash, authorize: None }
    }

    /// Authorizes `grant` for the offer's provider in the transaction that opens the lease.
    pub fn authorizing(mut self, grant: SignerGrant) -> Self {
        self.authorize = Some(grant);
        self
    }
}

/// A failover just made: the new lease, and what moved into it from the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failover {
    pub lease_id: U256,
    /// Escrow moved from the old lease: the part no receipt of it can ever claim.
    pub moved: U256,
    /// What the old lease keeps, enough for everything its terms still let accrue.
    pub kept: U256,
}

/// The failovers a lease took part in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseFailovers {
    /// The failover out of it: the tenant moved to another provider, and the lease runs only to
    /// the end of its notice, for what was served before.
    pub to: Option<Failover>,
    /// The lease it was opened from by a failover.
    pub from: Option<U256>,
}

/// How the deposit of a lease was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositMethod {
    /// With an EIP-2612 permit signed off chain: one transaction.
    Permit,
    /// With an allowance (approved first if needed).
    Allowance,
}

/// A lease just opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOpening {
    pub lease_id: U256,
    /// How the deposit was paid.
    pub deposit_method: DepositMethod,
}

impl<P: Provider + Clone> Client<P> {
    /// Reads an offer's terms, the parameters a new lease gets and their hash, at one block.
    pub async fn offer_quote(&self, offer_id: U256) -> Result<OfferQuote> {
        self.prepare().offer_quote(offer_id).await
    }

    /// Opens a lease: by EIP-2612 permit when the offer's token supports it, else by allowance;
    /// with the request's signer authorization for the offer's provider in the same transaction.
    /// The steps are [`crate::prepare::Prepare::open_lease`]'s, signed with this client's key.
    pub async fn open_lease(&self, request: LeaseRequest) -> Result<LeaseOpening> {
        let me = self.address();
        let (tx, deposit_method) = match self.prepare().open_lease(me, &request, false).await? {
            LeaseOpeningSteps::Permit(permit) => {
                let signature = self.sign_permit_hash(&permit)?;
                let deadline = permit.permit.deadline;
                let call = self.prepare().open_lease_with_permit(me, &request, deadline, &signature).await?;
                (self.send_call(call).await?, DepositMethod::Permit)
            }
            LeaseOpeningSteps::Allowance(calls) => (self.send_calls(calls).await?, DepositMethod::Allowance),
        };
        Ok(LeaseOpening { lease_id: find::<Openlease::LeaseOpened>(&tx)?.leaseId, deposit_method })
    }

    /// Sends `call` to the market, preceded in one `multicall` by the authorization of `grant`
    /// for `provider` when there is one.
    async fn send_with_grant(
        &self,
        grant: Option<SignerGrant>,
        provider: Address,
        call: alloy::primitives::Bytes,
    ) -> Result<TransactionReceipt> {
        self.send_call(self.prepare().with_grant(self.address(), grant, provider, call)?).await
    }

    /// Whether `token` implements EIP-2612 (it answers `nonces` and `DOMAIN_SEPARATOR`).
    pub async fn supports_permit(&self, token: Address) -> Result<bool> {
        Ok(self.prepare().permit(self.address(), token, U256::ZERO).await?.is_some())
    }

    fn sign_permit_hash(&self, permit: &PermitToSign) -> Result<alloy::primitives::Signature> {
        Ok(self.signer().sign_hash_sync(&permit.signing_hash())?)
    }

    /// Signs an EIP-2612 permit letting the market pull `value` of `token`: `(deadline, v, r, s)`,
    /// or `None` if the token has no permit.
    pub async fn sign_permit(&self, token: Address, value: U256) -> Result<Option<(U256, u8, B256, B256)>> {
        let Some(permit) = self.prepare().permit(self.address(), token, value).await? else { return Ok(None) };
        let signature = self.sign_permit_hash(&permit)?;
        Ok(Some((permit.permit.deadline, 27 + u8::from(signature.v()), signature.r().into(), signature.s().into())))
    }

    /// Adds `amount` to a lease's escrow (approving first if needed), extending its runway.
    pub async fn top_up(&self, lease_id: U256, amount: U256) -> Result<TransactionReceipt> {
        self.lease(lease_id).await?;
        self.send_calls(self.prepare().top_up(self.address(), lease_id, amount).await?).await
    }

    /// Gives notice on a lease (tenant or provider); returns when it now ends.
    pub async fn close_lease(&self, lease_id: U256) -> Result<u64> {
        let tx = self.send_call(self.prepare().close_lease(self.address(), lease_id)).await?;
        Ok(find::<Openlease::LeaseClosed>(&tx)?.endsAt.to::<u64>())
    }

    /// Leaves lease `lease_id` for another offer without a second deposit: gives notice if it is
    /// still running and moves the part of its escrow no receipt can ever claim into a new lease
    /// on `to`'s terms, adding `to.deposit` (approved first if needed; zero when the moved escrow
    /// covers the new lease's minimum).
    pub async fn failover_lease(&self, lease_id: U256, to: LeaseRequest) -> Result<Failover> {
        if !to.deposit.is_zero() {
            let token = self.offer(to.offer_id).await?.token;
            if token != Address::ZERO {
                self.ensure_allowance(token, to.deposit).await?;
            }
        }
        let provider = self.offer(to.offer_id).await?.provider;
        let call = self.market().failoverLease(lease_id, to.offer_id, to.duration, to.deposit, to.terms_hash);
        let tx = self.send_with_grant(to.authorize, provider, call.calldata().clone()).await?;
        let e = find::<Openlease::LeaseFailedOver>(&tx)?;
        Ok(Failover { lease_id: e.newLeaseId, moved: e.moved, kept: e.deposit })
    }

    /// What [`Client::failover_lease`] would move out of a lease whose end is already fixed (add
    /// what notice frees for a running lease).
    pub async fn unclaimable_escrow(&self, lease_id: U256) -> Result<U256> {
        Ok(self.market().unclaimableEscrow(lease_id).call().await?)
    }

    /// After the settlement window: refunds the rest of the escrow to the tenant's claimable
    /// balance and releases the bond. Anyone may call. Returns `(refund, bond released)`.
    pub async fn finalize_lease(&self, lease_id: U256) -> Result<(U256, U256)> {
        let tx = self.send(self.market().finalizeLease(lease_id)).await?;
        let finalized = find::<Openlease::LeaseFinalized>(&tx)?;
        Ok((finalized.refund, finalized.bondReleased))
    }

    /// Lets `signer` sign receipts for this tenant's leases of `provider`, up to `cap` raw units in
    /// total, for service until `expires_at`. Each provider gets its own authorization and cap. The
    /// cap counts raw units of whichever token a lease pays in: give each stablecoin its own signer.
    /// A cap or expiry the market cannot store is an error.
    pub async fn authorize_signer(
        &self,
        signer: Address,
        provider: Address,
        cap: U256,
        expires_at: u64,
    ) -> Result<TransactionReceipt> {
        let (cap, expires_at) = signer_terms(cap, expires_at)?;
        self.send(self.market().authorizeSigner(signer, provider, cap, expires_at)).await
    }

    /// Stops `signer` for `provider` at once: its receipts for service from now on are void;
    /// those for service already delivered stay payable.
    pub async fn revoke_signer(&self, signer: Address, provider: Address) -> Result<TransactionReceipt> {
        self.send(self.market().revokeSigner(signer, provider)).await
    }

    /// Answers a provider's payment demand on a lease by settling `newest`, the newest receipt this
    /// tenant's signer gave for it (anyone may settle): the settled total reaches what was due if
    /// the receipts paid for the service. Returns what it paid, or `None` when no demand stands
    /// unanswered.
    pub async fn answer_demand(&self, lease_id: U256, newest: &crate::SignedReceipt) -> Result<Option<U256>> {
        let Some(demand) = self.standing_demand(lease_id).await? else { return Ok(None) };
        if newest.receipt.cumulativeAmount <= demand.settled {
            return Ok(Some(U256::ZERO));
        }
        let tx = self.send(self.market().settle(newest.clone())).await?;
        Ok(Some(find::<Openlease::LeaseSettled>(&tx)?.paid))
    }

    /// Disputes the provider's service of a lease, posting the dispute bond (approved first if
    /// needed). Returns the bond posted.
    pub async fn open_dispute(&self, lease_id: U256, evidence_uri: &str) -> Result<U256> {
        let lease = self.lease(lease_id).await?;
        let token = self.offer(U256::from(lease.offerId)).await?.token;
        let bond = self.dispute_bond(lease_id).await?;
        if !bond.is_zero() {
            self.ensure_allowance(token, bond).await?;
        }
        let tx = self.send(self.market().openDispute(lease_id, evidence_uri.to_string())).await?;
        Ok(find::<Openlease::DisputeOpened>(&tx)?.tenantBond)
    }

    /// The arbiter's ruling: slash `slash_bps` of the lease's bond to the tenant, or reject with zero.
    pub async fn rule_dispute(&self, lease_id: U256, slash_bps: u16) -> Result<TransactionReceipt> {
        self.send(self.market().ruleDispute(lease_id, slash_bps)).await
    }
}

impl<P: Provider + Clone> Client<P> {
    /// Every lease `tenant` opened, oldest first, read from the `LeaseOpened` events.
    pub async fn leases_of_tenant(&self, tenant: Address) -> Result<Vec<crate::OpenedLease>> {
        let logs = self
            .market()
            .LeaseOpened_filter()
            .topic3(tenant.into_word())
            .from_block(self.manifest().deploy_block)
            .query()
            .await?;
        Ok(logs.into_iter().map(|(e, _)| e.into()).collect())
    }

    /// Whether notice was given on a lease: who gave it and when the lease then ends (the newest
    /// `LeaseClosed`), read from the market's events; `None` if no one did.
    pub async fn notice(&self, lease_id: U256) -> Result<Option<(Address, u64)>> {
        let closed = self.market().LeaseClosed_filter().topic1(B256::from(lease_id));
        let closed = closed.from_block(self.manifest().deploy_block).query().await?;
        Ok(closed.into_iter().last().map(|(e, _)| (e.by, e.endsAt.saturating_to())))
    }

    /// The failovers a lease took part in, read from the market's `LeaseFailedOver` events: the
    /// lease it was failed over to (with what moved and what it kept) and the lease it was opened
    /// from.
    pub async fn failovers(&self, lease_id: U256) -> Result<LeaseFailovers> {
        let id = B256::from(lease_id);
        let from_block = self.manifest().deploy_block;
        let to = self.market().LeaseFailedOver_filter().topic1(id).from_block(from_block).query().await?;
        let from = self.market().LeaseFailedOver_filter().topic2(id).from_block(from_block).query().await?;
        Ok(LeaseFailovers {
            to: to.into_iter().last().map(|(e, _)| Failover {
                lease_id: e.newLeaseId,
                moved: e.moved,
                kept: e.deposit,
            }),
            from: from.into_iter().last().map(|(e, _)| e.leaseId),
        })
    }

    /// The dispute over a lease (status `None` if there was none).
    pub async fn dispute(&self, lease_id: U256) -> Result<openlease_contracts::IOpenleaseTypes::Dispute> {
        Ok(self.market().dispute(lease_id).call().await?)
    }

    /// After the dispute's deadline passed without a ruling: returns the tenant's dispute bond and
    /// unfreezes the lease. Anyone may call.
    pub async fn expire_dispute(&self, lease_id: U256) -> Result<TransactionReceipt> {
        self.send(self.market().expireDispute(lease_id)).await
    }
}

/// A signer's cap and expiry as the market stores them (uint96, uint40), or why they do not fit.
pub(crate) fn signer_terms(
    cap: U256,
    expires_at: u64,
) -> Result<(alloy::primitives::Uint<96, 2>, alloy::primitives::Uint<40, 1>)> {
    type Cap = alloy::primitives::Uint<96, 2>;
    type Expiry = alloy::primitives::Uint<40, 1>;
    let (max_cap, max_expiry) = (U256::from(Cap::MAX), U256::from(Expiry::MAX));
    if cap > max_cap {
        return Err(Error::OutOfRange { what: "signer cap", value: cap, max: max_cap });
    }
    if U256::from(expires_at) > max_expiry {
        return Err(Error::OutOfRange { what: "signer expiry", value: U256::from(expires_at), max: max_expiry });
    }
    Ok((Cap::saturating_from(cap), Expiry::saturating_from(expires_at)))
}
