"""The reviews service as a deployable unit."""

from __future__ import annotations

from pathlib import Path

from services.reviews.adapters.public_results import render_results_page
from services.reviews.handlers import SUBSCRIPTIONS, timers
from services.reviews.settings import load_config
from shared.runtime.service import Page, ServiceDefinition

DEFINITION = ServiceDefinition(
    name="reviews",
    subscriptions=SUBSCRIPTIONS,
    migrations=Path(__file__).resolve().parent / "migrations",
    description="Yearly review cycles, outcome reports, panel scores, grades (考核评估) and public results.",
    timers=timers,
    settings=load_config,
    pages=(Page("/public/results", render_results_page),),
)
