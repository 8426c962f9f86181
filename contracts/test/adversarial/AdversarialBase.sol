// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BaseTest} from "../Base.t.sol";
import {IOpenleaseErrors} from "../../src/interfaces/IOpenleaseErrors.sol";
import {IOpenleaseEvents} from "../../src/interfaces/IOpenleaseEvents.sol";

/// @notice Shared helpers of the adversarial tests: settlement-failure expectations, fee arithmetic
/// from the market's own parameters (a lease's settled total bears the fee, credited at finalize), and
/// signature surgery (high-s twins, compact and padded forms).
abstract contract AdversarialBase is BaseTest, IOpenleaseErrors, IOpenleaseEvents {
    /// @dev The order of the secp256k1 group.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function expectSettlementFailed(uint256 leaseId, SettlementResult result) internal {
        vm.expectRevert(abi.encodeWithSelector(OpenleaseSettlementFailed.selector, leaseId, result));
    }

    /// @dev The protocol fee on a lease's settled total of `settled`, under the parameters in force (the
    /// version of the leases a test opens). A settlement from zero keeps exactly this much as fee.
    function feeOf(uint256 settled) internal view returns (uint256) {
        return settled * market.params().protocolFeeBps / 10_000;
    }

    /// @dev The protocol fee on a settled total of `settled` at the lease's own fee (its parameters version).
    function leaseFeeOf(uint256 leaseId, uint256 settled) internal view returns (uint256) {
        return settled * market.leaseParams(leaseId).protocolFeeBps / 10_000;
    }

    /// @dev The protocol's cut of a slash of `amount`, from the market's current parameters.
    function slashCutOf(uint256 amount) internal view returns (uint256) {
        return amount * market.params().slashCutBps / 10_000;
    }

    /// @dev The bond a lease of `offer` locks under the current parameters.
    function bondOf(uint256 offer_) internal view returns (uint96) {
        Offer memory o = market.offer(offer_);
        return uint96(uint256(o.pricePerSecond) * o.noticePeriod * market.params().bondBps / 10_000);
    }

    function split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        require(sig.length == 65, "split: length");
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
    }

    /// @dev The other valid ECDSA signature of the same digest and key: (r, n - s, v flipped).
    function highSTwin(bytes memory sig) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    /// @dev The EIP-2098 compact (64-byte) form of a signature: r || (s | yParity << 255).
    function compact(bytes memory sig) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return abi.encodePacked(r, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    function copyReceipt(SignedReceipt memory item) internal pure returns (SignedReceipt memory) {
        return SignedReceipt({receipt: item.receipt, signer: item.signer, signature: item.signature});
    }

    function withLeaseId(SignedReceipt memory item, uint256 leaseId) internal pure returns (SignedReceipt memory) {
        ServiceReceipt memory r = ServiceReceipt({
            leaseId: leaseId,
            cumulativeAmount: item.receipt.cumulativeAmount,
            usageDigest: item.receipt.usageDigest,
            periodEnd: item.receipt.periodEnd
        });
        return SignedReceipt({receipt: r, signer: item.signer, signature: item.signature});
    }

    function withSignature(SignedReceipt memory item, bytes memory signature)
        internal
        pure
        returns (SignedReceipt memory)
    {
        return SignedReceipt({receipt: item.receipt, signer: item.signer, signature: signature});
    }

    function one(SignedReceipt memory item) internal pure returns (SignedReceipt[] memory items) {
        items = new SignedReceipt[](1);
        items[0] = item;
    }
}
