// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";

import {Openlease} from "../../../src/Openlease.sol";
import {IOpenleaseTypes} from "../../../src/interfaces/IOpenleaseTypes.sol";
import {IOpenleaseEvents} from "../../../src/interfaces/IOpenleaseEvents.sol";
import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";

/// @notice Drives the market with bounded random actions of several providers, tenants and session signers
/// across a 6-decimal and an 18-decimal stablecoin, picking ids among those an action can apply to so that few
/// calls are wasted, and keeps ghost accounting of every token flow, fee, slash and settlement (from the
/// market's own events) for the invariant suite. Checks that only make sense at the moment of a call (what a
/// receipt pays, what a refund is, that locked stake cannot be unstaked) are made here and counted as violations.
contract MarketHandler is CommonBase, StdCheats, StdUtils, IOpenleaseTypes {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_OFFERS = 16;

    Openlease public immutable market;
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
    mapping(address => uint256) internal keyOf;
    uint256[] public offers;

    uint256 public currentTime;

    // ─── Ghosts ─────────────────────────────────────────────────────────────────────────────

    mapping(address token => uint256) public ghostIn; // stakes, deposits, top-ups, dispute bonds
    mapping(address token => uint256) public ghostOut; // withdrawals, claims, collected fees
    mapping(address token => uint256) public ghostDeposits;
    mapping(address token => uint256) public ghostRefunds;
    mapping(address token => uint256) public ghostPaid;
    mapping(address token => uint256) public ghostFeesEmitted;
    mapping(address token => uint256) public ghostSlashed;
    mapping(address token => uint256) public ghostSlashCuts;
    mapping(address token => uint256) public ghostFeesCollected;
    mapping(address token => uint256) public ghostClaimed;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalStaked;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalSlashed;
    mapping(address provider => mapping(address token => uint256)) public ghostTotalWithdrawn;
    mapping(uint256 leaseId => uint256) public ghostLastSettled;
    mapping(uint256 leaseId => uint256) public ghostLeasePaid;
    /// @dev price * (min(now, endsAt) - startedAt) when the lease was last settled.
    mapping(uint256 leaseId => uint256) public ghostAccruedAtSettle;
    mapping(address tenant => mapping(address signer => uint256)) public ghostSignerPaid;
    /// @dev The most a signer may have spent: its cap, or what it had spent when re-authorized below that.
    mapping(address tenant => mapping(address signer => uint256)) public ghostSpentCeiling;

    uint256 public violations;
    string public lastViolation;

    string[] internal names;
    mapping(bytes32 name => uint256) internal done;
    mapping(bytes32 name => uint256) internal skipped;

    constructor(
        Openlease market_,
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
        admin = market_.owner();
        arbiter = market_.arbiter();
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
        }
        for (uint256 i; i < tenants_.length; ++i) {
            keyOf[tenants_[i]] = tenantKeys[i];
            actors.push(tenants_[i]);
        }
        for (uint256 i; i < signers_.length; ++i) {
            keyOf[signers_[i]] = signerKeys[i];
            actors.push(signers_[i]);
            SessionSigner memory ss = market_.sessionSigner(tenants_[i / 2], signers_[i]);
            ghostSpentCeiling[tenants_[i / 2]][signers_[i]] = ss.cap > ss.spent ? ss.cap : ss.spent;
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
        string[21] memory n = [
            "stake", "requestUnstake", "withdrawStake", "publishOffer", "openLease", "topUp", "closeLease",
            "terminateLease", "settle", "settleBatch", "finalizeLease", "openDispute", "ruleDispute",
            "expireDispute", "slashEquivocation", "claim", "collectFees", "warp", "authorizeSigner", "setParams",
            "revokeSigner"
        ];
        for (uint256 i; i < n.length; ++i) {
            names.push(n[i]);
        }
    }

    // ─── Plumbing ───────────────────────────────────────────────────────────────────────────

    modifier step() {
        vm.warp(currentTime);
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

    function _leaseToken(Lease memory l) internal view returns (address) {
        return market.offer(l.offerId).token;
    }

    function _leaseProvider(Lease memory l) internal view returns (address) {
        return market.offer(l.offerId).provider;
    }

    function _accrued(Lease memory l) internal view returns (uint256) {
        return (_min(block.timestamp, l.endsAt) - l.startedAt) * l.pricePerSecond;
    }

    function _end(Lease memory l) internal pure returns (uint256) {
        return _min(l.endsAt, uint256(l.startedAt) + l.deposit / l.pricePerSecond);
    }

    function _deadline(Lease memory l) internal view returns (uint256) {
        return _end(l) + market.params().settlementWindow;
    }

    uint8 internal constant RUNNING = 0;
    uint8 internal constant SETTLEABLE = 1;
    uint8 internal constant FINALIZABLE = 2;
    uint8 internal constant DISPUTABLE = 3;
    uint8 internal constant DISPUTED = 4;
    uint8 internal constant BONDED = 5;
    uint8 internal constant RULABLE = 6;

    function _matches(uint256 id, uint8 kind) internal view returns (bool) {
        Lease memory l = market.lease(id);
        if (l.status != LeaseStatus.Open) return false;
        if (kind == RUNNING) return block.timestamp < _end(l);
        if (kind == SETTLEABLE) return block.timestamp < _deadline(l) && l.settled < l.deposit;
        DisputeStatus ds = market.dispute(id).status;
        if (kind == FINALIZABLE) return ds != DisputeStatus.Open;
        if (kind == DISPUTABLE) return block.timestamp < _deadline(l) && ds == DisputeStatus.None && l.bond > 0;
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

    /// @dev Ghost accounting from the market's own events: what settlement paid and charged, what slashes took.
    function _processLogs(Vm.Log[] memory logs) internal {
        uint16 feeBps = market.params().protocolFeeBps;
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(market)) continue;
            bytes32 topic = log.topics[0];
            if (topic == IOpenleaseEvents.LeaseSettled.selector) {
                uint256 leaseId = uint256(log.topics[1]);
                address signer = address(uint160(uint256(log.topics[2])));
                (, uint256 paid, uint256 fee) = abi.decode(log.data, (uint256, uint256, uint256));
                Lease memory l = market.lease(leaseId);
                address token = _leaseToken(l);
                if (fee != paid * feeBps / BPS) _violation("fee != paid * bps / 10_000");
                ghostPaid[token] += paid;
                ghostFeesEmitted[token] += fee;
                ghostLeasePaid[leaseId] += paid;
                ghostAccruedAtSettle[leaseId] = _accrued(l);
                if (signer != l.tenant) ghostSignerPaid[l.tenant][signer] += paid;
            } else if (topic == IOpenleaseEvents.BondSlashed.selector) {
                uint256 leaseId = uint256(log.topics[1]);
                address provider = address(uint160(uint256(log.topics[2])));
                (, uint256 amount, uint256 cut) = abi.decode(log.data, (uint8, uint256, uint256));
                address token = _leaseToken(market.lease(leaseId));
                ghostSlashed[token] += amount;
                ghostSlashCuts[token] += cut;
                ghostTotalSlashed[provider][token] += amount;
            }
        }
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
        market.stake(token, amount);
        ghostTotalStaked[p][token] += amount;
        ghostIn[token] += amount;
        _done("stake");
    }

    /// @dev Asks for up to everything staked; more than the free stake must be refused.
    function requestUnstake(uint256 pSeed, uint256 tSeed, uint256 amount) external step {
        address p = providers[pSeed % providers.length];
        address token = _token(tSeed);
        Stake memory s = market.stakeOf(p, token);
        if (s.staked == 0) { _skip("requestUnstake"); return; }
        amount = _bound(amount, 1, s.staked);
        uint256 free = s.staked - s.locked;
        vm.prank(p);
        try market.requestUnstake(token, amount) {
            if (amount > free) _violation("unstaked locked stake");
            Stake memory a = market.stakeOf(p, token);
            if (a.staked != s.staked - amount || a.thawing != s.thawing + amount || a.locked != s.locked) {
                _violation("requestUnstake deltas");
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
            if (s.thawing == 0) { _skip("withdrawStake"); return; }
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

    function publishOffer(uint256 pSeed, uint256 tSeed, uint64 price, uint32 minDuration, uint32 span, uint32 notice)
        external
        step
    {
        if (offers.length >= MAX_OFFERS) { _skip("publishOffer"); return; }
        address token = _token(tSeed);
        price = _unit(token) == 1e6 ? uint64(_bound(price, 1, 10_000)) : uint64(_bound(price, 1e9, 1e16));
        minDuration = uint32(_bound(minDuration, 1 minutes, 2 hours));
        uint32 maxDuration = minDuration + uint32(_bound(span, 0, 3 days));
        notice = uint32(_bound(notice, 0, _min(maxDuration, 2 hours)));
        _publish(providers[pSeed % providers.length], token, price, minDuration, maxDuration, notice, pSeed);
    }

    function _publish(
        address p,
        address token,
        uint64 price,
        uint32 minDuration,
        uint32 maxDuration,
        uint32 notice,
        uint256 seed
    ) internal {
        vm.prank(p);
        offers.push(market.publishOffer(token, price, minDuration, maxDuration, notice, uint16(1 + seed % 5)));
        _done("publishOffer");
    }

    function openLease(uint256 tSeed, uint256 oSeed, uint32 duration, uint256 deposit) external step {
        if (_open(tSeed, oSeed, duration, deposit) == 0) { _skip("openLease"); return; }
    }

    /// @dev Opens a lease of an offer with room, by a random tenant; zero if no offer has room.
    function _open(uint256 tSeed, uint256 oSeed, uint256 duration, uint256 deposit) internal returns (uint256) {
        uint256 offerId;
        Offer memory o;
        for (uint256 i; i < offers.length; ++i) {
            offerId = offers[(oSeed % offers.length + i) % offers.length];
            o = market.offer(offerId);
            if (!o.paused && o.activeLeases < o.capacity) break;
            offerId = 0;
        }
        if (offerId == 0) return 0;
        address t = tenants[tSeed % tenants.length];
        duration = _bound(duration, o.minDuration, _min(o.maxDuration, uint256(o.minDuration) + 3 days));
        uint256 required = uint256(o.pricePerSecond) * o.minDuration;
        deposit = _bound(deposit, required, required + uint256(o.pricePerSecond) * duration * 3 / 2);
        _ensureFreeStake(o);
        _mint(o.token, t, deposit);
        vm.prank(t);
        uint256 leaseId = market.openLease(offerId, uint32(duration), deposit, o.pricePerSecond);
        Lease memory l = market.lease(leaseId);
        if (l.bond != uint256(o.pricePerSecond) * o.noticePeriod * market.params().bondBps / BPS) {
            _violation("bond at open");
        }
        ghostDeposits[o.token] += deposit;
        ghostIn[o.token] += deposit;
        _done("openLease");
        return leaseId;
    }

    /// @dev A lease `kind` applies to; if there is none, a freshly opened one when it qualifies.
    function _pickOrOpen(uint256 seed, uint8 kind) internal returns (uint256 leaseId) {
        leaseId = _pickLease(seed, kind);
        if (leaseId != 0) return leaseId;
        leaseId = _open(seed, seed >> 8, seed >> 16, seed >> 64);
        if (leaseId != 0 && !_matches(leaseId, kind)) leaseId = 0;
    }

    /// @dev The provider stakes what its free stake lacks for one more bond.
    function _ensureFreeStake(Offer memory o) internal {
        uint256 bond = uint256(o.pricePerSecond) * o.noticePeriod * market.params().bondBps / BPS;
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
        if (leaseId == 0) { _skip("topUp"); return; }
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

    function closeLease(uint256 lSeed, bool byProvider) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) { _skip("closeLease"); return; }
        Lease memory l = market.lease(leaseId);
        vm.prank(byProvider ? _leaseProvider(l) : l.tenant);
        market.closeLease(leaseId);
        uint256 endsAt = market.lease(leaseId).endsAt;
        uint256 expected = block.timestamp + l.noticePeriod;
        if (expected < l.minEndsAt) expected = l.minEndsAt;
        if (endsAt != _min(expected, l.endsAt)) _violation("closeLease endsAt");
        _done("closeLease");
    }

    function terminateLease(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, RUNNING);
        if (leaseId == 0) { _skip("terminateLease"); return; }
        Lease memory l = market.lease(leaseId);
        vm.prank(_leaseProvider(l));
        market.terminateLease(leaseId);
        Lease memory a = market.lease(leaseId);
        if (a.endsAt != block.timestamp || a.bond != 0) _violation("terminate");
        _done("terminateLease");
    }

    function finalizeLease(uint256 lSeed) external step {
        uint256 leaseId = _pickLease(lSeed, FINALIZABLE);
        if (leaseId == 0) { _skip("finalizeLease"); return; }
        Lease memory l = market.lease(leaseId);
        _warpTo(_deadline(l));
        address token = _leaseToken(l);
        address p = _leaseProvider(l);
        uint256 tenantClaimable = market.claimable(l.tenant, token);
        uint256 locked = market.stakeOf(p, token).locked;
        vm.prank(keeper);
        market.finalizeLease(leaseId);
        uint256 refund = uint256(l.deposit) - l.settled;
        // The tenant may also be the provider of nothing else: its claimable grows by the refund alone.
        if (market.claimable(l.tenant, token) != tenantClaimable + refund) _violation("refund != deposit - settled");
        if (market.stakeOf(p, token).locked != locked - l.bond) _violation("bond not released");
        ghostRefunds[token] += refund;
        _done("finalizeLease");
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

    function _signed(uint256 leaseId, uint256 cumulative, address signer)
        internal
        view
        returns (SignedReceipt memory sr)
    {
        sr.receipt = ServiceReceipt({
            leaseId: leaseId,
            cumulativeAmount: cumulative,
            usageDigest: keccak256(abi.encode(leaseId, cumulative)),
            periodEnd: uint64(block.timestamp)
        });
        sr.signer = signer;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[signer], market.receiptDigest(sr.receipt));
        sr.signature = abi.encodePacked(r, s, v);
    }

    /// @dev A cumulative amount around what accrued: mostly above what was settled, sometimes below.
    function _cumulative(Lease memory l, uint256 seed) internal view returns (uint256) {
        uint256 accrued = _accrued(l);
        uint256 hi = (accrued > l.settled ? accrued : l.settled) + uint256(l.pricePerSecond) * 10 minutes;
        uint256 lo = seed % 8 == 0 ? 0 : l.settled + 1;
        return _bound(seed >> 8, lo, hi);
    }

    /// @dev What the documented rules say a receipt pays, given what this batch already settled before it.
    function _model(SignedReceipt memory sr, uint256 settledBefore, uint256 spentBefore)
        internal
        view
        returns (SettlementResult, uint256)
    {
        uint256 leaseId = sr.receipt.leaseId;
        if (leaseId == 0 || leaseId > market.leaseCount()) return (SettlementResult.UnknownLease, 0);
        Lease memory l = market.lease(leaseId);
        l.settled = uint96(settledBefore);
        // A finalized lease has refunded its escrow: nothing of it can be settled any more.
        if (l.status == LeaseStatus.Finalized || block.timestamp >= _deadline(l)) {
            return (SettlementResult.SettlementWindowClosed, 0);
        }
        uint256 capLeft = type(uint256).max;
        if (sr.signer != l.tenant) {
            SessionSigner memory s = market.sessionSigner(l.tenant, sr.signer);
            if (s.cap == 0) return (SettlementResult.SignerNotAuthorized, 0);
            if (s.expiresAt == 0) return (SettlementResult.SignerRevoked, 0);
            if (block.timestamp >= s.expiresAt) return (SettlementResult.SignerExpired, 0);
            // A cap re-authorized below what was spent leaves nothing.
            capLeft = s.cap > spentBefore ? s.cap - spentBefore : 0;
        }
        uint256 cumulative = sr.receipt.cumulativeAmount;
        if (cumulative <= l.settled) return (SettlementResult.AlreadySettled, 0);
        if (l.settled == l.deposit) return (SettlementResult.EscrowExhausted, 0);
        uint256 accrued = _accrued(l);
        if (accrued <= l.settled) return (SettlementResult.NotYetAccrued, 0);
        if (capLeft == 0) return (SettlementResult.SignerCapReached, 0);
        return (SettlementResult.Settled, _min(_min(_min(cumulative, accrued), l.deposit) - l.settled, capLeft));
    }

    function settle(uint256 lSeed, uint256 signerSeed, uint256 cumSeed, uint256 warpSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, SETTLEABLE);
        if (leaseId == 0) { _skip("settle"); return; }
        Lease memory l = market.lease(leaseId);
        // Let some time pass, within the settlement window.
        uint256 later = block.timestamp + _bound(warpSeed, 0, 2 hours);
        if (later < _deadline(l)) _warpTo(later);
        SignedReceipt memory sr = _signed(leaseId, _cumulative(l, cumSeed), _signerFor(l.tenant, signerSeed));
        (SettlementResult expected, uint256 expectedPaid) =
            _model(sr, l.settled, market.sessionSigner(l.tenant, sr.signer).spent);
        uint256 creditsBefore = _credits(l);

        vm.prank(keeper);
        try market.settle(sr) returns (uint256 paid) {
            if (expected != SettlementResult.Settled || paid != expectedPaid) _violation("settle paid != model");
            if (market.lease(leaseId).settled != l.settled + paid) _violation("settled delta");
            if (_credits(l) - creditsBefore != paid) _violation("provider credit + fee != paid");
            _done("settle");
        } catch (bytes memory err) {
            bytes memory want =
                abi.encodeWithSelector(IOpenleaseErrors.OpenleaseSettlementFailed.selector, leaseId, expected);
            if (keccak256(err) != keccak256(want)) _violation("settle failure != model");
            _skip("settle");
        }
    }

    /// @dev The lease's provider's claimable balance plus the fees owed, in the lease's token.
    function _credits(Lease memory l) internal view returns (uint256) {
        Offer memory o = market.offer(l.offerId);
        return market.claimable(o.provider, o.token) + market.feesOwed(o.token);
    }

    /// @dev One to four receipts, mostly of settleable leases (repeats included), sometimes of any lease or
    /// none: every item's result and amount must match the rules applied in order.
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
        return _signed(leaseId, _cumulative(l, seed >> 32), _signerFor(l.tenant, seed >> 24));
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
        uint256 spent = market.sessionSigner(l.tenant, items[i].signer).spent;
        for (uint256 j; j < i; ++j) {
            if (items[j].receipt.leaseId == leaseId) settled += paid[j];
            if (items[j].signer == items[i].signer && items[i].signer != l.tenant) {
                // Only receipts of the same tenant's leases count against this signer.
                uint256 other = items[j].receipt.leaseId;
                if (other <= market.leaseCount() && market.lease(other).tenant == l.tenant) spent += paid[j];
            }
        }
        return _model(items[i], settled, spent);
    }

    /// @dev Re-authorizes a signer with a new cap (sometimes below what it already spent, which must leave it
    /// nothing more to attest) and expiry (sometimes soon, so that it expires).
    function authorizeSigner(uint256 sSeed, uint256 cap, uint256 expiry) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        address signer = signers[index];
        uint256 spent = market.sessionSigner(tenant, signer).spent;
        if (spent > 1 && sSeed % 5 == 0) cap = _bound(cap, 1, spent - 1);
        else cap = _bound(cap, spent > 0 ? spent : 1, spent + (index % 2 == 0 ? 1e24 : 1_000e6));
        expiry = block.timestamp + _bound(expiry, 1 hours, 60 days);
        vm.prank(tenant);
        market.authorizeSigner(signer, uint96(cap), uint40(expiry));
        ghostSpentCeiling[tenant][signer] = cap > spent ? cap : spent;
        _done("authorizeSigner");
    }

    function revokeSigner(uint256 sSeed) external step {
        uint256 index = sSeed % signers.length;
        address tenant = tenants[index / 2];
        if (market.sessionSigner(tenant, signers[index]).expiresAt == 0) { _skip("revokeSigner"); return; }
        vm.prank(tenant);
        market.revokeSigner(signers[index]);
        _done("revokeSigner");
    }

    // ─── Disputes and slashing ──────────────────────────────────────────────────────────────

    function openDispute(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpen(lSeed, DISPUTABLE);
        if (leaseId == 0) { _skip("openDispute"); return; }
        _openDispute(leaseId);
    }

    function _openDispute(uint256 leaseId) internal {
        Lease memory l = market.lease(leaseId);
        address token = _leaseToken(l);
        uint256 tenantBond = uint256(l.bond) * market.params().disputeBondBps / BPS;
        _mint(token, l.tenant, tenantBond);
        vm.prank(l.tenant);
        market.openDispute(leaseId, "ipfs://evidence");
        if (market.dispute(leaseId).tenantBond != tenantBond) _violation("tenant bond");
        ghostIn[token] += tenantBond;
        _done("openDispute");
    }

    /// @dev An open dispute `kind` applies to; if there is none, one opened on a disputable lease.
    function _pickOrOpenDispute(uint256 seed, uint8 kind) internal returns (uint256 leaseId) {
        leaseId = _pickLease(seed, kind);
        if (leaseId != 0) return leaseId;
        leaseId = _pickOrOpen(seed, DISPUTABLE);
        if (leaseId != 0) _openDispute(leaseId);
    }

    function ruleDispute(uint256 lSeed, uint16 slashBps) external step {
        uint256 leaseId = _pickOrOpenDispute(lSeed, RULABLE);
        if (leaseId == 0) { _skip("ruleDispute"); return; }
        slashBps = uint16(_bound(slashBps, 0, market.params().maxDisputeSlashBps));
        if (lSeed % 4 == 0) slashBps = 0; // rejections too
        vm.prank(arbiter);
        market.ruleDispute(leaseId, slashBps);
        _done("ruleDispute");
    }

    function expireDispute(uint256 lSeed) external step {
        uint256 leaseId = _pickOrOpenDispute(lSeed, DISPUTED);
        if (leaseId == 0) { _skip("expireDispute"); return; }
        _warpTo(market.dispute(leaseId).deadline);
        vm.prank(keeper);
        market.expireDispute(leaseId);
        _done("expireDispute");
    }

    function slashEquivocation(uint256 lSeed, uint64 sequence) external step {
        uint256 leaseId = _pickOrOpen(lSeed, BONDED);
        if (leaseId == 0) { _skip("slashEquivocation"); return; }
        uint256 key = keyOf[_leaseProvider(market.lease(leaseId))];
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
                { _done("claim"); return; }
            }
        }
        _skip("claim");
    }

    function collectFees(uint256 tSeed) external step {
        for (uint256 k; k < tokens.length; ++k) {
            address token = tokens[(tSeed % tokens.length + k) % tokens.length];
            if (market.feesOwed(token) == 0) continue;
            uint256 amount = market.collectFees(token);
            ghostFeesCollected[token] += amount;
            ghostOut[token] += amount;
            { _done("collectFees"); return; }
        }
        _skip("collectFees");
    }

    function warp(uint256 seconds_) external step {
        vm.warp(block.timestamp + _bound(seconds_, 1, 2 days));
        _done("warp");
    }

    function setParams(uint256 seed) external step {
        Params memory p = Params({
            protocolFeeBps: uint16(_bound(seed, 0, 1_000)),
            bondBps: uint16(_bound(seed >> 16, 1_000, 50_000)),
            slashCutBps: uint16(_bound(seed >> 32, 0, 2_000)),
            maxDisputeSlashBps: uint16(_bound(seed >> 48, 1_000, 10_000)),
            disputeBondBps: uint16(_bound(seed >> 64, 100, 10_000)),
            settlementWindow: uint32(_bound(seed >> 80, 1 hours, 2 days)),
            disputePeriod: uint32(_bound(seed >> 112, 1 days, 4 days)),
            unbondingPeriod: uint32(_bound(seed >> 144, 21 days, 30 days))
        });
        vm.prank(admin);
        market.setParams(p);
        _done("setParams");
    }

    // ─── Views for the invariant suite ──────────────────────────────────────────────────────

    /// @dev A lease's ghosts in one call: the settled total last seen, the sum paid to it, and what its terms
    /// let accrue when it was last settled.
    function ghostLease(uint256 id) external view returns (uint256 lastSettled, uint256 paid, uint256 accrued) {
        return (ghostLastSettled[id], ghostLeasePaid[id], ghostAccruedAtSettle[id]);
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
