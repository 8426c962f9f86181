//! Transactions that never hang: each way a sent transaction can leave the node without being
//! mined (dropped from the pool, reorged out of its block, lost in a node restart, its nonce taken
//! by another transaction, never mined at all) ends with the transaction mined once, or with a
//! typed error within the deadline.

use std::time::{Duration, Instant};

use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    node_bindings::AnvilInstance,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::{TransactionRequest, anvil::ReorgOptions},
};
use openlease_client::{Client, Error, Manifest, TxPolicy};
use tokio::task::JoinHandle;

use crate::util::{funded_signer, spawn_anvil};

/// Quick to notice a lost transaction; fee bumps only when a test wants them.
fn policy(timeout: Duration) -> TxPolicy {
    TxPolicy {
        timeout,
        poll: Duration::from_millis(100),
        resend_after: Duration::from_millis(400),
        bump_after: Duration::from_secs(600),
        confirmations: 1,
    }
}

struct Fixture {
    anvil: AnvilInstance,
    manifest: Manifest,
    node: DynProvider,
    usdc: Address,
}

impl Fixture {
    async fn new() -> Self {
        Self::on(spawn_anvil()).await
    }

    async fn on(anvil: AnvilInstance) -> Self {
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let node = ProviderBuilder::new().connect_http(anvil.endpoint_url()).erased();
        let usdc = manifest.stablecoin("USDC").unwrap().address;
        Self { anvil, manifest, node, usdc }
    }

    async fn client(&self, index: usize, policy: TxPolicy) -> Client<DynProvider> {
        let (url, key) = (self.anvil.endpoint(), funded_signer(&self.anvil, index));
        Client::connect(&url, key, self.manifest.clone()).await.unwrap().with_tx_policy(policy)
    }

    /// Mints `amount` raw USDC to the client's account, in a task: the test meddles meanwhile.
    fn mint(&self, client: &Client<DynProvider>, amount: u64) -> JoinHandle<openlease_client::Result<B256>> {
        let client = client.clone();
        let usdc = self.usdc;
        tokio::spawn(async move {
            let token = client.token(usdc);
            let receipt = client.send(token.mint(client.address(), U256::from(amount))).await?;
            Ok(receipt.transaction_hash)
        })
    }

    async fn balance(&self, account: Address) -> U256 {
        openlease_client::contracts::MockStablecoin::new(self.usdc, &self.node).balanceOf(account).call().await.unwrap()
    }

    /// The hashes in the node's pending block, once there are `n`.
    async fn pending(&self, n: usize) -> Vec<B256> {
        for _ in 0..200 {
            let block = self.node.get_block_by_number(BlockNumberOrTag::Pending).await.unwrap();
            let hashes: Vec<B256> = block.map(|b| b.transactions.hashes().collect()).unwrap_or_default();
            if hashes.len() >= n {
                return hashes;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{n} transactions never reached the pool");
    }

    /// Mines a block every 200 ms until `task` ends; its result.
    async fn mine_until<T>(&self, task: JoinHandle<T>) -> T {
        let started = Instant::now();
        while !task.is_finished() {
            assert!(started.elapsed() < Duration::from_secs(30), "the send never ended");
            self.node.anvil_mine(Some(1), None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        task.await.unwrap()
    }
}

#[tokio::test]
async fn a_transaction_dropped_from_the_pool_is_broadcast_again_and_mined_once() {
    let f = Fixture::new().await;
    let client = f.client(4, policy(Duration::from_secs(30))).await;
    f.node.anvil_set_auto_mine(false).await.unwrap();
    let task = f.mint(&client, 1_000);
    let [hash] = f.pending(1).await[..] else { panic!("one transaction pending") };
    assert_eq!(f.node.anvil_drop_transaction(hash).await.unwrap(), Some(hash));
    assert!(f.node.get_transaction_by_hash(hash).await.unwrap().is_none(), "the node forgot it");

    let mined = f.mine_until(task).await.expect("rebroadcast and mined");
    assert_eq!(mined, hash, "the same signed transaction, broadcast again");
    assert_eq!(f.balance(client.address()).await, U256::from(1_000));
}

#[tokio::test]
async fn a_transaction_reorged_out_of_its_block_is_mined_again_once() {
    let f = Fixture::new().await;
    // Two confirmations: a receipt seen one block deep is not yet trusted.
    let client = f.client(4, TxPolicy { confirmations: 2, ..policy(Duration::from_secs(30)) }).await;
    f.node.anvil_set_auto_mine(false).await.unwrap();
    let task = f.mint(&client, 1_000);
    let [hash] = f.pending(1).await[..] else { panic!("one transaction pending") };
    f.node.anvil_mine(Some(1), None).await.unwrap();
    let first = f.node.get_transaction_receipt(hash).await.unwrap().expect("mined");
    f.node.anvil_reorg(ReorgOptions { depth: 1, tx_block_pairs: Vec::new() }).await.unwrap();
    let canonical = f.node.get_block_by_number(first.block_number.unwrap().into()).await.unwrap().unwrap();
    assert_ne!(Some(canonical.header.hash), first.block_hash, "the block that held it was reorged away");

    f.mine_until(task).await.expect("mined again after the reorg");
    let receipt = f.node.get_transaction_receipt(hash).await.unwrap().expect("in the new chain");
    let block = f.node.get_block_by_number(receipt.block_number.unwrap().into()).await.unwrap().unwrap();
    assert_eq!(Some(block.header.hash), receipt.block_hash);
    assert_eq!(f.balance(client.address()).await, U256::from(1_000), "minted once");
}

#[tokio::test]
async fn a_node_restart_that_loses_the_pool_does_not_lose_the_transaction() {
    let f = Fixture::new().await;
    let client = f.client(4, policy(Duration::from_secs(60))).await;
    f.node.anvil_set_auto_mine(false).await.unwrap();
    let task = f.mint(&client, 1_000);
    f.pending(1).await;
    // The node goes down with the transaction in its pool and comes back with the chain only.
    let state = f.node.anvil_dump_state().await.unwrap();
    let port = f.anvil.port();
    let Fixture { anvil, manifest, usdc, .. } = f;
    drop(anvil);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let anvil = openlease_testkit::anvil().port(port).try_spawn().expect("anvil restarts on its port");
    let node = ProviderBuilder::new().connect_http(anvil.endpoint_url()).erased();
    assert!(node.anvil_load_state(state).await.unwrap());
    let f = Fixture { anvil, manifest, node, usdc };

    f.mine_until(task).await.expect("broadcast again to the restarted node");
    assert_eq!(f.balance(client.address()).await, U256::from(1_000));
}

#[tokio::test]
async fn a_nonce_taken_by_another_transaction_is_a_typed_error() {
    let f = Fixture::new().await;
    let client = f.client(4, policy(Duration::from_secs(30))).await;
    f.node.anvil_set_auto_mine(false).await.unwrap();
    let task = f.mint(&client, 1_000);
    let [ours] = f.pending(1).await[..] else { panic!("one transaction pending") };
    let sent = f.node.get_transaction_by_hash(ours).await.unwrap().unwrap();

    // The same key, elsewhere, replaces it with a transfer at the same nonce and higher fees.
    let key = funded_signer(&f.anvil, 4);
    let elsewhere = openlease_testkit::wallet_provider(&f.anvil, key.clone());
    let fees = f.node.estimate_eip1559_fees().await.unwrap();
    let replacement = TransactionRequest::default()
        .with_from(key.address())
        .with_to(Address::repeat_byte(7))
        .with_value(U256::from(1))
        .with_nonce(alloy::consensus::Transaction::nonce(&sent))
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(fees.max_fee_per_gas * 3)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas * 3 + 1);
    let _replacement = elsewhere.send_transaction(replacement).await.unwrap();

    match f.mine_until(task).await {
        Err(Error::NonceConsumed { tx, nonce }) => {
            assert_eq!(tx, ours);
            assert_eq!(nonce, alloy::consensus::Transaction::nonce(&sent));
        }
        other => panic!("expected NonceConsumed, got {other:?}"),
    }
    assert_eq!(f.balance(client.address()).await, U256::ZERO, "the mint never happened");
}

#[tokio::test]
async fn a_transaction_never_mined_ends_in_a_typed_error_at_the_deadline_after_fee_bumps() {
    let f = Fixture::new().await;
    let policy = TxPolicy { bump_after: Duration::from_millis(700), ..policy(Duration::from_secs(4)) };
    let client = f.client(4, policy).await;
    f.node.anvil_set_auto_mine(false).await.unwrap();
    let started = Instant::now();
    let result = f.mint(&client, 1_000).await.unwrap();
    let waited = started.elapsed();
    match result {
        Err(Error::TransactionTimeout { nonce, waited: secs, rebroadcasts, .. }) => {
            assert!(rebroadcasts >= 2, "re-signed with higher fees while it waited: {rebroadcasts}");
            assert!(secs >= 4, "{secs}");
            assert_eq!(nonce, f.node.get_transaction_count(client.address()).await.unwrap());
        }
        other => panic!("expected TransactionTimeout, got {other:?}"),
    }
    assert!(waited < Duration::from_secs(10), "bounded by the deadline: {waited:?}");
    // Its newest version is still in the pool: once mined, it mints once.
    f.node.anvil_mine(Some(1), None).await.unwrap();
    assert_eq!(f.balance(client.address()).await, U256::from(1_000));
}
