"""The one exception a domain raises when a programme rule refuses a request."""

from __future__ import annotations


class RuleBroken(Exception):
    """A business rule refused the request. `rule` is a stable machine-readable code
    (documented in docs/contract/README.md); `reason` says it in words for the operator and the
    auditor (the dead letter, the operator's `rejections` topic).

    `answer` is what the sender is told (its own answer topic): only facts the sender may know,
    never another person's name, another institution or another team than the sender's own.
    By default it is `reason`; a rule whose reason names anyone else gives its own answer."""

    def __init__(self, rule: str, reason: str, *, answer: str | None = None) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.answer = reason if answer is None else answer
