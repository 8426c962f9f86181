//! `deployments/<chainId>.json`: what was deployed where. `openlease-deploy` writes it; the SDK,
//! the CLI and the indexer read it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// The name the market contract has in [`Manifest::contracts`].
pub const MARKET: &str = "Openlease";
/// The name the demo workload's verifier has in [`Manifest::contracts`].
pub const HASH_CHAIN_VERIFIER: &str = "HashChainVerifier";

/// A deployment of the suite on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub chain_id: u64,
    /// The first block holding any of the contracts: where an indexer or a log query starts.
    pub deploy_block: u64,
    /// solc version the bytecode was compiled with.
    pub compiler: String,
    /// The CREATE2 factory the contracts were deployed through.
    pub create2_factory: Address,
    /// Every deployed contract by name: `Openlease`, `MockUSDC`, ...
    pub contracts: BTreeMap<String, DeployedContract>,
    /// The allow-listed stablecoins.
    pub stablecoins: Vec<StablecoinEntry>,
    /// The market's roles.
    pub roles: Roles,
    /// The governance parameters the market was deployed with.
    pub params: Params,
}

/// One deployed contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployedContract {
    /// Where it lives.
    pub address: Address,
    /// The CREATE2 salt.
    pub salt: B256,
    /// keccak256 of the runtime code on chain.
    pub code_hash: B256,
    /// The transaction that created it.
    pub tx_hash: Option<B256>,
    /// The block it was created in.
    pub block: Option<u64>,
}

/// An allow-listed stablecoin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StablecoinEntry {
    /// Ticker.
    pub symbol: String,
    /// Token contract.
    pub address: Address,
    pub decimals: u8,
}

/// The market's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// Owner (after it accepts, when it is not the deployer).
    pub admin: Address,
    /// Receives protocol fees.
    pub treasury: Address,
    /// Rules on disputes.
    pub arbiter: Address,
}

/// `IOpenleaseTypes.Params`: the governance parameters, in snake case (as in the deploy config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Params {
    pub protocol_fee_bps: u16,
    pub bond_bps: u16,
    pub slash_cut_bps: u16,
    pub max_dispute_slash_bps: u16,
    pub dispute_bond_bps: u16,
    /// Seconds.
    pub settlement_window: u32,
    /// Seconds.
    pub dispute_period: u32,
    /// Seconds.
    pub unbonding_period: u32,
}

/// A manifest that could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error(
        "cannot read the deployment manifest {}: {source} (a relative path is from the current directory: run from the repository that deployed the market, or give the manifest's full path; to deploy, `openlease-deploy deploy` or `make devnet` locally)",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("invalid deployment manifest {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write the deployment manifest {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Manifest {
    /// The market's address.
    ///
    /// # Panics
    /// When the manifest has no [`MARKET`] entry; [`Manifest::load`] and [`Manifest::from_json`]
    /// refuse such a manifest.
    pub fn market(&self) -> Address {
        self.contracts[MARKET].address
    }

    /// The verifier of the demo workload ([`crate::workload::DEMO`]), if this deployment has one.
    pub fn demo_verifier(&self) -> Option<Address> {
        self.contracts.get(HASH_CHAIN_VERIFIER).map(|c| c.address)
    }

    /// A verifier as a user writes it: `demo` ([`Manifest::demo_verifier`]) or a contract's address.
    pub fn verifier(&self, text: &str) -> Result<Address, String> {
        match text.trim() {
            "demo" => {
                self.demo_verifier().ok_or_else(|| format!("chain {} has no demo verifier deployed", self.chain_id))
            }
            other => {
                other.parse().map_err(|_| format!("`{other}` is not a verifier: write `demo` or a contract address"))
            }
        }
    }

    /// A stablecoin by ticker, any case.
    pub fn stablecoin(&self, symbol: &str) -> Option<&StablecoinEntry> {
        self.stablecoins.iter().find(|s| s.symbol.eq_ignore_ascii_case(symbol))
    }

    /// A stablecoin by address.
    pub fn stablecoin_at(&self, address: Address) -> Option<&StablecoinEntry> {
        self.stablecoins.iter().find(|s| s.address == address)
    }

    /// `<dir>/<chain_id>.json`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Reads a manifest.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
        Self::from_json(&text).map_err(|e| match e {
            ManifestError::Invalid { message, .. } => ManifestError::Invalid { path: path.to_path_buf(), message },
            other => other,
        })
    }

    /// Reads `<dir>/<chain_id>.json`.
    pub fn load_for_chain(dir: &Path, chain_id: u64) -> Result<Self, ManifestError> {
        Self::load(&Self::path(dir, chain_id))
    }

    /// Parses a manifest's JSON.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid { path: PathBuf::from("<json>"), message };
        let manifest: Self = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !manifest.contracts.contains_key(MARKET) {
            return Err(invalid(format!("no `{MARKET}` contract in `contracts`")));
        }
        Ok(manifest)
    }

    /// Writes the manifest, atomically (a crash leaves the old one or the new one).
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        let io = |source| ManifestError::Write { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("a manifest always serializes") + "\n";
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
