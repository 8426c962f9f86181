// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {LeaseMath} from "../libraries/LeaseMath.sol";
import {OpenleaseStorage} from "../OpenleaseStorage.sol";

/// @title MarketViews
/// @notice The read side of staking, offers, leases and balances.
/// @dev The ABI and its documentation: `IOpenlease`.
abstract contract MarketViews is OpenleaseStorage {
    function providerProfile(address provider) external view returns (ProviderProfile memory) {
        return _providers[provider];
    }

    function stakeOf(address provider, address token) external view returns (Stake memory) {
        return _stakes[provider][token];
    }

    function offer(uint256 offerId) external view returns (Offer memory) {
        return _offers[offerId];
    }

    function offerCount() external view returns (uint256) {
        return _counters.offerCount;
    }

    function offerTermsHash(uint256 offerId) external view returns (bytes32) {
        Offer storage o = _offers[offerId];
        if (o.provider == address(0)) revert OpenleaseUnknownOffer(offerId);
        return _offerTermsHash(offerId, o, o.paramsVersion);
    }

    function lease(uint256 leaseId) external view returns (Lease memory) {
        return _leases[leaseId];
    }

    function leaseCount() external view returns (uint256) {
        return _counters.leaseCount;
    }

    function leaseEnd(uint256 leaseId) external view returns (uint256) {
        return _leaseEnd(_knownLease(leaseId));
    }

    function settlementDeadline(uint256 leaseId) external view returns (uint256) {
        return _settlementDeadline(_knownLease(leaseId));
    }

    function remediesDeadline(uint256 leaseId) external view returns (uint256) {
        return _remediesDeadline(leaseId, _knownLease(leaseId));
    }

    function paymentDemand(uint256 leaseId) external view returns (PaymentDemand memory) {
        return _demands[leaseId];
    }

    function leaseParams(uint256 leaseId) external view returns (Params memory) {
        return _paramsVersions[_knownLease(leaseId).paramsVersion];
    }

    function unclaimableEscrow(uint256 leaseId) external view returns (uint256) {
        Lease storage l = _knownLease(leaseId);
        if (l.status == LeaseStatus.Finalized) return 0;
        uint256 ceiling = LeaseMath.claimableCeiling(l.startedAt, l.endsAt, l.pricePerSecond, l.deposit);
        return l.deposit - ceiling;
    }

    function sessionSigner(address tenant, address signer, address provider)
        external
        view
        returns (SessionSigner memory)
    {
        return _signers[tenant][signer][provider];
    }

    function claimable(address account, address token) external view returns (uint256) {
        return _claimable[account][token];
    }
}
