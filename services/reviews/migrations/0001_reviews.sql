-- Read model of published orders (from OrderPublished): the title, place and outcome targets a review needs.
CREATE TABLE published_orders (
    order_id          text        PRIMARY KEY,
    title             text        NOT NULL,
    county_code       text        NOT NULL,
    county_name       text        NOT NULL,
    outcome_targets   jsonb       NOT NULL,
    published_at      timestamptz NOT NULL
);

-- Read model of projects (from TeamAccepted): the team, its people and its service period.
CREATE TABLE projects (
    order_id          text        PRIMARY KEY,
    project_id        text        NOT NULL,
    team_id           text        NOT NULL,
    team_name         text        NOT NULL,
    lead_expert_id    text        NOT NULL,
    lead_name         text        NOT NULL,
    institution       text        NOT NULL,
    people            text[]      NOT NULL,
    service_start     date        NOT NULL,
    service_months    integer     NOT NULL,
    accepted_at       timestamptz NOT NULL
);
CREATE INDEX projects_service_start ON projects (service_start);

CREATE TABLE review_cycles (
    cycle_id            text        PRIMARY KEY,
    year                integer     NOT NULL UNIQUE,
    submission_deadline date        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by           text        NOT NULL,
    opened_at           timestamptz NOT NULL,
    closed_by           text,
    closed_at           timestamptz
);

CREATE TABLE reviews (
    review_id          text         PRIMARY KEY,
    cycle_id           text         NOT NULL REFERENCES review_cycles (cycle_id),
    order_id           text         NOT NULL REFERENCES projects (order_id),
    status             text         NOT NULL CHECK (status IN ('open', 'completed')),
    report_id          text,
    report             jsonb,
    report_accepted_at timestamptz,
    grade              text         CHECK (grade IN ('excellent', 'qualified', 'unqualified')),
    score              numeric(7, 2),
    reason             text,
    rule_version       text,
    completed_at       timestamptz,
    UNIQUE (cycle_id, order_id)
);
CREATE INDEX reviews_open ON reviews (cycle_id) WHERE status = 'open';

-- One reviewer's scores of one review; weighted_score on 0-100 (services/reviews/domain/rubric.py).
CREATE TABLE panel_scores (
    review_id            text          NOT NULL REFERENCES reviews (review_id),
    reviewer_id          text          NOT NULL,
    seq                  bigserial,
    reviewer_name        text          NOT NULL,
    reviewer_institution text          NOT NULL,
    scores               jsonb         NOT NULL,
    weighted_score       numeric(7, 2) NOT NULL,
    rubric_version       text          NOT NULL,
    comment              text,
    recorded_at          timestamptz   NOT NULL,
    PRIMARY KEY (review_id, reviewer_id)
);

CREATE TABLE reviewer_conflicts (
    review_id         text        NOT NULL REFERENCES reviews (review_id),
    reviewer_id       text        NOT NULL,
    reason            text        NOT NULL,
    declared_by       text        NOT NULL,
    declared_at       timestamptz NOT NULL,
    PRIMARY KEY (review_id, reviewer_id)
);

-- Every state change of a review: what, when, caused by which event (or which timer) (audit).
CREATE TABLE review_history (
    review_id         text        NOT NULL REFERENCES reviews (review_id),
    seq               bigserial,
    event_type        text        NOT NULL,
    cause_event_id    text,
    cause_source      text        NOT NULL,
    note              text,
    at                timestamptz NOT NULL,
    PRIMARY KEY (review_id, seq)
);
