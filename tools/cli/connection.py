"""Where the CLI finds the broker and who it is there: --bootstrap, KAFKA_BOOTSTRAP_SERVERS (with
the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_CAFILE variables), or the running
embedded stack, where it acts as the `operator` principal with the password it reads from
`.data/security` (tools/stack/operators.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from shared.kafka_access import KafkaAccess, KafkaAccessError
from tools.stack.launcher import read_stack_file, stack_access
from tools.stack.operators import OPERATOR


@dataclass(frozen=True)
class Connection:
    kafka: KafkaAccess
    topic_prefix: str
    embedded: bool
    timeout_s: float = 10.0
    """How long a command waits for the broker before it gives up with one line."""

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers


def resolve(
    bootstrap: str | None, topic_prefix: str | None, timeout_s: float = 10.0, principal: str = OPERATOR
) -> Connection:
    """`principal`: whom the command acts as on the embedded stack (the operator, or the
    provisioner for `topics ensure`); elsewhere the credentials given in the environment decide."""
    stack = read_stack_file()
    if bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        try:
            access = KafkaAccess.from_environment(os.environ, bootstrap)
        except KafkaAccessError as exc:
            raise SystemExit(f"cannot connect to Kafka: {exc}") from None
        prefix = topic_prefix if topic_prefix is not None else os.environ.get("KAFKA_TOPIC_PREFIX", "")
        return Connection(access, prefix, embedded=False, timeout_s=timeout_s)
    if stack:
        prefix = topic_prefix if topic_prefix is not None else stack.get("topic_prefix", "")
        return Connection(stack_access(stack, principal), prefix, embedded=True, timeout_s=timeout_s)
    raise SystemExit(
        "no broker: pass --bootstrap HOST:PORT, set KAFKA_BOOTSTRAP_SERVERS, or start the embedded stack "
        "with `expert-teams stack`"
    )
