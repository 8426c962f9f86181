//! Everything a deployment can fail on, each saying what was wrong and what to do.

use std::path::PathBuf;

use alloy::primitives::{Address, U256};

/// A failed deployment step.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The RPC endpoint did not answer.
    #[error("cannot reach the RPC at {url}: {message}\nIs the node running, and is --rpc-url right?")]
    RpcUnreachable {
        url: String,
        /// The transport's error.
        message: String,
    },
    /// The node is on another chain than the config is for.
    #[error(
        "the RPC is on chain {actual}, but the config is for chain {expected}\nUse the config for chain {actual}, or point --rpc-url at chain {expected}."
    )]
    WrongChain {
        /// `chain_id` of the config.
        expected: u64,
        /// The node's chain id.
        actual: u64,
    },
    /// An allow-listed token has no code on this chain.
    #[error(
        "the token {symbol} at {address} has no code on this chain\nCheck its address in the config: tokens have other addresses on other chains."
    )]
    TokenWithoutCode { symbol: String, address: Address },
    /// An allow-listed token's decimals are not the config's.
    #[error(
        "the token {symbol} at {address} has {actual} decimals, the config says {stated}\nFix `decimals` in the config: every amount shown to people is scaled by it."
    )]
    TokenDecimals { symbol: String, address: Address, stated: u8, actual: u8 },
    /// Mock tokens are for development chains only.
    #[error(
        "the config deploys mock tokens ({symbols}) on chain {chain_id}, which is not a development chain\nAllow-list the chain's real stablecoins under [[stablecoins]] instead."
    )]
    MockOnRealChain { chain_id: u64, symbols: String },
    /// Roles would be left to the deployer on a real chain.
    #[error(
        "on chain {chain_id} the {roles} would be the deployer {deployer}\nSet them in the config (a multisig, keys of their own: the deployer's key signs from a laptop), or pass --allow-deployer-roles."
    )]
    DeployerHoldsRoles { chain_id: u64, roles: String, deployer: Address },
    /// The CREATE2 factory is not deployed on this chain.
    #[error(
        "no CREATE2 factory at {factory} on this chain: deterministic deployment needs it (anvil has it by default; elsewhere deploy it from its presigned transaction first)"
    )]
    NoCreate2Factory {
        /// The factory's address.
        factory: Address,
    },
    /// The deployer cannot pay for a transaction.
    #[error(
        "the deployer {account} has {balance} wei but {what} needs about {needed} wei\nFund the account, or deploy with another key."
    )]
    InsufficientFunds {
        account: Address,
        balance: U256,
        /// gas × gas price of the transaction.
        needed: U256,
        what: String,
    },
    /// Code at an expected address is not the code of the contract.
    #[error(
        "the code at {address} is not {name}: {detail}\nSomething else was deployed there, or the artifacts differ from the deployed version. Do not use this deployment."
    )]
    CodeMismatch {
        name: String,
        /// Its expected address.
        address: Address,
        /// How it differs.
        detail: String,
    },
    /// A transaction failed or reverted.
    #[error("{what} failed: {message}")]
    Transaction {
        what: String,
        /// Why.
        message: String,
    },
    /// A step needs the market's owner, and the deployer is not.
    #[error("{what} needs the market's owner {owner}, but the deployer is {deployer}\nRun it as the owner.")]
    NotOwner {
        what: String,
        /// The market's owner.
        owner: Address,
        deployer: Address,
    },
    /// The config file could not be read.
    #[error("cannot read the config {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is malformed.
    #[error("invalid config {path}: {message}")]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The deployer key could not be loaded.
    #[error("cannot load the deployer key: {0}")]
    Key(String),
    /// The manifest could not be read or written.
    #[error(transparent)]
    Manifest(#[from] openlease_contracts::ManifestError),
    /// Any other RPC error.
    #[error("RPC error while {what}: {message}")]
    Rpc {
        what: String,
        /// The error.
        message: String,
    },
}
