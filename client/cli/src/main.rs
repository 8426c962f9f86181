#![doc = include_str!("../README.md")]

// One module per command of the tree…
mod account;
mod devnet;
mod dispute;
mod key;
mod lease;
mod offer;
mod provider;
mod receipt;
mod session;
mod signer;
// …and what they share, which imports none of them.
mod chain;
mod config;
mod error;
mod output;
mod units;

use std::process::ExitCode;

use alloy::primitives::Address;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, parser::ValueSource};

use crate::{
    config::{ConfigFile, GlobalArgs, Settings},
    error::{CliError, ErrorContext, Result},
    output::{Output, Report},
};

/// Openlease from the command line: providers stake and publish offers, tenants lease compute,
/// receipts are signed, verified and settled, disputes opened and ruled.
///
/// Amounts are in token units (`12.5 USDC`), durations like `90s`, `10m`, `1h`, `30d`.
/// Settings come from flags, then OPENLEASE_* environment variables, then `openlease.toml`.
#[derive(Parser)]
#[command(name = "openlease", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Token balances, claimable payouts and stake of an account (yours by default).
    #[command(alias = "balance")]
    Status {
        /// The account [default: yours].
        address: Option<Address>,
    },
    /// Pulls claimable payouts (earnings, refunds, compensation) to your wallet.
    Claim {
        /// The token, by symbol or address [default: every token with something claimable].
        token: Option<String>,
        /// Where to send it [default: you].
        #[arg(long)]
        to: Option<Address>,
    },
    /// Provider: profile and stake.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Provider: offers of compute.
    #[command(subcommand)]
    Offer(offer::OfferCommand),
    /// Tenant: leases.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Tenant: session signers that sign receipts for your leases.
    #[command(subcommand)]
    Signer(signer::SignerCommand),
    /// Service receipts: sign (tenant's signer) and verify (provider).
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// Provider: settles receipts (one `settle`, many `settleBatch`) and prints each lease's
    /// outcome; receipts that would pay nothing are not sent.
    Settle(receipt::SettleArgs),
    /// Disputes over a provider's service.
    #[command(subcommand)]
    Dispute(dispute::DisputeCommand),
    /// The market's stablecoins.
    #[command(subcommand)]
    Token(account::TokenCommand),
    /// A local devnet (anvil) only: fund any address, move the clock forward.
    #[command(subcommand)]
    Devnet(devnet::DevnetCommand),
    /// Tenant: a session on the market's providers: choose, pay for what is served, fail over,
    /// fall back.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Accounts in encrypted keystore files.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return usage_error(error),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let out = Output::new(cli.global.json);
    let from_env = matches.value_source("config") == Some(ValueSource::EnvVariable);
    let config = ConfigFile::choose(cli.global.config.as_deref(), from_env);
    let settings = match Settings::resolve(&cli.global, &config) {
        Ok(settings) => settings,
        Err(error) => {
            out.error(&error.render(&ErrorContext::default()), None);
            return ExitCode::FAILURE;
        }
    };
    let result = run(cli.command, &settings, out).await;
    // With --json, a command that sent transactions says where in its output, as it did on
    // stderr without --json.
    match result {
        Ok(mut report) => {
            if let (Some(target), Some(json)) = (settings.target(), report.json.as_object_mut()) {
                json.insert("using".into(), target);
            }
            out.report(&report);
            ExitCode::SUCCESS
        }
        Err(error) => {
            out.error(&settings.render(&error), settings.target());
            ExitCode::FAILURE
        }
    }
}

/// A command line clap refused: its message as usual, or as JSON when `--json` was asked.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args().any(|arg| arg == "--json");
    if !json || matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        error.exit();
    }
    let message = error.render().to_string();
    let message = message.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
    let error = CliError::hint(message, "see `openlease --help`");
    Output::new(true).error(&error.render(&ErrorContext::default()), None);
    ExitCode::from(2)
}

async fn run(command: Command, s: &Settings, out: Output) -> Result<Report> {
    match command {
        Command::Status { address } => account::status(s, address).await,
        Command::Claim { token, to } => account::claim(s, out, token, to).await,
        Command::Token(command) => account::token(command, s).await,
        Command::Provider(command) => provider::run(command, s, out).await,
        Command::Offer(command) => offer::run(command, s).await,
        Command::Lease(command) => lease::run(command, s, out).await,
        Command::Signer(command) => signer::run(command, s).await,
        Command::Receipt(command) => receipt::run(command, s, out).await,
        Command::Settle(args) => receipt::settle(s, out, args).await,
        Command::Dispute(command) => dispute::run(command, s, out).await,
        Command::Devnet(command) => devnet::run(command, s, out).await,
        Command::Session(command) => session::run(command, s, out).await,
        Command::Key(command) => key::run(command, s),
    }
}
