"""The base of every event's `data`: typed, frozen, closed to unknown fields, versioned."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class EventData(BaseModel):
    """The `data` of one event type at one schema version."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    EVENT_TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def subject(self) -> str:
        """The business key: CloudEvents `subject` and the Kafka message key."""
        raise NotImplementedError


class Value(BaseModel):
    """A frozen value object nested in event data."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=60)]
CountyCode = Annotated[
    str,
    StringConstraints(pattern=r"^500\d{3}$"),
    Field(description="Chongqing district/county administrative code (GB/T 2260), e.g. 500240 石柱县"),
]
OrderId = Annotated[
    str,
    StringConstraints(pattern=r"^500\d{3}-[A-Za-z0-9][A-Za-z0-9-]{0,47}$"),
    Field(description="Order id assigned by the county system: '<county code>-<local id>', e.g. 500240-2019-007"),
]
Fen = Annotated[int, Field(ge=0, le=10**12, description="Money in integer fen (1 yuan = 100 fen)")]
