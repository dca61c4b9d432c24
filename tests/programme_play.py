"""The seed programme played from outside a running stack (the end-to-end restart test, the
compose runs): the partner client, an observer of every service's events, rejections and dead
letters, and the scenario's run over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

from shared.kafka_access import KafkaAccess
from shared.topics import REJECTIONS, SERVICES, deadletter, events
from tests.programme_checks import ORDERS
from tools.client import ProgrammeClient, TopicObserver
from tools.keyring import Keyring, Operator
from tools.scenario.programme import ProgrammeRun
from tools.scenario.seed import generate

WATCHED = [*(events(s) for s in SERVICES), REJECTIONS, *(deadletter(s) for s in SERVICES)]
"""What the observer reads: every service's events, the rejections and the dead letters."""


@asynccontextmanager
async def seed_programme(
    kafka: KafkaAccess,
    keyring: Keyring,
    narration: TextIO,
    exports_dir: Path,
    clock_file: Path,
    orders: int = ORDERS,
    *,
    operator: Operator,
) -> AsyncIterator[tuple[ProgrammeRun, TopicObserver]]:
    """The seeded programme (seed 2019) ready to play, and the observer it answers from."""
    async with (
        ProgrammeClient(kafka, keyring=keyring, enrol=True, operator=operator) as client,
        TopicObserver(kafka, WATCHED) as observer,
    ):
        run = ProgrammeRun(
            client,
            observer,
            generate(orders, seed=2019),
            out=narration,
            exports_dir=exports_dir,
            clock_file=clock_file,
        )
        yield run, observer
