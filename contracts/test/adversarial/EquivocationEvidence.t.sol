// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {MockContractWallet} from "../mocks/MockContractWallet.sol";

/// @notice Evidence of equivocation cannot be withdrawn. The attack: a provider runs as a contract
/// wallet, signs two conflicting usage attestations for one lease and sequence, and, once caught,
/// makes the wallet refuse every ERC-1271 signature so that the evidence no longer verifies. In v1
/// attestations were checked with ERC-1271 against the provider's address at slash time, so the
/// provider could disown them. Here the provider registers an EOA attestation key, fixed forever,
/// and both attestations are checked by ECDSA against it: the wallet's mood does not matter, the
/// wallet owner's own key is not the attestation key, a zero key cannot be registered and no profile
/// update changes it.
contract EquivocationEvidence_Adversarial_Test is LeaseTermsBase {
    MockContractWallet internal wallet;
    address internal walletOwner;
    uint256 internal walletOwnerKey;
    address internal attester;
    uint256 internal attesterKey;
    uint256 internal walletOffer;
    uint256 internal leaseId;
    uint96 internal bond;

    function setUp() public override {
        super.setUp();
        (walletOwner, walletOwnerKey) = makeAddrAndKey("wallet owner");
        (attester, attesterKey) = makeAddrAndKey("attestation key");
        wallet = new MockContractWallet(walletOwner);
        usdc.mint(address(wallet), PROVIDER_STAKE);
        asWallet(address(usdc), abi.encodeWithSignature("approve(address,uint256)", address(market), type(uint256).max));
        bytes memory proof = keyProof(attesterKey, address(wallet)); // the key proves it is held
        asWallet(
            address(market),
            abi.encodeCall(
                market.registerProvider, ("ipfs://wallet", "https://w.example", "eu", bytes32(0), attester, proof)
            )
        );
        asWallet(address(market), abi.encodeCall(market.stake, (address(usdc), PROVIDER_STAKE)));
        bytes memory ret = asWallet(
            address(market),
            abi.encodeCall(
                market.publishOffer,
                (address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0))
            )
        );
        walletOffer = abi.decode(ret, (uint256));
        leaseId = openLease(tenant, walletOffer, 10 hours, uint256(PRICE) * 10 hours);
        bond = market.lease(leaseId).bond;
        skip(1 hours);
    }

    function asWallet(address target, bytes memory data) internal returns (bytes memory) {
        vm.prank(walletOwner);
        return wallet.execute(target, data);
    }

    /// @dev Two attestations of the lease for one sequence with different usage, signed by `key`.
    function conflicting(uint256 keyA, uint256 keyB)
        internal
        view
        returns (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB)
    {
        a = AnswerAttestation({
            leaseId: leaseId,
            sequence: 7,
            workload: bytes32(0),
            requestDigest: keccak256("GET /work/7\n"),
            responseDigest: keccak256("100 GPU-seconds"),
            servedAt: uint64(block.timestamp)
        });
        b = AnswerAttestation({
            leaseId: leaseId,
            sequence: 7,
            workload: bytes32(0),
            requestDigest: keccak256("GET /work/7\n"),
            responseDigest: keccak256("900 GPU-seconds"),
            servedAt: uint64(block.timestamp)
        });
        sigA = sign(keyA, market.attestationDigest(a));
        sigB = sign(keyB, market.attestationDigest(b));
    }

    function walletBooks() internal view returns (Books memory) {
        return booksOf(tenant, address(wallet), walletOffer);
    }

    // ─── The evidence stands ────────────────────────────────────────────────────────────────

    /// @notice Caught, the provider turns its wallet hostile (every ERC-1271 answer wrong): the
    /// attestation key's signatures still slash the whole bond, and the tenant is paid.
    function test_EquivocationSlashesBondAfterWalletRefusesAllSignatures() public {
        (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB) =
            conflicting(attesterKey, attesterKey);
        vm.prank(walletOwner);
        wallet.setMode(MockContractWallet.Mode.WrongMagic);
        assertTrue(
            wallet.isValidSignature(market.attestationDigest(a), sigA) != bytes4(0x1626ba7e), "the wallet disowns it"
        );
        Books memory before = walletBooks();
        uint256 cut = uint256(bond) * market.leaseParams(leaseId).slashCutBps / BPS;

        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, address(wallet), SlashReason.Equivocation, bond, cut);
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);

        Books memory after_ = walletBooks();
        assertEq(market.lease(leaseId).bond, 0, "bond slashed");
        assertEq(market.lease(leaseId).endsAt, block.timestamp, "the lease ends now");
        assertEq(after_.stake.staked, before.stake.staked - bond, "staked");
        assertEq(after_.stake.locked, before.stake.locked - bond, "locked");
        assertEq(after_.tenantClaimable, before.tenantClaimable + bond - cut, "tenant compensated");
        assertEq(after_.feesOwed, before.feesOwed + cut, "protocol cut");
        assertEq(after_.marketBalance, before.marketBalance, "nothing left the market");
    }

    /// @notice The evidence also stands after the lease ended, while it is in its settlement window
    /// (the bond is locked until finalize).
    function test_EquivocationSlashesBondAfterTheLeaseEnded() public {
        (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB) =
            conflicting(attesterKey, attesterKey);
        vm.prank(walletOwner);
        wallet.setMode(MockContractWallet.Mode.WrongMagic);
        vm.warp(market.leaseEnd(leaseId) + 1 hours);
        uint256 tenantClaimable = market.claimable(tenant, address(usdc));
        uint256 cut = uint256(bond) * market.leaseParams(leaseId).slashCutBps / BPS;

        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        assertEq(market.lease(leaseId).bond, 0, "bond slashed");
        assertEq(market.claimable(tenant, address(usdc)), tenantClaimable + bond - cut, "tenant compensated");
    }

    // ─── Only the attestation key's signatures count ───────────────────────────────────────

    /// @notice Attestations signed by the wallet's owner key are not the provider's evidence, even
    /// while the wallet would accept them through ERC-1271: refused, nothing moves.
    function test_RevertWhen_AttestationsSignedByWalletOwnerKey() public {
        (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB) =
            conflicting(walletOwnerKey, walletOwnerKey);
        assertEq(wallet.isValidSignature(market.attestationDigest(a), sigA), bytes4(0x1626ba7e), "ERC-1271 valid");
        Books memory before = walletBooks();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, address(wallet)));
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        assertBooks(walletBooks(), before, "after the refused slash");
        assertEq(market.lease(leaseId).bond, bond, "bond intact");
    }

    /// @notice One attestation by the key and one by anyone else prove nothing.
    function test_RevertWhen_OneAttestationSignedByAnotherKey() public {
        (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB) =
            conflicting(attesterKey, walletOwnerKey);
        Books memory before = walletBooks();

        vm.expectRevert(abi.encodeWithSelector(OpenleaseInvalidAttestation.selector, leaseId, address(wallet)));
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        assertBooks(walletBooks(), before, "after the refused slash");
    }

    // ─── The key is fixed ───────────────────────────────────────────────────────────────────

    /// @notice A provider cannot register without an attestation key (which would make its
    /// attestations unverifiable from the start).
    function test_RevertWhen_RegisterWithZeroAttestationKey() public {
        MockContractWallet other = new MockContractWallet(walletOwner);
        vm.expectRevert(OpenleaseZeroAddress.selector);
        vm.prank(walletOwner);
        other.execute(
            address(market),
            abi.encodeCall(market.registerProvider, ("ipfs://x", "https://x.example", "eu", bytes32(0), address(0), ""))
        );
        assertFalse(market.providerProfile(address(other)).registered, "not registered");
    }

    /// @notice A profile update changes the profile and never the key; the old key's evidence still
    /// slashes.
    function test_UpdateProviderKeepsAttestationKey() public {
        (AnswerAttestation memory a, bytes memory sigA, AnswerAttestation memory b, bytes memory sigB) =
            conflicting(attesterKey, attesterKey);
        bytes32 profileHash = market.providerProfile(address(wallet)).profileHash;
        asWallet(
            address(market),
            abi.encodeCall(market.updateProvider, ("ipfs://new", "https://new.example", "us", keccak256("new")))
        );

        ProviderProfile memory p = market.providerProfile(address(wallet));
        assertTrue(p.profileHash != profileHash, "profile updated");
        assertEq(p.attestationKey, attester, "key unchanged");
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        assertEq(market.lease(leaseId).bond, 0, "the old key's evidence slashes");
    }

    /// @notice Registering again (to swap in a new key) is refused.
    function test_RevertWhen_ReRegisterToSwapAttestationKey() public {
        // Even with a valid proof by the new key.
        bytes memory proof = keyProof(walletOwnerKey, address(wallet));
        vm.expectRevert(abi.encodeWithSelector(OpenleaseProviderAlreadyRegistered.selector, address(wallet)));
        asWallet(
            address(market),
            abi.encodeCall(
                market.registerProvider, ("ipfs://x", "https://x.example", "eu", bytes32(0), walletOwner, proof)
            )
        );
        assertEq(market.providerProfile(address(wallet)).attestationKey, attester, "key unchanged");
    }
}
