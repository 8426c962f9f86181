//! `openlease receipt` and `openlease settle`: service receipts as files (the SDK's
//! [`ReceiptFile`]), signed by the tenant's session signer, verified against the chain by the
//! provider, settled one by one or in batches, never sent when they would pay nothing.

use std::{
    collections::{HashMap, hash_map::Entry},
    fmt::Write,
    path::{Path, PathBuf},
};

use alloy::{
    primitives::{Address, B256, U256, Uint, keccak256},
    providers::Provider,
};
use clap::{Args, Subcommand};
use openlease_client::{
    Client, Error as SdkError, ReceiptFile, ReceiptVerifier, SettlementOutcome, SettlementResult, SignedReceipt,
    SignerTerms, StablecoinEntry, TokenAmount, TypedAmount,
    contracts::IOpenleaseTypes::Lease,
    format_time, recover_signer,
    status::LeaseStatus,
    terms::{self, settlement_reason},
};
use serde_json::json;

use crate::{
    chain::{lease_and_offer, signer_unusable},
    config::Settings,
    error::{CliError, Result, bail, receipt_file_error},
    output::{Output, Report},
    units::{amount_arg, amount_json, coin_at, resolve_in},
};

/// `openlease receipt`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Signs a receipt with your key (the session signer's): the lease consumed AMOUNT in total.
    /// Signs even when the market would not pay it (a signer not authorized, revoked or expired),
    /// with a warning.
    Sign {
        /// The lease.
        #[arg(long)]
        lease: U256,
        /// Cumulative amount consumed so far, in the lease's token.
        #[arg(long, value_parser = amount_arg, allow_hyphen_values = true)]
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
    /// Checks receipt files against the chain: market, lease, signer, cap, signature; and what
    /// each would pay now.
    Verify {
        /// Signed receipt files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `openlease settle`.
#[derive(Debug, Args)]
pub(crate) struct SettleArgs {
    /// Signed receipt files (`openlease receipt sign --out`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Receipts per transaction when settling many.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
}

/// Runs `openlease receipt …`.
pub(crate) async fn run(command: ReceiptCommand, settings: &Settings, out: Output) -> Result<Report> {
    match command {
        ReceiptCommand::Sign { lease, amount, usage, usage_digest, period_end, out: file } => {
            let digest = usage_digest.or(usage.map(|u| keccak256(u.as_bytes()))).unwrap_or_default();
            sign(settings, out, lease, amount, digest, period_end, file).await
        }
        ReceiptCommand::Verify { files } => verify(settings, out, &files).await,
    }
}

/// Reads a receipt file and checks it is for the market `client` talks to.
fn load<P: Provider + Clone>(client: &Client<P>, path: &Path) -> Result<SignedReceipt> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read receipt {}: {e}", path.display())))?;
    let file = ReceiptFile::from_json(&text).map_err(|e| receipt_file_error(&e, path))?;
    file.for_domain(&client.receipt_domain()).map_err(|e| receipt_file_error(&e, path))
}

/// `receipt sign`: signs with the configured key, writes the file to `file` or stdout. A key the
/// market would not pay for (not the tenant, and not an authorized, unrevoked, unexpired signer of
/// it; or past its cap) still signs, with a warning on stderr (and in the JSON report of `--out`).
async fn sign(
    settings: &Settings,
    out: Output,
    lease_id: U256,
    amount: TypedAmount,
    usage_digest: B256,
    period_end: Option<u64>,
    file: Option<PathBuf>,
) -> Result<Report> {
    let client = settings.connect(true).await?;
    let (lease, offer) = lease_and_offer(&client, lease_id).await?;
    let coin = coin_at(&client, offer.token).await?;
    let amount = resolve_in(&amount, &coin, &format!("lease {lease_id}"))?;
    let now = client.now().await?;
    let signer = client.receipt_signer(settings.signer()?);
    let period_end = period_end.unwrap_or(now);
    let warning =
        unpaid_warning(&client, &lease, offer.provider, &coin, signer.address(), amount.raw, period_end).await?;
    let signed = signer.sign_usage(lease_id, amount.raw, usage_digest, period_end)?;
    let receipt = ReceiptFile::new(&client.receipt_domain(), &signed);
    if let Some(warning) = &warning {
        out.warn(warning);
    }
    match &file {
        Some(path) => {
            std::fs::write(path, receipt.to_json())
                .map_err(|e| CliError::new(format!("cannot write the receipt to {}: {e}", path.display())))?;
            Ok(Report::new(
                format!("signed a receipt for lease {lease_id}: {amount} in total, written to {}", path.display()),
                json!({ "file": path, "receipt": receipt, "amount": amount_json(&amount), "warning": warning }),
            ))
        }
        // The receipt itself is the output, in both modes: it is JSON already (and stays a
        // receipt file: the warning is on stderr only).
        None => Ok(Report::new(receipt.to_json(), serde_json::to_value(&receipt).expect("a receipt serializes"))),
    }
}

/// Why the market would not pay (all of) a receipt `signer` signs for `cumulative` on `lease`:
/// the signer is not the tenant and not a usable session signer of it, or it attests more than
/// the signer's cap has left.
async fn unpaid_warning<P: Provider + Clone>(
    client: &Client<P>,
    lease: &Lease,
    provider: Address,
    coin: &StablecoinEntry,
    signer: Address,
    cumulative: U256,
    period_end: u64,
) -> Result<Option<String>> {
    if signer == lease.tenant {
        return Ok(None);
    }
    let tenant = lease.tenant;
    let terms = client.session_signer(tenant, signer, provider).await?;
    if let Some(why) = signer_unusable(&terms, period_end) {
        return Ok(Some(format!(
            "signer {signer} of tenant {tenant} for provider {provider}: {why}; the market will not pay this \
             receipt unless the tenant authorizes the signer \
             (`openlease signer authorize {signer} --provider {provider} --cap … --expires …`)"
        )));
    }
    let unsettled = cumulative.saturating_sub(U256::from(lease.settled));
    if unsettled > terms.remaining() {
        return Ok(Some(format!(
            "this receipt attests {} more than the lease settled, but signer {signer} has {} of its cap left: \
             the market will pay at most that unless the tenant raises the cap",
            TokenAmount::of(coin, unsettled),
            TokenAmount::of(coin, terms.remaining())
        )));
    }
    Ok(None)
}

/// What a verified receipt is worth.
struct Verified {
    lease_id: U256,
    signer: Address,
    cumulative: TokenAmount,
    unsettled: TokenAmount,
    payable_now: TokenAmount,
    /// Why it pays nothing now, if it does not.
    unpaid: Option<SettlementResult>,
}

/// Checks one receipt against the chain at `now`: market, lease, window, signer, signature, cap;
/// then what it would pay, by the market's rule (`terms::payable`).
async fn check<P: Provider + Clone>(client: &Client<P>, path: &Path, now: u64) -> Result<Verified> {
    let signed = load(client, path)?;
    let file = path.display();
    let lease_id = signed.receipt.leaseId;
    let (lease, offer) = lease_and_offer(client, lease_id).await.map_err(|e| e.context(format!("receipt {file}")))?;
    let coin = coin_at(client, offer.token).await?;
    if lease.status == u8::from(LeaseStatus::Finalized) {
        bail!(hint = "nothing more can be paid for it", "receipt {file}: lease {lease_id} is finalized");
    }
    let deadline = client.settlement_deadline(lease_id).await?;
    if now >= deadline {
        bail!(
            hint = "receipts must be settled within the settlement window after the lease ends",
            "receipt {file}: lease {lease_id}'s settlement window closed at {}",
            format_time(deadline)
        );
    }
    let terms = if signed.signer == lease.tenant {
        SignerTerms::tenant()
    } else {
        client.session_signer(lease.tenant, signed.signer, offer.provider).await?
    };
    let settled = U256::from(lease.settled);
    let verifier = ReceiptVerifier::new(client.receipt_domain(), signed.signer, terms).with_lease(lease_id, settled);
    // Checked as the market settles it: valid for service before the signer's expiry, whenever.
    verifier
        .verify(&signed, signed.receipt.periodEnd)
        .map_err(|e| CliError::in_token(SdkError::from(e), &coin).context(format!("receipt {file}")))?;
    let cumulative = signed.receipt.cumulativeAmount;
    let (result, payable) = terms::payable(&lease, cumulative, signed.receipt.periodEnd, now, terms.remaining());
    Ok(Verified {
        lease_id,
        signer: signed.signer,
        cumulative: TokenAmount::of(&coin, cumulative),
        unsettled: TokenAmount::of(&coin, cumulative.saturating_sub(settled)),
        payable_now: TokenAmount::of(&coin, payable),
        unpaid: (result != SettlementResult::Settled).then_some(result),
    })
}

/// `receipt verify`: every file checked and reported, valid or refused (with its reason); any
/// refusal makes it an error, after the report.
async fn verify(settings: &Settings, out: Output, files: &[PathBuf]) -> Result<Report> {
    let client = settings.connect(false).await?;
    let now = client.now().await?;
    let (mut text, mut valid, mut refused) = (String::new(), Vec::new(), Vec::new());
    for path in files {
        match check(&client, path, now).await {
            Ok(v) => {
                let why = v.unpaid.map(|r| format!(" ({})", settlement_reason(r))).unwrap_or_default();
                let _ = writeln!(
                    text,
                    "{}: valid receipt for lease {} by {}: {} in total, {} unsettled, {} payable now{why}",
                    path.display(),
                    v.lease_id,
                    v.signer,
                    v.cumulative,
                    v.unsettled,
                    v.payable_now
                );
                valid.push(json!({
                    "file": path,
                    "leaseId": v.lease_id.to_string(),
                    "signer": v.signer,
                    "cumulativeAmount": amount_json(&v.cumulative),
                    "unsettled": amount_json(&v.unsettled),
                    "payableNow": amount_json(&v.payable_now),
                    "unpaidReason": v.unpaid.map(|r| r.as_str()),
                }));
            }
            Err(e) => {
                let rendered = settings.render(&e);
                let _ = writeln!(text, "{}: refused: {}", path.display(), rendered.message);
                refused.push((path, e, rendered));
            }
        }
    }
    let refused_json: Vec<_> =
        refused.iter().map(|(path, _, r)| json!({ "file": path, "error": r.message, "hint": r.hint })).collect();
    let json = json!({ "valid": valid, "refused": refused_json });
    if refused.is_empty() {
        return Ok(Report::new(text, json));
    }
    // The report, then the error. For one file in text, its refusal alone says it all.
    if out.json || files.len() > 1 {
        out.report(&Report::new(text, json));
    }
    if refused.len() == 1 && files.len() == 1 {
        return Err(refused.remove(0).1);
    }
    let names: Vec<_> = refused.iter().map(|(path, ..)| path.display().to_string()).collect();
    let hint = refused.iter().find_map(|(.., r)| r.hint.clone());
    let message = format!(
        "{} of {} receipts refused ({}); the report on stdout gives each one's reason",
        refused.len(),
        files.len(),
        names.join(", ")
    );
    Err(match hint {
        Some(hint) => CliError::hint(message, hint),
        None => CliError::new(message),
    })
}

/// What settling one receipt would do, found before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Precheck {
    result: SettlementResult,
    paid: U256,
    /// The lease's token; none for a lease the market does not know.
    coin: Option<StablecoinEntry>,
}

/// What settling `receipts` in this order would do at `now`, receipt by receipt, as the market's
/// `_settle` decides it, checks in its order: the lease, its settlement window, the signer (the
/// tenant, or a session signer authorized, unrevoked, unexpired), the signature, then the payable
/// rule (`terms::payable`). What each pays counts for the next ones of the same lease and signer.
async fn precheck<P: Provider + Clone>(
    client: &Client<P>,
    receipts: &[SignedReceipt],
    now: u64,
) -> Result<Vec<Precheck>> {
    let domain = client.receipt_domain();
    let mut leases: HashMap<U256, Option<(Lease, Address, u64, StablecoinEntry)>> = HashMap::new();
    let mut signers: HashMap<(Address, Address, Address), SignerTerms> = HashMap::new();
    let mut checks = Vec::with_capacity(receipts.len());
    for signed in receipts {
        let lease_id = signed.receipt.leaseId;
        if let Entry::Vacant(entry) = leases.entry(lease_id) {
            entry.insert(match lease_and_offer(client, lease_id).await {
                Ok((lease, offer)) => {
                    let deadline = client.settlement_deadline(lease_id).await?;
                    Some((lease, offer.provider, deadline, coin_at(client, offer.token).await?))
                }
                Err(e) if is_unknown_lease(&e) => None,
                Err(e) => return Err(e),
            });
        }
        let Some(Some((lease, provider, deadline, coin))) = leases.get_mut(&lease_id) else {
            checks.push(Precheck { result: SettlementResult::UnknownLease, paid: U256::ZERO, coin: None });
            continue;
        };
        let refused = |result| Precheck { result, paid: U256::ZERO, coin: Some(coin.clone()) };
        if now >= *deadline {
            checks.push(refused(SettlementResult::SettlementWindowClosed));
            continue;
        }
        let signer = signed.signer;
        let genuine = recover_signer(&domain, signed).is_ok_and(|recovered| recovered == signer);
        let period_end = signed.receipt.periodEnd;
        let key = (lease.tenant, signer, *provider);
        let cap_left = if signer == lease.tenant {
            // The tenant's own key, by ECDSA alone, as the market checks it.
            if !genuine {
                checks.push(refused(SettlementResult::InvalidSignature));
                continue;
            }
            U256::MAX
        } else {
            if let Entry::Vacant(entry) = signers.entry(key) {
                entry.insert(client.session_signer(lease.tenant, signer, *provider).await?);
            }
            let terms = signers[&key];
            let unusable = terms.refusal(period_end).or((!genuine).then_some(SettlementResult::InvalidSignature));
            if let Some(result) = unusable {
                checks.push(refused(result));
                continue;
            }
            terms.remaining()
        };
        let (result, paid) = terms::payable(lease, signed.receipt.cumulativeAmount, period_end, now, cap_left);
        if result == SettlementResult::Settled {
            lease.settled = Uint::saturating_from(U256::from(lease.settled) + paid);
            if let Some(terms) = signers.get_mut(&key) {
                terms.spent += paid;
            }
        }
        checks.push(Precheck { result, paid, coin: Some(coin.clone()) });
    }
    Ok(checks)
}

/// Whether `error` is the SDK's word that a lease does not exist.
fn is_unknown_lease(error: &CliError) -> bool {
    error.sdk_error().is_some_and(|e| matches!(e, SdkError::UnknownLease { .. }))
}

/// `settle`: each receipt checked first ([`precheck`]); those that would pay nothing are not
/// sent, and when none would pay, nothing is, with each one's reason. The rest: one with
/// `settle`, many with `settleBatch` in chunks of `batch_size`.
pub(crate) async fn settle(settings: &Settings, out: Output, args: SettleArgs) -> Result<Report> {
    let SettleArgs { files, batch_size } = args;
    if batch_size == 0 {
        bail!(hint = "give --batch-size 1 or more", "a batch of zero receipts settles nothing");
    }
    let client = settings.connect_to_send().await?;
    let receipts = files.iter().map(|path| load(&client, path)).collect::<Result<Vec<_>>>()?;
    let now = client.now().await?;
    let checks = precheck(&client, &receipts, now).await?;
    let reason = |i: usize| format!("{} (lease {})", files[i].display(), receipts[i].receipt.leaseId);
    let to_send: Vec<usize> = (0..receipts.len()).filter(|&i| checks[i].result == SettlementResult::Settled).collect();
    if to_send.is_empty() {
        let why = |i: usize| settlement_reason(checks[i].result);
        if let [only] = checks.as_slice() {
            bail!(
                hint = "check it with `openlease receipt verify`",
                "receipt {} would pay nothing: {}; nothing was sent",
                reason(0),
                settlement_reason(only.result)
            );
        }
        let lines: Vec<String> = (0..receipts.len()).map(|i| format!("\n  {}: {}", reason(i), why(i))).collect();
        bail!(
            hint = "check them with `openlease receipt verify`",
            "none of the {} receipts would pay anything, so nothing was sent:{}",
            receipts.len(),
            lines.concat()
        );
    }

    let mut outcomes: Vec<Option<SettlementOutcome>> = vec![None; receipts.len()];
    if let [i] = to_send.as_slice() {
        out.step(1, 1, format!("settling lease {}", receipts[*i].receipt.leaseId));
        outcomes[*i] = Some(client.settle(receipts[*i].clone()).await.map_err(|e| in_lease_token(e, &checks[*i]))?);
    } else {
        let chunks: Vec<&[usize]> = to_send.chunks(batch_size).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            out.step(n + 1, chunks.len(), format!("settling {} receipts", chunk.len()));
            let batch = chunk.iter().map(|&i| receipts[i].clone()).collect();
            for (&i, outcome) in chunk.iter().zip(client.settle_batch(batch).await?) {
                outcomes[i] = Some(outcome);
            }
        }
    }

    let (mut text, mut json) = (String::new(), Vec::new());
    let mut paid_any = false;
    for (i, outcome) in outcomes.iter().enumerate() {
        let check = &checks[i];
        let lease_id = receipts[i].receipt.leaseId;
        let mut entry = json!({ "file": files[i], "leaseId": lease_id.to_string(), "sent": outcome.is_some() });
        let Some(outcome) = outcome else {
            let _ = writeln!(
                text,
                "lease {lease_id}: not sent: {} ({})",
                settlement_reason(check.result),
                files[i].display()
            );
            entry["result"] = check.result.as_str().into();
            entry["reason"] = settlement_reason(check.result).into();
            json.push(entry);
            continue;
        };
        entry["result"] = outcome.result.as_str().into();
        if let Some(coin) = &check.coin {
            let amount = |raw| TokenAmount::of(coin, raw);
            let (paid, fee, earned) = (amount(outcome.paid), amount(outcome.fee), amount(outcome.paid - outcome.fee));
            if outcome.is_settled() {
                paid_any = true;
                let _ = writeln!(text, "lease {lease_id}: settled {paid} ({earned} to the provider, fee {fee})");
            }
            entry["paid"] = amount_json(&paid);
            entry["fee"] = amount_json(&fee);
            entry["earned"] = amount_json(&earned);
        }
        if !outcome.is_settled() {
            let _ = writeln!(text, "lease {lease_id}: skipped by the market: {}", settlement_reason(outcome.result));
            entry["reason"] = settlement_reason(outcome.result).into();
        }
        json.push(entry);
    }
    if !paid_any {
        out.report(&Report::new(text, json!({ "outcomes": json })));
        bail!(hint = "check them with `openlease receipt verify`", "no receipt paid anything");
    }
    let unsent = outcomes.iter().filter(|o| o.is_none()).count();
    if unsent > 0 {
        let _ = writeln!(text, "{unsent} of {} receipts not sent: they would have paid nothing", receipts.len());
    }
    text.push_str("claim the earnings with `openlease claim`");
    Ok(Report::new(text, json!({ "outcomes": json })))
}

/// An SDK error settling a receipt, with amounts in its lease's token.
fn in_lease_token(error: SdkError, check: &Precheck) -> CliError {
    match &check.coin {
        Some(coin) => CliError::in_token(error, coin),
        None => error.into(),
    }
}
