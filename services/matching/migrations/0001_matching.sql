-- The talent registry's experts, as far as the programme needs them.
CREATE TABLE experts (
    expert_id         text        PRIMARY KEY,
    name              text        NOT NULL,
    institution       text        NOT NULL,
    title             text,
    qualifications    text[]      NOT NULL,
    specialties       text[]      NOT NULL,
    local_county_code text,
    registered_at     timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX experts_specialties ON experts USING gin (specialties);
CREATE INDEX experts_local_county ON experts (local_county_code);

-- Read model of published orders (from OrderPublished / OrderCancelled).
CREATE TABLE published_orders (
    order_id          text        PRIMARY KEY,
    county_code       text        NOT NULL,
    place             jsonb       NOT NULL,
    industry          text        NOT NULL,
    needs             text[]      NOT NULL,
    title             text        NOT NULL,
    call              text        NOT NULL,
    service_start     date        NOT NULL,
    service_months    integer     NOT NULL,
    funding_asked_fen bigint      NOT NULL,
    status            text        NOT NULL,
    awarded_application_id text,
    published_at      timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX published_orders_call ON published_orders (call, status);

CREATE TABLE applications (
    application_id    text        PRIMARY KEY,
    order_id          text        NOT NULL REFERENCES published_orders (order_id),
    team_id           text        NOT NULL,
    team_name         text        NOT NULL,
    lead_expert_id    text        NOT NULL,
    member_ids        text[]      NOT NULL,
    local_talent_ids  text[]      NOT NULL,
    plan              text        NOT NULL,
    site              text        NOT NULL,
    service_start     date        NOT NULL,
    service_months    integer     NOT NULL,
    funding_asked_fen bigint      NOT NULL,
    status            text        NOT NULL,
    decided_reason    text,
    received_at       timestamptz NOT NULL,
    decided_at        timestamptz
);
CREATE INDEX applications_order ON applications (order_id, status);
CREATE INDEX applications_team ON applications (team_id);

-- Projects: an order taken by a team (TeamAccepted); their people are on an active team.
CREATE TABLE projects (
    project_id        text        PRIMARY KEY,
    order_id          text        NOT NULL UNIQUE,
    application_id    text        NOT NULL UNIQUE,
    team_id           text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'closed')),
    accepted_at       timestamptz NOT NULL
);
CREATE TABLE project_members (
    project_id        text        NOT NULL REFERENCES projects (project_id),
    expert_id         text        NOT NULL,
    role              text        NOT NULL CHECK (role IN ('lead', 'member', 'local_talent')),
    PRIMARY KEY (project_id, expert_id)
);
CREATE INDEX project_members_expert ON project_members (expert_id);

-- Suspensions from applying (a team id or an expert id), from the funding service.
CREATE TABLE suspensions (
    suspended_id      text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('team', 'expert')),
    review_id         text        NOT NULL,
    suspended_from    date        NOT NULL,
    suspended_until   date        NOT NULL,
    reason            text        NOT NULL,
    lifted_at         timestamptz,
    PRIMARY KEY (suspended_id, review_id)
);
