//! Where the CLI connects and as whom: flags, then environment variables (both through clap),
//! then the TOML file (`--config PATH`, or `./openlease.toml` when present).

use std::{
    fmt,
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use alloy::{
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use clap::Args;
use openlease_client::{Client, Manifest};

use crate::error::{CliError, Result, bail, redact, rpc_failure, unreachable};

/// The config file read when `--config` is not given, if it exists.
const DEFAULT_CONFIG: &str = "openlease.toml";
/// The node `make devnet` starts.
const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// Where `openlease-deploy` writes manifests.
const DEFAULT_DEPLOYMENTS: &str = "deployments";
/// How long the node gets to answer the first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options every command takes.
// Not `Debug`: it holds the private key.
#[derive(Args)]
pub(crate) struct GlobalArgs {
    /// TOML config file [default: ./openlease.toml if present].
    #[arg(long, global = true, env = "OPENLEASE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// JSON-RPC endpoint of the node [default: http://127.0.0.1:8545].
    #[arg(long, global = true, env = "OPENLEASE_RPC_URL", value_name = "URL")]
    rpc_url: Option<String>,
    /// The deployment manifest (a `deployments/<chainId>.json`).
    #[arg(long, global = true, env = "OPENLEASE_MANIFEST", value_name = "PATH", conflicts_with = "deployments")]
    manifest: Option<PathBuf>,
    /// Directory of deployment manifests, one per chain id [default: deployments].
    #[arg(long, global = true, env = "OPENLEASE_DEPLOYMENTS", value_name = "DIR")]
    deployments: Option<PathBuf>,
    /// The chain, when the node's should be checked against it [default: the node's].
    #[arg(long, global = true, env = "OPENLEASE_CHAIN_ID", value_name = "ID")]
    chain_id: Option<u64>,
    /// Private key (hex) to act with. Prefer the environment variable or a keystore.
    #[arg(long, global = true, env = "OPENLEASE_PRIVATE_KEY", hide_env_values = true, value_name = "HEX")]
    private_key: Option<String>,
    /// Encrypted JSON keystore to act with (password from OPENLEASE_KEYSTORE_PASSWORD or --password-file).
    #[arg(long, global = true, env = "OPENLEASE_KEYSTORE", value_name = "PATH")]
    keystore: Option<PathBuf>,
    /// File holding the keystore's password.
    #[arg(long, global = true, env = "OPENLEASE_PASSWORD_FILE", value_name = "PATH")]
    password_file: Option<PathBuf>,
    /// Output JSON on stdout (and errors as JSON on stderr), for scripts.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// `openlease.toml`: every key optional. Relative paths are relative to the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct FileConfig {
    /// `rpc_url`.
    pub(crate) rpc_url: Option<String>,
    /// `manifest`.
    pub(crate) manifest: Option<PathBuf>,
    /// `deployments`.
    pub(crate) deployments: Option<PathBuf>,
    /// `chain_id`.
    pub(crate) chain_id: Option<u64>,
    /// `keystore`.
    pub(crate) keystore: Option<PathBuf>,
    /// `password_file`.
    pub(crate) password_file: Option<PathBuf>,
}

/// The keys a config file may have.
const KEYS: [&str; 6] = ["rpc_url", "manifest", "deployments", "chain_id", "keystore", "password_file"];

impl FileConfig {
    /// Reads and checks a config file: each error names the file and the key.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::hint(format!("cannot read the config file {}: {e}", path.display()), "fix --config or OPENLEASE_CONFIG")
        })?;
        Self::parse(&text, path)
    }

    /// Parses a config file's text; `path` is for messages and relative paths.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self> {
        let file = path.display();
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            CliError::hint(format!("config file {file} is not valid TOML: {}", e.message().trim()), locate(text, &e))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::default();
        for (key, value) in &table {
            let wrong = |expected: &str| {
                CliError::hint(
                    format!("config file {file}: key `{key}` must be {expected}, not {}", value.type_str()),
                    format!("fix `{key}` in {file}"),
                )
            };
            let string = || value.as_str().map(str::to_string).ok_or_else(|| wrong("a string"));
            let path = || string().map(|s| base.join(s));
            match key.as_str() {
                "rpc_url" => config.rpc_url = Some(string()?),
                "manifest" => config.manifest = Some(path()?),
                "deployments" => config.deployments = Some(path()?),
                "keystore" => config.keystore = Some(path()?),
                "password_file" => config.password_file = Some(path()?),
                "chain_id" => {
                    let id = value.as_integer().ok_or_else(|| wrong("an integer"))?;
                    config.chain_id = Some(u64::try_from(id).map_err(|_| wrong("a positive integer"))?);
                }
                "private_key" => bail!(
                    hint = "use OPENLEASE_PRIVATE_KEY or `keystore` instead",
                    "config file {file}: key `private_key` is refused: a key in a config file leaks too easily"
                ),
                other => bail!(
                    hint = format!("the keys are {}", KEYS.join(", ")),
                    "config file {file}: unknown key `{other}`"
                ),
            }
        }
        if config.manifest.is_some() && config.deployments.is_some() {
            bail!(hint = "keep one of them", "config file {file}: keys `manifest` and `deployments` both set");
        }
        Ok(config)
    }
}

/// Where a TOML error is: `line N`.
fn locate(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => format!("see line {}", text[..span.start.min(text.len())].lines().count().max(1)),
        None => "fix the file's syntax".into(),
    }
}

/// Where the manifest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManifestSource {
    File(PathBuf),
    Dir(PathBuf),
}

/// Everything resolved: flags, then the environment, then the file, then defaults. Not `Debug`:
/// it holds the private key.
pub(crate) struct Settings {
    /// The node.
    rpc_url: String,
    /// The config file read, if any, as it is shown: `./openlease.toml` or the `--config` path.
    config_file: Option<String>,
    /// `--json`: where the config file and market of a command that sends transactions are said.
    json: bool,
    /// Set once a command connected to send transactions: what it acts on.
    target: OnceLock<Target>,
    manifest: ManifestSource,
    chain_id: Option<u64>,
    private_key: Option<String>,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
}

impl Settings {
    /// Resolves the settings of `args`.
    pub(crate) fn resolve(args: &GlobalArgs) -> Result<Self> {
        let (file, config_file) = match &args.config {
            Some(path) => (FileConfig::load(path)?, Some(path.display().to_string())),
            None if Path::new(DEFAULT_CONFIG).is_file() => {
                (FileConfig::load(Path::new(DEFAULT_CONFIG))?, Some(format!("./{DEFAULT_CONFIG}")))
            }
            None => (FileConfig::default(), None),
        };
        let manifest = match (&args.manifest, &args.deployments, file.manifest, file.deployments) {
            (Some(path), ..) => ManifestSource::File(path.clone()),
            (None, Some(dir), ..) => ManifestSource::Dir(dir.clone()),
            (None, None, Some(path), _) => ManifestSource::File(path),
            (None, None, None, Some(dir)) => ManifestSource::Dir(dir),
            (None, None, None, None) => ManifestSource::Dir(DEFAULT_DEPLOYMENTS.into()),
        };
        Ok(Self {
            rpc_url: args.rpc_url.clone().or(file.rpc_url).unwrap_or_else(|| DEFAULT_RPC_URL.into()),
            config_file,
            json: args.json,
            target: OnceLock::new(),
            manifest,
            chain_id: args.chain_id.or(file.chain_id),
            // An empty OPENLEASE_PRIVATE_KEY= is no key, not a malformed one.
            private_key: args.private_key.clone().filter(|key| !key.trim().is_empty()),
            keystore: args.keystore.clone().or(file.keystore),
            password_file: args.password_file.clone().or(file.password_file),
        })
    }

    /// Whether a key to act with was given.
    pub(crate) fn has_key(&self) -> bool {
        self.private_key.is_some() || self.keystore.is_some()
    }

    /// The key to act with. Its text never appears in a message.
    pub(crate) fn signer(&self) -> Result<PrivateKeySigner> {
        if let Some(key) = &self.private_key {
            return key.trim().parse().map_err(|_| {
                CliError::hint(
                    "the private key (--private-key or OPENLEASE_PRIVATE_KEY) is not a 32-byte hex key",
                    "give it as 64 hex digits, with or without 0x",
                )
            });
        }
        let Some(keystore) = &self.keystore else {
            bail!(
                hint = "pass --private-key, set OPENLEASE_PRIVATE_KEY, or use --keystore (views also take an ADDRESS)",
                "no key given: this command acts as your account, or shows it"
            );
        };
        let password = match (std::env::var("OPENLEASE_KEYSTORE_PASSWORD"), &self.password_file) {
            (Ok(password), _) => password,
            (Err(_), Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| CliError::new(format!("cannot read the password file {}: {e}", file.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            (Err(_), None) => bail!(
                hint = "set OPENLEASE_KEYSTORE_PASSWORD or pass --password-file",
                "keystore {} needs its password",
                keystore.display()
            ),
        };
        PrivateKeySigner::decrypt_keystore(keystore, password).map_err(|e| {
            CliError::hint(
                format!("cannot open keystore {}: {e}", keystore.display()),
                "check the file and its password",
            )
        })
    }

    /// Connects to the market: as the configured key, or, when `need_key` is false and none was
    /// given, as a throwaway key that only reads.
    pub(crate) async fn connect(&self, need_key: bool) -> Result<Client<DynProvider>> {
        crate::error::set_rpc_url(&self.rpc_url);
        let signer = if need_key || self.has_key() { self.signer()? } else { PrivateKeySigner::random() };
        let url = &self.rpc_url;
        let node = ProviderBuilder::new().connect(url).await.map_err(|e| rpc_failure(url, &e))?;
        let chain_id = match tokio::time::timeout(CONNECT_TIMEOUT, node.get_chain_id()).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return Err(rpc_failure(url, &e)),
            Err(_) => return Err(unreachable(url, format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        };
        if let Some(expected) = self.chain_id
            && expected != chain_id
        {
            bail!(
                hint = format!("point --rpc-url at a node of chain {expected}, or change --chain-id"),
                "the node at {} is on chain {chain_id}, not the configured {expected}",
                redact(url)
            );
        }
        let manifest = match &self.manifest {
            ManifestSource::File(path) => Manifest::load(path),
            ManifestSource::Dir(dir) => Manifest::load_for_chain(dir, chain_id),
        }
        .map_err(|e| {
            CliError::hint(
                e.to_string(),
                "pass --manifest PATH or --deployments DIR (or set them in openlease.toml)",
            )
        })?;
        crate::error::set_manifest(&manifest);
        Ok(Client::connect(url, signer, manifest).await?)
    }

    /// Connects as the configured key to send transactions, first saying which config file and
    /// which market they go to (a `./openlease.toml` is read from wherever the command runs): on
    /// stderr, or with `--json` in the output (see [`Settings::target`]).
    pub(crate) async fn connect_to_send(&self) -> Result<Client<DynProvider>> {
        let client = self.connect(true).await?;
        let target = Target {
            config_file: self.config_file.clone(),
            market: client.manifest().market(),
            chain_id: client.manifest().chain_id,
        };
        if !self.json {
            eprintln!("{target}");
        }
        let _ = self.target.set(target);
        Ok(client)
    }

    /// The config file and market a command sent transactions with, for `--json` output.
    pub(crate) fn target(&self) -> Option<serde_json::Value> {
        self.target.get().map(|t| {
            serde_json::json!({ "configFile": t.config_file, "market": t.market, "chainId": t.chain_id })
        })
    }
}

/// Where a command's transactions go: the config file that chose it, the market, its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    config_file: Option<String>,
    market: Address,
    chain_id: u64,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config_file {
            Some(file) => write!(f, "using {file}: market {} on chain {}", self.market, self.chain_id),
            None => write!(f, "using no config file: market {} on chain {}", self.market, self.chain_id),
        }
    }
}

/// Whether progress lines go to stderr: a terminal, and not `--json`.
pub(crate) fn show_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_is_checked_key_by_key() {
        let path = Path::new("/etc/openlease/openlease.toml");
        let config = FileConfig::parse(
            "rpc_url = \"http://node:8545\"\ndeployments = \"deps\"\nchain_id = 31337\nkeystore = \"/k.json\"",
            path,
        )
        .unwrap();
        assert_eq!(config.rpc_url.as_deref(), Some("http://node:8545"));
        assert_eq!(config.deployments, Some(PathBuf::from("/etc/openlease/deps")));
        assert_eq!(config.keystore, Some(PathBuf::from("/k.json")));
        assert_eq!(config.chain_id, Some(31337));

        let wrong_type = FileConfig::parse("chain_id = \"dev\"", path).unwrap_err();
        assert!(wrong_type.message.contains("/etc/openlease/openlease.toml"), "{wrong_type}");
        assert!(wrong_type.message.contains("`chain_id` must be an integer, not string"), "{wrong_type}");
        let unknown = FileConfig::parse("rpc = \"x\"", path).unwrap_err();
        assert!(unknown.message.contains("unknown key `rpc`"), "{unknown}");
        let syntax = FileConfig::parse("rpc_url = ", path).unwrap_err();
        assert!(syntax.message.contains("not valid TOML"), "{syntax}");
        assert!(FileConfig::parse("private_key = \"0x01\"", path).unwrap_err().message.contains("refused"));
    }
}
