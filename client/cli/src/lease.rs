//! `openlease lease`: a tenant's leases (open, top up, close, fail over, finalize) and a provider's
//! ends of them (terminate, demand payment, evict), and anyone's view of them.

use std::fmt::Write;

use alloy::primitives::{Address, U256};
use clap::Subcommand;
use openlease_client::{
    DepositMethod, LeaseRequest, TokenAmount, TypedAmount, TypedDuration, TypedPrice, format_duration, format_time,
    format_time_from,
    status::{DisputeStatus, LeasePhase, LeaseStatus, PhaseFacts},
};
use serde_json::json;

use crate::{
    chain::{dispute_word, ensure_balance, existing_offer, lease_and_offer},
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    units::{amount_arg, amount_json, coin_at, duration_arg, price_arg, resolve_in},
};

/// `Lease::status` as the bindings read it (a `uint8`).
const FINALIZED: u8 = LeaseStatus::Finalized as u8;

/// `openlease lease`.
#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCommand {
    /// Opens a lease, e.g. `lease open 1 --duration 7d --deposit "50 USDC"` (by permit when the token has it).
    Open {
        /// The offer.
        offer_id: U256,
        /// How long.
        #[arg(long, value_parser = duration_arg)]
        duration: TypedDuration,
        /// Escrowed up front: at least the price times the offer's minimum duration, at most the
        /// price times the duration (what the lease can ever use).
        #[arg(long, value_parser = amount_arg, allow_hyphen_values = true)]
        deposit: TypedAmount,
        /// The highest price accepted [default: the offer's current price].
        #[arg(long, value_parser = price_arg, allow_hyphen_values = true)]
        max_price: Option<TypedPrice>,
    },
    /// Adds to a lease's escrow, extending its runway up to the lease's end.
    TopUp {
        /// The lease.
        lease_id: U256,
        /// The amount, in the lease's token.
        #[arg(value_parser = amount_arg, allow_hyphen_values = true)]
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
    /// Provider: demands payment of a lease whose tenant left service unpaid past the payment
    /// grace (settle the receipts you hold first). The tenant answers by settling its newest receipt.
    Demand {
        /// The lease.
        lease_id: U256,
    },
    /// Provider: ends a lease whose payment demand went unanswered for the payment grace; no bond
    /// is slashed, the tenant pays for the grace it held and is refunded what no receipt can claim.
    /// Your receipts for service before stay settleable; the bond stays locked until the
    /// tenant's remedies end.
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
        #[arg(long, value_parser = duration_arg)]
        duration: TypedDuration,
        /// Added to the escrow moved over [default: nothing].
        #[arg(long, value_parser = amount_arg, allow_hyphen_values = true)]
        deposit: Option<TypedAmount>,
    },
    /// A lease's terms, escrow, runway, notice and deadlines.
    Show {
        /// The lease.
        lease_id: U256,
    },
    /// Prints an access grant for a lease, signed by your key (the tenant's, or a session signer
    /// the tenant authorized for the lease's provider): what a request without a receipt must
    /// carry, e.g. `curl -H "openlease-lease: 3" -H "openlease-access: $(openlease lease access 3)" …`.
    Access {
        /// The lease.
        lease_id: U256,
        /// How long the grant is good for (gateways refuse grants longer than they allow, one
        /// hour by default).
        #[arg(long = "for", default_value = "10m", value_parser = duration_arg)]
        valid_for: TypedDuration,
    },
    /// Your leases: as tenant and as provider.
    List {
        /// The account [default: you].
        #[arg(long)]
        address: Option<Address>,
    },
}

/// Runs `openlease lease …`.
pub(crate) async fn run(command: LeaseCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        LeaseCommand::Open { offer_id, duration, deposit, max_price } => {
            open(settings, out, offer_id, duration, deposit, max_price).await
        }
        LeaseCommand::TopUp { lease_id, amount } => top_up(settings, out, lease_id, amount).await,
        LeaseCommand::Close { lease_id } => close(settings, lease_id).await,
        LeaseCommand::Finalize { lease_id } => finalize(settings, lease_id).await,
        LeaseCommand::Terminate { lease_id } => terminate(settings, lease_id).await,
        LeaseCommand::Demand { lease_id } => demand(settings, lease_id).await,
        LeaseCommand::Evict { lease_id } => evict(settings, lease_id).await,
        LeaseCommand::Failover { lease_id, to, duration, deposit } => {
            failover(settings, out, lease_id, to, duration, deposit).await
        }
        LeaseCommand::Show { lease_id } => show(settings, lease_id).await,
        LeaseCommand::Access { lease_id, valid_for } => access(settings, out, lease_id, valid_for).await,
        LeaseCommand::List { address } => list(settings, address).await,
    }
}

/// The market's `uint32` of seconds.
fn seconds(duration: TypedDuration) -> Result<u32> {
    u32::try_from(duration.secs()).map_err(|_| CliError::new(format!("a duration of {duration} is too long")))
}

/// `lease open`: by permit in one transaction, else approve then open.
async fn open(
    settings: &Settings,
    out: Output,
    offer_id: U256,
    duration: TypedDuration,
    deposit: TypedAmount,
    max_price: Option<TypedPrice>,
) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    existing_offer(&client, offer_id).await?;
    // The terms shown are the terms bound: the lease opens on them or not at all.
    let quote = client.offer_quote(offer_id).await?;
    let offer = &quote.offer;
    let coin = coin_at(&client, offer.token).await?;
    let deposit = resolve_in(&deposit, &coin, &format!("offer {offer_id}"))?;
    let price = TokenAmount::of(&coin, U256::from(offer.pricePerSecond));
    if let Some(max_price) = &max_price {
        let max = max_price.per_second(&coin)?;
        if offer.pricePerSecond > max {
            bail!(
                hint = "raise --max-price or choose another offer (`openlease offer list`)",
                "offer {offer_id} costs {price} per second, above --max-price ({} per second)",
                TokenAmount::of(&coin, U256::from(max))
            );
        }
    }
    let duration_s = seconds(duration)?;
    let request = LeaseRequest::new(&quote, duration_s, deposit.raw);
    // The tenant's protections (a deposit the whole term cannot use, a balance short of it), the
    // SDK's as the console's wallet actions apply them.
    client.prepare().check_open_lease(client.address(), &request).await.map_err(|e| CliError::in_token(e, &coin))?;
    // Without a permit, the SDK approves the market first if its allowance is short.
    out.step(
        1,
        1,
        format!(
            "opening a lease of offer {offer_id} with {deposit} escrowed, at {price} per second, notice {}, fee {} bps",
            format_duration(u64::from(offer.noticePeriod)),
            quote.params.protocolFeeBps
        ),
    );
    let opening = client.open_lease(request).await.map_err(|e| CliError::in_token(e, &coin))?;
    let lease_id = opening.lease_id;
    let runway = client.runway(lease_id).await?;
    let method = match opening.deposit_method {
        DepositMethod::Permit => "permit",
        DepositMethod::Allowance => "allowance",
    };
    Ok(Report::new(
        format!(
            "opened lease {lease_id} on offer {offer_id}: {deposit} escrowed (by {method}), runs until {}",
            format_time_from(runway.lease_end, runway.now)
        ),
        json!({
            "leaseId": lease_id.to_string(),
            "offerId": offer_id.to_string(),
            "deposit": amount_json(&deposit),
            "depositMethod": method,
            "leaseEnd": runway.lease_end,
        }),
    ))
}

/// `lease top-up` (the SDK approves the market first if its allowance is short). A top-up past
/// what pays for the lease's whole term is refused: it would extend nothing.
async fn top_up(settings: &Settings, out: Output, lease_id: U256, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let amount = resolve_in(&amount, &coin, &format!("lease {lease_id}"))?;
    // A top-up past what pays for the lease's whole term would extend nothing: the SDK's rule,
    // the console's wallet actions' too.
    client
        .prepare()
        .check_top_up(client.address(), lease_id, amount.raw)
        .await
        .map_err(|e| CliError::in_token(e, &coin))?;
    out.step(1, 1, format!("topping up lease {lease_id} with {amount}"));
    client.top_up(lease_id, amount.raw).await.map_err(|e| CliError::in_token(e, &coin))?;
    let lease = client.lease(lease_id).await?;
    let runway = client.runway(lease_id).await?;
    let deposit = TokenAmount::of(&coin, U256::from(lease.deposit));
    Ok(Report::new(
        format!(
            "topped up lease {lease_id} with {amount}: deposit {deposit}, runs until {}",
            format_time_from(runway.lease_end, runway.now)
        ),
        json!({
            "leaseId": lease_id.to_string(),
            "toppedUp": amount_json(&amount),
            "deposit": amount_json(&deposit),
            "leaseEnd": runway.lease_end,
        }),
    ))
}

/// `lease close`.
/// `lease access`: the header value alone on stdout, so that it composes in a shell.
async fn access(settings: &Settings, out: Output, lease_id: U256, valid_for: TypedDuration) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (lease, offer) = lease_and_offer(&client, lease_id).await?;
    let signer = client.receipt_signer(settings.signer()?);
    let now = client.now().await?;
    if signer.address() != lease.tenant {
        let terms = client.session_signer(lease.tenant, signer.address(), offer.provider).await?;
        if let Err(refusal) = terms.check(signer.address(), now) {
            out.warn(&format!("the gateway will refuse this grant: {refusal}"));
        }
    }
    let grant = signer.sign_access(lease_id, now.saturating_add(valid_for.secs()))?;
    Ok(Report::new(
        grant.header(),
        json!({
            "leaseId": lease_id.to_string(),
            "signer": signer.address(),
            "expiresAt": grant.expires_at,
            "header": openlease_client::wire::ACCESS_HEADER,
            "value": grant.header(),
        }),
    ))
}

async fn close(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    client.lease(lease_id).await?;
    let ends_at = client.close_lease(lease_id).await?;
    let deadline = client.settlement_deadline(lease_id).await?;
    let now = client.now().await?;
    Ok(Report::new(
        format!(
            "notice given: lease {lease_id} ends {}; finalize it after {} to refund the rest",
            format_time_from(ends_at, now),
            format_time_from(deadline, now)
        ),
        json!({ "leaseId": lease_id.to_string(), "endsAt": ends_at, "settlementDeadline": deadline }),
    ))
}

/// `lease finalize`.
async fn finalize(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let (refund, bond) = client.finalize_lease(lease_id).await.map_err(|e| CliError::in_token(e, &coin))?;
    let (refund, bond) = (TokenAmount::of(&coin, refund), TokenAmount::of(&coin, bond));
    Ok(Report::new(
        format!(
            "finalized lease {lease_id}: {refund} refunded to the tenant (claim it with `openlease claim`), bond {bond} released"
        ),
        json!({ "leaseId": lease_id.to_string(), "refund": amount_json(&refund), "bondReleased": amount_json(&bond) }),
    ))
}

/// `lease terminate`.
async fn terminate(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    client.lease(lease_id).await?;
    let tx = client.terminate_lease(lease_id).await?;
    Ok(Report::new(
        format!("terminated lease {lease_id}; its bond was slashed to the tenant"),
        json!({ "leaseId": lease_id.to_string(), "tx": tx.transaction_hash }),
    ))
}

/// `lease evict`.
async fn evict(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let eviction = client.evict_lease(lease_id).await.map_err(|e| CliError::in_token(e, &coin))?;
    let (refund, charge) = (TokenAmount::of(&coin, eviction.refund), TokenAmount::of(&coin, eviction.hold_charge));
    Ok(Report::new(
        format!(
            "evicted lease {lease_id}: capacity freed, {charge} paid to you for the capacity held, {refund} refunded \
             to the tenant; the bond stays locked until {} (the tenant's remedies)",
            format_time(eviction.remedies_until)
        ),
        json!({
            "leaseId": lease_id.to_string(),
            "holdCharge": amount_json(&charge),
            "refund": amount_json(&refund),
            "remediesUntil": eviction.remedies_until,
        }),
    ))
}

/// `lease demand`.
async fn demand(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let demand = client.demand_payment(lease_id).await.map_err(|e| CliError::in_token(e, &coin))?;
    let (due, settled) = (TokenAmount::of(&coin, demand.due), TokenAmount::of(&coin, demand.settled));
    Ok(Report::new(
        format!(
            "demanded payment of lease {lease_id}: {due} due, {settled} settled; unless the tenant settles up to \
             {due} by {}, `openlease lease evict {lease_id}` ends it",
            format_time(demand.evictable_at)
        ),
        json!({
            "leaseId": lease_id.to_string(),
            "due": amount_json(&due),
            "settled": amount_json(&settled),
            "evictableAt": demand.evictable_at,
        }),
    ))
}

/// `lease failover`.
async fn failover(
    settings: &Settings,
    out: Output,
    lease_id: U256,
    offer_id: U256,
    duration: TypedDuration,
    deposit: Option<TypedAmount>,
) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, old_offer) = lease_and_offer(&client, lease_id).await?;
    existing_offer(&client, offer_id).await?;
    let quote = client.offer_quote(offer_id).await?;
    let coin = coin_at(&client, old_offer.token).await?;
    let extra = match deposit {
        Some(deposit) => resolve_in(&deposit, &coin, &format!("lease {lease_id}"))?.raw,
        None => U256::ZERO,
    };
    if !extra.is_zero() {
        ensure_balance(&client, coin.address, extra).await?;
    }
    let duration_s = seconds(duration)?;
    out.step(1, 1, format!("failing lease {lease_id} over to offer {offer_id}"));
    let failover = client
        .failover_lease(lease_id, LeaseRequest::new(&quote, duration_s, extra))
        .await
        .map_err(|e| CliError::in_token(e, &coin))?;
    let (moved, kept) = (TokenAmount::of(&coin, failover.moved), TokenAmount::of(&coin, failover.kept));
    Ok(Report::new(
        format!(
            "lease {lease_id} failed over to lease {} on offer {offer_id}: {moved} moved over, {kept} kept for what lease {lease_id} can still settle",
            failover.lease_id
        ),
        json!({
            "leaseId": lease_id.to_string(),
            "newLeaseId": failover.lease_id.to_string(),
            "moved": amount_json(&moved),
            "kept": amount_json(&kept),
        }),
    ))
}

/// `lease show`: a running lease on which notice was given says so, by whom and until when.
async fn show(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let (lease, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let amount = |raw: U256| TokenAmount::of(&coin, raw);
    let runway = client.runway(lease_id).await?;
    let deadline = client.settlement_deadline(lease_id).await?;
    let dispute = client.dispute(lease_id).await?;
    let notice = client.notice(lease_id).await?;
    let failovers = client.failovers(lease_id).await?;
    let now = runway.now;
    let role = |by: Address| match by {
        by if by == lease.tenant => "tenant",
        by if by == offer.provider => "provider",
        _ => "account",
    };
    let demand = client.standing_demand(lease_id).await?;
    let status = LeaseStatus::try_from(lease.status).unwrap_or(LeaseStatus::None);
    let phase = LeasePhase::of(PhaseFacts {
        status,
        now,
        run_end: runway.lease_end,
        settlement_deadline: deadline,
        notice_given: notice.is_some(),
        demand_unanswered: demand.is_some(),
    });
    let line = match (phase, notice, failovers.to) {
        (LeasePhase::NoticeGiven, Some((_, ends_at)), Some(to)) => format!(
            "failed over to lease {}: runs to the end of its notice {} only for what was served before",
            to.lease_id,
            format_time_from(ends_at, now)
        ),
        (LeasePhase::NoticeGiven, Some((by, ends_at)), None) => {
            format!("notice given by the {} {by}: ends {}", role(by), format_time_from(ends_at, now))
        }
        (LeasePhase::PaymentDemanded, _, _) => format!(
            "payment demanded: {} due, evictable {}",
            amount(demand.map_or(U256::ZERO, |d| d.due)),
            format_time_from(demand.map_or(0, |d| d.evictable_at), now)
        ),
        (LeasePhase::Evicted, _, _) => {
            let until =
                client.market().remediesDeadline(lease_id).call().await.map_err(openlease_client::Error::from)?;
            format!(
                "evicted for an unanswered payment demand; bond locked, disputes open until {}",
                format_time_from(until.saturating_to(), now)
            )
        }
        (phase, _, _) => phase.to_string(),
    };
    let (deposit, settled) = (amount(U256::from(lease.deposit)), amount(U256::from(lease.settled)));
    let escrow = amount(U256::from(lease.deposit - lease.settled));
    let price = amount(U256::from(lease.pricePerSecond));
    let bond = amount(U256::from(lease.bond));
    let failed_over = failovers.to.map(|f| (f.lease_id, amount(f.moved), amount(f.kept)));
    let mut history = String::new();
    if let Some((to, moved, kept)) = &failed_over {
        let _ = write!(history, "\n  failed over to lease {to}: {moved} moved to it, {kept} kept here");
    }
    if let Some(from) = failovers.from {
        let _ = write!(history, "\n  opened by a failover from lease {from}");
    }
    let text = format!(
        "lease {lease_id}: {line}\n  tenant {}\n  provider {}\n  offer {}\n  price {price}/s\n  deposit {deposit}, settled {settled}, escrow {escrow}\n  bond {bond}\n  started {}\n  runs until {}\n  settle until {}\n  notice period {}{history}{}",
        lease.tenant,
        offer.provider,
        lease.offerId,
        format_time_from(lease.startedAt.into(), now),
        format_time_from(runway.lease_end, now),
        format_time_from(deadline, now),
        format_duration(lease.noticePeriod.into()),
        if dispute.status == u8::from(DisputeStatus::None) {
            String::new()
        } else {
            format!("\n  dispute {}", dispute_word(dispute.status))
        },
    );
    let json = json!({
        "leaseId": lease_id.to_string(),
        "status": phase,
        "notice": notice.map(|(by, ends_at)| json!({ "by": by, "role": role(by), "endsAt": ends_at })),
        "tenant": lease.tenant,
        "provider": offer.provider,
        "offerId": lease.offerId,
        "token": offer.token,
        "pricePerSecond": amount_json(&price),
        "deposit": amount_json(&deposit),
        "settled": amount_json(&settled),
        "escrow": amount_json(&escrow),
        "bond": amount_json(&bond),
        "startedAt": lease.startedAt,
        "endsAt": lease.endsAt,
        "leaseEnd": runway.lease_end,
        "settlementDeadline": deadline,
        "noticePeriod": lease.noticePeriod,
        "finalized": lease.status == FINALIZED,
        "dispute": dispute_word(dispute.status),
        "failedOverTo": failed_over.map(|(to, moved, kept)| json!({
            "leaseId": to.to_string(),
            "moved": amount_json(&moved),
            "kept": amount_json(&kept),
        })),
        "failedOverFrom": failovers.from.map(|from| from.to_string()),
    });
    Ok(Report::new(text, json))
}

/// `lease list`: the account's leases as tenant and as provider.
async fn list(settings: &Settings, address: Option<Address>) -> Result<Report> {
    let client = settings.connect(address.is_none()).await?;
    let account = address.unwrap_or(client.address());
    let as_tenant = client.leases_of_tenant(account).await?;
    let as_provider = client.leases_of(account).await?;
    let (mut text, mut json) = (String::new(), Vec::new());
    for (role, opened) in as_tenant.iter().map(|l| ("tenant", l)).chain(as_provider.iter().map(|l| ("provider", l))) {
        let lease = client.lease(opened.lease_id).await?;
        let offer = client.offer(opened.offer_id).await?;
        let coin = coin_at(&client, offer.token).await?;
        let escrow = TokenAmount::of(&coin, U256::from(lease.deposit - lease.settled));
        let finalized = lease.status == FINALIZED;
        let _ = writeln!(
            text,
            "lease {} ({role}) on offer {}: escrow {escrow}{}",
            opened.lease_id,
            opened.offer_id,
            if finalized { ", finalized" } else { "" }
        );
        json.push(json!({
            "leaseId": opened.lease_id.to_string(),
            "offerId": opened.offer_id.to_string(),
            "role": role,
            "tenant": opened.tenant,
            "escrow": amount_json(&escrow),
            "finalized": finalized,
        }));
    }
    if json.is_empty() {
        text = format!("{account} has no leases");
    }
    Ok(Report::new(text, json!({ "account": account, "leases": json })))
}
