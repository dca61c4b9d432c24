-- Issue 20: the service actually given (RecordServiceActivity), the team by date (member changes),
-- the site, extended periods and the mid-term check (OpenMidTermCheck).

-- The project's site (定点), from TeamAccepted's place. Projects recorded before this migration
-- have no site known: no activity can be recorded for them until TeamAccepted is replayed.
ALTER TABLE projects ADD COLUMN township text NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN village text;

-- Who is on a project's team, from when up to when (valid_to: the first day off the team; NULL:
-- still on it). From TeamAccepted (valid from the service start) and MemberChangeApproved.
CREATE TABLE team_members (
    order_id     text NOT NULL REFERENCES projects (order_id),
    expert_id    text NOT NULL,
    role         text NOT NULL CHECK (role IN ('lead', 'member', 'local_talent')),
    name         text NOT NULL,
    institution  text NOT NULL,
    valid_from   date NOT NULL,
    valid_to     date,
    PRIMARY KEY (order_id, expert_id, role, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
-- The people of projects accepted before this migration, on the team from the service start
-- (members' names and institutions were not kept: the lead's institution is what conflicts use).
INSERT INTO team_members (order_id, expert_id, role, name, institution, valid_from)
SELECT p.order_id, person, CASE WHEN person = p.lead_expert_id THEN 'lead' ELSE 'member' END,
       CASE WHEN person = p.lead_expert_id THEN p.lead_name ELSE person END,
       CASE WHEN person = p.lead_expert_id THEN p.institution ELSE '' END,
       p.service_start
FROM projects p, unnest(p.people) AS person;

-- Days of service recorded at the site; `request` is the activity as sent (a repeat of the same
-- activity id with other content is refused `id_reused`).
CREATE TABLE service_activities (
    activity_id     text        PRIMARY KEY,
    order_id        text        NOT NULL REFERENCES projects (order_id),
    expert_id       text        NOT NULL,
    on_date         date        NOT NULL,
    kind            text        NOT NULL,
    people_trained  integer     NOT NULL CHECK (people_trained >= 0),
    hours           double precision NOT NULL,
    request         jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX service_activities_by_day ON service_activities (order_id, on_date);

CREATE TABLE mid_term_checks (
    check_id           text        PRIMARY KEY,
    year               integer     NOT NULL,
    as_of              date        NOT NULL,
    opened_by          text        NOT NULL,
    checked            integer     NOT NULL,
    flagged_order_ids  text[]      NOT NULL,
    completed_at       timestamptz NOT NULL
);

-- A project flagged by a check (ProjectFlagged): shown in its yearly review.
CREATE TABLE project_flags (
    check_id       text    NOT NULL REFERENCES mid_term_checks (check_id),
    order_id       text    NOT NULL REFERENCES projects (order_id),
    as_of          date    NOT NULL,
    days_on_site   integer NOT NULL,
    days_expected  integer NOT NULL,
    reasons        text[]  NOT NULL,
    PRIMARY KEY (check_id, order_id)
);
CREATE INDEX project_flags_by_order ON project_flags (order_id);

-- What a grade was given with: the recorded days of the service year and the mid-term flags.
ALTER TABLE reviews ADD COLUMN days_on_site integer;
ALTER TABLE reviews ADD COLUMN mid_term_flags text[] NOT NULL DEFAULT '{}';
