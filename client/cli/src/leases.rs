//! The tenant's commands: leases, session signers, disputes (and the arbiter's ruling).

use std::fmt::Write;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use openlease_client::{Client, DepositMethod, LeaseRequest};
use openlease_contracts::IOpenleaseTypes;
use serde_json::json;

use crate::{
    account::{approve, ensure_balance},
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    provider::existing_offer,
    units::{Duration, TypedAmount, TypedPrice, amount_json, coin_at, format_duration, format_time_from, stablecoin},
};

/// The lease and its offer's token.
async fn lease_and_token<P: Provider + Clone>(
    client: &Client<P>,
    lease_id: U256,
) -> Result<(IOpenleaseTypes::Lease, IOpenleaseTypes::Offer)> {
    let lease = client.lease(lease_id).await?;
    let offer = client.offer(U256::from(lease.offerId)).await?;
    Ok((lease, offer))
}

/// `lease open`: by permit in one transaction, else approve then open.
pub(crate) async fn open(
    settings: &Settings,
    out: Output,
    offer_id: U256,
    duration: Duration,
    deposit: TypedAmount,
    max_price: Option<TypedPrice>,
) -> Result<Report> {
    let client = settings.connect(true).await?;
    let offer = existing_offer(&client, offer_id).await?;
    let coin = coin_at(client.manifest(), offer.token);
    let deposit = deposit.resolve_in(&coin, &format!("offer {offer_id}"))?;
    let max_price_per_second = match &max_price {
        Some(price) => price.per_second(&coin)?,
        None => offer.pricePerSecond,
    };
    let duration_s = u32::try_from(duration.0).map_err(|_| CliError::new(format!("a duration of {} s is too long", duration.0)))?;
    ensure_balance(&client, coin.address, deposit.raw).await?;
    let permit = client.supports_permit(coin.address).await?;
    let total = if permit { 1 } else { 2 };
    if !permit {
        approve(&client, out, (1, 2), coin.address, deposit.raw).await?;
    }
    out.step(total, total, format!("opening a lease of offer {offer_id} with {deposit} escrowed"));
    let request = LeaseRequest { offer_id, duration: duration_s, deposit: deposit.raw, max_price_per_second };
    let opening = client.open_lease(request).await?;
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

/// `lease top-up`: approve, then top up.
pub(crate) async fn top_up(settings: &Settings, out: Output, lease_id: U256, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let coin = coin_at(client.manifest(), offer.token);
    let amount = amount.resolve_in(&coin, &format!("lease {lease_id}"))?;
    ensure_balance(&client, coin.address, amount.raw).await?;
    approve(&client, out, (1, 2), coin.address, amount.raw).await?;
    out.step(2, 2, format!("topping up lease {lease_id} with {amount}"));
    client.top_up(lease_id, amount.raw).await?;
    let lease = client.lease(lease_id).await?;
    let runway = client.runway(lease_id).await?;
    let deposit = client.amount(coin.address, U256::from(lease.deposit));
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
pub(crate) async fn close(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(true).await?;
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
pub(crate) async fn finalize(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let (refund, bond) = client.finalize_lease(lease_id).await?;
    let (refund, bond) = (client.amount(offer.token, refund), client.amount(offer.token, bond));
    Ok(Report::new(
        format!("finalized lease {lease_id}: {refund} refunded to the tenant (claim it with `openlease claim`), bond {bond} released"),
        json!({ "leaseId": lease_id.to_string(), "refund": amount_json(&refund), "bondReleased": amount_json(&bond) }),
    ))
}

/// `lease terminate`.
pub(crate) async fn terminate(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(true).await?;
    client.lease(lease_id).await?;
    let tx = client.terminate_lease(lease_id).await?;
    Ok(Report::new(
        format!("terminated lease {lease_id}; its bond was slashed to the tenant"),
        json!({ "leaseId": lease_id.to_string(), "tx": tx.transaction_hash }),
    ))
}

/// `lease show`.
pub(crate) async fn show(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let (lease, offer) = lease_and_token(&client, lease_id).await?;
    let amount = |raw: u128| client.amount(offer.token, U256::from(raw));
    let runway = client.runway(lease_id).await?;
    let deadline = client.settlement_deadline(lease_id).await?;
    let dispute = client.dispute(lease_id).await?;
    let now = runway.now;
    let status = match lease.status {
        1 if now < runway.lease_end => "running",
        1 if now < deadline => "ended, settlement window open",
        1 => "ended, awaiting finalization",
        _ => "finalized",
    };
    let (deposit, settled) = (amount(lease.deposit.to()), amount(lease.settled.to()));
    let escrow = amount((lease.deposit - lease.settled).to());
    let text = format!(
        "lease {lease_id}: {status}\n  tenant {}\n  provider {}\n  offer {}\n  price {}/s\n  deposit {deposit}, settled {settled}, escrow {escrow}\n  bond {}\n  started {}\n  runs until {}\n  settle until {}\n  notice {}{}",
        lease.tenant,
        offer.provider,
        lease.offerId,
        amount(lease.pricePerSecond.into()),
        amount(lease.bond.to()),
        format_time_from(lease.startedAt.into(), now),
        format_time_from(runway.lease_end, now),
        format_time_from(deadline, now),
        format_duration(lease.noticePeriod.into()),
        if dispute.status == 0 { String::new() } else { format!("\n  dispute {}", dispute_status(dispute.status)) },
    );
    let json = json!({
        "leaseId": lease_id.to_string(),
        "status": status,
        "tenant": lease.tenant,
        "provider": offer.provider,
        "offerId": lease.offerId,
        "token": offer.token,
        "pricePerSecond": amount_json(&amount(lease.pricePerSecond.into())),
        "deposit": amount_json(&deposit),
        "settled": amount_json(&settled),
        "escrow": amount_json(&escrow),
        "bond": amount_json(&amount(lease.bond.to())),
        "startedAt": lease.startedAt,
        "endsAt": lease.endsAt,
        "leaseEnd": runway.lease_end,
        "settlementDeadline": deadline,
        "noticePeriod": lease.noticePeriod,
        "finalized": lease.status == 2,
        "dispute": dispute_status(dispute.status),
    });
    Ok(Report::new(text, json))
}

/// `lease list`: the account's leases as tenant and as provider.
pub(crate) async fn list(settings: &Settings, address: Option<Address>) -> Result<Report> {
    let client = settings.connect(address.is_none()).await?;
    let account = address.unwrap_or(client.address());
    let as_tenant = client.leases_of_tenant(account).await?;
    let as_provider = client.leases_of(account).await?;
    let (mut text, mut json) = (String::new(), Vec::new());
    for (role, opened) in as_tenant.iter().map(|l| ("tenant", l)).chain(as_provider.iter().map(|l| ("provider", l))) {
        let lease = client.lease(opened.lease_id).await?;
        let offer = client.offer(opened.offer_id).await?;
        let escrow = client.amount(offer.token, U256::from(lease.deposit - lease.settled));
        let finalized = lease.status == 2;
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

/// `signer authorize`.
pub(crate) async fn authorize(settings: &Settings, signer: Address, cap: TypedAmount, expires: Duration) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (_, cap) = cap.resolve(client.manifest())?;
    if expires.0 == 0 {
        bail!(hint = "give how long it may sign, like `30d`", "an authorization that expires at once is a revocation");
    }
    let expires_at = client.now().await? + expires.0;
    client.authorize_signer(signer, cap.raw, expires_at).await?;
    let terms = client.session_signer(client.address(), signer).await?;
    Ok(Report::new(
        format!("authorized signer {signer}: cap {cap}, until {}", format_time_from(expires_at, expires_at - expires.0)),
        json!({
            "signer": signer,
            "cap": amount_json(&cap),
            "spent": terms.spent.to_string(),
            "expiresAt": terms.expires_at,
        }),
    ))
}

/// `signer revoke`.
pub(crate) async fn revoke(settings: &Settings, signer: Address) -> Result<Report> {
    let client = settings.connect(true).await?;
    client.revoke_signer(signer).await?;
    Ok(Report::new(
        format!("revoked signer {signer}: its receipts can no longer be settled"),
        json!({ "signer": signer, "revoked": true }),
    ))
}

/// `signer show`.
pub(crate) async fn show_signer(
    settings: &Settings,
    signer: Address,
    tenant: Option<Address>,
    token: Option<String>,
) -> Result<Report> {
    let client = settings.connect(tenant.is_none()).await?;
    let tenant = tenant.unwrap_or(client.address());
    let terms = client.session_signer(tenant, signer).await?;
    let coin = token.map(|t| stablecoin(client.manifest(), &t)).transpose()?;
    let show = |raw: U256| match &coin {
        Some(coin) => client.amount(coin.address, raw).to_string(),
        None => format!("{raw} raw units"),
    };
    let now = client.now().await?;
    let state = if !terms.is_authorized() {
        "not authorized".to_string()
    } else if terms.is_revoked() {
        "revoked".to_string()
    } else if now >= terms.expires_at {
        format!("expired {}", format_time_from(terms.expires_at, now))
    } else {
        format!("valid until {}", format_time_from(terms.expires_at, now))
    };
    Ok(Report::new(
        format!("signer {signer} of tenant {tenant}: {state}\n  cap {}, spent {}", show(terms.cap), show(terms.spent)),
        json!({
            "signer": signer,
            "tenant": tenant,
            "cap": terms.cap.to_string(),
            "spent": terms.spent.to_string(),
            "expiresAt": terms.expires_at,
            "authorized": terms.is_authorized(),
            "revoked": terms.is_revoked(),
        }),
    ))
}

fn dispute_status(status: u8) -> &'static str {
    match status {
        0 => "none",
        1 => "open",
        2 => "upheld",
        3 => "rejected",
        _ => "expired",
    }
}

/// `dispute open`: approve the dispute bond, then open.
pub(crate) async fn open_dispute(settings: &Settings, out: Output, lease_id: U256, evidence: String) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (lease, offer) = lease_and_token(&client, lease_id).await?;
    let params = client.market().params().call().await.map_err(openlease_client::Error::from)?;
    let bond = U256::from(lease.bond) * U256::from(params.disputeBondBps) / U256::from(10_000);
    ensure_balance(&client, offer.token, bond).await?;
    approve(&client, out, (1, 2), offer.token, bond).await?;
    out.step(2, 2, format!("opening a dispute on lease {lease_id}"));
    let posted = client.amount(offer.token, client.open_dispute(lease_id, &evidence).await?);
    let dispute = client.dispute(lease_id).await?;
    let now = client.now().await?;
    Ok(Report::new(
        format!(
            "dispute opened on lease {lease_id}: bond {posted} posted, the arbiter rules by {}",
            format_time_from(dispute.deadline.into(), now)
        ),
        json!({ "leaseId": lease_id.to_string(), "bond": amount_json(&posted), "deadline": dispute.deadline }),
    ))
}

/// `dispute resolve`: the arbiter's ruling.
pub(crate) async fn rule(settings: &Settings, lease_id: U256, slash_bps: u16) -> Result<Report> {
    let client = settings.connect(true).await?;
    client.lease(lease_id).await?;
    client.rule_dispute(lease_id, slash_bps).await?;
    let upheld = slash_bps > 0;
    let text = if upheld {
        format!("dispute on lease {lease_id} upheld: {slash_bps} bps of its bond slashed to the tenant")
    } else {
        format!("dispute on lease {lease_id} rejected: the tenant's bond goes to the provider")
    };
    Ok(Report::new(text, json!({ "leaseId": lease_id.to_string(), "upheld": upheld, "slashBps": slash_bps })))
}

/// `dispute expire`.
pub(crate) async fn expire_dispute(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(true).await?;
    client.lease(lease_id).await?;
    client.expire_dispute(lease_id).await?;
    Ok(Report::new(
        format!("dispute on lease {lease_id} expired: the tenant's bond is claimable again"),
        json!({ "leaseId": lease_id.to_string(), "expired": true }),
    ))
}

/// `dispute show`.
pub(crate) async fn show_dispute(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let dispute = client.dispute(lease_id).await?;
    let status = dispute_status(dispute.status);
    let bond = client.amount(offer.token, U256::from(dispute.tenantBond));
    let now = client.now().await?;
    let text = if status == "none" {
        format!("lease {lease_id} has no dispute")
    } else {
        format!(
            "dispute on lease {lease_id}: {status}\n  tenant's bond {bond}\n  deadline {}",
            format_time_from(dispute.deadline.into(), now)
        )
    };
    Ok(Report::new(
        text,
        json!({ "leaseId": lease_id.to_string(), "status": status, "tenantBond": amount_json(&bond), "deadline": dispute.deadline }),
    ))
}
