// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";

import {Openlease} from "../src/Openlease.sol";
import {IOpenlease} from "../src/interfaces/IOpenlease.sol";
import {IOpenleaseTypes} from "../src/interfaces/IOpenleaseTypes.sol";
import {MockStablecoin} from "./mocks/MockStablecoin.sol";
import {MockUSDT} from "./mocks/MockUSDT.sol";

/// @notice The market every test starts from: Openlease with default parameters, three allow-listed
/// stablecoins, a registered and staked provider with one USDC offer, and a funded tenant with a
/// session signer. Helpers do one action each and return what it produced.
abstract contract BaseTest is Test, IOpenleaseTypes {
    uint64 internal constant PRICE = 1_000; // 0.001 USDC per second, 3.6 USDC per hour
    uint32 internal constant MIN_DURATION = 1 hours;
    uint32 internal constant MAX_DURATION = 30 days;
    uint32 internal constant NOTICE = 1 hours;
    uint16 internal constant CAPACITY = 50;
    uint256 internal constant PROVIDER_STAKE = 10_000e6;
    uint96 internal constant SIGNER_CAP = 1_000e6;

    IOpenlease internal market;
    MockStablecoin internal usdc;
    MockStablecoin internal dai;
    MockUSDT internal usdt;

    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    address internal arbiter = makeAddr("arbiter");
    address internal keeper = makeAddr("keeper");
    address internal provider;
    uint256 internal providerKey;
    address internal tenant;
    uint256 internal tenantKey;
    address internal signer;
    uint256 internal signerKey;

    uint256 internal offerId;

    function setUp() public virtual {
        (provider, providerKey) = makeAddrAndKey("provider");
        (tenant, tenantKey) = makeAddrAndKey("tenant");
        (signer, signerKey) = makeAddrAndKey("signer");
        vm.warp(1_750_000_000);

        market = IOpenlease(address(new Openlease(admin, treasury, defaultParams())));
        usdc = new MockStablecoin("Mock USD Coin", "USDC", 6);
        dai = new MockStablecoin("Mock Dai", "DAI", 18);
        usdt = new MockUSDT();
        vm.startPrank(admin);
        market.setTokenAllowed(address(usdc), true);
        market.setTokenAllowed(address(dai), true);
        market.setTokenAllowed(address(usdt), true);
        vm.stopPrank();

        registerAndStake(provider, address(usdc), PROVIDER_STAKE);
        offerId = publishOffer(provider, address(usdc), PRICE);
        usdc.mint(tenant, 1_000_000e6);
        vm.prank(tenant);
        usdc.approve(address(market), type(uint256).max);
        vm.prank(tenant);
        market.authorizeSigner(signer, provider, SIGNER_CAP, uint40(block.timestamp + 365 days));
    }

    // ─── Keys ───────────────────────────────────────────────────────────────────────────────

    /// @dev The private key of every address made with `makeAddr`/`makeAddrAndKey`, so that an EOA
    /// provider can prove its attestation key (itself) without the test passing the key around.
    mapping(address account => uint256 privateKey) internal keyOf;

    function makeAddrAndKey(string memory name) internal virtual override returns (address addr, uint256 privateKey) {
        (addr, privateKey) = super.makeAddrAndKey(name);
        keyOf[addr] = privateKey;
    }

    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant ATTESTATION_KEY_TYPEHASH = keccak256("AttestationKey(address provider)");

    /// @notice The EIP-712 domain separator of an Openlease market at `verifyingContract` on `chainId`,
    /// built as OpenZeppelin's EIP712 builds it (name "Openlease", version "1").
    function domainSeparatorOf(address verifyingContract, uint256 chainId) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(EIP712_DOMAIN_TYPEHASH, keccak256("Openlease"), keccak256("1"), chainId, verifyingContract)
        );
    }

    /// @notice The digest an attestation key signs to prove it is held by (for) `provider_`, under the
    /// domain of the market at `market_` on `chainId`.
    function attestationKeyDigest(address market_, uint256 chainId, address provider_) internal pure returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(ATTESTATION_KEY_TYPEHASH, provider_));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparatorOf(market_, chainId), structHash));
    }

    /// @notice `key`'s proof that it is `provider_`'s attestation key on this market and chain.
    function keyProof(uint256 key, address provider_) internal view returns (bytes memory) {
        return sign(key, attestationKeyDigest(address(market), block.chainid, provider_));
    }

    /// @notice The attestation key `who` registers with: itself if it is an EOA whose key the test
    /// made, else (a contract wallet, or an address of unknown key) an EOA of its own, derived from it.
    function attestationKeyOf(address who) internal returns (address key, uint256 privateKey) {
        if (who.code.length == 0 && keyOf[who] != 0) return (who, keyOf[who]);
        privateKey = uint256(keccak256(abi.encode("attestation key", who)));
        key = vm.addr(privateKey);
        keyOf[key] = privateKey;
    }

    /// @notice Registers `who` as a provider with `key` (private key `privateKey`) as its attestation
    /// key, proved by the key's signature.
    function registerProvider(address who, address key, uint256 privateKey) internal {
        bytes memory proof = keyProof(privateKey, who);
        vm.prank(who);
        market.registerProvider(
            "ipfs://provider", "https://compute.example", "eu-west", keccak256("gpu:a100"), key, proof
        );
    }

    function defaultParams() internal view returns (Params memory) {
        return Params({
            protocolFeeBps: 100,
            settlementWindow: 1 days,
            bondBps: 20_000,
            slashCutBps: 1_000,
            maxDisputeSlashBps: 5_000,
            disputeBondBps: 1_000,
            disputePeriod: 3 days,
            unbondingPeriod: 21 days,
            arbiter: arbiter
        });
    }

    /// @notice The market as its concrete contract, for what `IOpenlease` does not declare: the
    /// inherited Ownable2Step and Pausable functions (`owner`, `transferOwnership`, `paused`, ...).
    function marketContract() internal view returns (Openlease) {
        return Openlease(address(market));
    }

    /// @notice Schedules `p` and waits out the delay, so that it is in force: offers published from now
    /// on get it; an existing offer's new leases get it once its provider accepts it (`acceptParams`).
    function applyParams(Params memory p) internal {
        vm.prank(admin);
        (, uint256 effectiveAt) = market.scheduleParams(p);
        vm.warp(effectiveAt);
    }

    /// @notice The offer's provider accepts the parameters version in force for the offer's new leases.
    function acceptParams(uint256 offer) internal {
        uint16 version = uint16(market.paramsVersion());
        vm.prank(market.offer(offer).provider);
        market.acceptParams(offer, version);
    }

    /// @notice `applyParams`, then the default offer's provider accepts them: the default offer's new
    /// leases get `p` (what applying parameters did before providers had to consent).
    function applyAndAcceptParams(Params memory p) internal {
        applyParams(p);
        acceptParams(offerId);
    }

    // ─── Actions ────────────────────────────────────────────────────────────────────────────

    /// @notice Registers `who` with a proven attestation key (itself for an EOA provider made by the
    /// test, else an EOA of its own: `attestationKeyOf`), and stakes.
    function registerAndStake(address who, address token, uint256 amount) internal {
        (address key, uint256 privateKey) = attestationKeyOf(who);
        registerProvider(who, key, privateKey);
        mintAndApprove(token, who, amount);
        vm.prank(who);
        market.stake(token, amount);
    }

    function publishOffer(address who, address token, uint64 price) internal returns (uint256) {
        vm.prank(who);
        return market.publishOffer(token, price, MIN_DURATION, MAX_DURATION, NOTICE, CAPACITY, bytes32(0), address(0));
    }

    function mintAndApprove(address token, address who, uint256 amount) internal {
        if (token == address(usdt)) usdt.mint(who, amount);
        else MockStablecoin(token).mint(who, amount);
        vm.prank(who);
        (bool ok,) = token.call(abi.encodeWithSignature("approve(address,uint256)", address(market), type(uint256).max));
        require(ok, "approve failed");
    }

    /// @notice Opens a lease on the offer's terms as they stand (the tenant read them just now).
    function openLease(address who, uint256 offer, uint32 duration, uint256 deposit) internal returns (uint256) {
        bytes32 termsHash = market.offerTermsHash(offer);
        vm.prank(who);
        return market.openLease(offer, duration, deposit, termsHash);
    }

    /// @notice Opens a lease with a terms hash read earlier (or a stale one). Read the hash before a
    /// `vm.expectRevert`: the view call would take the expectation (and a prank) otherwise.
    function openLeaseWithHash(address who, uint256 offer, uint32 duration, uint256 deposit, bytes32 termsHash)
        internal
        returns (uint256)
    {
        vm.prank(who);
        return market.openLease(offer, duration, deposit, termsHash);
    }

    /// @notice A lease of the default offer by the default tenant: 10 hours, fully funded.
    function openDefaultLease() internal returns (uint256) {
        return openLease(tenant, offerId, 10 hours, uint256(PRICE) * 10 hours);
    }

    function receipt(uint256 leaseId, uint256 cumulativeAmount) internal view returns (ServiceReceipt memory) {
        return ServiceReceipt({
            leaseId: leaseId,
            cumulativeAmount: cumulativeAmount,
            usageDigest: keccak256(abi.encode("usage", leaseId, cumulativeAmount)),
            periodEnd: uint64(block.timestamp)
        });
    }

    function sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice A receipt signed by the default session signer.
    function signedReceipt(uint256 leaseId, uint256 cumulativeAmount) internal view returns (SignedReceipt memory) {
        return signedReceiptBy(signerKey, signer, receipt(leaseId, cumulativeAmount));
    }

    function signedReceiptBy(uint256 key, address who, ServiceReceipt memory r)
        internal
        view
        returns (SignedReceipt memory)
    {
        return SignedReceipt({receipt: r, signer: who, signature: sign(key, market.receiptDigest(r))});
    }

    /// @dev The provider's attestation that the `sequence`-th answer of the lease was `responseDigest`.
    function attestation(uint256 leaseId, uint64 sequence, bytes32 responseDigest)
        internal
        view
        returns (AnswerAttestation memory a, bytes memory signature)
    {
        a = AnswerAttestation({
            leaseId: leaseId,
            sequence: sequence,
            workload: bytes32(0),
            requestDigest: keccak256("GET /work/1\n"),
            responseDigest: responseDigest,
            servedAt: uint64(block.timestamp)
        });
        signature = sign(providerKey, market.attestationDigest(a));
    }
}
