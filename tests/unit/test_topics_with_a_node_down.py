"""A service starting while one Kafka node of three is down (killed, restarting, cut off) starts:
an admin request that went to that node is asked again, and another node answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from shared.messaging import kafka as kafka_clients
from shared.messaging import topic_admin
from shared.messaging.topic_admin import TopicReport
from shared.topics import all_topics


class Admin:
    def __init__(self, **options: Any) -> None:
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


def ensure_topics_answering(*outcomes: BaseException | TopicReport) -> tuple[Any, list[Admin]]:
    """topic_admin.ensure_topics raising or returning each outcome in turn; the admins it was given."""
    calls: list[Admin] = []

    async def ensure_topics(admin: Admin, specs: Any, **options: Any) -> TopicReport:
        assert admin.started and not admin.closed
        outcome = outcomes[len(calls)]
        calls.append(admin)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return ensure_topics, calls


def test_topics_are_ensured_once_another_node_answers_for_the_one_that_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = TopicReport(in_order=["matching.inbound"])
    ensure, calls = ensure_topics_answering(NodeNotReadyError("node 3 is not ready"), report)
    monkeypatch.setattr(kafka_clients, "AIOKafkaAdminClient", Admin)
    monkeypatch.setattr(topic_admin, "ensure_topics", ensure)

    found = asyncio.run(kafka_clients.ensure_topics("kafka-1:9092,kafka-2:9092,kafka-3:9092", list(all_topics())))

    assert found is report
    assert len(calls) == 2
    assert calls[0].closed, "the admin client is closed after"


def test_a_refusal_is_not_asked_again_and_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    ensure, calls = ensure_topics_answering(TopicAuthorizationFailedError("service.matching may not describe"))
    monkeypatch.setattr(kafka_clients, "AIOKafkaAdminClient", Admin)
    monkeypatch.setattr(topic_admin, "ensure_topics", ensure)

    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(kafka_clients.ensure_topics("kafka-1:9092", list(all_topics())))
    assert len(calls) == 1
