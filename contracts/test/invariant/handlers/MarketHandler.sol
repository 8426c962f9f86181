// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenlease} from "../../../src/interfaces/IOpenlease.sol";
import {MarketStore} from "./MarketStore.sol";
import {ProviderActions} from "./ProviderActions.sol";
import {TenantActions} from "./TenantActions.sol";
import {SettlementActions} from "./SettlementActions.sol";
import {DisputeActions} from "./DisputeActions.sol";
import {GovernanceActions} from "./GovernanceActions.sol";
import {TimeActions} from "./TimeActions.sol";

/// @notice Drives the market with bounded random actions of several providers, tenants and session signers
/// (each signer authorized per provider, several providers per signer) across a 6-decimal and an 18-decimal
/// stablecoin, payment demands and evictions, revocations followed by settlements of receipts for the service
/// before them, providers accepting parameters versions for their offers, and a hostile governance (random
/// parameters versions within the hard bounds, arbiters picked among the tenants and providers themselves, the
/// treasury, the pause, the token allow-list). It picks ids among those an action can apply to so that few calls are
/// wasted, and keeps ghost accounting of every token flow, fee, slash and settlement (from the market's own
/// events) and an independent model of the parameters versions, for the invariant suite. Checks that only
/// make sense at the moment of a call (what a receipt pays, what a refund or an eviction is, what a failover
/// moves, that locked stake cannot be unstaked, which refusals are due) are made here and counted as
/// violations. Every money rule comes from `LeaseMath`: the handler copies no formula of the market.
///
/// The actions live in one contract per actor (provider, tenant, relayer, arbiter, governance, time) over one
/// store (`MarketStore`); this contract composes them into the single target the invariant suite fuzzes, so
/// that the selectors and their weights stay in one list there, and adds the views the suite reads.
contract MarketHandler is
    ProviderActions,
    TenantActions,
    SettlementActions,
    DisputeActions,
    GovernanceActions,
    TimeActions
{
    constructor(
        IOpenlease market_,
        address[] memory tokens_,
        address[] memory providers_,
        uint256[] memory providerKeys,
        address[] memory tenants_,
        uint256[] memory tenantKeys,
        address[] memory signers_,
        uint256[] memory signerKeys,
        address[] memory extraActors,
        uint256[] memory offers_
    )
        MarketStore(
            market_, tokens_, providers_, providerKeys, tenants_, tenantKeys, signers_, signerKeys, extraActors, offers_
        )
    {}

    // ─── Views for the invariant suite ──────────────────────────────────────────────────────

    /// @dev A lease's ghosts in one call: the settled total last seen, the sum paid to it, and what its terms
    /// let accrue when it was last settled.
    function ghostLease(uint256 id) external view returns (uint256 lastSettled, uint256 paid, uint256 accrued) {
        return (ghostLastSettled[id], ghostLeasePaid[id], ghostAccruedAtSettle[id]);
    }

    /// @dev A lease's version and parameters as the model said when it opened, its bond then and what was
    /// slashed of it since.
    function ghostLeaseTerms(uint256 id)
        external
        view
        returns (uint256 version, Params memory p, uint256 bondAtOpen, uint256 slashed)
    {
        return (ghostLeaseVersion[id], ghostLeaseParamsOf[id], ghostBondAtOpen[id], ghostLeaseSlashed[id]);
    }

    /// @dev The model's version in force now, its parameters, and the newest version with its effectiveAt.
    function ghostVersions()
        external
        view
        returns (uint256 inForce, Params memory p, uint256 latest, uint256 latestAt, Params memory latestP)
    {
        inForce = _versionNow();
        return (
            inForce,
            ghostVersionParams[inForce],
            ghostLatestVersion,
            ghostLatestEffectiveAt,
            ghostVersionParams[ghostLatestVersion]
        );
    }

    function actorList() external view returns (address[] memory) {
        return actors;
    }

    function providerList() external view returns (address[] memory) {
        return providers;
    }

    function tenantList() external view returns (address[] memory) {
        return tenants;
    }

    function signerList() external view returns (address[] memory) {
        return signers;
    }

    function treasuryList() external view returns (address[] memory) {
        return treasuries;
    }

    function tokenCount() external view returns (uint256) {
        return tokens.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    function tenantCount() external view returns (uint256) {
        return tenants.length;
    }

    function signerCount() external view returns (uint256) {
        return signers.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function nameCount() external view returns (uint256) {
        return names.length;
    }

    function nameAt(uint256 i) external view returns (string memory) {
        return names[i];
    }

    function doneAt(uint256 i) external view returns (uint256) {
        return done[keccak256(bytes(names[i]))];
    }

    function skippedAt(uint256 i) external view returns (uint256) {
        return skipped[keccak256(bytes(names[i]))];
    }
}
