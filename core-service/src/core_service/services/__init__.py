"""Use cases of core-service: each runs in the caller's transaction and writes
its events to the outbox in that same transaction."""
