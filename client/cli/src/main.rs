#![doc = include_str!("../README.md")]

mod account;
mod config;
mod error;
mod leases;
mod output;
mod provider;
mod receipts;
mod units;

use std::{path::PathBuf, process::ExitCode};

use alloy::primitives::{Address, B256, U256};
use clap::{Args, Parser, Subcommand};

use crate::{
    config::{GlobalArgs, Settings},
    error::Result,
    output::{Output, Report},
    units::{Duration, TypedAmount, TypedPrice},
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
    Provider(ProviderCommand),
    /// Provider: offers of compute.
    #[command(subcommand)]
    Offer(OfferCommand),
    /// Tenant: leases.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Tenant: session signers that sign receipts for your leases.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Service receipts: sign (tenant's signer) and verify (provider).
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Provider: settles receipts (one `settle`, many `settleBatch`) and prints each lease's outcome.
    Settle {
        /// Signed receipt files (`openlease receipt sign --out`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Receipts per transaction when settling many.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
    /// Disputes over a provider's service.
    #[command(subcommand)]
    Dispute(DisputeCommand),
    /// The market's stablecoins.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum ProviderCommand {
    /// Registers you as a provider.
    Register(ProfileArgs),
    /// Replaces your provider profile.
    Update(ProfileArgs),
    /// A provider's profile, stake and offers.
    Show {
        /// The provider [default: you].
        address: Option<Address>,
    },
    /// Stakes collateral, e.g. `provider stake "10000 USDC"` (approves the market first if needed).
    Stake {
        /// The amount with its token.
        amount: TypedAmount,
    },
    /// Starts the unbonding of free stake, e.g. `provider unstake "500 USDC"`.
    Unstake {
        /// The amount with its token.
        amount: TypedAmount,
    },
    /// Withdraws all stake that finished unbonding.
    Withdraw {
        /// The token, by symbol or address.
        token: String,
        /// Where to send it [default: you].
        #[arg(long)]
        to: Option<Address>,
    },
}

/// A provider's profile.
#[derive(Debug, Args)]
struct ProfileArgs {
    /// Where tenants reach the service.
    #[arg(long)]
    endpoint: String,
    /// Where the hardware runs.
    #[arg(long)]
    region: String,
    /// Where the provider describes itself (JSON).
    #[arg(long, default_value = "")]
    metadata_uri: String,
    /// The hardware attributes, hashed on chain (e.g. `gpu:a100,ram:80g`).
    #[arg(long, conflicts_with = "attributes_hash")]
    attributes: Option<String>,
    /// The hardware attributes' hash, if you hashed them yourself.
    #[arg(long)]
    attributes_hash: Option<B256>,
}

#[derive(Debug, Subcommand)]
enum OfferCommand {
    /// Publishes an offer, e.g. `offer publish --price "0.36 USDC/h" --min-duration 1h --max-duration 30d --notice 10m --capacity 4`.
    Publish {
        /// Price per second, or per /min, /h, /d: `0.0001 USDC`, `0.36 USDC/h`.
        #[arg(long)]
        price: TypedPrice,
        /// The token leases pay in [default: the price's].
        #[arg(long)]
        token: Option<String>,
        /// Shortest lease.
        #[arg(long)]
        min_duration: Duration,
        /// Longest lease.
        #[arg(long)]
        max_duration: Duration,
        /// How long a close takes effect after notice; the lease's bond is sized on it.
        #[arg(long)]
        notice: Duration,
        /// How many leases may be open at once.
        #[arg(long, default_value_t = 1)]
        capacity: u16,
    },
    /// Changes the terms new leases get (open leases keep theirs); what is not given stays.
    Update {
        /// The offer.
        offer_id: U256,
        /// Price per second, or per /min, /h, /d.
        #[arg(long)]
        price: Option<TypedPrice>,
        /// Shortest lease.
        #[arg(long)]
        min_duration: Option<Duration>,
        /// Longest lease.
        #[arg(long)]
        max_duration: Option<Duration>,
        /// Notice period.
        #[arg(long)]
        notice: Option<Duration>,
        /// How many leases may be open at once.
        #[arg(long)]
        capacity: Option<u16>,
    },
    /// Stops new leases of an offer.
    Pause {
        /// The offer.
        offer_id: U256,
    },
    /// Takes new leases of an offer again.
    Resume {
        /// The offer.
        offer_id: U256,
    },
    /// The market's offers.
    List {
        /// Only this provider's.
        #[arg(long)]
        provider: Option<Address>,
    },
    /// One offer's terms.
    Show {
        /// The offer.
        offer_id: U256,
    },
}

#[derive(Debug, Subcommand)]
enum LeaseCommand {
    /// Opens a lease, e.g. `lease open 1 --duration 7d --deposit "100 USDC"` (by permit when the token has it).
    Open {
        /// The offer.
        offer_id: U256,
        /// How long.
        #[arg(long)]
        duration: Duration,
        /// Escrowed up front; at least the price times the offer's minimum duration.
        #[arg(long)]
        deposit: TypedAmount,
        /// The highest price accepted [default: the offer's current price].
        #[arg(long)]
        max_price: Option<TypedPrice>,
    },
    /// Adds to a lease's escrow, extending its runway.
    TopUp {
        /// The lease.
        lease_id: U256,
        /// The amount, in the lease's token.
        amount: TypedAmount,
    },
    /// Gives notice: the lease ends after its notice period.
    Close {
        /// The lease.
        lease_id: U256,
    },
    /// After the settlement window: refunds the rest of the escrow and releases the bond.
    Finalize {
        /// The lease.
        lease_id: U256,
    },
    /// Provider: ends a lease at once; its bond is slashed to the tenant.
    Terminate {
        /// The lease.
        lease_id: U256,
    },
    /// Provider: ends a lease whose tenant left service unpaid past the payment grace; no bond is
    /// slashed, the tenant is refunded what it did not settle (receipts you hold are forfeit).
    Evict {
        /// The lease.
        lease_id: U256,
    },
    /// Tenant: leaves a lease for another offer in one transaction, moving the escrow no receipt
    /// can claim into the new lease, e.g. `lease failover 3 --to 5 --duration 1d`.
    Failover {
        /// The lease to leave.
        lease_id: U256,
        /// The offer to move to (same token).
        #[arg(long)]
        to: U256,
        /// How long the new lease runs.
        #[arg(long)]
        duration: Duration,
        /// Added to the escrow moved over [default: nothing].
        #[arg(long)]
        deposit: Option<TypedAmount>,
    },
    /// A lease's terms, escrow, runway and deadlines.
    Show {
        /// The lease.
        lease_id: U256,
    },
    /// Your leases: as tenant and as provider.
    List {
        /// The account [default: you].
        #[arg(long)]
        address: Option<Address>,
    },
}

#[derive(Debug, Subcommand)]
enum SignerCommand {
    /// Lets a key sign receipts for your leases, e.g. `signer authorize 0x… --cap "500 USDC" --expires 30d`.
    Authorize {
        /// The signer's address.
        signer: Address,
        /// The most it may attest in total.
        #[arg(long)]
        cap: TypedAmount,
        /// How long from now it may sign.
        #[arg(long)]
        expires: Duration,
    },
    /// Stops a signer at once.
    Revoke {
        /// The signer's address.
        signer: Address,
    },
    /// What a tenant allows a signer.
    Show {
        /// The signer's address.
        signer: Address,
        /// The tenant [default: you].
        #[arg(long)]
        tenant: Option<Address>,
        /// Show the cap in this token.
        #[arg(long)]
        token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Signs a receipt with your key (the session signer's): the lease consumed AMOUNT in total.
    Sign {
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Cumulative amount consumed so far, in the lease's token.
        #[arg(long)]
        amount: TypedAmount,
        /// A description of the usage; its keccak256 is the receipt's usage digest.
        #[arg(long, conflicts_with = "usage_digest")]
        usage: Option<String>,
        /// The usage digest itself.
        #[arg(long)]
        usage_digest: Option<B256>,
        /// End of the period covered, unix seconds [default: the chain's time].
        #[arg(long)]
        period_end: Option<u64>,
        /// Write the receipt here [default: stdout].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Checks receipt files against the chain: market, lease, signer, cap, signature.
    Verify {
        /// Signed receipt files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum DisputeCommand {
    /// Tenant: disputes a lease's service, posting the dispute bond.
    Open {
        /// The lease.
        lease_id: U256,
        /// Where the evidence is.
        #[arg(long)]
        evidence: String,
    },
    /// Arbiter: rules on a dispute: upholds it (`--slash-bps N`) or rejects it (`--reject`).
    #[command(visible_alias = "resolve")]
    Rule {
        /// The lease.
        lease_id: U256,
        /// Uphold the dispute: slash this share of the lease's bond to the tenant, in basis points
        /// (1 to the market's maximum; to reject, use --reject).
        #[arg(long, required_unless_present = "reject", conflicts_with = "reject")]
        slash_bps: Option<u16>,
        /// Reject the dispute: the tenant's dispute bond goes to the provider.
        #[arg(long)]
        reject: bool,
    },
    /// After the deadline without a ruling: returns the tenant's bond.
    Expire {
        /// The lease.
        lease_id: U256,
    },
    /// A lease's dispute.
    Show {
        /// The lease.
        lease_id: U256,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// The stablecoins of the market.
    List,
    /// Mints a mock stablecoin (devnets and testnets only), e.g. `token mint "1000 USDC"`.
    Mint {
        /// The amount with its token.
        amount: TypedAmount,
        /// Who gets it [default: you].
        #[arg(long)]
        to: Option<Address>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let out = Output::new(cli.global.json);
    let settings = match Settings::resolve(&cli.global) {
        Ok(settings) => settings,
        Err(error) => {
            out.error(&error, None);
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
            out.error(&error, settings.target());
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
    Output::new(true).error(&error::CliError::hint(message, "see `openlease --help`"), None);
    ExitCode::from(2)
}

async fn run(command: Command, s: &Settings, out: Output) -> Result<Report> {
    match command {
        Command::Status { address } => account::status(s, address).await,
        Command::Claim { token, to } => account::claim(s, out, token, to).await,
        Command::Token(TokenCommand::List) => account::tokens(s).await,
        Command::Token(TokenCommand::Mint { amount, to }) => account::mint(s, amount, to).await,
        Command::Provider(command) => match command {
            ProviderCommand::Register(p) => provider::register(s, p.into_details(), false).await,
            ProviderCommand::Update(p) => provider::register(s, p.into_details(), true).await,
            ProviderCommand::Show { address } => provider::show(s, address).await,
            ProviderCommand::Stake { amount } => provider::stake(s, out, amount).await,
            ProviderCommand::Unstake { amount } => provider::unstake(s, amount).await,
            ProviderCommand::Withdraw { token, to } => provider::withdraw(s, token, to).await,
        },
        Command::Offer(command) => match command {
            OfferCommand::Publish { price, token, min_duration, max_duration, notice, capacity } => {
                let terms = provider::TypedTerms {
                    price: Some(price),
                    min_duration: Some(min_duration),
                    max_duration: Some(max_duration),
                    notice: Some(notice),
                    capacity: Some(capacity),
                };
                provider::publish(s, token, terms).await
            }
            OfferCommand::Update { offer_id, price, min_duration, max_duration, notice, capacity } => {
                let terms = provider::TypedTerms { price, min_duration, max_duration, notice, capacity };
                provider::update_offer(s, offer_id, terms).await
            }
            OfferCommand::Pause { offer_id } => provider::pause(s, offer_id, true).await,
            OfferCommand::Resume { offer_id } => provider::pause(s, offer_id, false).await,
            OfferCommand::List { provider } => provider::list_offers(s, provider).await,
            OfferCommand::Show { offer_id } => provider::show_offer(s, offer_id).await,
        },
        Command::Lease(command) => match command {
            LeaseCommand::Open { offer_id, duration, deposit, max_price } => {
                leases::open(s, out, offer_id, duration, deposit, max_price).await
            }
            LeaseCommand::TopUp { lease_id, amount } => leases::top_up(s, out, lease_id, amount).await,
            LeaseCommand::Close { lease_id } => leases::close(s, lease_id).await,
            LeaseCommand::Finalize { lease_id } => leases::finalize(s, lease_id).await,
            LeaseCommand::Terminate { lease_id } => leases::terminate(s, lease_id).await,
            LeaseCommand::Evict { lease_id } => leases::evict(s, lease_id).await,
            LeaseCommand::Failover { lease_id, to, duration, deposit } => {
                leases::failover(s, out, lease_id, to, duration, deposit).await
            }
            LeaseCommand::Show { lease_id } => leases::show(s, lease_id).await,
            LeaseCommand::List { address } => leases::list(s, address).await,
        },
        Command::Signer(command) => match command {
            SignerCommand::Authorize { signer, cap, expires } => leases::authorize(s, signer, cap, expires).await,
            SignerCommand::Revoke { signer } => leases::revoke(s, signer).await,
            SignerCommand::Show { signer, tenant, token } => leases::show_signer(s, signer, tenant, token).await,
        },
        Command::Receipt(ReceiptCommand::Sign { lease, amount, usage, usage_digest, period_end, out: file }) => {
            let digest = usage_digest.or(usage.map(|u| alloy::primitives::keccak256(u.as_bytes()))).unwrap_or_default();
            receipts::sign(s, lease, amount, digest, period_end, file).await
        }
        Command::Receipt(ReceiptCommand::Verify { files }) => receipts::verify(s, out, &files).await,
        Command::Settle { files, batch_size } => receipts::settle(s, out, &files, batch_size).await,
        Command::Dispute(command) => match command {
            DisputeCommand::Open { lease_id, evidence } => leases::open_dispute(s, out, lease_id, evidence).await,
            DisputeCommand::Rule { lease_id, slash_bps, reject } => {
                leases::rule(s, lease_id, leases::Ruling::from_flags(slash_bps, reject)?).await
            }
            DisputeCommand::Expire { lease_id } => leases::expire_dispute(s, lease_id).await,
            DisputeCommand::Show { lease_id } => leases::show_dispute(s, lease_id).await,
        },
    }
}

impl ProfileArgs {
    fn into_details(self) -> openlease_client::ProviderDetails {
        let attributes_hash = self
            .attributes_hash
            .or(self.attributes.map(|a| alloy::primitives::keccak256(a.as_bytes())))
            .unwrap_or_default();
        openlease_client::ProviderDetails {
            metadata_uri: self.metadata_uri,
            endpoint: self.endpoint,
            region: self.region,
            attributes_hash,
        }
    }
}
