"""HTTP answers for the use cases' errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core_service.services.errors import BadRequest, Conflict, Forbidden, NotFound

_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, BadRequest: 400}


def install_error_handlers(app: FastAPI) -> None:
    for exc_type, code in _STATUS.items():
        async def handler(request: Request, exc: Exception, code: int = code) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)

        app.add_exception_handler(exc_type, handler)
