"""Pure rules about posts and comments (no I/O).

A post's life is a small state machine; :data:`TRANSITIONS` is all of it, and the
services write each transition as one guarded statement (``UPDATE ... WHERE
status = <from>``) built from it, so a transition that does not apply here
changes nothing there::

    (created) --create--> pending --publish--> published --mark_deleting--> deleting
                          pending --reject---> rejected       deleting --restore--> published
                          rejected --delete--> (gone)         deleting --delete---> (gone)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from instasaga.hashtags import extract_hashtags as _extract_hashtags

MAX_CONTENT_CHARS = 2200


class PostStatus(StrEnum):
    pending = "pending"
    published = "published"
    rejected = "rejected"
    deleting = "deleting"


class PostAction(StrEnum):
    create = "create"
    #: the create_post saga: the hashtags were indexed and the author is still active
    publish = "publish"
    #: the create_post saga was rejected
    reject = "reject"
    #: the delete_post saga starts: the post is hidden while social forgets it
    mark_deleting = "mark_deleting"
    #: the delete_post saga was given up: the post is shown again
    restore = "restore"
    #: a deleting post at the end of its saga, or a rejected one (social never knew it)
    delete = "delete"


@dataclass(frozen=True)
class Transition:
    action: PostAction
    #: the status the post must have (None: the post does not exist yet)
    source: PostStatus | None
    #: the status after (None: the post is gone)
    target: PostStatus | None


TRANSITIONS: tuple[Transition, ...] = (
    Transition(PostAction.create, None, PostStatus.pending),
    Transition(PostAction.publish, PostStatus.pending, PostStatus.published),
    Transition(PostAction.reject, PostStatus.pending, PostStatus.rejected),
    Transition(PostAction.mark_deleting, PostStatus.published, PostStatus.deleting),
    Transition(PostAction.restore, PostStatus.deleting, PostStatus.published),
    Transition(PostAction.delete, PostStatus.deleting, None),
    Transition(PostAction.delete, PostStatus.rejected, None),
)


class InvalidTransition(ValueError):
    """The action does not apply to a post in this status."""


def transition(action: PostAction, source: PostStatus | None) -> Transition:
    """The transition ``action`` makes from ``source`` (InvalidTransition if none)."""
    for t in TRANSITIONS:
        if t.action == action and t.source == source:
            return t
    raise InvalidTransition(f"a {source or 'missing'} post cannot {action}")


def single(action: PostAction) -> Transition:
    """The one transition of an action that has one source (every action but delete)."""
    found = [t for t in TRANSITIONS if t.action == action]
    if len(found) != 1:
        raise ValueError(f"{action} has {len(found)} transitions")
    return found[0]


class Deletion(StrEnum):
    """What the author's DELETE of a post does, by its status."""

    #: rejected: social never knew it, it is deleted at once
    at_once = "at_once"
    #: published: the delete_post saga
    by_saga = "by_saga"
    #: pending or deleting: a saga is on it; try again when it is done (409)
    conflict = "conflict"


def deletion_of(status: PostStatus) -> Deletion:
    if status == PostStatus.rejected:
        return Deletion.at_once
    if status == PostStatus.published:
        return Deletion.by_saga
    return Deletion.conflict


def extract_hashtags(content: str | None) -> list[str]:
    """Distinct hashtags of a caption, normalised (NFKC, case-folded: see
    :func:`instasaga.hashtags.normalise_hashtag`), in order of appearance."""
    return _extract_hashtags(content)


def is_empty_post(content: str | None, image_url: str | None) -> bool:
    return not (content and content.strip()) and not (image_url and image_url.strip())


def is_visible(status: str, author_id: int, viewer_id: int | None) -> bool:
    """Everyone sees a published post; its author sees it in every status."""
    return status == PostStatus.published or author_id == viewer_id


def may_delete_comment(user_id: int, comment_author_id: int, post_author_id: int) -> bool:
    """A comment can be deleted by whoever wrote it and by the post's author."""
    return user_id in (comment_author_id, post_author_id)
