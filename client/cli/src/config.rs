//! Where the CLI connects and as whom: flags, then environment variables (both through clap),
//! then the TOML file (`--config PATH`, or `./openlease.toml` when present). What a command
//! learns on the way (the node, the market's stablecoins) is kept here, to render its errors with.

use std::{
    fmt,
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
use openlease_client::{Client, Manifest, RetryPolicy, StablecoinEntry};

use crate::error::{CliError, ErrorContext, Rendered, Result, bail, manifest_error, redact, rpc_failure};

/// The config file read when `--config` is not given, if it exists.
const DEFAULT_CONFIG: &str = "openlease.toml";
/// The node `make devnet` starts.
const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// Where `openlease-deploy` writes manifests.
const DEFAULT_DEPLOYMENTS: &str = "deployments";
/// How long a request is asked again while the node refuses or fails it: a command waits that
/// long for a node that is not up before saying so.
const RPC_PATIENCE: Duration = Duration::from_secs(10);

/// Options every command takes.
// Not `Debug`: it holds the private key.
#[derive(Args)]
pub(crate) struct GlobalArgs {
    /// TOML config file [default: ./openlease.toml if present].
    #[arg(long, global = true, env = "OPENLEASE_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// JSON-RPC endpoint of the node [default: http://127.0.0.1:8545].
    #[arg(long, global = true, env = "OPENLEASE_RPC_URL", value_name = "URL")]
    rpc_url: Option<String>,
    /// The deployment manifest (a `deployments/<chainId>.json`).
    #[arg(long, global = true, env = "OPENLEASE_MANIFEST", value_name = "PATH", conflicts_with = "deployments")]
    manifest: Option<PathBuf>,
    /// Directory of deployment manifests, one per chain id [default: the `deployments` of the current
    /// directory, or of the nearest parent that has the chain's manifest].
    #[arg(long, global = true, env = "OPENLEASE_DEPLOYMENTS", value_name = "DIR")]
    deployments: Option<PathBuf>,
    /// The chain, when the node's should be checked against it [default: the node's].
    #[arg(long, global = true, env = "OPENLEASE_CHAIN_ID", value_name = "ID")]
    chain_id: Option<u64>,
    /// Requests per second to the node at most (a hosted plan's rate).
    #[arg(long, global = true, env = "OPENLEASE_RPC_MAX_RPS", value_name = "N")]
    rpc_max_rps: Option<std::num::NonZeroU32>,
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

/// Which config file is read, and what chose it: the fix of a file that cannot be read depends on
/// it (a path given by mistake, or a `./openlease.toml` left where the command runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigFile {
    /// `--config PATH`.
    Flag(PathBuf),
    /// `OPENLEASE_CONFIG`.
    Env(PathBuf),
    /// `./openlease.toml`, present where the command runs.
    Default,
    /// None.
    None,
}

impl ConfigFile {
    /// The file `--config` or `OPENLEASE_CONFIG` names (`from_env` when clap took it from the
    /// variable), else `./openlease.toml` if it exists.
    pub(crate) fn choose(config: Option<&Path>, from_env: bool) -> Self {
        match config {
            Some(path) if from_env => Self::Env(path.to_path_buf()),
            Some(path) => Self::Flag(path.to_path_buf()),
            None if Path::new(DEFAULT_CONFIG).is_file() => Self::Default,
            None => Self::None,
        }
    }

    /// The file, as messages and `using` name it.
    fn shown(&self) -> Option<String> {
        match self {
            Self::Flag(path) | Self::Env(path) => Some(path.display().to_string()),
            Self::Default => Some(format!("./{DEFAULT_CONFIG}")),
            Self::None => None,
        }
    }

    /// Reads it, if there is one.
    fn load(&self) -> Result<FileConfig> {
        let default = Path::new(".").join(DEFAULT_CONFIG);
        let path = match self {
            Self::Flag(path) | Self::Env(path) => path.as_path(),
            Self::Default => default.as_path(),
            Self::None => return Ok(FileConfig::default()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| self.unreadable(&e))?;
        FileConfig::parse(&text, path)
    }

    /// The file cannot be read: which one, why, and the fix for what chose it.
    fn unreadable(&self, error: &std::io::Error) -> CliError {
        let shown = self.shown().unwrap_or_default();
        match self {
            Self::Flag(_) => CliError::hint(
                format!("cannot read the config file {shown} (given by --config): {error}"),
                "fix the path given to --config",
            ),
            Self::Env(_) => CliError::hint(
                format!("cannot read the config file {shown} (given by OPENLEASE_CONFIG): {error}"),
                "fix OPENLEASE_CONFIG, or unset it",
            ),
            Self::Default | Self::None => {
                let cwd = std::env::current_dir().map(|d| format!(" {}", d.display())).unwrap_or_default();
                CliError::hint(
                    format!(
                        "cannot read the config file {shown}, read by default from the current directory{cwd}: {error}"
                    ),
                    format!("fix or remove {shown}, or pass --config PATH to read another file"),
                )
            }
        }
    }
}

impl FileConfig {
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
    /// `--manifest`, `OPENLEASE_MANIFEST` or `manifest`.
    File(PathBuf),
    /// `--deployments`, `OPENLEASE_DEPLOYMENTS` or `deployments`.
    Dir(PathBuf),
    /// Nothing said: `deployments/<chainId>.json` in the current directory or the nearest parent
    /// that has one, as git finds its repository.
    Search,
}

/// `deployments/<chain_id>.json` in `start` or the nearest of its parents; else every path looked at.
fn find_manifest(start: &Path, chain_id: u64) -> std::result::Result<PathBuf, Vec<PathBuf>> {
    let mut looked = Vec::new();
    for dir in start.ancestors() {
        let path = Manifest::path(&dir.join(DEFAULT_DEPLOYMENTS), chain_id);
        if path.is_file() {
            return Ok(path);
        }
        looked.push(path);
    }
    Err(looked)
}

/// No manifest for the node's chain where the default looks: where it looked, and what to do.
fn no_manifest(chain_id: u64, looked: &[PathBuf]) -> CliError {
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    CliError::hint(
        format!(
            "no deployment manifest for chain {chain_id} (the node's): looked for {DEFAULT_DEPLOYMENTS}/{chain_id}.json \
             in the current directory and its parents: {}",
            looked.join(", ")
        ),
        format!(
            "run openlease from the repository that deployed the market (`make devnet` writes \
             {DEFAULT_DEPLOYMENTS}/{chain_id}.json there), or pass --deployments DIR or --manifest PATH"
        ),
    )
}

/// Everything resolved: flags, then the environment, then the file, then defaults. Not `Debug`:
/// it holds the private key.
pub(crate) struct Settings {
    /// The node.
    rpc_url: String,
    /// How requests to it are retried and paced.
    rpc_policy: RetryPolicy,
    /// The config file read, if any, as it is shown: `./openlease.toml` or the `--config` path.
    config_file: Option<String>,
    /// `--json`: where the config file and market of a command that sends transactions are said.
    json: bool,
    /// Set once a command connected to send transactions: what it acts on.
    target: OnceLock<Target>,
    /// Set once a command read the manifest: the market's stablecoins, to render errors with.
    stablecoins: OnceLock<Vec<StablecoinEntry>>,
    manifest: ManifestSource,
    chain_id: Option<u64>,
    private_key: Option<String>,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
}

impl Settings {
    /// Resolves the settings of `args`, with `config` the file they chose.
    pub(crate) fn resolve(args: &GlobalArgs, config: &ConfigFile) -> Result<Self> {
        let file = config.load()?;
        let manifest = match (&args.manifest, &args.deployments, file.manifest, file.deployments) {
            (Some(path), ..) => ManifestSource::File(path.clone()),
            (None, Some(dir), ..) => ManifestSource::Dir(dir.clone()),
            (None, None, Some(path), _) => ManifestSource::File(path),
            (None, None, None, Some(dir)) => ManifestSource::Dir(dir),
            (None, None, None, None) => ManifestSource::Search,
        };
        Ok(Self {
            rpc_url: args.rpc_url.clone().or(file.rpc_url).unwrap_or_else(|| DEFAULT_RPC_URL.into()),
            rpc_policy: RetryPolicy {
                attempt_timeout: RPC_PATIENCE,
                fail_when_unreachable: true,
                ..RetryPolicy::default()
            }
            .with_patience(RPC_PATIENCE)
            .with_max_rps(args.rpc_max_rps),
            config_file: config.shown(),
            json: args.json,
            target: OnceLock::new(),
            stablecoins: OnceLock::new(),
            manifest,
            chain_id: args.chain_id.or(file.chain_id),
            // An empty OPENLEASE_PRIVATE_KEY= is no key, not a malformed one.
            private_key: args.private_key.clone().filter(|key| !key.trim().is_empty()),
            keystore: args.keystore.clone().or(file.keystore),
            password_file: args.password_file.clone().or(file.password_file),
        })
    }

    /// The node's URL, as given: show it only through `redact`.
    pub(crate) fn rpc_url(&self) -> &str {
        &self.rpc_url
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
        let password = self.keystore_password(keystore)?;
        PrivateKeySigner::decrypt_keystore(keystore, password).map_err(|e| {
            CliError::hint(
                format!("cannot open keystore {}: {e}", keystore.display()),
                "check the file and its password",
            )
        })
    }

    /// The password of the keystore at `keystore`: `OPENLEASE_KEYSTORE_PASSWORD`, else the
    /// `--password-file` without its final newline. Never a flag: a command line is visible to
    /// every process.
    pub(crate) fn keystore_password(&self, keystore: &std::path::Path) -> Result<String> {
        Ok(match (std::env::var("OPENLEASE_KEYSTORE_PASSWORD"), &self.password_file) {
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
        })
    }

    /// Connects to the node alone, without a market or a key: its chain id checked against
    /// `--chain-id` when one is set.
    pub(crate) async fn node(&self) -> Result<(DynProvider, u64)> {
        let url = &self.rpc_url;
        let client = openlease_client::rpc::connect(url, self.rpc_policy).await.map_err(|e| rpc_failure(url, &e))?;
        let node = ProviderBuilder::new().connect_client(client).erased();
        let chain_id = node.get_chain_id().await.map_err(|e| rpc_failure(url, &e))?;
        if let Some(expected) = self.chain_id
            && expected != chain_id
        {
            bail!(
                hint = format!("point --rpc-url at a node of chain {expected}, or change --chain-id"),
                "the node at {} is on chain {chain_id}, not the configured {expected}",
                redact(url)
            );
        }
        Ok((node, chain_id))
    }

    /// The deployment manifest of the market on chain `chain_id`.
    pub(crate) fn manifest(&self, chain_id: u64) -> Result<Manifest> {
        let explicit = |e: openlease_client::ManifestError| {
            let rendered = manifest_error(&e);
            CliError::from(Rendered {
                hint: Some(
                    "check --manifest or --deployments (OPENLEASE_MANIFEST, OPENLEASE_DEPLOYMENTS, or `manifest` \
                     and `deployments` in the config file)"
                        .into(),
                ),
                ..rendered
            })
        };
        let manifest = match &self.manifest {
            ManifestSource::File(path) => Manifest::load(path).map_err(explicit)?,
            ManifestSource::Dir(dir) => Manifest::load_for_chain(dir, chain_id).map_err(explicit)?,
            ManifestSource::Search => {
                let cwd = std::env::current_dir()
                    .map_err(|e| CliError::new(format!("cannot read the current directory: {e}")))?;
                let path = find_manifest(&cwd, chain_id).map_err(|looked| no_manifest(chain_id, &looked))?;
                Manifest::load(&path).map_err(|e| CliError::from(manifest_error(&e)))?
            }
        };
        let _ = self.stablecoins.set(manifest.stablecoins.clone());
        Ok(manifest)
    }

    /// Connects to the market: as the configured key, or, when `need_key` is false and none was
    /// given, as a throwaway key that only reads.
    pub(crate) async fn connect(&self, need_key: bool) -> Result<Client<DynProvider>> {
        let signer = if need_key || self.has_key() { self.signer()? } else { PrivateKeySigner::random() };
        let (_, chain_id) = self.node().await?;
        let manifest = self.manifest(chain_id)?;
        Ok(Client::connect_with(&self.rpc_url, signer, manifest, self.rpc_policy).await?)
    }

    /// What errors are rendered with: the node, and the market's stablecoins once read.
    pub(crate) fn error_context(&self) -> ErrorContext<'_> {
        ErrorContext { rpc_url: Some(&self.rpc_url), stablecoins: self.stablecoins.get().map_or(&[], Vec::as_slice) }
    }

    /// `error` as printed.
    pub(crate) fn render(&self, error: &CliError) -> Rendered {
        error.render(&self.error_context())
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
        self.target
            .get()
            .map(|t| serde_json::json!({ "configFile": t.config_file, "market": t.market, "chainId": t.chain_id }))
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

        let wrong_type = FileConfig::parse("chain_id = \"dev\"", path).unwrap_err().plain();
        assert!(wrong_type.message.contains("/etc/openlease/openlease.toml"), "{wrong_type}");
        assert!(wrong_type.message.contains("`chain_id` must be an integer, not string"), "{wrong_type}");
        let unknown = FileConfig::parse("rpc = \"x\"", path).unwrap_err().plain();
        assert!(unknown.message.contains("unknown key `rpc`"), "{unknown}");
        let syntax = FileConfig::parse("rpc_url = ", path).unwrap_err().plain();
        assert!(syntax.message.contains("not valid TOML"), "{syntax}");
        assert!(FileConfig::parse("private_key = \"0x01\"", path).unwrap_err().plain().message.contains("refused"));
    }

    #[test]
    fn the_default_manifest_is_found_in_the_nearest_parent() {
        struct Scratch(PathBuf);
        impl Drop for Scratch {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let root = Scratch(std::env::temp_dir().join(format!("openlease-cli-manifest-{}", std::process::id())));
        let deep = root.0.join("repo/client/cli");
        std::fs::create_dir_all(&deep).unwrap();
        let looked = find_manifest(&deep, 31337).unwrap_err();
        assert_eq!(looked[0], deep.join("deployments/31337.json"));
        assert_eq!(looked[1], root.0.join("repo/client/deployments/31337.json"));
        std::fs::create_dir_all(root.0.join("repo/deployments")).unwrap();
        std::fs::write(root.0.join("repo/deployments/31337.json"), "{}").unwrap();
        assert_eq!(find_manifest(&deep, 31337), Ok(root.0.join("repo/deployments/31337.json")));
        assert!(find_manifest(&deep, 1).is_err(), "another chain's manifest is not this one's");
        let error = no_manifest(31337, &looked).plain();
        assert!(error.message.contains(&deep.join("deployments/31337.json").display().to_string()), "{error}");
        assert!(error.hint.unwrap().contains("--deployments DIR or --manifest PATH"));
    }
}
