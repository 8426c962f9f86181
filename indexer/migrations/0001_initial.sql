-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Amounts are decimal text zero-padded to 39 digits (u128), so that text order is numeric order
-- on both backends; the API strips the padding. Booleans are 0/1. Every row carries the block
-- that last changed it (`block_number`): it is final when that block is at or below the cursor's
-- finalized block.

CREATE TABLE cursor (
    id              BIGINT PRIMARY KEY,
    chain_id        BIGINT NOT NULL,
    market          TEXT NOT NULL,
    number          BIGINT NOT NULL,
    hash            TEXT NOT NULL,
    head            BIGINT NOT NULL,
    safe            BIGINT NOT NULL,
    finalized       BIGINT NOT NULL
);

-- The recent block-hash window, for reorg detection.
CREATE TABLE blocks (
    number          BIGINT PRIMARY KEY,
    hash            TEXT NOT NULL,
    parent_hash     TEXT NOT NULL
);

-- Every marketplace log, raw (topics, data) and decoded (name, args as JSON).
CREATE TABLE events (
    block_number    BIGINT NOT NULL,
    log_index       BIGINT NOT NULL,
    block_hash      TEXT NOT NULL,
    block_timestamp BIGINT NOT NULL,
    tx_hash         TEXT NOT NULL,
    name            TEXT NOT NULL,
    topics          TEXT NOT NULL,
    data            TEXT NOT NULL,
    args            TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

CREATE TABLE providers (
    address             TEXT PRIMARY KEY,
    metadata_uri        TEXT NOT NULL,
    endpoint            TEXT NOT NULL,
    region              TEXT NOT NULL,
    attributes_hash     TEXT NOT NULL,
    registered_block    BIGINT NOT NULL,
    leases_completed    BIGINT NOT NULL,
    early_terminations  BIGINT NOT NULL,
    disputes_lost       BIGINT NOT NULL,
    slashed_amount      TEXT NOT NULL,
    total_earned        TEXT NOT NULL,
    reputation_bps      BIGINT NOT NULL,
    block_number        BIGINT NOT NULL
);
CREATE INDEX providers_region ON providers (region);
CREATE INDEX providers_reputation ON providers (reputation_bps, address);

CREATE TABLE stakes (
    provider        TEXT NOT NULL,
    token           TEXT NOT NULL,
    staked          TEXT NOT NULL,
    locked          TEXT NOT NULL,
    free            TEXT NOT NULL,
    thawing         TEXT NOT NULL,
    thaw_ends_at    BIGINT NOT NULL,
    block_number    BIGINT NOT NULL,
    PRIMARY KEY (provider, token)
);

CREATE TABLE offers (
    offer_id            BIGINT PRIMARY KEY,
    provider            TEXT NOT NULL,
    token               TEXT NOT NULL,
    price_per_second    TEXT NOT NULL,
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
    lease_end           BIGINT NOT NULL,
    settlement_deadline BIGINT NOT NULL,
    deposit             TEXT NOT NULL,
    settled             TEXT NOT NULL,
    escrow              TEXT NOT NULL,
    price_per_second    TEXT NOT NULL,
    bond                TEXT NOT NULL,
    notice_period       BIGINT NOT NULL,
    min_ends_at         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    terminated          BIGINT NOT NULL,
    block_number        BIGINT NOT NULL
);
CREATE INDEX leases_tenant ON leases (tenant, lease_id);
CREATE INDEX leases_provider ON leases (provider, lease_id);

CREATE TABLE settlements (
    block_number        BIGINT NOT NULL,
    log_index           BIGINT NOT NULL,
    tx_hash             TEXT NOT NULL,
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

-- Claimable balances (payouts, refunds, slashes) by account and token.
CREATE TABLE balances (
    account         TEXT NOT NULL,
    token           TEXT NOT NULL,
    claimable       TEXT NOT NULL,
    block_number    BIGINT NOT NULL,
    PRIMARY KEY (account, token)
);

-- Protocol fees owed by token.
CREATE TABLE fees (
    token           TEXT PRIMARY KEY,
    owed            TEXT NOT NULL,
    block_number    BIGINT NOT NULL
);

-- Governance: parameters, roles, allow-list, pause; one row per name.
CREATE TABLE params (
    name            TEXT PRIMARY KEY,
    value           TEXT NOT NULL,
    block_number    BIGINT NOT NULL
);
