"""The one exception a domain raises when a programme rule refuses a request."""

from __future__ import annotations


class RuleBroken(Exception):
    """A business rule refused the request. `rule` is a stable machine-readable code
    (documented in docs/contract/README.md); `reason` says it in words for the sender."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
