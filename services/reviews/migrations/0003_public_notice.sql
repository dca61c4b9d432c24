-- 公示 and 异议: a closed cycle's results are under public notice until notice_ends_on; a graded
-- review takes effect (final, ReviewCompleted) when the notice ends with no objection pending, when
-- its objection is rejected after the notice, or when the new panel of an upheld objection grades it.
ALTER TABLE review_cycles ADD COLUMN published_on date;
ALTER TABLE review_cycles ADD COLUMN notice_ends_on date;

ALTER TABLE reviews DROP CONSTRAINT reviews_status_check;
-- Before this migration a review's grade took effect when it was graded ('completed').
UPDATE reviews SET status = 'final' WHERE status = 'completed';
ALTER TABLE reviews ADD CONSTRAINT reviews_status_check CHECK (status IN ('open', 'graded', 're_review', 'final'));
ALTER TABLE reviews ADD COLUMN round integer NOT NULL DEFAULT 1;
ALTER TABLE reviews ADD COLUMN earlier_reviewers text[] NOT NULL DEFAULT '{}';
ALTER TABLE reviews ADD COLUMN final_at timestamptz;
CREATE INDEX reviews_graded ON reviews (cycle_id) WHERE status = 'graded';

-- The panel a score belongs to: 1, or the round of a re-review by a new panel.
ALTER TABLE panel_scores ADD COLUMN round integer NOT NULL DEFAULT 1;

CREATE TABLE objections (
    objection_id     text        PRIMARY KEY,
    review_id        text        NOT NULL UNIQUE REFERENCES reviews (review_id),
    grade            text        NOT NULL,
    grounds          text        NOT NULL,
    lodged_by        text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'upheld', 'rejected')),
    decided_by       text,
    decision_reason  text,
    lodged_at        timestamptz NOT NULL,
    decided_at       timestamptz
);

-- A project that ended (ProjectEnded: its rectification failed) is not reviewed in later cycles.
ALTER TABLE projects ADD COLUMN ended_on date;
