"""Metrics on both services, and one request followed across both services'
JSON logs by its ids."""

from __future__ import annotations

import json
import uuid

import httpx

from instasaga.queues import CORE_REPLIES, SOCIAL_COMMANDS
from testkit.http import hashtag_counts, register_and_login
from testkit.processes import wait_until
from testkit.stack import Stack


def _log_lines(path) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # not ours (e.g. a line printed before logging was set up)
    return lines


def test_a_request_can_be_followed_across_both_services(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        request_id = str(uuid.uuid4())
        tag = f"obs{uuid.uuid4().hex[:8]}"
        r = c.post("/api/posts", json={"content": f"#{tag}"},
                   headers={**u["headers"], "X-Request-ID": request_id})
        assert r.status_code == 201 and r.headers["x-request-id"] == request_id
        wait_until(lambda: hashtag_counts(c, u["headers"], tag) == {tag: 1}, 10)
    core = [e for e in _log_lines(stack.core.log_path) if e.get("request_id") == request_id]
    assert core and all(e["service"] == "core-service" for e in core)
    saga_id = next(e["saga_id"] for e in core if e.get("saga_id"))
    social = [e for e in _log_lines(stack.social.log_path) if e.get("saga_id") == saga_id]
    assert any(e["msg"].startswith("handled index_post_hashtags") for e in social)
    # the event the saga published carries the saga's id as its correlation id (social's
    # projection handles it on its own queue, possibly after the search already answers)
    wait_until(lambda: any(e.get("correlation_id") == saga_id and "post.published" in e["msg"]
                           for e in _log_lines(stack.social.log_path)), 10,
               what="post.published handled by social, under the saga's id")


def test_metrics_on_both_services(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        assert c.post("/api/posts", json={"content": "#m"}, headers=u["headers"]).status_code \
            == 201
    core = httpx.get(f"{stack.core.url}/metrics").text
    social = httpx.get(f"{stack.social.url}/metrics").text
    for name in ('http_request_duration_seconds_count{method="POST",route="/api/posts",'
                 'status="201"}', 'sagas_started_total{type="create_post"}',
                 'sagas_ended_total{status="completed",type="create_post"}',
                 "saga_duration_seconds_bucket", "outbox_backlog_messages",
                 "outbox_oldest_unsent_age_seconds", "outbox_published_total",
                 f'messages_consumed_total{{queue="{CORE_REPLIES}",type="saga.reply"}}'):
        assert name in core, name
    for name in (f'messages_consumed_total{{queue="{SOCIAL_COMMANDS}",'
                 'type="index_post_hashtags"}',
                 "message_handling_seconds_bucket", "messages_dead_lettered_total",
                 "messages_redelivered_total"):
        assert name in social or name.split("{")[0] in social, name
    assert httpx.get(f"{stack.url}/metrics").status_code == 404  # not through the gateway


def test_each_service_serves_its_asyncapi_document(stack: Stack) -> None:
    from instasaga.asyncapi import asyncapi_document

    for service, url in (("core", stack.core.url), ("social", stack.social.url)):
        r = httpx.get(f"{url}/asyncapi.json")
        assert r.status_code == 200
        assert r.json() == json.loads(json.dumps(asyncapi_document(service)))
        assert r.json()["asyncapi"] == "3.0.0"


def test_the_docs_pages_load_nothing_from_elsewhere(stack: Stack) -> None:
    """/docs and /redoc work offline: their scripts and styles come from the service."""
    for url in (stack.core.url, stack.social.url):
        for page in ("/docs", "/redoc"):
            html = httpx.get(url + page).text
            assert "https://" not in html and "http://" not in html, page
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            r = httpx.get(f"{url}/docs-assets/{asset}")
            assert r.status_code == 200 and len(r.content) > 10_000, asset
