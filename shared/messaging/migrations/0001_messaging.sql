-- Inbox: every consumed event, keyed by (source, id), recorded in the same transaction as its effect.
CREATE TABLE inbox (
    source          text        NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    subject         text,
    correlation_id  text,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    value_sha256    bytea       NOT NULL,
    value           bytea       NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('applied', 'rejected', 'dead_lettered')),
    reason_code     text,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (source, event_id)
);
CREATE INDEX inbox_subject ON inbox (subject);
CREATE INDEX inbox_correlation ON inbox (correlation_id);

-- Outbox: every message this service emits, written with the state change that implies it;
-- the relay publishes rows in `seq` order and keeps them (published_at) as the audit trail.
CREATE TABLE outbox (
    seq             bigserial   PRIMARY KEY,
    topic           text        NOT NULL,
    kafka_key       bytea,
    value           bytea       NOT NULL,
    header_names    text[]      NOT NULL DEFAULT '{}',
    header_values   bytea[]     NOT NULL DEFAULT '{}',
    event_id        text,
    event_type      text,
    subject         text,
    correlation_id  text,
    causation_id    text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at    timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_subject ON outbox (subject);
CREATE INDEX outbox_correlation ON outbox (correlation_id);

-- Dead letters: what could not be processed, once per origin record, with the reason.
CREATE TABLE dead_letters (
    id               bigserial   PRIMARY KEY,
    origin_topic     text        NOT NULL,
    origin_partition integer     NOT NULL,
    origin_offset    bigint      NOT NULL,
    reason_code      text        NOT NULL,
    detail           text        NOT NULL,
    event_id         text,
    event_type       text,
    source           text,
    subject          text,
    correlation_id   text,
    kafka_key        bytea,
    value            bytea,
    dead_lettered_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (origin_topic, origin_partition, origin_offset)
);
