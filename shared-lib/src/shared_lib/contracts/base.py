"""Base classes for payload models and the contract registry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class MessageKind(StrEnum):
    command = "command"
    reply = "reply"
    event = "event"


class Payload(BaseModel):
    """A message payload. Subclasses set ``TYPE`` and ``VERSION``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    KIND: ClassVar[MessageKind]


class Command(Payload):
    KIND = MessageKind.command
    #: the service that handles the command (its ``<service>.commands`` exchange)
    HANDLER: ClassVar[str]


class Event(Payload):
    KIND = MessageKind.event
    #: the service that publishes the event (its ``<service>.events`` exchange)
    PUBLISHER: ClassVar[str]


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    kind: MessageKind
    model: type[Payload]


class ContractRegistry:
    """Every message type the services know, by ``(type, version)``: the saga
    protocol's (:mod:`shared_lib.contracts.saga`) and the system's own, which its
    contracts module registers when it is imported."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], Contract] = {}

    def register(self, model: type[Payload]) -> type[Payload]:
        key = (model.TYPE, model.VERSION)
        if key in self._by_key:
            raise ValueError(f"contract registered twice: {key}")
        self._by_key[key] = Contract(model.TYPE, model.VERSION, model.KIND, model)
        return model

    def get(self, type_: str, version: int) -> Contract | None:
        return self._by_key.get((type_, version))

    def all(self) -> list[Contract]:
        return list(self._by_key.values())


#: the registry every contract is registered in (``@registry.register``)
registry = ContractRegistry()
