"""The operator endpoints the console reads, on both services: saga statistics, the
saga search, saga type definitions, the outbox and the supervised tasks."""

from __future__ import annotations

import httpx

from testkit.http import register_and_login
from testkit.processes import wait_until
from testkit.stack import Stack


def _post(stack: Stack, content: str) -> tuple[dict, httpx.Response]:  # type: ignore[type-arg]
    with stack.client() as c:
        user = register_and_login(c)
        return user, c.post("/api/posts", json={"content": content}, headers=user["headers"])


def test_saga_stats_count_by_type_and_status_with_recent_rates(stack: Stack) -> None:
    before = httpx.get(f"{stack.core.url}/ops/sagas/stats").json()
    _post(stack, "stats #counted")
    after = httpx.get(f"{stack.core.url}/ops/sagas/stats").json()

    def count(stats: dict, status: str) -> int:  # type: ignore[type-arg]
        return sum(c["count"] for c in stats["counts"]
                   if c["type"] == "create_post" and c["status"] == status)

    assert count(after, "completed") == count(before, "completed") + 1
    rates = {r["type"]: r for r in after["rates"]}
    assert set(rates) >= {"create_post", "delete_post", "delete_account"}
    assert rates["create_post"]["last_5_minutes"] >= 1
    assert rates["create_post"]["last_60_minutes"] >= rates["create_post"]["last_5_minutes"]
    assert after["service"] == "core" and after["stuck"] == 0
    social = httpx.get(f"{stack.social.url}/ops/sagas/stats").json()
    assert {r["type"] for r in social["rates"]} >= {"send_message", "create_story"}


def test_sagas_are_found_by_id_user_post_status_and_stuck(stack: Stack) -> None:
    user, r = _post(stack, "find me #search")
    assert r.status_code == 201, r.text
    post_id = r.json()["id"]
    ops = f"{stack.core.url}/ops/sagas"
    by_post = httpx.get(ops, params={"post_id": post_id}).json()
    assert [s["type"] for s in by_post] == ["create_post"]
    saga_id = by_post[0]["id"]
    assert [s["id"] for s in httpx.get(ops, params={"user_id": user["id"]}).json()] == [saga_id]
    assert [s["id"] for s in httpx.get(ops, params={"id": saga_id}).json()] == [saga_id]
    assert httpx.get(ops, params={"id": saga_id, "status": "failed"}).json() == []
    assert httpx.get(ops, params={"user_id": user["id"], "stuck": "true"}).json() == []
    assert httpx.get(ops, params={"post_id": 0}).status_code == 422


def test_saga_types_list_steps_with_their_service_and_compensation(stack: Stack) -> None:
    types = {t["type"]: t for t in httpx.get(f"{stack.core.url}/ops/saga-types").json()}
    steps = types["create_post"]["steps"]
    assert [(s["name"], s["service"], s["compensation"]) for s in steps] == [
        ("insert_post", "core", True), ("index_hashtags", "social", True),
        ("publish_post", "core", False)]
    assert steps[1]["command"] == "index_post_hashtags"
    assert steps[1]["compensation_command"] == "unindex_post_hashtags"
    assert steps[1]["timeout_seconds"] == 3.0 and steps[0]["timeout_seconds"] is None
    social = {t["type"]: t for t in httpx.get(f"{stack.social.url}/ops/saga-types").json()}
    assert social["send_message"]["initiator"] == "social"
    assert [s["service"] for s in social["send_message"]["steps"]] == ["social", "core",
                                                                       "social"]


def test_outbox_and_tasks_report_health(stack: Stack) -> None:
    for url in (stack.core.url, stack.social.url):
        outbox = wait_until(lambda url=url: (o := httpx.get(f"{url}/ops/outbox").json())
                            ["unsent"] == 0 and o, 20, 0.1, "outbox drained")
        assert outbox["healthy"] and outbox["parked"] == 0
        assert outbox["relay"]["running"] and outbox["dispatcher"]["running"]
        tasks = httpx.get(f"{url}/ops/tasks").json()
        assert tasks["down"] == []
        names = {t["name"] for t in tasks["tasks"]}
        assert {"outbox-relay", "outbox-dispatcher", "saga-deadlines"} <= names
        assert any(t["kind"] == "consumer" for t in tasks["tasks"])
