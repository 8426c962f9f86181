//! Deterministic deployment: every contract through the CREATE2 factory, so its address follows
//! from the config and the bytecode alone. Each step first looks at the chain and only acts if it
//! is not done yet, which makes a re-run a verification and a partial deployment resumable.

use std::collections::BTreeMap;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Bytes, U256, address, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolConstructor,
};
use openlease_contracts::{HashChainVerifier, MockStablecoin, MockUSDT, Openlease, artifacts};
use serde::Deserialize;

use crate::{
    DeployError, DeployedContract, HASH_CHAIN_VERIFIER, MARKET, Manifest, Params, Roles, StablecoinEntry,
    config::{MockKind, NetworkConfig},
};

/// The deterministic-deployment proxy found on anvil and most chains: it CREATE2s
/// `calldata[32..]` with salt `calldata[..32]`.
pub const CREATE2_FACTORY: Address = address!("0x4e59b44847b379578588920ca78fbf26c0b4956c");

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeployReport {
    /// Contracts created by this run.
    pub created: Vec<String>,
    /// Contracts found in place and verified.
    pub verified: Vec<String>,
    /// Configuration transactions sent (allow-list, ownership).
    pub configured: Vec<String>,
    /// With [`Deployer::dry_run`]: each transaction a deployment would send, with its gas where
    /// the node could estimate it (calls to a contract not created yet cannot be).
    pub planned: Vec<(String, Option<u64>)>,
}

impl DeployReport {
    /// Whether the run changed nothing on chain.
    pub fn is_noop(&self) -> bool {
        self.created.is_empty() && self.configured.is_empty() && self.planned.is_empty()
    }
}

/// Chains where mock tokens and roles held by the deployer are fine: anvil's and hardhat's.
pub fn is_dev_chain(chain_id: u64) -> bool {
    matches!(chain_id, 31337 | 1337)
}

/// Deploys the suite described by a config, as `deployer`, through `provider` (which signs).
#[derive(Debug)]
pub struct Deployer<P> {
    provider: P,
    deployer: Address,
    rpc_url: String,
    config: NetworkConfig,
    tx_policy: openlease_client::TxPolicy,
    dry_run: bool,
    allow_deployer_roles: bool,
    planned: std::sync::Mutex<Vec<(String, Option<u64>)>>,
}

/// A compiled contract's artifact: what the deployed code must match.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    compiler: String,
    deployed_bytecode: Bytes,
    #[serde(default)]
    immutable_references: BTreeMap<String, Vec<ImmutableReference>>,
}

#[derive(Deserialize)]
struct ImmutableReference {
    start: usize,
    length: usize,
}

impl<P: Provider> Deployer<P> {
    /// A deployer for `config`; `rpc_url` only names the endpoint in errors.
    pub fn new(provider: P, deployer: Address, rpc_url: impl Into<String>, config: NetworkConfig) -> Self {
        Self {
            provider,
            deployer,
            rpc_url: rpc_url.into(),
            config,
            tx_policy: Default::default(),
            dry_run: false,
            allow_deployer_roles: false,
            planned: Default::default(),
        }
    }

    /// This deployer, checking and planning only: nothing is sent; [`DeployReport::planned`] says
    /// what would be, with its gas.
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// This deployer, leaving roles the config does not set to the deployer on any chain.
    pub fn allowing_deployer_roles(mut self) -> Self {
        self.allow_deployer_roles = true;
        self
    }

    /// This deployer with `policy` for following its transactions to inclusion.
    pub fn with_tx_policy(mut self, policy: openlease_client::TxPolicy) -> Self {
        self.tx_policy = policy;
        self
    }

    /// Deploys what is missing, verifies what exists, and returns the manifest.
    /// `previous` is the manifest of an earlier run, if any: it keeps transaction hashes and
    /// deploy blocks of contracts this run only verifies.
    pub async fn deploy(&self, previous: Option<&Manifest>) -> Result<(Manifest, DeployReport), DeployError> {
        let chain_id = self
            .provider
            .get_chain_id()
            .await
            .map_err(|e| DeployError::RpcUnreachable { url: self.rpc_url.clone(), message: e.to_string() })?;
        if chain_id != self.config.chain_id {
            return Err(DeployError::WrongChain { expected: self.config.chain_id, actual: chain_id });
        }
        if self.code_at(CREATE2_FACTORY).await?.is_empty() {
            return Err(DeployError::NoCreate2Factory { factory: CREATE2_FACTORY });
        }
        self.check_before_sending(chain_id).await?;
        let previous = previous.filter(|m| m.chain_id == chain_id);
        let mut report = DeployReport::default();
        let mut contracts = BTreeMap::new();
        let mut stablecoins: Vec<StablecoinEntry> = self
            .config
            .stablecoins
            .iter()
            .map(|s| StablecoinEntry { symbol: s.symbol.clone(), address: s.address, decimals: s.decimals })
            .collect();

        for mock in &self.config.mock_stablecoins {
            let name = mock.contract_name();
            let (bytecode, artifact) = match mock.kind {
                MockKind::Stablecoin => {
                    let args = MockStablecoin::constructorCall {
                        name_: mock.name.clone().unwrap_or_else(|| format!("Mock {}", mock.symbol)),
                        symbol_: mock.symbol.clone(),
                        decimals_: mock.decimals(),
                    };
                    ([&MockStablecoin::BYTECODE[..], &args.abi_encode()].concat(), artifacts::MOCK_STABLECOIN)
                }
                MockKind::Usdt => (MockUSDT::BYTECODE.to_vec(), artifacts::MOCK_USDT),
            };
            let deployed = self.ensure_contract(&name, bytecode, artifact, previous, &mut report).await?;
            stablecoins.push(StablecoinEntry {
                symbol: mock.symbol.clone(),
                address: deployed.address,
                decimals: mock.decimals(),
            });
            contracts.insert(name, deployed);
        }

        let roles = Roles {
            admin: self.config.admin.unwrap_or(self.deployer),
            treasury: self.config.treasury.unwrap_or(self.deployer),
            arbiter: self.config.arbiter.unwrap_or(self.deployer),
        };
        // The deployer owns the market first, to allow-list tokens; ownership then moves to the
        // admin by two-step transfer. The admin is therefore not part of the address.
        let args = Openlease::constructorCall {
            admin: self.deployer,
            treasury_: roles.treasury,
            params_: to_contract_params(&self.config.params, roles.arbiter),
        };
        let bytecode = [&Openlease::BYTECODE[..], &args.abi_encode()].concat();
        let market = self.ensure_contract(MARKET, bytecode, artifacts::OPENLEASE, previous, &mut report).await?;
        let market_address = market.address;
        contracts.insert(MARKET.to_string(), market);
        // The demo workload's verifier: pure and ownerless, the same contract on every chain; offers
        // that run the demo workload may name it.
        let verifier = self
            .ensure_contract(
                HASH_CHAIN_VERIFIER,
                HashChainVerifier::BYTECODE.to_vec(),
                artifacts::HASH_CHAIN_VERIFIER,
                previous,
                &mut report,
            )
            .await?;
        contracts.insert(HASH_CHAIN_VERIFIER.to_string(), verifier);

        self.configure_market(market_address, &stablecoins, roles.admin, &mut report).await?;

        report.planned = std::mem::take(&mut *self.planned.lock().expect("plan lock"));
        let deploy_block = contracts.values().filter_map(|c| c.block).min().unwrap_or_default();
        let compiler =
            serde_json::from_str::<Artifact>(artifacts::OPENLEASE).expect("the committed artifact parses").compiler;
        let manifest = Manifest {
            chain_id,
            deploy_block,
            compiler,
            create2_factory: CREATE2_FACTORY,
            contracts,
            stablecoins,
            roles,
            params: self.config.params,
        };
        Ok((manifest, report))
    }

    /// What is checked before anything is sent: the allow-listed tokens exist with the stated
    /// decimals; off development chains, no mock token and no role left to the deployer unless
    /// allowed.
    async fn check_before_sending(&self, chain_id: u64) -> Result<(), DeployError> {
        for coin in &self.config.stablecoins {
            if self.code_at(coin.address).await?.is_empty() {
                return Err(DeployError::TokenWithoutCode { symbol: coin.symbol.clone(), address: coin.address });
            }
            let actual = MockStablecoin::new(coin.address, &self.provider)
                .decimals()
                .call()
                .await
                .map_err(|e| rpc(&format!("reading the decimals of {}", coin.symbol), e))?;
            if actual != coin.decimals {
                return Err(DeployError::TokenDecimals {
                    symbol: coin.symbol.clone(),
                    address: coin.address,
                    stated: coin.decimals,
                    actual,
                });
            }
        }
        if is_dev_chain(chain_id) {
            return Ok(());
        }
        if !self.config.mock_stablecoins.is_empty() {
            let symbols: Vec<&str> = self.config.mock_stablecoins.iter().map(|m| m.symbol.as_str()).collect();
            return Err(DeployError::MockOnRealChain { chain_id, symbols: symbols.join(", ") });
        }
        let unset: Vec<&str> =
            [("admin", self.config.admin), ("treasury", self.config.treasury), ("arbiter", self.config.arbiter)]
                .into_iter()
                .filter(|(_, role)| role.is_none_or(|a| a == self.deployer))
                .map(|(name, _)| name)
                .collect();
        if !unset.is_empty() && !self.allow_deployer_roles {
            return Err(DeployError::DeployerHoldsRoles { chain_id, roles: unset.join(", "), deployer: self.deployer });
        }
        Ok(())
    }

    /// The address a contract with this creation code gets.
    pub fn address_of(&self, name: &str, creation_code: &[u8]) -> Address {
        CREATE2_FACTORY.create2_from_code(self.salt(name), creation_code)
    }

    fn salt(&self, name: &str) -> B256 {
        keccak256(format!("{}/{name}", self.config.salt))
    }

    /// Creates the contract unless it exists, and verifies the code either way.
    async fn ensure_contract(
        &self,
        name: &str,
        creation_code: Vec<u8>,
        artifact: &str,
        previous: Option<&Manifest>,
        report: &mut DeployReport,
    ) -> Result<DeployedContract, DeployError> {
        let salt = self.salt(name);
        let address = self.address_of(name, &creation_code);
        let mut code = self.code_at(address).await?;
        if code.is_empty() && self.dry_run {
            let input = [salt.as_slice(), &creation_code].concat();
            let tx = TransactionRequest::default().with_to(CREATE2_FACTORY).with_input(input);
            self.plan(tx, &format!("deploying {name}")).await?;
            return Ok(DeployedContract { address, salt, code_hash: B256::ZERO, tx_hash: None, block: None });
        }
        let (tx_hash, block) = if code.is_empty() {
            let input = [salt.as_slice(), &creation_code].concat();
            let tx = TransactionRequest::default().with_to(CREATE2_FACTORY).with_input(input);
            let receipt = self.send(tx, &format!("deploying {name}")).await?;
            code = self.code_at(address).await?;
            if code.is_empty() {
                return Err(DeployError::Transaction {
                    what: format!("deploying {name}"),
                    message: format!("the factory created no code at {address} (constructor reverted?)"),
                });
            }
            report.created.push(name.to_string());
            (Some(receipt.0), receipt.1)
        } else {
            report.verified.push(name.to_string());
            match previous.and_then(|m| m.contracts.get(name)).filter(|c| c.address == address) {
                Some(known) => (known.tx_hash, known.block),
                None => (None, Some(self.creation_block(address).await?)),
            }
        };
        verify_code(name, address, &code, artifact)?;
        Ok(DeployedContract { address, salt, code_hash: keccak256(&code), tx_hash, block })
    }

    /// Allow-lists the stablecoins and hands ownership to the admin, skipping what is done.
    async fn configure_market(
        &self,
        market: Address,
        stablecoins: &[StablecoinEntry],
        admin: Address,
        report: &mut DeployReport,
    ) -> Result<(), DeployError> {
        let openlease = Openlease::new(market, &self.provider);
        if self.dry_run && self.code_at(market).await?.is_empty() {
            // Nothing to ask a market that does not exist yet: every step is to do.
            let mut planned = self.planned.lock().expect("plan lock");
            for coin in stablecoins {
                planned.push((format!("allow-listing {} ({})", coin.symbol, coin.address), None));
            }
            if admin != self.deployer {
                planned.push((format!("transferring ownership to {admin}"), None));
            }
            return Ok(());
        }
        let owner = openlease.owner().call().await.map_err(|e| rpc("reading the owner", e))?;
        for coin in stablecoins {
            let allowed =
                openlease.isTokenAllowed(coin.address).call().await.map_err(|e| rpc("reading the allow-list", e))?;
            if allowed {
                continue;
            }
            let what = format!("allow-listing {} ({})", coin.symbol, coin.address);
            if owner != self.deployer {
                return Err(DeployError::NotOwner { what, owner, deployer: self.deployer });
            }
            self.send(openlease.setTokenAllowed(coin.address, true).into_transaction_request(), &what).await?;
            report.configured.push(what);
        }
        if owner == self.deployer && admin != self.deployer {
            let pending = openlease.pendingOwner().call().await.map_err(|e| rpc("reading the pending owner", e))?;
            if pending != admin {
                let what = format!("transferring ownership to {admin}");
                self.send(openlease.transferOwnership(admin).into_transaction_request(), &what).await?;
                report.configured.push(what);
            }
        }
        Ok(())
    }

    /// Records a transaction a dry run would send, with its gas.
    async fn plan(&self, tx: TransactionRequest, what: &str) -> Result<(), DeployError> {
        let gas =
            self.provider.estimate_gas(tx.with_from(self.deployer)).await.map_err(|e| DeployError::Transaction {
                what: what.to_string(),
                message: format!("gas estimation failed (would revert?): {e}"),
            })?;
        self.planned.lock().expect("plan lock").push((what.to_string(), Some(gas)));
        Ok(())
    }

    /// Sends a transaction after checking the deployer can pay for it; returns its hash and block.
    /// In a dry run, plans it instead.
    async fn send(&self, tx: TransactionRequest, what: &str) -> Result<(B256, Option<u64>), DeployError> {
        if self.dry_run {
            self.plan(tx, what).await?;
            return Ok((B256::ZERO, None));
        }
        let tx = tx.with_from(self.deployer);
        let gas = self.provider.estimate_gas(tx.clone()).await.map_err(|e| DeployError::Transaction {
            what: what.to_string(),
            message: format!("gas estimation failed (would revert?): {e}"),
        })?;
        let price = self.provider.get_gas_price().await.map_err(|e| rpc("reading the gas price", e))?;
        let balance = self.provider.get_balance(self.deployer).await.map_err(|e| rpc("reading the balance", e))?;
        let needed = U256::from(gas) * U256::from(price);
        if balance < needed {
            return Err(DeployError::InsufficientFunds {
                account: self.deployer,
                balance,
                needed,
                what: what.to_string(),
            });
        }
        // Followed to inclusion with rebroadcasts and a deadline: a dropped deployment never hangs.
        let receipt = openlease_client::send_transaction(&self.provider, tx.with_gas_limit(gas), &self.tx_policy)
            .await
            .map_err(|e| DeployError::Transaction { what: what.to_string(), message: e.to_string() })?;
        Ok((receipt.transaction_hash, receipt.block_number))
    }

    async fn code_at(&self, address: Address) -> Result<Bytes, DeployError> {
        self.provider
            .get_code_at(address)
            .await
            .map_err(|e| DeployError::RpcUnreachable { url: self.rpc_url.clone(), message: e.to_string() })
    }

    /// The block a contract found in place was created in, by bisection over its code.
    async fn creation_block(&self, address: Address) -> Result<u64, DeployError> {
        let mut high = self.provider.get_block_number().await.map_err(|e| rpc("reading the block number", e))?;
        let mut low = 0;
        while low < high {
            let mid = low + (high - low) / 2;
            let code = self
                .provider
                .get_code_at(address)
                .number(mid)
                .await
                .map_err(|e| rpc("looking up the creation block", e))?;
            if code.is_empty() { low = mid + 1 } else { high = mid }
        }
        Ok(low)
    }
}

/// Checks deployed code against the artifact's runtime bytecode. Immutables are filled in at
/// deployment (chain id, own address, token decimals), so their ranges are not compared.
pub fn verify_code(name: &str, address: Address, code: &[u8], artifact: &str) -> Result<(), DeployError> {
    let artifact: Artifact = serde_json::from_str(artifact).expect("the committed artifact parses");
    let expected = &artifact.deployed_bytecode;
    let mismatch = |detail: String| DeployError::CodeMismatch { name: name.to_string(), address, detail };
    if code.len() != expected.len() {
        return Err(mismatch(format!("{} bytes of code, expected {}", code.len(), expected.len())));
    }
    let mut masked = vec![false; code.len()];
    for reference in artifact.immutable_references.values().flatten() {
        masked[reference.start..reference.start + reference.length].fill(true);
    }
    if let Some(offset) = (0..code.len()).find(|&i| !masked[i] && code[i] != expected[i]) {
        return Err(mismatch(format!("the code differs from the artifact at byte {offset}")));
    }
    Ok(())
}

fn to_contract_params(p: &Params, arbiter: Address) -> openlease_contracts::IOpenleaseTypes::Params {
    openlease_contracts::IOpenleaseTypes::Params {
        arbiter,
        protocolFeeBps: p.protocol_fee_bps,
        bondBps: p.bond_bps,
        slashCutBps: p.slash_cut_bps,
        maxDisputeSlashBps: p.max_dispute_slash_bps,
        disputeBondBps: p.dispute_bond_bps,
        settlementWindow: p.settlement_window,
        disputePeriod: p.dispute_period,
        unbondingPeriod: p.unbonding_period,
    }
}

fn rpc(what: &str, error: impl std::fmt::Display) -> DeployError {
    DeployError::Rpc { what: what.to_string(), message: error.to_string() }
}
