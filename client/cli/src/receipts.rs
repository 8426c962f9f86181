//! Service receipts as files: signed by the tenant's session signer, verified against the chain
//! by the provider, settled one by one or in batches.

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
};
use openlease_client::{
    Client, ReceiptVerifier, ServiceReceipt, SettlementResult, SignedReceipt, SignerTerms,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    config::Settings,
    error::{CliError, Result, bail},
    output::{Output, Report},
    units::{TypedAmount, amount_json, coin_at},
};

/// A signed receipt as a file. Amounts are raw units, as decimal strings; the chain and market
/// say where it can be settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReceiptFile {
    chain_id: u64,
    market: Address,
    lease_id: String,
    cumulative_amount: String,
    usage_digest: B256,
    period_end: u64,
    signer: Address,
    signature: Bytes,
}

impl ReceiptFile {
    fn new(chain_id: u64, market: Address, signed: &SignedReceipt) -> Self {
        Self {
            chain_id,
            market,
            lease_id: signed.receipt.leaseId.to_string(),
            cumulative_amount: signed.receipt.cumulativeAmount.to_string(),
            usage_digest: signed.receipt.usageDigest,
            period_end: signed.receipt.periodEnd,
            signer: signed.signer,
            signature: signed.signature.clone(),
        }
    }

    /// Reads a receipt file.
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read receipt {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            CliError::hint(
                format!("{} is not a signed receipt: {e}", path.display()),
                "receipts are the JSON `openlease receipt sign` writes",
            )
        })
    }

    /// The receipt, checked to be for the market `client` talks to.
    fn for_market<P: Provider + Clone>(&self, client: &Client<P>, path: &Path) -> Result<SignedReceipt> {
        let manifest = client.manifest();
        let file = path.display();
        if self.chain_id != manifest.chain_id {
            bail!(
                hint = "settle it on the chain it was signed for",
                "receipt {file} was signed for chain {}, but this market is on chain {}",
                self.chain_id,
                manifest.chain_id
            );
        }
        if self.market != manifest.market() {
            bail!(
                hint = "settle it on the market it was signed for",
                "receipt {file} was signed for the market at {}, not this one at {}",
                self.market,
                manifest.market()
            );
        }
        let number = |text: &str, key: &str| {
            text.parse::<U256>()
                .map_err(|e| CliError::new(format!("receipt {file}: `{key}` is not a number: {e}")))
        };
        Ok(SignedReceipt {
            receipt: ServiceReceipt {
                leaseId: number(&self.lease_id, "leaseId")?,
                cumulativeAmount: number(&self.cumulative_amount, "cumulativeAmount")?,
                usageDigest: self.usage_digest,
                periodEnd: self.period_end,
            },
            signer: self.signer,
            signature: self.signature.clone(),
        })
    }
}

/// `receipt sign`: signs with the configured key, writes the JSON to `out` or stdout.
pub(crate) async fn sign(
    settings: &Settings,
    lease_id: U256,
    amount: TypedAmount,
    usage_digest: B256,
    period_end: Option<u64>,
    out: Option<PathBuf>,
) -> Result<Report> {
    let client = settings.connect(true).await?;
    let lease = client.lease(lease_id).await?;
    let offer = client.offer(U256::from(lease.offerId)).await?;
    let coin = coin_at(&client, offer.token).await?;
    let amount = amount.resolve_in(&coin, &format!("lease {lease_id}"))?;
    let period_end = match period_end {
        Some(t) => t,
        None => client.now().await?,
    };
    let signer = client.receipt_signer(settings.signer()?);
    let signed = signer.sign_usage(lease_id, amount.raw, usage_digest, period_end)?;
    let file = ReceiptFile::new(client.manifest().chain_id, client.manifest().market(), &signed);
    let text = serde_json::to_string_pretty(&file).expect("a receipt serializes") + "\n";
    match &out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| CliError::new(format!("cannot write the receipt to {}: {e}", path.display())))?;
            Ok(Report::new(
                format!("signed a receipt for lease {lease_id}: {amount} in total, written to {}", path.display()),
                json!({ "file": path, "receipt": file, "amount": amount_json(&amount) }),
            ))
        }
        // The receipt itself is the output, in both modes: it is JSON already.
        None => Ok(Report::new(text, serde_json::to_value(&file).expect("a receipt serializes"))),
    }
}

/// What a verified receipt is worth.
struct Verified {
    lease_id: U256,
    signer: Address,
    cumulative: openlease_client::TokenAmount,
    unsettled: openlease_client::TokenAmount,
    payable_now: openlease_client::TokenAmount,
}

/// Checks one receipt against the chain: market, lease, window, signer, signature, cap.
async fn check<P: Provider + Clone>(client: &Client<P>, path: &Path) -> Result<Verified> {
    let signed = ReceiptFile::load(path)?.for_market(client, path)?;
    let file = path.display();
    let lease_id = signed.receipt.leaseId;
    let lease = client.lease(lease_id).await.map_err(|e| CliError::from(e).context(format!("receipt {file}")))?;
    let offer = client.offer(U256::from(lease.offerId)).await?;
    let now = client.now().await?;
    if lease.status == u8::from(openlease_client::status::LeaseStatus::Finalized) {
        bail!(hint = "nothing more can be paid for it", "receipt {file}: lease {lease_id} is finalized");
    }
    let deadline = client.settlement_deadline(lease_id).await?;
    if now >= deadline {
        bail!(
            hint = "receipts must be settled within the settlement window after the lease ends",
            "receipt {file}: lease {lease_id}'s settlement window closed at {}",
            crate::units::format_time(deadline)
        );
    }
    let terms = if signed.signer == lease.tenant {
        SignerTerms::tenant()
    } else {
        client.session_signer(lease.tenant, signed.signer).await?
    };
    let settled = U256::from(lease.settled);
    let verifier = ReceiptVerifier::new(client.receipt_domain(), signed.signer, terms).with_lease(lease_id, settled);
    verifier
        .verify(&signed, now)
        .map_err(|e| CliError::from(openlease_client::Error::from(e)).context(format!("receipt {file}")))?;

    let cumulative = signed.receipt.cumulativeAmount;
    let run_to = now.min(u64::from(lease.endsAt));
    let accrued = U256::from(run_to.saturating_sub(u64::from(lease.startedAt))) * U256::from(lease.pricePerSecond);
    let payable = cumulative.min(accrued).min(U256::from(lease.deposit)).saturating_sub(settled).min(terms.remaining());
    let amount = |raw| client.amount(offer.token, raw);
    Ok(Verified {
        lease_id,
        signer: signed.signer,
        cumulative: amount(cumulative),
        unsettled: amount(cumulative - settled),
        payable_now: amount(payable),
    })
}

/// `receipt verify`: every file checked and reported, valid or refused (with its reason); any
/// refusal makes it an error, after the report.
pub(crate) async fn verify(settings: &Settings, out: Output, files: &[PathBuf]) -> Result<Report> {
    let client = settings.connect(false).await?;
    let (mut text, mut valid, mut refused) = (String::new(), Vec::new(), Vec::new());
    for path in files {
        match check(&client, path).await {
            Ok(v) => {
                let _ = writeln!(
                    text,
                    "{}: valid receipt for lease {} by {}: {} in total, {} unsettled, {} payable now",
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
                }));
            }
            Err(e) => {
                let _ = writeln!(text, "{}: refused: {}", path.display(), e.message);
                refused.push((path, e));
            }
        }
    }
    let json = |refused: &[(&PathBuf, CliError)]| {
        let refused: Vec<_> = refused
            .iter()
            .map(|(path, e)| json!({ "file": path, "error": e.message, "hint": e.hint }))
            .collect();
        json!({ "valid": valid, "refused": refused })
    };
    if refused.is_empty() {
        return Ok(Report::new(text, json(&refused)));
    }
    // The report, then the error. For one file in text, its refusal alone says it all.
    if out.json || files.len() > 1 {
        out.report(&Report::new(text, json(&refused)));
    }
    if let [(_, _)] = refused.as_slice()
        && files.len() == 1
    {
        return Err(refused.remove(0).1);
    }
    let names: Vec<_> = refused.iter().map(|(path, _)| path.display().to_string()).collect();
    Err(CliError {
        message: format!(
            "{} of {} receipts refused ({}); the report on stdout gives each one's reason",
            refused.len(),
            files.len(),
            names.join(", ")
        ),
        hint: refused.iter().find_map(|(_, e)| e.hint.clone()),
    })
}

/// Why a settlement paid nothing, in words.
pub(crate) fn describe_result(result: SettlementResult) -> String {
    use SettlementResult::*;
    match result {
        Settled => "settled".into(),
        UnknownLease => "no such lease".into(),
        SettlementWindowClosed => "the lease's settlement window has closed".into(),
        SignerNotAuthorized => "the signer is not authorized by the tenant".into(),
        SignerExpired => "the signer's authorization expired".into(),
        SignerRevoked => "the tenant revoked the signer".into(),
        InvalidSignature => "the signature is not the signer's".into(),
        AlreadySettled => "already settled".into(),
        NotYetAccrued => "nothing more has accrued under the lease's terms yet".into(),
        EscrowExhausted => "the escrow is used up".into(),
        SignerCapReached => "the signer's cap is used up".into(),
    }
}

fn result_name(result: SettlementResult) -> String {
    format!("{result:?}")
}

/// `settle`: one receipt with `settle`, many with `settleBatch` in chunks of `batch_size`.
pub(crate) async fn settle(settings: &Settings, out: Output, files: &[PathBuf], batch_size: usize) -> Result<Report> {
    if batch_size == 0 {
        bail!(hint = "give --batch-size 1 or more", "a batch of zero receipts settles nothing");
    }
    let client = settings.connect_to_send().await?;
    let receipts = files
        .iter()
        .map(|path| ReceiptFile::load(path)?.for_market(&client, path))
        .collect::<Result<Vec<_>>>()?;
    let mut outcomes = Vec::new();
    if let [receipt] = receipts.as_slice() {
        out.step(1, 1, format!("settling lease {}", receipt.receipt.leaseId));
        outcomes.push(client.settle(receipt.clone()).await?);
    } else {
        let chunks: Vec<_> = receipts.chunks(batch_size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            out.step(i + 1, chunks.len(), format!("settling {} receipts", chunk.len()));
            outcomes.extend(client.settle_batch(chunk.to_vec()).await?);
        }
    }
    let (mut text, mut json) = (String::new(), Vec::new());
    let mut paid_any = false;
    for outcome in &outcomes {
        // An unknown lease has no token (and paid nothing); any other failure is an error.
        let sent = |e: CliError| {
            e.context(format!("the receipts were sent, but reading lease {} for the report failed", outcome.lease_id))
        };
        let token = match client.lease(outcome.lease_id).await {
            Ok(lease) => Some(client.offer(U256::from(lease.offerId)).await.map_err(|e| sent(e.into()))?.token),
            Err(openlease_client::Error::UnknownLease { .. }) => None,
            Err(e) => return Err(sent(e.into())),
        };
        let mut entry = json!({ "leaseId": outcome.lease_id.to_string(), "result": result_name(outcome.result) });
        if let Some(token) = token {
            let amount = |raw| client.amount(token, raw);
            let (paid, fee, earned) = (amount(outcome.paid), amount(outcome.fee), amount(outcome.paid - outcome.fee));
            if outcome.is_settled() {
                paid_any = true;
                let _ = writeln!(
                    text,
                    "lease {}: settled {paid} ({earned} to the provider, fee {fee})",
                    outcome.lease_id
                );
            }
            entry["paid"] = amount_json(&paid);
            entry["fee"] = amount_json(&fee);
            entry["earned"] = amount_json(&earned);
        }
        if !outcome.is_settled() {
            let _ = writeln!(text, "lease {}: skipped: {}", outcome.lease_id, describe_result(outcome.result));
        }
        json.push(entry);
    }
    if !paid_any {
        out.report(&Report::new(text, json!({ "outcomes": json })));
        bail!(hint = "check them with `openlease receipt verify`", "no receipt paid anything");
    }
    text.push_str("claim the earnings with `openlease claim`");
    Ok(Report::new(text, json!({ "outcomes": json })))
}
