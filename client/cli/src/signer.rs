//! `openlease signer`: the session signers a tenant lets sign receipts for its leases.

use alloy::{
    primitives::{Address, U256, Uint},
    providers::Provider,
};
use clap::Subcommand;
use openlease_client::{Client, StablecoinEntry, TokenAmount, TypedAmount, TypedDuration, format_time_from};
use serde_json::json;

use crate::{
    chain::signer_unusable,
    config::Settings,
    error::{CliError, Result, bail},
    output::Report,
    units::{amount_arg, amount_json, coin_at, duration_arg, resolve, stablecoin},
};

/// `openlease signer`.
#[derive(Debug, Subcommand)]
pub(crate) enum SignerCommand {
    /// Lets a key sign receipts for your leases of one provider, e.g.
    /// `signer authorize 0x… --provider 0x… --cap "500 USDC" --expires 30d`. Each provider gets its
    /// own authorization and cap: what one provider accepted, no other can claim first.
    Authorize {
        /// The signer's address.
        signer: Address,
        /// The provider whose leases it signs for.
        #[arg(long)]
        provider: Address,
        /// The most it may attest in total.
        #[arg(long, value_parser = amount_arg, allow_hyphen_values = true)]
        cap: TypedAmount,
        /// How long from now it may sign.
        #[arg(long, value_parser = duration_arg)]
        expires: TypedDuration,
    },
    /// Stops a signer for one provider at once: no service from now on is paid on its word; its
    /// receipts for service already delivered stay payable.
    Revoke {
        /// The signer's address.
        signer: Address,
        /// The provider it signed for.
        #[arg(long)]
        provider: Address,
    },
    /// What a tenant allows a signer for one provider, in the tokens of the tenant's leases.
    Show {
        /// The signer's address.
        signer: Address,
        /// The provider it signs for.
        #[arg(long)]
        provider: Address,
        /// The tenant [default: you].
        #[arg(long)]
        tenant: Option<Address>,
        /// Show the cap in this token only.
        #[arg(long)]
        token: Option<String>,
    },
}

/// Runs `openlease signer …`.
pub(crate) async fn run(command: SignerCommand, settings: &Settings) -> Result<Report> {
    match command {
        SignerCommand::Authorize { signer, provider, cap, expires } => {
            authorize(settings, signer, provider, cap, expires).await
        }
        SignerCommand::Revoke { signer, provider } => revoke(settings, signer, provider).await,
        SignerCommand::Show { signer, provider, tenant, token } => {
            show(settings, signer, provider, tenant, token).await
        }
    }
}

/// `signer authorize`. The cap counts raw units of whichever token a lease pays in, so a cap in
/// a token of other decimals than one of the tenant's open leases is refused (`50 DAI` would be
/// 50 trillion USDC on a USDC lease); the cap is shown in every token it applies to.
async fn authorize(
    settings: &Settings,
    signer: Address,
    provider: Address,
    cap: TypedAmount,
    expires: TypedDuration,
) -> Result<Report> {
    if expires.secs() == 0 {
        bail!(hint = "give how long it may sign, like `30d`", "an authorization that expires at once is a revocation");
    }
    let client = settings.connect_to_send().await?;
    let (coin, cap) = resolve(&cap, client.manifest())?;
    let max = U256::from(Uint::<96, 2>::MAX);
    if cap.raw > max {
        bail!(
            hint = format!("give a cap of at most {}", TokenAmount::of(&coin, max)),
            "a cap of {cap} is more than the market can store (a uint96: {max} raw units)"
        );
    }
    let applies = tokens_of_open_leases(&client, provider, &coin, &cap).await?;
    let expires_at = client.now().await? + expires.secs();
    client.authorize_signer(signer, provider, cap.raw, expires_at).await.map_err(|e| CliError::in_token(e, &coin))?;
    let terms = client.session_signer(client.address(), signer, provider).await?;
    let also: Vec<String> = applies
        .iter()
        .filter(|c| c.address != coin.address)
        .map(|c| format!("{} on your {} leases", TokenAmount::of(c, cap.raw), c.symbol))
        .collect();
    Ok(Report::new(
        format!(
            "authorized signer {signer} for provider {provider}: cap {cap}{}, until {}",
            if also.is_empty() { String::new() } else { format!(" (also {})", also.join(", ")) },
            format_time_from(expires_at, expires_at - expires.secs())
        ),
        json!({
            "signer": signer,
            "provider": provider,
            "cap": amount_json(&cap),
            "capPerToken": applies.iter().map(|c| amount_json(&TokenAmount::of(c, cap.raw))).collect::<Vec<_>>(),
            "spent": amount_json(&TokenAmount::of(&coin, terms.spent)),
            "expiresAt": terms.expires_at,
        }),
    ))
}

/// The tokens a signer's cap of `cap` (in `coin`) for `provider` applies to: `coin` and those of
/// the tenant's open leases of that provider. A lease in a token of other decimals is an error: the
/// same raw cap would be worth something else entirely there.
async fn tokens_of_open_leases<P: Provider + Clone>(
    client: &Client<P>,
    provider: Address,
    coin: &StablecoinEntry,
    cap: &TokenAmount,
) -> Result<Vec<StablecoinEntry>> {
    let mut tokens = vec![coin.clone()];
    for opened in client.leases_of_tenant(client.address()).await? {
        if client.lease(opened.lease_id).await?.status != u8::from(openlease_client::status::LeaseStatus::Open) {
            continue;
        }
        let offer = client.offer(opened.offer_id).await?;
        let token = offer.token;
        if offer.provider != provider || tokens.iter().any(|c| c.address == token) {
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
                TokenAmount::of(&other, cap.raw),
                opened.lease_id,
                other.decimals
            );
        }
        tokens.push(other);
    }
    Ok(tokens)
}

/// The tokens of every lease `tenant` opened, in the order first leased; none if it has none.
async fn tokens_of_leases<P: Provider + Clone>(client: &Client<P>, tenant: Address) -> Result<Vec<StablecoinEntry>> {
    let mut tokens: Vec<StablecoinEntry> = Vec::new();
    for opened in client.leases_of_tenant(tenant).await? {
        let token = client.offer(opened.offer_id).await?.token;
        if !tokens.iter().any(|c| c.address == token) {
            tokens.push(coin_at(client, token).await?);
        }
    }
    Ok(tokens)
}

/// `signer revoke`.
async fn revoke(settings: &Settings, signer: Address, provider: Address) -> Result<Report> {
    let client = settings.connect_to_send().await?;
    client.revoke_signer(signer, provider).await?;
    let terms = client.session_signer(client.address(), signer, provider).await?;
    Ok(Report::new(
        format!(
            "revoked signer {signer} for provider {provider}: no service from {} on is paid on its word; \
             its receipts for service before stay payable through their leases' settlement windows",
            format_time_from(terms.expires_at, terms.expires_at)
        ),
        json!({ "signer": signer, "provider": provider, "revoked": true, "expiresAt": terms.expires_at }),
    ))
}

/// `signer show`: the cap and what was spent of it, in the token of the tenant's leases (the cap
/// counts raw units of each lease's token, so in each of them when they are several; in the
/// market's stablecoins when the tenant has no lease yet), or in `--token`.
async fn show(
    settings: &Settings,
    signer: Address,
    provider: Address,
    tenant: Option<Address>,
    token: Option<String>,
) -> Result<Report> {
    let client = settings.connect(tenant.is_none()).await?;
    let tenant = tenant.unwrap_or(client.address());
    let terms = client.session_signer(tenant, signer, provider).await?;
    let coins = match token {
        Some(token) => vec![stablecoin(client.manifest(), &token)?],
        None => match tokens_of_leases(&client, tenant).await? {
            leased if leased.is_empty() => client.manifest().stablecoins.clone(),
            leased => leased,
        },
    };
    if coins.is_empty() {
        bail!(hint = "use the market's current manifest", "the manifest lists no stablecoin to show the cap in");
    }
    let in_each = |raw: U256| coins.iter().map(|c| TokenAmount::of(c, raw)).collect::<Vec<_>>();
    let shown = |raw: U256| in_each(raw).iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ");
    let now = client.now().await?;
    let state = signer_unusable(&terms, now)
        .unwrap_or_else(|| format!("valid until {}", format_time_from(terms.expires_at, now)));
    let mut text = format!(
        "signer {signer} of tenant {tenant} for provider {provider}: {state}\n  cap {}, spent {}, left {}",
        shown(terms.cap),
        shown(terms.spent),
        shown(terms.remaining())
    );
    if coins.len() > 1 {
        text.push_str("\n  (the cap counts raw units of each lease's token)");
    }
    let json_each = |raw: U256| in_each(raw).iter().map(amount_json).collect::<Vec<_>>();
    Ok(Report::new(
        text,
        json!({
            "signer": signer,
            "tenant": tenant,
            "provider": provider,
            "cap": amount_json(&TokenAmount::of(&coins[0], terms.cap)),
            "spent": amount_json(&TokenAmount::of(&coins[0], terms.spent)),
            "capPerToken": json_each(terms.cap),
            "spentPerToken": json_each(terms.spent),
            "expiresAt": terms.expires_at,
            "authorized": terms.is_authorized(),
            "revoked": terms.is_revoked(),
        }),
    ))
}
