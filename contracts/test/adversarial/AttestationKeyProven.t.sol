// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseTermsBase} from "./LeaseTermsBase.sol";
import {MockContractWallet} from "../mocks/MockContractWallet.sol";

/// @notice An attestation key proves it is held. The attack (v2): equivocation is proven by two conflicting
/// attestations signed by the provider's attestation key, and the key was any non-zero address the provider
/// named. A provider naming a key nobody holds (a contract, a random address, someone else's key) can never
/// be caught equivocating: no evidence against it can ever be signed. Here `registerProvider` takes the
/// key's ECDSA signature of the EIP-712 message `AttestationKey(address provider)` under this market's domain:
/// a key that did not sign it (for this provider, on this market and chain) is refused
/// (`OpenleaseAttestationKeyUnproven`). A contract-wallet provider names an EOA key; an EIP-7702 account
/// (an EOA with delegated code) signs with its key and can be one.
contract AttestationKeyProven_Adversarial_Test is LeaseTermsBase {
    address internal newProvider;
    uint256 internal newProviderKey;
    address internal key;
    uint256 internal keyPk;

    function setUp() public override {
        super.setUp();
        (newProvider, newProviderKey) = makeAddrAndKey("new provider");
        (key, keyPk) = makeAddrAndKey("attestation key");
    }

    function register(address who, address attestationKey, bytes memory proof) internal {
        vm.prank(who);
        market.registerProvider("ipfs://p", "https://p.example", "eu", bytes32(0), attestationKey, proof);
    }

    function expectUnproven(address who, address attestationKey) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseAttestationKeyUnproven.selector, who, attestationKey));
    }

    function assertNotRegistered(address who) internal view {
        ProviderProfile memory p = market.providerProfile(who);
        assertFalse(p.registered, "not registered");
        assertEq(p.attestationKey, address(0), "no key recorded");
    }

    // ─── Keys that did not sign ─────────────────────────────────────────────────────────────

    /// @notice A contract as the key: it cannot produce an ECDSA signature, whatever its owner signs.
    function test_RevertWhen_KeyIsAContract() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("wallet owner");
        MockContractWallet wallet = new MockContractWallet(owner);
        bytes memory byOwner = keyProof(ownerKey, newProvider);
        expectUnproven(newProvider, address(wallet));
        register(newProvider, address(wallet), byOwner);
        expectUnproven(newProvider, address(wallet));
        register(newProvider, address(wallet), "");
        assertNotRegistered(newProvider);
    }

    /// @notice A random address nobody holds: no proof it could have signed works (none, garbage, or another
    /// key's valid proof).
    function test_RevertWhen_KeyIsARandomAddress() public {
        address random = address(uint160(uint256(keccak256("nobody holds this"))));
        expectUnproven(newProvider, random);
        register(newProvider, random, "");
        bytes memory garbage = abi.encodePacked(bytes32(uint256(1)), bytes32(uint256(2)), uint8(27));
        expectUnproven(newProvider, random);
        register(newProvider, random, garbage);
        bytes memory otherKeysProof = keyProof(keyPk, newProvider);
        expectUnproven(newProvider, random);
        register(newProvider, random, otherKeysProof);
        assertNotRegistered(newProvider);
    }

    /// @notice A proof the key gave another provider cannot be replayed: it names that provider.
    function test_RevertWhen_ProofForAnotherProvider() public {
        address other = makeAddr("other provider");
        bytes memory forOther = keyProof(keyPk, other);
        expectUnproven(newProvider, key);
        register(newProvider, key, forOther);
        assertNotRegistered(newProvider);
        // It works for the provider it names.
        register(other, key, forOther);
        assertEq(market.providerProfile(other).attestationKey, key, "registered with its own proof");
    }

    /// @notice A proof made for another market, or for this market on another chain, is refused.
    function test_RevertWhen_ProofForAnotherMarketOrChain() public {
        bytes memory otherMarket = sign(keyPk, attestationKeyDigest(address(0xBEEF), block.chainid, newProvider));
        expectUnproven(newProvider, key);
        register(newProvider, key, otherMarket);

        bytes memory otherChain = sign(keyPk, attestationKeyDigest(address(market), block.chainid + 1, newProvider));
        expectUnproven(newProvider, key);
        register(newProvider, key, otherChain);

        // The raw struct hash, or the provider's address, signed without the EIP-712 envelope.
        bytes memory raw = sign(keyPk, keccak256(abi.encode(ATTESTATION_KEY_TYPEHASH, newProvider)));
        expectUnproven(newProvider, key);
        register(newProvider, key, raw);
        assertNotRegistered(newProvider);
    }

    /// @notice The high-s twin of a valid proof (the malleable form) is refused.
    function test_RevertWhen_ProofIsMalleable() public {
        bytes memory proof = keyProof(keyPk, newProvider);
        (bytes32 r, bytes32 s, uint8 v) = (bytes32(0), bytes32(0), uint8(0));
        assembly ("memory-safe") {
            r := mload(add(proof, 0x20))
            s := mload(add(proof, 0x40))
            v := byte(0, mload(add(proof, 0x60)))
        }
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory twin = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        expectUnproven(newProvider, key);
        register(newProvider, key, twin);
        assertNotRegistered(newProvider);
    }

    // ─── Keys that did ──────────────────────────────────────────────────────────────────────

    /// @notice A proof by the key registers it, and its signatures are evidence: caught equivocating, the
    /// provider's bond is slashed.
    function test_ProofByTheKeyRegistersItAndItsEvidenceSlashes() public {
        register(newProvider, key, keyProof(keyPk, newProvider));
        ProviderProfile memory p = market.providerProfile(newProvider);
        assertTrue(p.registered, "registered");
        assertEq(p.attestationKey, key, "the proven key");

        uint256 leaseId = leaseOf(newProvider);
        assertEq(equivocate(leaseId, keyPk), 0, "the key's evidence slashed the whole bond");
    }

    /// @notice A contract-wallet provider names an EOA key that proves itself; the evidence stands whatever
    /// the wallet later says.
    function test_ContractWalletProviderWithAProvenEoaKey() public {
        (address owner,) = makeAddrAndKey("wallet owner");
        MockContractWallet wallet = new MockContractWallet(owner);
        bytes memory proof = keyProof(keyPk, address(wallet));
        vm.prank(owner);
        wallet.execute(
            address(market),
            abi.encodeCall(market.registerProvider, ("ipfs://w", "https://w.example", "eu", bytes32(0), key, proof))
        );
        assertEq(market.providerProfile(address(wallet)).attestationKey, key, "the EOA key");
    }

    /// @notice An EIP-7702 account (an EOA whose code delegates to a contract) signs with its key: it can
    /// prove itself and be an attestation key, and its evidence slashes.
    function test_Eip7702AccountCanBeTheKey() public {
        (address account, uint256 accountPk) = makeAddrAndKey("7702 account");
        MockContractWallet implementation = new MockContractWallet(address(0xdead));
        vm.signAndAttachDelegation(address(implementation), accountPk);
        vm.prank(account);
        usdc.approve(address(market), 0); // the EIP-7702 transaction that sets the delegation
        assertGt(account.code.length, 0, "the account has delegated code");

        register(newProvider, account, keyProof(accountPk, newProvider));
        assertEq(market.providerProfile(newProvider).attestationKey, account, "the 7702 account is the key");
        uint256 leaseId = leaseOf(newProvider);
        assertEq(equivocate(leaseId, accountPk), 0, "its evidence slashed the whole bond");
    }

    /// @dev Stakes `who` (registered), publishes an offer and opens a lease of it, an hour old.
    function leaseOf(address who) internal returns (uint256 leaseId) {
        mintAndApprove(address(usdc), who, PROVIDER_STAKE);
        vm.prank(who);
        market.stake(address(usdc), PROVIDER_STAKE);
        uint256 o = publishOffer(who, address(usdc), PRICE);
        leaseId = openLease(tenant, o, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);
    }

    /// @dev Two conflicting attestations signed by `signingKey` submitted as evidence; returns the bond left.
    function equivocate(uint256 leaseId, uint256 signingKey) internal returns (uint256) {
        AnswerAttestation memory x =
            AnswerAttestation(leaseId, 1, 0, keccak256("q"), keccak256("x"), uint64(block.timestamp));
        AnswerAttestation memory y =
            AnswerAttestation(leaseId, 1, 0, keccak256("q"), keccak256("y"), uint64(block.timestamp));
        bytes memory sigX = sign(signingKey, market.attestationDigest(x));
        bytes memory sigY = sign(signingKey, market.attestationDigest(y));
        vm.prank(keeper);
        market.slashEquivocation(x, sigX, y, sigY);
        return market.lease(leaseId).bond;
    }
}
