// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {OpenleaseStorage} from "./OpenleaseStorage.sol";
import {Governance} from "./modules/Governance.sol";
import {Disputes} from "./modules/Disputes.sol";
import {MarketViews} from "./modules/MarketViews.sol";
import {PaymentDemands} from "./modules/PaymentDemands.sol";

/// @title OpenleaseExtension
/// @notice The market's cold paths (governance, disputes, payment demands and eviction, views), run only by DELEGATECALL from
/// `Openlease`'s fallback, in its storage. Called directly it acts on a storage of its own that
/// holds nothing.
/// @dev Deployed by `Openlease`'s constructor, so it shares the market's lifetime and cannot be
/// swapped: the pair is as immutable as one contract. Its EIP-712 domain is rebuilt for the
/// market's address under DELEGATECALL, so attestation digests bind to the market.
contract OpenleaseExtension is OpenleaseStorage, Governance, Disputes, MarketViews, PaymentDemands {
    constructor() OpenleaseStorage(msg.sender) {}
}
