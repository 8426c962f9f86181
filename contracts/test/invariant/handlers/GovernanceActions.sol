// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {Bounds} from "../../../src/libraries/Bounds.sol";
import {MarketStore} from "./MarketStore.sol";

/// @notice Governance (the admin), hostile within the hard bounds: parameters versions whose arbiters are
/// picked among the parties themselves, waits past the delay, the treasury, the pause, the allow-list, and
/// the collection of fees; with the providers' acceptance of a version, the other half of the same model.
/// An actor of its own so that every governance move stays fuzzed and is checked not to reach open leases,
/// escrow or exits.
abstract contract GovernanceActions is MarketStore {
    // ─── Parameters versions ────────────────────────────────────────────────────────────────

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

    // ─── Treasury, pause, allow-list ────────────────────────────────────────────────────────

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
}
