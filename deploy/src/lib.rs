//! `openlease-deploy`: deterministic deployment of the Openlease suite.
//!
//! [`Deployer`] deploys every contract through the CREATE2 factory, verifies code already in
//! place against the committed artifacts, resumes partial deployments, and returns the
//! [`Manifest`] that `deployments/<chainId>.json` holds. [`NetworkConfig`] is a network's
//! `deploy/config/<name>.toml`.

mod config;
mod deployer;
mod error;

pub use config::{MockKind, MockStablecoin, NetworkConfig, Stablecoin};
pub use deployer::{CREATE2_FACTORY, DeployReport, Deployer, is_dev_chain, verify_code};
pub use error::DeployError;
pub use openlease_contracts::manifest::{
    DeployedContract, HASH_CHAIN_VERIFIER, MARKET, Manifest, ManifestError, Params, Roles, StablecoinEntry,
};
