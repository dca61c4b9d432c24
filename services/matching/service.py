"""The matching service as a deployable unit."""

from __future__ import annotations

from pathlib import Path

from services.matching.handlers import SUBSCRIPTIONS, timers
from services.matching.settings import load_config
from shared.runtime.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="matching",
    subscriptions=SUBSCRIPTIONS,
    migrations=Path(__file__).resolve().parent / "migrations",
    settings=load_config,
    timers=timers,
    description="Expert registry, 1+N+1 teams, applications for published orders, the award's public notice "
    "(公示) and objections, TeamAccepted (接单).",
)
