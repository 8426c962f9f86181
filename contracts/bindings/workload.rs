//! What an offer runs (`Offer.workload`): a 32-byte identifier of a workload and its version, fixed
//! in the offer's terms and attested by the provider's gateway in every answer. A model names itself
//! by its weights' digest, a container by its image digest; the demo workload by [`DEMO`].

use alloy::primitives::{B256, b256};

/// The demo workload every devnet provider sells (`/work/N`, `/stream/N`, the chat demo):
/// keccak256("openlease-demo@1"), `HashChainVerifier.WORKLOAD` on chain.
pub const DEMO: B256 = b256!("0xa22957d78b628736313f3790364c5e9adb780489ffb4a81d2de121226bb757c4");

/// The demo workload's name, as [`DEMO`] hashes it.
pub const DEMO_NAME: &str = "openlease-demo@1";

/// A workload's readable name, where it is one this suite knows; else `None` (show the digest).
pub fn name(workload: B256) -> Option<&'static str> {
    (workload == DEMO).then_some(DEMO_NAME)
}

/// A workload as a user writes it: `demo` (or [`DEMO_NAME`]), or a 32-byte digest in hex.
pub fn parse(text: &str) -> Result<B256, String> {
    let text = text.trim();
    if text == "demo" || text == DEMO_NAME {
        return Ok(DEMO);
    }
    text.parse::<B256>()
        .map_err(|_| format!("`{text}` is not a workload: write `demo` or its 32-byte digest (0x and 64 hex digits)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_identifier_is_the_hash_of_its_name() {
        assert_eq!(DEMO, alloy::primitives::keccak256(DEMO_NAME));
        assert_eq!(name(DEMO), Some(DEMO_NAME));
        assert_eq!(name(B256::ZERO), None);
    }

    #[test]
    fn parses_names_and_digests_and_says_what_is_wrong() {
        assert_eq!(parse("demo"), Ok(DEMO));
        assert_eq!(parse(" openlease-demo@1 "), Ok(DEMO));
        assert_eq!(parse(&B256::repeat_byte(7).to_string()), Ok(B256::repeat_byte(7)));
        assert!(parse("0x12").unwrap_err().contains("64 hex digits"));
        assert!(parse("llama").unwrap_err().contains("`llama` is not a workload"));
    }
}
