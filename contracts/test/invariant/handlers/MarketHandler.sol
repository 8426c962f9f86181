// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {Openlease} from "../../../src/Openlease.sol";
import {IOpenlease} from "../../../src/interfaces/IOpenlease.sol";
import {IOpenleaseTypes} from "../../../src/interfaces/IOpenleaseTypes.sol";
import {IOpenleaseEvents} from "../../../src/interfaces/IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {LeaseMath} from "../../../src/libraries/LeaseMath.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {Bounds} from "../../../src/libraries/Bounds.sol";

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
contract MarketHandler is CommonBase, StdCheats, StdUtils, IOpenleaseTypes {
    uint256 internal constant BPS = LeaseMath.BPS;
    uint256 internal constant MAX_OFFERS = 16;
    /// @dev The market's internal constants `PARAMS_DELAY`, `PAYMENT_GRACE` and `MIN_NOTICE_PERIOD`.

    IOpenlease public immutable market;
    address public immutable admin;
    address public immutable arbiter;
    address public immutable treasury;
    address public immutable keeper;

    address[] public tokens;
    address[] public providers;
    address[] public tenants;
    /// @dev Two session signers per tenant: [2i] a large cap, [2i+1] a small one.
    address[] public signers;
    address[] public actors;
    /// @dev Who governance may appoint: the first arbiter, strangers, and the parties themselves.
    address[] public arbiterCandidates;
    /// @dev Where governance may send fees.
    address[] public treasuries;
    mapping(address => uint256) internal keyOf;
    uint256[] public offers;

    uint256 public currentTime;

    // ─── Ghosts ─────────────────────────────────────────────────────────────────────────────

    mapping(address token => uint256) public ghostIn; // stakes, deposits, top-ups, failover extras, dispute bonds
    mapping(address token => uint256) public ghostOut; // withdrawals, claims, collected fees
    mapping(address token => uint256) public ghostDeposits;
    mapping(address token => uint256) public ghostRefunds;
    mapping(address token => uint256) public ghostPaid;
    /// @dev Σ fees of `LeaseSettled` (the fee share of each payment, held in the lease until finalize).
    mapping(address token => uint256) public ghostFeesEmitted;
    /// @dev Σ fees of `LeaseFinalized` (what finalize and eviction credited to the protocol).
    mapping(address token => uint256) public ghostFeesFinalized;
    mapping(address token => uint256) public ghostSlashed;
    mapping(address token => uint256) public ghostSlashCuts;
    mapping(address token => uint256) public ghostFeesCollected;
    mapping(address token => uint256) public ghostClaimed;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalStaked;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalSlashed;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalWithdrawn;
    mapping(uint256 leaseId => uint256) public ghostLastSettled;
    mapping(uint256 leaseId => uint256) public ghostLeasePaid;
    /// @dev What the lease's terms let accrue when it was last settled.
    mapping(uint256 leaseId => uint256) public ghostAccruedAtSettle;
    mapping(uint256 leaseId => uint256) public ghostLeaseFees;
    mapping(uint256 leaseId => uint256) public ghostLeaseSlashed;
    mapping(uint256 leaseId => uint256) public ghostBondAtOpen;
    /// @dev Per authorization (tenant, signer, provider): what its receipts were paid.
    mapping(address tenant => mapping(address signer => mapping(address provider => uint256))) public ghostSignerPaid;
    /// @dev The most an authorization may have spent: its cap, or what it had spent when re-authorized below that.
    mapping(address tenant => mapping(address signer => mapping(address provider => uint256))) public ghostSpentCeiling;
    /// @dev The parameters version each offer's new leases get, by the model: the version in force when it was
    /// published, then each version its provider accepted.
    mapping(uint256 offerId => uint256) public ghostOfferVersion;
    /// @dev An evicted lease's remedies deadline, by the model: its settlement deadline before the eviction.
    mapping(uint256 leaseId => uint256) public ghostRemediesUntil;
    /// @dev The `periodEnd` of each receipt whose settlement emits an event (`LeaseSettled` or
    /// `SettlementSkipped`) in the current step, in order: what the event's payment is checked against.
    uint64[] internal pendingPeriodEnds;
    uint256 internal pendingIndex;

    /// @dev The model of the parameters versions: every version as last scheduled, the newest one and when
    /// it takes effect. The version in force is the newest from its `effectiveAt` on, the one before until.
    mapping(uint256 version => Params) internal ghostVersionParams;
    uint256 public ghostLatestVersion;
    uint256 public ghostLatestEffectiveAt;
    /// @dev Each lease's version and parameters, as the model said they were when it opened.
    mapping(uint256 leaseId => uint256) public ghostLeaseVersion;
    mapping(uint256 leaseId => Params) internal ghostLeaseParamsOf;

    uint256 public violations;
    string public lastViolation;

    string[] internal names;
    mapping(bytes32 name => uint256) internal done;
    mapping(bytes32 name => uint256) internal skipped;

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
    ) {
        market = market_;
        admin = Openlease(address(market_)).owner();
        arbiter = market_.params().arbiter;
        treasury = market_.treasury();
        keeper = makeAddr("handler keeper");
        tokens = tokens_;
        providers = providers_;
        tenants = tenants_;
        signers = signers_;
        offers = offers_;
        currentTime = block.timestamp;
        for (uint256 i; i < providers_.length; ++i) {
            keyOf[providers_[i]] = providerKeys[i];
            actors.push(providers_[i]);
            arbiterCandidates.push(providers_[i]);
        }
        for (uint256 i; i < tenants_.length; ++i) {
            keyOf[tenants_[i]] = tenantKeys[i];
            actors.push(tenants_[i]);
            arbiterCandidates.push(tenants_[i]);
        }
        arbiterCandidates.push(arbiter);
        arbiterCandidates.push(makeAddr("handler arbiter 2"));
        arbiterCandidates.push(admin);
        treasuries.push(treasury);
        treasuries.push(makeAddr("handler treasury 2"));
        treasuries.push(makeAddr("handler treasury 3"));
        for (uint256 i; i < signers_.length; ++i) {
            keyOf[signers_[i]] = signerKeys[i];
            actors.push(signers_[i]);
            for (uint256 j; j < providers_.length; ++j) {
                SessionSigner memory ss = market_.sessionSigner(tenants_[i / 2], signers_[i], providers_[j]);
                ghostSpentCeiling[tenants_[i / 2]][signers_[i]][providers_[j]] = ss.cap > ss.spent ? ss.cap : ss.spent;
            }
        }
        for (uint256 i; i < extraActors.length; ++i) {
            actors.push(extraActors[i]);
        }
        actors.push(keeper);
        actors.push(treasury);
        actors.push(arbiter);
        actors.push(admin);
        actors.push(address(this));
        address[] memory payers = new address[](providers_.length + tenants_.length + 1);
        for (uint256 i; i < providers_.length; ++i) {
            payers[i] = providers_[i];
        }
        for (uint256 i; i < tenants_.length; ++i) {
            payers[providers_.length + i] = tenants_[i];
        }
        payers[payers.length - 1] = keeper;
        for (uint256 t; t < tokens_.length; ++t) {
            // Everything already in the market came in before the handler started.
            ghostIn[tokens_[t]] = MockStablecoin(tokens_[t]).balanceOf(address(market_));
            for (uint256 i; i < payers.length; ++i) {
                vm.prank(payers[i]);
                MockStablecoin(tokens_[t]).approve(address(market_), type(uint256).max);
            }
            for (uint256 i; i < providers_.length; ++i) {
                Stake memory s = market_.stakeOf(providers_[i], tokens_[t]);
                ghostTotalStaked[providers_[i]][tokens_[t]] = uint256(s.staked) + s.thawing;
            }
        }
        // The model starts from the market's versions (one, in force since deployment, in the suite).
        (uint256 latest, uint256 latestAt,) = market_.latestParams();
        for (uint256 v = 1; v <= latest; ++v) {
            ghostVersionParams[v] = market_.paramsAt(v);
        }
        ghostLatestVersion = latest;
        ghostLatestEffectiveAt = latestAt;
        // Offers published before the handler (all under the version in force now) and their leases.
        for (uint256 i; i < offers_.length; ++i) {
            ghostOfferVersion[offers_[i]] = _versionNow();
            if (market_.offer(offers_[i]).paramsVersion != _versionNow()) _violation("offer version at publish");
        }
        for (uint256 id = 1; id <= market_.leaseCount(); ++id) {
            Lease memory l = market_.lease(id);
            _recordOpen(id, l, ghostOfferVersion[l.offerId]);
        }
        string[38] memory n = [
            "stake",
            "requestUnstake",
            "withdrawStake",
            "publishOffer",
            "openLease",
            "topUp",
            "closeLease",
            "terminateLease",
            "evictLease",
            "failoverLease",
            "settle",
            "settleBatch",
            "finalizeLease",
            "openDispute",
            "ruleDispute",
            "expireDispute",
            "slashEquivocation",
            "claim",
            "collectFees",
            "warp",
            "authorizeSigner",
            "revokeSigner",
            "scheduleParams",
            "warpPastDelay",
            "setTreasury",
            "setPaused",
            "setTokenAllowed",
            "arbiterRefused",
            "disputeRefused",
            "evictEnded",
            "evictRefused",
            "demandPayment",
            "demandRefused",
            "acceptParams",
            "acceptRefused",
            "revokeThenSettle",
            "finalizeEvicted",
            "revokeRefused"
        ];
        for (uint256 i; i < n.length; ++i) {
            names.push(n[i]);
        }
    }

    // ─── Plumbing ───────────────────────────────────────────────────────────────────────────

    modifier step() {
        vm.warp(currentTime);
        delete pendingPeriodEnds;
        pendingIndex = 0;
        vm.recordLogs();
        _;
        _processLogs(vm.getRecordedLogs());
        _sweepSettled();
        currentTime = block.timestamp;
    }

    function _done(string memory name) internal {
        done[keccak256(bytes(name))] += 1;
    }

    function _skip(string memory name) internal {
        skipped[keccak256(bytes(name))] += 1;
    }

    function _violation(string memory what) internal {
        violations += 1;
        lastViolation = what;
    }

    /// @dev A refusal the model predicted: the revert data must be exactly `want`.
    function _expectRefusal(bytes memory err, bytes memory want, string memory what) internal {
        if (keccak256(err) != keccak256(want)) _violation(what);
    }

    function _warpTo(uint256 t) internal {
        if (t > block.timestamp) vm.warp(t);
    }

    function _token(uint256 seed) internal view returns (address) {
        return tokens[seed % tokens.length];
    }

    function _unit(address token) internal view returns (uint256) {
        return 10 ** MockStablecoin(token).decimals();
    }

    function _mint(address token, address to, uint256 amount) internal {
        MockStablecoin(token).mint(to, amount);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _paused() internal view returns (bool) {
        return Openlease(address(market)).paused();
    }

    function _leaseToken(Lease memory l) internal view returns (address) {
        return market.offer(l.offerId).token;
    }

    function _leaseProvider(Lease memory l) internal view returns (address) {
        return market.offer(l.offerId).provider;
    }

    /// @dev What the lease's terms let accrue by now.
    function _accrued(Lease memory l) internal view returns (uint256) {
        return LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, block.timestamp);
    }

    function _end(Lease memory l) internal pure returns (uint256) {
        return LeaseMath.runEnd(l.startedAt, l.endsAt, l.deposit, l.pricePerSecond);
    }

    /// @dev The end of the lease's settlement window, by its own (model) parameters.
    function _deadline(uint256 leaseId, Lease memory l) internal view returns (uint256) {
        return _end(l) + ghostLeaseParamsOf[leaseId].settlementWindow;
    }

    /// @dev Until when the lease's remedies (disputes, its locked bond) last, by the model: its settlement
    /// deadline, or for an evicted lease the one it had before the eviction.
    function _remediesDeadline(uint256 leaseId, Lease memory l) internal view returns (uint256) {
        return l.status == LeaseStatus.Evicted ? ghostRemediesUntil[leaseId] : _deadline(leaseId, l);
    }

    /// @dev What a receipt whose period ends at `periodEnd` may pay for: what the terms let accrue until
    /// then, or until now if sooner.
    function _accruedUntil(Lease memory l, uint256 periodEnd) internal view returns (uint256) {
        return LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, _min(periodEnd, block.timestamp));
    }

    /// @dev Whether the model says the lease's tenant is in arrears: evicted, or a payment demand it left
    /// unanswered for the whole grace (a demand just made is no evidence yet).
    function _inArrears(uint256 leaseId, Lease memory l) internal view returns (bool) {
        if (l.status == LeaseStatus.Evicted) return true;
        PaymentDemand memory d = market.paymentDemand(leaseId);
        return d.madeAt != 0 && block.timestamp >= uint256(d.madeAt) + Bounds.PAYMENT_GRACE && l.settled < d.due;
    }

    /// @dev The version the model says is in force now (the one new offers get, and unstake requests).
    function _versionNow() internal view returns (uint256) {
        return block.timestamp >= ghostLatestEffectiveAt ? ghostLatestVersion : ghostLatestVersion - 1;
    }

    function _paramsNow() internal view returns (Params memory) {
        return ghostVersionParams[_versionNow()];
    }

    function _recordOpen(uint256 leaseId, Lease memory l, uint256 version) internal {
        if (l.paramsVersion != version) _violation("lease opened with another version than its offer's");
        ghostLeaseVersion[leaseId] = version;
        ghostLeaseParamsOf[leaseId] = ghostVersionParams[version];
        ghostBondAtOpen[leaseId] = l.bond;
    }

    uint8 internal constant RUNNING = 0;
    uint8 internal constant SETTLEABLE = 1;
    uint8 internal constant FINALIZABLE = 2;
    uint8 internal constant DISPUTABLE = 3;
    uint8 internal constant DISPUTED = 4;
    uint8 internal constant BONDED = 5;
    uint8 internal constant RULABLE = 6;
    uint8 internal constant IN_ARREARS = 7;
    uint8 internal constant NOT_FINALIZED = 8;
    /// @dev DISPUTABLE, and its arbiter is neither its tenant nor its provider (so `openDispute` accepts it).
    uint8 internal constant DISPUTABLE_BY_THIRD_PARTY = 9;
    /// @dev IN_ARREARS and still running.
    uint8 internal constant RUNNING_IN_ARREARS = 10;
    /// @dev Open, with a payment demand made at least `PAYMENT_GRACE` ago that the settled total has not reached.
    uint8 internal constant EVICTABLE = 11;

    /// @dev Whether the lease's own arbiter (its version's, in the model) is its tenant or its provider.
    function _arbiterIsParty(uint256 id, Lease memory l) internal view returns (bool) {
        address a = ghostLeaseParamsOf[id].arbiter;
        return a == l.tenant || a == _leaseProvider(l);
    }

    /// @dev Whether `kind` applies to the lease. An evicted lease is not finalized: it can still be settled
    /// (within its window), disputed (until its remedies deadline), ruled, slashed and finalized, but it no
    /// longer runs, and it is not demanded of or evicted again.
    function _matches(uint256 id, uint8 kind) internal view returns (bool) {
        Lease memory l = market.lease(id);
        if (l.status != LeaseStatus.Open && l.status != LeaseStatus.Evicted) return false;
        bool open = l.status == LeaseStatus.Open;
        if (kind == NOT_FINALIZED) return true;
        if (kind == RUNNING) return open && block.timestamp < _end(l);
        if (kind == SETTLEABLE) return block.timestamp < _deadline(id, l) && l.settled < l.deposit;
        if (kind == IN_ARREARS || kind == RUNNING_IN_ARREARS) {
            // Running or ended: an open lease can be demanded of while its tenant is in arrears, disputed or not.
            if (!open || (kind == RUNNING_IN_ARREARS && block.timestamp >= _end(l))) return false;
            (, uint256 owed) = LeaseMath.arrears(
                l.startedAt, _end(l), l.pricePerSecond, l.settled, Bounds.PAYMENT_GRACE, block.timestamp
            );
            return owed > 0;
        }
        if (kind == EVICTABLE) {
            PaymentDemand memory pd = market.paymentDemand(id);
            return open && pd.madeAt != 0 && block.timestamp >= uint256(pd.madeAt) + Bounds.PAYMENT_GRACE
                && l.settled < pd.due;
        }
        DisputeStatus ds = market.dispute(id).status;
        if (kind == FINALIZABLE) return ds != DisputeStatus.Open;
        if (kind == DISPUTABLE || kind == DISPUTABLE_BY_THIRD_PARTY) {
            if (block.timestamp >= _remediesDeadline(id, l) || ds != DisputeStatus.None || l.bond == 0) return false;
            return kind == DISPUTABLE || !_arbiterIsParty(id, l);
        }
        if (kind == DISPUTED) return ds == DisputeStatus.Open;
        if (kind == RULABLE) return ds == DisputeStatus.Open && block.timestamp < market.dispute(id).deadline;
        return l.bond > 0; // BONDED
    }

    /// @dev The first lease from a random start that `kind` applies to, or zero.
    function _pickLease(uint256 seed, uint8 kind) internal view returns (uint256) {
        uint256 count = market.leaseCount();
        if (count == 0) return 0;
        uint256 start = seed % count;
        for (uint256 i; i < count; ++i) {
            uint256 id = (start + i) % count + 1;
            if (_matches(id, kind)) return id;
        }
        return 0;
    }

    /// @dev Ghost accounting from the market's own events: what settlement paid and charged, what finalize
    /// and slashes credited, which parameters were scheduled. Each fee and cut is checked against the
    /// lease's own parameters (the model's), never the ones in force.
    function _processLogs(Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(market)) continue;
            bytes32 topic = log.topics[0];
            if (topic == IOpenleaseEvents.LeaseSettled.selector) {
                uint256 leaseId = uint256(log.topics[1]);
                address signer = address(uint160(uint256(log.topics[2])));
                (, uint256 paid, uint256 fee, uint256 settled) =
                    abi.decode(log.data, (uint256, uint256, uint256, uint256));
                Lease memory l = market.lease(leaseId);
                address token = _leaseToken(l);
                uint256 feeBps = ghostLeaseParamsOf[leaseId].protocolFeeBps;
                if (fee != LeaseMath.fee(settled, feeBps) - LeaseMath.fee(settled - paid, feeBps)) {
                    _violation("settlement fee != growth of the lease's fee");
                }
                ghostPaid[token] += paid;
                ghostFeesEmitted[token] += fee;
                ghostLeasePaid[leaseId] += paid;
                ghostLeaseFees[leaseId] += fee;
                // A receipt pays for service until its period's end, never later.
                uint256 bound = _accruedUntil(l, _nextPeriodEnd());
                if (settled > bound) _violation("settlement paid beyond what accrued until the receipt's periodEnd");
                ghostAccruedAtSettle[leaseId] = bound;
                if (signer != l.tenant) ghostSignerPaid[l.tenant][signer][_leaseProvider(l)] += paid;
            } else if (topic == IOpenleaseEvents.SettlementSkipped.selector) {
                _nextPeriodEnd();
            } else if (topic == IOpenleaseEvents.LeaseEvicted.selector) {
                // The hold charge is settled as a receipt would be: paid, its fee kept in the lease.
                uint256 leaseId = uint256(log.topics[1]);
                (, uint256 holdCharge, uint256 settled, uint256 refund,) =
                    abi.decode(log.data, (uint256, uint256, uint256, uint256, uint256));
                Lease memory l = market.lease(leaseId);
                address token = _leaseToken(l);
                uint256 feeBps = ghostLeaseParamsOf[leaseId].protocolFeeBps;
                uint256 fee = LeaseMath.fee(settled, feeBps) - LeaseMath.fee(settled - holdCharge, feeBps);
                ghostPaid[token] += holdCharge;
                ghostFeesEmitted[token] += fee;
                ghostLeasePaid[leaseId] += holdCharge;
                ghostLeaseFees[leaseId] += fee;
                ghostRefunds[token] += refund;
                // Nothing accrues after the eviction: the lease's ceiling is what accrued until its end.
                ghostAccruedAtSettle[leaseId] = LeaseMath.accrued(l.startedAt, l.endsAt, l.pricePerSecond, l.endsAt);
            } else if (topic == IOpenleaseEvents.LeaseFinalized.selector) {
                uint256 leaseId = uint256(log.topics[1]);
                (uint256 refund,, uint256 fee) = abi.decode(log.data, (uint256, uint256, uint256));
                Lease memory l = market.lease(leaseId);
                address token = _leaseToken(l);
                if (fee != LeaseMath.fee(l.settled, ghostLeaseParamsOf[leaseId].protocolFeeBps)) {
                    _violation("finalize fee != fee(settled) at the lease's bps");
                }
                if (fee != ghostLeaseFees[leaseId]) _violation("finalize fee != sum of its settlement fees");
                ghostFeesFinalized[token] += fee;
                ghostRefunds[token] += refund;
            } else if (topic == IOpenleaseEvents.BondSlashed.selector) {
                uint256 leaseId = uint256(log.topics[1]);
                address provider = address(uint160(uint256(log.topics[2])));
                (, uint256 amount, uint256 cut) = abi.decode(log.data, (uint8, uint256, uint256));
                address token = _leaseToken(market.lease(leaseId));
                if (cut != amount * ghostLeaseParamsOf[leaseId].slashCutBps / BPS) {
                    _violation("slash cut != the lease's slashCutBps");
                }
                ghostSlashed[token] += amount;
                ghostSlashCuts[token] += cut;
                ghostTotalSlashed[provider][token] += amount;
                ghostLeaseSlashed[leaseId] += amount;
            }
        }
    }

    /// @dev The `periodEnd` of the receipt whose settlement event comes next (in the order the calls of this
    /// step emitted them).
    function _nextPeriodEnd() internal returns (uint256 periodEnd) {
        if (pendingIndex >= pendingPeriodEnds.length) {
            _violation("a settlement event with no receipt the handler sent");
            return block.timestamp;
        }
        periodEnd = pendingPeriodEnds[pendingIndex++];
    }

    /// @dev After every call: no lease's settled total ever went down.
    function _sweepSettled() internal {
        uint256 count = market.leaseCount();
        for (uint256 id = 1; id <= count; ++id) {
            uint256 settled = market.lease(id).settled;
            if (settled < ghostLastSettled[id]) _violation("settled decreased");
            ghostLastSettled[id] = settled;
        }
    }

    // ─── Providers and stake ────────────────────────────────────────────────────────────────

    function stake(uint256 pSeed, uint256 tSeed, uint256 amount) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        amount = _bound(amount, 1, 100_000 * _unit(token));
        _mint(token, p, amount);
        vm.prank(p);
        try market.stake(token, amount) {
            if (_paused() || !market.isTokenAllowed(token)) _violation("stake while paused or delisted");
            ghostTotalStaked[p][token] += amount;
            ghostIn[token] += amount;
            _done("stake");
        } catch (bytes memory err) {
            _expectRefusal(err, _newBusinessRefusal(token), "stake refusal");
            _skip("stake");
        }
    }

    /// @dev Why new business in `token` is refused now: the pause, then the allow-list; empty if it is not.
    function _newBusinessRefusal(address token) internal view returns (bytes memory) {
        if (_paused()) return abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        if (!market.isTokenAllowed(token)) {
            return abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, token);
        }
        return "";
    }

    /// @dev Asks for up to everything staked; more than the free stake must be refused. The thaw runs the
    /// unbonding period of the version in force now.
    function requestUnstake(uint256 pSeed, uint256 tSeed, uint256 amount) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        Stake memory s = market.stakeOf(p, token);
        if (s.staked == 0) {
            _skip("requestUnstake");
            return;
        }
        amount = _bound(amount, 1, s.staked);
        uint256 free = s.staked - s.locked;
        vm.prank(p);
        try market.requestUnstake(token, amount) {
            if (amount > free) _violation("unstaked locked stake");
            Stake memory a = market.stakeOf(p, token);
            if (a.staked != s.staked - amount || a.thawing != s.thawing + amount || a.locked != s.locked) {
                _violation("requestUnstake deltas");
            }
            if (a.thawEndsAt != block.timestamp + _paramsNow().unbondingPeriod) {
                _violation("thaw != unbonding period in force");
            }
            _done("requestUnstake");
        } catch {
            if (amount <= free) _violation("requestUnstake of free stake refused");
            _skip("requestUnstake");
        }
    }

    function withdrawStake(uint256 pSeed, uint256 tSeed) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        Stake memory s = market.stakeOf(p, token);
        if (s.thawing == 0) {
            p = providers[(pSeed % providers.length + 1) % providers.length];
            s = market.stakeOf(p, token);
            if (s.thawing == 0) {
                _skip("withdrawStake");
                return;
            }
        }
        _warpTo(s.thawEndsAt);
        uint256 balance = MockStablecoin(token).balanceOf(p);
        vm.prank(p);
        uint256 amount = market.withdrawStake(token, p);
        if (amount != s.thawing || MockStablecoin(token).balanceOf(p) != balance + amount) {
            _violation("withdrawStake amount");
        }
        Stake memory a = market.stakeOf(p, token);
        if (a.staked != s.staked || a.locked != s.locked || a.thawing != 0) _violation("withdrawStake deltas");
        ghostTotalWithdrawn[p][token] += amount;
        ghostOut[token] += amount;
        _done("withdrawStake");
    }

    // ─── Offers and leases ──────────────────────────────────────────────────────────────────

    /// @dev One time in sixteen the notice is below `MIN_NOTICE_PERIOD`, which must be refused (no lease
    /// without a bond).
    function publishOffer(uint256 pSeed, uint256 tSeed, uint64 price, uint32 minDuration, uint32 span, uint32 notice)
        external
        step
    {
        if (offers.length >= MAX_OFFERS) {
            _skip("publishOffer");
            return;
        }
        address token = _token(tSeed);
        price = _unit(token) == 1e6 ? uint64(_bound(price, 1, 10_000)) : uint64(_bound(price, 1e9, 1e16));
        minDuration = uint32(_bound(minDuration, 1 minutes, 2 hours));
        uint32 maxDuration = minDuration + uint32(_bound(span, 0, 3 days));
        if (maxDuration < Bounds.MIN_NOTICE_PERIOD) maxDuration = uint32(Bounds.MIN_NOTICE_PERIOD);
        bool noNotice = pSeed % 16 == 0;
        notice = noNotice
            ? uint32(_bound(notice, 0, Bounds.MIN_NOTICE_PERIOD - 1))
            : uint32(_bound(notice, Bounds.MIN_NOTICE_PERIOD, _min(maxDuration, 2 hours)));
        address p = providers[pSeed % providers.length];
        uint16 capacity = uint16(1 + pSeed % 5);
        bytes memory want = _newBusinessRefusal(token);
        if (want.length == 0 && noNotice) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseInvalidOfferTerms.selector, price, minDuration, maxDuration, notice, capacity
            );
        }
        vm.prank(p);
        try market.publishOffer(token, price, minDuration, maxDuration, notice, capacity) returns (uint256 id) {
            if (want.length != 0) _violation("publishOffer should have been refused");
            // A new offer's leases get the version in force (publishing it is the provider's consent).
            ghostOfferVersion[id] = _versionNow();
            if (market.offer(id).paramsVersion != _versionNow()) _violation("offer version != version in force");
            offers.push(id);
            _done("publishOffer");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "publishOffer refusal");
            _skip("publishOffer");
        }
    }

    function openLease(uint256 tSeed, uint256 oSeed, uint32 duration, uint256 deposit) external step {
        if (_open(tSeed, oSeed, duration, deposit) == 0) {
            _skip("openLease");
            return;
        }
    }

    /// @dev An offer of `token` (any, if zero) that is not paused and has room, from a random start; zero if none.
    function _offerWithRoom(uint256 seed, address token) internal view returns (uint256 offerId, Offer memory o) {
        for (uint256 i; i < offers.length; ++i) {
            offerId = offers[(seed % offers.length + i) % offers.length];
            o = market.offer(offerId);
            if (!o.paused && o.activeLeases < o.capacity && (token == address(0) || o.token == token)) {
                return (offerId, o);
            }
        }
        return (0, o);
    }

    /// @dev The terms hash as `IOpenlease.offerTermsHash` documents it, with the version the model says the
    /// offer's provider accepted.
    function _termsHash(uint256 offerId, Offer memory o) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                offerId,
                o.provider,
                o.token,
                o.pricePerSecond,
                o.minDuration,
                o.maxDuration,
                o.noticePeriod,
                ghostOfferVersion[offerId]
            )
        );
    }

    /// @dev Opens a lease of an offer with room, by a random tenant; zero if no offer has room or new business
    /// is refused (the pause, a delisted token: the refusal is checked).
    function _open(uint256 tSeed, uint256 oSeed, uint256 duration, uint256 deposit) internal returns (uint256) {
        (uint256 offerId, Offer memory o) = _offerWithRoom(oSeed, address(0));
        if (offerId == 0) return 0;
        address t = tenants[tSeed % tenants.length];
        duration = _bound(duration, o.minDuration, _min(o.maxDuration, uint256(o.minDuration) + 3 days));
        uint256 required = uint256(o.pricePerSecond) * o.minDuration;
        deposit = _bound(deposit, required, required + uint256(o.pricePerSecond) * duration * 3 / 2);
        bytes32 terms = market.offerTermsHash(offerId);
        if (terms != _termsHash(offerId, o)) _violation("offerTermsHash != documented hash");
        bytes memory want = _newBusinessRefusal(o.token);
        // New leases get the offer's accepted version, not the one in force.
        uint256 version = ghostOfferVersion[offerId];
        if (want.length == 0) _ensureFreeStake(o, version);
        _mint(o.token, t, deposit);
        vm.prank(t);
        try market.openLease(offerId, uint32(duration), deposit, terms) returns (uint256 leaseId) {
            if (want.length != 0) _violation("openLease while paused or delisted");
            Lease memory l = market.lease(leaseId);
            _recordOpen(leaseId, l, version);
            if (l.bond != LeaseMath.bond(o.pricePerSecond, o.noticePeriod, ghostVersionParams[version].bondBps)) {
                _violation("bond at open");
            }
            if (l.bond == 0) _violation("lease opened without a bond");
            ghostDeposits[o.token] += deposit;
            ghostIn[o.token] += deposit;
            _done("openLease");
            return leaseId;
        } catch (bytes memory err) {
            _expectRefusal(err, want, "openLease refusal");
            return 0;
        }
    }

    /// @dev A lease `kind` applies to; if there is none, a freshly opened one when it qualifies.
    function _pickOrOpen(uint256 seed, uint8 kind) internal returns (uint256 leaseId) {
        leaseId = _pickLease(seed, kind);
        if (leaseId != 0) return leaseId;
        leaseId = _open(seed, seed >> 8, seed >> 16, seed >> 64);
        if (leaseId != 0 && !_matches(leaseId, kind)) leaseId = 0;
    }

    /// @dev The provider stakes what its free stake lacks for one more bond at `version`'s rate (only when
    /// staking is allowed).
    function _ensureFreeStake(Offer memory o, uint256 version) internal {
        uint256 bond = LeaseMath.bond(o.pricePerSecond, o.noticePeriod, ghostVersionParams[version].bondBps);
        Stake memory s = market.stakeOf(o.provider, o.token);
        uint256 free = s.staked - s.locked;
        if (free >= bond) return;
        uint256 amount = bond - free;
        _mint(o.token, o.provider, amount);
        vm.prank(o.provider);
        market.stake(o.token, amount);
        ghostTotalStaked[o.provider][o.token] += amount;
        ghostIn[o.token] += amount;
    }

    function topUp(uint256 lSeed, uint256 payerSeed, uint256 amount) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("topUp");
            return;
        }
        Lease memory l = market.lease(leaseId);
        address token = _leaseToken(l);
        address payer = payerSeed % 3 == 0 ? keeper : l.tenant;
        amount = _bound(amount, 1, uint256(l.pricePerSecond) * 1 days);
        _mint(token, payer, amount);
        vm.prank(payer);
        market.topUp(leaseId, amount);
        if (market.lease(leaseId).deposit != l.deposit + amount) _violation("topUp deposit");
        if (market.leaseEnd(leaseId) < _end(l)) _violation("topUp shortened the runway");
        ghostDeposits[token] += amount;
        ghostIn[token] += amount;
        _done("topUp");
    }

    /// @dev The lease's end after notice given now: its notice period from now, never before its minimum
    /// duration, never later than it ends anyway.
    function _endsAtAfterNotice(Lease memory l) internal view returns (uint256 endsAt) {
        uint256 noticeEnd = block.timestamp + l.noticePeriod;
        if (noticeEnd < l.minEndsAt) noticeEnd = l.minEndsAt;
        endsAt = _min(noticeEnd, l.endsAt);
    }

    function closeLease(uint256 lSeed, bool byProvider) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("closeLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        vm.prank(byProvider ? _leaseProvider(l) : l.tenant);
        market.closeLease(leaseId);
        if (market.lease(leaseId).endsAt != _endsAtAfterNotice(l)) _violation("closeLease endsAt");
        _done("closeLease");
    }

    function terminateLease(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) {
            _skip("terminateLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        vm.prank(_leaseProvider(l));
        market.terminateLease(leaseId);
        Lease memory a = market.lease(leaseId);
        if (a.endsAt != block.timestamp || a.bond != 0) _violation("terminate");
        _done("terminateLease");
    }

    /// @dev The provider demands payment of an open lease, mostly one in arrears (disputed or not); else, one
    /// time in four, any lease not finalized (an evicted one, or a tenant current); one time in nine the tenant
    /// tries in its provider's place. Refused exactly when the model says (not open, not the provider, not in
    /// arrears by `LeaseMath.arrears`); otherwise the demand is for what was due (at most the escrow), made now.
    function demandPayment(uint256 lSeed, uint256 seed) external step {
        uint256 leaseId = _pickLease(lSeed, IN_ARREARS);
        if (leaseId == 0 || seed % 4 == 0) leaseId = _pickLease(lSeed >> 8, NOT_FINALIZED);
        if (leaseId == 0) {
            _skip("demandPayment");
            return;
        }
        _demand(leaseId, seed % 9 == 0);
    }

    /// @dev A demand by the lease's provider (or its tenant, `byTenant`), checked against the model; returns
    /// whether it was made.
    function _demand(uint256 leaseId, bool byTenant) internal returns (bool) {
        Lease memory l = market.lease(leaseId);
        address p = _leaseProvider(l);
        address caller = byTenant ? l.tenant : p;
        (uint256 due, uint256 owed) =
            LeaseMath.arrears(l.startedAt, _end(l), l.pricePerSecond, l.settled, Bounds.PAYMENT_GRACE, block.timestamp);
        bytes memory want;
        if (l.status != LeaseStatus.Open) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseNotOpen.selector, leaseId, l.status);
        } else if (caller != p) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, caller);
        } else if (block.timestamp + Bounds.PAYMENT_GRACE >= _deadline(leaseId, l)) {
            // The tenant must have its whole grace to answer inside the settlement window.
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTooLateToDemand.selector, leaseId, _deadline(leaseId, l)
            );
        } else if (owed == 0) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotInArrears.selector, leaseId, l.settled, due);
        }
        vm.prank(caller);
        try market.demandPayment(leaseId) {
            if (want.length != 0) _violation("demand should have been refused");
            PaymentDemand memory d = market.paymentDemand(leaseId);
            if (d.due != _min(due, l.deposit) || d.madeAt != block.timestamp || d.remediesUntil != 0) {
                _violation("demand != what was due, made now");
            }
            if (keccak256(abi.encode(market.lease(leaseId))) != keccak256(abi.encode(l))) {
                _violation("a demand changed the lease");
            }
            _done("demandPayment");
            return true;
        } catch (bytes memory err) {
            _expectRefusal(err, want, "demandPayment refusal != model");
            _done("demandRefused");
            return false;
        }
    }

    /// @dev The provider evicts: mostly a lease whose demand went unanswered for the grace; else it demands
    /// payment of a lease in arrears (or of a running one after some time) and waits the grace out (sometimes
    /// less); one time in five, any lease not finalized as it stands (no demand, a demand answered or too
    /// recent, evicted already); one time in ten the tenant tries. Refused exactly when the model says (not
    /// open, not the provider, no demand `PAYMENT_GRACE` old, the demand answered); otherwise the lease ends
    /// now if it runs, the tenant pays the hold charge (`PAYMENT_GRACE` of the price within what accrued), the
    /// escrow no receipt can claim any more is refunded, the slot is freed, and the bond stays locked until the
    /// remedies deadline: the settlement deadline the lease had.
    function evictLease(uint256 lSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickLease(lSeed, EVICTABLE);
        if (leaseId == 0) leaseId = _demandAndWait(lSeed, warpSeed);
        if (warpSeed % 5 == 1) leaseId = _pickLease(lSeed >> 8, NOT_FINALIZED);
        if (leaseId == 0) {
            _skip("evictLease");
            return;
        }
        EvictCase memory c;
        c.leaseId = leaseId;
        c.l = market.lease(leaseId);
        c.o = market.offer(c.l.offerId);
        c.running = block.timestamp < _end(c.l);
        c.caller = warpSeed % 10 == 3 ? c.l.tenant : c.o.provider;
        PaymentDemand memory d = market.paymentDemand(leaseId);
        bytes memory want;
        if (c.l.status != LeaseStatus.Open) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseLeaseNotOpen.selector, leaseId, c.l.status);
        } else if (c.caller != c.o.provider) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotLeaseProvider.selector, leaseId, c.caller);
        } else if (d.madeAt == 0 || block.timestamp < uint256(d.madeAt) + Bounds.PAYMENT_GRACE) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseNoPaymentDemand.selector, leaseId, uint256(d.madeAt) + Bounds.PAYMENT_GRACE
            );
        } else if (c.l.settled >= d.due) {
            want =
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseDemandAnswered.selector, leaseId, c.l.settled, d.due);
        } else if (block.timestamp >= _deadline(leaseId, c.l)) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseTooLateToDemand.selector, leaseId, _deadline(leaseId, c.l)
            );
        }
        c.remediesUntil = _deadline(leaseId, c.l);
        c.tenantClaimable = market.claimable(c.l.tenant, c.o.token);
        c.providerClaimable = market.claimable(c.o.provider, c.o.token);
        c.fees = market.feesOwed(c.o.token);
        c.stake = market.stakeOf(c.o.provider, c.o.token);
        vm.prank(c.caller);
        try market.evictLease(leaseId) {
            if (want.length != 0) _violation("evicted without an unanswered demand, or a lease not open");
            _checkEviction(c);
            ghostRemediesUntil[leaseId] = c.remediesUntil;
            _done(c.running ? "evictLease" : "evictEnded");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "evictLease refusal != model");
            _done("evictRefused");
        }
    }

    /// @dev A lease in arrears (or a running one, after some time) gets a payment demand and the grace
    /// passes (a time in four, not quite); returns it, or zero.
    function _demandAndWait(uint256 lSeed, uint256 warpSeed) internal returns (uint256 leaseId) {
        leaseId = _pickLease(lSeed, warpSeed % 2 == 0 ? RUNNING_IN_ARREARS : IN_ARREARS);
        if (leaseId == 0) {
            leaseId = _pickOrOpen(lSeed, RUNNING);
            if (leaseId == 0) return 0;
            // Past the grace, mostly while the lease still runs.
            uint256 later = block.timestamp + _bound(warpSeed, Bounds.PAYMENT_GRACE + 1, 3 hours);
            uint256 end = _end(market.lease(leaseId));
            _warpTo(later < end || warpSeed % 3 == 0 ? later : end - 1);
            if (!_matches(leaseId, IN_ARREARS)) return 0;
        }
        if (!_demand(leaseId, false)) return 0;
        _warpTo(
            block.timestamp
                + _bound(warpSeed >> 8, warpSeed % 4 == 0 ? 0 : Bounds.PAYMENT_GRACE, Bounds.PAYMENT_GRACE + 1 hours)
        );
    }

    /// @dev A lease about to be evicted, and what eviction touches, as they were before.
    struct EvictCase {
        uint256 leaseId;
        Lease l;
        Offer o;
        bool running;
        address caller;
        uint256 remediesUntil;
        uint256 tenantClaimable;
        uint256 providerClaimable;
        uint256 fees;
        Stake stake;
    }

    function _checkEviction(EvictCase memory c) internal {
        Lease memory a = market.lease(c.leaseId);
        // The model: the lease ends now if it runs; the tenant pays the hold charge within what the terms let
        // accrue until then; the escrow beyond that is refunded.
        uint256 endsAt = c.running ? block.timestamp : c.l.endsAt;
        uint256 ceiling = LeaseMath.claimableCeiling(c.l.startedAt, endsAt, c.l.pricePerSecond, c.l.deposit);
        uint256 hold = uint256(c.l.pricePerSecond) * Bounds.PAYMENT_GRACE;
        if (c.l.settled + hold > ceiling) hold = ceiling > c.l.settled ? ceiling - c.l.settled : 0;
        uint256 feeBps = ghostLeaseParamsOf[c.leaseId].protocolFeeBps;
        uint256 fee = LeaseMath.fee(c.l.settled + hold, feeBps) - LeaseMath.fee(c.l.settled, feeBps);
        if (a.status != LeaseStatus.Evicted) _violation("evicted lease not Evicted");
        if (a.endsAt != endsAt) _violation("evicted lease end (now if running, kept if ended)");
        if (a.deposit != ceiling) _violation("evicted lease deposit != claimable ceiling");
        if (a.settled != c.l.settled + hold) _violation("eviction hold charge");
        if (a.bond != c.l.bond) _violation("eviction touched the bond");
        Stake memory sa = market.stakeOf(c.o.provider, c.o.token);
        if (sa.staked != c.stake.staked || sa.locked != c.stake.locked) _violation("eviction released or slashed");
        if (market.claimable(c.l.tenant, c.o.token) != c.tenantClaimable + c.l.deposit - ceiling) {
            _violation("eviction refund != deposit - claimable ceiling");
        }
        if (market.claimable(c.o.provider, c.o.token) != c.providerClaimable + hold - fee) {
            _violation("eviction credit != hold charge - fee");
        }
        if (market.feesOwed(c.o.token) != c.fees) _violation("eviction credited fees before finalize");
        if (market.offer(c.l.offerId).activeLeases != c.o.activeLeases - 1) _violation("eviction kept the slot");
        if (market.paymentDemand(c.leaseId).remediesUntil != c.remediesUntil) {
            _violation("remediesUntil != the settlement deadline before the eviction");
        }
        if (market.remediesDeadline(c.leaseId) != c.remediesUntil) _violation("remediesDeadline view");
    }

    /// @dev What a failover should do, by the model.
    struct FailoverCase {
        uint256 leaseId;
        uint256 offerId;
        address tenant;
        address token;
        uint256 endsAt;
        uint256 end;
        uint256 kept;
        uint256 moved;
        uint256 extra;
        uint256 duration;
        uint256 version;
        uint256 balance;
        uint256 bond;
        bytes want;
    }

    /// @dev The tenant of a lease not finalized fails over to an offer in the same token: notice is given if
    /// the lease runs, `deposit - claimableCeiling` moves to the new lease plus an extra deposit when that is
    /// short of the new minimum; the old lease's end (what its provider can settle) does not change.
    function failoverLease(uint256 lSeed, uint256 oSeed, uint32 duration, uint256 extraSeed) external step {
        FailoverCase memory c;
        c.leaseId = _pickLease(lSeed, NOT_FINALIZED);
        if (c.leaseId == 0) {
            _skip("failoverLease");
            return;
        }
        Lease memory l = market.lease(c.leaseId);
        c.tenant = l.tenant;
        c.token = _leaseToken(l);
        Offer memory o;
        (c.offerId, o) = _offerWithRoom(oSeed, c.token);
        if (c.offerId == 0) {
            _skip("failoverLease");
            return;
        }

        // The model: notice if running, then keep what the terms let accrue until the end.
        c.endsAt = block.timestamp < _end(l) ? _endsAtAfterNotice(l) : l.endsAt;
        c.end = LeaseMath.runEnd(l.startedAt, c.endsAt, l.deposit, l.pricePerSecond);
        c.kept = LeaseMath.claimableCeiling(l.startedAt, c.endsAt, l.pricePerSecond, l.deposit);
        c.moved = l.deposit - c.kept;
        uint256 required = uint256(o.pricePerSecond) * o.minDuration;
        c.extra = _bound(extraSeed, 0, uint256(o.pricePerSecond) * 1 hours);
        if (c.moved < required) c.extra += required - c.moved;
        c.duration = _bound(duration, o.minDuration, _min(o.maxDuration, uint256(o.minDuration) + 3 days));
        c.want = _newBusinessRefusal(c.token);
        c.version = ghostOfferVersion[c.offerId];
        if (c.want.length == 0) _ensureFreeStake(o, c.version);
        c.bond = LeaseMath.bond(o.pricePerSecond, o.noticePeriod, ghostVersionParams[c.version].bondBps);
        _mint(c.token, c.tenant, c.extra);
        c.balance = MockStablecoin(c.token).balanceOf(c.tenant);
        _failover(c, market.offerTermsHash(c.offerId));
    }

    function _failover(FailoverCase memory c, bytes32 terms) internal {
        vm.prank(c.tenant);
        try market.failoverLease(c.leaseId, c.offerId, uint32(c.duration), c.extra, terms) returns (uint256 newId) {
            if (c.want.length != 0) _violation("failover while paused or delisted");
            Lease memory a = market.lease(c.leaseId);
            Lease memory n = market.lease(newId);
            _recordOpen(newId, n, c.version);
            if (a.endsAt != c.endsAt || market.leaseEnd(c.leaseId) != c.end) _violation("failover moved the old end");
            if (a.deposit != c.kept) _violation("failover kept != claimable ceiling");
            if (n.deposit != c.moved + c.extra || n.tenant != c.tenant) _violation("failover new deposit");
            if (market.unclaimableEscrow(c.leaseId) != 0) _violation("failover left unclaimable escrow");
            if (MockStablecoin(c.token).balanceOf(c.tenant) != c.balance - c.extra) {
                _violation("failover pulled != extra");
            }
            if (n.bond != c.bond || n.bond == 0) _violation("failover bond at open");
            ghostDeposits[c.token] += c.extra;
            ghostIn[c.token] += c.extra;
            _done("failoverLease");
        } catch (bytes memory err) {
            _expectRefusal(err, c.want, "failoverLease refusal");
            _skip("failoverLease");
        }
    }

    /// @dev Anyone finalizes a lease at its remedies deadline (an evicted lease's is the settlement deadline it
    /// had before the eviction): the rest of the escrow refunded, the bond released once, the fee on what was
    /// settled credited, and the slot freed unless the eviction freed it already.
    function finalizeLease(uint256 lSeed) external step {
        uint256 leaseId = _pickLease(lSeed, FINALIZABLE);
        if (leaseId == 0) {
            _skip("finalizeLease");
            return;
        }
        Lease memory l = market.lease(leaseId);
        _warpTo(_remediesDeadline(leaseId, l));
        l = market.lease(leaseId); // settled totals do not move with time, but read them as finalize does
        address token = _leaseToken(l);
        address p = _leaseProvider(l);
        uint256 tenantClaimable = market.claimable(l.tenant, token);
        uint256 locked = market.stakeOf(p, token).locked;
        uint256 fees = market.feesOwed(token);
        uint256 active = market.offer(l.offerId).activeLeases;
        vm.prank(keeper);
        market.finalizeLease(leaseId);
        uint256 refund = uint256(l.deposit) - l.settled;
        if (market.claimable(l.tenant, token) != tenantClaimable + refund) _violation("refund != deposit - settled");
        if (market.stakeOf(p, token).locked != locked - l.bond) _violation("bond not released");
        uint256 fee = LeaseMath.fee(l.settled, ghostLeaseParamsOf[leaseId].protocolFeeBps);
        if (market.feesOwed(token) != fees + fee) _violation("finalize credited != fee(settled)");
        bool wasOpen = l.status == LeaseStatus.Open;
        if (market.offer(l.offerId).activeLeases != active - (wasOpen ? 1 : 0)) {
            _violation("finalize freed a slot an eviction had freed, or kept an open lease's");
        }
        _done(wasOpen ? "finalizeLease" : "finalizeEvicted");
    }

    // ─── Receipts ───────────────────────────────────────────────────────────────────────────

    /// @dev The tenant itself (half the time) or one of its two session signers.
    function _signerFor(address tenant, uint256 seed) internal view returns (address) {
        uint256 which = seed % 4;
        if (which >= 2) return tenant;
        which += 1;
        for (uint256 i; i < tenants.length; ++i) {
            if (tenants[i] == tenant) return signers[2 * i + which - 1];
        }
        return tenant;
    }

    /// @dev A receipt of the lease for `cumulative` whose period ends now, signed by `signer`.
    function _signed(uint256 leaseId, uint256 cumulative, address signer)
        internal
        view
        returns (SignedReceipt memory sr)
    {
        return _signedAt(leaseId, cumulative, signer, block.timestamp);
    }

    /// @dev The same for a period ending at `periodEnd` (backdated, or in the future).
    function _signedAt(uint256 leaseId, uint256 cumulative, address signer, uint256 periodEnd)
        internal
        view
        returns (SignedReceipt memory sr)
    {
        sr.receipt = ServiceReceipt({
            leaseId: leaseId,
            cumulativeAmount: cumulative,
            usageDigest: keccak256(abi.encode(leaseId, cumulative, periodEnd)),
            periodEnd: uint64(periodEnd)
        });
        sr.signer = signer;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[signer], market.receiptDigest(sr.receipt));
        sr.signature = abi.encodePacked(r, s, v);
    }

    /// @dev A period end for a receipt signed now: mostly now, a time in four backdated up to two hours.
    function _periodEnd(uint256 seed) internal view returns (uint256) {
        if (seed % 4 != 0) return block.timestamp;
        uint256 back = _bound(seed >> 8, 1, 2 hours);
        return block.timestamp > back ? block.timestamp - back : 0;
    }

    /// @dev A cumulative amount around what accrued: mostly above what was settled, sometimes below.
    function _cumulative(Lease memory l, uint256 seed) internal view returns (uint256) {
        uint256 accrued = _accrued(l);
        uint256 hi = (accrued > l.settled ? accrued : l.settled) + uint256(l.pricePerSecond) * 10 minutes;
        uint256 lo = seed % 8 == 0 ? 0 : l.settled + 1;
        return _bound(seed >> 8, lo, hi);
    }

    /// @dev What the documented rules say a receipt pays, given what this batch already settled before it: the
    /// lease's own window, then the signer's authorization for the lease's provider (never authorized; or the
    /// receipt's period ends at or after its expiry or revocation), then `LeaseMath.payable_` with what the
    /// terms let accrue until the receipt's period end (or now, if sooner). The status is not read: a
    /// finalized lease is past its window, an evicted one settles within its own.
    function _model(SignedReceipt memory sr, uint256 settledBefore, uint256 spentBefore)
        internal
        view
        returns (SettlementResult, uint256)
    {
        uint256 leaseId = sr.receipt.leaseId;
        if (leaseId == 0 || leaseId > market.leaseCount()) return (SettlementResult.UnknownLease, 0);
        Lease memory l = market.lease(leaseId);
        if (block.timestamp >= _deadline(leaseId, l)) return (SettlementResult.SettlementWindowClosed, 0);
        uint256 capLeft = type(uint256).max;
        if (sr.signer != l.tenant) {
            SessionSigner memory s = market.sessionSigner(l.tenant, sr.signer, _leaseProvider(l));
            if (s.cap == 0) return (SettlementResult.SignerNotAuthorized, 0);
            if (sr.receipt.periodEnd >= s.expiresAt) {
                return (s.revoked ? SettlementResult.SignerRevoked : SettlementResult.SignerExpired, 0);
            }
            // A cap re-authorized below what was spent leaves nothing.
            capLeft = s.cap > spentBefore ? s.cap - spentBefore : 0;
        }
        return LeaseMath.payable_(
            settledBefore, l.deposit, _accruedUntil(l, sr.receipt.periodEnd), sr.receipt.cumulativeAmount, capLeft
        );
    }

    /// @dev What the receipt's signer has spent under its authorization for the lease's provider (zero for the
    /// tenant itself).
    function _spent(Lease memory l, address signer) internal view returns (uint256) {
        return market.sessionSigner(l.tenant, signer, _leaseProvider(l)).spent;
    }

    function settle(uint256 lSeed, uint256 signerSeed, uint256 cumSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, SETTLEABLE);
        if (leaseId == 0) {
            _skip("settle");
            return;
        }
        Lease memory l = market.lease(leaseId);
        // Let some time pass, within the settlement window.
        uint256 later = block.timestamp + _bound(warpSeed, 0, 2 hours);
        if (later < _deadline(leaseId, l)) _warpTo(later);
        SignedReceipt memory sr =
            _signedAt(leaseId, _cumulative(l, cumSeed), _signerFor(l.tenant, signerSeed), _periodEnd(warpSeed >> 64));
        if (_settleChecked(sr)) _done("settle");
        else _skip("settle");
    }

    /// @dev Settles one receipt and checks the outcome against the model: what it pays (or why not), the
    /// settled delta, the provider's credit (paid less the fee, which stays in the lease). Returns whether it
    /// paid.
    function _settleChecked(SignedReceipt memory sr) internal returns (bool) {
        uint256 leaseId = sr.receipt.leaseId;
        Lease memory l = market.lease(leaseId);
        (SettlementResult expected, uint256 expectedPaid) = _model(sr, l.settled, _spent(l, sr.signer));
        Offer memory o = market.offer(l.offerId);
        uint256 providerBefore = market.claimable(o.provider, o.token);
        uint256 feesBefore = market.feesOwed(o.token);

        vm.prank(keeper);
        try market.settle(sr) returns (uint256 paid) {
            pendingPeriodEnds.push(sr.receipt.periodEnd);
            if (expected != SettlementResult.Settled || paid != expectedPaid) _violation("settle paid != model");
            uint256 settled = market.lease(leaseId).settled;
            if (settled != l.settled + paid) _violation("settled delta");
            uint256 feeBps = ghostLeaseParamsOf[leaseId].protocolFeeBps;
            uint256 fee = LeaseMath.fee(settled, feeBps) - LeaseMath.fee(l.settled, feeBps);
            if (market.claimable(o.provider, o.token) - providerBefore != paid - fee) {
                _violation("provider credit != paid - fee");
            }
            if (market.feesOwed(o.token) != feesBefore) _violation("settlement credited fees before finalize");
            return true;
        } catch (bytes memory err) {
            bytes memory want =
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, expected);
            _expectRefusal(err, want, "settle failure != model");
            return false;
        }
    }

    /// @dev One to four receipts, mostly of settleable leases (repeats included), sometimes of any lease
    /// (finalized and evicted ones included) or none, some backdated: every item's result and amount must
    /// match the rules applied in order.
    function settleBatch(uint256[4] calldata seeds, uint256 n) external step {
        vm.warp(block.timestamp + _bound(n >> 8, 0, 1 hours));
        n = _bound(n, 1, 4);
        SignedReceipt[] memory items = new SignedReceipt[](n);
        SettlementResult[] memory expected = new SettlementResult[](n);
        uint256[] memory expectedPaid = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            items[i] = _batchItem(seeds[i]);
            (expected[i], expectedPaid[i]) = _modelInBatch(items, expectedPaid, i);
        }
        uint256 settledSum;
        for (uint256 i; i < n; ++i) {
            settledSum += expectedPaid[i];
            pendingPeriodEnds.push(items[i].receipt.periodEnd);
        }
        vm.prank(keeper);
        SettlementResult[] memory results = market.settleBatch(items);
        for (uint256 i; i < n; ++i) {
            if (results[i] != expected[i]) {
                bool finalized = market.lease(items[i].receipt.leaseId).status == LeaseStatus.Finalized;
                _violation(
                    finalized && results[i] == SettlementResult.Settled
                        ? "settleBatch settled a finalized lease"
                        : "settleBatch result != model"
                );
            }
        }
        if (settledSum > 0) _done("settleBatch");
        else _skip("settleBatch");
    }

    function _batchItem(uint256 seed) internal view returns (SignedReceipt memory) {
        uint256 leaseId = _pickLease(seed, SETTLEABLE);
        uint256 count = market.leaseCount();
        if (leaseId == 0 || seed % 10 == 0) leaseId = count == 0 ? 1 : 1 + (seed >> 16) % (count + 1);
        if (leaseId > count) return _signed(leaseId, 1, signers[0]); // unknown lease
        Lease memory l = market.lease(leaseId);
        return _signedAt(leaseId, _cumulative(l, seed >> 32), _signerFor(l.tenant, seed >> 24), _periodEnd(seed >> 128));
    }

    /// @dev The model for item `i`, with the settled and spent totals that items before it produced.
    function _modelInBatch(SignedReceipt[] memory items, uint256[] memory paid, uint256 i)
        internal
        view
        returns (SettlementResult, uint256)
    {
        uint256 leaseId = items[i].receipt.leaseId;
        if (leaseId == 0 || leaseId > market.leaseCount()) return _model(items[i], 0, 0);
        Lease memory l = market.lease(leaseId);
        uint256 settled = l.settled;
        address p = _leaseProvider(l);
        uint256 spent = market.sessionSigner(l.tenant, items[i].signer, p).spent;
        for (uint256 j; j < i; ++j) {
            if (items[j].receipt.leaseId == leaseId) settled += paid[j];
            if (items[j].signer == items[i].signer && items[i].signer != l.tenant) {
                // Only receipts of the same tenant's leases of the same provider count against this
                // authorization.
                uint256 other = items[j].receipt.leaseId;
                if (other <= market.leaseCount()) {
                    Lease memory ol = market.lease(other);
                    if (ol.tenant == l.tenant && _leaseProvider(ol) == p) spent += paid[j];
                }
            }
        }
        return _model(items[i], settled, spent);
    }

    /// @dev Re-authorizes a signer for a provider with a new cap and expiry (sometimes soon, so that it
    /// expires); this also undoes a revocation. A lower cap is tried too, and must be refused: it would void
    /// receipts for service already delivered.
    function authorizeSigner(uint256 sSeed, uint256 pSeed, uint256 cap, uint256 expiry) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        address signer = signers[index];
        address p = providers[pSeed % providers.length];
        SessionSigner memory before = market.sessionSigner(tenant, signer, p);
        uint256 spent = before.spent;
        expiry = block.timestamp + _bound(expiry, 1 hours, 60 days);
        if (before.cap > 1 && sSeed % 5 == 0) {
            uint256 lower = _bound(cap, 1, before.cap - 1);
            vm.prank(tenant);
            try market.authorizeSigner(signer, p, uint96(lower), uint40(expiry)) {
                _violation("authorizeSigner: a cap decreased");
            } catch {}
            SessionSigner memory unchanged = market.sessionSigner(tenant, signer, p);
            if (unchanged.cap != before.cap || unchanged.expiresAt != before.expiresAt) _violation("authorizeSigner");
            _done("authorizeSigner");
            return;
        }
        uint256 floor = before.cap > spent ? before.cap : (spent > 0 ? spent : 1);
        cap = _bound(cap, floor, floor + (index % 2 == 0 ? 1e24 : 1_000e6));
        vm.prank(tenant);
        market.authorizeSigner(signer, p, uint96(cap), uint40(expiry));
        SessionSigner memory a = market.sessionSigner(tenant, signer, p);
        if (a.cap != cap || a.spent != spent || a.expiresAt != expiry || a.revoked) _violation("authorizeSigner");
        ghostSpentCeiling[tenant][signer][p] = cap > spent ? cap : spent;
        _done("authorizeSigner");
    }

    /// @dev Revokes a signer's authorization for a provider: its expiry comes forward to now (never later).
    /// Revoking one never authorized is refused (`OpenleaseUnknownSigner`).
    function revokeSigner(uint256 sSeed, uint256 pSeed) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        address signer = signers[index];
        address p = providers[pSeed % providers.length];
        if (_revoke(tenant, signer, p)) _done("revokeSigner");
        else _done("revokeRefused");
    }

    function _revoke(address tenant, address signer, address p) internal returns (bool) {
        SessionSigner memory s = market.sessionSigner(tenant, signer, p);
        bytes memory want;
        if (s.cap == 0) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseUnknownSigner.selector, tenant, signer, p);
        }
        vm.prank(tenant);
        try market.revokeSigner(signer, p) {
            if (want.length != 0) _violation("revoked a signer never authorized");
            SessionSigner memory a = market.sessionSigner(tenant, signer, p);
            if (a.expiresAt != _min(s.expiresAt, block.timestamp) || !a.revoked || a.cap != s.cap || a.spent != s.spent)
            {
                _violation("revocation != expiry brought forward to now");
            }
            return true;
        } catch (bytes memory err) {
            _expectRefusal(err, want, "revokeSigner refusal != model");
            return false;
        }
    }

    /// @dev A session signer attests the service of a lease of a provider it is authorized for; some time
    /// later the tenant revokes it; later still the provider settles that receipt (for a period before the
    /// revocation: payable), the key (leaked) signs a receipt backdated before the revocation (payable, at most
    /// what accrued until its period's end) and one for a period after it (void: `SignerRevoked`). Each
    /// outcome is checked against the model.
    function revokeThenSettle(uint256 lSeed, uint256 sSeed, uint256 cumSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, SETTLEABLE);
        if (leaseId == 0) {
            _skip("revokeThenSettle");
            return;
        }
        (address signer, SignedReceipt memory attested) = _attest(leaseId, sSeed, cumSeed);
        if (signer == address(0)) {
            _skip("revokeThenSettle");
            return;
        }
        uint256 revokedAt = _revokeLater(leaseId, signer, warpSeed);
        _settleChecked(attested);
        _settleAfterRevocation(leaseId, signer, revokedAt, cumSeed, warpSeed);
        _done("revokeThenSettle");
    }

    /// @dev One of the tenant's session signers attests the service so far under a live authorization for the
    /// lease's provider: if its authorization was revoked or expired (or never given), the tenant authorizes it
    /// again first (keeping what it spent, undoing the revocation). Zero if the signer is the tenant itself.
    function _attest(uint256 leaseId, uint256 sSeed, uint256 cumSeed)
        internal
        returns (address signer, SignedReceipt memory attested)
    {
        Lease memory l = market.lease(leaseId);
        signer = _signerFor(l.tenant, sSeed % 2); // one of its two session signers
        if (signer == l.tenant) return (address(0), attested);
        address p = _leaseProvider(l);
        SessionSigner memory s = market.sessionSigner(l.tenant, signer, p);
        if (s.cap == 0 || s.revoked || s.expiresAt <= block.timestamp) {
            uint256 cap = uint256(s.spent) + (sSeed % 4 < 2 ? 1e24 : 1_000e6);
            if (cap < s.cap) cap = s.cap; // a cap never decreases
            vm.prank(l.tenant);
            market.authorizeSigner(signer, p, uint96(cap), uint40(block.timestamp + 30 days));
            ghostSpentCeiling[l.tenant][signer][p] = cap;
        }
        attested = _signed(leaseId, _cumulative(l, cumSeed), signer);
    }

    /// @dev Some time later (within the lease's settlement window) the tenant revokes the signer for the
    /// lease's provider, and some more time passes; returns when the revocation took effect.
    function _revokeLater(uint256 leaseId, address signer, uint256 warpSeed) internal returns (uint256 revokedAt) {
        Lease memory l = market.lease(leaseId);
        uint256 deadline = _deadline(leaseId, l);
        uint256 later = block.timestamp + _bound(warpSeed, 1, 30 minutes);
        if (later < deadline) _warpTo(later);
        address p = _leaseProvider(l);
        _revoke(l.tenant, signer, p);
        revokedAt = market.sessionSigner(l.tenant, signer, p).expiresAt;
        later = block.timestamp + _bound(warpSeed >> 32, 0, 2 hours);
        if (later < deadline) _warpTo(later);
    }

    /// @dev The (leaked) key signs, after the revocation, a receipt backdated before it (payable, at most what
    /// accrued until its period's end) and one for the service since (void).
    function _settleAfterRevocation(
        uint256 leaseId,
        address signer,
        uint256 revokedAt,
        uint256 cumSeed,
        uint256 warpSeed
    ) internal {
        uint256 back = _bound(warpSeed >> 64, 1, 1 hours);
        SignedReceipt memory backdated = _signedAt(
            leaseId, _cumulative(market.lease(leaseId), cumSeed >> 64), signer, revokedAt > back ? revokedAt - back : 0
        );
        _settleChecked(backdated);
        SignedReceipt memory afterwards =
            _signedAt(leaseId, _cumulative(market.lease(leaseId), cumSeed >> 128), signer, block.timestamp);
        if (_settleChecked(afterwards) && afterwards.receipt.periodEnd >= revokedAt) {
            _violation("a receipt for service after the revocation paid");
        }
    }

    // ─── Disputes and slashing ──────────────────────────────────────────────────────────────

    function openDispute(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, DISPUTABLE);
        if (leaseId == 0) {
            _skip("openDispute");
            return;
        }
        _openDispute(leaseId);
    }

    /// @dev The tenant's bond and the deadline follow the lease's own dispute bond and period. Refused, exactly,
    /// when the lease's own arbiter is its tenant or its provider (nobody could rule the dispute): then no bond
    /// is pulled and no dispute recorded. Returns whether the dispute opened.
    function _openDispute(uint256 leaseId) internal returns (bool) {
        Lease memory l = market.lease(leaseId);
        address token = _leaseToken(l);
        Params memory p = ghostLeaseParamsOf[leaseId];
        uint256 tenantBond = uint256(l.bond) * p.disputeBondBps / BPS;
        bytes memory want;
        if (_arbiterIsParty(leaseId, l)) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, leaseId, p.arbiter);
        }
        _mint(token, l.tenant, tenantBond);
        uint256 balance = MockStablecoin(token).balanceOf(l.tenant);
        vm.prank(l.tenant);
        try market.openDispute(leaseId, "ipfs://evidence") {
            if (want.length != 0) _violation("dispute opened whose arbiter is a party");
            Dispute memory d = market.dispute(leaseId);
            if (d.tenantBond != tenantBond) _violation("tenant bond != the lease's disputeBondBps");
            if (d.deadline != block.timestamp + p.disputePeriod) _violation("deadline != the lease's disputePeriod");
            ghostIn[token] += tenantBond;
            _done("openDispute");
            return true;
        } catch (bytes memory err) {
            _expectRefusal(err, want, "openDispute refusal != model");
            if (market.dispute(leaseId).status != DisputeStatus.None) _violation("refused dispute recorded");
            if (MockStablecoin(token).balanceOf(l.tenant) != balance) _violation("refused dispute pulled a bond");
            _done("disputeRefused");
            return false;
        }
    }

    /// @dev An open dispute `kind` applies to; if there is none, one opened on a lease disputable before a
    /// third-party arbiter.
    function _pickOrOpenDispute(uint256 seed, uint8 kind) internal returns (uint256 leaseId) {
        leaseId = _pickLease(seed, kind);
        if (leaseId != 0) return leaseId;
        leaseId = _pickOrOpen(seed, DISPUTABLE_BY_THIRD_PARTY);
        if (leaseId != 0 && !_openDispute(leaseId)) leaseId = 0;
    }

    /// @dev The lease's own arbiter rules within the lease's own maximum slash. Refused, exactly: the arbiter
    /// governance appointed since (one time in five, when it differs), a slash above the lease's maximum (one
    /// time in seven). An open dispute whose arbiter is the tenant or the provider cannot exist (`openDispute`
    /// refuses it and a lease's arbiter never changes): meeting one is a violation (and the ruling must still be
    /// refused with `OpenleaseArbiterIsParty`).
    function ruleDispute(uint256 lSeed, uint16 slashBps) external step {
        uint256 leaseId = _pickOrOpenDispute(lSeed, RULABLE);
        if (leaseId == 0) {
            _skip("ruleDispute");
            return;
        }
        Lease memory l = market.lease(leaseId);
        Params memory p = ghostLeaseParamsOf[leaseId];
        address leaseArbiter = p.arbiter;
        address current = _paramsNow().arbiter;
        address caller = leaseArbiter;
        bytes memory want;
        if (lSeed % 5 == 0 && current != leaseArbiter) {
            caller = current;
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotArbiter.selector, leaseId, current, leaseArbiter);
        } else if (leaseArbiter == l.tenant || leaseArbiter == _leaseProvider(l)) {
            _violation("open dispute whose arbiter is a party");
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseArbiterIsParty.selector, leaseId, leaseArbiter);
        }
        slashBps = uint16(_bound(slashBps, 0, p.maxDisputeSlashBps));
        if (lSeed % 4 == 0) slashBps = 0; // rejections too
        if (lSeed % 7 == 0) {
            slashBps = p.maxDisputeSlashBps + 1;
            if (want.length == 0) {
                want = abi.encodeWithSelector(
                    IOpenleaseErrors.OpenleaseSlashTooLarge.selector, slashBps, p.maxDisputeSlashBps
                );
            }
        }
        uint256 bondBefore = l.bond;
        vm.prank(caller);
        try market.ruleDispute(leaseId, slashBps) {
            if (want.length != 0) _violation("ruling should have been refused");
            if (market.lease(leaseId).bond != bondBefore - bondBefore * slashBps / BPS) {
                _violation("ruling slashed != bond * slashBps");
            }
            _done("ruleDispute");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "ruleDispute refusal != model");
            _done("arbiterRefused");
        }
    }

    function expireDispute(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpenDispute(lSeed, DISPUTED);
        if (leaseId == 0) {
            _skip("expireDispute");
            return;
        }
        _warpTo(market.dispute(leaseId).deadline);
        // The tenant's dispute bond goes back to it, or to the provider if the tenant is in arrears (evicted, or
        // a payment demand standing unanswered).
        Lease memory l = market.lease(leaseId);
        address token = _leaseToken(l);
        address p = _leaseProvider(l);
        bool toProvider = _inArrears(leaseId, l);
        uint256 tenantBond = market.dispute(leaseId).tenantBond;
        uint256 tenantBefore = market.claimable(l.tenant, token);
        uint256 providerBefore = market.claimable(p, token);
        vm.prank(keeper);
        market.expireDispute(leaseId);
        if (
            market.claimable(l.tenant, token) != tenantBefore + (toProvider ? 0 : tenantBond)
                || market.claimable(p, token) != providerBefore + (toProvider ? tenantBond : 0)
        ) _violation("expired dispute bond != to the provider exactly when the tenant is in arrears");
        _done("expireDispute");
    }

    /// @dev Signed by the provider's attestation key (each provider registered itself as its key).
    function slashEquivocation(uint256 lSeed, uint64 sequence) external step {
        uint256 leaseId = _pickOrOpen(lSeed, BONDED);
        if (leaseId == 0) {
            _skip("slashEquivocation");
            return;
        }
        address p = _leaseProvider(market.lease(leaseId));
        uint256 key = keyOf[market.providerProfile(p).attestationKey];
        UsageAttestation memory a = UsageAttestation(leaseId, sequence, keccak256("a"), uint64(block.timestamp));
        UsageAttestation memory b = UsageAttestation(leaseId, sequence, keccak256("b"), uint64(block.timestamp));
        bytes memory sigA = _sign(key, market.attestationDigest(a));
        bytes memory sigB = _sign(key, market.attestationDigest(b));
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        if (market.lease(leaseId).bond != 0) _violation("equivocation left bond");
        _done("slashEquivocation");
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    // ─── Balances and time ──────────────────────────────────────────────────────────────────

    function claim(uint256 aSeed, uint256 tSeed) external step {
        for (uint256 k; k < tokens.length; ++k) {
            address token = tokens[(tSeed % tokens.length + k) % tokens.length];
            for (uint256 i; i < actors.length; ++i) {
                address who = actors[(aSeed % actors.length + i) % actors.length];
                if (market.claimable(who, token) == 0) continue;
                uint256 balance = MockStablecoin(token).balanceOf(who);
                uint256 owed = market.claimable(who, token);
                vm.prank(who);
                uint256 amount = market.claim(token, who);
                if (amount != owed || MockStablecoin(token).balanceOf(who) != balance + amount) {
                    _violation("claim amount");
                }
                ghostClaimed[token] += amount;
                ghostOut[token] += amount;
                _done("claim");
                return;
            }
        }
        _skip("claim");
    }

    /// @dev To whichever treasury governance set last.
    function collectFees(uint256 tSeed) external step {
        for (uint256 k; k < tokens.length; ++k) {
            address token = tokens[(tSeed % tokens.length + k) % tokens.length];
            if (market.feesOwed(token) == 0) continue;
            address to = market.treasury();
            uint256 balance = MockStablecoin(token).balanceOf(to);
            uint256 amount = market.collectFees(token);
            if (MockStablecoin(token).balanceOf(to) != balance + amount) _violation("fees not at the treasury");
            ghostFeesCollected[token] += amount;
            ghostOut[token] += amount;
            _done("collectFees");
            return;
        }
        _skip("collectFees");
    }

    function warp(uint256 seconds_) external step {
        vm.warp(block.timestamp + _bound(seconds_, 1, 2 days));
        _done("warp");
    }

    // ─── Governance ─────────────────────────────────────────────────────────────────────────

    /// @dev A random version within the hard bounds, its arbiter any candidate (a tenant or a provider
    /// included); one time in eight one parameter is just out of its bounds (or the arbiter zero), which
    /// must be refused exactly. Scheduling changes nothing in force: the version new leases get and its
    /// parameters stay; a pending version is replaced, not queued.
    function scheduleParams(uint256 seed, uint256 arbiterSeed) external step {
        Params memory p = Params({
            protocolFeeBps: uint16(_bound(seed, 0, 1_000)),
            settlementWindow: uint32(_bound(seed >> 16, 1 hours, 7 days)),
            bondBps: uint16(_bound(seed >> 48, 1_000, 50_000)),
            slashCutBps: uint16(_bound(seed >> 64, 0, 2_000)),
            maxDisputeSlashBps: uint16(_bound(seed >> 80, 1_000, 5_000)),
            disputeBondBps: uint16(_bound(seed >> 96, 100, 10_000)),
            disputePeriod: uint32(_bound(seed >> 112, 1 days, 14 days)),
            unbondingPeriod: uint32(_bound(seed >> 144, 21 days, 90 days)),
            arbiter: arbiterCandidates[arbiterSeed % arbiterCandidates.length]
        });
        bytes memory want;
        if (arbiterSeed % 8 == 0) want = _outOfBounds(p, seed >> 176);

        uint256 inForce = market.paramsVersion();
        bytes32 inForceHash = keccak256(abi.encode(market.params()));
        bool pending = ghostLatestEffectiveAt > block.timestamp;
        vm.prank(admin);
        try market.scheduleParams(p) returns (uint256 version, uint256 effectiveAt) {
            if (want.length != 0) _violation("out-of-bounds params scheduled");
            if (version != (pending ? ghostLatestVersion : ghostLatestVersion + 1)) {
                _violation("pending version queued instead of replaced");
            }
            if (effectiveAt != block.timestamp + Bounds.PARAMS_DELAY) _violation("effectiveAt != now + delay");
            if (market.paramsVersion() != inForce || keccak256(abi.encode(market.params())) != inForceHash) {
                _violation("scheduling changed the params in force");
            }
            ghostVersionParams[version] = p;
            ghostLatestVersion = version;
            ghostLatestEffectiveAt = effectiveAt;
            _done("scheduleParams");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "scheduleParams refusal");
            _skip("scheduleParams");
        }
    }

    /// @dev Pushes one parameter (picked by `seed`) just past its hard bound and returns the refusal due.
    function _outOfBounds(Params memory p, uint256 seed) internal pure returns (bytes memory) {
        uint256 k = seed % 9;
        bool high = (seed >> 8) % 2 == 0;
        Parameter which = Parameter(k < 8 ? k : 0);
        uint256 lo;
        uint256 hi;
        uint256 value;
        if (k == 0) {
            (lo, hi) = (0, 1_000);
            value = hi + 1;
            p.protocolFeeBps = uint16(value);
        } else if (k == 1) {
            (lo, hi) = (1 hours, 7 days);
            value = high ? hi + 1 : lo - 1;
            p.settlementWindow = uint32(value);
        } else if (k == 2) {
            (lo, hi) = (1_000, 50_000);
            value = high ? hi + 1 : lo - 1;
            p.bondBps = uint16(value);
        } else if (k == 3) {
            (lo, hi) = (0, 2_000);
            value = hi + 1;
            p.slashCutBps = uint16(value);
        } else if (k == 4) {
            (lo, hi) = (1_000, 5_000);
            value = high ? hi + 1 : lo - 1;
            p.maxDisputeSlashBps = uint16(value);
        } else if (k == 5) {
            (lo, hi) = (100, 10_000);
            value = high ? hi + 1 : lo - 1;
            p.disputeBondBps = uint16(value);
        } else if (k == 6) {
            (lo, hi) = (1 days, 14 days);
            value = high ? hi + 1 : lo - 1;
            p.disputePeriod = uint32(value);
        } else if (k == 7) {
            (lo, hi) = (21 days, 90 days);
            value = high ? hi + 1 : lo - 1;
            p.unbondingPeriod = uint32(value);
        } else {
            p.arbiter = address(0);
            return abi.encodeWithSelector(IOpenleaseErrors.OpenleaseZeroAddress.selector);
        }
        return abi.encodeWithSelector(IOpenleaseErrors.OpenleaseParameterOutOfBounds.selector, which, value, lo, hi);
    }

    /// @dev A provider accepts a parameters version for one of its offers: mostly the version in force; else
    /// the newest (perhaps still pending), an older or the same one, or one that does not exist; one time in
    /// eight someone else (a tenant, another provider, the admin) tries. Refused exactly when the model says
    /// (not the offer's provider; not newer than the offer's, or not in force); otherwise the offer's new
    /// leases get it.
    function acceptParams(uint256 oSeed, uint256 vSeed, uint256 callerSeed) external step {
        uint256 offerId = offers[oSeed % offers.length];
        Offer memory o = market.offer(offerId);
        uint256 accepted = ghostOfferVersion[offerId];
        if (o.paramsVersion != accepted) _violation("offer version != model");
        uint256 inForce = _versionNow();
        uint256 mode = vSeed % 8;
        uint256 version = mode < 5
            ? inForce
            : mode == 5 ? ghostLatestVersion : mode == 6 ? _bound(vSeed >> 8, 0, accepted) : ghostLatestVersion + 1;
        address caller = o.provider;
        if (callerSeed % 8 == 0) {
            caller = actors[(callerSeed >> 8) % actors.length];
            if (caller == o.provider) caller = admin;
        }
        bytes memory want;
        if (caller != o.provider) {
            want = abi.encodeWithSelector(IOpenleaseErrors.OpenleaseNotOfferProvider.selector, offerId, caller);
        } else if (version <= accepted || version > inForce) {
            want = abi.encodeWithSelector(
                IOpenleaseErrors.OpenleaseParamsNotAcceptable.selector, version, accepted, inForce
            );
        }
        vm.prank(caller);
        try market.acceptParams(offerId, uint16(version)) {
            if (want.length != 0) _violation("acceptParams should have been refused");
            ghostOfferVersion[offerId] = version;
            if (market.offer(offerId).paramsVersion != version) _violation("accepted version not recorded");
            _done("acceptParams");
        } catch (bytes memory err) {
            _expectRefusal(err, want, "acceptParams refusal != model");
            _done("acceptRefused");
        }
    }

    /// @dev Waits out the pending version's delay (to `effectiveAt` or a little after), if there is one.
    function warpPastDelay(uint256 extra) external step {
        if (ghostLatestEffectiveAt <= block.timestamp) {
            _skip("warpPastDelay");
            return;
        }
        _warpTo(ghostLatestEffectiveAt + _bound(extra, 0, 1 hours));
        if (market.paramsVersion() != ghostLatestVersion) _violation("version not in force after the delay");
        _done("warpPastDelay");
    }

    function setTreasury(uint256 seed) external step {
        address to = treasuries[seed % treasuries.length];
        vm.prank(admin);
        market.setTreasury(to);
        if (market.treasury() != to) _violation("treasury");
        _done("setTreasury");
    }

    /// @dev Paused an eighth of the time: every exit must keep working (the handler's exits expect no revert),
    /// and new business must be refused with `EnforcedPause`.
    function setPaused(uint256 seed) external step {
        bool pause = seed % 8 == 0;
        if (pause == _paused()) {
            _skip("setPaused");
            return;
        }
        vm.prank(admin);
        if (pause) market.pause();
        else market.unpause();
        _done("setPaused");
    }

    /// @dev Delists a token an eighth of the time: its leases, stakes and payouts must keep working, and new
    /// business in it must be refused with `OpenleaseTokenNotAllowed`.
    function setTokenAllowed(uint256 tSeed, uint256 seed) external step {
        address token = _token(tSeed);
        bool allowed = seed % 8 != 0;
        vm.prank(admin);
        market.setTokenAllowed(token, allowed);
        if (market.isTokenAllowed(token) != allowed) _violation("allow-list");
        _done("setTokenAllowed");
    }

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
