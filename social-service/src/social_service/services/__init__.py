"""Use cases of social-service: each runs in the caller's transaction (a
route's, a message handler's or a saga step's) and writes its events to the
outbox in that same transaction. They return ORM models or dataclasses and
report refusals with :mod:`social_service.services.errors`."""
