"""The participant's side of the saga protocol.

A service that handles another service's saga commands wraps each command
handler with :func:`saga_command`. The wrapper, inside the consumer's
transaction (whose inbox row makes the command idempotent):

* runs the handler in a SAVEPOINT and answers ``accepted`` with what it
  returns, or ``rejected`` with the reason of :class:`CommandRejected`
  (the savepoint then drops whatever the handler wrote); a handler that refuses
  only before its first write (``rejects_before_writing``) saves the savepoint's
  two round trips;
* stores the reply with the inbox row and writes it to the outbox, to the
  exchange named by the command's ``reply_to`` (on the direct data path both in
  one statement); a repeated command gets the stored reply again and changes
  nothing;
* when a compensation arrives, records its command as handled-and-cancelled
  first (*preemption*), so a late copy of the command changes nothing.

Every queue of saga commands also answers the engine's cancel probe
(``saga.cancel``, registered with the commands by :func:`handles_saga_command`):
the probe preempts the unanswered command, or, if it ran, answers ``already
applied`` with the command's reply data, and the saga goes forward instead of
compensating. The inbox forgets a command after its retention window; a pivot
whose effect can be seen in the participant's data (a purged user's tombstone)
registers an ``applied`` check, which the probe asks whenever the inbox has no
accepted reply, so a probe after the window still learns that the pivot ran.

Command message ids are deterministic (:func:`saga_message_id`), so every
re-send of a step's command is the same message to the inbox.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from shared_lib.contracts import (
    ALREADY_APPLIED,
    Command,
    Envelope,
    ReplyOutcome,
    SagaCancel,
    SagaReply,
    envelope_for,
)
from shared_lib.database import Queries, Statement, savepoint
from shared_lib.messaging import inbox
from shared_lib.messaging.consumer import MessageContext
from shared_lib.messaging.subscriptions import Subscriptions
from shared_lib.messaging.topology import commands_queue
from shared_lib.outbox import add_to_outbox, insert_rows_sql, row_arrays

log = logging.getLogger(__name__)

CommandFunction = Callable[[MessageContext, Any], Awaitable[dict[str, Any] | None]]


class CommandRejected(Exception):
    """A participant refuses a command; the saga gets a ``rejected`` reply."""

    def __init__(self, reason: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data or {}


def saga_message_id(saga_id: uuid.UUID, step: str, compensation: bool) -> uuid.UUID:
    """The id of a saga's command for a step: the same on every re-send."""
    return uuid.uuid5(saga_id, f"{step}:{'undo' if compensation else 'do'}")


_CANCELLED = SagaReply(outcome=ReplyOutcome.rejected,
                       reason="cancelled by compensation").model_dump(mode="json")


class SagaCommandHandler:
    """A command handler that answers the saga (see the module's docstring)."""

    handles_duplicates = True

    def __init__(self, function: CommandFunction, rejects_before_writing: bool = False) -> None:
        self.function = function
        self.rejects_before_writing = rejects_before_writing
        self.__name__ = getattr(function, "__name__", type(self).__name__)

    async def __call__(self, ctx: MessageContext, command: Any) -> None:
        env = ctx.envelope
        if ctx.duplicate:
            if ctx.stored_reply is not None:
                await _send_reply(ctx, SagaReply.model_validate(ctx.stored_reply))
            return
        if env.compensation and env.correlation_id and env.step:
            # a late copy of the command this compensates must change nothing
            do_id = saga_message_id(env.correlation_id, env.step, compensation=False)
            ctx.extra["command_id"] = do_id
            ctx.extra["preempted"] = await inbox.preempt(ctx.transaction, ctx.queue, do_id,
                                                         env.type, _CANCELLED)
        try:
            if self.rejects_before_writing:
                data = await self.function(ctx, command)
            else:
                async with savepoint(ctx.transaction):
                    data = await self.function(ctx, command)
            reply = SagaReply(outcome=ReplyOutcome.accepted, data=data or {})
        except CommandRejected as rej:
            reply = SagaReply(outcome=ReplyOutcome.rejected, reason=rej.reason, data=rej.data)
        stored = reply.model_dump(mode="json")
        if isinstance(ctx.transaction, Queries) and env.reply_to:
            await _store_and_send_reply(ctx.transaction, ctx, stored, reply)
            return
        await inbox.store_reply(ctx.transaction, ctx.queue, env.message_id, stored)
        await _send_reply(ctx, reply)


#: the reply kept with the command's inbox row and written to the outbox: one round
#: trip ($1-$3 the inbox row's key and reply, then the outbox row's arrays)
_STORE_AND_SEND = Statement("participant.store_and_send_reply", f"""
    WITH stored AS (UPDATE inbox SET reply = $3 WHERE consumer = $1 AND message_id = $2)
    {insert_rows_sql(4)}""")


async def _store_and_send_reply(q: Queries, ctx: MessageContext, stored: dict[str, Any],
                                reply: SagaReply) -> None:
    env = ctx.envelope
    assert env.reply_to is not None
    arrays = row_arrays([(_reply_envelope(ctx, reply), env.reply_to, f"{env.type}.reply")])
    await q.execute(_STORE_AND_SEND, ctx.queue, env.message_id, stored, *arrays)
    q.wrote_outbox(arrays)


def _reply_envelope(ctx: MessageContext, reply: SagaReply) -> Envelope:
    env = ctx.envelope
    return envelope_for(reply, source=ctx.service, correlation_id=env.correlation_id,
                        causation_id=env.message_id, step=env.step,
                        compensation=env.compensation)


def saga_command(function: CommandFunction, rejects_before_writing: bool = False,
                 direct: bool = False) -> SagaCommandHandler:
    """Wrap a command handler so that it answers the saga that sent the command;
    ``direct``: it runs on the direct data path (``ctx.q``)."""
    handler = SagaCommandHandler(function, rejects_before_writing)
    handler.direct = direct  # type: ignore[attr-defined]
    return handler


async def _send_reply(ctx: MessageContext, reply: SagaReply) -> None:
    env = ctx.envelope
    if not env.reply_to:
        log.warning("command %s %s has no reply_to; no reply sent", env.type, env.message_id)
        return
    await add_to_outbox(ctx.transaction, _reply_envelope(ctx, reply), env.reply_to,
                        routing_key=f"{env.type}.reply")


#: whether a command's effect is in the participant's data: the data of its reply
#: when it is, None when it is not
AppliedCheck = Callable[[MessageContext, Any], Awaitable[dict[str, Any] | None]]


class _CancelProbe:
    """The answer to ``saga.cancel`` on one commands queue: preempted (see
    :class:`SagaCommandHandler`) or refused means the command never took effect;
    an accepted stored reply, or a command's ``applied`` check finding its effect,
    means it did (``already applied``)."""

    __name__ = "cancel_probe"

    def __init__(self) -> None:
        self.applied: dict[str, tuple[type[Command], AppliedCheck]] = {}

    async def __call__(self, ctx: MessageContext, cancel: SagaCancel) -> dict[str, Any]:
        if not ctx.extra.get("preempted", False):
            original = await inbox.stored_reply(ctx.transaction, ctx.queue,
                                                ctx.extra["command_id"])
            if original is not None and original.get("outcome") == ReplyOutcome.accepted:
                raise CommandRejected(ALREADY_APPLIED, data=original.get("data") or {})
        # no accepted reply: it never ran, was refused, or ran so long ago that the
        # inbox forgot it; the data tells, where the command has a check
        check = self.applied.get(cancel.command_type)
        if check is not None and cancel.command is not None:
            model, applied = check
            data = await applied(ctx, model.model_validate(cancel.command))
            if data is not None:
                log.warning("cancel probe for %s of saga %s: the inbox has no record of "
                            "it, but its effect is there: already applied",
                            cancel.command_type, ctx.envelope.correlation_id)
                raise CommandRejected(ALREADY_APPLIED, data=data)
        return {"cancelled": True}


def handles_saga_command(subscriptions: Subscriptions, *commands: type[Command],
                         rejects_before_writing: bool = False,
                         applied: AppliedCheck | None = None, direct: bool = False,
                         ) -> Callable[[CommandFunction], CommandFunction]:
    """Decorator: the function handles these saga commands on its service's commands
    queue (which then also answers the cancel probe). ``rejects_before_writing``: it
    raises :class:`CommandRejected` only before its first write (no savepoint).
    ``applied``: for a pivot, whether its effect is in the data (see the module).
    ``direct``: it runs on the direct data path (``ctx.q``, see
    :mod:`shared_lib.messaging.consumer`); the cancel probe stays on a session."""

    def register(function: CommandFunction) -> CommandFunction:
        handler = saga_command(function, rejects_before_writing, direct)
        for command in commands:
            queue = commands_queue(command.HANDLER)  # type: ignore[attr-defined]
            subscriptions.add(queue, command, handler)
            cancel = subscriptions.handler(queue, SagaCancel.TYPE)
            if isinstance(cancel, SagaCommandHandler) \
                    and isinstance(cancel.function, _CancelProbe):
                probe = cancel.function
            else:
                probe = _CancelProbe()
                subscriptions.add(queue, SagaCancel,
                                  SagaCommandHandler(probe, rejects_before_writing=True))
            if applied is not None:
                probe.applied[command.TYPE] = (command, applied)
        return function

    return register
