"""What a record may be, beyond being a CloudEvent: the limits every inbound record is held to
before any of it is believed. Each refusal names the limit (see docs/contract/README.md).

Kafka itself lets a producer write any bytes as a header name, thousands of headers, numbers
of any length and JSON nested to any depth; none of that is a usable event, and some of it
breaks parsers (recursion, integer conversion) or PostgreSQL (NUL in text)."""

from __future__ import annotations

from typing import Final

MAX_HEADERS: Final = 64
"""Headers per record (a CloudEvent in binary mode needs about a dozen)."""
MAX_HEADER_NAME_BYTES: Final = 256
MAX_HEADER_VALUE_BYTES: Final = 16_384
"""A header carries an attribute or a trace context, never a payload."""
MAX_EXTENSIONS: Final = 32
"""Extension attributes per event (correlation, causation and trace context need three)."""
MAX_JSON_DEPTH: Final = 32
"""Nesting of arrays and objects in the whole document (our events nest at most 6 deep)."""
MAX_INTEGER: Final = 2**63 - 1
"""Integers must fit in 64 bits (money is integer fen; ids are strings)."""
MAX_RECORD_BYTES: Final = 900_000
"""The largest message we write (an event or a dead letter): Kafka's default message size is
1 MiB, and an outbox row the broker can never take would hold up every row after it."""
