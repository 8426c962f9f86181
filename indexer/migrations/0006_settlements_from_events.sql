-- A settlement is its `LeaseSettled` event: the events table is indexed by lease instead of
-- copying every settlement into a table of its own (that copy was a third of a backfill's writes).
-- Existing mirrors lack the lease of each event: the mirror starts again from the deploy block.
DROP TABLE settlements;
ALTER TABLE events ADD COLUMN lease_id BIGINT;
CREATE INDEX events_lease ON events (lease_id, seq) WHERE lease_id IS NOT NULL;
ALTER TABLE leases ADD COLUMN settlement_count BIGINT NOT NULL DEFAULT 0;
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
