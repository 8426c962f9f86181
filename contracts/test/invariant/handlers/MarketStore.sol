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

/// @notice The store the actors of the invariant suite share: the parties, the ghost accounting of every token
/// flow, fee, slash and settlement, the model of the parameters versions, and the plumbing every action runs
/// through (`step`: one clock, the market's events turned into ghosts, the sweep that settled totals never
/// decrease), with the helpers more than one actor needs (a lease to act on, opened if need be). One store,
/// because the actors act on each other's state: a tenant's lease is settled by a relayer, demanded of and
/// evicted by its provider, ruled on by its arbiter, and reached by governance's versions only through its
/// offer; the invariants compare the market with one ledger of all of it. The role contracts add actions only,
/// never storage, so the layout is this contract's alone.
abstract contract MarketStore is CommonBase, StdCheats, StdUtils, IOpenleaseTypes {
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
        string[39] memory n = [
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
            "slashWrongAnswer",
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

    // ─── Shared by several actors ───────────────────────────────────────────────────────────

    /// @dev Why new business in `token` is refused now: the pause, then the allow-list; empty if it is not.
    function _newBusinessRefusal(address token) internal view returns (bytes memory) {
        if (_paused()) return abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        if (!market.isTokenAllowed(token)) {
            return abi.encodeWithSelector(IOpenleaseErrors.OpenleaseTokenNotAllowed.selector, token);
        }
        return "";
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
                ghostOfferVersion[offerId],
                o.workload,
                o.verifier
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
}
