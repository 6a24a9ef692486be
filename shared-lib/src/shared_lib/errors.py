"""Errors a service's use cases raise; every app answers them the same way
(:func:`shared_lib.web.install_common`): 404, 403, 409, 400 with ``{"detail": ...}``."""

from __future__ import annotations


class NotFound(Exception):
    status_code = 404


class Forbidden(Exception):
    status_code = 403


class Conflict(Exception):
    status_code = 409


class BadRequest(Exception):
    status_code = 400


USE_CASE_ERRORS: tuple[type[Exception], ...] = (NotFound, Forbidden, Conflict, BadRequest)
