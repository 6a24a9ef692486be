"""The docker compose stack end to end: `make up`, the API through the gateway, the broker's
users and queues, social-service killed and started again, `make down`.

Skipped when no Docker engine answers or can be started here. The stack gets a project name
of its own, free host ports and its own passwords, so it never meets a developer's stack
(testkit.compose).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from instasaga.queues import (
    CORE_REPLIES,
    CORE_STORY_EVENTS,
    SOCIAL_COMMANDS,
    SOCIAL_NOTIFICATIONS,
    SOCIAL_PROJECTIONS,
    SOCIAL_REPLIES,
    dlq_of,
)
from testkit.compose import ComposeStack, compose_stack
from testkit.http import delete_account, hashtag_counts, register_and_login, wait_for_post_status
from testkit.processes import wait_until

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def stack(docker_engine: None) -> Iterator[ComposeStack]:
    with compose_stack() as running:
        yield running


def test_only_the_gateway_the_management_ui_and_the_console_are_published(
        stack: ComposeStack) -> None:
    published: dict[str, set[tuple[str, str, str]]] = {}
    for container in stack.containers():
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                published.setdefault(service, set()).add(
                    (binding["HostIp"], binding["HostPort"], port))
    gateway = {(ip, host) for ip, host, port in published.pop("gateway") if port == "8000/tcp"}
    assert ("0.0.0.0", stack.env["GATEWAY_HOST_PORT"]) in gateway
    assert published.pop("rabbitmq") == {("127.0.0.1", stack.env["RABBITMQ_UI_PORT"],
                                          "15672/tcp")}
    assert published.pop("console") == {("127.0.0.1", stack.env["CONSOLE_HOST_PORT"],
                                         "8009/tcp")}
    assert published == {}


def test_the_console_signs_in_with_the_operator_token_and_sees_both_services(
        stack: ComposeStack) -> None:
    url = f"http://127.0.0.1:{stack.env['CONSOLE_HOST_PORT']}"
    with httpx.Client(base_url=url, timeout=30) as console:
        assert console.get("/api/overview").status_code == 401
        r = console.post("/login", data={"operator": "compose-test",
                                         "token": stack.env["OPS_TOKEN"]})
        assert (r.status_code, r.headers.get("location")) == (303, "/"), r.text
        overview = console.get("/api/overview")
        assert overview.status_code == 200, overview.text
    services = {s["service"]: s for s in overview.json()["services"]}
    assert set(services) == {"core", "social"}
    assert all(s["error"] is None for s in services.values()), services


def test_the_api_through_the_gateway(stack: ComposeStack) -> None:
    with stack.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        alice, bob = register_and_login(c), register_and_login(c)
        tag = f"compose{uuid.uuid4().hex[:8]}"
        r = c.post("/api/posts", json={"content": f"sunset #{tag}"}, headers=alice["headers"])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "published" and r.json()["hashtags"] == [tag]
        wait_until(lambda: hashtag_counts(c, alice["headers"], tag) == {tag: 1}, 30,
                   what="the hashtag searchable")

        r = c.post("/api/messages", json={"receiver_id": bob["id"], "content": "hi bob"},
                   headers=alice["headers"])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "sent"
        thread = c.get(f"/api/messages/{alice['id']}", headers=bob["headers"]).json()
        assert [m["content"] for m in thread] == ["hi bob"]

        r = c.post("/api/stories", json={"content": "my day"}, headers=alice["headers"])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "active"
        assert c.get(f"/api/users/{alice['id']}").json()["has_active_story"] is True

        r = delete_account(c, alice)
        assert r.status_code in (202, 204), r.text
        wait_until(lambda: c.get(f"/api/users/{alice['id']}").status_code == 404, 30,
                   what="the account deleted")
        r = c.post("/api/auth/login", json={"email": f"{alice['username']}@example.com",
                                            "password": alice["password"]})
        assert r.status_code == 401
        # the services' own routes are not on the gateway
        assert c.get("/ops/sagas").status_code == 404


def test_the_broker_has_the_topology_and_one_user_per_service(stack: ComposeStack) -> None:
    with httpx.Client(base_url=stack.rabbitmq_api, auth=stack.admin, timeout=30) as api:
        queues = {q["name"] for q in api.get("/api/queues/%2F").raise_for_status().json()}
        assert {"core.commands", CORE_REPLIES, SOCIAL_COMMANDS, SOCIAL_REPLIES,
                SOCIAL_PROJECTIONS, SOCIAL_NOTIFICATIONS,
                CORE_STORY_EVENTS, dlq_of(SOCIAL_COMMANDS)} <= queues
        users = {u["name"] for u in api.get("/api/users").raise_for_status().json()}
        assert users == {stack.admin[0], "core", "social"}  # no guest
        connected = {conn["user"] for conn in api.get("/api/connections").json()}
        assert connected == {"core", "social"}
        core = api.get("/api/permissions/%2F/core").raise_for_status().json()
        assert core["configure"] != ".*" and core["write"] != ".*"


def test_a_post_made_while_social_is_down_is_published_once_it_is_back(
        stack: ComposeStack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        tag = f"outage{uuid.uuid4().hex[:8]}"
        stack.compose("kill", "social-service")
        try:
            r = c.post("/api/posts", json={"content": f"while social is down #{tag}"},
                       headers=alice["headers"])
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "pending"
        finally:
            # a killed container counts as stopped by hand: its restart policy leaves it
            stack.compose("start", "social-service")
        post = wait_for_post_status(c, alice["headers"], r.json()["id"], {"published",
                                                                           "rejected"}, 120)
        assert post["status"] == "published", post
        wait_until(lambda: hashtag_counts(c, alice["headers"], tag) == {tag: 1}, 60,
                   what="the hashtag searchable")


def test_a_crashed_service_is_restarted_by_its_policy(stack: ComposeStack) -> None:
    def restarts() -> int:
        [social] = [x for x in stack.containers()
                    if x["Config"]["Labels"]["com.docker.compose.service"] == "social-service"]
        return int(social["RestartCount"])

    before = restarts()
    # the server itself exits (not a stop by hand): restart: unless-stopped brings it back
    stack.compose("exec", "-T", "social-service", "sh", "-c", "kill -TERM 1")
    wait_until(lambda: restarts() > before, 60, 0.5, "social-service restarted")
    with stack.client() as c:
        alice = register_and_login(c)
        wait_until(lambda: c.post("/api/stories", json={"content": "back"},
                                  headers=alice["headers"]).status_code == 201, 120, 1,
                   "a story once social-service is back")
