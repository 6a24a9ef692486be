"""The console's pure parts: sessions, the login throttle, the audit line, the
timeline, the search box, and the page's files naming no other host."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import HTTPException

from ops_tools.console.audit import AuditLog, session_ref
from ops_tools.console.routes_dlqs import death_of, peeked
from ops_tools.console.routes_sagas import SearchField, search_params
from ops_tools.console.sessions import LoginThrottle, SessionStore, token_matches
from ops_tools.console.timeline import build_timeline
from ops_tools.console.urls import external_urls

STATIC = Path(__file__).resolve().parents[2] / "src" / "ops_tools" / "console" / "static"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_random_and_ends() -> None:
    clock = Clock()
    store = SessionStore(lifetime=60, clock=clock)
    a, b = store.create("alice"), store.create("bob")
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 40
    assert store.get(a.id) == a
    assert store.get("nope") is None and store.get(None) is None
    assert a.csrf_matches(a.csrf) and not a.csrf_matches(b.csrf) and not a.csrf_matches(None)
    clock.now += 61
    assert store.get(a.id) is None
    store.drop(b.id)
    assert len(store) == 0


def test_failed_logins_are_throttled_per_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(failures=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == pytest.approx(60)
    assert throttle.retry_after("5.6.7.8") == 0
    clock.now += 30
    assert throttle.retry_after("1.2.3.4") == pytest.approx(30)
    clock.now += 31
    assert throttle.retry_after("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    throttle.succeeded("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 0


def test_token_comparison() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", "s3cret") and not token_matches("", "s3cret")


def test_an_action_is_one_structured_audit_line(caplog: pytest.LogCaptureFixture) -> None:
    audit = AuditLog(keep=2)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="ops_tools.console.audit"):
        audit.record(operator="alice", session=session_ref("sid"), action="saga.retry",
                     target="core/saga/x", result="ok: compensated", at=at)
    line = json.loads(caplog.records[0].getMessage())
    assert line == {"audit": True, "at": "2026-01-02T03:04:05Z", "operator": "alice",
                    "session": session_ref("sid"), "action": "saga.retry",
                    "target": "core/saga/x", "result": "ok: compensated", "detail": {}}
    assert "sid" not in line["session"]
    audit.record(operator="a", session="s", action="b", target="c", result="d")
    audit.record(operator="a", session="s", action="e", target="c", result="d")
    assert [r.action for r in audit.recent()] == ["e", "b"]


DEFINITION = {"type": "create_post", "initiator": "core", "steps": [
    {"index": 0, "name": "insert_post", "kind": "local", "service": "core",
     "compensation": True},
    {"index": 1, "name": "index_hashtags", "kind": "remote", "service": "social",
     "command": "index_post_hashtags", "compensation": True,
     "compensation_command": "unindex_post_hashtags", "timeout_seconds": 3.0},
    {"index": 2, "name": "publish_post", "kind": "local", "service": "core",
     "compensation": False},
]}


def _entry(step: str, action: str, ms: int, compensation: bool = False) -> dict[str, object]:
    return {"step": step, "action": action, "compensation": compensation, "detail": None,
            "at": f"2026-01-01T00:00:00.{ms:03d}000+00:00"}


def test_a_rejected_saga_is_laid_out_between_lanes_with_its_compensations() -> None:
    saga = {"created_at": "2026-01-01T00:00:00+00:00", "updated_at": None,
            "deadline": "2026-01-01T00:00:03+00:00", "steps": [
                _entry("insert_post", "completed", 0),
                _entry("index_hashtags", "started", 0),
                _entry("index_hashtags", "rejected", 40),
                _entry("insert_post", "compensated", 50, compensation=True),
            ]}
    t = build_timeline(saga, DEFINITION, "core")
    assert t.lanes == ["core", "social"]
    kinds = [(e.step, e.kind, e.source, e.target) for e in t.events]
    assert kinds == [("insert_post", "local", "core", "core"),
                     ("index_hashtags", "command", "core", "social"),
                     ("index_hashtags", "reply", "social", "core"),
                     ("insert_post", "local", "core", "core")]
    assert t.events[1].message == "index_post_hashtags"
    assert t.events[1].handled_by == t.events[2].handled_by == "social"
    assert t.events[2].duration_ms == 40 and t.events[2].offset_ms == 40
    assert t.events[3].compensation
    assert t.deadline_ms == 3000 and t.total_ms == 50


def test_a_compensation_command_names_its_message() -> None:
    saga = {"created_at": "2026-01-01T00:00:00+00:00", "deadline": None, "steps": [
        _entry("index_hashtags", "compensating", 10, compensation=True),
        _entry("index_hashtags", "compensated", 30, compensation=True)]}
    t = build_timeline(saga, DEFINITION, "core")
    assert [(e.kind, e.message) for e in t.events] == [("command", "unindex_post_hashtags"),
                                                       ("reply", "saga.reply")]
    assert t.events[1].duration_ms == 20 and t.deadline_ms is None


def test_the_search_box() -> None:
    uid = "6f1c1c1e-0a8a-4a53-9d7e-4e2f5e3b1a10"
    assert search_params(SearchField.any, uid) == [{"id": uid}]
    assert search_params(SearchField.any, " 12 ") == [{"user_id": "12"}, {"post_id": "12"}]
    assert search_params(SearchField.user, "12") == [{"user_id": "12"}]
    assert search_params(SearchField.post, "12") == [{"post_id": "12"}]
    assert search_params(SearchField.any, "") == [{}]
    for field, q in [(SearchField.any, "bob"), (SearchField.saga, "12"),
                     (SearchField.user, "0")]:
        with pytest.raises(HTTPException):
            search_params(field, q)


def test_a_peeked_message_shows_its_death() -> None:
    raw = {"payload": '{"a": 1}', "payload_encoding": "string", "routing_key": "q.dlq",
           "exchange": "core.dlx", "redelivered": False,
           "properties": {"message_id": "m1", "type": "post.published", "headers": {
               "x-death": [{"exchange": "core.events", "routing-keys": ["post.published"],
                            "queue": "social.events.projections", "reason": "rejected",
                            "count": 1, "time": 1767225600}],
               "x-last-death-reason": "rejected",
               "x-last-death-queue": "social.events.projections"}}}
    m = peeked(raw)
    assert m.payload == {"a": 1} and m.type == "post.published"
    assert m.death is not None and m.death.routing_key == "post.published"
    assert m.death.time is not None and m.death.time.startswith("2026-01-01")
    assert m.error == "rejected in social.events.projections"
    assert death_of({}) is None


def test_external_urls_are_found() -> None:
    assert external_urls('<script src="https://cdn.example.com/x.js">') == [
        "https://cdn.example.com/x.js"]
    assert external_urls('<a href="//evil.example/x">') != []
    assert external_urls("url(//fonts.example/x.woff)") != []
    assert external_urls('fetch("/api/x"); marker-end="url(#arrow)"') == []
    assert external_urls("http://127.0.0.1:8009/x", frozenset({"127.0.0.1:8009"})) == []


def test_the_page_files_name_no_other_host() -> None:
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} >= {"index.html", "login.html", "console.js",
                                       "console.css", "timeline.js"}
    for f in files:
        assert external_urls(f.read_text()) == [], f.name


def test_a_step_without_a_reply_is_a_timeout_on_the_initiators_lane_first() -> None:
    definition = {"steps": [{"name": "record_story", "kind": "remote", "service": "core",
                             "command": "record_story", "compensation": True,
                             "compensation_command": "unrecord_story",
                             "timeout_seconds": 2.0}]}
    saga = {"created_at": "2026-01-01T00:00:00+00:00", "deadline": None, "steps": [
        _entry("record_story", "started", 0),
        {**_entry("record_story", "rejected", 900),
         "detail": "no reply from record_story after 1 attempts"}]}
    t = build_timeline(saga, definition, "social")
    assert t.lanes == ["social", "core"]
    assert [(e.kind, e.source, e.target) for e in t.events] == [
        ("command", "social", "core"), ("timeout", "social", "social")]
    assert t.events[0].reply_due_ms == 2000


def test_a_queue_of_the_management_api() -> None:
    from ops_tools.console.routes_overview import queue_out

    q = queue_out({"name": "core.commands", "messages": 3, "messages_ready": 2,
                   "messages_unacknowledged": 1, "consumers": 1,
                   "message_stats": {"publish_details": {"rate": 1.5},
                                     "deliver_get_details": {"rate": 0.5}}})
    assert (q.messages, q.ready, q.unacked, q.consumers) == (3, 2, 1, 1)
    assert (q.publish_rate, q.deliver_rate, q.ack_rate) == (1.5, 0.5, 0.0)
    empty = queue_out({"name": "x.dlq"})
    assert empty.messages == 0 and empty.publish_rate == 0.0
