"""The use cases' errors become HTTP answers with the one error body, in every app."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared_lib.errors import BadRequest, Conflict, Forbidden, NotFound
from shared_lib.metrics import Metrics
from shared_lib.web import install_common


@pytest.mark.parametrize(("error", "status"), [(NotFound, 404), (Forbidden, 403),
                                               (Conflict, 409), (BadRequest, 400)])
async def test_a_service_error_is_its_status_with_its_message(error: type[Exception],
                                                              status: int) -> None:
    app = FastAPI()
    install_common(app, 1_048_576, Metrics("test"))

    @app.get("/")
    async def refuse() -> None:
        raise error("Story not found")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://social") as client:
        response = await client.get("/")
    assert response.status_code == status
    assert response.json() == {"detail": "Story not found"}
