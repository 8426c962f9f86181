//! `openlease dispute`: a tenant disputes a provider's service, the lease's arbiter rules.

use std::num::NonZeroU16;

use alloy::primitives::U256;
use clap::Subcommand;
use openlease_client::{TokenAmount, format_time_from, status::DisputeStatus};
use serde_json::json;

use crate::{
    chain::{dispute_word, ensure_balance, lease_and_offer},
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    units::{amount_json, coin_at},
};

/// `openlease dispute`.
#[derive(Debug, Subcommand)]
pub(crate) enum DisputeCommand {
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

/// Runs `openlease dispute …`.
pub(crate) async fn run(command: DisputeCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        DisputeCommand::Open { lease_id, evidence } => open(settings, out, lease_id, evidence).await,
        DisputeCommand::Rule { lease_id, slash_bps, reject } => {
            rule(settings, lease_id, Ruling::from_flags(slash_bps, reject)?).await
        }
        DisputeCommand::Expire { lease_id } => expire(settings, lease_id).await,
        DisputeCommand::Show { lease_id } => show(settings, lease_id).await,
    }
}

/// `dispute open`: the dispute bond (the SDK approves the market for it if needed), then open.
async fn open(settings: &Settings, out: Output, lease_id: U256, evidence: String) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let bond = client.dispute_bond(lease_id).await?;
    ensure_balance(&client, offer.token, bond).await?;
    out.step(1, 1, format!("opening a dispute on lease {lease_id}"));
    let posted = client.open_dispute(lease_id, &evidence).await.map_err(|e| CliError::in_token(e, &coin))?;
    let posted = TokenAmount::of(&coin, posted);
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
enum Ruling {
    /// Upheld: this share of the lease's bond, in basis points, is slashed to the tenant.
    Uphold(NonZeroU16),
    /// Rejected: the tenant's dispute bond goes to the provider.
    Reject,
}

impl Ruling {
    /// The ruling `--slash-bps N` or `--reject` asks for. A zero slash is refused: the market
    /// reads it as a rejection, which `--reject` says plainly.
    fn from_flags(slash_bps: Option<u16>, reject: bool) -> Result<Self> {
        match (slash_bps, reject) {
            (None, true) => Ok(Self::Reject),
            (Some(bps), false) => match NonZeroU16::new(bps) {
                Some(bps) => Ok(Self::Uphold(bps)),
                None => bail!(
                    hint = "to reject the dispute, use --reject",
                    "--slash-bps 0 would reject the dispute (the market reads a zero slash as a rejection: the tenant's bond goes to the provider)"
                ),
            },
            (Some(_), true) => {
                bail!(hint = "give one of them", "--slash-bps upholds the dispute and --reject rejects it")
            }
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
async fn rule(settings: &Settings, lease_id: U256, ruling: Ruling) -> Result<Report> {
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
async fn expire(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    client.lease(lease_id).await?;
    client.expire_dispute(lease_id).await?;
    Ok(Report::new(
        format!("dispute on lease {lease_id} expired: the tenant's bond is claimable again"),
        json!({ "leaseId": lease_id.to_string(), "expired": true }),
    ))
}

/// `dispute show`.
async fn show(settings: &Settings, lease_id: U256) -> Result<Report> {
    let client = settings.connect(false).await?;
    let (_, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let dispute = client.dispute(lease_id).await?;
    let status = dispute_word(dispute.status);
    let bond = TokenAmount::of(&coin, U256::from(dispute.tenantBond));
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
        let zero = zero.plain();
        assert!(zero.message.contains("would reject the dispute"), "{zero}");
        assert_eq!(zero.hint.as_deref(), Some("to reject the dispute, use --reject"));
    }
}
