// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BaseTest} from "../Base.t.sol";
import {HashChainVerifier} from "../../src/verifiers/HashChainVerifier.sol";

/// @notice Gas benchmarks: named snapshots in `snapshots/Gas.json`, committed and checked for drift by
/// `make test` (FORGE_SNAPSHOT_CHECK). Run with `--isolate` so every call is its own transaction and
/// pays for cold storage as on chain. Each figure is execution gas: the transaction's gas less its
/// intrinsic cost (the 21,000 base and the calldata). Settlement, whose calldata (signed receipts)
/// is most of what it costs, also records the transaction's total gas as `<name>_totalGas`.
contract Gas is BaseTest {
    /// @dev Records the last call's execution gas under `name` and returns it.
    function snapshotExecution(string memory name, bytes memory callData) internal returns (uint256 gas) {
        gas = vm.lastCallGas().gasTotalUsed - intrinsicGas(callData);
        vm.snapshotValue(name, gas);
    }

    /// @dev Records the last call's execution gas under `name` and its transaction's total gas (with the
    /// calldata's cost) under `<name>_totalGas`; returns the execution gas.
    function snapshotExecutionAndTotal(string memory name, bytes memory callData) internal returns (uint256 gas) {
        uint256 total = vm.lastCallGas().gasTotalUsed;
        gas = snapshotExecution(name, callData);
        vm.snapshotValue(string.concat(name, "_totalGas"), total);
    }

    function intrinsicGas(bytes memory callData) internal pure returns (uint256 gas) {
        gas = 21_000;
        for (uint256 i; i < callData.length; ++i) {
            gas += callData[i] == 0 ? 4 : 16;
        }
    }

    function test_gas_stake() public {
        mintAndApprove(address(usdc), provider, 1_000e6);
        vm.prank(provider);
        market.stake(address(usdc), 1_000e6);
        snapshotExecution("stake", abi.encodeCall(market.stake, (address(usdc), 1_000e6)));
    }

    function test_gas_openLease() public {
        openDefaultLease(); // the first lease of the market pays for zero-to-nonzero counters
        bytes32 termsHash = market.offerTermsHash(offerId);
        vm.prank(tenant);
        market.openLease(offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash);
        snapshotExecution(
            "openLease", abi.encodeCall(market.openLease, (offerId, 10 hours, uint256(PRICE) * 10 hours, termsHash))
        );
    }

    function test_gas_settle() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        market.settle(signedReceipt(leaseId, PRICE * 1800));
        skip(1 hours);
        SignedReceipt memory r = signedReceipt(leaseId, PRICE * 3600);
        market.settle(r);
        snapshotExecutionAndTotal("settle", abi.encodeCall(market.settle, (r)));
    }

    function test_gas_settleBatch() public {
        SignedReceipt[] memory batch1 = new SignedReceipt[](1);
        SignedReceipt[] memory batch10 = new SignedReceipt[](10);
        uint256[] memory leases = new uint256[](10);
        for (uint256 i; i < 10; ++i) {
            leases[i] = openDefaultLease();
        }
        skip(1 hours);
        for (uint256 i; i < 10; ++i) {
            market.settle(signedReceipt(leases[i], PRICE * 60)); // warm: every lease settled once
        }
        skip(1 hours);
        batch1[0] = signedReceipt(leases[0], PRICE * 1800);
        market.settleBatch(batch1);
        uint256 one = snapshotExecutionAndTotal("settleBatch_1", abi.encodeCall(market.settleBatch, (batch1)));
        for (uint256 i; i < 10; ++i) {
            batch10[i] = signedReceipt(leases[i], PRICE * 3600);
        }
        market.settleBatch(batch10);
        uint256 ten = snapshotExecutionAndTotal("settleBatch_10", abi.encodeCall(market.settleBatch, (batch10)));
        vm.snapshotValue("settleBatch_perLeaseBeyondFirst", (ten - one) / 9);
    }

    function test_gas_settleBatch_distinctTenants() public {
        SignedReceipt[] memory batch = new SignedReceipt[](10);
        uint256[] memory leases = new uint256[](10);
        uint256[] memory keys = new uint256[](10);
        for (uint256 i; i < 10; ++i) {
            (address t, uint256 k) = makeAddrAndKey(string.concat("tenant", vm.toString(i)));
            keys[i] = k;
            mintAndApprove(address(usdc), t, 1_000e6);
            leases[i] = openLease(t, offerId, 10 hours, uint256(PRICE) * 10 hours);
            vm.prank(t);
            market.authorizeSigner(
                t == signer ? address(1) : signer, provider, SIGNER_CAP, uint40(block.timestamp + 1 days)
            );
        }
        skip(1 hours);
        for (uint256 i; i < 10; ++i) {
            market.settle(signedReceipt(leases[i], PRICE * 60));
        }
        skip(1 hours);
        for (uint256 i; i < 10; ++i) {
            batch[i] = signedReceipt(leases[i], PRICE * 3600);
        }
        market.settleBatch(batch);
        snapshotExecutionAndTotal("settleBatch_10_distinctTenants", abi.encodeCall(market.settleBatch, (batch)));
    }

    function test_gas_closeLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        snapshotExecution("closeLease", abi.encodeCall(market.closeLease, (leaseId)));
    }

    function test_gas_finalizeLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(tenant);
        market.closeLease(leaseId);
        skip(1 hours + 1 days);
        market.finalizeLease(leaseId);
        snapshotExecution("finalizeLease", abi.encodeCall(market.finalizeLease, (leaseId)));
    }

    function test_gas_slash() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        (AnswerAttestation memory a, bytes memory sigA) = attestation(leaseId, 7, keccak256("a"));
        (AnswerAttestation memory b, bytes memory sigB) = attestation(leaseId, 7, keccak256("b"));
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        snapshotExecution("slash", abi.encodeCall(market.slashEquivocation, (a, sigA, b, sigB)));
    }

    /// @dev The demo workload's on-chain check: the verifier alone at 1 and 2,000 rounds (its cost
    /// per round is the difference), and a whole slash over a wrong `GET /work/2000` answer.
    function test_gas_verifyAnswer() public {
        HashChainVerifier verifier = new HashChainVerifier();
        bytes32 workload = verifier.WORKLOAD();
        bytes memory wrong = bytes(vm.toString(bytes32(uint256(1))));
        // A view, called from the test rather than as a transaction: its execution gas alone.
        verifier.isRightAnswer(workload, "GET /work/1\n", wrong);
        vm.snapshotValue("verifyAnswer_1", vm.lastCallGas().gasTotalUsed);
        verifier.isRightAnswer(workload, "GET /work/2000\n", wrong);
        vm.snapshotValue("verifyAnswer_2000", vm.lastCallGas().gasTotalUsed);

        vm.prank(provider);
        uint256 offer = market.publishOffer(
            address(usdc), PRICE, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, workload, address(verifier)
        );
        uint256 leaseId = openLease(tenant, offer, 10 hours, uint256(PRICE) * 10 hours);
        skip(1 hours);
        AnswerAttestation memory a = AnswerAttestation({
            leaseId: leaseId,
            sequence: 1,
            workload: workload,
            requestDigest: keccak256("GET /work/2000\n"),
            responseDigest: keccak256(wrong),
            servedAt: uint64(block.timestamp)
        });
        bytes memory sig = sign(providerKey, market.attestationDigest(a));
        vm.prank(keeper);
        market.slashWrongAnswer(a, sig, "GET /work/2000\n", wrong);
        snapshotExecution(
            "slashWrongAnswer_2000", abi.encodeCall(market.slashWrongAnswer, (a, sig, "GET /work/2000\n", wrong))
        );
    }

    function test_gas_terminateLease() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        vm.prank(provider);
        market.terminateLease(leaseId);
        snapshotExecution("terminateLease", abi.encodeCall(market.terminateLease, (leaseId)));
    }

    /// @dev A tenant two hours in without paying: the provider demands payment.
    function test_gas_demandPayment() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        snapshotExecution("demandPayment", abi.encodeCall(market.demandPayment, (leaseId)));
    }

    /// @dev The demand unanswered an hour later: the provider evicts the lease (ends it, frees its capacity,
    /// settles the hold charge and refunds what no receipt can claim; the lease is not finalized).
    function test_gas_evictLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        snapshotExecution("evictLease", abi.encodeCall(market.evictLease, (leaseId)));
    }

    /// @dev The evicted lease finalized at its remedies deadline (the settlement deadline it had).
    function test_gas_finalizeEvictedLease() public {
        uint256 leaseId = openDefaultLease();
        skip(2 hours);
        vm.prank(provider);
        market.demandPayment(leaseId);
        skip(1 hours);
        vm.prank(provider);
        market.evictLease(leaseId);
        vm.warp(market.remediesDeadline(leaseId));
        market.finalizeLease(leaseId);
        snapshotExecution("finalizeLease_evicted", abi.encodeCall(market.finalizeLease, (leaseId)));
    }

    /// @dev A tenant authorizes a session signer for the provider and opens a lease in one transaction.
    function test_gas_multicall_authorizeSignerAndOpenLease() public {
        openDefaultLease(); // as `openLease`: not the market's first lease
        (address fresh,) = makeAddrAndKey("fresh signer");
        bytes[] memory calls = new bytes[](2);
        calls[0] =
            abi.encodeCall(market.authorizeSigner, (fresh, provider, SIGNER_CAP, uint40(block.timestamp + 1 days)));
        calls[1] = abi.encodeCall(
            market.openLease, (offerId, 10 hours, uint256(PRICE) * 10 hours, market.offerTermsHash(offerId))
        );
        vm.prank(tenant);
        market.multicall(calls);
        snapshotExecution("multicall_authorizeSignerAndOpenLease", abi.encodeCall(market.multicall, (calls)));
    }

    /// @dev The provider accepts the parameters version in force for an offer.
    function test_gas_acceptParams() public {
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(defaultParams());
        vm.warp(effectiveAt);
        vm.prank(provider);
        market.acceptParams(offerId, 2);
        snapshotExecution("acceptParams", abi.encodeCall(market.acceptParams, (offerId, 2)));
    }

    /// @dev A tenant two hours into a ten-hour lease moves to another offer of the same token for ten
    /// hours: notice on the old lease, the escrow it can never pay (seven hours) moved, three hours pulled.
    function test_gas_failoverLease() public {
        uint256 leaseId = openDefaultLease();
        uint256 other = publishOffer(provider, address(usdc), PRICE);
        skip(2 hours);
        bytes32 termsHash = market.offerTermsHash(other);
        uint256 extra = uint256(PRICE) * 3 hours;
        vm.prank(tenant);
        market.failoverLease(leaseId, other, 10 hours, extra, termsHash);
        snapshotExecution(
            "failoverLease", abi.encodeCall(market.failoverLease, (leaseId, other, 10 hours, extra, termsHash))
        );
    }

    function test_gas_claim() public {
        uint256 leaseId = openDefaultLease();
        skip(1 hours);
        market.settle(signedReceipt(leaseId, PRICE * 3600));
        vm.prank(provider);
        market.claim(address(usdc), provider);
        snapshotExecution("claim", abi.encodeCall(market.claim, (address(usdc), provider)));
    }
}
