"""Cross-service consistency check: across both databases (and the dead-letter
queues), nothing lost and nothing orphaned.

It reads core's and social's databases with plain SQL (no service code, so it
can be pointed at production) and, optionally, the RabbitMQ management API
for dead-lettered messages. Each check is a function returning a
:class:`Finding`: how many things it found wrong and a few examples.

Eventual consistency: core's events reach social some time after core's
commit, so rows changed less than ``grace_seconds`` ago are not flagged where
a timestamp tells their age (posts, users, follows, likes, comments,
notifications). A post or user that a saga is working on (one still running
or compensating, or one that changed within the grace period, found by the
``post_id`` / ``user_id`` in the saga's data) is "in flux" and not flagged
either: its two sides legitimately differ until the saga ends, and a saga
stuck for longer than its deadline is reported by ``sagas_unfinished``.
Tests settle the system first (:func:`wait_until_settled`) and pass
``grace_seconds=0``.

Each database is read in one REPEATABLE READ, read-only transaction, so every
check sees one snapshot per database; the two snapshots are not taken at the
same instant, which is what the grace period also covers.

Run it as ``python -m ops_tools.consistency`` (``make check``): exit code 0
when nothing is found, 1 when something is, 2 when a database (or the
RabbitMQ management API) cannot be read.

The package, by idea: :mod:`.report` (findings and the report), :mod:`.sources`
(the databases, the RabbitMQ management API, sagas in flux), :mod:`.checks` (each
check), :mod:`.run` (running them, settling first), :mod:`.cli` (the command).
"""

from .checks import CHECKS
from .report import Finding, Report, SourceUnavailable
from .run import check, wait_until_settled
from .sources import asyncpg_dsn, redact

__all__ = ["CHECKS", "Finding", "Report", "SourceUnavailable", "asyncpg_dsn", "check",
           "redact", "wait_until_settled"]
