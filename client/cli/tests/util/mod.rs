//! A market on a fresh anvil, and the real `openlease` binary run against it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::Address,
    providers::{Provider, ProviderBuilder, ext::AnvilApi},
};
use openlease_client::Manifest;
use openlease_testkit::TempDir;
use serde_json::Value;

/// A fresh directory under the system's temp dir, for config files, manifests and receipts;
/// removed with the guard.
pub(crate) fn temp_dir() -> TempDir {
    TempDir::new("cli")
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The JSON it printed on stdout; panics (with stderr) if it failed.
    pub(crate) fn json(&self) -> Value {
        assert!(self.success, "the command failed:\n{}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }

    /// Its stderr; panics if it succeeded.
    pub(crate) fn error(&self) -> &str {
        assert!(!self.success, "the command succeeded:\n{}", self.stdout);
        &self.stderr
    }
}

/// Runs `openlease` in `dir` with no OPENLEASE_* variables but `env`.
pub(crate) fn openlease(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openlease"));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("OPENLEASE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("the binary runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The suite deployed on a fresh anvil with the devnet config; its manifest in a temp dir.
pub(crate) struct Market {
    pub(crate) anvil: AnvilInstance,
    pub(crate) dir: PathBuf,
    _dir: TempDir,
}

impl Market {
    pub(crate) async fn deploy() -> Self {
        let anvil = openlease_testkit::spawn_anvil();
        let manifest = openlease_testkit::deploy_market(&anvil).await;
        let dir = temp_dir();
        manifest.save(&Manifest::path(&dir.path().join("deployments"), manifest.chain_id)).unwrap();
        Self { anvil, dir: dir.path().to_path_buf(), _dir: dir }
    }

    /// anvil account `index`'s key, as hex.
    pub(crate) fn key(&self, index: usize) -> String {
        format!("0x{}", alloy::hex::encode(self.anvil.keys()[index].to_bytes()))
    }

    /// anvil account `index`'s address.
    pub(crate) fn address(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    /// Runs `openlease --json ARGS` as anvil account `index` against this market.
    pub(crate) fn run(&self, index: usize, args: &[&str]) -> Run {
        let key = self.key(index);
        let env = [("OPENLEASE_RPC_URL", self.anvil.endpoint()), ("OPENLEASE_PRIVATE_KEY", key)];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        openlease(&self.dir, &env, &all)
    }

    /// Runs `openlease ARGS` (text output) as anvil account `index` against this market.
    pub(crate) fn run_text(&self, index: usize, args: &[&str]) -> Run {
        let key = self.key(index);
        let env = [("OPENLEASE_RPC_URL", self.anvil.endpoint()), ("OPENLEASE_PRIVATE_KEY", key)];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        openlease(&self.dir, &env, args)
    }

    /// Runs `openlease ARGS` in `dir` against this market with no key at all.
    pub(crate) fn run_keyless(&self, dir: &Path, args: &[&str]) -> Run {
        openlease(dir, &[("OPENLEASE_RPC_URL", self.anvil.endpoint().as_str())], args)
    }

    /// How many transactions anvil account `index` sent: what did not move, was not sent.
    pub(crate) async fn nonce(&self, index: usize) -> u64 {
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
        provider.get_transaction_count(self.address(index)).await.unwrap()
    }

    /// The manifest the market was deployed with, as JSON.
    pub(crate) fn manifest(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("deployments/31337.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The market's address, as the manifest has it.
    pub(crate) fn market(&self) -> String {
        self.manifest()["contracts"]["Openlease"]["address"].as_str().unwrap().to_string()
    }

    /// Moves the chain's clock `seconds` forward and mines a block.
    pub(crate) async fn advance(&self, seconds: u64) {
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
        provider.anvil_increase_time(seconds).await.unwrap();
        provider.anvil_mine(Some(1), None).await.unwrap();
    }

    /// The chain's latest timestamp.
    pub(crate) async fn now(&self) -> u64 {
        let provider = ProviderBuilder::new().connect_http(self.anvil.endpoint_url());
        let block = provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.unwrap().unwrap();
        block.header.timestamp
    }

    /// Provider `index` registered, with `stake` USDC staked and an offer at 100 raw units
    /// (0.36 USDC per hour) per second, 1 h notice, capacity 2. Returns the offer's id.
    pub(crate) fn provider_with_offer(&self, index: usize, stake: &str) -> String {
        self.run(index, &["token", "mint", "10000 USDC"]).json();
        self.run(
            index,
            &[
                "provider",
                "register",
                "--endpoint",
                "https://gpu.example",
                "--region",
                "eu-west",
                "--attributes",
                "gpu:a100",
            ],
        )
        .json();
        self.run(index, &["provider", "stake", stake]).json();
        let offer = self
            .run(
                index,
                &[
                    "offer",
                    "publish",
                    "--price",
                    "0.36 USDC/h",
                    "--min-duration",
                    "1m",
                    "--max-duration",
                    "30d",
                    "--notice",
                    "1h",
                    "--capacity",
                    "2",
                ],
            )
            .json();
        assert_eq!(raw(&offer["pricePerSecond"]), 100);
        offer["offerId"].as_str().unwrap().to_string()
    }
}

/// The raw units of an amount in the CLI's JSON (`{"raw": "12500000", ...}`).
pub(crate) fn raw(amount: &Value) -> u128 {
    amount["raw"].as_str().unwrap_or_else(|| panic!("no raw amount in {amount}")).parse().unwrap()
}

/// One USDC in raw units.
pub(crate) const USDC: u128 = 1_000_000;
