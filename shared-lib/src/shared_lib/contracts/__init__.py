"""Versioned message contracts: the one place both services read them from."""

from .base import Command, Contract, ContractRegistry, Event, MessageKind, Payload
from .envelope import Envelope, envelope_for, utcnow
from .messages import CORE, SOCIAL, ReplyOutcome, SagaReply, registry

__all__ = [
    "CORE",
    "SOCIAL",
    "Command",
    "Contract",
    "ContractRegistry",
    "Envelope",
    "Event",
    "MessageKind",
    "Payload",
    "ReplyOutcome",
    "SagaReply",
    "envelope_for",
    "registry",
    "utcnow",
]
