// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseMath} from "../libraries/LeaseMath.sol";
import {OpenleaseStorage} from "../OpenleaseStorage.sol";
import {Bounds} from "../libraries/Bounds.sol";

/// @title PaymentDemands
/// @notice Eviction of a tenant that truly failed to pay. "In arrears" alone is what the provider
/// chose to settle, so it cannot be the evidence: the provider demands payment on chain, and the
/// tenant answers by bringing the lease's settled total to what was due (settling its own newest
/// receipt does it; anyone may settle). Only a demand left unanswered for `PAYMENT_GRACE` lets the
/// provider evict, and the eviction neither shortens the tenant's remedies (the bond stays locked
/// and disputes open until the settlement deadline the lease had) nor costs the provider the time
/// the tenant held (`PAYMENT_GRACE` of the price, from the escrow).
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract PaymentDemands is OpenleaseStorage {
    function demandPayment(uint256 leaseId) external {
        Lease storage l = _activeLeaseOf(leaseId);
        if (msg.sender != _offers[l.offerId].provider) revert OpenleaseNotLeaseProvider(leaseId, msg.sender);
        // The tenant answers by settling, which only works inside the settlement window.
        uint256 deadline = _settlementDeadline(l);
        if (block.timestamp + Bounds.PAYMENT_GRACE >= deadline) revert OpenleaseTooLateToDemand(leaseId, deadline);
        uint256 settled = l.settled;
        // Only time the lease ran is due: a lease whose escrow ran out owes nothing past its runway
        // (so `due`, whole seconds of the runway, never exceeds the deposit).
        (uint256 due, uint256 owed) = LeaseMath.arrears(
            l.startedAt, _leaseEnd(l), l.pricePerSecond, settled, Bounds.PAYMENT_GRACE, block.timestamp
        );
        if (owed == 0) revert OpenleaseNotInArrears(leaseId, settled, due);
        _demands[leaseId] = PaymentDemand({due: uint88(due), madeAt: uint32(block.timestamp), remediesUntil: 0});
        emit PaymentDemanded(leaseId, settled, due, block.timestamp + Bounds.PAYMENT_GRACE);
    }

    function evictLease(uint256 leaseId) external {
        // A lease that ended unpaid can be evicted too: else it would hold the offer's capacity
        // through its settlement window.
        Lease storage l = _activeLeaseOf(leaseId);
        Offer storage o = _offers[l.offerId];
        if (msg.sender != o.provider) revert OpenleaseNotLeaseProvider(leaseId, msg.sender);
        PaymentDemand storage demand = _demands[leaseId];
        uint256 evictableAt = uint256(demand.madeAt) + Bounds.PAYMENT_GRACE;
        if (demand.madeAt == 0 || block.timestamp < evictableAt) revert OpenleaseNoPaymentDemand(leaseId, evictableAt);
        uint256 settled = l.settled;
        if (settled >= demand.due) revert OpenleaseDemandAnswered(leaseId, settled, demand.due);
        uint256 deadline = _settlementDeadline(l);
        // Past the window the lease is only to be finalized: its escrow is the tenant's refund.
        if (block.timestamp >= deadline) revert OpenleaseTooLateToDemand(leaseId, deadline);
        // Remedies (disputes, evidence, the locked bond) last as long as they would have without it.
        demand.remediesUntil = uint32(deadline);
        if (block.timestamp < _leaseEnd(l)) l.endsAt = uint32(block.timestamp);
        uint256 endsAt = l.endsAt;
        uint256 deposit = l.deposit;
        // The tenant pays for holding the capacity: `PAYMENT_GRACE` of the price, settled as a
        // receipt would be, never beyond what the terms let accrue or the escrow holds.
        uint256 ceiling = LeaseMath.claimableCeiling(l.startedAt, endsAt, l.pricePerSecond, deposit);
        uint256 holdCharge = uint256(l.pricePerSecond) * Bounds.PAYMENT_GRACE;
        if (settled + holdCharge > ceiling) holdCharge = ceiling > settled ? ceiling - settled : 0;
        if (holdCharge > 0) {
            uint256 feeBps = _paramsVersions[l.paramsVersion].protocolFeeBps;
            uint256 fee = LeaseMath.fee(settled + holdCharge, feeBps) - LeaseMath.fee(settled, feeBps);
            settled += holdCharge;
            l.settled = uint88(settled);
            _claimable[o.provider][o.token] += holdCharge - fee;
        }
        // What no receipt can claim any more goes back to the tenant now; the rest stays for the
        // provider's receipts until the settlement window closes.
        uint256 refund = deposit - ceiling;
        l.deposit = uint88(ceiling);
        l.status = LeaseStatus.Evicted;
        o.activeLeases -= 1;
        _claimable[l.tenant][o.token] += refund;
        emit LeaseEvicted(leaseId, endsAt, holdCharge, settled, refund, demand.remediesUntil);
    }
}
