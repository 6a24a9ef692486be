"""The saga protocol's own messages: a participant's reply, and the cancel probe of
an unanswered pivot step. Every saga of every system speaks them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from .base import MessageKind, Payload, registry

register = registry.register


class ReplyOutcome(StrEnum):
    accepted = "accepted"
    rejected = "rejected"


@register
class SagaReply(Payload):
    """The answer of a saga participant to one command (or compensation)."""

    TYPE = "saga.reply"
    KIND = MessageKind.reply

    outcome: ReplyOutcome
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


@register
class SagaCancel(Payload):
    """Sent for a step whose command got no reply in time and that has no
    compensation of its own (a pivot such as ``purge_user``): the participant
    makes sure the command will never run, or answers that it already has
    (``rejected`` with reason :data:`ALREADY_APPLIED` and the original reply's
    data), in which case the saga goes forward instead of compensating. Goes to
    the commands exchange of the participant that handles ``command_type``."""

    TYPE = "saga.cancel"
    KIND = MessageKind.command

    command_type: str
    #: the command the probe is about, so that a participant whose inbox no longer
    #: remembers it (past its retention) can still tell from its data whether it ran
    command: dict[str, Any] | None = None


#: reason of a ``saga.cancel`` refusal: the command had already run
ALREADY_APPLIED = "already applied"
