"""The funding service as a deployable unit."""

from __future__ import annotations

from pathlib import Path

from services.funding.handlers import SUBSCRIPTIONS, TIMERS
from shared.runtime.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="funding",
    subscriptions=SUBSCRIPTIONS,
    migrations=Path(__file__).resolve().parent / "migrations",
    description="Grants, tranches, the double-entry ledger, payments, review consequences, incentives (资助).",
    timers=TIMERS,
)
