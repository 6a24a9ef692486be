"""social's projections of core's data: users (with their token standing), posts and
their hashtag links, follows, blocks, revoked login sessions, and the tombstones that
keep a deleted user or post from coming back. They are written only from core's events
and commands (``handlers.py`` and ``social_service.handlers.commands``); social's own
use cases in ``social_service.services`` read them."""
