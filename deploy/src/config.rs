//! The per-network deploy configuration: `deploy/config/<name>.toml`.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use openlease_contracts::Parameter;

use crate::{DeployError, Params};

/// What to deploy on one network, and with which parameters and roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The chain the config is for; deploying to another chain is refused.
    pub chain_id: u64,
    /// Label the CREATE2 salts derive from.
    pub salt: String,
    /// Owner of the market (two-step transfer from the deployer). Defaults to the deployer.
    #[serde(default)]
    pub admin: Option<Address>,
    /// Receiver of protocol fees. Defaults to the deployer.
    #[serde(default)]
    pub treasury: Option<Address>,
    /// Rules on the disputes of leases opened under the first parameters version. Defaults to the
    /// deployer.
    #[serde(default)]
    pub arbiter: Option<Address>,
    /// Governance parameters, checked against the contract's bounds at deploy time.
    pub params: Params,
    /// Existing stablecoins to allow-list.
    #[serde(default)]
    pub stablecoins: Vec<Stablecoin>,
    /// Test stablecoins to deploy with the suite and allow-list.
    #[serde(default)]
    pub mock_stablecoins: Vec<MockStablecoin>,
}

/// The contract's hard bounds on [`Params`] (generated from `OpenleaseStorage`), checked here to
/// fail before spending gas.
fn validate_params(params: &Params) -> Result<(), String> {
    for parameter in Parameter::ALL {
        let value: u64 = match parameter {
            Parameter::ProtocolFeeBps => params.protocol_fee_bps.into(),
            Parameter::SettlementWindow => params.settlement_window.into(),
            Parameter::BondBps => params.bond_bps.into(),
            Parameter::SlashCutBps => params.slash_cut_bps.into(),
            Parameter::MaxDisputeSlashBps => params.max_dispute_slash_bps.into(),
            Parameter::DisputeBondBps => params.dispute_bond_bps.into(),
            Parameter::DisputePeriod => params.dispute_period.into(),
            Parameter::UnbondingPeriod => params.unbonding_period.into(),
        };
        let (min, max) = parameter.bounds();
        if !(min..=max).contains(&value) {
            return Err(format!("`params.{parameter}` = {value} is out of bounds [{min}, {max}]"));
        }
    }
    Ok(())
}

/// An existing token to allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stablecoin {
    /// Ticker, for the manifest and people.
    pub symbol: String,
    /// Token contract.
    pub address: Address,
    /// Decimals, for amounts shown to people.
    pub decimals: u8,
}

/// A test token deployed with the suite.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockStablecoin {
    /// Ticker; also names the contract in the manifest (`Mock<SYMBOL>`).
    pub symbol: String,
    /// Which mock: `stablecoin` (USDC-like: permit, blocklist) or `usdt` (no return values).
    #[serde(default)]
    pub kind: MockKind,
    /// Token name (`stablecoin` only).
    #[serde(default)]
    pub name: Option<String>,
    /// Decimals (`stablecoin` only; `usdt` has 6).
    #[serde(default)]
    pub decimals: Option<u8>,
}

/// The kinds of test token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MockKind {
    /// `MockStablecoin`.
    #[default]
    Stablecoin,
    /// `MockUSDT`.
    Usdt,
}

impl MockStablecoin {
    /// The token's decimals.
    pub fn decimals(&self) -> u8 {
        match self.kind {
            MockKind::Usdt => 6,
            MockKind::Stablecoin => self.decimals.unwrap_or(18),
        }
    }

    /// The contract's name in the manifest.
    pub fn contract_name(&self) -> String {
        format!("Mock{}", self.symbol)
    }
}

impl NetworkConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DeployError::ConfigRead { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses a config; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DeployError> {
        let config: Self = toml::from_str(text)
            .map_err(|source| DeployError::ConfigInvalid { path: path.to_path_buf(), message: source.to_string() })?;
        config.validate().map_err(|message| DeployError::ConfigInvalid { path: path.to_path_buf(), message })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.salt.is_empty() {
            return Err("`salt` must not be empty".into());
        }
        validate_params(&self.params)?;
        for (i, mock) in self.mock_stablecoins.iter().enumerate() {
            if mock.symbol.is_empty() || !mock.symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("`mock_stablecoins[{i}].symbol` must be alphanumeric, got {:?}", mock.symbol));
            }
            if mock.kind == MockKind::Usdt && (mock.name.is_some() || mock.decimals.is_some()) {
                return Err(format!("`mock_stablecoins[{i}]`: a `usdt` mock takes no `name` or `decimals`"));
            }
        }
        Ok(())
    }

    /// `deploy/config/<name>.toml` under the repository root.
    pub fn path_for(repo_root: &Path, name: &str) -> PathBuf {
        repo_root.join("deploy/config").join(format!("{name}.toml"))
    }
}
