//! The deployment manifest `deployments/<chainId>.json` that `openlease-deploy` writes: where the
//! market and its stablecoins live. The SDK reads only what it needs of it.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::Deserialize;

use crate::{Error, Result};

/// The market's deployment on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The chain.
    pub chain_id: u64,
    /// The first block holding the contracts: where log queries start.
    pub deploy_block: u64,
    /// The market.
    pub market: Address,
    /// The allow-listed stablecoins.
    pub stablecoins: Vec<Stablecoin>,
    /// Who rules on disputes.
    pub arbiter: Address,
}

/// An allow-listed stablecoin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Stablecoin {
    /// Ticker.
    pub symbol: String,
    /// Token contract.
    pub address: Address,
    /// Decimals.
    pub decimals: u8,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFile {
    chain_id: u64,
    deploy_block: u64,
    contracts: std::collections::BTreeMap<String, ContractEntry>,
    stablecoins: Vec<Stablecoin>,
    roles: Roles,
}

#[derive(Deserialize)]
struct ContractEntry {
    address: Address,
}

#[derive(Deserialize)]
struct Roles {
    arbiter: Address,
}

impl Deployment {
    /// Reads a manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Deployment { path: path.to_path_buf(), message: e.to_string() })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Deployment { message, .. } => Error::Deployment { path: path.to_path_buf(), message },
            other => other,
        })
    }

    /// Reads `<dir>/<chain_id>.json`.
    pub fn load_for_chain(dir: &Path, chain_id: u64) -> Result<Self> {
        Self::load(&Self::path(dir, chain_id))
    }

    /// `<dir>/<chain_id>.json`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Parses a manifest's JSON.
    pub fn from_json(text: &str) -> Result<Self> {
        let invalid = |message: String| Error::Deployment { path: PathBuf::from("<json>"), message };
        let file: ManifestFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let market = file
            .contracts
            .get("Openlease")
            .ok_or_else(|| invalid("no `Openlease` contract in the manifest".into()))?
            .address;
        Ok(Self {
            chain_id: file.chain_id,
            deploy_block: file.deploy_block,
            market,
            stablecoins: file.stablecoins,
            arbiter: file.roles.arbiter,
        })
    }

    /// A stablecoin by ticker, any case.
    pub fn stablecoin(&self, symbol: &str) -> Option<&Stablecoin> {
        self.stablecoins.iter().find(|s| s.symbol.eq_ignore_ascii_case(symbol))
    }

    /// A stablecoin by address.
    pub fn stablecoin_at(&self, address: Address) -> Option<&Stablecoin> {
        self.stablecoins.iter().find(|s| s.address == address)
    }
}
