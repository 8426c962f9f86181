//! `deployments/<chainId>.json`: what was deployed where. The indexer and the SDK load it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{DeployError, config::Params};

/// A deployment of the suite on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The chain.
    pub chain_id: u64,
    /// The first block holding any of the contracts: where an indexer starts.
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
    /// Decimals.
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

impl Manifest {
    /// The market's address.
    pub fn market(&self) -> Address {
        self.contracts[crate::MARKET].address
    }

    /// A stablecoin by ticker.
    pub fn stablecoin(&self, symbol: &str) -> Option<&StablecoinEntry> {
        self.stablecoins.iter().find(|s| s.symbol.eq_ignore_ascii_case(symbol))
    }

    /// `deployments/<chainId>.json` under `dir`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Reads a manifest.
    pub fn load(path: &Path) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DeployError::ManifestRead { path: path.to_path_buf(), source })?;
        serde_json::from_str(&text)
            .map_err(|source| DeployError::ManifestInvalid { path: path.to_path_buf(), message: source.to_string() })
    }

    /// Writes the manifest, atomically (a crash leaves the old one or the new one).
    pub fn save(&self, path: &Path) -> Result<(), DeployError> {
        let io = |source| DeployError::ManifestWrite { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("a manifest always serializes") + "\n";
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
