"""The double-entry ledger of the programme's money. Pure: builds balanced entries.

Accounts (balances in fen; every entry's lines add up to zero):

    appropriation:<year>  the source of a year's budget (negative: what was appropriated)
    budget:<year>         envelope not yet committed to a grant
    committed:<grant>     granted, not yet released
    released:<grant>      released to the treasury, not yet confirmed paid
    paid:<grant>          paid by the treasury
    withheld:<grant>      withheld after an unqualified review, until its rectification is decided
    forfeited:<grant>     money the project lost when it ended: withheld money after a failed
                          rectification (rejected or no report by the deadline: it stays here, never
                          returned to the budget), or what an early end did not release (it passes
                          through here back to budget:<year>, `give_back`)

Rectification (限期整改) moves withheld money one of two ways: accepted, `restore` moves it back
to committed:<grant> (and the failed year's tranche is then released as usual); rejected or
missed, `forfeit` moves it to forfeited:<grant> and the project ends.

An early end (ProjectEndedEarly) forfeits what was not released (`forfeit_at_end`: committed and
withheld -> forfeited:<grant>) and gives it back to the year's envelope (`give_back`: forfeited ->
budget:<year>; the year's committed total falls by as much). So for every grant:
granted = committed + released + paid + withheld + forfeited + given back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    memo: str
    lines: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if sum(amount for _, amount in self.lines) != 0:
            raise ValueError(f"unbalanced ledger entry {self.kind}: {self.lines}")
        if any(amount == 0 for _, amount in self.lines):
            raise ValueError(f"ledger entry {self.kind} has a zero line")


def _move(kind: str, memo: str, source: str, target: str, amount_fen: int) -> Entry:
    if amount_fen <= 0:
        raise ValueError(f"{kind}: amounts moved must be positive, got {amount_fen}")
    return Entry(kind, memo, ((source, -amount_fen), (target, amount_fen)))


def appropriate(year: int, delta_fen: int, memo: str) -> Entry:
    """Change a year's envelope by delta (positive raises it, negative lowers it)."""
    if delta_fen > 0:
        return _move("appropriate", memo, f"appropriation:{year}", f"budget:{year}", delta_fen)
    return _move("appropriate", memo, f"budget:{year}", f"appropriation:{year}", -delta_fen)


def commit(year: int, grant_id: str, amount_fen: int) -> Entry:
    return _move("commit", f"grant {grant_id} opened", f"budget:{year}", f"committed:{grant_id}", amount_fen)


def release(grant_id: str, release_id: str, amount_fen: int) -> Entry:
    return _move("release", f"{release_id} released", f"committed:{grant_id}", f"released:{grant_id}", amount_fen)


def pay(grant_id: str, release_id: str, amount_fen: int) -> Entry:
    return _move("pay", f"{release_id} paid", f"released:{grant_id}", f"paid:{grant_id}", amount_fen)


def withhold(grant_id: str, review_id: str, amount_fen: int) -> Entry:
    return _move("withhold", f"withheld after {review_id}", f"committed:{grant_id}", f"withheld:{grant_id}", amount_fen)


def restore(grant_id: str, review_id: str, amount_fen: int) -> Entry:
    """Withheld money committed to the grant again after its rectification was accepted."""
    return _move(
        "restore",
        f"restored after the rectification of {review_id} was accepted",
        f"withheld:{grant_id}",
        f"committed:{grant_id}",
        amount_fen,
    )


def forfeit(grant_id: str, review_id: str, amount_fen: int) -> Entry:
    """Withheld money the project lost when it ended after a failed rectification."""
    return _move(
        "forfeit",
        f"forfeited: the rectification of {review_id} failed",
        f"withheld:{grant_id}",
        f"forfeited:{grant_id}",
        amount_fen,
    )


def forfeit_at_end(grant_id: str, source: str, amount_fen: int, reason: str) -> Entry:
    """Money a project ended early did not release: its `committed` or `withheld` balance, forfeited."""
    return _move(
        "forfeit", f"forfeited at the early end: {reason}", f"{source}:{grant_id}", f"forfeited:{grant_id}", amount_fen
    )


def give_back(year: int, grant_id: str, amount_fen: int) -> Entry:
    """Forfeited money of a project ended early, back to its budget year's envelope (uncommitted)."""
    return _move(
        "give_back",
        f"forfeited by {grant_id}, back to the {year} envelope",
        f"forfeited:{grant_id}",
        f"budget:{year}",
        amount_fen,
    )
