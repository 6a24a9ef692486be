"""Which facts notify whom: the notices core's events make (pure; the statements that
write them are tested in tests/integration/test_projections.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from instasaga.messages import (
    CommentAdded,
    FollowAccepted,
    FollowRequested,
    PostLiked,
    PostUnliked,
    UserFollowed,
)
from social_service.models import NotificationType
from social_service.services.notifications import (
    comment_notice,
    follow_accepted_notice,
    follow_notice,
    follow_request_notice,
    like_notice,
)

ALICE, BOB, POST = 1, 2, 10


def test_a_like_notifies_the_posts_author_and_an_unlike_hides_it() -> None:
    like = like_notice(PostLiked(seq=4, post_id=POST, post_author_id=ALICE, user_id=BOB,
                                 username="bob", like_count=1))
    assert (like.user_id, like.actor_id, like.type, like.reference_id) == (
        ALICE, BOB, NotificationType.like, POST)
    assert (like.notifies, like.hidden, like.may_withdraw, like.seq) == (True, False, True, 4)
    assert like.message == "bob liked your post"
    unlike = like_notice(PostUnliked(seq=5, post_id=POST, post_author_id=ALICE, user_id=BOB,
                                     username="bob", like_count=0))
    # the same fact (one key), newer, hidden; recorded even before its like arrives
    assert unlike.dedupe_key == like.dedupe_key == f"like:{POST}:{BOB}"
    assert (unlike.notifies, unlike.hidden, unlike.may_withdraw, unlike.seq) == (
        True, True, False, 5)


def test_liking_or_commenting_ones_own_post_notifies_nobody() -> None:
    assert not like_notice(PostLiked(seq=2, post_id=POST, post_author_id=ALICE,
                                     user_id=ALICE, username="alice", like_count=1)).notifies
    assert not comment_notice(_comment(author_id=ALICE)).notifies


def test_a_comment_notifies_the_posts_author_with_its_start() -> None:
    notice = comment_notice(_comment(author_id=BOB, content="x" * 150))
    assert (notice.user_id, notice.actor_id, notice.type, notice.dedupe_key) == (
        ALICE, BOB, NotificationType.comment, "comment:7")
    assert notice.message == "bob commented on your post: " + "x" * 100
    assert notice.notifies and notice.post_id == POST


def test_follows_notify_once_per_pair() -> None:
    follow = follow_notice(UserFollowed(seq=3, follower_id=BOB, followee_id=ALICE,
                                        follower_username="bob"))
    assert (follow.user_id, follow.actor_id, follow.dedupe_key, follow.post_id) == (
        ALICE, BOB, f"follow:{BOB}:{ALICE}", None)
    asked = follow_request_notice(FollowRequested(seq=1, requester_id=BOB,
                                                  requester_username="bob", target_id=ALICE))
    accepted = follow_accepted_notice(FollowAccepted(seq=2, requester_id=BOB, target_id=ALICE,
                                                     target_username="alice"))
    assert (asked.user_id, asked.type) == (ALICE, NotificationType.follow_request)
    assert (accepted.user_id, accepted.actor_id, accepted.type) == (
        BOB, ALICE, NotificationType.follow_accepted)


def test_the_statement_arguments_are_in_parameter_order() -> None:
    like = like_notice(PostLiked(seq=4, post_id=POST, post_author_id=ALICE, user_id=BOB,
                                 username="bob", like_count=1))
    assert like.args() == (f"like:{POST}:{BOB}", ALICE, BOB, "like", POST,
                           "bob liked your post", 4, False, [ALICE, BOB], POST, True, True)


def _comment(*, author_id: int, content: str = "nice") -> CommentAdded:
    return CommentAdded(seq=3, comment_id=7, post_id=POST, post_author_id=ALICE,
                        author_id=author_id, author_username="bob" if author_id == BOB
                        else "alice", content=content, comment_count=1,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC))
