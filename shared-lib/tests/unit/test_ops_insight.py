"""The saga type descriptions and task lists the operator endpoints answer with."""

from __future__ import annotations

from shared_lib.contracts import Command
from shared_lib.ops_insight import command_type, describe_definition, tasks_out
from shared_lib.saga import LocalStep, RemoteStep, SagaData, SagaDefinition
from shared_lib.supervisor import TaskState


class DoThing(Command):
    TYPE = "test.do_thing"
    HANDLER = "social"


class UndoThing(Command):
    TYPE = "test.undo_thing"
    HANDLER = "social"


class Data(SagaData):
    user_id: int


def do(d: Data) -> DoThing:
    return DoThing()


def undo(d: Data) -> UndoThing:
    return UndoThing()


async def local(ctx: object) -> None:
    return None


def test_a_builder_names_its_command_and_handler() -> None:
    assert command_type(do) == ("test.do_thing", "social")
    assert command_type(lambda d: None) == (None, None)


def test_steps_are_described_in_order_with_their_service() -> None:
    definition = SagaDefinition(type="t", data=Data, steps=(
        LocalStep("first", local, compensation=local),
        RemoteStep("second", do, compensation=undo),
        RemoteStep("third", do, cancel_on_timeout=True),
        LocalStep("last", local),
    ))
    out = describe_definition(definition, "core", 3.0)
    assert [s.name for s in out.steps] == ["first", "second", "third", "last"]
    assert [s.service for s in out.steps] == ["core", "social", "social", "core"]
    assert [s.compensation for s in out.steps] == [True, True, False, False]
    second = out.steps[1]
    assert (second.command, second.compensation_command, second.timeout_seconds) == (
        "test.do_thing", "test.undo_thing", 3.0)
    assert out.steps[2].cancel_on_timeout
    assert out.steps[0].timeout_seconds is None


def test_tasks_and_consumers_that_are_down_are_named() -> None:
    states = [TaskState("outbox-relay", running=True),
              TaskState("retention", running=False, restarts=2, last_error="boom")]
    out = tasks_out("core", states, ["core.commands", "core.replies"], ["core.replies"])
    assert out.down == ["retention", "consumer:core.replies"]
    assert [t.kind for t in out.tasks] == ["task", "task", "consumer", "consumer"]
