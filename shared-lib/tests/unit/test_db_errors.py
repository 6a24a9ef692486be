"""Which database errors are transient (retry later) and which are bugs."""
from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared_lib.database import is_connection_lost
from shared_lib.db import is_transient_db_error, is_transient_sqlstate, sqlstate_of


@pytest.mark.parametrize("code", ["08000", "08006", "08P01", "53300", "53100", "53200",
                                  "57P01", "57P02", "57P03", "40001", "40P01"])
def test_transient_sqlstates(code: str) -> None:
    assert is_transient_sqlstate(code)


@pytest.mark.parametrize("code", [None, "23505", "23503", "22P02", "42P01", "57014", "40002"])
def test_permanent_sqlstates(code: str | None) -> None:
    assert not is_transient_sqlstate(code)


def _wrapped(error: Exception) -> DBAPIError:
    """An asyncpg error as SQLAlchemy's asyncpg adapter raises it: the driver's error is
    the cause of the adapter's error, which is ``orig`` of SQLAlchemy's."""
    adapted = Exception(str(error))
    adapted.__cause__ = error
    return DBAPIError("SELECT 1", None, adapted)


def test_too_many_connections_wrapped_by_sqlalchemy_is_transient() -> None:
    error = _wrapped(asyncpg.TooManyConnectionsError("sorry, too many clients already"))
    assert sqlstate_of(error) == "53300"
    assert is_transient_db_error(error)


def test_raw_driver_errors_are_classified_by_their_sqlstate() -> None:
    assert is_transient_db_error(asyncpg.AdminShutdownError("terminating connection"))
    assert not is_transient_db_error(asyncpg.UniqueViolationError("duplicate key"))


def test_integrity_error_is_permanent() -> None:
    error = IntegrityError("INSERT", None, Exception("duplicate"))
    assert not is_transient_db_error(error)


def test_connection_errors_without_sqlstate_are_transient() -> None:
    assert is_transient_db_error(ConnectionRefusedError(111, "refused"))
    assert is_transient_db_error(OSError("network unreachable"))
    assert not is_transient_db_error(ValueError("bad input"))


def test_a_protocol_left_mid_operation_by_a_lost_connection_is_transient_and_lost() -> None:
    """asyncpg's state error when the server ended the connection between the error it
    sent and the socket's close: the operation is retried, the connection dropped."""
    confused = asyncpg.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress")
    assert is_transient_db_error(confused)
    assert is_connection_lost(confused)
    assert is_connection_lost(asyncpg.AdminShutdownError("terminating connection"))
    assert is_connection_lost(asyncpg.ConnectionDoesNotExistError("closed"))
    # a deadlock is retried, and its connection kept
    assert is_transient_db_error(asyncpg.DeadlockDetectedError("deadlock"))
    assert not is_connection_lost(asyncpg.DeadlockDetectedError("deadlock"))
    assert not is_connection_lost(asyncpg.UniqueViolationError("duplicate key"))
