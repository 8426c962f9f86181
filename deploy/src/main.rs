//! `openlease-deploy deploy`: deploys the Openlease suite (or verifies it) on a chain. The local
//! devnet is `openlease-devnet` (deploy/devnet).

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    providers::ProviderBuilder,
    signers::local::{LocalSigner, PrivateKeySigner},
};
use clap::{Args, Parser, Subcommand};
use eyre::WrapErr;
use openlease_deploy::{DeployError, Deployer, Manifest, NetworkConfig};

/// Deploys the Openlease contracts deterministically.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploys (or verifies) the suite on a chain and writes deployments/<chainId>.json.
    Deploy(DeployArgs),
}

#[derive(Args)]
struct DeployArgs {
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "OPENLEASE_RPC_URL")]
    rpc_url: String,
    /// Requests per second to the node at most (a hosted plan's rate).
    #[arg(long, env = "OPENLEASE_RPC_MAX_RPS")]
    rpc_max_rps: Option<std::num::NonZeroU32>,
    /// Network config: a name under deploy/config/ (e.g. `sepolia`) or a path to a TOML file.
    #[arg(long, default_value = "devnet")]
    config: String,
    /// Where manifests go.
    #[arg(long, default_value = "deployments")]
    deployments_dir: PathBuf,
    /// Check and print what would be sent, with its gas and cost at today's gas price; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Leave the roles the config does not set (admin, treasury, arbiter) to the deployer, off a
    /// development chain too.
    #[arg(long)]
    allow_deployer_roles: bool,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct KeyArgs {
    /// Deployer private key (hex).
    #[arg(long, env = "OPENLEASE_DEPLOYER_KEY", hide_env_values = true)]
    private_key: Option<String>,
    /// Deployer keystore file (its password from OPENLEASE_KEYSTORE_PASSWORD).
    #[arg(long)]
    keystore: Option<PathBuf>,
}

impl KeyArgs {
    fn signer(&self) -> Result<PrivateKeySigner, DeployError> {
        if let Some(key) = &self.private_key {
            return key.trim().parse().map_err(|e| DeployError::Key(format!("invalid private key: {e}")));
        }
        let path = self.keystore.as_ref().expect("clap requires a key");
        let password = std::env::var("OPENLEASE_KEYSTORE_PASSWORD")
            .map_err(|_| DeployError::Key("set OPENLEASE_KEYSTORE_PASSWORD to unlock the keystore".into()))?;
        LocalSigner::decrypt_keystore(path, password)
            .map_err(|e| DeployError::Key(format!("cannot decrypt {}: {e}", path.display())))
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Deploy(args) => deploy(args).await,
    }
}

async fn deploy(args: DeployArgs) -> eyre::Result<()> {
    let config_path = if args.config.ends_with(".toml") {
        PathBuf::from(&args.config)
    } else {
        NetworkConfig::path_for(&PathBuf::from("."), &args.config)
    };
    let config = NetworkConfig::load(&config_path)?;
    let signer = args.key.signer()?;
    let deployer = signer.address();
    let policy = openlease_client::RetryPolicy::default().with_max_rps(args.rpc_max_rps);
    let rpc = openlease_client::rpc::connect(&args.rpc_url, policy)
        .await
        .wrap_err_with(|| format!("connecting to the node at --rpc-url {}", args.rpc_url))?;
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_client(rpc);

    let manifest_path = Manifest::path(&args.deployments_dir, config.chain_id);
    let previous = manifest_path.exists().then(|| Manifest::load(&manifest_path)).transpose()?;
    let mut tool = Deployer::new(provider.clone(), deployer, &args.rpc_url, config);
    if args.dry_run {
        tool = tool.dry_run();
    }
    if args.allow_deployer_roles {
        tool = tool.allowing_deployer_roles();
    }
    let (manifest, report) = tool.deploy(previous.as_ref()).await?;
    if args.dry_run {
        let price = alloy::providers::Provider::get_gas_price(&provider).await.wrap_err("reading the gas price")?;
        let mut total = 0u64;
        for (step, gas) in &report.planned {
            match gas {
                Some(gas) => {
                    total += gas;
                    println!("would    {step}: {gas} gas");
                }
                None => println!("would    {step} (gas known once the market exists)"),
            }
        }
        for name in &report.verified {
            println!("verified {name:<16} {}", manifest.contracts[name].address);
        }
        let cost = alloy::primitives::utils::format_ether(
            alloy::primitives::U256::from(total) * alloy::primitives::U256::from(price),
        );
        println!("dry run: {total} gas estimated, about {cost} ETH at {price} wei per gas; nothing sent");
        return Ok(());
    }
    manifest.save(&manifest_path)?;

    for name in &report.created {
        println!("created  {name:<16} {}", manifest.contracts[name].address);
    }
    for name in &report.verified {
        println!("verified {name:<16} {}", manifest.contracts[name].address);
    }
    for step in &report.configured {
        println!("done     {step}");
    }
    if report.is_noop() {
        println!("nothing to do: the suite is deployed and its code verified");
    }
    println!("manifest {}", manifest_path.display());
    Ok(())
}
