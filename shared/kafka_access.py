"""How a client reaches the Kafka cluster and who it is there: bootstrap servers, the security
protocol, SASL/SCRAM-SHA-512 credentials and the CA that signed the brokers' certificates.

One value, handed to every client (services, outbox relay, CLI, partner client, tests), so that
no connection is made without authentication by mistake. The password never appears in a repr,
a log line or an exception raised here.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISM: Final = "SCRAM-SHA-512"


class KafkaAccessError(ValueError):
    """Access settings that cannot work (stated without any secret)."""


@dataclass(frozen=True, slots=True)
class KafkaAccess:
    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    """PEM file of the CA that signed the brokers' certificates (SASL_SSL); without it, the
    system's trusted CAs. The brokers' host names are always checked."""

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise KafkaAccessError(
                f"security protocol {self.security_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        if self.sasl and not (self.username and self.password):
            raise KafkaAccessError(
                f"{self.security_protocol} needs a SASL user name and password (KAFKA_SASL_USERNAME, "
                "KAFKA_SASL_PASSWORD)"
            )
        if not self.sasl and (self.username or self.password):
            raise KafkaAccessError(
                "SASL credentials are given but the security protocol is PLAINTEXT: set "
                "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL"
            )
        if self.cafile is not None and self.security_protocol != "SASL_SSL":
            raise KafkaAccessError("a CA file is given but the security protocol is not SASL_SSL")
        if self.cafile is not None and not Path(self.cafile).is_file():
            raise KafkaAccessError(f"the CA file {self.cafile} does not exist")

    @property
    def sasl(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    @property
    def tls(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    @property
    def principal(self) -> str:
        """The Kafka principal this client acts as (`User:ANONYMOUS` without SASL)."""
        return f"User:{self.username}" if self.username else "User:ANONYMOUS"

    def as_user(self, username: str, password: str) -> KafkaAccess:
        """The same cluster, as another principal."""
        return replace(self, username=username, password=password)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers one by one (`host:port`): FastStream takes a single string as one
        server, so a cluster's comma-separated list must reach it as a list."""
        return [server.strip() for server in self.bootstrap_servers.split(",") if server.strip()]

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl:
            options |= {
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def confluent(self) -> dict[str, str]:
        """Configuration of librdkafka (confluent-kafka), as a partner's client would set it."""
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl:
            config |= {
                "sasl.mechanism": SASL_MECHANISM,
                "sasl.username": str(self.username),
                "sasl.password": str(self.password),
            }
        if self.tls and self.cafile is not None:
            config["ssl.ca.location"] = str(self.cafile)
        return config

    def environment(self) -> dict[str, str]:
        """The KAFKA_* variables that give a child process this access (shared.settings reads them)."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl:
            env |= {"KAFKA_SASL_USERNAME": str(self.username), "KAFKA_SASL_PASSWORD": str(self.password)}
        if self.cafile is not None:
            env["KAFKA_SSL_CAFILE"] = str(self.cafile)
        return env

    @classmethod
    def from_environment(cls, env: Mapping[str, str], bootstrap_servers: str | None = None) -> KafkaAccess:
        servers = bootstrap_servers or env.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            raise KafkaAccessError("KAFKA_BOOTSTRAP_SERVERS is not set")
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in SECURITY_PROTOCOLS:
            known = ", ".join(SECURITY_PROTOCOLS)
            raise KafkaAccessError(f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of {known}")
        cafile = env.get("KAFKA_SSL_CAFILE")
        return cls(
            servers,
            protocol,  # type: ignore[arg-type]
            username=env.get("KAFKA_SASL_USERNAME") or None,
            password=env.get("KAFKA_SASL_PASSWORD") or None,
            cafile=Path(cafile) if cafile else None,
        )


def access_of(target: KafkaAccess | str) -> KafkaAccess:
    """A bare `host:port` means an unauthenticated (PLAINTEXT) connection."""
    return target if isinstance(target, KafkaAccess) else KafkaAccess(target)
