// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Signature malleability: the high-s twin of a valid signature, the 64-byte compact form and a
/// 66-byte padded form are all rejected, for session signers, for tenants signing themselves and for
/// the provider's usage attestations; one attestation cannot be turned into an equivocation proof.
contract SignatureMalleability_Adversarial_Test is AdversarialBase {
    uint256 internal leaseId;
    uint256 internal amount = uint256(PRICE) * 30 minutes;

    function setUp() public override {
        super.setUp();
        leaseId = openDefaultLease();
        skip(1 hours);
    }

    /// @dev What raw `ecrecover` (which allows malleable signatures) makes of a 65-byte signature.
    function rawRecover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return ecrecover(digest, v, r, s);
    }

    function assertNothingSettled() internal view {
        assertEq(market.lease(leaseId).settled, 0, "settled");
        assertEq(market.claimable(provider, address(usdc)), 0, "claimable");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, 0, "spent");
    }

    // ─── Receipts ───────────────────────────────────────────────────────────────────────────

    function test_RevertWhen_SessionSignerSignatureIsTheHighSTwin() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        bytes memory twin = highSTwin(valid.signature);
        bytes32 digest = market.receiptDigest(valid.receipt);
        // The twin is a genuine second signature: raw ecrecover maps it to the signer.
        assertEq(rawRecover(digest, twin), signer, "twin recovers to the signer");
        assertNotEq(keccak256(twin), keccak256(valid.signature), "twin differs");

        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, twin));
        assertNothingSettled();

        assertEq(market.settle(valid), amount, "the canonical signature pays");
    }

    function test_RevertWhen_TenantSignatureIsTheHighSTwin() public {
        SignedReceipt memory valid = signedReceiptBy(tenantKey, tenant, receipt(leaseId, amount));
        bytes memory twin = highSTwin(valid.signature);
        assertEq(rawRecover(market.receiptDigest(valid.receipt), twin), tenant, "twin recovers to the tenant");

        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, twin));
        assertNothingSettled();

        assertEq(market.settle(valid), amount, "the canonical signature pays");
    }

    function test_RevertWhen_HighSTwinIsReplayedAfterTheOriginalSettled() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        market.settle(valid);
        skip(1 hours);

        // Even if malleability were accepted, replay state is the lease's settled total; the twin
        // is rejected before that as an invalid signature.
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, highSTwin(valid.signature)));
        assertEq(market.lease(leaseId).settled, amount, "settled once");
    }

    function test_RevertWhen_SignatureIsCompact64Bytes() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        bytes memory short = compact(valid.signature);
        assertEq(short.length, 64, "length");
        // The compact form is a genuine EIP-2098 signature of the signer.
        (bytes32 r, bytes32 vs) = abi.decode(short, (bytes32, bytes32));
        assertEq(ECDSA.recover(market.receiptDigest(valid.receipt), r, vs), signer, "compact recovers");

        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, short));
        assertNothingSettled();
    }

    function test_RevertWhen_TenantSignatureIsCompact64Bytes() public {
        SignedReceipt memory valid = signedReceiptBy(tenantKey, tenant, receipt(leaseId, amount));
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, compact(valid.signature)));
        assertNothingSettled();
    }

    function test_RevertWhen_SignatureIsPadded66Bytes() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        bytes memory padded = abi.encodePacked(valid.signature, uint8(0));
        assertEq(padded.length, 66, "length");

        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, padded));
        assertNothingSettled();
    }

    function test_RevertWhen_TenantSignatureIsPadded66Bytes() public {
        SignedReceipt memory valid = signedReceiptBy(tenantKey, tenant, receipt(leaseId, amount));
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, abi.encodePacked(valid.signature, uint8(0))));
        assertNothingSettled();
    }

    function test_RevertWhen_SignatureVIsNotNormalized() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        (bytes32 r, bytes32 s, uint8 v) = split(valid.signature);
        expectSettlementFailed(leaseId, SettlementResult.InvalidSignature);
        market.settle(withSignature(valid, abi.encodePacked(r, s, v - 27)));
        assertNothingSettled();
    }

    function test_MalformedSignaturesAreSkippedInABatch() public {
        SignedReceipt memory valid = signedReceipt(leaseId, amount);
        SignedReceipt[] memory items = new SignedReceipt[](4);
        items[0] = withSignature(valid, highSTwin(valid.signature));
        items[1] = withSignature(valid, compact(valid.signature));
        items[2] = withSignature(valid, abi.encodePacked(valid.signature, uint8(0)));
        items[3] = valid;

        SettlementResult[] memory results = market.settleBatch(items);

        for (uint256 i; i < 3; ++i) {
            assertEq(uint8(results[i]), uint8(SettlementResult.InvalidSignature), "malformed skipped");
        }
        assertEq(uint8(results[3]), uint8(SettlementResult.Settled), "valid settled");
        assertEq(market.lease(leaseId).settled, amount, "paid once");
    }

    // ─── Equivocation attestations ──────────────────────────────────────────────────────────

    function test_RevertWhen_EquivocationProofIsOneAttestationAndItsHighSTwin() public {
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 7, keccak256("usage"));
        bytes memory twin = highSTwin(sigA);
        assertEq(rawRecover(market.attestationDigest(a), twin), provider, "twin recovers to the provider");
        Stake memory stakeBefore = market.stakeOf(provider, address(usdc));

        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotEquivocation.selector, leaseId, uint64(7), uint64(7)));
        market.slashEquivocation(a, sigA, a, twin);

        assertEq(market.lease(leaseId).bond, bondOf(offerId), "bond intact");
        assertEq(market.stakeOf(provider, address(usdc)).staked, stakeBefore.staked, "staked intact");
    }

    function test_RevertWhen_EquivocationProofIsOneAttestationTwice() public {
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 7, keccak256("usage"));
        vm.expectRevert(abi.encodeWithSelector(OpenleaseNotEquivocation.selector, leaseId, uint64(7), uint64(7)));
        market.slashEquivocation(a, sigA, a, sigA);
        assertEq(market.lease(leaseId).bond, bondOf(offerId), "bond intact");
    }

    function test_RevertWhen_EquivocationProofUsesAHighSSignature() public {
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 7, keccak256("a"));
        (AnswerAttestation memory b, bytes memory sigB) = attestation(leaseId, 7, keccak256("b"));

        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, provider));
        market.slashEquivocation(a, sigA, b, highSTwin(sigB));
        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, provider));
        market.slashEquivocation(a, highSTwin(sigA), b, sigB);
        assertEq(market.lease(leaseId).bond, bondOf(offerId), "bond intact");

        // The canonical pair is a real equivocation proof.
        market.slashEquivocation(a, sigA, b, sigB);
        assertEq(market.lease(leaseId).bond, 0, "bond slashed");
    }

    function test_RevertWhen_EquivocationProofUsesCompactOrPaddedSignatures() public {
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 7, keccak256("a"));
        (AnswerAttestation memory b, bytes memory sigB) = attestation(leaseId, 7, keccak256("b"));

        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, provider));
        market.slashEquivocation(a, sigA, b, compact(sigB));
        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, provider));
        market.slashEquivocation(a, abi.encodePacked(sigA, uint8(0)), b, sigB);
        assertEq(market.lease(leaseId).bond, bondOf(offerId), "bond intact");
    }
}
