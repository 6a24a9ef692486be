"""The envelope every message travels in, and how one is built for a payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .base import Payload


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Message metadata plus a payload validated against its contract.

    ``correlation_id`` is the saga id for commands and replies (and the
    request's correlation id for events); ``causation_id`` the message that
    caused this one. Saga commands also carry ``step``, ``reply_to`` (the
    exchange where the reply goes) and ``compensation``.
    """

    model_config = ConfigDict(extra="forbid")

    message_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    source: str
    step: str | None = None
    reply_to: str | None = None
    compensation: bool = False
    payload: dict[str, Any]


def envelope_for(
    payload: Payload,
    *,
    source: str,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    step: str | None = None,
    reply_to: str | None = None,
    compensation: bool = False,
) -> Envelope:
    """The envelope of ``payload``, sent by ``source``."""
    return Envelope(
        message_id=message_id or uuid.uuid4(),
        type=payload.TYPE,
        version=payload.VERSION,
        correlation_id=correlation_id,
        causation_id=causation_id,
        source=source,
        step=step,
        reply_to=reply_to,
        compensation=compensation,
        payload=payload.model_dump(mode="json"),
    )
