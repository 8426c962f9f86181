-- The market's running totals per token (and, under the zero address, its counts in no token):
-- `/v1/stats` and the console's market page read these rows instead of summing every lease,
-- stake and fee, so they cost the same at any size. Ingestion keeps them as it changes the rows
-- they sum (undone by a reorg like any row); an existing mirror starts again from the deploy
-- block to derive them.
CREATE TABLE totals (
    token               TEXT PRIMARY KEY,
    providers           BIGINT NOT NULL,
    offers              BIGINT NOT NULL,
    open_leases         BIGINT NOT NULL,
    evicted_leases      BIGINT NOT NULL,
    finalized_leases    BIGINT NOT NULL,
    unanswered_demands  BIGINT NOT NULL,
    settlements         BIGINT NOT NULL,
    open_disputes       BIGINT NOT NULL,
    events              BIGINT NOT NULL,
    escrow              TEXT NOT NULL,
    settled             TEXT NOT NULL,
    staked              TEXT NOT NULL,
    fees_owed           TEXT NOT NULL,
    block_number        BIGINT NOT NULL
);
DELETE FROM cursor;
DELETE FROM blocks;
DELETE FROM undo;
DELETE FROM events;
DELETE FROM retractions;
DELETE FROM providers;
DELETE FROM provider_days;
DELETE FROM stakes;
DELETE FROM offers;
DELETE FROM leases;
DELETE FROM signers;
DELETE FROM disputes;
DELETE FROM balances;
DELETE FROM fees;
DELETE FROM params_versions;
DELETE FROM tokens;
DELETE FROM governance;
