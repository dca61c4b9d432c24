"""The ledger's invariants, checked against the database. Tests call this after every scenario;
an operator can too (`expert-teams` does not need it to be right: the schema enforces balance
per entry and append-only at commit, and UNIQUE (grant, tranche) forbids a second release)."""

from __future__ import annotations

from shared.db.types import Connection

CHECKS: dict[str, str] = {
    "every ledger entry balances (Σ lines = 0)": """
        SELECT 'entry ' || entry_id || ' sums to ' || sum(amount_fen)
        FROM journal_lines GROUP BY entry_id HAVING sum(amount_fen) <> 0
    """,
    "no budget, committed, released, paid, withheld or forfeited balance is negative": """
        SELECT account || ' = ' || balance_fen FROM account_balances
        WHERE kind IN ('budget', 'committed', 'released', 'paid', 'withheld', 'forfeited') AND balance_fen < 0
    """,
    "an open grant's money is all accounted for "
    "(committed + released + paid + withheld + forfeited + given back to the budget = grant)": """
        SELECT g.grant_id || ': ' || coalesce(sum(b.balance_fen), 0) || ' + ' || g.returned_fen || ' given back of '
               || g.amount_fen
        FROM grants g LEFT JOIN account_balances b ON b.owner = g.grant_id
        WHERE g.status <> 'held' GROUP BY g.grant_id, g.amount_fen, g.returned_fen
        HAVING coalesce(sum(b.balance_fen), 0) + g.returned_fen <> g.amount_fen
    """,
    "a grant's withheld and forfeited money (less what was given back to the budget) is what the ledger "
    "holds in withheld:<grant> and forfeited:<grant>": """
        SELECT g.grant_id || ': withheld ' || g.withheld_fen || ' vs ledger ' || coalesce(w.balance_fen, 0)
               || ', forfeited ' || g.forfeited_fen || ' - given back ' || g.returned_fen || ' vs ledger '
               || coalesce(f.balance_fen, 0)
        FROM grants g
        LEFT JOIN account_balances w ON w.account = 'withheld:' || g.grant_id
        LEFT JOIN account_balances f ON f.account = 'forfeited:' || g.grant_id
        WHERE g.withheld_fen <> coalesce(w.balance_fen, 0)
           OR g.forfeited_fen - g.returned_fen <> coalesce(f.balance_fen, 0)
    """,
    "only money forfeited at an early end goes back to the budget, and only once": """
        SELECT g.grant_id || ': given back ' || g.returned_fen || ' (ledger ' || coalesce(sum(l.amount_fen), 0)
               || '), forfeited ' || g.forfeited_fen || ', ended on ' || coalesce(g.ended_on::text, 'none')
        FROM grants g
        LEFT JOIN journal_entries e ON e.grant_id = g.grant_id AND e.kind = 'give_back'
        LEFT JOIN journal_lines l ON l.entry_id = e.entry_id AND l.account LIKE 'budget:%'
        GROUP BY g.grant_id, g.returned_fen, g.forfeited_fen, g.ended_on, g.status
        HAVING g.returned_fen > g.forfeited_fen
            OR (g.returned_fen > 0 AND (g.ended_on IS NULL OR g.status <> 'ended'))
            OR (g.status <> 'held' AND coalesce(sum(l.amount_fen), 0) <> g.returned_fen
                AND NOT (g.returned_fen = g.amount_fen AND coalesce(sum(l.amount_fen), 0) = 0))
    """,
    "an ended grant has nothing committed or withheld left, and only an ended grant forfeited money": """
        SELECT g.grant_id || ' (' || g.status || '): ' || b.kind || ' ' || b.balance_fen
        FROM grants g JOIN account_balances b ON b.owner = g.grant_id
        WHERE (g.status = 'ended' AND b.kind IN ('committed', 'withheld') AND b.balance_fen <> 0)
           OR (g.status <> 'ended' AND b.kind = 'forfeited' AND b.balance_fen <> 0)
    """,
    "a held grant has no money": """
        SELECT g.grant_id || ' holds ' || sum(b.balance_fen)
        FROM grants g JOIN account_balances b ON b.owner = g.grant_id
        WHERE g.status = 'held' GROUP BY g.grant_id HAVING sum(b.balance_fen) <> 0
    """,
    "released never exceeds granted": """
        SELECT r.grant_id || ': released ' || sum(r.amount_fen) || ' > ' || max(g.amount_fen)
        FROM releases r JOIN grants g USING (grant_id) GROUP BY r.grant_id HAVING sum(r.amount_fen) > max(g.amount_fen)
    """,
    "the ledger's released + paid equals the releases issued": """
        SELECT g.grant_id || ': ledger ' || coalesce(l.total, 0) || ' vs releases ' || coalesce(r.total, 0)
        FROM grants g
        LEFT JOIN (SELECT owner, sum(balance_fen) AS total FROM account_balances
                   WHERE kind IN ('released', 'paid') GROUP BY owner) l ON l.owner = g.grant_id
        LEFT JOIN (SELECT grant_id, sum(amount_fen) AS total FROM releases GROUP BY grant_id) r USING (grant_id)
        WHERE coalesce(l.total, 0) <> coalesce(r.total, 0)
    """,
    "the ledger's paid equals the releases the treasury confirmed": """
        SELECT g.grant_id || ': paid ' || coalesce(l.total, 0) || ' vs confirmed ' || coalesce(r.total, 0)
        FROM grants g
        LEFT JOIN (SELECT owner, balance_fen AS total FROM account_balances WHERE kind = 'paid') l
               ON l.owner = g.grant_id
        LEFT JOIN (SELECT grant_id, sum(amount_fen) AS total FROM releases WHERE status = 'paid' GROUP BY grant_id) r
               USING (grant_id)
        WHERE coalesce(l.total, 0) <> coalesce(r.total, 0)
    """,
    "a complete grant released exactly its amount": """
        SELECT g.grant_id || ': released ' || coalesce(sum(r.amount_fen), 0) || ' of ' || g.amount_fen
        FROM grants g LEFT JOIN releases r USING (grant_id)
        WHERE g.status = 'complete' GROUP BY g.grant_id, g.amount_fen
        HAVING coalesce(sum(r.amount_fen), 0) <> g.amount_fen
    """,
    "each release is its tranche of the schedule": """
        SELECT r.release_id || ': ' || r.amount_fen || ' vs schedule '
               || (g.tranches -> (r.tranche - 1) ->> 'amount_fen')
        FROM releases r JOIN grants g USING (grant_id)
        WHERE NOT r.served_share
          AND (g.tranches -> (r.tranche - 1) ->> 'amount_fen')::bigint IS DISTINCT FROM r.amount_fen
    """,
    "a served-share release is of an ended grant, at most its tranche, and is the grant's served share": """
        SELECT r.release_id || ': ' || r.amount_fen || ' of tranche '
               || (g.tranches -> (r.tranche - 1) ->> 'amount_fen') || ', grant ' || g.status
               || ' with served share ' || g.served_share_fen
        FROM releases r JOIN grants g USING (grant_id)
        WHERE r.served_share AND (g.status <> 'ended' OR r.amount_fen <> g.served_share_fen
              OR r.tranche <= g.released_tranches
              OR r.amount_fen > (g.tranches -> (r.tranche - 1) ->> 'amount_fen')::bigint)
    """,
    "a grant's released tranches match its releases (of whole tranches)": """
        SELECT g.grant_id || ': ' || g.released_tranches || ' tranches vs '
               || count(r.release_id) FILTER (WHERE NOT r.served_share) || ' releases'
        FROM grants g LEFT JOIN releases r USING (grant_id)
        GROUP BY g.grant_id, g.released_tranches
        HAVING g.released_tranches <> count(r.release_id) FILTER (WHERE NOT r.served_share)
            OR count(r.release_id) FILTER (WHERE r.served_share) > 1
    """,
    "a year's committed total is what its open grants committed in the ledger, less what they gave back": """
        SELECT y.year || ': committed ' || y.committed_fen || ' vs ledger ' || coalesce(c.total, 0)
        FROM budget_years y
        LEFT JOIN (SELECT budget_year, sum(amount_fen - returned_fen) AS total FROM grants WHERE status <> 'held'
                   GROUP BY budget_year) c ON c.budget_year = y.year
        WHERE y.committed_fen <> coalesce(c.total, 0)
    """,
    "a year's uncommitted budget is its envelope minus its open grants (less what they gave back)": """
        SELECT y.year || ': budget ' || coalesce(b.balance_fen, 0) || ' vs ' || (y.envelope_fen - coalesce(c.total, 0))
        FROM budget_years y
        LEFT JOIN account_balances b ON b.account = 'budget:' || y.year
        LEFT JOIN (SELECT budget_year, sum(amount_fen - returned_fen) AS total FROM grants WHERE status <> 'held'
                   GROUP BY budget_year) c ON c.budget_year = y.year
        WHERE coalesce(b.balance_fen, 0) <> y.envelope_fen - coalesce(c.total, 0)
    """,
}


async def ledger_violations(conn: Connection) -> list[str]:
    """Every broken invariant, in words; empty when the books are right."""
    problems = []
    for invariant, query in CHECKS.items():
        for row in await conn.fetch(query):
            problems.append(f"{invariant}: {row[0]}")
    return problems
