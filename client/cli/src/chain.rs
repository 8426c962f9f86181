//! Reads and checks several commands share: a lease with its offer, an offer that exists, a
//! balance that covers what a command is about to send, a signer's or a dispute's status in words.

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use openlease_client::{
    Client, SettlementResult, SignerTerms, contracts::IOpenleaseTypes, format_time_from, status::DisputeStatus,
};

use crate::error::{Result, bail};

/// A lease and its offer (whose token the lease pays in).
pub(crate) async fn lease_and_offer<P: Provider + Clone>(
    client: &Client<P>,
    lease_id: U256,
) -> Result<(IOpenleaseTypes::Lease, IOpenleaseTypes::Offer)> {
    let lease = client.lease(lease_id).await?;
    let offer = client.offer(U256::from(lease.offerId)).await?;
    Ok((lease, offer))
}

/// An offer that exists, or an error saying so.
pub(crate) async fn existing_offer<P: Provider + Clone>(
    client: &Client<P>,
    offer_id: U256,
) -> Result<IOpenleaseTypes::Offer> {
    let offer = client.offer(offer_id).await?;
    if offer.provider == Address::ZERO {
        bail!(hint = "`openlease offer list` shows the offers", "offer {offer_id} does not exist");
    }
    Ok(offer)
}

/// Refuses to go on when the client's account holds less than `needed` of `token`.
pub(crate) async fn ensure_balance<P: Provider + Clone>(
    client: &Client<P>,
    token: Address,
    needed: U256,
) -> Result<()> {
    Ok(client.prepare().ensure_balance(client.address(), token, needed).await?)
}

/// A dispute's status in the SDK's words; a value the market does not define shows as `unknown (N)`.
pub(crate) fn dispute_word(status: u8) -> String {
    match DisputeStatus::try_from(status) {
        Ok(status) => status.as_str().into(),
        Err(_) => format!("unknown ({status})"),
    }
}

/// Why a session signer with `terms` cannot sign receipts the market pays for service at `now`, if
/// it cannot: never authorized, revoked, or expired.
pub(crate) fn signer_unusable(terms: &SignerTerms, now: u64) -> Option<String> {
    terms.refusal(now).map(|refusal| match refusal {
        SettlementResult::SignerExpired => format!("expired {}", format_time_from(terms.expires_at, now)),
        SettlementResult::SignerRevoked => "revoked".into(),
        _ => "not authorized".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_shown_as_such() {
        assert_eq!(dispute_word(DisputeStatus::Upheld.into()), "upheld");
        assert_eq!(dispute_word(DisputeStatus::Expired.into()), "expired");
        assert_eq!(dispute_word(7), "unknown (7)");
    }

    #[test]
    fn a_signer_is_unusable_unauthorized_revoked_or_expired() {
        let terms =
            |cap: u64, expires_at| SignerTerms { cap: U256::from(cap), spent: U256::ZERO, expires_at, revoked: false };
        assert_eq!(signer_unusable(&terms(0, 0), 100).as_deref(), Some("not authorized"));
        let revoked = SignerTerms { revoked: true, ..terms(5, 90) };
        assert_eq!(signer_unusable(&revoked, 100).as_deref(), Some("revoked"));
        assert_eq!(signer_unusable(&revoked, 89), None, "service before the revocation is still paid");
        assert!(signer_unusable(&terms(5, 100), 100).unwrap().starts_with("expired 1970-01-01 00:01:40 UTC (now)"));
        assert_eq!(signer_unusable(&terms(5, 101), 100), None);
        assert_eq!(signer_unusable(&SignerTerms::tenant(), 100), None);
    }
}
