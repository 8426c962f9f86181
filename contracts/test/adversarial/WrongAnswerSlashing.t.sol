// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";
import {IAnswerVerifier} from "../../src/interfaces/IAnswerVerifier.sol";
import {HashChainVerifier} from "../../src/verifiers/HashChainVerifier.sol";

/// @dev A verifier that calls every answer wrong: what a verifier bound to one offer could do to
/// leases of other offers, if the market let it.
contract RejectEverything is IAnswerVerifier {
    function isRightAnswer(bytes32, bytes calldata, bytes calldata) external pure returns (bool) {
        return false;
    }
}

/// @notice Slashing without an arbiter: a provider-attested answer the lease's own verifier rejects
/// costs the provider the lease's bond, paid to the tenant. Honest answers, answers the verifier cannot
/// judge and leases whose terms named another verifier (or none) are never slashed.
contract WrongAnswerSlashingTest is BaseTest, IOpenleaseEvents {
    HashChainVerifier internal verifier;
    bytes32 internal workload;
    uint256 internal checkedOffer;
    uint256 internal leaseId;
    address internal stranger = makeAddr("stranger");

    function setUp() public override {
        super.setUp();
        verifier = new HashChainVerifier();
        workload = verifier.WORKLOAD();
        vm.prank(provider);
        checkedOffer = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, workload, address(verifier)
        );
        leaseId = openLease(tenant, checkedOffer, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);
    }

    function hashChain(uint256 n) internal pure returns (bytes32 h) {
        for (uint256 i; i < n; ++i) {
            h = keccak256(abi.encode(h));
        }
    }

    /// @dev The provider's attestation of answering `request` with `response` on `lease`.
    function attest(uint256 lease, bytes32 work, bytes memory request, bytes memory response)
        internal
        view
        returns (AnswerAttestation memory a, bytes memory signature)
    {
        a = AnswerAttestation({
            leaseId: lease,
            sequence: 1,
            workload: work,
            requestDigest: keccak256(request),
            responseDigest: keccak256(response),
            servedAt: uint64(block.timestamp)
        });
        signature = sign(providerKey, market.attestationDigest(a));
    }

    function slash(uint256 lease, bytes32 work, bytes memory request, bytes memory response) internal {
        (AnswerAttestation memory a, bytes memory sig) = attest(lease, work, request, response);
        vm.prank(stranger);
        market.slashWrongAnswer(a, sig, request, response);
    }

    function test_AWrongAnswerSlashesTheWholeBondToTheTenant() public {
        Lease memory before = market.lease(leaseId);
        uint256 cut = uint256(before.bond) * defaultParams().slashCutBps / 10_000;
        uint256 tenantBefore = market.claimable(tenant, address(usdc));
        uint256 stakedBefore = market.stakeOf(provider, address(usdc)).staked;
        vm.expectEmit(address(market));
        emit BondSlashed(leaseId, provider, SlashReason.WrongAnswer, before.bond, cut);
        slash(leaseId, workload, "GET /work/3\n", bytes(vm.toString(hashChain(4))));

        Lease memory l = market.lease(leaseId);
        assertEq(l.bond, 0, "bond");
        assertEq(l.endsAt, block.timestamp, "a provider caught answering wrongly serves the lease no longer");
        assertEq(market.claimable(tenant, address(usdc)), tenantBefore + before.bond - cut, "tenant paid");
        assertEq(market.claimable(stranger, address(usdc)), 0, "the caller gains nothing");
        assertEq(market.stakeOf(provider, address(usdc)).staked, stakedBefore - before.bond, "stake");
        // Once: the bond is gone.
        (AnswerAttestation memory a, bytes memory sig) = attest(leaseId, workload, "GET /work/3\n", "0x00");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNothingToSlash.selector, leaseId));
        market.slashWrongAnswer(a, sig, "GET /work/3\n", "0x00");
    }

    function testFuzz_ARightAnswerIsNeverSlashed(uint16 n) public {
        n = uint16(bound(n, 0, 2_000));
        bytes memory request = bytes(string.concat("GET /work/", vm.toString(uint256(n)), "\n"));
        (AnswerAttestation memory a, bytes memory sig) =
            attest(leaseId, workload, request, bytes(vm.toString(hashChain(n))));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAnswerNotWrong.selector, leaseId, address(verifier))
        );
        market.slashWrongAnswer(a, sig, request, bytes(vm.toString(hashChain(n))));
    }

    /// @dev A tenant cannot trap an honest provider with requests the verifier cannot judge: the
    /// workload answers them (its streams, its chat model, a number with a sign), the chain cannot check.
    function test_AnswersTheVerifierCannotJudgeAreNeverSlashed() public {
        string[6] memory requests = [
            "GET /work/+3\n",
            "GET /work/3?x=1\n",
            "GET /work/100001\n",
            "GET /stream/3\n",
            "POST /v1/chat/completions\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            "GET /work/3\nbody"
        ];
        for (uint256 i; i < requests.length; ++i) {
            (AnswerAttestation memory a, bytes memory sig) = attest(leaseId, workload, bytes(requests[i]), "wrong");
            vm.expectRevert(
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAnswerNotWrong.selector, leaseId, address(verifier))
            );
            market.slashWrongAnswer(a, sig, bytes(requests[i]), "wrong");
        }
        assertGt(market.lease(leaseId).bond, 0);
    }

    /// @dev The verifier reached is the one the lease's offer named: a rejecting verifier bound to
    /// another offer reaches no lease of this one, and a lease whose offer named none is not slashable.
    function test_AVerifierReachesOnlyTheLeasesWhoseTermsNamedIt() public {
        RejectEverything rogue = new RejectEverything();
        vm.prank(provider);
        uint256 rogueOffer = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, workload, address(rogue)
        );
        uint256 rogueLease = openLease(tenant, rogueOffer, 10 hours, uint256(PRICE) * 10 hours);
        uint256 plainLease = openDefaultLease();
        bytes memory right = bytes(vm.toString(hashChain(3)));

        (AnswerAttestation memory a, bytes memory sig) = attest(leaseId, workload, "GET /work/3\n", right);
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseAnswerNotWrong.selector, leaseId, address(verifier))
        );
        market.slashWrongAnswer(a, sig, "GET /work/3\n", right);

        (a, sig) = attest(plainLease, workload, "GET /work/3\n", "wrong");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNoVerifier.selector, plainLease));
        market.slashWrongAnswer(a, sig, "GET /work/3\n", "wrong");

        // The rogue verifier judges its own offer's lease, which the tenant accepted with it.
        slash(rogueLease, workload, "GET /work/3\n", right);
        assertEq(market.lease(rogueLease).bond, 0);
        assertGt(market.lease(leaseId).bond, 0);
        assertGt(market.lease(plainLease).bond, 0);
    }

    function test_TheEvidenceMustBeWhatTheProviderAttested() public {
        (AnswerAttestation memory a, bytes memory sig) = attest(leaseId, workload, "GET /work/3\n", "wrong");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseEvidenceMismatch.selector, leaseId));
        market.slashWrongAnswer(a, sig, "GET /work/4\n", "wrong");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseEvidenceMismatch.selector, leaseId));
        market.slashWrongAnswer(a, sig, "GET /work/3\n", "wrong!");

        // Signed by anyone but the provider's attestation key: not the provider's word.
        bytes memory forged = sign(tenantKey, market.attestationDigest(a));
        vm.expectRevert(
            abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, leaseId, provider)
        );
        market.slashWrongAnswer(a, forged, "GET /work/3\n", "wrong");

        // The attestation names its lease: evidence from one lease does not reach another.
        uint256 other = openLease(tenant, checkedOffer, 10 hours, uint256(PRICE) * 10 hours);
        AnswerAttestation memory moved = a;
        moved.leaseId = other;
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseInvalidAttestation.selector, other, provider));
        market.slashWrongAnswer(moved, sig, "GET /work/3\n", "wrong");
    }

    /// @dev An answer attested as another workload's is wrong for a lease that bought this one,
    /// whatever its content: otherwise a provider could dodge its verifier by naming another workload.
    function test_AnAnswerAttestedAsAnotherWorkloadIsWrong() public {
        slash(leaseId, keccak256("cheaper-model@1"), "GET /work/3\n", bytes(vm.toString(hashChain(3))));
        assertEq(market.lease(leaseId).bond, 0);
    }

    function test_TheWorkloadAndVerifierAreInTheTermsAndFixed() public {
        vm.prank(provider);
        uint256 same = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, workload, address(0)
        );
        assertNotEq(market.offerTermsHash(same), market.offerTermsHash(offerId), "workload in the terms");
        assertNotEq(market.offerTermsHash(same), market.offerTermsHash(checkedOffer), "verifier in the terms");
        vm.prank(provider);
        market.updateOffer(checkedOffer, PRICE * 2, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY);
        Offer memory o = market.offer(checkedOffer);
        assertEq(o.workload, workload);
        assertEq(o.verifier, address(verifier));

        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseVerifierNotContract.selector, stranger));
        market.publishOffer(address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, workload, stranger);
    }

    /// @dev The tenant has until the lease is finalized; after, the bond is back in free stake.
    function test_NoSlashAfterFinalization() public {
        vm.prank(tenant);
        market.closeLease(leaseId);
        skip(NOTICE + defaultParams().settlementWindow + 1);
        market.finalizeLease(leaseId);
        (AnswerAttestation memory a, bytes memory sig) = attest(leaseId, workload, "GET /work/3\n", "wrong");
        vm.expectRevert(abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseFinalized.selector, leaseId));
        market.slashWrongAnswer(a, sig, "GET /work/3\n", "wrong");
    }

    /// @dev Pause never blocks remedies.
    function test_SlashingWorksWhilePaused() public {
        vm.prank(admin);
        market.pause();
        slash(leaseId, workload, "GET /work/3\n", "wrong");
        assertEq(market.lease(leaseId).bond, 0);
    }
}
