"""Every service definition, for the tools that need all of them (contract documents, CLI)."""

from __future__ import annotations

from services.matching.service import DEFINITION as MATCHING
from services.orders.service import DEFINITION as ORDERS
from shared.runtime.service import ServiceDefinition

DEFINITIONS: tuple[ServiceDefinition, ...] = (ORDERS, MATCHING)
