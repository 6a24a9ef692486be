"""Errors the use cases raise; the API turns them into HTTP answers."""

from __future__ import annotations


class NotFound(Exception):
    pass


class Forbidden(Exception):
    pass


class Conflict(Exception):
    pass


class BadRequest(Exception):
    pass
