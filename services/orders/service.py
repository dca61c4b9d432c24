"""The orders service as a deployable unit."""

from __future__ import annotations

from pathlib import Path

from services.orders.handlers import SUBSCRIPTIONS
from shared.runtime.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="orders",
    subscriptions=SUBSCRIPTIONS,
    migrations=Path(__file__).resolve().parent / "migrations",
    description="Villages' demands, county endorsement, publication of orders (订单).",
)
