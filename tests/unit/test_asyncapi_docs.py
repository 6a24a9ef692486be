"""The AsyncAPI documents: generated from the contracts and the topology, committed
under docs/asyncapi/, and valid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from instasaga.asyncapi import SERVICES, asyncapi_document
from instasaga.topology import system_topology
from shared_lib.contracts import registry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"
ASYNCAPI_CLI = "@asyncapi/cli@6.2.0"
by_service = pytest.mark.parametrize("service", SERVICES)


@by_service
def test_the_committed_document_is_the_generated_one(service: str) -> None:
    committed = yaml.safe_load((DOCS / f"{service}.yaml").read_text())
    assert committed == json.loads(json.dumps(asyncapi_document(service))), (
        f"docs/asyncapi/{service}.yaml is out of date: run `make asyncapi`")


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [
            r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@by_service
def test_every_reference_resolves_and_every_channel_is_used(service: str) -> None:
    doc = asyncapi_document(service)
    for ref in _refs(doc):
        _resolve(doc, ref)
    used = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values()}
    assert used == set(doc["channels"])


@by_service
def test_every_queue_binding_of_the_service_is_a_receive(service: str) -> None:
    doc = asyncapi_document(service)
    received = {(ch["bindings"]["amqp"]["exchange"]["name"], ch["address"])
                for op in doc["operations"].values() if op["action"] == "receive"
                for ch in [_resolve(doc, op["channel"]["$ref"])]}
    known = {c.type for c in registry.all()}
    for q in system_topology().queues:
        if q.owner == service:
            for b in q.bindings:
                if b.routing_key in known:
                    assert (b.exchange, b.routing_key) in received


def test_each_event_is_sent_by_its_publisher_and_received_by_its_consumers() -> None:
    core, social = (asyncapi_document(s) for s in SERVICES)

    def names(doc: dict[str, Any], action: str) -> set[str]:
        return {_resolve(doc, m["$ref"])["$ref"].rsplit("/", 1)[1]
                for op in doc["operations"].values() if op["action"] == action
                for m in op["messages"]}

    assert {"post_published", "index_post_hashtags", "saga_reply"} <= names(core, "send")
    assert {"post_published", "index_post_hashtags"} <= names(social, "receive")
    assert {"authorize_message", "message_sent"} <= names(social, "send")
    assert "authorize_message" in names(core, "receive")


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node.js (npx) is not installed")
@by_service
def test_the_official_cli_validates_it(service: str, tmp_path: Path) -> None:
    env = {**os.environ, "SUPPRESS_NO_CONFIG_WARNING": "1", "NODE_NO_WARNINGS": "1"}
    run = subprocess.run(["npx", "-y", ASYNCAPI_CLI, "validate", str(DOCS / f"{service}.yaml"),
                          "--fail-severity", "error"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "is valid" in run.stdout, run.stdout

