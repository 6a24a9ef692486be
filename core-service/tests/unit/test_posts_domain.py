from __future__ import annotations

import pytest

from core_service.domain.posts import (
    TRANSITIONS,
    Deletion,
    InvalidTransition,
    PostAction,
    PostStatus,
    deletion_of,
    extract_hashtags,
    is_empty_post,
    is_visible,
    may_delete_comment,
    single,
    transition,
)


@pytest.mark.parametrize(("content", "tags"), [
    (None, []), ("", []), ("no tags", []),
    ("#Sun and #sun and #SUN", ["sun"]),
    ("a #b #c_d #é", ["b", "c_d", "é"]),
    ("mail@x #tag a#notatag &#39; ##double", ["tag"]),
])
def test_extract_hashtags(content: str | None, tags: list[str]) -> None:
    assert extract_hashtags(content) == tags


def test_empty_post() -> None:
    assert is_empty_post(None, None) and is_empty_post("  ", "")
    assert not is_empty_post("x", None) and not is_empty_post(None, "http://i")


def test_visibility() -> None:
    assert is_visible(PostStatus.published, author_id=1, viewer_id=None)
    assert is_visible(PostStatus.published, author_id=1, viewer_id=2)
    for status in (PostStatus.pending, PostStatus.rejected, PostStatus.deleting):
        assert is_visible(status, author_id=1, viewer_id=1)
        assert not is_visible(status, author_id=1, viewer_id=2)
        assert not is_visible(status, author_id=1, viewer_id=None)


def test_who_may_delete_a_comment() -> None:
    assert may_delete_comment(1, comment_author_id=1, post_author_id=2)
    assert may_delete_comment(2, comment_author_id=1, post_author_id=2)
    assert not may_delete_comment(3, comment_author_id=1, post_author_id=2)


# ------------------------------------------------------------ the post's life
def test_every_status_is_reached_and_left_only_by_its_transitions() -> None:
    reached = {t.target for t in TRANSITIONS if t.target is not None}
    left = {t.source for t in TRANSITIONS if t.source is not None}
    assert reached == set(PostStatus)
    assert left == set(PostStatus)  # no status is a dead end
    assert transition(PostAction.create, None).target == PostStatus.pending


@pytest.mark.parametrize(("action", "source", "target"), [
    (PostAction.publish, PostStatus.pending, PostStatus.published),
    (PostAction.reject, PostStatus.pending, PostStatus.rejected),
    (PostAction.mark_deleting, PostStatus.published, PostStatus.deleting),
    (PostAction.restore, PostStatus.deleting, PostStatus.published),
    (PostAction.delete, PostStatus.deleting, None),
    (PostAction.delete, PostStatus.rejected, None),
])
def test_the_transitions_of_a_post(action: PostAction, source: PostStatus,
                                   target: PostStatus | None) -> None:
    assert transition(action, source).target == target


@pytest.mark.parametrize(("action", "source"), [
    (PostAction.publish, PostStatus.rejected),  # a rejected post stays rejected
    (PostAction.publish, PostStatus.deleting),
    (PostAction.reject, PostStatus.published),  # a published post is never rejected
    (PostAction.mark_deleting, PostStatus.pending),  # a post being created is not deleted
    (PostAction.restore, PostStatus.published),
    (PostAction.delete, PostStatus.published),  # only through its saga's deleting
    (PostAction.delete, PostStatus.pending),
    (PostAction.create, PostStatus.pending),
])
def test_a_transition_that_does_not_apply_is_refused(action: PostAction,
                                                     source: PostStatus) -> None:
    with pytest.raises(InvalidTransition):
        transition(action, source)


def test_single_names_the_one_transition_of_an_action() -> None:
    assert single(PostAction.publish).source == PostStatus.pending
    with pytest.raises(ValueError):
        single(PostAction.delete)  # from deleting or from rejected


@pytest.mark.parametrize(("status", "deletion"), [
    (PostStatus.rejected, Deletion.at_once), (PostStatus.published, Deletion.by_saga),
    (PostStatus.pending, Deletion.conflict), (PostStatus.deleting, Deletion.conflict),
])
def test_what_deleting_a_post_does_by_its_status(status: PostStatus,
                                                 deletion: Deletion) -> None:
    assert deletion_of(status) == deletion
    if deletion == Deletion.at_once:
        assert transition(PostAction.delete, status).target is None
