"""Versioned message contracts: the envelope, the base classes and registry, and
the saga protocol's messages. A system's own commands and events are defined on
these (this system's: :mod:`instasaga.messages`)."""

from .base import Command, Contract, ContractRegistry, Event, MessageKind, Payload, registry
from .envelope import Envelope, envelope_for, utcnow
from .saga import ALREADY_APPLIED, ReplyOutcome, SagaCancel, SagaReply

__all__ = [
    "ALREADY_APPLIED",
    "Command",
    "Contract",
    "ContractRegistry",
    "Envelope",
    "Event",
    "MessageKind",
    "Payload",
    "ReplyOutcome",
    "SagaCancel",
    "SagaReply",
    "envelope_for",
    "registry",
    "utcnow",
]
