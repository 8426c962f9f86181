// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";

import {IOpenleaseTypes} from "../../src/interfaces/IOpenleaseTypes.sol";
import {PackedLease} from "../../src/libraries/PackedLease.sol";

/// @notice `PackedLease`'s offsets are the storage layout Solidity gives `Lease`: every field
/// written through the struct reads back through the library, and `withSettled` changes the
/// settled total alone.
contract PackedLeaseTest is Test {
    using PackedLease for uint256;

    IOpenleaseTypes.Lease internal stored;

    function words() internal view returns (uint256 word0, uint256 word1) {
        assembly {
            word0 := sload(stored.slot)
            word1 := sload(add(stored.slot, 1))
        }
    }

    /// `Lease` with its status as a plain number (the fuzzer would send statuses past the enum).
    struct Fields {
        address tenant;
        uint32 offerId;
        uint32 startedAt;
        uint32 endsAt;
        uint88 deposit;
        uint88 settled;
        uint64 pricePerSecond;
        uint16 paramsVersion;
        uint96 bond;
        uint32 noticePeriod;
        uint32 minEndsAt;
        uint8 status;
    }

    function testFuzz_offsetsAreTheStructLayout(Fields memory f, uint88 newSettled) public {
        IOpenleaseTypes.Lease memory lease = IOpenleaseTypes.Lease({
            tenant: f.tenant,
            offerId: f.offerId,
            startedAt: f.startedAt,
            endsAt: f.endsAt,
            deposit: f.deposit,
            settled: f.settled,
            pricePerSecond: f.pricePerSecond,
            paramsVersion: f.paramsVersion,
            bond: f.bond,
            noticePeriod: f.noticePeriod,
            minEndsAt: f.minEndsAt,
            status: IOpenleaseTypes.LeaseStatus(f.status % 4)
        });
        stored = lease;
        (uint256 word0, uint256 word1) = words();
        assertEq(word0.tenant(), lease.tenant, "tenant");
        assertEq(word0.offerId(), lease.offerId, "offerId");
        assertEq(word0.startedAt(), lease.startedAt, "startedAt");
        assertEq(word0.endsAt(), lease.endsAt, "endsAt");
        assertEq(word1.deposit(), lease.deposit, "deposit");
        assertEq(word1.settled(), lease.settled, "settled");
        assertEq(word1.pricePerSecond(), lease.pricePerSecond, "pricePerSecond");
        assertEq(word1.paramsVersion(), lease.paramsVersion, "paramsVersion");

        uint256 updated = word1.withSettled(newSettled);
        assembly {
            sstore(add(stored.slot, 1), updated)
        }
        IOpenleaseTypes.Lease memory after_ = stored;
        assertEq(after_.settled, newSettled, "the settled total is the new one");
        lease.settled = newSettled;
        assertEq(keccak256(abi.encode(after_)), keccak256(abi.encode(lease)), "nothing else changed");
    }
}
