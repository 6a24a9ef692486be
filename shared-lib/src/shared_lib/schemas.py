"""API schemas every service answers with: the error body."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx answer."""

    detail: str
