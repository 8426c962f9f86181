// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Openlease} from "../../src/Openlease.sol";
import {IOpenlease} from "../../src/interfaces/IOpenlease.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Receipt replay: a signed receipt is bound to its lease, chain and market deployment by the
/// EIP-712 message and domain, and pays at most once on its own lease.
contract ReceiptReplay_Adversarial_Test is AdversarialBase {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant RECEIPT_TYPEHASH =
        keccak256("ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)");

    uint256 internal leaseA;
    uint256 internal leaseB;
    uint256 internal amount = uint256(PRICE) * 30 minutes;

    function setUp() public override {
        super.setUp();
        leaseA = openDefaultLease();
        leaseB = openDefaultLease();
        skip(1 hours);
    }

    /// @dev The EIP-712 digest computed independently of the market.
    function expectedDigest(ServiceReceipt memory r, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("Openlease"), keccak256("1"), chainId, verifyingContract)
        );
        bytes32 structHash =
            keccak256(abi.encode(RECEIPT_TYPEHASH, r.leaseId, r.cumulativeAmount, r.usageDigest, r.periodEnd));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    // ─── Across leases ──────────────────────────────────────────────────────────────────────

    function test_RevertWhen_SignatureOfLeaseAIsReusedWithLeaseB() public {
        SignedReceipt memory forged = withLeaseId(signedReceipt(leaseA, amount), leaseB);
        uint256 claimableBefore = market.claimable(provider, address(usdc));
        uint256 spentBefore = market.sessionSigner(tenant, signer, provider).spent;

        expectSettlementFailed(leaseB, SettlementResult.InvalidSignature);
        market.settle(forged);

        assertEq(market.lease(leaseB).settled, 0, "lease B settled");
        assertEq(market.lease(leaseA).settled, 0, "lease A settled");
        assertEq(market.claimable(provider, address(usdc)), claimableBefore, "provider claimable");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, spentBefore, "signer spent");
    }

    function test_RevertWhen_ReceiptOfLeaseAIsReplayedOnLeaseBInABatch() public {
        SignedReceipt memory forged = withLeaseId(signedReceipt(leaseA, amount), leaseB);

        vm.expectEmit(address(market));
        emit SettlementSkipped(leaseB, SettlementResult.InvalidSignature);
        SettlementResult[] memory results = market.settleBatch(one(forged));

        assertEq(uint8(results[0]), uint8(SettlementResult.InvalidSignature), "result");
        assertEq(market.lease(leaseB).settled, 0, "lease B settled");
    }

    function test_ReceiptOfLeaseASettlesLeaseAOnly() public {
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        uint256 claimableBefore = market.claimable(provider, address(usdc));

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseA, signer, amount, amount, feeOf(amount), amount);
        uint256 paid = market.settle(r);

        assertEq(paid, amount, "paid");
        assertEq(market.lease(leaseA).settled, amount, "lease A settled");
        assertEq(market.lease(leaseB).settled, 0, "lease B settled");
        assertEq(market.claimable(provider, address(usdc)), claimableBefore + amount - feeOf(amount), "claimable");
    }

    function test_RevertWhen_ReceiptIsReplayedOnAnotherTenantsLease() public {
        // A second tenant trusts the same signing service.
        address tenant2 = makeAddr("tenant2");
        mintAndApprove(address(usdc), tenant2, 1_000e6);
        uint256 leaseC = openLease(tenant2, offerId, 10 hours, uint256(PRICE) * 10 hours);
        vm.prank(tenant2);
        market.authorizeSigner(signer, provider, SIGNER_CAP, uint40(block.timestamp + 1 days));
        skip(1 hours);

        SignedReceipt memory forged = withLeaseId(signedReceipt(leaseA, amount), leaseC);
        expectSettlementFailed(leaseC, SettlementResult.InvalidSignature);
        market.settle(forged);

        assertEq(market.lease(leaseC).settled, 0, "lease C settled");
        assertEq(market.sessionSigner(tenant2, signer, provider).spent, 0, "tenant2 signer spent");
    }

    // ─── Across chains ──────────────────────────────────────────────────────────────────────

    function test_ReceiptDigestBindsChainAndContract() public {
        ServiceReceipt memory r = receipt(leaseA, amount);
        uint256 home = block.chainid;
        bytes32 digestHome = market.receiptDigest(r);
        assertEq(digestHome, expectedDigest(r, home, address(market)), "digest on home chain");

        vm.chainId(home + 1);
        bytes32 digestFork = market.receiptDigest(r);
        assertEq(digestFork, expectedDigest(r, home + 1, address(market)), "digest on fork");
        assertNotEq(digestFork, digestHome, "digest changes with chainid");
    }

    function test_RevertWhen_ReceiptIsReplayedOnAnotherChain() public {
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        uint256 home = block.chainid;

        vm.chainId(home + 1);
        expectSettlementFailed(leaseA, SettlementResult.InvalidSignature);
        market.settle(r);
        assertEq(market.lease(leaseA).settled, 0, "settled on the fork");

        // Back home the very same receipt verifies: only the chain id made it fail.
        vm.chainId(home);
        assertEq(market.settle(r), amount, "paid at home");
    }

    function test_RevertWhen_ReceiptSignedOnAnotherChainIsReplayedHere() public {
        uint256 home = block.chainid;
        vm.chainId(home + 1);
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        vm.chainId(home);

        expectSettlementFailed(leaseA, SettlementResult.InvalidSignature);
        market.settle(r);
        assertEq(market.lease(leaseA).settled, 0, "settled");
    }

    // ─── Across market deployments ──────────────────────────────────────────────────────────

    function test_RevertWhen_ReceiptIsReplayedOnAnotherDeployment() public {
        // A second market with the same parties, offer and lease id.
        IOpenlease market1 = market;
        IOpenlease market2 = IOpenlease(address(new Openlease(admin, treasury, defaultParams())));
        market = market2;
        vm.prank(admin);
        market2.setTokenAllowed(address(usdc), true);
        registerProvider(provider, provider, providerKey); // `market` is market 2 here
        mintAndApprove(address(usdc), provider, PROVIDER_STAKE);
        vm.prank(provider);
        market2.stake(address(usdc), PROVIDER_STAKE);
        uint256 offer2 = publishOffer(provider, address(usdc), PRICE);
        vm.prank(tenant);
        usdc.approve(address(market2), type(uint256).max);
        vm.prank(tenant);
        market2.authorizeSigner(signer, provider, SIGNER_CAP, uint40(block.timestamp + 365 days));
        uint256 lease2 = openLease(tenant, offer2, 10 hours, uint256(PRICE) * 10 hours);
        market = market1;
        assertEq(lease2, leaseA, "same lease id on both markets");
        skip(1 hours);

        SignedReceipt memory r = signedReceipt(leaseA, amount); // signed for market 1
        assertNotEq(market1.receiptDigest(r.receipt), market2.receiptDigest(r.receipt), "digests differ");
        assertEq(
            market2.receiptDigest(r.receipt), expectedDigest(r.receipt, block.chainid, address(market2)), "digest 2"
        );

        vm.expectRevert(
            abi.encodeWithSelector(OpenleaseSettlementFailed.selector, lease2, SettlementResult.InvalidSignature)
        );
        market2.settle(r);
        assertEq(market2.lease(lease2).settled, 0, "settled on market 2");
        assertEq(market2.claimable(provider, address(usdc)), 0, "claimable on market 2");

        assertEq(market1.settle(r), amount, "paid on market 1");
    }

    // ─── On the same lease ──────────────────────────────────────────────────────────────────

    function test_RevertWhen_SameReceiptIsSettledTwice() public {
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        market.settle(r);
        uint256 claimableBefore = market.claimable(provider, address(usdc));
        uint256 feesBefore = market.feesOwed(address(usdc));
        uint256 spentBefore = market.sessionSigner(tenant, signer, provider).spent;

        skip(1 hours); // more has accrued; the replay must still pay nothing
        expectSettlementFailed(leaseA, SettlementResult.AlreadySettled);
        market.settle(r);

        assertEq(market.lease(leaseA).settled, amount, "settled");
        assertEq(market.claimable(provider, address(usdc)), claimableBefore, "claimable");
        assertEq(market.feesOwed(address(usdc)), feesBefore, "fees");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, spentBefore, "spent");
    }

    function test_RevertWhen_OlderReceiptIsSettledAfterNewer() public {
        SignedReceipt memory older = signedReceipt(leaseA, amount);
        SignedReceipt memory newer = signedReceipt(leaseA, 2 * amount);
        market.settle(newer);

        expectSettlementFailed(leaseA, SettlementResult.AlreadySettled);
        market.settle(older);
        assertEq(market.lease(leaseA).settled, 2 * amount, "settled");
    }

    function test_DuplicateReceiptInABatchPaysOnce() public {
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        SignedReceipt[] memory items = new SignedReceipt[](2);
        items[0] = r;
        items[1] = r;
        uint256 claimableBefore = market.claimable(provider, address(usdc));
        uint256 balanceBefore = usdc.balanceOf(address(market));

        vm.expectEmit(address(market));
        emit LeaseSettled(leaseA, signer, amount, amount, feeOf(amount), amount);
        vm.expectEmit(address(market));
        emit SettlementSkipped(leaseA, SettlementResult.AlreadySettled);
        SettlementResult[] memory results = market.settleBatch(items);

        assertEq(uint8(results[0]), uint8(SettlementResult.Settled), "first");
        assertEq(uint8(results[1]), uint8(SettlementResult.AlreadySettled), "second");
        assertEq(market.lease(leaseA).settled, amount, "settled once");
        assertEq(market.claimable(provider, address(usdc)), claimableBefore + amount - feeOf(amount), "claimable");
        assertEq(market.sessionSigner(tenant, signer, provider).spent, amount, "spent once");
        assertEq(usdc.balanceOf(address(market)), balanceBefore, "settle moves no tokens");
    }

    function test_RevertWhen_ReceiptIsReplayedAfterFinalization() public {
        SignedReceipt memory r = signedReceipt(leaseA, amount);
        market.settle(r);
        vm.warp(market.settlementDeadline(leaseA));
        market.finalizeLease(leaseA);

        SignedReceipt memory later = signedReceipt(leaseA, 2 * amount);
        expectSettlementFailed(leaseA, SettlementResult.SettlementWindowClosed);
        market.settle(later);
        assertEq(market.lease(leaseA).settled, amount, "settled");
    }
}
