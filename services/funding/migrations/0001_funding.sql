-- Each year's budget envelope (the ledger holds the money; this holds the decision).
CREATE TABLE budget_years (
    year         integer     PRIMARY KEY,
    envelope_fen bigint      NOT NULL CHECK (envelope_fen >= 0),
    set_by       text        NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE grants (
    grant_id          text        PRIMARY KEY,
    project_id        text        NOT NULL UNIQUE,
    order_id          text        NOT NULL UNIQUE,
    team_id           text        NOT NULL,
    payee             jsonb       NOT NULL,
    lead_expert_id    text        NOT NULL,
    people            jsonb       NOT NULL,
    amount_fen        bigint      NOT NULL CHECK (amount_fen > 0),
    budget_year       integer     NOT NULL,
    tranches          jsonb       NOT NULL,
    status            text        NOT NULL CHECK (status IN ('held', 'open', 'complete', 'withheld')),
    released_tranches integer     NOT NULL DEFAULT 0 CHECK (released_tranches >= 0),
    withheld_fen      bigint      NOT NULL DEFAULT 0 CHECK (withheld_fen >= 0),
    held_reason       text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX grants_held ON grants (budget_year, created_at) WHERE status = 'held';

-- One row per release: the UNIQUE key is why no tranche can ever be released twice.
CREATE TABLE releases (
    release_id        text        PRIMARY KEY,
    grant_id          text        NOT NULL REFERENCES grants (grant_id),
    order_id          text        NOT NULL,
    tranche           integer     NOT NULL CHECK (tranche >= 1),
    amount_fen        bigint      NOT NULL CHECK (amount_fen > 0),
    status            text        NOT NULL CHECK (status IN ('instructed', 'retrying', 'escalated', 'paid')),
    attempts          integer     NOT NULL CHECK (attempts >= 1),
    last_failure      text,
    payment_reference text,
    paid_on           date,
    released_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (grant_id, tranche)
);

-- The double-entry journal: append-only, every entry balanced (checked by the database at commit).
CREATE TABLE journal_entries (
    entry_id       bigserial   PRIMARY KEY,
    kind           text        NOT NULL,
    memo           text        NOT NULL,
    grant_id       text,
    cause_event_id text,
    at             timestamptz NOT NULL
);
CREATE TABLE journal_lines (
    entry_id   bigint NOT NULL REFERENCES journal_entries (entry_id),
    account    text   NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen <> 0)
);
CREATE INDEX journal_lines_account ON journal_lines (account);
CREATE INDEX journal_lines_entry ON journal_lines (entry_id);

CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount_fen), 0) FROM journal_lines WHERE entry_id = NEW.entry_id) <> 0 THEN
        RAISE EXCEPTION 'ledger entry % is not balanced', NEW.entry_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();

CREATE VIEW account_balances AS
    SELECT account, split_part(account, ':', 1) AS kind, split_part(account, ':', 2) AS owner,
           sum(amount_fen) AS balance_fen
    FROM journal_lines GROUP BY account;

-- A review's consequence applies once, whatever event id carries it.
CREATE TABLE review_consequences (
    review_id  text        PRIMARY KEY,
    grant_id   text        NOT NULL REFERENCES grants (grant_id),
    grade      text        NOT NULL,
    summary    text        NOT NULL,
    applied_at timestamptz NOT NULL
);

CREATE TABLE incentives (
    incentive_id text        PRIMARY KEY,
    expert_id    text        NOT NULL,
    expert_name  text        NOT NULL,
    kind         text        NOT NULL,
    project_id   text        NOT NULL,
    order_id     text        NOT NULL,
    review_id    text        NOT NULL,
    grade        text        NOT NULL,
    reason       text        NOT NULL,
    granted_at   timestamptz NOT NULL,
    UNIQUE (expert_id, review_id, kind)
);
CREATE INDEX incentives_expert ON incentives (expert_id);

CREATE TABLE rectifications (
    review_id  text        PRIMARY KEY,
    order_id   text        NOT NULL,
    team_id    text        NOT NULL,
    deadline   date        NOT NULL,
    reason     text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE suspensions (
    review_id       text        PRIMARY KEY,
    team_id         text        NOT NULL,
    lead_expert_id  text        NOT NULL,
    suspended_from  date        NOT NULL,
    suspended_until date        NOT NULL,
    correlation_id  text        NOT NULL,
    cause_event_id  text        NOT NULL,
    lifted_at       timestamptz
);
CREATE INDEX suspensions_due ON suspensions (suspended_until) WHERE lifted_at IS NULL;
