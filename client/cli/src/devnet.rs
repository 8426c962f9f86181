//! `openlease devnet`: what only a local devnet allows, for trying the market by hand: funding any
//! address with ETH and mock stablecoins without its key, and moving the clock forward to see
//! leases end, settlement windows close and stake thaw. Refused on any node that is not anvil.

use std::{collections::BTreeSet, fmt::Write};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ext::AnvilApi},
    signers::local::PrivateKeySigner,
};
use clap::Subcommand;
use openlease_client::{
    Client, Error as SdkError, Manifest, StablecoinEntry, TokenAmount, TypedAmount, TypedDuration,
    contracts::MockStablecoin,
    format_duration, format_time, format_time_from,
    status::{DisputeStatus, LeaseStatus},
    terms,
};
use serde_json::{Value, json};

use crate::{
    config::Settings,
    error::{CliError, Result, bail, redact},
    output::{Output, Report},
    units::{amount_arg, amount_json, duration_arg, resolve, resolve_in},
};

/// ETH, for `--eth`.
fn ether() -> StablecoinEntry {
    StablecoinEntry { symbol: "ETH".into(), address: Address::ZERO, decimals: 18 }
}

/// ETH lent to a funded account for the gas of its mints, and taken back after.
const GAS_MONEY: u128 = 1_000_000_000_000_000_000;

/// `openlease devnet`.
#[derive(Debug, Subcommand)]
pub(crate) enum DevnetCommand {
    /// Gives an address ETH and mock stablecoins, no key needed, e.g.
    /// `devnet fund 0x… --token "1000 USDC" --token "50 DAI"` (anvil only).
    Fund {
        /// The account to fund.
        address: Address,
        /// ETH added to its balance.
        #[arg(long, default_value = "100", value_parser = amount_arg, allow_hyphen_values = true)]
        eth: TypedAmount,
        /// A mock stablecoin amount minted to it; repeat for several.
        #[arg(long = "token", value_name = "AMOUNT", value_parser = amount_arg, allow_hyphen_values = true)]
        tokens: Vec<TypedAmount>,
    },
    /// Moves the devnet's clock forward and mines a block, e.g. `devnet advance 1h`; says what
    /// came due meanwhile (anvil only).
    Advance {
        /// How far.
        #[arg(value_parser = duration_arg)]
        duration: TypedDuration,
    },
}

/// Runs `openlease devnet …`.
pub(crate) async fn run(command: DevnetCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        DevnetCommand::Fund { address, eth, tokens } => fund(settings, out, address, &eth, &tokens).await,
        DevnetCommand::Advance { duration } => advance(settings, duration).await,
    }
}

/// Whether a node that calls itself `version` (its `web3_clientVersion`) is a devnet these
/// commands may change: anvil, whose `anvil_*` methods they use. Hardhat and ganache have other
/// methods for the same; a real node has none, and changing its balances or clock would not be
/// something to do by mistake anyway.
fn check_devnet(version: &str, chain_id: u64, node: &str) -> Result<()> {
    if version.to_ascii_lowercase().starts_with("anvil") {
        return Ok(());
    }
    let other = ["hardhat", "ganache"].into_iter().find(|dev| version.to_ascii_lowercase().contains(dev));
    let why = match other {
        Some(dev) => format!("`openlease devnet` uses anvil's own methods, which {dev} does not have"),
        None => "`openlease devnet` sets balances and moves the clock, which only a local anvil allows".into(),
    };
    bail!(
        hint = "point --rpc-url at an anvil devnet (`make devnet` starts one on http://127.0.0.1:8545)",
        "refusing: the node at {node} is `{version}` on chain {chain_id}, not an anvil devnet: {why}"
    );
}

/// The node, checked to be an anvil devnet.
async fn devnet(settings: &Settings) -> Result<(DynProvider, u64)> {
    let (node, chain_id) = settings.node().await?;
    let version = node.get_client_version().await.map_err(SdkError::from)?;
    check_devnet(&version, chain_id, &redact(settings.rpc_url()))?;
    Ok((node, chain_id))
}

/// `devnet fund`: ETH by `anvil_setBalance`; each mock stablecoin by its open `mint`, sent from
/// the address itself by impersonation (lent the gas, taken back after), so no key is needed.
async fn fund(
    settings: &Settings,
    out: Output,
    address: Address,
    eth: &TypedAmount,
    tokens: &[TypedAmount],
) -> Result<Report> {
    let eth = resolve_in(eth, &ether(), "--eth")?;
    let (node, chain_id) = devnet(settings).await?;
    let manifest = if tokens.is_empty() { None } else { Some(settings.manifest(chain_id)?) };
    let mints = match &manifest {
        Some(manifest) => tokens.iter().map(|t| resolve(t, manifest)).collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let sdk = |e| CliError::from(SdkError::from(e));
    let before = node.get_balance(address).await.map_err(sdk)?;
    let funded = before + eth.raw;
    if !eth.raw.is_zero() {
        node.anvil_set_balance(address, funded).await.map_err(sdk)?;
    }
    if !mints.is_empty() {
        node.anvil_set_balance(address, funded + U256::from(GAS_MONEY)).await.map_err(sdk)?;
        node.anvil_impersonate_account(address).await.map_err(sdk)?;
        let minted = mint(&node, out, address, &mints).await;
        let stopped = node.anvil_stop_impersonating_account(address).await;
        node.anvil_set_balance(address, funded).await.map_err(sdk)?;
        minted?;
        stopped.map_err(sdk)?;
    }
    let mut given = vec![eth.to_string()];
    given.extend(mints.iter().map(|(_, amount)| amount.to_string()));
    let (mut held, mut balances) = (vec![TokenAmount::of(&ether(), funded).to_string()], Vec::new());
    for (coin, _) in &mints {
        let token = MockStablecoin::new(coin.address, &node);
        let balance = TokenAmount::of(coin, token.balanceOf(address).call().await.map_err(SdkError::from)?);
        held.push(balance.to_string());
        balances.push(amount_json(&balance));
    }
    let text =
        format!("funded {address} on chain {chain_id} with {}\n  it holds {}", given.join(", "), held.join(", "));
    Ok(Report::new(
        text,
        json!({
            "address": address,
            "chainId": chain_id,
            "eth": amount_json(&TokenAmount::of(&ether(), funded)),
            "ethAdded": amount_json(&eth),
            "minted": mints.iter().map(|(_, amount)| amount_json(amount)).collect::<Vec<_>>(),
            "balances": balances,
        }),
    ))
}

/// Mints each amount to `address` from `address` (impersonated by the node).
async fn mint(
    node: &DynProvider,
    out: Output,
    address: Address,
    mints: &[(StablecoinEntry, TokenAmount)],
) -> Result<()> {
    for (n, (coin, amount)) in mints.iter().enumerate() {
        out.step(n + 1, mints.len(), format!("minting {amount}"));
        let cannot = |e: String| {
            CliError::hint(
                format!("{} cannot be minted: {e}", coin.symbol),
                "only the mock stablecoins of a devnet mint; this manifest's token is another",
            )
        };
        let token = MockStablecoin::new(coin.address, node);
        let call = token.mint(address, amount.raw).from(address);
        let pending = call.send().await.map_err(|e| match SdkError::from(e) {
            transport @ SdkError::Transport(_) => CliError::from(transport),
            other => cannot(other.to_string()),
        })?;
        let receipt = pending.get_receipt().await.map_err(SdkError::from)?;
        if !receipt.status() {
            return Err(cannot(format!("transaction {} reverted", receipt.transaction_hash)));
        }
    }
    Ok(())
}

/// The latest block's timestamp.
async fn now(node: &DynProvider) -> Result<u64> {
    let block = node.get_block_by_number(BlockNumberOrTag::Latest).await.map_err(SdkError::from)?;
    Ok(block.map_or(0, |b| b.header.timestamp))
}

/// `devnet advance`: `evm_increaseTime`, a block mined, and what came due between the chain's
/// time before and after (when the market's manifest is found).
async fn advance(settings: &Settings, duration: TypedDuration) -> Result<Report> {
    let (node, chain_id) = devnet(settings).await?;
    let before = now(&node).await?;
    node.anvil_increase_time(duration.secs()).await.map_err(SdkError::from)?;
    node.anvil_mine(Some(1), None).await.map_err(SdkError::from)?;
    let after = now(&node).await?;
    let mut text = format!(
        "chain {chain_id}'s clock moved {} forward: {} → {}",
        format_duration(after.saturating_sub(before)),
        format_time(before),
        format_time(after)
    );
    let (events, note) = match settings.manifest(chain_id) {
        Ok(manifest) => (came_due(node, manifest, before, after).await?, None),
        Err(e) => (Vec::new(), Some(settings.render(&e).message)),
    };
    for event in &events {
        let _ = write!(text, "\n  {}", event.text);
    }
    match &note {
        Some(note) => {
            let _ = write!(text, "\n  (what came due is not shown: {note})");
        }
        None if events.is_empty() => text.push_str("\n  nothing of the market came due meanwhile"),
        None => {}
    }
    Ok(Report::new(
        text,
        json!({
            "chainId": chain_id,
            "before": before,
            "after": after,
            "advanced": after.saturating_sub(before),
            "cameDue": events.iter().map(|e| e.json.clone()).collect::<Vec<_>>(),
            "note": note,
        }),
    ))
}

/// Something of the market that came due while the clock moved, and what to do about it.
struct Due {
    text: String,
    json: Value,
}

/// What came due in `(before, after]`: leases that stopped running, settlement windows that closed,
/// thawing stake that became withdrawable, disputes past their deadline, signers that expired.
async fn came_due(node: DynProvider, manifest: Manifest, before: u64, after: u64) -> Result<Vec<Due>> {
    let client = Client::new(node, PrivateKeySigner::random(), manifest);
    let market = client.market();
    let within = |t: u64| before < t && t <= after;
    let when = |t: u64| format_time_from(t, after);
    let symbol = |token: Address| client.amount(token, U256::ZERO).symbol;
    let mut due = Vec::new();

    let count = market.leaseCount().call().await.map_err(SdkError::from)?.saturating_to::<u64>();
    for id in (1..=count).map(U256::from) {
        let lease = client.lease(id).await?;
        if lease.status != u8::from(LeaseStatus::Open) {
            continue;
        }
        let end = terms::run_end(&lease);
        let deadline = client.settlement_deadline(id).await?;
        if within(end) {
            let why = if end < u64::from(lease.endsAt) { "its escrow ran out" } else { "its term ended" };
            let settle = if within(deadline) { String::new() } else { format!("; settle it until {}", when(deadline)) };
            due.push(Due {
                text: format!("lease {id} stopped running at {}: {why}{settle}", when(end)),
                json: json!({ "leaseId": id.to_string(), "what": "leaseEnded", "at": end }),
            });
        }
        if within(deadline) {
            due.push(Due {
                text: format!(
                    "lease {id}'s settlement window closed at {}: `openlease lease finalize {id}` refunds the rest",
                    when(deadline)
                ),
                json: json!({ "leaseId": id.to_string(), "what": "settlementWindowClosed", "at": deadline }),
            });
        }
    }

    let from = client.manifest().deploy_block;
    let unstakes = market.UnstakeRequested_filter().from_block(from).query().await.map_err(SdkError::from)?;
    let thawing: BTreeSet<(Address, Address)> = unstakes.iter().map(|(e, _)| (e.provider, e.token)).collect();
    for (provider, token) in thawing {
        let stake = client.stake_of(provider, token).await?;
        if !stake.thawing.is_zero() && within(stake.thaw_ends_at) {
            let amount = client.amount(token, stake.thawing);
            due.push(Due {
                text: format!(
                    "provider {provider}'s {amount} finished thawing at {}: `openlease provider withdraw {}`",
                    when(stake.thaw_ends_at),
                    symbol(token)
                ),
                json: json!({
                    "provider": provider, "what": "stakeThawed", "at": stake.thaw_ends_at, "amount": amount_json(&amount),
                }),
            });
        }
    }

    let disputes = market.DisputeOpened_filter().from_block(from).query().await.map_err(SdkError::from)?;
    let disputed: BTreeSet<U256> = disputes.iter().map(|(e, _)| e.leaseId).collect();
    for id in disputed {
        let dispute = client.dispute(id).await?;
        let deadline = u64::from(dispute.deadline);
        if dispute.status == u8::from(DisputeStatus::Open) && within(deadline) {
            due.push(Due {
                text: format!(
                    "the dispute on lease {id} passed its deadline at {} unruled: `openlease dispute expire {id}`",
                    when(deadline)
                ),
                json: json!({ "leaseId": id.to_string(), "what": "disputeDeadlinePassed", "at": deadline }),
            });
        }
    }

    let authorized = market.SignerAuthorized_filter().from_block(from).query().await.map_err(SdkError::from)?;
    let signers: BTreeSet<(Address, Address, Address)> =
        authorized.iter().map(|(e, _)| (e.tenant, e.signer, e.provider)).collect();
    for (tenant, signer, provider) in signers {
        let terms = client.session_signer(tenant, signer, provider).await?;
        if terms.is_authorized() && !terms.is_revoked() && within(terms.expires_at) {
            due.push(Due {
                text: format!(
                    "signer {signer} of tenant {tenant} for provider {provider} expired at {}: it pays for no service after",
                    when(terms.expires_at)
                ),
                json: json!({ "tenant": tenant, "signer": signer, "provider": provider, "what": "signerExpired", "at": terms.expires_at }),
            });
        }
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_anvil_is_a_devnet() {
        assert!(check_devnet("anvil/v1.7.1", 31337, "http://127.0.0.1:8545").is_ok());
        assert!(check_devnet("anvil/v0.2.0", 1, "http://127.0.0.1:8545").is_ok(), "a fork of mainnet is local");
        let geth = check_devnet("Geth/v1.14.11-stable/linux-amd64/go1.23.2", 1, "https://rpc.example").unwrap_err();
        let geth = geth.plain();
        assert_eq!(
            geth.message,
            "refusing: the node at https://rpc.example is `Geth/v1.14.11-stable/linux-amd64/go1.23.2` on chain 1, \
             not an anvil devnet: `openlease devnet` sets balances and moves the clock, which only a local anvil allows"
        );
        assert!(geth.hint.unwrap().contains("make devnet"));
        let hardhat = check_devnet("HardhatNetwork/2.22.0/@ethereumjs/vm/7.0.0", 31337, "http://127.0.0.1:8545");
        assert!(hardhat.unwrap_err().plain().message.ends_with("anvil's own methods, which hardhat does not have"));
        assert!(check_devnet("Ganache/v7.9.2/EthereumJS TestRPC/v7.9.2/ethereum-js", 1337, "x").is_err());
    }
}
