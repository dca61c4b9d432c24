"""The matching service as a deployable unit."""

from __future__ import annotations

from pathlib import Path

from services.matching.handlers import SUBSCRIPTIONS
from services.matching.settings import load_weights
from shared.runtime.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="matching",
    subscriptions=SUBSCRIPTIONS,
    migrations=Path(__file__).resolve().parent / "migrations",
    settings=load_weights,
    description="Expert registry, 1+N+1 teams, applications for published orders, TeamAccepted (接单).",
)
