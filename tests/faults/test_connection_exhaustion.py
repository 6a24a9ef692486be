"""PostgreSQL refusing new connections (53300, too many connections) is a transient
condition: HTTP answers 503 with Retry-After, consumers retry in place, and
nothing is dead-lettered because of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.consistency import assert_consistent
from testkit.infra import Infra
from testkit.load import Load
from testkit.processes import wait_until
from testkit.sql import connections_exhausted, scalar
from testkit.stack import Stack, running_stack

pytestmark = pytest.mark.slow


def test_too_many_connections_is_retried_not_dead_lettered(infra: Infra,
                                                           tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, env={"SAGA_STEP_TIMEOUT_SECONDS": "30"}) as stack:
        admin = infra.postgres_url
        with Load(stack.url, threads=6) as load:
            wait_until(lambda: load.result.count("create_post 201") >= 5, 30)
            with connections_exhausted(admin) as held:
                # the services' pooled connections go: each must connect again, and
                # is refused while the slots are taken
                for db in (stack.core_db, stack.social_db):
                    name = db.rsplit("/", 1)[1]
                    held.fetchval("SELECT count(pg_terminate_backend(pid)) FROM "
                                  f"pg_stat_activity WHERE datname = '{name}'")
                wait_until(lambda: _refusals(stack) > 0, 30, what="the services hitting 53300")
                refused_at = load.result.count("")
                wait_until(lambda: load.result.count("") >= refused_at + 20, 30,
                           what="requests answered while connections are refused")
            after = load.result.count("create_post 201")
            wait_until(lambda: load.result.count("create_post 201") >= after + 5, 60,
                       what="sagas completing again")
        result = load.stop()
        print(f"\nload: {dict(result.answers)}; errors {dict(result.errors)}")
        assert any(k.endswith(" 503") for k in result.answers), result.answers
        assert not any(s >= 500 and s != 503 for s in result.statuses()), result.answers
        for service in (stack.core, stack.social):
            log = service.log_path.read_text()
            assert "dead-lettering" not in log, service.log_tail()
            assert '"level": "ERROR"' not in log, [
                line for line in log.splitlines() if '"level": "ERROR"' in line][:3]
        assert scalar(stack.core_db, "SELECT count(*) FROM sagas WHERE status = 'failed'") == 0
        assert_consistent(stack, settle_seconds=90)


def _refusals(stack: Stack) -> int:
    """Log lines of either service that mention a refused connection."""
    return sum(service.log_path.read_text().count("too many clients")
               for service in (stack.core, stack.social))
