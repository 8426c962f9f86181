-- Webhook alerts. Not a mirror of the chain: subscriptions are what operators asked for, and
-- deliveries an outbox written in the same transaction as the alerts' cursor, so that an alert
-- derived from an event is sent (and retried) across restarts exactly once per id. A reorg never
-- rolls these rows back: it adds retractions.
CREATE TABLE alert_subscriptions (
    id                      TEXT PRIMARY KEY,
    url                     TEXT NOT NULL,
    secret                  TEXT NOT NULL,
    -- Comma-separated alert kinds.
    kinds                   TEXT NOT NULL,
    -- Filters; NULL matches any.
    lease_id                BIGINT,
    tenant                  TEXT,
    provider                TEXT,
    runway_below_secs       BIGINT,
    delivered_ratio_below   DOUBLE PRECISION,
    -- Events up to this `/v1/events` id came before the subscription: never alerted.
    after_seq               BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    -- Unix ms before which its oldest pending delivery is not tried again (backoff).
    next_attempt_at         BIGINT NOT NULL
);

CREATE TABLE alert_deliveries (
    id                  TEXT PRIMARY KEY,
    -- Order of creation: a subscription's deliveries go out in this order.
    n                   BIGINT NOT NULL,
    subscription_id     TEXT NOT NULL,
    kind                TEXT NOT NULL,
    -- The block the alert is about: a reorg below it retracts the alert.
    block_number        BIGINT NOT NULL,
    body                TEXT NOT NULL,
    -- pending, delivered, cancelled (retracted before any attempt, or unsubscribed), failed (gave up).
    state               TEXT NOT NULL,
    attempts            BIGINT NOT NULL,
    -- For a retraction: the id of the alert it retracts.
    retracts            TEXT,
    retracted           BIGINT NOT NULL,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    delivered_at        BIGINT
);
CREATE INDEX alert_deliveries_queue ON alert_deliveries (subscription_id, state, n);
CREATE INDEX alert_deliveries_block ON alert_deliveries (block_number);

-- Level alerts (runway, delivered ratio) currently below their threshold: one alert per crossing.
CREATE TABLE alert_levels (
    subscription_id     TEXT NOT NULL,
    subject             TEXT NOT NULL,
    block_number        BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, subject)
);

-- How far alerts were derived: the last `/v1/events` id, and the last delivery number given.
CREATE TABLE alert_cursor (
    id                  BIGINT PRIMARY KEY,
    seq                 BIGINT NOT NULL,
    n                   BIGINT NOT NULL
);
INSERT INTO alert_cursor (id, seq, n) VALUES (1, 0, 0);
