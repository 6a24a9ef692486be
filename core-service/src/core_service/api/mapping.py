"""Response bodies built from what the services return."""

from __future__ import annotations

from core_service.models import Comment
from core_service.schemas import CommentOut, PostOut, ProfileOut
from core_service.services.comments import AuthoredComment
from core_service.services.posts import AuthoredPost, PostRecord
from core_service.services.users import Profile


def post_out(authored: AuthoredPost) -> PostOut:
    post = authored.post
    return PostOut(
        id=post.id, author_id=post.author_id, author_username=authored.author_username,
        content=post.content, image_url=post.image_url, hashtags=list(post.hashtags or []),
        like_count=post.like_count, comment_count=post.comment_count, status=post.status,
        rejection_reason=post.rejection_reason, created_at=post.created_at,
    )


def post_record_out(post: PostRecord) -> PostOut:
    return PostOut(
        id=post.id, author_id=post.author_id, author_username=post.author_username,
        content=post.content, image_url=post.image_url, hashtags=post.hashtags,
        like_count=post.like_count, comment_count=post.comment_count, status=post.status,
        rejection_reason=post.rejection_reason, created_at=post.created_at,
    )


def comment_out(comment: Comment, author_username: str) -> CommentOut:
    return CommentOut(id=comment.id, post_id=comment.post_id, author_id=comment.author_id,
                      author_username=author_username, content=comment.content,
                      created_at=comment.created_at)


def authored_comment_out(authored: AuthoredComment) -> CommentOut:
    return comment_out(authored.comment, authored.author_username)


def profile_out(profile: Profile) -> ProfileOut:
    user = profile.user
    return ProfileOut(
        id=user.id, username=user.username, full_name=user.full_name,
        profile_image_url=user.profile_image_url, bio=user.bio, post_count=user.post_count,
        follower_count=user.follower_count, following_count=user.following_count,
        has_active_story=profile.has_active_story, is_private=user.is_private,
    )
