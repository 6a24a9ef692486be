"""Small HTTP helpers for end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from testkit.processes import wait_until

PASSWORD = "correct horse"


def register_and_login(client: httpx.Client, name: str | None = None) -> dict[str, Any]:
    """A new user; returns its id, username, password, refresh token and an
    Authorization header."""
    name = name or f"u{uuid.uuid4().hex[:10]}"
    r = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                "password": PASSWORD})
    assert r.status_code == 201, r.text
    user = r.json()
    r = client.post("/api/auth/login", json={"email": f"{name}@example.com",
                                             "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens = r.json()
    return {**user, "password": PASSWORD, "refresh_token": tokens["refresh_token"],
            "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


def delete_account(client: httpx.Client, user: dict[str, Any],
                   headers: dict[str, str] | None = None) -> httpx.Response:
    """DELETE /api/users/me with the user's password (``headers`` add to theirs)."""
    return client.request("DELETE", "/api/users/me", json={"password": user["password"]},
                          headers={**user["headers"], **(headers or {})})


def hashtag_counts(client: httpx.Client, headers: dict[str, str], q: str) -> dict[str, int]:
    r = client.get("/api/search/hashtags", params={"q": q, "limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    return {h["name"]: h["post_count"] for h in r.json()}


def wait_for_post_status(client: httpx.Client, headers: dict[str, str], post_id: int,
                         statuses: set[str], timeout: float = 30) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        r = client.get(f"/api/posts/{post_id}", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] in statuses else None

    return wait_until(check, timeout, 0.1, f"post {post_id} in {statuses}")
