// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {console} from "forge-std/console.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";

import {BaseTest} from "../Base.t.sol";
import {LeaseMath} from "../../src/libraries/LeaseMath.sol";
import {MockStablecoin} from "../mocks/MockStablecoin.sol";
import {HashChainVerifier} from "../../src/verifiers/HashChainVerifier.sol";
import {MarketHandler} from "./handlers/MarketHandler.sol";

/// @notice Invariants of the whole market under random sequences of every action by three providers, three
/// tenants and their session signers (each authorized per provider, several providers per signer) in USDC
/// (6 decimals) and DAI (18 decimals), payment demands and evictions, revocations followed by settlements of
/// receipts for the service before them, failovers, providers accepting parameters versions, and a hostile
/// governance (random parameters versions within the hard bounds with arbiters picked among the parties
/// themselves, waits past the delay, the treasury, the pause, the allow-list): the market holds exactly what it
/// owes, no lease pays more than its terms and no receipt more than what accrued until its period's end,
/// settled totals never decrease, every lease keeps the parameters of the version its offer had accepted when it
/// opened and a bond, each offer's capacity in use is exactly its open leases (an evicted lease frees its slot
/// at once), locked stake is exactly the bonds of the leases not finalized (an evicted lease's included) and can
/// never leave, every authorization stays within its cap, and every fee and slash cut is accounted.
contract Market_Invariant_Test is BaseTest {
    MarketHandler internal handler;
    address[] internal tokenList;
    // The handler's actors, cached: every external call in an invariant check costs campaign time.
    address[] internal providerList;
    address[] internal tenantList;
    address[] internal signerList;
    address[] internal actorList;
    address[] internal treasuryList;

    function setUp() public override {
        super.setUp();
        tokenList.push(address(usdc));
        tokenList.push(address(dai));

        address[] memory providers = new address[](3);
        uint256[] memory providerKeys = new uint256[](3);
        (providers[0], providerKeys[0]) = (provider, providerKey); // staked 10,000 USDC, offer `offerId`
        for (uint256 i = 1; i < 3; ++i) {
            (providers[i], providerKeys[i]) = makeAddrAndKey(string.concat("inv provider ", vm.toString(i)));
            registerAndStake(providers[i], address(usdc), 5_000e6);
            mintAndApprove(address(dai), providers[i], 5_000e18);
            vm.prank(providers[i]);
            market.stake(address(dai), 5_000e18);
        }

        address[] memory tenants = new address[](3);
        uint256[] memory tenantKeys = new uint256[](3);
        address[] memory signers = new address[](6);
        uint256[] memory signerKeys = new uint256[](6);
        for (uint256 i; i < 3; ++i) {
            (tenants[i], tenantKeys[i]) = makeAddrAndKey(string.concat("inv tenant ", vm.toString(i)));
            (signers[2 * i], signerKeys[2 * i]) = makeAddrAndKey(string.concat("inv big signer ", vm.toString(i)));
            (signers[2 * i + 1], signerKeys[2 * i + 1]) =
                makeAddrAndKey(string.concat("inv small signer ", vm.toString(i)));
        }
        // Each big signer is authorized for every provider, each small one for the first two only (receipts of
        // the third provider's leases are not its to sign): one cap per provider, several providers per signer.
        for (uint256 i; i < 3; ++i) {
            vm.startPrank(tenants[i]);
            for (uint256 j; j < 3; ++j) {
                market.authorizeSigner(signers[2 * i], providers[j], 1e24, uint40(block.timestamp + 90 days));
                if (j < 2) {
                    market.authorizeSigner(signers[2 * i + 1], providers[j], 1_000e6, uint40(block.timestamp + 90 days));
                }
            }
            vm.stopPrank();
        }

        address[] memory extra = new address[](2);
        extra[0] = tenant;
        extra[1] = signer;
        uint256[] memory offers = new uint256[](3);
        offers[0] = offerId;
        vm.prank(providers[1]);
        offers[1] = market.publishOffer(address(dai), 1e15, 10 minutes, 2 days, 1 hours, 5, bytes32(0), address(0));
        // The third offer runs the demo workload and names its verifier: wrong answers slash its leases.
        HashChainVerifier verifier = new HashChainVerifier();
        bytes32 workload = verifier.WORKLOAD();
        vm.prank(providers[2]);
        offers[2] = market.publishOffer(address(usdc), 500, 5 minutes, 1 days, 1 hours, 5, workload, address(verifier));

        // A few leases from the start, so lease actions have targets from the first call.
        for (uint256 i; i < 3; ++i) {
            uint256 o = offers[i];
            Offer memory offer = market.offer(o);
            uint256 deposit = uint256(offer.pricePerSecond) * 6 hours;
            mintAndApprove(offer.token, tenants[i], deposit);
            openLease(tenants[i], o, 6 hours, deposit);
        }

        handler = new MarketHandler(
            market, tokenList, providers, providerKeys, tenants, tenantKeys, signers, signerKeys, extra, offers
        );

        providerList = handler.providerList();
        tenantList = handler.tenantList();
        signerList = handler.signerList();
        actorList = handler.actorList();
        treasuryList = handler.treasuryList();

        bytes4[] memory selectors = new bytes4[](38);
        selectors[0] = handler.stake.selector;
        selectors[1] = handler.requestUnstake.selector;
        selectors[2] = handler.withdrawStake.selector;
        selectors[3] = handler.publishOffer.selector;
        selectors[4] = handler.openLease.selector;
        selectors[5] = handler.topUp.selector;
        selectors[6] = handler.closeLease.selector;
        selectors[7] = handler.terminateLease.selector;
        selectors[8] = handler.settle.selector;
        selectors[9] = handler.settleBatch.selector;
        selectors[10] = handler.finalizeLease.selector;
        selectors[11] = handler.openDispute.selector;
        selectors[12] = handler.ruleDispute.selector;
        selectors[13] = handler.expireDispute.selector;
        selectors[14] = handler.slashEquivocation.selector;
        selectors[15] = handler.claim.selector;
        selectors[16] = handler.collectFees.selector;
        selectors[17] = handler.warp.selector;
        selectors[18] = handler.authorizeSigner.selector;
        selectors[19] = handler.revokeSigner.selector;
        selectors[20] = handler.evictLease.selector;
        selectors[21] = handler.failoverLease.selector;
        // The governance actor.
        selectors[22] = handler.scheduleParams.selector;
        selectors[23] = handler.warpPastDelay.selector;
        selectors[24] = handler.setTreasury.selector;
        selectors[25] = handler.setPaused.selector;
        selectors[26] = handler.setTokenAllowed.selector;
        // Twice as likely: the calls everything else needs.
        selectors[27] = handler.openLease.selector;
        selectors[28] = handler.settle.selector;
        selectors[29] = handler.settleBatch.selector;
        selectors[30] = handler.evictLease.selector;
        selectors[31] = handler.failoverLease.selector;
        // The v3 rules: payment demands, revocation followed by settlement, providers' consent.
        selectors[32] = handler.demandPayment.selector;
        selectors[33] = handler.revokeThenSettle.selector;
        selectors[34] = handler.acceptParams.selector;
        selectors[35] = handler.evictLease.selector;
        selectors[36] = handler.revokeThenSettle.selector;
        selectors[37] = handler.slashWrongAnswer.selector;
        targetContract(address(handler));
        targetSelector(StdInvariant.FuzzSelector({addr: address(handler), selectors: selectors}));
        excludeSender(address(market));
    }

    /// @dev What one pass over all leases adds up, per token index, provider index and offer id.
    struct Totals {
        uint256[2] escrow;
        uint256[2] disputeBonds;
        uint256[2][3] bonds;
        uint256[] openPerOffer;
    }

    /// @dev One invariant entry point: forge runs a separate campaign per `invariant_` function, so the checks
    /// share one campaign (each named below, each failing with its own message).
    /// The handler never calls what should revert (the refusals it provokes on purpose, such as a lease opened
    /// while paused or a dispute of a lease whose arbiter is a party, it catches and checks to the error), so a
    /// revert is a finding.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: ci.invariant.fail-on-revert = true
    /// CI runs 8x the calls; checking the state after every 8th call (and the last) keeps it within a few
    /// minutes on 2 cores. Per-call properties (settled never decreasing, receipts paying what the rules say,
    /// locked stake never unstaked) are checked by the handler on every call regardless.
    /// forge-config: ci.invariant.check-interval = 8
    function invariant_Market() public view {
        Totals memory t = _totals(); // also checks every lease against its terms
        checkMarketHoldsExactlyWhatItOwes(t);
        checkActiveLeasesCountOpenLeases(t);
        checkLockedStakeIsBondsAndNeverLeaves(t);
        checkSignersWithinCap();
        checkFeesAccounted();
        checkParamsVersionsAsScheduled();
        checkHandlerChecksHold();
    }

    function _totals() internal view returns (Totals memory t) {
        t.openPerOffer = new uint256[](market.offerCount() + 1);
        uint256 count = market.leaseCount();
        for (uint256 id = 1; id <= count; ++id) {
            Lease memory l = market.lease(id);
            checkLeaseNeverPaysMoreThanItsTerms(id, l);
            Params memory p = checkLeaseKeepsItsParams(id, l);
            checkLeaseBacked(id, l);
            Offer memory o = market.offer(l.offerId);
            uint256 ti = o.token == tokenList[0] ? 0 : 1;
            if (l.status == LeaseStatus.Open || l.status == LeaseStatus.Evicted) {
                // Not finalized: the escrow not yet settled, plus the protocol's fee on what was, held until
                // finalize; and its bond, locked (an evicted lease's too, until its remedies deadline).
                t.escrow[ti] += uint256(l.deposit) - l.settled + LeaseMath.fee(l.settled, p.protocolFeeBps);
                t.bonds[_providerIndex(o.provider)][ti] += l.bond;
            }
            // Only an open lease holds capacity: an eviction frees it at once.
            if (l.status == LeaseStatus.Open) t.openPerOffer[l.offerId] += 1;
            Dispute memory d = market.dispute(id);
            if (d.status == DisputeStatus.Open) t.disputeBonds[ti] += d.tenantBond;
        }
    }

    function _providerIndex(address p) internal view returns (uint256 i) {
        while (providerList[i] != p) ++i;
    }

    // ─── Solvency ───────────────────────────────────────────────────────────────────────────

    /// @dev For each token: balance == Σ over leases not finalized, evicted ones included (deposit - settled +
    /// fee(settled) at the lease's own bps) + Σ providers' staked and thawing + Σ claimable of every actor + fees owed + Σ tenant bonds of open
    /// disputes; and == what the handler moved in - out.
    function checkMarketHoldsExactlyWhatItOwes(Totals memory t) internal view {
        for (uint256 ti; ti < tokenList.length; ++ti) {
            address token = tokenList[ti];
            uint256 owed =
                t.escrow[ti] + t.disputeBonds[ti] + _stakes(token) + _claimables(token) + market.feesOwed(token);
            uint256 balance = MockStablecoin(token).balanceOf(address(market));
            _assertEq(balance, owed, "balance == obligations");
            _assertEq(balance, handler.ghostIn(token) - handler.ghostOut(token), "balance == in - out");
        }
    }

    function _stakes(address token) internal view returns (uint256 sum) {
        for (uint256 i; i < providerList.length; ++i) {
            Stake memory s = market.stakeOf(providerList[i], token);
            sum += uint256(s.staked) + s.thawing;
        }
    }

    function _claimables(address token) internal view returns (uint256 sum) {
        for (uint256 i; i < actorList.length; ++i) {
            sum += market.claimable(actorList[i], token);
        }
    }

    // ─── Leases ─────────────────────────────────────────────────────────────────────────────

    /// @dev settled <= deposit; settled <= what `LeaseMath.accrued` lets accrue by the lease's end; settled <=
    /// what had accrued, when it was last settled, until the period end of the receipt that settled it (no
    /// settlement pays beyond what accrued until its receipt's periodEnd; the handler also checks it at every
    /// settlement), or until the eviction's end for the hold charge; settled == Σ paid to it in LeaseSettled and
    /// LeaseEvicted (hold charge) events; and (checked after every call) never decreased.
    function checkLeaseNeverPaysMoreThanItsTerms(uint256 id, Lease memory l) internal view {
        (uint256 lastSettled, uint256 paid, uint256 accruedAtSettle) = handler.ghostLease(id);
        _assertLe(l.settled, l.deposit, "settled <= deposit");
        _assertLe(
            l.settled, LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, l.endsAt), "settled <= accrued at end"
        );
        _assertLe(l.settled, accruedAtSettle, "settled <= accrued until the last receipt's periodEnd");
        _assertEq(l.settled, paid, "settled == sum paid");
        _assertGe(l.settled, lastSettled, "settled never decreases");
    }

    /// @dev The lease's version and parameters are those the model said its offer's provider had accepted when it
    /// opened (recorded by the handler then, never the version in force unless accepted): no later schedule,
    /// replacement, acceptance or arbiter change reaches them. Returns them.
    function checkLeaseKeepsItsParams(uint256 id, Lease memory l) internal view returns (Params memory p) {
        uint256 version;
        (version, p,,) = handler.ghostLeaseTerms(id);
        _assertEq(l.paramsVersion, version, "lease version == its offer's accepted version at open");
        if (keccak256(abi.encode(market.leaseParams(id))) != keccak256(abi.encode(p))) {
            assertEq(keccak256(abi.encode(market.leaseParams(id))), keccak256(abi.encode(p)), "lease params == at open");
        }
    }

    /// @dev Every lease locked a bond when it opened, and a lease not finalized (open or evicted) keeps it less
    /// what was slashed: no such lease has a zero bond unless a slash took it (an eviction never does). A
    /// finalized lease holds none.
    function checkLeaseBacked(uint256 id, Lease memory l) internal view {
        (,, uint256 bondAtOpen, uint256 slashed) = handler.ghostLeaseTerms(id);
        _assertGt(bondAtOpen, 0, "every lease locked a bond");
        if (l.status == LeaseStatus.Open || l.status == LeaseStatus.Evicted) {
            _assertEq(l.bond, bondAtOpen - slashed, "unfinalized bond == at open - slashed");
        } else {
            _assertEq(l.bond, 0, "finalized lease holds no bond");
        }
    }

    /// @dev Each offer's capacity in use (`activeLeases`) is exactly its open leases (evicted and finalized ones
    /// hold none), within capacity; and its parameters version is the model's (published under, or accepted).
    function checkActiveLeasesCountOpenLeases(Totals memory t) internal view {
        for (uint256 o = 1; o < t.openPerOffer.length; ++o) {
            Offer memory offer = market.offer(o);
            _assertEq(offer.activeLeases, t.openPerOffer[o], "activeLeases == open leases");
            _assertLe(offer.activeLeases, offer.capacity, "activeLeases <= capacity");
            _assertEq(offer.paramsVersion, handler.ghostOfferVersion(o), "offer version == published or accepted");
        }
    }

    // ─── Stake ──────────────────────────────────────────────────────────────────────────────

    /// @dev locked == Σ bond of the provider's leases not finalized (open or evicted) in the token, locked <=
    /// staked, and what was
    /// withdrawn is exactly what was staked less what was slashed less what is still staked or thawing.
    function checkLockedStakeIsBondsAndNeverLeaves(Totals memory t) internal view {
        for (uint256 i; i < providerList.length; ++i) {
            address p = providerList[i];
            for (uint256 ti; ti < tokenList.length; ++ti) {
                address token = tokenList[ti];
                Stake memory s = market.stakeOf(p, token);
                _assertEq(s.locked, t.bonds[i][ti], "locked == bonds of leases not finalized");
                _assertLe(s.locked, s.staked, "locked <= staked");
                _assertEq(
                    handler.ghostTotalWithdrawn(p, token),
                    handler.ghostTotalStaked(p, token) - handler.ghostTotalSlashed(p, token) - s.staked - s.thawing,
                    "withdrawn == staked - slashed - (staked + thawing now)"
                );
            }
        }
    }

    // ─── Signers and fees ───────────────────────────────────────────────────────────────────

    /// @dev Every authorization's (tenant, signer, provider) spent total is what its receipts for that provider's
    /// leases were paid, and never grows past its cap: spent <= cap, or, after a re-authorization below what it had
    /// spent, spent stays where it was. No provider's settlement is charged to another provider's authorization.
    function checkSignersWithinCap() internal view {
        for (uint256 i; i < signerList.length; ++i) {
            address tenant_ = tenantList[i / 2];
            address signer_ = signerList[i];
            for (uint256 j; j < providerList.length; ++j) {
                address p = providerList[j];
                SessionSigner memory s = market.sessionSigner(tenant_, signer_, p);
                _assertLe(
                    s.spent, handler.ghostSpentCeiling(tenant_, signer_, p), "spent <= max(cap, spent when capped)"
                );
                _assertEq(s.spent, handler.ghostSignerPaid(tenant_, signer_, p), "spent == paid on its receipts");
            }
        }
    }

    /// @dev Collected + owed fees == Σ fees credited at finalize (an evicted lease's included, hold charge's fee
    /// with it) + Σ slash cuts, all of it at the
    /// treasuries governance set once collected.
    function checkFeesAccounted() internal view {
        for (uint256 t; t < tokenList.length; ++t) {
            address token = tokenList[t];
            _assertEq(
                handler.ghostFeesCollected(token) + market.feesOwed(token),
                handler.ghostFeesFinalized(token) + handler.ghostSlashCuts(token),
                "collected + owed == finalized fees + cuts"
            );
            uint256 atTreasuries;
            for (uint256 i; i < treasuryList.length; ++i) {
                atTreasuries += MockStablecoin(token).balanceOf(treasuryList[i]);
            }
            _assertEq(atTreasuries, handler.ghostFeesCollected(token), "treasuries hold what was collected");
        }
    }

    /// @dev The version in force and the newest one are the model's: schedules take effect after the delay only,
    /// a pending version is replaced, and a version in force never changes.
    function checkParamsVersionsAsScheduled() internal view {
        (uint256 inForce, Params memory p, uint256 latest, uint256 latestAt, Params memory latestP) =
            handler.ghostVersions();
        _assertEq(market.paramsVersion(), inForce, "version in force");
        (uint256 mLatest, uint256 mLatestAt, Params memory mLatestP) = market.latestParams();
        _assertEq(mLatest, latest, "latest version");
        _assertEq(mLatestAt, latestAt, "latest effectiveAt");
        if (keccak256(abi.encode(market.params())) != keccak256(abi.encode(p))) {
            assertEq(keccak256(abi.encode(market.params())), keccak256(abi.encode(p)), "params in force");
        }
        if (keccak256(abi.encode(mLatestP)) != keccak256(abi.encode(latestP))) {
            assertEq(keccak256(abi.encode(mLatestP)), keccak256(abi.encode(latestP)), "latest params");
        }
    }

    /// @dev The checks the handler makes at call time: receipts pay what the rules say, refunds are deposit -
    /// settled, demands, evictions and failovers move what the rules say, locked stake cannot be unstaked, fees
    /// and cuts follow the lease's own parameters, revocation leaves receipts for earlier service payable and
    /// voids the rest, an expired dispute's bond goes to the provider exactly when its tenant is in arrears, and
    /// every refusal (pause, allow-list, bounds, arbiter, arrears, demand, acceptance, signer) is the one due.
    function checkHandlerChecksHold() internal view {
        uint256 violations = handler.violations();
        if (violations != 0) assertEq(violations, 0, handler.lastViolation());
    }

    // Asserting through the cheatcode costs a call each; these only call it when the check fails.
    function _assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) assertEq(a, b, what);
    }

    function _assertLe(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) assertLe(a, b, what);
    }

    function _assertGe(uint256 a, uint256 b, string memory what) internal pure {
        if (a < b) assertGe(a, b, what);
    }

    function _assertGt(uint256 a, uint256 b, string memory what) internal pure {
        if (a <= b) assertGt(a, b, what);
    }

    function afterInvariant() public view {
        console.log("action               done  skipped");
        for (uint256 i; i < handler.nameCount(); ++i) {
            console.log(
                string.concat(
                    _pad(handler.nameAt(i), 20),
                    " ",
                    vm.toString(handler.doneAt(i)),
                    "  ",
                    vm.toString(handler.skippedAt(i))
                )
            );
        }
        console.log("leases", market.leaseCount(), "offers", market.offerCount());
    }

    function _pad(string memory s, uint256 width) internal pure returns (string memory) {
        bytes memory b = bytes(s);
        while (b.length < width) {
            b = abi.encodePacked(b, " ");
        }
        return string(b);
    }
}
