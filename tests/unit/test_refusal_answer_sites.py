"""Every `RuleBroken(...)` raise site, read from the source without running it: a reason that names a
person, an institution, a team, a decider or a grade comes with an `answer=` that names none of them
(what the refused sender is told; test_refusal_answers.py shows each such refusal one by one)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NAMING = frozenset(
    {"name", "institution", "team_name", "lead_name", "decided_by", "submitted_by", "lodged_by", "grade"}
)
"""Attributes whose value names a person, an institution, a team, a decider or a grade."""
NOT_SOMEONE = {
    ("services/reviews/domain/rubric.py", "criterion_missing"): "the names of the rubric's criteria",
}
"""Sites whose reason reads a NAMING attribute of something that is no one."""


@dataclass(frozen=True, slots=True)
class Site:
    path: str
    line: int
    rule: str
    reason_names: frozenset[str]
    answer_names: frozenset[str] | None
    """None: the site gives no answer (the sender is told the reason)."""


def raise_sites() -> Iterator[Site]:
    """Every `RuleBroken(...)` in services/ and shared/, with the NAMING attributes its reason and
    its answer read, following the local variables of the enclosing function (`who = ...`)."""
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            local: dict[str, list[ast.expr]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    local.setdefault(node.targets[0].id, []).append(node.value)
            for node in _own_nodes(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "RuleBroken":
                    reason = node.args[1] if len(node.args) > 1 else _keyword(node, "reason")
                    answer = _keyword(node, "answer")
                    assert reason is not None, f"{path}:{node.lineno} has no reason"
                    yield Site(
                        path=str(path.relative_to(ROOT)),
                        line=node.lineno,
                        rule=ast.unparse(node.args[0]).strip("'\""),
                        reason_names=_names(reason, local, set()),
                        answer_names=None if answer is None else _names(answer, local, set()),
                    )


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function, not of the functions defined in it (each is walked on its own)."""
    for child in ast.iter_child_nodes(function):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield child
            yield from _own_nodes(child)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _names(expression: ast.expr, local: dict[str, list[ast.expr]], seen: set[str]) -> frozenset[str]:
    found: set[str] = set()
    bases = {id(n.value) for n in ast.walk(expression) if isinstance(n, ast.Attribute | ast.Subscript)}
    for node in ast.walk(expression):
        if isinstance(node, ast.Attribute) and node.attr in NAMING:
            found.add(node.attr)
        elif isinstance(node, ast.Name) and id(node) not in bases and node.id in local and node.id not in seen:
            seen.add(node.id)
            for value in local[node.id]:
                found |= _names(value, local, seen)
    return frozenset(found)


def test_every_refusal_whose_reason_names_someone_answers_its_sender_without_them() -> None:
    sites = list(raise_sites())
    naming = [s for s in sites if s.reason_names]

    assert len(sites) >= 140, "the walk finds the programme's raise sites"
    assert {
        ("services/reviews/domain/conflicts.py", "reviewer_same_institution"),
        ("services/reviews/domain/model.py", "review_completed"),
        ("services/matching/domain/model.py", "lead_not_qualified"),
        ("services/funding/domain/model.py", "rectification_already_decided"),
    } <= {(s.path, s.rule) for s in naming}, "names read through local variables and calls are found"
    assert set(NOT_SOMEONE) <= {(s.path, s.rule) for s in naming}, "an exemption of a site that changed"
    silent = [
        f"{s.path}:{s.line} {s.rule} names {sorted(s.reason_names)}"
        for s in naming
        if s.answer_names is None and (s.path, s.rule) not in NOT_SOMEONE
    ]
    leaking = [f"{s.path}:{s.line} {s.rule} answers {sorted(s.answer_names)}" for s in sites if s.answer_names]
    assert silent == [], "give these an answer= without the names"
    assert leaking == [], "these answers name someone"
