//! `openlease key new`: a fresh account in an encrypted keystore file (Web3 Secret Storage, which
//! geth, foundry's `cast wallet` and wallets import), so that no command needs a key in an
//! environment variable or on a command line: `--keystore PATH` with its password from
//! `OPENLEASE_KEYSTORE_PASSWORD` or `--password-file`.

use std::path::PathBuf;

use alloy::signers::local::PrivateKeySigner;
use serde_json::json;

use crate::{
    config::Settings,
    error::{CliError, Result, bail},
    output::Report,
};

/// `openlease key`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum KeyCommand {
    /// Creates an account in a new encrypted keystore file at PATH (never over an existing file),
    /// with the password from OPENLEASE_KEYSTORE_PASSWORD or --password-file; prints its address.
    New {
        /// The keystore file to create.
        path: PathBuf,
    },
}

pub(crate) fn run(command: KeyCommand, settings: &Settings) -> Result<Report> {
    let KeyCommand::New { path } = command;
    if path.exists() {
        bail!(
            hint = "choose another path, or remove the old file first",
            "{} exists: a keystore is never overwritten",
            path.display()
        );
    }
    let password = settings.keystore_password(&path)?;
    if password.is_empty() {
        bail!(hint = "set OPENLEASE_KEYSTORE_PASSWORD or pass --password-file", "the keystore's password is empty");
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::new(format!("{} is not a file path", path.display())))?;
    std::fs::create_dir_all(&dir).map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    let (signer, _) = PrivateKeySigner::new_keystore(&dir, &mut rand::thread_rng(), password, Some(name))
        .map_err(|e| CliError::new(format!("cannot write the keystore {}: {e}", path.display())))?;
    restrict(&path)?;
    let address = signer.address();
    Ok(Report::new(
        format!(
            "created {} for {address}\nuse it with --keystore {} (or `keystore` in openlease.toml)",
            path.display(),
            path.display()
        ),
        json!({ "address": address, "keystore": path }),
    ))
}

/// Readable by its owner alone.
fn restrict(path: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::new(format!("cannot restrict {}: {e}", path.display())))?;
    }
    Ok(())
}
