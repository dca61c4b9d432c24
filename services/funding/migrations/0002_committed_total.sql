-- What a year's envelope has committed, kept with the envelope (summing the ledger on every
-- grant grew with the number of grants). The invariants check it against the ledger.
ALTER TABLE budget_years ADD COLUMN committed_fen bigint NOT NULL DEFAULT 0 CHECK (committed_fen >= 0);
UPDATE budget_years y SET committed_fen = y.envelope_fen - coalesce(
    (SELECT sum(amount_fen) FROM journal_lines WHERE account = 'budget:' || y.year), 0);
