"""The operator console driven in Chromium against a real stack: sign in, saga
timelines (a completed and a rejected create_post), a failed compensation retried
from the page, a dead-lettered message replayed from the page, and no external URL."""

from __future__ import annotations

import re
from typing import Any

import aio_pika
import httpx
import pytest
from playwright.sync_api import Page, expect

from instasaga.queues import SOCIAL_PROJECTIONS
from ops_tools.console.urls import external_urls
from testkit.console import ConsoleProcess
from testkit.http import register_and_login
from testkit.infra import run_sync
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack

pytestmark = pytest.mark.browser

EVENTS_JS = ("els => els.map(e => [e.dataset.step, e.dataset.action, e.dataset.kind, "
             "e.dataset.compensation, e.dataset.service])")


def _open_saga(page: Page, query: str, field: str, saga_id: str) -> None:
    page.select_option("#search-field", field)
    page.get_by_test_id("search-q").fill(query)
    page.get_by_test_id("search-submit").click()
    page.get_by_test_id(f"view-{saga_id}").click()
    expect(page.locator("#detail-title")).to_have_text(saga_id)


def _events(page: Page) -> list[list[str]]:
    return page.locator("[data-testid=timeline] .tl-event").evaluate_all(EVENTS_JS)


def _core_saga(stack: Stack, **params: Any) -> dict[str, Any]:
    sagas = httpx.get(f"{stack.core.url}/ops/sagas", params=params).json()
    assert len(sagas) == 1, sagas
    return sagas[0]  # type: ignore[no-any-return]


def test_the_login_form_refuses_a_wrong_token(page: Page, console: ConsoleProcess) -> None:
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_test_id("login-token").fill("not the token")
    page.get_by_test_id("login-submit").click()
    expect(page.locator("#login-error")).to_contain_text("not the operator token")
    assert "not the token" not in page.url
    page.get_by_test_id("login-token").fill(console.token)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("service-core")).to_be_visible()
    expect(page.get_by_test_id("service-social")).to_be_visible()
    assert any('"action": "login"' in line and '"result": "refused"' in line
               for line in console.audit_lines())


def test_a_create_post_saga_shows_its_steps_in_order(page: Page, console_stack: Stack) -> None:
    with console_stack.client() as c:
        user = register_and_login(c)
        r = c.post("/api/posts", json={"content": "sunset #beach"}, headers=user["headers"])
        assert r.status_code == 201, r.text
        post_id = r.json()["id"]
    saga = _core_saga(console_stack, post_id=post_id)
    _open_saga(page, str(post_id), "post", saga["id"])
    expect(page.get_by_test_id("detail-status")).to_have_text("completed")
    # the trace the gateway started for the request (its id is the request id)
    expect(page.get_by_test_id("detail-trace")).to_have_text(r.headers["x-request-id"])
    expect(page.locator("[data-testid=timeline] svg")).to_be_visible()
    assert _events(page) == [
        ["insert_post", "completed", "local", "false", "core"],
        ["index_hashtags", "started", "command", "false", "social"],
        ["index_hashtags", "completed", "reply", "false", "social"],
        ["publish_post", "completed", "local", "false", "core"],
    ]
    expect(page.get_by_test_id("definition")).to_contain_text("unindex_post_hashtags")
    expect(page.locator("[data-testid=timeline] [data-lane=core]")).to_be_visible()
    expect(page.locator("[data-testid=timeline] [data-lane=social]")).to_be_visible()


def test_a_rejected_saga_shows_its_compensation(page: Page, console_stack: Stack) -> None:
    with console_stack.client() as c:
        user = register_and_login(c)
        r = c.post("/api/posts", json={"content": "nope #forbidden"}, headers=user["headers"])
        assert r.status_code >= 400, r.text
    saga = wait_until(lambda: [s for s in httpx.get(
        f"{console_stack.core.url}/ops/sagas", params={"user_id": user["id"]}).json()
        if s["status"] == "compensated"], 20, what="the saga compensated")[0]
    _open_saga(page, str(user["id"]), "user", saga["id"])
    expect(page.get_by_test_id("detail-status")).to_have_text("compensated")
    events = _events(page)
    assert ["index_hashtags", "rejected", "reply", "false", "social"] in events
    assert ["insert_post", "compensated", "local", "true", "core"] in events
    assert events.index(["insert_post", "compensated", "local", "true", "core"]) > \
        events.index(["index_hashtags", "rejected", "reply", "false", "social"])


def test_a_failed_compensation_is_retried_from_the_page(page: Page, console_stack: Stack,
                                                         console: ConsoleProcess) -> None:
    core, social = console_stack.core, console_stack.social
    with console_stack.client() as c:
        user = register_and_login(c)
    core.stop()
    try:
        r = httpx.post(f"{social.url}/api/stories", json={"content": "x"}, timeout=30,
                       headers={**user["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202, r.text

        def failed() -> dict[str, Any] | None:
            sagas = httpx.get(f"{social.url}/ops/sagas",
                              params={"type": "create_story", "user_id": user["id"]}).json()
            return sagas[0] if sagas and sagas[0]["status"] == "failed" else None

        saga = wait_until(failed, 30, 0.2, "record_story and its compensation given up")
    finally:
        core.start()
    page.reload()
    retry = page.get_by_test_id("attention").get_by_test_id(f"retry-{saga['id']}")
    retry.click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(saga["id"])
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("toast")).to_contain_text("Retried")
    wait_until(lambda: httpx.get(f"{social.url}/ops/sagas/{saga['id']}").json()["status"]
               == "compensated", 30, 0.2, "the retried compensation done")
    _open_saga(page, saga["id"], "saga", saga["id"])
    expect(page.get_by_test_id("detail-status")).to_have_text("compensated")
    events = _events(page)
    assert ["record_story", "compensated", "reply", "true", "core"] in events
    assert any(e[0] == "record_story" and e[1] == "retried" for e in events) or \
        any(e[1] == "compensating" for e in events)
    assert any('"action": "saga.retry"' in line and saga["id"] in line
               for line in console.audit_lines())


def _dead_letter_queued(amqp_url: str, queue: str) -> int:
    """Reject every message waiting in ``queue`` without requeue: they go to its DLQ."""

    async def go() -> int:
        conn = await aio_pika.connect(amqp_url)
        try:
            channel = await conn.channel()
            q = await channel.get_queue(queue, ensure=False)
            n = 0
            while (msg := await q.get(no_ack=False, fail=False)) is not None:
                await msg.reject(requeue=False)
                n += 1
            return n
        finally:
            await conn.close()

    return run_sync(go())


def test_a_dead_lettered_message_is_replayed_from_the_page(
        page: Page, console_stack: Stack, console: ConsoleProcess) -> None:
    social = console_stack.social
    dlq = f"{SOCIAL_PROJECTIONS}.dlq"
    social.stop()
    try:
        with httpx.Client(base_url=console_stack.core.url, timeout=30) as c:
            user = register_and_login(c)
        wait_until(lambda: scalar(console_stack.core_db,
                                  "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0,
                   20, 0.1, "user.created published")
        dead = wait_until(lambda: _dead_letter_queued(console_stack.amqp_url,
                                                      SOCIAL_PROJECTIONS), 20, 0.2,
                          "user.created dead-lettered")
    finally:
        social.start()
    assert scalar(console_stack.social_db,
                  f"SELECT count(*) FROM users WHERE id = {user['id']}") == 0
    page.reload()
    count = page.get_by_test_id(f"dlq-count-{dlq}")
    expect(count).to_have_text(str(dead))
    page.get_by_test_id(f"peek-{dlq}").click()
    expect(page.locator("#dlq-peek")).to_contain_text("rejected")
    page.get_by_test_id(f"replay-{dlq}").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Dry run")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("replay-summary")).to_contain_text(
        f"{dead} would be moved, 0 would be kept")
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Replay for real")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("replay-summary")).to_contain_text(f"{dead} moved, 0 kept")
    wait_until(lambda: scalar(console_stack.social_db,
                              f"SELECT count(*) FROM users WHERE id = {user['id']}") == 1,
               20, 0.1, "the replayed user.created consumed")
    expect(count).to_have_text("0")
    lines = console.audit_lines()
    assert any('"action": "dlq.replay.dry_run"' in line and dlq in line for line in lines)
    assert any('"action": "dlq.replay"' in line and dlq in line for line in lines)


def test_the_page_and_its_assets_name_no_external_url(page: Page,
                                                      console: ConsoleProcess) -> None:
    own = frozenset({f"127.0.0.1:{console.port}"})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.reload()
    expect(page.get_by_test_id("service-core")).to_be_visible()
    assert requested and all(url.startswith(console.url) for url in requested), requested
    assert external_urls(page.content(), own) == []
    assets = [url for url in page.locator("script[src], link[href]").evaluate_all(
        "els => els.map(e => e.src || e.href)") if not url.startswith("data:")]
    assert len(assets) >= 3
    for url in [f"{console.url}/", f"{console.url}/login", *assets]:
        r = page.request.get(url)
        assert r.ok, url
        assert external_urls(r.text(), own) == [], url
