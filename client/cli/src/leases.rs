//! The tenant's commands: leases, session signers, disputes (and the arbiter's ruling).

use std::{fmt::Write, num::NonZeroU16};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use openlease_client::{
    Client, DepositMethod, LeaseRequest, StablecoinEntry,
    status::{DisputeStatus, LeaseStatus},
};
use openlease_contracts::IOpenleaseTypes;
use serde_json::json;

use crate::{
    account::ensure_balance,
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    provider::existing_offer,
    units::{
        Duration, TypedAmount, TypedPrice, amount_in, amount_json, coin_at, format_duration, format_time_from,
        stablecoin,
    },
};

/// `Lease::status` as the bindings read it (a `uint8`).
const OPEN: u8 = LeaseStatus::Open as u8;
const FINALIZED: u8 = LeaseStatus::Finalized as u8;

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
    let client = settings.connect_to_send().await?;
    existing_offer(&client, offer_id).await?;
    // The terms shown are the terms bound: the lease opens on them or not at all.
    let quote = client.offer_quote(offer_id).await?;
    let offer = &quote.offer;
    let coin = coin_at(&client, offer.token).await?;
    let deposit = deposit.resolve_in(&coin, &format!("offer {offer_id}"))?;
    if let Some(max_price) = &max_price {
        let max = max_price.per_second(&coin)?;
        if offer.pricePerSecond > max {
            bail!(
                hint = "raise --max-price or choose another offer (`openlease offer list`)",
                "offer {offer_id} costs {} per second, above --max-price ({} per second)",
                amount_in(&coin, U256::from(offer.pricePerSecond)),
                amount_in(&coin, U256::from(max))
            );
        }
    }
    let duration_s = u32::try_from(duration.0).map_err(|_| CliError::new(format!("a duration of {} s is too long", duration.0)))?;
    ensure_balance(&client, coin.address, deposit.raw).await?;
    // Without a permit, the SDK approves the market first if its allowance is short.
    out.step(
        1,
        1,
        format!(
            "opening a lease of offer {offer_id} with {deposit} escrowed, at {} per second, notice {}, fee {} bps",
            amount_in(&coin, U256::from(offer.pricePerSecond)),
            format_duration(u64::from(offer.noticePeriod)),
            quote.params.protocolFeeBps
        ),
    );
    let request = LeaseRequest::new(&quote, duration_s, deposit.raw);
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

/// `lease top-up` (the SDK approves the market first if its allowance is short).
pub(crate) async fn top_up(settings: &Settings, out: Output, lease_id: U256, amount: TypedAmount) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let amount = amount.resolve_in(&coin, &format!("lease {lease_id}"))?;
    ensure_balance(&client, coin.address, amount.raw).await?;
    // The SDK approves the market first if its allowance is short.
    out.step(1, 1, format!("topping up lease {lease_id} with {amount}"));
    client.top_up(lease_id, amount.raw).await.map_err(|e| CliError::in_token(e, &coin))?;
    let lease = client.lease(lease_id).await?;
    let runway = client.runway(lease_id).await?;
    let deposit = amount_in(&coin, U256::from(lease.deposit));
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
pub(crate) async fn finalize(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
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
    let client = settings.connect_to_send().await?;
    client.lease(lease_id).await?;
    let tx = client.terminate_lease(lease_id).await?;
    Ok(Report::new(
        format!("terminated lease {lease_id}; its bond was slashed to the tenant"),
        json!({ "leaseId": lease_id.to_string(), "tx": tx.transaction_hash }),
    ))
}

/// `lease evict`.
pub(crate) async fn evict(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let refund = client.evict_lease(lease_id).await.map_err(|e| CliError::in_token(e, &coin))?;
    let refund = amount_in(&coin, refund);
    Ok(Report::new(
        format!("evicted lease {lease_id}: no bond slashed, {refund} refunded to the tenant, capacity and bond freed"),
        json!({ "leaseId": lease_id.to_string(), "refund": amount_json(&refund) }),
    ))
}

/// `lease failover`.
pub(crate) async fn failover(
    settings: &Settings,
    out: Output,
    lease_id: U256,
    offer_id: U256,
    duration: Duration,
    deposit: Option<TypedAmount>,
) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, old_offer) = lease_and_token(&client, lease_id).await?;
    existing_offer(&client, offer_id).await?;
    let quote = client.offer_quote(offer_id).await?;
    let coin = coin_at(&client, old_offer.token).await?;
    let extra = match deposit {
        Some(deposit) => deposit.resolve_in(&coin, &format!("lease {lease_id}"))?.raw,
        None => U256::ZERO,
    };
    if !extra.is_zero() {
        ensure_balance(&client, coin.address, extra).await?;
    }
    let duration_s = u32::try_from(duration.0).map_err(|_| CliError::new(format!("a duration of {} s is too long", duration.0)))?;
    out.step(1, 1, format!("failing lease {lease_id} over to offer {offer_id}"));
    let failover = client
        .failover_lease(lease_id, LeaseRequest::new(&quote, duration_s, extra))
        .await
        .map_err(|e| CliError::in_token(e, &coin))?;
    let (moved, kept) = (amount_in(&coin, failover.moved), amount_in(&coin, failover.kept));
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
        OPEN if now < runway.lease_end => "running".to_string(),
        OPEN if now < deadline => "ended, settlement window open".to_string(),
        OPEN => "ended, awaiting finalization".to_string(),
        FINALIZED => "finalized".to_string(),
        other => format!("unknown ({other})"),
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
        if dispute.status == u8::from(DisputeStatus::None) {
            String::new()
        } else {
            format!("\n  dispute {}", describe_dispute(dispute.status))
        },
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
        "finalized": lease.status == FINALIZED,
        "dispute": describe_dispute(dispute.status),
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

/// `signer authorize`. The cap counts raw units of whichever token a lease pays in, so a cap in
/// a token of other decimals than one of the tenant's open leases is refused (`50 DAI` would be
/// 50 trillion USDC on a USDC lease); the cap is shown in every token it applies to.
pub(crate) async fn authorize(settings: &Settings, signer: Address, cap: TypedAmount, expires: Duration) -> Result<Report> {
    if expires.0 == 0 {
        bail!(hint = "give how long it may sign, like `30d`", "an authorization that expires at once is a revocation");
    }
    let client = settings.connect_to_send().await?;
    let (coin, cap) = cap.resolve(client.manifest())?;
    let max = U256::from(alloy::primitives::Uint::<96, 2>::MAX);
    if cap.raw > max {
        bail!(
            hint = format!("give a cap of at most {}", amount_in(&coin, max)),
            "a cap of {cap} is more than the market can store (a uint96: {max} raw units)"
        );
    }
    let applies = tokens_of_open_leases(&client, &coin, &cap).await?;
    let expires_at = client.now().await? + expires.0;
    client.authorize_signer(signer, cap.raw, expires_at).await?;
    let terms = client.session_signer(client.address(), signer).await?;
    let also: Vec<String> = applies
        .iter()
        .filter(|c| c.address != coin.address)
        .map(|c| format!("{} on your {} leases", amount_in(c, cap.raw), c.symbol))
        .collect();
    Ok(Report::new(
        format!(
            "authorized signer {signer}: cap {cap}{}, until {}",
            if also.is_empty() { String::new() } else { format!(" (also {})", also.join(", ")) },
            format_time_from(expires_at, expires_at - expires.0)
        ),
        json!({
            "signer": signer,
            "cap": amount_json(&cap),
            "capPerToken": applies.iter().map(|c| amount_json(&amount_in(c, cap.raw))).collect::<Vec<_>>(),
            "spent": terms.spent.to_string(),
            "expiresAt": terms.expires_at,
        }),
    ))
}

/// The tokens a signer's cap of `cap` (in `coin`) applies to: `coin` and those of the tenant's
/// open leases. A lease in a token of other decimals is an error: the same raw cap would be worth
/// something else entirely there.
async fn tokens_of_open_leases<P: Provider + Clone>(
    client: &Client<P>,
    coin: &StablecoinEntry,
    cap: &openlease_client::TokenAmount,
) -> Result<Vec<StablecoinEntry>> {
    let mut tokens = vec![coin.clone()];
    for opened in client.leases_of_tenant(client.address()).await? {
        if client.lease(opened.lease_id).await?.status != OPEN {
            continue;
        }
        let token = client.offer(opened.offer_id).await?.token;
        if tokens.iter().any(|c| c.address == token) {
            continue;
        }
        let other = coin_at(client, token).await?;
        if other.decimals != coin.decimals {
            bail!(
                hint = format!(
                    "use one session signer per stablecoin, capped in the token of your open leases ({})",
                    other.symbol
                ),
                "a signer's cap counts raw units of each lease's token: a cap of {cap} ({} decimals) would be {} on your open lease {} ({} decimals)",
                coin.decimals,
                amount_in(&other, cap.raw),
                opened.lease_id,
                other.decimals
            );
        }
        tokens.push(other);
    }
    Ok(tokens)
}

/// `signer revoke`.
pub(crate) async fn revoke(settings: &Settings, signer: Address) -> Result<Report> {
    let client = settings.connect_to_send().await?;
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

/// A dispute's status in words; a value the market does not define shows as `unknown (N)`.
fn describe_dispute(status: u8) -> String {
    match DisputeStatus::try_from(status) {
        Ok(status) => status.as_str().into(),
        Err(_) => format!("unknown ({status})"),
    }
}

/// `dispute open`: the dispute bond (the SDK approves the market for it if needed), then open.
pub(crate) async fn open_dispute(settings: &Settings, out: Output, lease_id: U256, evidence: String) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_token(&client, lease_id).await?;
    let bond = client.dispute_bond(lease_id).await?;
    ensure_balance(&client, offer.token, bond).await?;
    out.step(1, 1, format!("opening a dispute on lease {lease_id}"));
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

/// The arbiter's ruling on a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ruling {
    /// Upheld: this share of the lease's bond, in basis points, is slashed to the tenant.
    Uphold(NonZeroU16),
    /// Rejected: the tenant's dispute bond goes to the provider.
    Reject,
}

impl Ruling {
    /// The ruling `--slash-bps N` or `--reject` asks for. A zero slash is refused: the market
    /// reads it as a rejection, which `--reject` says plainly.
    pub(crate) fn from_flags(slash_bps: Option<u16>, reject: bool) -> Result<Self> {
        match (slash_bps, reject) {
            (None, true) => Ok(Self::Reject),
            (Some(bps), false) => match NonZeroU16::new(bps) {
                Some(bps) => Ok(Self::Uphold(bps)),
                None => bail!(
                    hint = "to reject the dispute, use --reject",
                    "--slash-bps 0 would reject the dispute (the market reads a zero slash as a rejection: the tenant's bond goes to the provider)"
                ),
            },
            (Some(_), true) => bail!(hint = "give one of them", "--slash-bps upholds the dispute and --reject rejects it"),
            (None, false) => bail!(hint = "give --slash-bps N to uphold the dispute, or --reject", "say how you rule"),
        }
    }

    /// The `slashBps` of `ruleDispute`: zero rejects.
    fn slash_bps(self) -> u16 {
        match self {
            Self::Uphold(bps) => bps.get(),
            Self::Reject => 0,
        }
    }
}

/// `dispute rule`: the arbiter's ruling.
pub(crate) async fn rule(settings: &Settings, lease_id: U256, ruling: Ruling) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    client.lease(lease_id).await?;
    client.rule_dispute(lease_id, ruling.slash_bps()).await?;
    let text = match ruling {
        Ruling::Uphold(bps) => {
            format!("dispute on lease {lease_id} upheld: {bps} bps of its bond slashed to the tenant")
        }
        Ruling::Reject => format!("dispute on lease {lease_id} rejected: the tenant's bond goes to the provider"),
    };
    Ok(Report::new(
        text,
        json!({ "leaseId": lease_id.to_string(), "upheld": ruling != Ruling::Reject, "slashBps": ruling.slash_bps() }),
    ))
}

/// `dispute expire`.
pub(crate) async fn expire_dispute(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
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
    let status = describe_dispute(dispute.status);
    let bond = client.amount(offer.token, U256::from(dispute.tenantBond));
    let now = client.now().await?;
    let text = if dispute.status == u8::from(DisputeStatus::None) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_slash_is_refused_for_reject() {
        assert_eq!(Ruling::from_flags(None, true).unwrap(), Ruling::Reject);
        assert_eq!(Ruling::from_flags(Some(5000), false).unwrap().slash_bps(), 5000);
        let zero = Ruling::from_flags(Some(0), false).unwrap_err();
        assert!(zero.message.contains("would reject the dispute"), "{zero}");
        assert_eq!(zero.hint.as_deref(), Some("to reject the dispute, use --reject"));
    }

    #[test]
    fn unknown_statuses_are_shown_as_such() {
        assert_eq!(describe_dispute(DisputeStatus::Upheld.into()), "upheld");
        assert_eq!(describe_dispute(DisputeStatus::Expired.into()), "expired");
        assert_eq!(describe_dispute(7), "unknown (7)");
    }
}
