"""Message handlers of social-service, registered per queue.

``social.commands``: commands of sagas run by core-service.
``social.events.projections``: core's events that keep the projections.
``social.events.notifications``: core's events that notify someone.
Replies to social's own sagas are wired to the orchestrator by the runtime.
"""

from collections.abc import Mapping
from functools import partial

from shared_lib.messaging.consumer import Handler
from social_service.settings import SocialSettings

from . import commands, notifications, projections


def handler_registry(settings: SocialSettings) -> Mapping[str, Mapping[str, Handler]]:
    return {
        "social.commands": {
            "index_post_hashtags": partial(commands.index_post_hashtags, settings=settings),
            "unindex_post_hashtags": commands.unindex_post_hashtags,
            "purge_post": commands.purge_post,
            "purge_user": commands.purge_user,
        },
        "social.events.projections": {
            "user.registered": projections.on_user_changed,
            "user.updated": projections.on_user_changed,
            "user.deleted": projections.on_user_deleted,
            "user.followed": projections.on_follow_changed,
            "user.unfollowed": projections.on_follow_changed,
            "post.published": projections.on_post_published,
            "post.deleted": projections.on_post_deleted,
            "post.liked": projections.on_like_changed,
            "post.unliked": projections.on_like_changed,
            "comment.added": projections.on_comment_changed,
            "comment.deleted": projections.on_comment_changed,
        },
        "social.events.notifications": {
            "post.published": notifications.on_post_published,
            "post.liked": notifications.on_post_liked,
            "post.unliked": notifications.on_post_unliked,
            "comment.added": notifications.on_comment_added,
            "user.followed": notifications.on_user_followed,
        },
    }
