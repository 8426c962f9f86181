// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseMath} from "../libraries/LeaseMath.sol";
import {PackedLease} from "../libraries/PackedLease.sol";
import {LeaseMarket} from "./LeaseMarket.sol";

/// @title ReceiptSettlement
/// @notice Session signers and the settlement of cumulative EIP-712 service receipts. A receipt
/// pays `cumulativeAmount - settled`, capped by the escrow, by what the lease's terms let accrue
/// (`pricePerSecond * elapsed`) and by the signer's remaining cap (`LeaseMath.payable_`); replay
/// state is the lease's settled counter alone. Receipts are bound to this chain and contract by the
/// EIP-712 domain.
/// @dev The ABI and its documentation: `IOpenlease`. A batch keeps in memory what its receipts
/// share (the offer's provider and token, the parameters version, the signer) and writes the
/// provider's earnings and the signer's spent total once per run of receipts that share them:
/// per receipt, settlement reads the lease's two hot slots, recovers one signature, writes the
/// settled total and logs.
abstract contract ReceiptSettlement is LeaseMarket {
    using PackedLease for uint256;

    bytes32 internal constant SERVICE_RECEIPT_TYPEHASH =
        keccak256("ServiceReceipt(uint256 leaseId,uint256 cumulativeAmount,bytes32 usageDigest,uint64 periodEnd)");

    // ─── Session signers ────────────────────────────────────────────────────────────────────

    function authorizeSigner(address signer, address provider, uint96 cap, uint40 expiresAt) external {
        if (signer == address(0) || provider == address(0)) revert OpenleaseZeroAddress();
        if (cap == 0 || expiresAt <= block.timestamp) revert OpenleaseInvalidSignerTerms(cap, expiresAt);
        SessionSigner storage s = _signers[msg.sender][signer][provider];
        // A lower cap would void receipts for service already delivered: revoke to stop spending.
        if (cap < s.cap) revert OpenleaseCapDecrease(signer, provider, s.cap, cap);
        s.cap = cap;
        s.expiresAt = expiresAt;
        s.revoked = false;
        emit SignerAuthorized(msg.sender, signer, provider, cap, expiresAt);
    }

    function revokeSigner(address signer, address provider) external {
        SessionSigner storage s = _signers[msg.sender][signer][provider];
        if (s.cap == 0) revert OpenleaseUnknownSigner(msg.sender, signer, provider);
        // Service delivered before now stays payable; nothing after it is.
        uint40 expiresAt = s.expiresAt;
        if (expiresAt > block.timestamp) expiresAt = uint40(block.timestamp);
        s.expiresAt = expiresAt;
        s.revoked = true;
        emit SignerRevoked(msg.sender, signer, provider, expiresAt);
    }

    // ─── Settlement ─────────────────────────────────────────────────────────────────────────

    function settle(SignedReceipt calldata item) external nonReentrant returns (uint256 paid) {
        Batch memory b = _newBatch();
        SettlementResult result;
        (result, paid) = _settle(b, item);
        if (result != SettlementResult.Settled) revert OpenleaseSettlementFailed(item.receipt.leaseId, result);
        _flushProvider(b);
        _flushSigner(b);
    }

    function settleBatch(SignedReceipt[] calldata items)
        external
        nonReentrant
        returns (SettlementResult[] memory results)
    {
        Batch memory b = _newBatch();
        results = new SettlementResult[](items.length);
        for (uint256 i; i < items.length; ++i) {
            (SettlementResult result,) = _settle(b, items[i]);
            if (result != SettlementResult.Settled) {
                results[i] = result;
                emit SettlementSkipped(items[i].receipt.leaseId, result);
            }
        }
        _flushProvider(b);
        _flushSigner(b);
    }

    function receiptDigest(ServiceReceipt calldata receipt) external view returns (bytes32) {
        return _receiptDigest(_domainSeparatorV4(), receipt);
    }

    // ─── Internals ──────────────────────────────────────────────────────────────────────────

    /// @dev What the receipts of one call share, read once and written once per run.
    struct Batch {
        // The EIP-712 domain separator, read once.
        bytes32 domainSeparator;
        // The offer of the previous receipt, and its provider's earnings not yet credited.
        uint256 offerId;
        address provider;
        address token;
        uint256 earned;
        // The parameters version of the previous receipt's lease.
        uint256 version;
        uint256 feeBps;
        uint256 settlementWindow;
        // The previous session signer (not the tenant itself) and the provider its authorization is
        // for, with its spending not yet written.
        address tenant;
        address signer;
        address signerProvider;
        // Its receipts are valid for periods ending before this: its expiry (or revocation), zero if
        // it was never authorized. Nothing can change the signer's record during a call.
        uint256 validBefore;
        bool revoked;
        uint256 cap;
        uint256 spent;
        uint256 spentBefore;
    }

    function _newBatch() private view returns (Batch memory b) {
        b.domainSeparator = _domainSeparatorV4();
        b.version = type(uint256).max;
    }

    /// @dev Settles one receipt or says why not, changing nothing in that case. The lease is read
    /// as its two packed words (`PackedLease`) in two SLOADs. The money rules are `LeaseMath`'s
    /// (`runEnd`, `accrued`, `payable_`, `fee`).
    function _settle(Batch memory b, SignedReceipt calldata item)
        private
        returns (SettlementResult result, uint256 paid)
    {
        uint256 slot;
        uint256 word0;
        uint256 word1;
        assembly ("memory-safe") {
            mstore(0x00, calldataload(item)) // item.receipt.leaseId
            mstore(0x20, _leases.slot)
            slot := keccak256(0x00, 0x40)
            word0 := sload(slot)
            word1 := sload(add(slot, 1))
        }
        if (word0.tenant() == address(0)) return (SettlementResult.UnknownLease, 0);
        if (word1.paramsVersion() != b.version) _loadParams(b, word1.paramsVersion());
        // The lease's provider: a session signer's authorization is the one for it.
        if (word0.offerId() != b.offerId) _switchOffer(b, word0.offerId());
        // The window is the lease's own and a lease is finalized only after it (or evicted with its
        // escrow emptied), so a finalized lease never gets past here with anything to pay.
        if (
            block.timestamp
                >= LeaseMath.runEnd(word0.startedAt(), word0.endsAt(), word1.deposit(), word1.pricePerSecond())
                    + b.settlementWindow
        ) return (SettlementResult.SettlementWindowClosed, 0);

        address signer;
        uint256 capLeft = type(uint256).max;
        // `item.receipt.periodEnd`, read as the word the signature covers: a value past uint64 is
        // past every signer's expiry (refused) and, for the tenant's own key, means "until now".
        uint256 periodEnd;
        assembly ("memory-safe") {
            periodEnd := calldataload(add(item, 0x60))
        }
        {
            uint256 sigOffset;
            uint256 sigLength;
            // `item.signer` and `item.signature` with the checks of Solidity's calldata accessors: a
            // dirty address, or a signature whose offset or length leaves calldata, reverts. (The
            // caller's `items[i]` checked that the item's 0xc0-byte head lies in calldata.)
            assembly ("memory-safe") {
                signer := calldataload(add(item, 0x80))
                if shr(160, signer) { revert(0, 0) }
                let ptr := add(item, calldataload(add(item, 0xa0)))
                if iszero(slt(sub(ptr, item), add(sub(calldatasize(), item), not(30)))) { revert(0, 0) }
                sigLength := calldataload(ptr)
                if gt(sigLength, 0xffffffffffffffff) { revert(0, 0) }
                sigOffset := add(ptr, 0x20)
                if sgt(sigOffset, sub(calldatasize(), sigLength)) { revert(0, 0) }
            }
            if (signer == word0.tenant()) {
                // The tenant's own key, no cap. ECDSA only: an ERC-1271 answer could be flipped
                // after the service a receipt pays for was delivered.
                if (_recover(_receiptDigest(b.domainSeparator, item.receipt), sigOffset, sigLength) != signer) {
                    return (SettlementResult.InvalidSignature, 0);
                }
            } else {
                // (`_switchOffer` forgets the signer when the provider changes.)
                if (signer != b.signer || word0.tenant() != b.tenant) {
                    _flushSigner(b);
                    _loadSigner(b, word0.tenant(), signer);
                }
                // Valid for service before the expiry or revocation, whenever it is settled.
                if (periodEnd >= b.validBefore) return (_signerRefusal(b), 0);
                if (_recover(_receiptDigest(b.domainSeparator, item.receipt), sigOffset, sigLength) != signer) {
                    return (SettlementResult.InvalidSignature, 0);
                }
                // Re-authorizing may set a cap below what was already spent: nothing is left then.
                unchecked {
                    capLeft = b.cap > b.spent ? b.cap - b.spent : 0;
                }
            }
        }

        // From here on, the time the receipt pays until: its period's end, or now if sooner.
        assembly ("memory-safe") {
            periodEnd := xor(periodEnd, mul(xor(periodEnd, timestamp()), lt(timestamp(), periodEnd)))
        }
        (result, paid) = LeaseMath.payable_(
            word1.settled(),
            word1.deposit(),
            // A receipt pays for service until its period's end, never later.
            LeaseMath.accrued(word0.startedAt(), word0.endsAt(), word1.pricePerSecond(), periodEnd),
            item.receipt.cumulativeAmount,
            capLeft
        );
        if (result != SettlementResult.Settled) return (result, 0);
        // paid <= deposit - settled, so the new settled total fits the deposit's 88 bits.
        // The fee grows with the settled total, so the difference is never negative.
        uint256 settled;
        uint256 fee;
        unchecked {
            settled = word1.settled() + paid;
            fee = LeaseMath.fee(settled, b.feeBps) - LeaseMath.fee(settled - paid, b.feeBps);
        }
        // paid <= capLeft = cap - spent, so the signer's spent total stays within its uint96 cap.
        if (signer != word0.tenant()) b.spent += paid;
        // The new settled total into word 1, read above.
        word1 = word1.withSettled(settled);
        assembly ("memory-safe") {
            sstore(add(slot, 1), word1)
        }
        // A batch's earnings are at most the sum of its leases' deposits, each below 2^88.
        unchecked {
            b.earned += paid - fee;
        }
        emit LeaseSettled(item.receipt.leaseId, signer, item.receipt.cumulativeAmount, paid, fee, settled);
    }

    function _loadParams(Batch memory b, uint256 version) private view {
        Params storage p = _paramsVersions[version];
        b.version = version;
        b.feeBps = p.protocolFeeBps;
        b.settlementWindow = p.settlementWindow;
    }

    /// @dev Credits the earnings so far and moves on to another offer's provider and token.
    function _switchOffer(Batch memory b, uint256 offerId) private {
        Offer storage o = _offers[offerId];
        (address provider, address token) = (o.provider, o.token);
        if (provider != b.provider || token != b.token) {
            _flushProvider(b);
            if (provider != b.provider) {
                // A session signer's authorization is the provider's own: load it again.
                // (No lease has a zero tenant, so the next session signer is loaded.)
                _flushSigner(b);
                b.tenant = address(0);
            }
            (b.provider, b.token) = (provider, token);
        }
        b.offerId = offerId;
    }

    function _flushProvider(Batch memory b) private {
        if (b.earned == 0) return;
        _claimable[b.provider][b.token] += b.earned;
        b.earned = 0;
    }

    /// @dev Writes the spending of the current signer. It never exceeds the cap, which fits uint96.
    function _flushSigner(Batch memory b) private {
        if (b.spent == b.spentBefore) return;
        _signers[b.tenant][b.signer][b.signerProvider].spent = uint96(b.spent);
        b.spentBefore = b.spent;
    }

    /// @dev Loads a session signer of `tenant` for `provider`: whether it was authorized (a cap), and until when
    /// its receipts' periods may end (and why not after: revoked or expired).
    function _loadSigner(Batch memory b, address tenant, address signer) private view {
        address provider = b.provider;
        SessionSigner memory s = _signers[tenant][signer][provider];
        b.tenant = tenant;
        b.signer = signer;
        b.signerProvider = provider;
        b.cap = s.cap;
        b.spent = s.spent;
        b.spentBefore = s.spent;
        b.validBefore = s.cap == 0 ? 0 : s.expiresAt;
        b.revoked = s.revoked;
    }

    /// Why the current signer's receipt is refused: never authorized, revoked or expired.
    function _signerRefusal(Batch memory b) private pure returns (SettlementResult) {
        if (b.cap == 0) return SettlementResult.SignerNotAuthorized;
        return b.revoked ? SettlementResult.SignerRevoked : SettlementResult.SignerExpired;
    }

    /// @dev The EIP-712 digest of a receipt (`_hashTypedDataV4` of its struct hash, as OpenZeppelin's
    /// `MessageHashUtils.toTypedDataHash` computes it), hashing its four static words straight from
    /// calldata, in memory past the free memory pointer, which it leaves where it was.
    function _receiptDigest(bytes32 domainSeparator, ServiceReceipt calldata receipt)
        internal
        pure
        returns (bytes32 digest)
    {
        bytes32 typehash = SERVICE_RECEIPT_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), receipt, 0x80)
            let structHash := keccak256(ptr, 0xa0)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            digest := keccak256(ptr, 0x42)
        }
    }

    /// @dev ECDSA recovery of a calldata signature, without copying it to memory: what
    /// OpenZeppelin's `ECDSA.tryRecover(digest, v, r, s)` returns for a 65-byte one. Zero for any
    /// other length, for a malleable (high-s) signature and for one the precompile rejects (it
    /// returns nothing then). A failed precompile call (out of gas) reverts, as `ecrecover` does.
    function _recover(bytes32 digest, uint256 sigOffset, uint256 sigLength) private view returns (address recovered) {
        assembly ("memory-safe") {
            let s := calldataload(add(sigOffset, 0x20))
            if and(
                eq(sigLength, 65),
                iszero(gt(s, 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0))
            ) {
                let ptr := mload(0x40)
                mstore(ptr, digest)
                mstore(add(ptr, 0x20), byte(0, calldataload(add(sigOffset, 0x40))))
                mstore(add(ptr, 0x40), calldataload(sigOffset))
                mstore(add(ptr, 0x60), s)
                mstore(0x00, 0)
                if iszero(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20)) {
                    returndatacopy(0, 0, returndatasize())
                    revert(0, returndatasize())
                }
                recovered := mload(0x00)
            }
        }
    }
}
