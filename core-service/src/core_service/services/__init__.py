"""Use cases of core-service, one module per resource: each runs in the caller's
transaction and writes its events to the outbox in that same transaction. What
a saga step shares with them returns its events instead, for the step to
publish correlated with its saga."""
