//! [`Client`]: one account talking to the market. Construction, sending, and the views shared by
//! both sides; the provider's calls are in [`crate::provider`], the tenant's in [`crate::tenant`].

use std::{collections::HashMap, sync::Arc};

use alloy::{
    contract::{CallBuilder, CallDecoder},
    eips::BlockNumberOrTag,
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
};
use openlease_contracts::{IOpenleaseTypes, MockStablecoin, Openlease};
use openlease_rpc::RetryPolicy;
use tokio::sync::Mutex;

use crate::{
    Error, Manifest, ReceiptDomain, ReceiptSigner, Result, SignerTerms, StablecoinEntry, TokenAmount, TxPolicy,
    receipt::ReceiptBook,
    risk::{Exposure, Runway, StakeView},
};

/// The market as one account sees it: a provider, a tenant, or both.
///
/// Generic over the alloy provider; [`Client::connect`] builds one from a URL whose requests are
/// asked again while the node refuses (429) or fails them (5xx, a lost connection), never after
/// a revert (see [`openlease_rpc`]). Transactions
/// of one client are sent one at a time up to the node's acceptance, so concurrent calls never
/// take the same nonce; waiting for their receipts runs concurrently.
#[derive(Debug, Clone)]
pub struct Client<P> {
    provider: P,
    signer: PrivateKeySigner,
    manifest: Manifest,
    market: Openlease::OpenleaseInstance<P>,
    send_lock: Arc<Mutex<()>>,
    tx_policy: TxPolicy,
    /// Tokens' symbols and decimals, read from each token once ([`Client::coin`]).
    coins: Arc<std::sync::Mutex<HashMap<Address, StablecoinEntry>>>,
}

impl Client<DynProvider> {
    /// Connects to `rpc_url` (`http(s)://` or `ws(s)://`) as `signer`, for the market of
    /// `manifest`, after checking that the node is on the manifest's chain.
    pub async fn connect(rpc_url: &str, signer: PrivateKeySigner, manifest: Manifest) -> Result<Self> {
        Self::connect_with(rpc_url, signer, manifest, RetryPolicy::default()).await
    }

    /// Like [`Client::connect`], retrying requests under `policy` (a rate cap, a patience).
    pub async fn connect_with(
        rpc_url: &str,
        signer: PrivateKeySigner,
        manifest: Manifest,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let rpc = openlease_rpc::connect(rpc_url, policy).await?;
        // The node's pending count, asked under `send`'s lock, is the next nonce: a call that
        // reverts in gas estimation takes none, and another program sending as the same account
        // is seen. (alloy's default cached nonces advance before broadcast and never resync.)
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer.clone()))
            .connect_client(rpc)
            .erased();
        let node = provider.get_chain_id().await?;
        if node != manifest.chain_id {
            return Err(Error::WrongChain { manifest: manifest.chain_id, node });
        }
        Ok(Self::new(provider, signer, manifest))
    }
}

impl<P: Provider + Clone> Client<P> {
    /// A client over an existing provider, which must sign transactions as `signer` (a wallet filler).
    /// Give it simple nonce management (`ProviderBuilder::with_simple_nonce_management`): alloy's
    /// default cached nonces advance even when gas estimation reverts, leaving a gap that stalls
    /// every later transaction.
    pub fn new(provider: P, signer: PrivateKeySigner, manifest: Manifest) -> Self {
        let market = Openlease::new(manifest.market(), provider.clone());
        Self {
            provider,
            signer,
            manifest,
            market,
            send_lock: Arc::new(Mutex::new(())),
            tx_policy: TxPolicy::default(),
            coins: Arc::default(),
        }
    }

    /// This client with `policy` for following its transactions to inclusion.
    pub fn with_tx_policy(mut self, policy: TxPolicy) -> Self {
        self.tx_policy = policy;
        self
    }

    /// How this client follows its transactions to inclusion.
    pub fn tx_policy(&self) -> &TxPolicy {
        &self.tx_policy
    }

    /// The account this client acts as.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The underlying alloy provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The deployment manifest in use.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The market's bindings, for anything this client does not wrap.
    pub fn market(&self) -> &Openlease::OpenleaseInstance<P> {
        &self.market
    }

    /// A stablecoin's bindings (the ERC-20 part works for any token).
    pub fn token(&self, token: Address) -> MockStablecoin::MockStablecoinInstance<P> {
        MockStablecoin::new(token, self.provider.clone())
    }

    /// The EIP-712 domain receipts of this market are signed under.
    pub fn receipt_domain(&self) -> ReceiptDomain {
        ReceiptDomain::new(self.manifest.chain_id, self.manifest.market())
    }

    /// A receipt signer with `key` for this market.
    pub fn receipt_signer(&self, key: PrivateKeySigner) -> ReceiptSigner {
        ReceiptSigner::new(key, self.receipt_domain())
    }

    pub(crate) fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// Sends a call (of the market, a token, any contract on this provider) as this account and
    /// follows it to its receipt under [`Self::tx_policy`] (see [`crate::tx`]: rebroadcast when
    /// dropped, a typed error at the deadline); a mined failure is an error. The lock covers nonce
    /// assignment and broadcast only: a call that fails before broadcast (a revert in gas
    /// estimation) takes no nonce, so the next one is never stuck behind a gap.
    pub async fn send<C: CallDecoder>(&self, call: CallBuilder<&P, C>) -> Result<TransactionReceipt> {
        let request = call.from(self.address()).into_transaction_request();
        crate::tx::send_locked(&self.provider, request, &self.tx_policy, &self.send_lock).await
    }

    /// What this client's actions are built from, for any account: the same steps a wallet is
    /// given ([`crate::prepare`]).
    pub fn prepare(&self) -> crate::prepare::Prepare<P> {
        crate::prepare::Prepare::new(self.provider.clone(), self.manifest.clone())
    }

    /// Sends a prepared call as this account (its `from` must be this client's) and follows it
    /// to its receipt, like [`Self::send`].
    pub async fn send_call(&self, call: crate::prepare::UnsignedCall) -> Result<TransactionReceipt> {
        crate::tx::send_locked(&self.provider, call.request(), &self.tx_policy, &self.send_lock).await
    }

    /// Sends prepared calls one after the other, each once the one before is mined; the last
    /// one's receipt.
    pub async fn send_calls(&self, calls: Vec<crate::prepare::UnsignedCall>) -> Result<TransactionReceipt> {
        let mut last = None;
        for call in calls {
            last = Some(self.send_call(call).await?);
        }
        last.ok_or_else(|| Error::from(alloy::transports::TransportErrorKind::custom_str("no call to send")))
    }

    /// The latest block's timestamp: the market's `block.timestamp` for the next call.
    pub async fn now(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| Error::from(alloy::transports::TransportErrorKind::custom_str("no latest block")))?;
        Ok(block.header.timestamp)
    }

    // ─── Views ──────────────────────────────────────────────────────────────────────────────

    /// A lease with its terms in force.
    pub async fn lease(&self, lease_id: U256) -> Result<IOpenleaseTypes::Lease> {
        let lease = self.market.lease(lease_id).call().await?;
        if lease.status == u8::from(crate::status::LeaseStatus::None) {
            return Err(Error::UnknownLease { lease_id, market: self.manifest.market() });
        }
        Ok(lease)
    }

    /// An offer's current terms.
    pub async fn offer(&self, offer_id: U256) -> Result<IOpenleaseTypes::Offer> {
        Ok(self.market.offer(offer_id).call().await?)
    }

    /// What `account` can claim in `token`.
    pub async fn claimable(&self, account: Address, token: Address) -> Result<U256> {
        Ok(self.market.claimable(account, token).call().await?)
    }

    /// `account`'s balance of `token`.
    pub async fn balance(&self, token: Address, account: Address) -> Result<U256> {
        Ok(self.token(token).balanceOf(account).call().await?)
    }

    /// What `tenant` allows `signer` for the leases of `provider`: cap, spent, expiry.
    pub async fn session_signer(&self, tenant: Address, signer: Address, provider: Address) -> Result<SignerTerms> {
        Ok(self.market.sessionSigner(tenant, signer, provider).call().await?.into())
    }

    /// `token`'s symbol and decimals. The decimals are the token's own, read from it once and
    /// kept: the one source of them. A manifest that lists the token with other decimals is
    /// stale and refused ([`Error::StaleDecimals`]), since amounts read in its decimals would be
    /// off by powers of ten. The symbol is the manifest's label where it has one.
    pub async fn coin(&self, token: Address) -> Result<StablecoinEntry> {
        if let Some(coin) = self.coins.lock().expect("coins lock").get(&token) {
            return Ok(coin.clone());
        }
        let erc20 = self.token(token);
        let (decimals, symbol) = (erc20.decimals(), erc20.symbol());
        let (decimals, symbol) = tokio::try_join!(decimals.call(), symbol.call())?;
        let coin = match self.manifest.stablecoin_at(token) {
            Some(listed) if listed.decimals != decimals => {
                return Err(Error::StaleDecimals { token, manifest: listed.decimals, token_says: decimals });
            }
            Some(listed) => listed.clone(),
            None => StablecoinEntry { symbol, address: token, decimals },
        };
        self.coins.lock().expect("coins lock").insert(token, coin.clone());
        Ok(coin)
    }

    /// An amount of `token` in its units, for display (`12.5 USDC`).
    pub fn amount(&self, token: Address, raw: U256) -> TokenAmount {
        match self.manifest.stablecoin_at(token) {
            Some(coin) => TokenAmount::new(raw, coin.decimals, coin.symbol.clone()),
            None => TokenAmount::new(raw, 0, token.to_string()),
        }
    }

    // ─── Risk ───────────────────────────────────────────────────────────────────────────────

    /// How long a lease still runs: seconds until `leaseEnd` (the end or the escrow's runway).
    pub async fn runway(&self, lease_id: U256) -> Result<Runway> {
        self.lease(lease_id).await?;
        let lease_end = self.market.leaseEnd(lease_id).call().await?.to::<u64>();
        Ok(Runway { lease_id, lease_end, now: self.now().await? })
    }

    /// What the newest receipt kept in `book` is owed beyond what the market settled, against
    /// what the escrow still holds.
    pub async fn exposure(&self, lease_id: U256, book: &ReceiptBook) -> Result<Exposure> {
        let lease = self.lease(lease_id).await?;
        Ok(Exposure::new(lease_id, &lease, book.accepted(lease_id)))
    }

    /// The provider's guard before serving work worth `next` more: an error once the unsettled
    /// value would exceed what the lease's escrow can still pay.
    pub async fn ensure_can_serve(&self, lease_id: U256, book: &ReceiptBook, next: U256) -> Result<Exposure> {
        let exposure = self.exposure(lease_id, book).await?;
        exposure.ensure_covers(next)?;
        Ok(exposure)
    }

    /// `provider`'s stake in `token`: free, locked in bonds, thawing.
    pub async fn stake_of(&self, provider: Address, token: Address) -> Result<StakeView> {
        Ok(self.market.stakeOf(provider, token).call().await?.into())
    }

    // ─── Tokens ─────────────────────────────────────────────────────────────────────────────

    /// Approves the market for `amount` of `token` unless the allowance already covers it. A
    /// smaller non-zero allowance is reset to zero first: USDT, and tokens like it, refuse to
    /// change one non-zero allowance into another.
    pub async fn ensure_allowance(&self, token: Address, amount: U256) -> Result<()> {
        for approval in self.prepare().approvals(self.address(), token, amount).await? {
            self.send_call(approval).await?;
        }
        Ok(())
    }

    /// Claims the whole claimable balance in `token` to `to`; returns the amount.
    pub async fn claim(&self, token: Address, to: Address) -> Result<U256> {
        let receipt = self.send_call(self.prepare().claim_call(self.address(), token, to)).await?;
        let claimed = crate::events::find::<Openlease::Claimed>(&receipt)?;
        Ok(claimed.amount)
    }
}

impl<P: Provider + Clone> Client<P> {
    /// `provider`'s current profile, read from its newest `ProviderRegistered` or
    /// `ProviderUpdated` event; `None` if it never registered.
    pub async fn provider_details(&self, provider: Address) -> Result<Option<crate::ProviderDetails>> {
        let registered = self.market().ProviderRegistered_filter().topic1(provider.into_word());
        let registered = registered.from_block(self.manifest().deploy_block).query().await?;
        let updated = self.market().ProviderUpdated_filter().topic1(provider.into_word());
        let updated = updated.from_block(self.manifest().deploy_block).query().await?;
        let newest = registered
            .into_iter()
            .map(|(e, log)| (log.block_number, log.log_index, e.metadataURI, e.endpoint, e.region, e.attributesHash))
            .chain(updated.into_iter().map(|(e, log)| {
                (log.block_number, log.log_index, e.metadataURI, e.endpoint, e.region, e.attributesHash)
            }))
            .max_by_key(|(block, index, ..)| (*block, *index));
        Ok(newest.map(|(_, _, metadata_uri, endpoint, region, attributes_hash)| crate::ProviderDetails {
            metadata_uri,
            endpoint,
            region,
            attributes_hash,
        }))
    }

    /// Until when receipts of a lease can be settled: its end plus the settlement window.
    pub async fn settlement_deadline(&self, lease_id: U256) -> Result<u64> {
        self.lease(lease_id).await?;
        Ok(self.market().settlementDeadline(lease_id).call().await?.to::<u64>())
    }
}

impl<P: Provider + Clone> Client<P> {
    /// The bond a tenant posts to dispute a lease, in raw units of the lease's token: the lease's own
    /// `disputeBondBps` (its parameters version) of its SLA bond, rounded down, as `openDispute`
    /// computes it.
    pub async fn dispute_bond(&self, lease_id: U256) -> Result<U256> {
        let lease = self.lease(lease_id).await?;
        let params = self.market.leaseParams(lease_id).call().await?;
        Ok(U256::from(lease.bond) * U256::from(params.disputeBondBps) / U256::from(10_000))
    }
}
