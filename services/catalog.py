"""Every service definition, for the tools that need all of them (contract documents, CLI)."""

from __future__ import annotations

from services.funding.service import DEFINITION as FUNDING
from services.matching.service import DEFINITION as MATCHING
from services.orders.service import DEFINITION as ORDERS
from services.reviews.service import DEFINITION as REVIEWS
from shared.runtime.service import ServiceDefinition

DEFINITIONS: tuple[ServiceDefinition, ...] = (ORDERS, MATCHING, FUNDING, REVIEWS)
