CREATE TABLE orders (
    order_id        text        PRIMARY KEY,
    county_code     text        NOT NULL,
    county_name     text        NOT NULL,
    township        text        NOT NULL,
    village         text,
    deep_poverty    boolean     NOT NULL,
    industry        text        NOT NULL,
    title           text        NOT NULL,
    demand          jsonb       NOT NULL,
    funding_asked_fen bigint    NOT NULL CHECK (funding_asked_fen >= 0),
    service_start   date        NOT NULL,
    service_months  integer     NOT NULL,
    submitted_by    text        NOT NULL,
    status          text        NOT NULL,
    revision        integer     NOT NULL,
    call            text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_county ON orders (county_code);

-- Every state change of an order: what, when, by whom, caused by which event (audit).
CREATE TABLE order_history (
    order_id        text        NOT NULL REFERENCES orders (order_id),
    seq             bigserial,
    status          text        NOT NULL,
    event_type      text        NOT NULL,
    cause_event_id  text        NOT NULL,
    cause_source    text        NOT NULL,
    decided_by      text        NOT NULL,
    note            text,
    at              timestamptz NOT NULL,
    PRIMARY KEY (order_id, seq)
);
