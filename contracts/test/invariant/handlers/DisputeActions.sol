// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IOpenleaseErrors} from "../../../src/interfaces/IOpenleaseErrors.sol";
import {MockStablecoin} from "../../mocks/MockStablecoin.sol";
import {MarketStore} from "./MarketStore.sol";

/// @notice The arbiter and the dispute path: the tenant opens a dispute, the lease's own arbiter rules it,
/// anyone expires an unruled one or proves an equivocation. An actor of its own because a dispute is the
/// tenant's remedy that outlives the lease and is decided by a party neither side controls: every bond,
/// deadline and slash is checked against the lease's own parameters, never the ones governance put in force
/// since, and a dispute nobody could rule is refused.
abstract contract DisputeActions is MarketStore {
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
        AnswerAttestation memory a =
            AnswerAttestation(leaseId, sequence, 0, keccak256("q"), keccak256("a"), uint64(block.timestamp));
        AnswerAttestation memory b =
            AnswerAttestation(leaseId, sequence, 0, keccak256("q"), keccak256("b"), uint64(block.timestamp));
        bytes memory sigA = _sign(key, market.attestationDigest(a));
        bytes memory sigB = _sign(key, market.attestationDigest(b));
        vm.prank(keeper);
        market.slashEquivocation(a, sigA, b, sigB);
        if (market.lease(leaseId).bond != 0) _violation("equivocation left bond");
        _done("slashEquivocation");
    }

    /// @dev Anyone holding a provider-attested answer to `GET /work/n`: a wrong one on a lease whose
    /// offer named a verifier costs the lease's whole bond; a right one, or any answer on a lease whose
    /// offer named no verifier, costs nothing. Only the lease's own terms decide.
    function slashWrongAnswer(uint256 lSeed, uint16 n, bool wrong) external step {
        uint256 leaseId = _pickOrOpen(lSeed, BONDED);
        if (leaseId == 0) {
            _skip("slashWrongAnswer");
            return;
        }
        Lease memory l = market.lease(leaseId);
        Offer memory o = market.offer(l.offerId);
        n = uint16(_bound(n, 0, 64));
        bytes32 h;
        for (uint256 i; i < n; ++i) {
            h = keccak256(abi.encode(h));
        }
        bytes memory request = bytes(string.concat("GET /work/", vm.toString(uint256(n)), "\n"));
        bytes memory response = bytes(vm.toString(wrong ? ~h : h));
        AnswerAttestation memory a =
            AnswerAttestation(leaseId, 1, o.workload, keccak256(request), keccak256(response), uint64(block.timestamp));
        bytes memory sig = _sign(keyOf[market.providerProfile(o.provider).attestationKey], market.attestationDigest(a));
        vm.prank(keeper);
        try market.slashWrongAnswer(a, sig, request, response) {
            if (o.verifier == address(0) || !wrong) {
                _violation("slashed an answer its lease's verifier did not reject");
            }
            if (market.lease(leaseId).bond != 0) _violation("a wrong answer left bond");
            _done("slashWrongAnswer");
        } catch {
            if (o.verifier != address(0) && wrong && l.bond > 0) {
                _violation("a wrong answer on a verified lease stood");
            }
            _skip("slashWrongAnswer");
        }
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
