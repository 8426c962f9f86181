//! Sending a transaction and following it to inclusion, with a deadline.
//!
//! A transaction can leave the node without being mined: dropped or evicted from its pool,
//! reorged out of a block, lost when the node restarts. Waiting for its receipt would then wait
//! forever. [`send_transaction`] fixes every field of the transaction (so signing it again gives
//! the same transaction, byte for byte) and watches it: when the node no longer knows it, it is
//! broadcast again; when it sits in the pool for long, it is re-signed with higher fees (same
//! nonce). It ends with the receipt, with
//! [`Error::NonceConsumed`] when another transaction of the account took its nonce, or with
//! [`Error::TransactionTimeout`] at the deadline: never a silent wait.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
};

use crate::{Error, Result};

/// How a transaction is followed to inclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPolicy {
    /// The most a send may take, broadcast to receipt; then [`Error::TransactionTimeout`].
    pub timeout: Duration,
    /// Between two looks at the node.
    pub poll: Duration,
    /// How long the node may not know the transaction before it is broadcast again.
    pub resend_after: Duration,
    /// How long it may wait in the pool before it is re-signed with fees 20% higher.
    pub bump_after: Duration,
    /// Blocks on top of the receipt's, itself included, before it counts: at 1 a receipt is
    /// returned as soon as it exists; more rides out shallow reorgs (the receipt is checked to
    /// still be in the canonical chain).
    pub confirmations: u64,
}

impl Default for TxPolicy {
    /// Three minutes; a look every half second; a dropped transaction broadcast again after 3 s;
    /// fees bumped after 30 s in the pool; one confirmation.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(180),
            poll: Duration::from_millis(500),
            resend_after: Duration::from_secs(3),
            bump_after: Duration::from_secs(30),
            confirmations: 1,
        }
    }
}

/// A transaction with every field fixed, sent and followed.
struct Sent {
    from: Address,
    nonce: u64,
    request: TransactionRequest,
    /// Every version broadcast (each fee bump is a new hash), newest last: any may be mined.
    hashes: Vec<B256>,
}

impl Sent {
    fn newest(&self) -> B256 {
        *self.hashes.last().expect("one hash at least")
    }
}

/// Gas given beyond the estimate: one part in this many (20%).
const GAS_HEADROOM_DIVISOR: u64 = 5;

/// Completes `request` (nonce from the account's pending count, gas by estimation, EIP-1559 fees,
/// chain id), has `provider`'s wallet sign it and broadcasts it. A call that would revert fails
/// here, in gas estimation, taking no nonce. Callers that send concurrently as one account
/// serialize this step (see [`crate::Client::send`]).
async fn broadcast<P: Provider>(provider: &P, mut request: TransactionRequest) -> Result<Sent> {
    let from = request.from.ok_or(Error::MissingSender)?;
    if request.nonce.is_none() {
        request.nonce = Some(provider.get_transaction_count(from).pending().await?);
    }
    if request.gas.is_none() {
        // An estimate is exact for the state and block it was made on; the transaction runs in a
        // later block (another timestamp, other transactions before it), where the same call can
        // take a little more: a settlement pays up to its receipt's period end or the block's
        // time, whichever is first. Unused gas is not charged.
        let estimate = provider.estimate_gas(request.clone()).await?;
        request.gas = Some(estimate + estimate / GAS_HEADROOM_DIVISOR);
    }
    if request.max_fee_per_gas.is_none() || request.max_priority_fee_per_gas.is_none() {
        let fees = provider.estimate_eip1559_fees().await?;
        request.max_fee_per_gas = Some(fees.max_fee_per_gas);
        request.max_priority_fee_per_gas = Some(fees.max_priority_fee_per_gas);
    }
    if request.chain_id.is_none() {
        request.chain_id = Some(provider.get_chain_id().await?);
    }
    let nonce = request.nonce.expect("set above");
    let hash = *provider.send_transaction(request.clone()).await?.tx_hash();
    Ok(Sent { from, nonce, request, hashes: vec![hash] })
}

/// Sends `request` from `request.from` through `provider` (which signs: a wallet filler) and
/// follows it to its receipt under `policy`. A mined transaction that reverted is
/// [`Error::TransactionReverted`].
pub async fn send_transaction<P: Provider>(
    provider: &P,
    request: TransactionRequest,
    policy: &TxPolicy,
) -> Result<TransactionReceipt> {
    let sent = broadcast(provider, request).await?;
    follow(provider, sent, policy).await
}

/// [`send_transaction`] with the broadcast under `lock`: the nonce is taken and the transaction
/// accepted by the node before another sender of the account takes the next one.
pub(crate) async fn send_locked<P: Provider>(
    provider: &P,
    request: TransactionRequest,
    policy: &TxPolicy,
    lock: &tokio::sync::Mutex<()>,
) -> Result<TransactionReceipt> {
    let sent = {
        let _turn = lock.lock().await;
        broadcast(provider, request).await?
    };
    follow(provider, sent, policy).await
}

async fn follow<P: Provider>(provider: &P, mut sent: Sent, policy: &TxPolicy) -> Result<TransactionReceipt> {
    let started = Instant::now();
    let mut last_broadcast = Instant::now();
    let mut rebroadcasts = 0u32;
    let mut last_error: Option<String> = None;
    loop {
        if started.elapsed() >= policy.timeout {
            return Err(Error::TransactionTimeout {
                tx: sent.newest(),
                nonce: sent.nonce,
                waited: started.elapsed().as_secs(),
                rebroadcasts,
                last_error,
            });
        }
        tokio::time::sleep(policy.poll).await;
        match look(provider, &sent, policy).await {
            Ok(Look::Included(receipt)) => {
                if !receipt.status() {
                    return Err(Error::TransactionReverted { tx: receipt.transaction_hash });
                }
                return Ok(*receipt);
            }
            Ok(Look::Confirming) => {}
            Ok(Look::Pending) if last_broadcast.elapsed() >= policy.bump_after => {
                // Same nonce, fees up 20% (nodes want at least 10% to replace): a new hash.
                let bump = |fee: Option<u128>| fee.map(|f| f + f / 5 + 1);
                sent.request.max_fee_per_gas = bump(sent.request.max_fee_per_gas);
                sent.request.max_priority_fee_per_gas = bump(sent.request.max_priority_fee_per_gas);
                match provider.send_transaction(sent.request.clone()).await {
                    Ok(pending) => {
                        sent.hashes.push(*pending.tx_hash());
                        rebroadcasts += 1;
                    }
                    Err(e) => last_error = Some(e.to_string()),
                }
                last_broadcast = Instant::now();
            }
            Ok(Look::Pending) => {}
            Ok(Look::Unknown) if last_broadcast.elapsed() >= policy.resend_after => {
                tracing::info!(tx = %sent.newest(), nonce = sent.nonce, "the node lost the transaction: broadcasting it again");
                // Every field is fixed: signed again, it is the same transaction.
                match provider.send_transaction(sent.request.clone()).await {
                    Ok(_) => rebroadcasts += 1,
                    Err(e) => last_error = Some(e.to_string()),
                }
                last_broadcast = Instant::now();
            }
            Ok(Look::Unknown) => {}
            Ok(Look::NonceTaken) => {
                return Err(Error::NonceConsumed { tx: sent.newest(), nonce: sent.nonce });
            }
            // The node is down or restarting: keep looking until the deadline.
            Err(e) => last_error = Some(e.to_string()),
        }
    }
}

/// What the node says of a sent transaction.
enum Look {
    /// Mined with enough confirmations, in the canonical chain.
    Included(Box<TransactionReceipt>),
    /// Mined, not yet deep enough.
    Confirming,
    /// In the node's pool.
    Pending,
    /// Neither mined nor in the pool: dropped, evicted, reorged out, or the node restarted.
    Unknown,
    /// The account's mined nonce passed it, and none of its versions was mined.
    NonceTaken,
}

async fn look<P: Provider>(provider: &P, sent: &Sent, policy: &TxPolicy) -> Result<Look> {
    for hash in sent.hashes.iter().rev() {
        let Some(receipt) = provider.get_transaction_receipt(*hash).await? else { continue };
        let Some(number) = receipt.block_number else { continue };
        if policy.confirmations <= 1 {
            return Ok(Look::Included(Box::new(receipt)));
        }
        let head = provider.get_block_number().await?;
        if head + 1 < number + policy.confirmations {
            return Ok(Look::Confirming);
        }
        // Still the block it was mined in: a reorg since would have replaced it.
        let block = provider.get_block_by_number(number.into()).await?;
        if block.is_some_and(|b| Some(b.header.hash) == receipt.block_hash) {
            return Ok(Look::Included(Box::new(receipt)));
        }
        return Ok(Look::Unknown);
    }
    if provider.get_transaction_by_hash(sent.newest()).await?.is_some() {
        return Ok(Look::Pending);
    }
    let mined = provider.get_transaction_count(sent.from).latest().await?;
    if mined > sent.nonce {
        // Mined meanwhile under one of its hashes? Look once more before calling the nonce lost.
        for hash in &sent.hashes {
            if let Some(receipt) = provider.get_transaction_receipt(*hash).await? {
                return Ok(Look::Included(Box::new(receipt)));
            }
        }
        return Ok(Look::NonceTaken);
    }
    Ok(Look::Unknown)
}
