"""Where the CLI finds the broker: --bootstrap, KAFKA_BOOTSTRAP_SERVERS, or the running embedded stack."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tools.stack.launcher import read_stack_file


@dataclass(frozen=True)
class Connection:
    bootstrap_servers: str
    topic_prefix: str
    embedded: bool
    timeout_s: float = 10.0
    """How long a command waits for the broker before it gives up with one line."""


def resolve(bootstrap: str | None, topic_prefix: str | None, timeout_s: float = 10.0) -> Connection:
    stack = read_stack_file()
    if bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        servers = bootstrap or os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        prefix = topic_prefix if topic_prefix is not None else os.environ.get("KAFKA_TOPIC_PREFIX", "")
        return Connection(servers, prefix, embedded=False, timeout_s=timeout_s)
    if stack:
        prefix = topic_prefix if topic_prefix is not None else stack.get("topic_prefix", "")
        return Connection(stack["bootstrap_servers"], prefix, embedded=True, timeout_s=timeout_s)
    raise SystemExit(
        "no broker: pass --bootstrap HOST:PORT, set KAFKA_BOOTSTRAP_SERVERS, or start the embedded stack "
        "with `expert-teams stack`"
    )
