"""delete_account saga (docs/sagas.md#delete_account).

1. core ``deactivate``: ``is_active = false`` (the user's tokens are refused
   by core at once, and by social from the ``user.updated`` event or the
   purge, whichever comes first) (compensation ``reactivate``);
2. social ``purge_user``, the pivot (no compensation): their messages,
   stories, notifications to or about them, search entry, follow edges and
   the hashtag links of their posts;
3. core ``delete_user_data``: their likes and comments on other posts (those
   posts' counters corrected, with events), their follows (the other users'
   counters corrected, each edge announced with ``user.unfollowed``), their
   posts, story records and the user; event ``user.deleted``.

When social does not answer within the deadline (after retries), core asks
it to cancel the purge (``saga.cancel``): the user is reactivated once social
confirms the purge will never run, or deleted if it already ran. Until then
the account stays deactivated: a late purge can never hit a reactivated user.
"""

from __future__ import annotations

from enum import StrEnum

from core_service.services import comments, follows, likes, post_lifecycle, users
from instasaga.messages import PostDeleted, PurgeUser, UserDeleted
from shared_lib.contracts import Event
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    StepRejected,
    made_by,
)

DELETE_ACCOUNT = "delete_account"


class DeleteAccountRejection(StrEnum):
    already_deleting = "The account is already being deleted"


class DeleteAccountData(SagaData):
    user_id: int
    username: str
    #: the user's version once deactivated (set by deactivate): the purge's order
    seq: int | None = None


Context = SagaContext[DeleteAccountData]


async def deactivate(ctx: Context) -> None:
    user = await users.set_active(ctx.q, ctx.data.user_id, False)
    if user is None:
        raise StepRejected(DeleteAccountRejection.already_deleting)
    ctx.data.seq = user.version
    await ctx.publish(users.user_updated_event(user))


async def reactivate(ctx: Context) -> None:
    user = await users.set_active(ctx.q, ctx.data.user_id, True)
    if user is not None:
        await ctx.publish(users.user_updated_event(user))


def purge_command(d: DeleteAccountData) -> PurgeUser:
    return PurgeUser(user_id=d.user_id, seq=made_by(d.seq, "deactivate"))


async def delete_user_data(ctx: Context) -> None:
    uid, q = ctx.data.user_id, ctx.q
    seq = await users.lock_version(q, uid)
    if seq is None:
        return  # already deleted
    username = ctx.data.username
    events: list[Event] = [*await likes.remove_likes_of(q, uid, username)]
    events += await comments.remove_comments_of(q, uid)
    events += await follows.remove_all_follows(q, uid, username)
    events += [PostDeleted(seq=version + 1, post_id=post_id, author_id=uid)
               for post_id, version in await post_lifecycle.delete_all_of(q, uid)]
    # every event in one outbox statement, ``user.deleted`` last
    await ctx.publish_all([*events, UserDeleted(seq=seq + 1, user_id=uid)])
    await users.delete_user(q, uid)


def delete_account_saga() -> SagaDefinition:
    return SagaDefinition(
        type=DELETE_ACCOUNT,
        data=DeleteAccountData,
        description="Deactivate a user, purge them from social, delete their data",
        steps=(
            LocalStep("deactivate", deactivate, compensation=reactivate),
            # the pivot: never purge after a reactivation (see RemoteStep)
            RemoteStep("purge_user", purge_command, cancel_on_timeout=True),
            LocalStep("delete_user_data", delete_user_data),
        ),
    )
