-- Typed rows, provider history and bounded restarts. A mirror is derived data: this version
-- drops the old tables and indexes the chain again from the deploy block (the cursor goes too).
-- Portable SQL: amounts are decimal text zero-padded to 39 digits (text order is numeric order),
-- addresses lowercase hex, hashes and raw logs binary (BYTEA: a blob in SQLite), flags 0/1. Deadlines are not stored: they are computed
-- from the terms where they are read.

DROP TABLE cursor;
DROP TABLE blocks;
DROP TABLE events;
DROP TABLE providers;
DROP TABLE stakes;
DROP TABLE offers;
DROP TABLE leases;
DROP TABLE settlements;
DROP TABLE signers;
DROP TABLE disputes;
DROP TABLE balances;
DROP TABLE fees;
DROP TABLE params;

CREATE TABLE cursor (
    id              BIGINT PRIMARY KEY,
    chain_id        BIGINT NOT NULL,
    market          TEXT NOT NULL,
    number          BIGINT NOT NULL,
    hash            TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,
    head            BIGINT NOT NULL,
    safe            BIGINT NOT NULL,
    finalized       BIGINT NOT NULL,
    -- The last notice number given (`/v1/events` ids): events and retractions share it.
    seq             BIGINT NOT NULL
);

-- The recent block-hash window, for reorg detection.
CREATE TABLE blocks (
    number          BIGINT PRIMARY KEY,
    hash            TEXT NOT NULL,
    parent_hash     TEXT NOT NULL
);

-- What each block of the window changed: the row every key had before it (NULL: no row). A reorg
-- puts these back, newest first, so its cost is the depth of the reorg, not the database's size.
CREATE TABLE undo (
    block_number    BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    entity          TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    prior           TEXT,
    PRIMARY KEY (block_number, seq)
);

-- Every marketplace log, raw and binary (`topics`: the 32-byte topics end to end); `seq` is its
-- `/v1/events` id. Its name and arguments are decoded from it where it is read.
CREATE TABLE events (
    block_number    BIGINT NOT NULL,
    log_index       BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    block_hash      BYTEA NOT NULL,
    block_timestamp BIGINT NOT NULL,
    tx_hash         BYTEA NOT NULL,
    topics          BYTEA NOT NULL,
    data            BYTEA NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX events_seq ON events (seq);

-- Reorgs the mirror followed: `/v1/events` replays the ones a reconnecting client missed.
CREATE TABLE retractions (
    seq             BIGINT PRIMARY KEY,
    block_number    BIGINT NOT NULL
);

CREATE TABLE providers (
    address             TEXT PRIMARY KEY,
    metadata_uri        TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    region              TEXT NOT NULL,
    attributes_hash     BYTEA NOT NULL,
    attestation_key     TEXT NOT NULL,
    registered_block    BIGINT NOT NULL,
    leases_opened       BIGINT NOT NULL,
    leases_completed    BIGINT NOT NULL,
    leases_closed_early BIGINT NOT NULL,
    leases_terminated   BIGINT NOT NULL,
    leases_failed_over  BIGINT NOT NULL,
    leases_evicted      BIGINT NOT NULL,
    disputes_won        BIGINT NOT NULL,
    disputes_lost       BIGINT NOT NULL,
    slashes             BIGINT NOT NULL,
    slashed_amount      TEXT NOT NULL,
    compensation        TEXT NOT NULL,
    total_earned        TEXT NOT NULL,
    paid                TEXT NOT NULL,
    accruable           TEXT NOT NULL,
    decayed_paid        DOUBLE PRECISION NOT NULL,
    decayed_accruable   DOUBLE PRECISION NOT NULL,
    decayed_slashed     DOUBLE PRECISION NOT NULL,
    decayed_at          BIGINT NOT NULL,
    reputation_bps      BIGINT NOT NULL,
    block_number        BIGINT NOT NULL
);
CREATE INDEX providers_region ON providers (region);
CREATE INDEX providers_reputation ON providers (reputation_bps, address);

CREATE TABLE provider_days (
    provider            TEXT NOT NULL,
    day                 BIGINT NOT NULL,
    leases_opened       BIGINT NOT NULL,
    leases_completed    BIGINT NOT NULL,
    leases_closed_early BIGINT NOT NULL,
    leases_terminated   BIGINT NOT NULL,
    leases_failed_over  BIGINT NOT NULL,
    leases_evicted      BIGINT NOT NULL,
    disputes_won        BIGINT NOT NULL,
    disputes_lost       BIGINT NOT NULL,
    slashes             BIGINT NOT NULL,
    slashed_amount      TEXT NOT NULL,
    compensation        TEXT NOT NULL,
    earned              TEXT NOT NULL,
    paid                TEXT NOT NULL,
    accruable           TEXT NOT NULL,
    block_number        BIGINT NOT NULL,
    PRIMARY KEY (provider, day)
);

CREATE TABLE stakes (
    provider        TEXT NOT NULL,
    token           TEXT NOT NULL,
    staked          TEXT NOT NULL,
    locked          TEXT NOT NULL,
    thawing         TEXT NOT NULL,
    thaw_ends_at    BIGINT NOT NULL,
    block_number    BIGINT NOT NULL,
    PRIMARY KEY (provider, token)
);

CREATE TABLE offers (
    offer_id            BIGINT PRIMARY KEY,
    provider            TEXT NOT NULL,
    token               TEXT NOT NULL,
    price_per_second    BIGINT NOT NULL,
    min_duration        BIGINT NOT NULL,
    max_duration        BIGINT NOT NULL,
    notice_period       BIGINT NOT NULL,
    capacity            BIGINT NOT NULL,
    active_leases       BIGINT NOT NULL,
    paused              BIGINT NOT NULL,
    block_number        BIGINT NOT NULL
);
CREATE INDEX offers_provider ON offers (provider);

CREATE TABLE leases (
    lease_id            BIGINT PRIMARY KEY,
    offer_id            BIGINT NOT NULL,
    tenant              TEXT NOT NULL,
    provider            TEXT NOT NULL,
    token               TEXT NOT NULL,
    started_at          BIGINT NOT NULL,
    ends_at             BIGINT NOT NULL,
    deposit             TEXT NOT NULL,
    settled             TEXT NOT NULL,
    price_per_second    BIGINT NOT NULL,
    params_version      BIGINT NOT NULL,
    settlement_window   BIGINT NOT NULL,
    bond                TEXT NOT NULL,
    notice_period       BIGINT NOT NULL,
    min_ends_at         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    closed_by           TEXT NOT NULL,
    terminated          BIGINT NOT NULL,
    evicted             BIGINT NOT NULL,
    failed_over_to      BIGINT NOT NULL,
    stopped_at          BIGINT NOT NULL,
    block_number        BIGINT NOT NULL
);
CREATE INDEX leases_tenant ON leases (tenant, lease_id);
CREATE INDEX leases_provider ON leases (provider, lease_id);

CREATE TABLE settlements (
    block_number        BIGINT NOT NULL,
    log_index           BIGINT NOT NULL,
    tx_hash             BYTEA NOT NULL,
    lease_id            BIGINT NOT NULL,
    signer              TEXT NOT NULL,
    cumulative_amount   TEXT NOT NULL,
    paid                TEXT NOT NULL,
    fee                 TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX settlements_lease ON settlements (lease_id, block_number, log_index);

CREATE TABLE signers (
    tenant          TEXT NOT NULL,
    signer          TEXT NOT NULL,
    cap             TEXT NOT NULL,
    spent           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    block_number    BIGINT NOT NULL,
    PRIMARY KEY (tenant, signer)
);

CREATE TABLE disputes (
    lease_id        BIGINT PRIMARY KEY,
    tenant_bond     TEXT NOT NULL,
    deadline        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    evidence_uri    TEXT NOT NULL,
    slash_bps       BIGINT NOT NULL,
    block_number    BIGINT NOT NULL
);

CREATE TABLE balances (
    account         TEXT NOT NULL,
    token           TEXT NOT NULL,
    claimable       TEXT NOT NULL,
    block_number    BIGINT NOT NULL,
    PRIMARY KEY (account, token)
);

CREATE TABLE fees (
    token           TEXT PRIMARY KEY,
    owed            TEXT NOT NULL,
    block_number    BIGINT NOT NULL
);

CREATE TABLE params_versions (
    version                 BIGINT PRIMARY KEY,
    effective_at            BIGINT NOT NULL,
    protocol_fee_bps        BIGINT NOT NULL,
    settlement_window       BIGINT NOT NULL,
    bond_bps                BIGINT NOT NULL,
    slash_cut_bps           BIGINT NOT NULL,
    max_dispute_slash_bps   BIGINT NOT NULL,
    dispute_bond_bps        BIGINT NOT NULL,
    dispute_period          BIGINT NOT NULL,
    unbonding_period        BIGINT NOT NULL,
    arbiter                 TEXT NOT NULL,
    block_number            BIGINT NOT NULL
);

CREATE TABLE tokens (
    token           TEXT PRIMARY KEY,
    allowed         BIGINT NOT NULL,
    block_number    BIGINT NOT NULL
);

CREATE TABLE governance (
    id              BIGINT PRIMARY KEY,
    owner           TEXT NOT NULL,
    treasury        TEXT NOT NULL,
    paused          BIGINT NOT NULL,
    block_number    BIGINT NOT NULL
);
