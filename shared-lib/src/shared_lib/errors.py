"""Errors a service's use cases raise; every app answers them the same way
(:func:`shared_lib.web.install_common`): 401, 404, 403, 409, 400 with
``{"detail": ...}``."""

from __future__ import annotations


class Unauthorized(Exception):
    """The bearer token is no longer good: its session was revoked, the password
    changed since it was issued, the user is gone or deactivated (a use case that
    checks the token in its own statement says so)."""

    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}

    def __init__(self, detail: str = "Could not validate credentials") -> None:
        super().__init__(detail)


class NotFound(Exception):
    status_code = 404


class Forbidden(Exception):
    status_code = 403


class Conflict(Exception):
    status_code = 409


class BadRequest(Exception):
    status_code = 400


USE_CASE_ERRORS: tuple[type[Exception], ...] = (Unauthorized, NotFound, Forbidden, Conflict,
                                                BadRequest)
