-- Incentives as policy, once per person per service period, and continued support (继续支持).
-- grants.people keeps each person's title grade and title (jsonb keys "title_grade", "title");
-- rows written before this have neither and are read as unknown (not eligible for the early title
-- evaluation), never guessed.
ALTER TABLE grants ADD COLUMN continued_support_of text;

-- An incentive is granted once per person, kind and project (ids I-<order>-<expert>-title|talent);
-- what a project already granted is read by project, rows with the old per-review ids included.
CREATE INDEX incentives_project ON incentives (project_id, expert_id, kind);
