"""Waiting for a service's consumer group to have read what was published (the scenario's catch-up
between two dates of a fault run, and the fault suites' last wait): a broker down or a coordinator
moving is asked again until the deadline; an error that will not pass by itself ends the wait."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import GroupAuthorizationFailedError, NodeNotReadyError
from aiokafka.structs import OffsetAndMetadata

import tools.client
from tools.client import Observed, wait_until_consumed

TOPIC = "matching.events"


def published(partition: int, offset: int) -> Observed:
    """A TeamAccepted record for 石柱县's order, as the observer saw it on the topic."""
    return Observed(TOPIC, partition, offset, b"500240-2027-001", b"{}", (), 0, 0.0, None)


class ScriptedAdmin:
    """Answers each question for committed offsets with the next of `answers` (an error is raised)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0
        self.closed = False

    def __call__(self, **_: Any) -> ScriptedAdmin:
        return self

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True

    async def list_consumer_group_offsets(self, group: str, partitions: list[TopicPartition]) -> Any:
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def committed(offset: int) -> dict[TopicPartition, OffsetAndMetadata]:
    return {TopicPartition(TOPIC, 0): OffsetAndMetadata(offset, "")}


async def test_a_broker_down_is_asked_again_until_the_group_has_read_past_every_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = ScriptedAdmin([NodeNotReadyError("node 3 killed"), committed(3), committed(5)])
    monkeypatch.setattr(tools.client, "AIOKafkaAdminClient", admin)

    await wait_until_consumed("127.0.0.1:9092", "reviews", [published(0, 2), published(0, 4)], timeout_s=10)

    assert admin.asked == 3  # the down node, then offset 3 (behind record 4), then 5: past both
    assert admin.closed


async def test_an_error_that_will_not_pass_ends_the_wait_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = ScriptedAdmin([GroupAuthorizationFailedError("reviews may not describe its group")])
    monkeypatch.setattr(tools.client, "AIOKafkaAdminClient", admin)

    with pytest.raises(GroupAuthorizationFailedError):
        await wait_until_consumed("127.0.0.1:9092", "reviews", [published(0, 0)], timeout_s=10)

    assert admin.asked == 1
    assert admin.closed


async def test_a_broker_down_until_the_deadline_is_named_in_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = ScriptedAdmin([NodeNotReadyError("node 3 killed")])
    monkeypatch.setattr(tools.client, "AIOKafkaAdminClient", admin)

    with pytest.raises(TimeoutError, match=r"consumer group reviews did not get past .*NodeNotReadyError"):
        await wait_until_consumed("127.0.0.1:9092", "reviews", [published(0, 0)], timeout_s=0.3)

    assert admin.asked >= 2
