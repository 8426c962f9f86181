// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MarketStore} from "./MarketStore.sol";

/// @notice Time: lets deadlines, notice periods, graces and thaws pass between the other actors' calls. An
/// actor of its own so that the time-gated paths (finalize, dispute expiry, eviction, withdrawal) are reached
/// at random points, not only where another action warps on purpose.
abstract contract TimeActions is MarketStore {
    // ─── Time ───────────────────────────────────────────────────────────────────────────────

    function warp(uint256 seconds_) external step {
        vm.warp(block.timestamp + _bound(seconds_, 1, 2 days));
        _done("warp");
    }
}
