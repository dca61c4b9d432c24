"""The programme year against an already running stack: the compose profile `e2e` runs this
inside the compose network (`docker compose --profile e2e up --build --exit-code-from e2e-tests
e2e-tests` on a fresh stack). Deselected elsewhere (marker `compose`): it needs that stack."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from shared.kafka_access import KafkaAccess
from shared.topics import SERVICES
from tests.programme_checks import ORDERS, assert_a_consistent_year, state_of
from tools.scenario.demo import play_programme

pytestmark = pytest.mark.compose


def test_a_programme_year_runs_on_the_compose_stack() -> None:
    databases = {name: os.environ[f"E2E_{name.upper()}_DATABASE_URL"] for name in SERVICES}
    narration = io.StringIO()
    report = asyncio.run(
        play_programme(
            # the broker authenticates: KAFKA_SECURITY_PROTOCOL and the operator's credentials
            KafkaAccess.from_environment(os.environ),
            os.environ.get("KAFKA_TOPIC_PREFIX", ""),
            orders=ORDERS,
            out=narration,
            exports_dir=Path(os.environ["E2E_REVIEWS_EXPORT_DIR"]),
            # The services' CLOCK_FILE, shared with this container (a volume), for the calendar.
            clock_file=Path(os.environ["E2E_CLOCK_FILE"]) if "E2E_CLOCK_FILE" in os.environ else None,
        )
    )
    state = asyncio.run(state_of(databases.__getitem__, SERVICES))
    assert_a_consistent_year(report, state, narration.getvalue(), ORDERS)
