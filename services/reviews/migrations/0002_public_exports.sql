-- The public export files of each closed cycle (JSON and CSV), written once the closing has
-- committed, never inside its transaction. A row stays unwritten until its files are on disk:
-- the `public-exports` timer writes any a crash left behind (files are replaced atomically).
CREATE TABLE public_exports (
    cycle_id    text        PRIMARY KEY REFERENCES review_cycles (cycle_id),
    published   jsonb       NOT NULL,
    queued_at   timestamptz NOT NULL,
    written_at  timestamptz
);
CREATE INDEX public_exports_unwritten ON public_exports (queued_at) WHERE written_at IS NULL;
