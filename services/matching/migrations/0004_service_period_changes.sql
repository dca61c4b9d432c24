-- During the service period: the team's history (who was on it on which day), member changes
-- approved by the bureau, the approved amount of an award, projects ended early or extended.

-- Memberships are periods [valid_from, valid_to): the team of a project on day D is its rows with
-- valid_from <= D < valid_to. A first team is on it from the service period's start; a person who
-- leaves (a member change, the project's end) is free from valid_to on.
ALTER TABLE project_members ADD COLUMN valid_from date NOT NULL DEFAULT '-infinity';
ALTER TABLE project_members ADD COLUMN valid_to date NOT NULL DEFAULT 'infinity';
UPDATE project_members m SET valid_from = p.service_start FROM projects p WHERE p.project_id = m.project_id;
ALTER TABLE project_members ALTER COLUMN valid_from DROP DEFAULT;
ALTER TABLE project_members ADD CONSTRAINT project_members_period CHECK (valid_from <= valid_to);
ALTER TABLE project_members DROP CONSTRAINT project_members_pkey;
ALTER TABLE project_members ADD PRIMARY KEY (project_id, expert_id, valid_from);

-- The service period as it stands (extensions) and as first fixed; the early end.
ALTER TABLE projects ADD COLUMN service_months integer;
ALTER TABLE projects ADD COLUMN original_months integer;
UPDATE projects p SET service_months = a.service_months, original_months = a.service_months
    FROM applications a WHERE a.application_id = p.application_id;
ALTER TABLE projects ALTER COLUMN service_months SET NOT NULL;
ALTER TABLE projects ALTER COLUMN original_months SET NOT NULL;
ALTER TABLE projects ADD COLUMN ended_on date;
ALTER TABLE projects ADD COLUMN ended_reason text;
ALTER TABLE projects DROP CONSTRAINT projects_status_check;
ALTER TABLE projects ADD CONSTRAINT projects_status_check
    CHECK (status IN ('under_notice', 'active', 'ended', 'closed'));
DROP INDEX projects_binding;
CREATE INDEX projects_binding ON projects (service_end) WHERE status IN ('under_notice', 'active', 'ended');

-- The grant the bureau approved with the award (none: what the team asked).
ALTER TABLE awards ADD COLUMN approved_fen bigint CHECK (approved_fen > 0);

-- Member changes (换人) a lead asked for, and the bureau's decision.
CREATE TABLE member_changes (
    change_id         text        PRIMARY KEY,
    order_id          text        NOT NULL,
    project_id        text        NOT NULL REFERENCES projects (project_id),
    team_id           text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('replace', 'add', 'remove')),
    leaving_expert_id text,
    joining_expert_id text,
    joining_role      text        CHECK (joining_role IN ('member', 'local_talent')),
    effective_from    date        NOT NULL,
    reason            text        NOT NULL,
    requested_by      text        NOT NULL,
    requested_at      timestamptz NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    rule              text,
    decided_by        text,
    decision_reason   text,
    decided_at        timestamptz
);
CREATE INDEX member_changes_project ON member_changes (project_id, status);
