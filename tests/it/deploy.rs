//! The deploy tool: deterministic deployment, idempotent re-runs, partial resumes, tampering, and
//! the errors a user meets.

use std::path::Path;

use alloy::{
    primitives::{Bytes, U256, keccak256},
    providers::{Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use openlease_contracts::{MockStablecoin, Openlease};
use openlease_deploy::{DeployError, Deployer, HASH_CHAIN_VERIFIER, MARKET, Manifest, NetworkConfig};

use crate::util::{TempDir, devnet_config, funded_signer, nonce, provider_for, spawn_anvil};

#[tokio::test]
async fn deploys_the_suite_and_writes_a_manifest_that_reads_back() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let provider = provider_for(&anvil, signer.clone());
    let config = devnet_config();

    let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), config.clone());
    let (manifest, report) = deployer.deploy(None).await.expect("deploys");

    assert_eq!(report.created, ["MockUSDC", "MockDAI", "MockUSDT", MARKET, HASH_CHAIN_VERIFIER]);
    assert!(report.verified.is_empty());
    assert_eq!(report.configured.len(), 3, "three stablecoins allow-listed: {:?}", report.configured);
    assert_eq!(manifest.chain_id, 31337);
    assert!(manifest.deploy_block > 0);
    for (name, contract) in &manifest.contracts {
        let code = provider.get_code_at(contract.address).await.unwrap();
        assert_eq!(keccak256(&code), contract.code_hash, "{name}");
        assert!(contract.tx_hash.is_some() && contract.block.is_some(), "{name}");
    }

    let market = Openlease::new(manifest.market(), &provider);
    let params = market.params().call().await.unwrap();
    assert_eq!(params.bondBps, config.params.bond_bps);
    assert_eq!(params.unbondingPeriod, config.params.unbonding_period);
    assert_eq!(params.arbiter, config.arbiter.unwrap());
    assert_eq!(market.paramsVersion().call().await.unwrap(), U256::from(1), "the first version is in force at once");
    assert_eq!(market.treasury().call().await.unwrap(), signer.address());
    for coin in &manifest.stablecoins {
        assert!(market.isTokenAllowed(coin.address).call().await.unwrap(), "{} allow-listed", coin.symbol);
    }
    let usdc = MockStablecoin::new(manifest.stablecoin("usdc").unwrap().address, &provider);
    assert_eq!(usdc.decimals().call().await.unwrap(), 6);

    let dir = TempDir::new("deploy");
    let path = Manifest::path(dir.path(), manifest.chain_id);
    manifest.save(&path).unwrap();
    assert_eq!(Manifest::load(&path).unwrap(), manifest);
}

#[tokio::test]
async fn addresses_follow_from_the_config_alone() {
    let (first, second) = (spawn_anvil(), spawn_anvil());
    let mut addresses = Vec::new();
    for anvil in [&first, &second] {
        let signer = funded_signer(anvil, 0);
        let deployer =
            Deployer::new(provider_for(anvil, signer.clone()), signer.address(), anvil.endpoint(), devnet_config());
        let (manifest, _) = deployer.deploy(None).await.unwrap();
        addresses.push(manifest.contracts.values().map(|c| c.address).collect::<Vec<_>>());
    }
    assert_eq!(addresses[0], addresses[1]);
}

#[tokio::test]
async fn a_second_run_verifies_and_changes_nothing() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let provider = provider_for(&anvil, signer.clone());
    let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), devnet_config());
    let (first, _) = deployer.deploy(None).await.unwrap();
    let sent = nonce(&provider, &signer).await;

    let (second, report) = deployer.deploy(Some(&first)).await.unwrap();
    assert!(report.is_noop(), "{report:?}");
    assert_eq!(report.verified.len(), 5);
    assert_eq!(nonce(&provider, &signer).await, sent, "no transaction sent");
    assert_eq!(second, first, "the manifest keeps transaction hashes and blocks");

    // Without the old manifest the run still finds the creation blocks.
    let (third, _) = deployer.deploy(None).await.unwrap();
    assert_eq!(third.deploy_block, first.deploy_block);
    assert!(third.contracts.values().all(|c| c.tx_hash.is_none()));
}

#[tokio::test]
async fn a_partial_deployment_resumes() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let provider = provider_for(&anvil, signer.clone());
    let full = devnet_config();
    let mut partial = full.clone();
    partial.mock_stablecoins.truncate(1);

    let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), partial);
    deployer.deploy(None).await.unwrap();
    let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), full);
    let (manifest, report) = deployer.deploy(None).await.unwrap();

    assert_eq!(report.created, ["MockDAI", "MockUSDT"]);
    assert_eq!(report.verified, ["MockUSDC", MARKET, HASH_CHAIN_VERIFIER]);
    assert_eq!(report.configured.len(), 2, "only the new tokens are allow-listed");
    let market = Openlease::new(manifest.market(), &provider);
    for coin in &manifest.stablecoins {
        assert!(market.isTokenAllowed(coin.address).call().await.unwrap());
    }
}

#[tokio::test]
async fn tampered_code_at_an_expected_address_is_detected() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let provider = provider_for(&anvil, signer.clone());
    let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), devnet_config());
    let (manifest, _) = deployer.deploy(None).await.unwrap();

    // Same length, one byte changed: a lookalike that a length check alone would miss.
    let mut code = provider.get_code_at(manifest.market()).await.unwrap().to_vec();
    let last = code.len() - 1;
    code[last] ^= 0xff;
    provider.anvil_set_code(manifest.market(), Bytes::from(code)).await.unwrap();

    match deployer.deploy(Some(&manifest)).await {
        Err(DeployError::CodeMismatch { name, address, detail }) => {
            assert_eq!(name, MARKET);
            assert_eq!(address, manifest.market());
            assert!(detail.contains("differs"), "{detail}");
        }
        other => panic!("expected a code mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn refuses_a_config_for_another_chain() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let mut config = devnet_config();
    config.chain_id = 1;
    let deployer = Deployer::new(provider_for(&anvil, signer.clone()), signer.address(), anvil.endpoint(), config);
    let error = deployer.deploy(None).await.unwrap_err();
    assert!(matches!(error, DeployError::WrongChain { expected: 1, actual: 31337 }), "{error}");
    assert!(error.to_string().contains("config is for chain 1"));
}

#[tokio::test]
async fn says_when_the_rpc_is_down() {
    let anvil = spawn_anvil();
    let signer = funded_signer(&anvil, 0);
    let endpoint = anvil.endpoint();
    let provider = provider_for(&anvil, signer.clone());
    drop(anvil);
    let deployer = Deployer::new(provider, signer.address(), endpoint.clone(), devnet_config());
    let error = deployer.deploy(None).await.unwrap_err();
    assert!(matches!(error, DeployError::RpcUnreachable { ref url, .. } if *url == endpoint), "{error}");
    assert!(error.to_string().contains("Is the node running"));
}

#[tokio::test]
async fn says_when_the_deployer_cannot_pay() {
    let anvil = spawn_anvil();
    let broke = PrivateKeySigner::random();
    let deployer =
        Deployer::new(provider_for(&anvil, broke.clone()), broke.address(), anvil.endpoint(), devnet_config());
    match deployer.deploy(None).await.unwrap_err() {
        DeployError::InsufficientFunds { account, balance, needed, what } => {
            assert_eq!(account, broke.address());
            assert!(balance.is_zero() && !needed.is_zero());
            assert!(what.contains("MockUSDC"), "{what}");
        }
        other => panic!("expected insufficient funds, got {other}"),
    }
}

#[test]
fn a_malformed_config_names_the_offending_key() {
    let path = Path::new("deploy/config/broken.toml");
    let base = std::fs::read_to_string(NetworkConfig::path_for(&openlease_testkit::repo_root(), "devnet")).unwrap();

    let typo = base.replace("salt =", "salf =");
    let error = NetworkConfig::parse(&typo, path).unwrap_err().to_string();
    assert!(error.contains("salf") && error.contains("broken.toml"), "{error}");

    let out_of_bounds = base.replace("bond_bps = 20000", "bond_bps = 60000");
    let error = NetworkConfig::parse(&out_of_bounds, path).unwrap_err().to_string();
    assert!(error.contains("params.bond_bps") && error.contains("[1000, 50000]"), "{error}");

    let bad_address = base.replace("0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "0x14dC");
    let error = NetworkConfig::parse(&bad_address, path).unwrap_err().to_string();
    assert!(error.contains("arbiter"), "{error}");
}

/// Off a development chain the tool checks before it sends anything: every allow-listed token has
/// code and the stated decimals, no mock token is deployed, no role is left to the deployer unless
/// allowed; `dry_run` plans the deployment with its gas and sends nothing.
#[tokio::test]
async fn off_a_dev_chain_tokens_mocks_and_roles_are_checked_before_anything_is_sent() {
    use alloy::primitives::Address;
    use openlease_deploy::Stablecoin;
    let sepolia = 11_155_111;
    let anvil = openlease_testkit::anvil().chain_id(sepolia).try_spawn().expect("anvil starts");
    let signer = funded_signer(&anvil, 0);
    let provider = provider_for(&anvil, signer.clone());
    // The chain's own USDC (a token with 6 decimals, deployed apart from the suite).
    let usdc = MockStablecoin::deploy(&provider, "USD Coin".into(), "USDC".into(), 6).await.unwrap();
    let usdc = Stablecoin { symbol: "USDC".into(), address: *usdc.address(), decimals: 6 };
    let config = NetworkConfig {
        chain_id: sepolia,
        admin: Some(Address::repeat_byte(0xa1)),
        treasury: Some(Address::repeat_byte(0xa2)),
        arbiter: Some(Address::repeat_byte(0xa3)),
        stablecoins: vec![usdc.clone()],
        mock_stablecoins: Vec::new(),
        ..devnet_config()
    };
    let attempt = |config: NetworkConfig| {
        let deployer = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), config);
        async move { deployer.deploy(None).await }
    };
    let sent = nonce(&provider, &signer).await;

    let nowhere = Stablecoin { address: Address::repeat_byte(0x11), ..usdc.clone() };
    let error = attempt(NetworkConfig { stablecoins: vec![nowhere], ..config.clone() }).await.unwrap_err();
    assert!(matches!(error, DeployError::TokenWithoutCode { .. }), "{error}");
    let wrong = Stablecoin { decimals: 18, ..usdc.clone() };
    let error = attempt(NetworkConfig { stablecoins: vec![wrong], ..config.clone() }).await.unwrap_err();
    assert!(matches!(error, DeployError::TokenDecimals { stated: 18, actual: 6, .. }), "{error}");
    let mocks = NetworkConfig { mock_stablecoins: devnet_config().mock_stablecoins, ..config.clone() };
    let error = attempt(mocks).await.unwrap_err();
    assert!(matches!(error, DeployError::MockOnRealChain { chain_id: 11_155_111, .. }), "{error}");
    let unset = NetworkConfig { admin: None, arbiter: None, ..config.clone() };
    let error = attempt(unset.clone()).await.unwrap_err();
    assert!(matches!(error, DeployError::DeployerHoldsRoles { ref roles, .. } if roles == "admin, arbiter"), "{error}");
    assert!(error.to_string().contains("--allow-deployer-roles"), "{error}");
    assert_eq!(nonce(&provider, &signer).await, sent, "nothing was sent");

    // The plan: the market's and the demo verifier's creation with their gas, then the market's
    // configuration; still nothing sent.
    let planner = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), config.clone()).dry_run();
    let (manifest, plan) = planner.deploy(None).await.unwrap();
    let steps: Vec<&str> = plan.planned.iter().map(|(step, _)| step.as_str()).collect();
    assert_eq!(steps[0], "deploying Openlease", "{steps:?}");
    assert!(plan.planned[0].1.is_some_and(|gas| gas > 1_000_000), "{:?}", plan.planned[0]);
    assert_eq!(steps[1], "deploying HashChainVerifier", "{steps:?}");
    assert!(steps[2].starts_with("allow-listing USDC") && steps[3].starts_with("transferring ownership"), "{steps:?}");
    assert!(plan.created.is_empty() && plan.configured.is_empty());
    assert!(provider.get_code_at(manifest.market()).await.unwrap().is_empty(), "a dry run deploys nothing");
    assert_eq!(nonce(&provider, &signer).await, sent, "nothing was sent");

    // Checked, it deploys; roles left to the deployer only when allowed.
    attempt(config).await.expect("a checked config deploys");
    let allowed = Deployer::new(provider.clone(), signer.address(), anvil.endpoint(), unset).allowing_deployer_roles();
    let (manifest, _) = allowed.deploy(None).await.expect("allowed, the deployer keeps the roles");
    assert_eq!(manifest.roles.arbiter, signer.address());
}

#[test]
fn every_committed_network_config_loads_and_deploys_no_mock_off_a_dev_chain() {
    let dir = openlease_testkit::repo_root().join("deploy/config");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let config = NetworkConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !openlease_deploy::is_dev_chain(config.chain_id) {
            assert!(config.mock_stablecoins.is_empty(), "{}: mock tokens off a dev chain", path.display());
            assert!(!config.stablecoins.is_empty(), "{}: no stablecoin to allow-list", path.display());
        }
        loaded += 1;
    }
    assert!(loaded >= 4, "devnet, sepolia, base-sepolia, arbitrum-sepolia: {loaded}");
}
