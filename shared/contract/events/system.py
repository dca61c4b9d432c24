"""Events every service can emit about the messages it received."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from .base import EventData, Name, Text


class EventRejected(EventData):
    """The answer to a sender whose event was not applied: which event, and why.

    Published on the `rejections` topic, keyed by the rejected event's subject; the partner
    system finds its own answers by `rejected_source` (and `causationid` = the rejected id).
    """

    EVENT_TYPE = "EventRejected"
    rejected_event_id: Name
    rejected_event_type: Name
    rejected_source: Name
    rejected_subject: Name | None = None
    reason_code: Name = Field(description="Machine-readable reason, see docs/contract/README.md")
    reason: Text = Field(description="The reason in words")
    service: Name = Field(description="The service that rejected it")
    rejected_at: AwareDatetime

    def subject(self) -> str:
        return self.rejected_subject or self.rejected_event_id
