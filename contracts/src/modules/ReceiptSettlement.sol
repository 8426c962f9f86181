// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IOpenlease} from "../interfaces/IOpenlease.sol";
import {LeaseMarket} from "./LeaseMarket.sol";

/// @title ReceiptSettlement
/// @notice Session signers and the settlement of cumulative EIP-712 service receipts. A receipt
/// pays `cumulativeAmount - settled`, capped by the escrow, by what the lease's terms let accrue
/// (`pricePerSecond * elapsed`) and by the signer's remaining cap; replay state is the lease's
/// settled counter alone. Receipts are bound to this chain and contract by the EIP-712 domain.
abstract contract ReceiptSettlement is LeaseMarket, EIP712 {
    bytes32 internal constant SERVICE_RECEIPT_TYPEHASH =
        keccak256("ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)");

    mapping(address tenant => mapping(address signer => SessionSigner)) internal _signers;

    // ─── Session signers ────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function authorizeSigner(address signer, uint96 cap, uint40 expiresAt) external {
        if (signer == address(0)) revert OpenleaseZeroAddress();
        if (cap == 0 || expiresAt <= block.timestamp) revert OpenleaseInvalidSignerTerms(cap, expiresAt);
        SessionSigner storage s = _signers[msg.sender][signer];
        s.cap = cap;
        s.expiresAt = expiresAt;
        emit SignerAuthorized(msg.sender, signer, cap, expiresAt);
    }

    /// @inheritdoc IOpenlease
    function revokeSigner(address signer) external {
        SessionSigner storage s = _signers[msg.sender][signer];
        if (s.cap == 0) revert OpenleaseUnknownSigner(msg.sender, signer);
        s.expiresAt = 0;
        emit SignerRevoked(msg.sender, signer);
    }

    /// @inheritdoc IOpenlease
    function sessionSigner(address tenant, address signer) external view returns (SessionSigner memory) {
        return _signers[tenant][signer];
    }

    // ─── Settlement ─────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IOpenlease
    function settle(SignedReceipt calldata item) external nonReentrant returns (uint256 paid) {
        Params memory p = _params;
        SettlementResult result;
        (result, paid) = _settle(item, p.protocolFeeBps, p.settlementWindow);
        if (result != SettlementResult.Settled) revert OpenleaseSettlementFailed(item.receipt.leaseId, result);
    }

    /// @inheritdoc IOpenlease
    function settleBatch(SignedReceipt[] calldata items)
        external
        nonReentrant
        returns (SettlementResult[] memory results)
    {
        Params memory p = _params;
        results = new SettlementResult[](items.length);
        for (uint256 i; i < items.length; ++i) {
            (SettlementResult result,) = _settle(items[i], p.protocolFeeBps, p.settlementWindow);
            if (result != SettlementResult.Settled) {
                results[i] = result;
                emit SettlementSkipped(items[i].receipt.leaseId, result);
            }
        }
    }

    /// @inheritdoc IOpenlease
    function receiptDigest(ServiceReceipt calldata receipt) external view returns (bytes32) {
        return _receiptDigest(receipt);
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    /// @dev The part of a lease that settlement reads: the first two storage slots of `Lease`.
    struct SettlementTerms {
        address tenant;
        uint256 offerId;
        uint256 startedAt;
        uint256 endsAt;
        uint256 deposit;
        uint256 settled;
        uint256 pricePerSecond;
    }

    /// @dev Settles one receipt or says why not, changing nothing in that case.
    function _settle(SignedReceipt calldata item, uint256 feeBps, uint256 settlementWindow)
        private
        returns (SettlementResult result, uint256 paid)
    {
        ServiceReceipt calldata receipt = item.receipt;
        uint256 leaseId = receipt.leaseId;
        SettlementTerms memory t = _settlementTerms(leaseId);
        if (t.tenant == address(0)) return (SettlementResult.UnknownLease, 0);
        uint256 end = _runEnd(t.startedAt, t.endsAt, t.deposit, t.pricePerSecond);
        if (block.timestamp >= end + settlementWindow) return (SettlementResult.SettlementWindowClosed, 0);
        // A lease is finalized only after its settlement window, which the current window may no
        // longer reflect (governance can lengthen it). No window is shorter than the minimum, so
        // before that the lease cannot be finalized and its (cold) status need not be read.
        if (
            block.timestamp >= end + MIN_SETTLEMENT_WINDOW && _leases[leaseId].status == LeaseStatus.Finalized
        ) return (SettlementResult.SettlementWindowClosed, 0);

        address signer = item.signer;
        uint256 capLeft;
        (result, capLeft) = _checkSigner(t.tenant, signer, _receiptDigest(receipt), item.signature);
        if (result != SettlementResult.Settled) return (result, 0);
        (result, paid) = _payable(t, receipt.cumulativeAmount, capLeft);
        if (result != SettlementResult.Settled) return (result, 0);

        // paid <= deposit - settled, so the new settled total fits the deposit's uint96;
        // and paid <= capLeft, so the signer's spent total stays within its uint96 cap.
        _leases[leaseId].settled = uint96(t.settled + paid);
        if (signer != t.tenant) _signers[t.tenant][signer].spent += uint96(paid);
        uint256 fee = paid * feeBps / BPS;
        Offer storage o = _offers[t.offerId];
        address token = o.token;
        _claimable[o.provider][token] += paid - fee;
        _feesOwed[token] += fee;
        emit LeaseSettled(leaseId, signer, receipt.cumulativeAmount, paid, fee);
    }

    /// @dev Reads the two slots settlement needs in two SLOADs; Solidity would issue one per field.
    /// The offsets follow the declaration order of `Lease` (tenant, offerId, startedAt, endsAt |
    /// deposit, settled, pricePerSecond); the settlement tests would fail on any mismatch.
    function _settlementTerms(uint256 leaseId) private view returns (SettlementTerms memory t) {
        Lease storage l = _leases[leaseId];
        uint256 word0;
        uint256 word1;
        assembly ("memory-safe") {
            word0 := sload(l.slot)
            word1 := sload(add(l.slot, 1))
        }
        t.tenant = address(uint160(word0));
        t.offerId = uint32(word0 >> 160);
        t.startedAt = uint32(word0 >> 192);
        t.endsAt = uint32(word0 >> 224);
        t.deposit = uint96(word1);
        t.settled = uint96(word1 >> 96);
        t.pricePerSecond = uint64(word1 >> 192);
    }

    /// @dev Whether `signer` may sign the tenant's receipts and signed this one, and how much it
    /// may still attest. The tenant itself (an EOA, or a contract wallet through ERC-1271) has no cap.
    function _checkSigner(address tenant, address signer, bytes32 digest, bytes calldata signature)
        private
        view
        returns (SettlementResult, uint256 capLeft)
    {
        if (signer == tenant) {
            if (!SignatureChecker.isValidSignatureNow(tenant, digest, signature)) {
                return (SettlementResult.InvalidSignature, 0);
            }
            return (SettlementResult.Settled, type(uint256).max);
        }
        SessionSigner memory s = _signers[tenant][signer];
        if (s.cap == 0) return (SettlementResult.SignerNotAuthorized, 0);
        if (s.expiresAt == 0) return (SettlementResult.SignerRevoked, 0);
        if (block.timestamp >= s.expiresAt) return (SettlementResult.SignerExpired, 0);
        if (_recover(digest, signature) != signer) return (SettlementResult.InvalidSignature, 0);
        // Re-authorizing may set a cap below what was already spent: nothing is left then.
        return (SettlementResult.Settled, s.cap > s.spent ? s.cap - s.spent : 0);
    }

    /// @dev What a receipt for `cumulativeAmount` pays now: the increase over what was settled,
    /// capped by the escrow, by what the terms let accrue so far and by the signer's remaining cap.
    function _payable(SettlementTerms memory t, uint256 cumulativeAmount, uint256 capLeft)
        private
        view
        returns (SettlementResult, uint256 paid)
    {
        if (cumulativeAmount <= t.settled) return (SettlementResult.AlreadySettled, 0);
        if (t.settled == t.deposit) return (SettlementResult.EscrowExhausted, 0);
        uint256 accrued = (_min(block.timestamp, t.endsAt) - t.startedAt) * t.pricePerSecond;
        if (accrued <= t.settled) return (SettlementResult.NotYetAccrued, 0);
        if (capLeft == 0) return (SettlementResult.SignerCapReached, 0);
        paid = _min(_min(_min(cumulativeAmount, accrued), t.deposit) - t.settled, capLeft);
        return (SettlementResult.Settled, paid);
    }

    /// @dev The EIP-712 digest of a receipt, hashing its four static words straight from calldata.
    function _receiptDigest(ServiceReceipt calldata receipt) internal view returns (bytes32) {
        bytes32 typehash = SERVICE_RECEIPT_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), receipt, 0x80)
            structHash := keccak256(ptr, 0xa0)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev ECDSA recovery of a 65-byte calldata signature, without copying it to memory. Returns
    /// zero for a malformed or malleable (high-s) signature.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
        (address recovered,,) = ECDSA.tryRecover(digest, v, r, s);
        return recovered;
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
