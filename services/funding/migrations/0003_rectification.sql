-- Rectification that ends (限期整改): the team's report, the bureau's decision, or a missed
-- deadline; a project that fails it ends and forfeits what was withheld.
ALTER TABLE grants DROP CONSTRAINT grants_status_check;
ALTER TABLE grants ADD CONSTRAINT grants_status_check
    CHECK (status IN ('held', 'open', 'complete', 'withheld', 'ended'));
ALTER TABLE grants ADD COLUMN forfeited_fen bigint NOT NULL DEFAULT 0 CHECK (forfeited_fen >= 0);

ALTER TABLE rectifications
    ADD COLUMN year            integer,
    ADD COLUMN status          text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'submitted', 'accepted', 'rejected', 'missed')),
    ADD COLUMN report_summary  text,
    ADD COLUMN submitted_by    text,
    ADD COLUMN submitted_at    timestamptz,
    ADD COLUMN decided_by      text,
    ADD COLUMN decision_reason text,
    ADD COLUMN decided_at      timestamptz,
    ADD COLUMN correlation_id  text,
    ADD COLUMN cause_event_id  text;
-- The review's year was only kept in the reason ("2027年度考核不合格，限期整改：…").
UPDATE rectifications SET year = substring(reason FROM '^(\d{4})年度')::integer;
CREATE INDEX rectifications_due ON rectifications (deadline) WHERE status = 'open';
