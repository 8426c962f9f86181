//! Actions prepared for an account whose key is elsewhere (a browser's wallet, a hardware one):
//! each action's reads, checks and refusals end here in the calls to send, unsigned, or in the
//! EIP-2612 permit to sign first. [`Client`](crate::Client)'s sending functions build their
//! calls through the same steps and sign them with the client's key, so a wallet and the SDK
//! send the same transactions for the same action.
//!
//! Two kinds of rule live here. The market's own (an offer that does not exist, a duration out of
//! its bounds, a deposit below the minimum) are read ahead so that a wallet is never asked to
//! sign a transaction that reverts. The tenant's protections the CLI applies (a deposit beyond
//! what the whole term can use, a top-up that would extend nothing, a balance that cannot pay)
//! are in [`Prepare::check_open_lease`] and [`Prepare::check_top_up`]: the CLI and the indexer's
//! wallet routes ask them; the SDK's sending functions leave them to their caller.

use alloy::{
    eips::BlockId,
    primitives::{Address, B256, Bytes, Signature, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol,
    sol_types::{Eip712Domain, SolCall, SolStruct},
};
use openlease_contracts::{
    IOpenleaseTypes, MockStablecoin, Openlease,
    display::{format_duration, format_time_from},
};
use serde_json::{Value, json};

use crate::{
    Error, Manifest, OfferQuote, Result, StablecoinEntry, TokenAmount,
    status::LeaseStatus,
    tenant::{LeaseRequest, SignerGrant},
    terms,
};

sol! {
    /// EIP-2612's permit message.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit { address owner; address spender; uint256 value; uint256 nonce; uint256 deadline; }
}

/// How long a signed permit stays valid.
pub const PERMIT_LIFETIME: u64 = 3600;

/// A transaction to send as it is, once a wallet has signed it: the wallet fills in the nonce,
/// the gas and the fees.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnsignedCall {
    pub from: Address,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
}

impl UnsignedCall {
    fn to_market<C: SolCall>(from: Address, market: Address, call: &C) -> Self {
        Self { from, to: market, data: call.abi_encode().into(), value: U256::ZERO }
    }

    /// As a request for a provider to complete and send.
    pub fn request(&self) -> TransactionRequest {
        TransactionRequest::default().from(self.from).to(self.to).input(self.data.clone().into()).value(self.value)
    }
}

/// An EIP-2612 permit letting the market pull a deposit, to be signed by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitToSign {
    pub permit: Permit,
    /// The token's `DOMAIN_SEPARATOR`: what the signature is checked under.
    pub separator: B256,
    /// The token's EIP-712 domain as it tells it (EIP-5267), checked to hash to `separator`:
    /// a wallet is shown these fields. `None` when the token does not tell it.
    pub domain: Option<Eip712Domain>,
    pub token: Address,
}

impl PermitToSign {
    /// The hash the owner signs.
    pub fn signing_hash(&self) -> B256 {
        let s = self.permit.eip712_hash_struct();
        keccak256([&[0x19, 0x01][..], self.separator.as_slice(), s.as_slice()].concat())
    }

    /// The permit as `eth_signTypedData_v4` takes it; `None` when the token does not tell its
    /// domain (a wallet must not be asked to sign under a domain guessed).
    pub fn typed_data(&self) -> Option<Value> {
        let domain = self.domain.as_ref()?;
        let mut fields = Vec::new();
        let mut values = serde_json::Map::new();
        if let Some(name) = &domain.name {
            fields.push(json!({"name": "name", "type": "string"}));
            values.insert("name".into(), json!(name));
        }
        if let Some(version) = &domain.version {
            fields.push(json!({"name": "version", "type": "string"}));
            values.insert("version".into(), json!(version));
        }
        if let Some(chain_id) = domain.chain_id {
            fields.push(json!({"name": "chainId", "type": "uint256"}));
            values.insert("chainId".into(), json!(chain_id.to::<u64>()));
        }
        if let Some(contract) = domain.verifying_contract {
            fields.push(json!({"name": "verifyingContract", "type": "address"}));
            values.insert("verifyingContract".into(), json!(contract));
        }
        if let Some(salt) = domain.salt {
            fields.push(json!({"name": "salt", "type": "bytes32"}));
            values.insert("salt".into(), json!(salt));
        }
        let p = &self.permit;
        Some(json!({
            "types": {
                "EIP712Domain": fields,
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": values,
            "message": {
                "owner": p.owner,
                "spender": p.spender,
                "value": p.value.to_string(),
                "nonce": p.nonce.to_string(),
                "deadline": p.deadline.to_string(),
            },
        }))
    }
}

/// How to open a lease: sign a permit then send one transaction, or send the approvals the
/// allowance needs and then the opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOpeningSteps {
    /// Sign `permit`, then send [`Prepare::open_lease_with_permit`]'s call.
    Permit(Box<PermitToSign>),
    /// Send these in order; the last opens the lease.
    Allowance(Vec<UnsignedCall>),
}

/// An action refused before anything is signed, in the marketplace's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("offer {offer_id} does not exist")]
    UnknownOffer { offer_id: U256 },
    #[error("offer {offer_id} is paused")]
    OfferPaused { offer_id: U256 },
    #[error("offer {offer_id} is at capacity ({capacity} leases)")]
    OfferAtCapacity { offer_id: U256, capacity: u16 },
    #[error("a duration of {} is outside the offer's {} to {}", format_duration(*duration), format_duration(*min), format_duration(*max))]
    DurationOutOfBounds { offer_id: U256, duration: u64, min: u64, max: u64 },
    #[error("a deposit of {deposit} is below the {minimum} required")]
    DepositBelowMinimum { offer_id: U256, deposit: TokenAmount, minimum: TokenAmount, min_duration: u64 },
    #[error(
        "a deposit of {deposit} is more than a {} lease of offer {offer_id} can ever use: {} at {price} per second is {full} in all; the other {idle} would wait in escrow until the lease is finalized",
        format_duration(*duration), format_duration(*duration)
    )]
    DepositBeyondTerm {
        offer_id: U256,
        duration: u64,
        deposit: TokenAmount,
        price: TokenAmount,
        full: TokenAmount,
        idle: TokenAmount,
    },
    #[error("insufficient balance: you hold {have}, {need} needed")]
    InsufficientBalance { have: TokenAmount, need: TokenAmount },
    #[error("lease {lease_id} does not exist")]
    UnknownLease { lease_id: U256 },
    #[error("lease {lease_id} is no longer running: {why}")]
    LeaseNotRunning { lease_id: U256, why: String },
    #[error(
        "lease {lease_id}'s deposit of {deposit} already pays for its whole term, until {end}: a top-up of {amount} would extend nothing and wait in escrow until the lease is finalized"
    )]
    TopUpUseless { lease_id: U256, deposit: TokenAmount, amount: TokenAmount, end: String },
    #[error(
        "a top-up of {amount} is more than lease {lease_id} can use: {useful} more pays for its whole term, until {end}; the other {idle} would wait in escrow until the lease is finalized"
    )]
    TopUpBeyondTerm { lease_id: U256, amount: TokenAmount, useful: TokenAmount, idle: TokenAmount, end: String },
    #[error("{from} is neither the tenant nor the provider of lease {lease_id}: only they may give notice")]
    NotLeaseParty { lease_id: U256, from: Address },
    #[error("{from} is not the provider of offer {offer_id}")]
    NotOfferProvider { offer_id: U256, from: Address },
    #[error("{from} is not a registered provider: register first")]
    NotRegisteredProvider { from: Address },
    #[error("nothing to claim: {from} has no claimable {symbol}")]
    NothingToClaim { from: Address, symbol: String },
    #[error("{token} is not one of the market's tokens")]
    TokenNotAllowed { token: Address },
    #[error("the amount must be above zero")]
    ZeroAmount,
    #[error("offer {offer_id} is already {}", if *paused { "paused" } else { "running" })]
    AlreadyPaused { offer_id: U256, paused: bool },
}

/// The market's "no such offer / lease" revert of a view, as the refusal it is.
fn known(error: impl Into<Error>) -> Error {
    use crate::OpenleaseErrors as E;
    match error.into() {
        Error::Market(e) => match *e {
            E::OpenleaseUnknownOffer(e) => Refusal::UnknownOffer { offer_id: e.offerId }.into(),
            E::OpenleaseUnknownLease(e) => Refusal::UnknownLease { lease_id: e.leaseId }.into(),
            other => Error::Market(Box::new(other)),
        },
        other => other,
    }
}

/// The market as seen by any account, to prepare that account's actions: reads and calls, no key.
#[derive(Debug, Clone)]
pub struct Prepare<P> {
    provider: P,
    manifest: Manifest,
    market: Openlease::OpenleaseInstance<P>,
}

impl<P: Provider + Clone> Prepare<P> {
    pub fn new(provider: P, manifest: Manifest) -> Self {
        let market = Openlease::new(manifest.market(), provider.clone());
        Self { provider, manifest, market }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn provider(&self) -> &P {
        &self.provider
    }

    fn call<C: SolCall>(&self, from: Address, call: &C) -> UnsignedCall {
        UnsignedCall::to_market(from, self.manifest.market(), call)
    }

    /// A market's token: the manifest's entry, else the token's own symbol and decimals.
    pub async fn coin(&self, token: Address) -> Result<StablecoinEntry> {
        if let Some(listed) = self.manifest.stablecoin_at(token) {
            return Ok(listed.clone());
        }
        let erc20 = MockStablecoin::new(token, self.provider.clone());
        let (decimals, symbol) = (erc20.decimals(), erc20.symbol());
        let (decimals, symbol) = tokio::try_join!(decimals.call(), symbol.call())?;
        Ok(StablecoinEntry { symbol, address: token, decimals })
    }

    /// The latest block's timestamp.
    pub async fn now(&self) -> Result<u64> {
        let block = self.provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await?;
        let block =
            block.ok_or_else(|| Error::from(alloy::transports::TransportErrorKind::custom_str("no latest block")))?;
        Ok(block.header.timestamp)
    }

    /// An offer's terms, the parameters a new lease gets and their hash, read at one block.
    pub async fn offer_quote(&self, offer_id: U256) -> Result<OfferQuote> {
        let block = self.provider.get_block_number().await.map_err(Error::from)?;
        let at = BlockId::number(block);
        let offer = self.market.offer(offer_id).block(at).call().await?;
        let terms_hash = self.market.offerTermsHash(offer_id).block(at).call().await?;
        let params = self.market.paramsAt(U256::from(offer.paramsVersion)).block(at).call().await?;
        Ok(OfferQuote { offer_id, offer, params, terms_hash, block })
    }

    async fn existing_offer(&self, offer_id: U256) -> Result<IOpenleaseTypes::Offer> {
        let offer = self.market.offer(offer_id).call().await.map_err(known)?;
        if offer.provider == Address::ZERO {
            return Err(Refusal::UnknownOffer { offer_id }.into());
        }
        Ok(offer)
    }

    async fn existing_lease(&self, lease_id: U256) -> Result<IOpenleaseTypes::Lease> {
        let lease = self.market.lease(lease_id).call().await.map_err(known)?;
        if lease.status == u8::from(LeaseStatus::None) {
            return Err(Refusal::UnknownLease { lease_id }.into());
        }
        Ok(lease)
    }

    /// Refuses when `from` holds less than `need` of `token`.
    pub async fn ensure_balance(&self, from: Address, token: Address, need: U256) -> Result<()> {
        let have = MockStablecoin::new(token, self.provider.clone()).balanceOf(from).call().await?;
        if have < need {
            let coin = self.coin(token).await?;
            let (have, need) = (TokenAmount::of(&coin, have), TokenAmount::of(&coin, need));
            return Err(Refusal::InsufficientBalance { have, need }.into());
        }
        Ok(())
    }

    // ─── Tokens ─────────────────────────────────────────────────────────────────────────────

    /// What `from` must send before the market can pull `amount` of `token`: nothing when the
    /// allowance covers it; else an approval, after a reset to zero for a non-zero allowance
    /// (USDT, and tokens like it, refuse to change one non-zero allowance into another).
    pub async fn approvals(&self, from: Address, token: Address, amount: U256) -> Result<Vec<UnsignedCall>> {
        let market = self.manifest.market();
        let allowance = MockStablecoin::new(token, self.provider.clone()).allowance(from, market).call().await?;
        if allowance >= amount {
            return Ok(Vec::new());
        }
        let approve = |value| UnsignedCall {
            from,
            to: token,
            data: MockStablecoin::approveCall { spender: market, value }.abi_encode().into(),
            value: U256::ZERO,
        };
        let mut calls = Vec::new();
        if !allowance.is_zero() {
            calls.push(approve(U256::ZERO));
        }
        calls.push(approve(amount));
        Ok(calls)
    }

    /// `token`'s EIP-2612 permit for `owner` letting the market pull `value`, valid for
    /// [`PERMIT_LIFETIME`]; `None` if the token has no permit (it answers neither `nonces` nor
    /// `DOMAIN_SEPARATOR`).
    pub async fn permit(&self, owner: Address, token: Address, value: U256) -> Result<Option<PermitToSign>> {
        if token == Address::ZERO {
            return Ok(None);
        }
        let erc20 = MockStablecoin::new(token, self.provider.clone());
        let nonce = erc20.nonces(owner).call().await;
        let separator = erc20.DOMAIN_SEPARATOR().call().await;
        let (nonce, separator) = match (nonce, separator) {
            (Ok(nonce), Ok(separator)) => (nonce, separator),
            // A transport failure is not "no permit": only a revert or an empty answer is.
            (Err(e), _) | (_, Err(e)) => {
                return match Error::from(e) {
                    transport @ Error::Transport(_) => Err(transport),
                    _ => Ok(None),
                };
            }
        };
        let domain = match erc20.eip712Domain().call().await {
            Ok(d) => {
                let has = |bit: u8| d.fields.0[0] & bit != 0;
                let domain = Eip712Domain::new(
                    has(0x01).then(|| d.name.clone().into()),
                    has(0x02).then(|| d.version.clone().into()),
                    has(0x04).then_some(d.chainId),
                    has(0x08).then_some(d.verifyingContract),
                    has(0x10).then_some(d.salt),
                );
                (domain.separator() == separator).then_some(domain)
            }
            // Optional (EIP-5267): some nodes answer a missing function with a bare "execution
            // reverted" that reads like a transport error. Without the domain a wallet cannot be
            // asked for typed data, and the opening goes through an approval instead.
            Err(_) => None,
        };
        let deadline = U256::from(self.now().await? + PERMIT_LIFETIME);
        let permit = Permit { owner, spender: self.manifest.market(), value, nonce, deadline };
        Ok(Some(PermitToSign { permit, separator, domain, token }))
    }

    // ─── Tenant ─────────────────────────────────────────────────────────────────────────────

    /// The tenant's protections and the market's rules for opening `request` as `from`, read
    /// ahead: the offer exists, runs and has room; the duration is within its bounds; the
    /// deposit pays at least the shortest lease and no more than the whole term can use; `from`
    /// holds it. Returns the offer's token.
    pub async fn check_open_lease(&self, from: Address, request: &LeaseRequest) -> Result<StablecoinEntry> {
        let offer_id = request.offer_id;
        let offer = self.existing_offer(offer_id).await?;
        if offer.paused {
            return Err(Refusal::OfferPaused { offer_id }.into());
        }
        if offer.activeLeases >= offer.capacity {
            return Err(Refusal::OfferAtCapacity { offer_id, capacity: offer.capacity }.into());
        }
        let (duration, min, max) =
            (u64::from(request.duration), u64::from(offer.minDuration), u64::from(offer.maxDuration));
        if duration < min || duration > max {
            return Err(Refusal::DurationOutOfBounds { offer_id, duration, min, max }.into());
        }
        let coin = self.coin(offer.token).await?;
        let amount = |raw| TokenAmount::of(&coin, raw);
        let minimum = terms::full_term_cost(offer.pricePerSecond, min);
        if request.deposit < minimum {
            let (deposit, minimum) = (amount(request.deposit), amount(minimum));
            return Err(Refusal::DepositBelowMinimum { offer_id, deposit, minimum, min_duration: min }.into());
        }
        // A deposit beyond the whole term buys nothing: it would wait in escrow until the lease
        // is finalized, after its settlement window.
        let full = terms::full_term_cost(offer.pricePerSecond, duration);
        if request.deposit > full {
            return Err(Refusal::DepositBeyondTerm {
                offer_id,
                duration,
                deposit: amount(request.deposit),
                price: amount(U256::from(offer.pricePerSecond)),
                full: amount(full),
                idle: amount(request.deposit - full),
            }
            .into());
        }
        self.ensure_balance(from, coin.address, request.deposit).await?;
        Ok(coin)
    }

    /// How `from` opens `request`: by permit when the offer's token has one (and, with
    /// `wallet_domain`, tells the domain a wallet shows), else by allowance. With the request's
    /// signer authorization for the offer's provider in the same transaction.
    pub async fn open_lease(
        &self,
        from: Address,
        request: &LeaseRequest,
        wallet_domain: bool,
    ) -> Result<LeaseOpeningSteps> {
        let offer = self.market.offer(request.offer_id).call().await?;
        let permit = self.permit(from, offer.token, request.deposit).await?;
        if let Some(permit) = permit.filter(|p| !wallet_domain || p.domain.is_some()) {
            return Ok(LeaseOpeningSteps::Permit(Box::new(permit)));
        }
        // An unknown offer has no token: let the market say so rather than the approval.
        let mut calls = if offer.provider != Address::ZERO {
            self.approvals(from, offer.token, request.deposit).await?
        } else {
            Vec::new()
        };
        let r = request;
        let open = Openlease::openLeaseCall {
            offerId: r.offer_id,
            duration: r.duration,
            deposit: r.deposit,
            termsHash: r.terms_hash,
        };
        calls.push(self.with_grant(from, r.authorize, offer.provider, open.abi_encode().into())?);
        Ok(LeaseOpeningSteps::Allowance(calls))
    }

    /// The opening of `request` by `from` with `permit`'s `deadline` and its owner's `signature`.
    /// The provider is read again for the signer grant, if the request has one.
    pub async fn open_lease_with_permit(
        &self,
        from: Address,
        request: &LeaseRequest,
        deadline: U256,
        signature: &Signature,
    ) -> Result<UnsignedCall> {
        let provider = match request.authorize {
            Some(_) => self.market.offer(request.offer_id).call().await?.provider,
            None => Address::ZERO,
        };
        self.open_with_permit_call(from, request, provider, deadline, signature)
    }

    fn open_with_permit_call(
        &self,
        from: Address,
        r: &LeaseRequest,
        provider: Address,
        deadline: U256,
        signature: &Signature,
    ) -> Result<UnsignedCall> {
        let open = Openlease::openLeaseWithPermitCall {
            offerId: r.offer_id,
            duration: r.duration,
            deposit: r.deposit,
            termsHash: r.terms_hash,
            permitDeadline: deadline,
            v: 27 + u8::from(signature.v()),
            r: signature.r().into(),
            s: signature.s().into(),
        };
        self.with_grant(from, r.authorize, provider, open.abi_encode().into())
    }

    /// `call` to the market, preceded in one `multicall` by the authorization of `grant` for
    /// `provider` when there is one.
    pub fn with_grant(
        &self,
        from: Address,
        grant: Option<SignerGrant>,
        provider: Address,
        call: Bytes,
    ) -> Result<UnsignedCall> {
        let Some(g) = grant else {
            return Ok(UnsignedCall { from, to: self.manifest.market(), data: call, value: U256::ZERO });
        };
        let (cap, expires_at) = crate::tenant::signer_terms(g.cap, g.expires_at)?;
        let authorize =
            Openlease::authorizeSignerCall { signer: g.signer, provider, cap, expiresAt: expires_at }.abi_encode();
        Ok(self.call(from, &Openlease::multicallCall { data: vec![authorize.into(), call] }))
    }

    /// The token a lease pays in; refused when there is no such lease.
    pub async fn lease_token(&self, lease_id: U256) -> Result<Address> {
        let lease = self.existing_lease(lease_id).await?;
        Ok(self.market.offer(U256::from(lease.offerId)).call().await?.token)
    }

    /// The tenant's protections for topping up a running lease with `amount`: no more than its
    /// whole term can use, and held by `from`. Returns the lease's token.
    pub async fn check_top_up(&self, from: Address, lease_id: U256, amount: U256) -> Result<StablecoinEntry> {
        if amount.is_zero() {
            return Err(Refusal::ZeroAmount.into());
        }
        let lease = self.existing_lease(lease_id).await?;
        let offer = self.market.offer(U256::from(lease.offerId)).call().await?;
        let coin = self.coin(offer.token).await?;
        let now = self.now().await?;
        let end = terms::run_end(&lease).min(u64::from(lease.endsAt));
        if lease.status != u8::from(LeaseStatus::Open) || now >= u64::from(lease.endsAt) {
            let why = format!("it ended {}", format_time_from(end, now));
            return Err(Refusal::LeaseNotRunning { lease_id, why }.into());
        }
        let useful = terms::useful_top_up(&lease);
        let ends = format_time_from(u64::from(lease.endsAt), now);
        let a = |raw| TokenAmount::of(&coin, raw);
        if useful.is_zero() {
            let (deposit, amount) = (a(U256::from(lease.deposit)), a(amount));
            return Err(Refusal::TopUpUseless { lease_id, deposit, amount, end: ends }.into());
        }
        if amount > useful {
            let (idle, amount, useful) = (a(amount - useful), a(amount), a(useful));
            return Err(Refusal::TopUpBeyondTerm { lease_id, amount, useful, idle, end: ends }.into());
        }
        self.ensure_balance(from, coin.address, amount).await?;
        Ok(coin)
    }

    /// The approvals a top-up of `amount` needs, then the top-up.
    pub async fn top_up(&self, from: Address, lease_id: U256, amount: U256) -> Result<Vec<UnsignedCall>> {
        let lease = self.market.lease(lease_id).call().await?;
        let token = self.market.offer(U256::from(lease.offerId)).call().await?.token;
        let mut calls = self.approvals(from, token, amount).await?;
        calls.push(self.call(from, &Openlease::topUpCall { leaseId: lease_id, amount }));
        Ok(calls)
    }

    /// Notice on a lease, given by its tenant or its provider.
    pub async fn check_close_lease(&self, from: Address, lease_id: U256) -> Result<()> {
        let lease = self.existing_lease(lease_id).await?;
        let provider = self.market.offer(U256::from(lease.offerId)).call().await?.provider;
        if from != lease.tenant && from != provider {
            return Err(Refusal::NotLeaseParty { lease_id, from }.into());
        }
        let now = self.now().await?;
        if lease.status != u8::from(LeaseStatus::Open) || now >= u64::from(lease.endsAt) {
            let why = format!("it ends {}", format_time_from(u64::from(lease.endsAt), now));
            return Err(Refusal::LeaseNotRunning { lease_id, why }.into());
        }
        Ok(())
    }

    /// Gives notice on a lease.
    pub fn close_lease(&self, from: Address, lease_id: U256) -> UnsignedCall {
        self.call(from, &Openlease::closeLeaseCall { leaseId: lease_id })
    }

    // ─── Both ───────────────────────────────────────────────────────────────────────────────

    /// Claims `from`'s whole claimable balance in `token` to `to`; refused when there is none.
    pub async fn claim(&self, from: Address, token: Address, to: Address) -> Result<UnsignedCall> {
        if self.market.claimable(from, token).call().await?.is_zero() {
            let symbol = self.coin(token).await?.symbol;
            return Err(Refusal::NothingToClaim { from, symbol }.into());
        }
        Ok(self.claim_call(from, token, to))
    }

    /// The claim itself, unchecked.
    pub fn claim_call(&self, from: Address, token: Address, to: Address) -> UnsignedCall {
        self.call(from, &Openlease::claimCall { token, to })
    }

    // ─── Provider ───────────────────────────────────────────────────────────────────────────

    /// A provider's stake of `amount` of a market token: registered, held by `from`.
    pub async fn check_stake(&self, from: Address, token: Address, amount: U256) -> Result<StablecoinEntry> {
        if amount.is_zero() {
            return Err(Refusal::ZeroAmount.into());
        }
        let coin = self.manifest.stablecoin_at(token).cloned().ok_or(Refusal::TokenNotAllowed { token })?;
        if !self.market.providerProfile(from).call().await?.registered {
            return Err(Refusal::NotRegisteredProvider { from }.into());
        }
        self.ensure_balance(from, coin.address, amount).await?;
        Ok(coin)
    }

    /// The approvals a stake of `amount` needs, then the stake.
    pub async fn stake(&self, from: Address, token: Address, amount: U256) -> Result<Vec<UnsignedCall>> {
        let mut calls = self.approvals(from, token, amount).await?;
        calls.push(self.call(from, &Openlease::stakeCall { token, amount }));
        Ok(calls)
    }

    /// Publishing an offer: `from` must be a registered provider.
    pub async fn check_publish_offer(&self, from: Address, terms: &crate::OfferTerms) -> Result<()> {
        if self.manifest.stablecoin_at(terms.token).is_none() {
            return Err(Refusal::TokenNotAllowed { token: terms.token }.into());
        }
        if !self.market.providerProfile(from).call().await?.registered {
            return Err(Refusal::NotRegisteredProvider { from }.into());
        }
        Ok(())
    }

    /// Publishes an offer on `terms`.
    pub fn publish_offer(&self, from: Address, terms: &crate::OfferTerms) -> UnsignedCall {
        let t = *terms;
        self.call(
            from,
            &Openlease::publishOfferCall {
                token: t.token,
                pricePerSecond: t.price_per_second,
                minDuration: t.min_duration,
                maxDuration: t.max_duration,
                noticePeriod: t.notice_period,
                capacity: t.capacity,
                workload: t.workload,
                verifier: t.verifier,
            },
        )
    }

    /// Pausing (or resuming) an offer: `from` must be its provider, and it must not be so already.
    pub async fn check_set_offer_paused(&self, from: Address, offer_id: U256, paused: bool) -> Result<()> {
        let offer = self.existing_offer(offer_id).await?;
        if offer.provider != from {
            return Err(Refusal::NotOfferProvider { offer_id, from }.into());
        }
        if offer.paused == paused {
            return Err(Refusal::AlreadyPaused { offer_id, paused }.into());
        }
        Ok(())
    }

    /// Stops (or resumes) new leases of an offer.
    pub fn set_offer_paused(&self, from: Address, offer_id: U256, paused: bool) -> UnsignedCall {
        self.call(from, &Openlease::setOfferPausedCall { offerId: offer_id, paused_: paused })
    }

    /// Runs `call` against the latest block without sending it: the market's refusal, if it would
    /// revert, as [`Error::Market`].
    pub async fn simulate(&self, call: &UnsignedCall) -> Result<()> {
        self.provider.call(call.request()).await?;
        Ok(())
    }
}
