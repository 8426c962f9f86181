-- Events are stored raw only (topics, data): the decoded arguments are derived from them when
-- served, so ingestion no longer builds and writes a JSON copy of every log.
ALTER TABLE events DROP COLUMN args;
