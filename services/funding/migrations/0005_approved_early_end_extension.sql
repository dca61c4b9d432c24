-- Issue 20: the approved amount, early ends and extensions, the people who really serve.
-- grants.amount_fen is the grant the bureau approved; asked_fen what the team asked (before this,
-- the ask was the grant). The service period is kept (start and months, extensions included) so an
-- early end can count the days served; ended_on is the day an early end took effect.
ALTER TABLE grants
    ADD COLUMN asked_fen        bigint CHECK (asked_fen > 0),
    ADD COLUMN service_start    date,
    ADD COLUMN service_months   integer CHECK (service_months >= 1),
    ADD COLUMN ended_on         date,
    ADD COLUMN served_share_fen bigint NOT NULL DEFAULT 0 CHECK (served_share_fen >= 0),
    ADD COLUMN returned_fen     bigint NOT NULL DEFAULT 0 CHECK (returned_fen >= 0),
    ADD CONSTRAINT grants_returned_within_forfeited CHECK (returned_fen <= forfeited_fen);
UPDATE grants SET asked_fen = amount_fen;
ALTER TABLE grants ALTER COLUMN asked_fen SET NOT NULL;
-- grants.people entries may carry "joined_on" and "left_on" (ISO dates) after approved member changes.

-- A release of the served share of a tranche at an early end (release_served_share): its amount is
-- at most its tranche's, and it is not counted among the tranches released in full.
ALTER TABLE releases ADD COLUMN served_share boolean NOT NULL DEFAULT false;
