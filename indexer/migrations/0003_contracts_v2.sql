-- Contracts v2: a provider's attestation key is fixed at registration; a lease keeps the
-- governance parameters version it opened under (and so its own settlement window), and may end
-- by eviction when its tenant leaves service unpaid.
ALTER TABLE providers ADD COLUMN attestation_key TEXT NOT NULL DEFAULT '0x0000000000000000000000000000000000000000';
ALTER TABLE leases ADD COLUMN params_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE leases ADD COLUMN evicted BIGINT NOT NULL DEFAULT 0;
