-- Providers' metadata documents as the indexer last fetched them, checked against the attributes
-- hash registered on chain. Not a mirror of the chain: a row holds for the URI and hash it names,
-- and a provider whose registration changed (or a reorg that changed it) is simply checked again.
CREATE TABLE provider_metadata (
    provider            TEXT PRIMARY KEY,
    metadata_uri        TEXT NOT NULL,
    attributes_hash     BYTEA NOT NULL,
    -- verified, mismatch or unreachable.
    status              TEXT NOT NULL,
    -- The document, when verified.
    document            TEXT,
    detail              TEXT,
    checked_at          BIGINT NOT NULL,
    -- Failed fetches in a row: the backoff.
    failures            BIGINT NOT NULL,
    next_check_at       BIGINT NOT NULL
);
