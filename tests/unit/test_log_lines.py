"""What an operator reads about a message: one line with the service, event type, subject,
correlation id and the trace id that leads to the order's trace; JSON for machines, plain words
on a terminal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.contract.envelope import new_envelope
from shared.logging import configure_logging
from shared.messaging.deadletter import DeadLetter
from shared.messaging.outcomes import Outcome, log_outcome
from shared.messaging.records import Record

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def keep_the_sessions_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def refused_demand(**extensions: str) -> Outcome:
    envelope = new_envelope(
        source="/counties/500240",
        type="DemandSubmitted",
        subject="500240-2027-001",
        data={"order_id": "500240-2027-001"},
        time=datetime(2027, 3, 1, 9, 0, tzinfo=UTC),
        correlation_id="corr-石柱-天麻",
        extensions=extensions,
    )
    record = Record("orders.inbound", 2, 40, b"500240-2027-001", b"{}", ())
    letter = DeadLetter("business_rule", "asked 250,000.00 元, over the range", rule="funding_out_of_range")
    return Outcome("rejected", record, envelope, letter=letter)


def test_a_json_line_about_a_refused_event_names_its_service_type_subject_correlation_and_trace() -> None:
    stream = io.StringIO()
    configure_logging("orders", fmt="json", stream=stream)
    log_outcome("orders", refused_demand(traceparent=TRACEPARENT))
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event"] == "event rejected by a programme rule; sender answered"
    assert line["level"] == "warning"
    assert {k: line[k] for k in ("service", "event_type", "subject", "correlation_id", "trace_id", "rule")} == {
        "service": "orders",
        "event_type": "DemandSubmitted",
        "subject": "500240-2027-001",
        "correlation_id": "corr-石柱-天麻",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "rule": "funding_out_of_range",
    }
    assert line["origin"] == "orders.inbound:2:40"


def test_an_event_without_trace_context_is_logged_without_a_trace_id() -> None:
    stream = io.StringIO()
    configure_logging("orders", fmt="json", stream=stream)
    log_outcome("orders", refused_demand())
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert "trace_id" not in line and line["subject"] == "500240-2027-001"


def test_on_a_terminal_the_line_is_words_and_fields_not_json() -> None:
    stream = io.StringIO()
    configure_logging("orders", fmt="console", stream=stream)
    log_outcome("orders", refused_demand(traceparent=TRACEPARENT))
    text = stream.getvalue()
    assert not text.lstrip().startswith("{")
    assert "event rejected by a programme rule; sender answered" in text
    assert "trace_id=4bf92f3577b34da6a3ce929d0e0e4736" in text
    assert "subject=500240-2027-001" in text


def test_a_logger_made_before_the_logging_was_set_again_writes_where_it_now_goes() -> None:
    import structlog

    cached = structlog.get_logger("services.orders.handlers")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("orders", fmt="json", stream=first)
    cached.info("order submitted by county", county="石柱县")
    configure_logging("funding", fmt="json", stream=second, level="WARNING")
    cached.info("grant opened", project_id="P-500240-2027-001")
    cached.warning("tranche held", project_id="P-500240-2027-001")
    (written_first,) = [json.loads(text) for text in first.getvalue().splitlines()]
    (written_second,) = [json.loads(text) for text in second.getvalue().splitlines()]
    assert (written_first["event"], written_first["service"], written_first["county"]) == (
        "order submitted by county",
        "orders",
        "石柱县",
    )
    assert (written_second["event"], written_second["service"], written_second["level"]) == (
        "tranche held",
        "funding",
        "warning",
    )


def test_a_failure_is_logged_with_its_traceback_and_library_lines_in_the_same_format() -> None:
    import structlog

    stream = io.StringIO()
    configure_logging("matching", fmt="json", stream=stream)
    try:
        raise ValueError("天麻 is not a team")
    except ValueError:
        structlog.get_logger("services.matching").exception("recommendation failed", call="2027年第一批")
    logging.getLogger("aiokafka").warning("node %s not ready", 3)
    failure, library = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert failure["level"] == "error" and "ValueError: 天麻 is not a team" in failure["exception"]
    assert failure["call"] == "2027年第一批" and failure["logger"] == "services.matching"
    assert (library["event"], library["logger"], library["service"]) == ("node 3 not ready", "aiokafka", "matching")
