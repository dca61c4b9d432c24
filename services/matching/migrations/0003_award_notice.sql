-- Award lists are publicly noticed (公示) before they take effect; applicants the award declined may
-- object (异议) within the notice. Continued support (继续支持) and experts' title grades.

-- Awards: one row per award of an order (its round); at most one not revoked per order.
CREATE TABLE awards (
    award_id          text        PRIMARY KEY,
    order_id          text        NOT NULL REFERENCES published_orders (order_id),
    round             integer     NOT NULL CHECK (round >= 1),
    application_id    text        NOT NULL REFERENCES applications (application_id),
    status            text        NOT NULL CHECK (status IN ('under_notice', 'accepted', 'revoked')),
    announced_on      date        NOT NULL,
    notice_ends_on    date        NOT NULL CHECK (notice_ends_on >= announced_on),
    awarded_by        text        NOT NULL,
    announced_at      timestamptz NOT NULL,
    decided_at        timestamptz,
    correlation_id    text,
    announced_event_id text,
    UNIQUE (order_id, round)
);
CREATE UNIQUE INDEX awards_one_standing_per_order ON awards (order_id) WHERE status <> 'revoked';
CREATE INDEX awards_under_notice ON awards (notice_ends_on) WHERE status = 'under_notice';

CREATE TABLE award_objections (
    objection_id      text        PRIMARY KEY,
    award_id          text        NOT NULL REFERENCES awards (award_id),
    order_id          text        NOT NULL,
    application_id    text        NOT NULL REFERENCES applications (application_id),
    team_id           text        NOT NULL,
    grounds           text        NOT NULL,
    lodged_by         text        NOT NULL,
    lodged_at         timestamptz NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'upheld', 'rejected', 'moot')),
    decided_by        text,
    reason            text,
    decided_at        timestamptz,
    UNIQUE (award_id, application_id)
);
CREATE INDEX award_objections_pending ON award_objections (award_id) WHERE status = 'pending';

-- A project exists from the award: under notice it already binds its people (定人), so that an
-- expert cannot be awarded to two teams at once; a revoked award's project row is deleted.
ALTER TABLE projects DROP CONSTRAINT projects_status_check;
ALTER TABLE projects ADD CONSTRAINT projects_status_check CHECK (status IN ('under_notice', 'active', 'closed'));
ALTER TABLE projects ALTER COLUMN accepted_at DROP NOT NULL;
DROP INDEX projects_active;
CREATE INDEX projects_binding ON projects (service_end) WHERE status IN ('under_notice', 'active');

-- 继续支持: teams that may apply for continued support, through which project (ContinuedFundingEligible).
CREATE TABLE continued_support (
    team_id           text        NOT NULL,
    project_id        text        NOT NULL,
    order_id          text        NOT NULL,
    review_id         text        NOT NULL,
    year              integer     NOT NULL,
    eligible_at       timestamptz NOT NULL,
    PRIMARY KEY (team_id, project_id)
);
ALTER TABLE applications ADD COLUMN continued_support_of text;

ALTER TABLE experts ADD COLUMN title_grade text;
