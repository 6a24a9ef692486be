"""The OpenAPI documents: generated from the apps, committed under docs/openapi/, and
telling the truth about what the services take and answer."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "openapi"
TEMPLATE = ROOT / "gateway" / "src" / "instasaga_gateway" / "default.conf.template"
REGENERATE = "make openapi (uv run python scripts/write_openapi.py)"
SERVICES = ("core", "social")
by_service = pytest.mark.parametrize("service", SERVICES)
METHODS = {"get", "put", "post", "delete", "patch"}
#: the writes a saga carries out: 202 with a Location to poll while it runs
SAGA_WRITES = {("core", "post", "/api/posts"), ("core", "delete", "/api/posts/{post_id}"),
               ("social", "post", "/api/messages"), ("social", "post", "/api/stories")}


#: request strings whose route declares them without the text rule: none
UNCHECKED_STRINGS: set[tuple[str, str, str]] = set()


@cache
def _script() -> Any:
    spec = importlib.util.spec_from_file_location("write_openapi",
                                                  ROOT / "scripts" / "write_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _gateway() -> Any:
    spec = importlib.util.spec_from_file_location("write_gateway",
                                                  ROOT / "scripts" / "write_gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


@cache
def generated(service: str) -> dict[str, Any]:
    return json.loads(json.dumps(_script().document(service)))


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def strings(doc: dict[str, Any], schema: dict[str, Any], where: str,
            seen: frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every string schema inside ``schema`` (through references, unions, objects)."""
    ref = schema.get("$ref")
    if ref in seen:
        return
    if ref:
        seen = seen | {ref}
    schema = resolve(doc, schema)
    if schema.get("type") == "string":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            if "required" in sub:
                continue  # which fields an object needs; their definitions are below
            yield from strings(doc, sub, f"{where}|{i}", seen)
    for name, prop in schema.get("properties", {}).items():
        yield from strings(doc, prop, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from strings(doc, schema["items"], f"{where}[]", seen)


@by_service
def test_the_committed_document_is_the_generated_one(service: str) -> None:
    path = DOCS / f"{service}.json"
    assert path.is_file(), f"docs/openapi/{service}.json is missing: run {REGENERATE}"
    assert json.loads(path.read_text()) == generated(service), (
        f"docs/openapi/{service}.json is out of date: run {REGENERATE}")


@by_service
def test_every_error_answer_has_the_error_body(service: str) -> None:
    doc = generated(service)
    for method, path, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            name = schema["$ref"].rsplit("/", 1)[1]
            expected = "ValidationErrorOut" if status == "422" else "ErrorOut"
            if (path, status) == ("/ready", "503"):
                expected = "ReadyOut"  # not ready: which of its dependencies is down
            assert name == expected, (method, path, status)
            if name != "ReadyOut":
                assert "detail" in resolve(doc, schema)["required"]


@by_service
def test_what_a_route_depends_on_is_documented(service: str) -> None:
    doc = generated(service)
    for method, path, operation in operations(doc):
        statuses = set(operation["responses"])
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in statuses, (method, path)
        if "requestBody" in operation:
            assert {"400", "413"} <= statuses, (method, path)
        if path.startswith("/api/") and path not in ("/api/auth/register", "/api/auth/login",
                                                     "/api/auth/token", "/api/auth/refresh",
                                                     "/api/auth/logout"):
            assert {"401", "503"} <= statuses, (method, path)
    assert "401" not in doc["paths"]["/health"]["get"]["responses"]


@by_service
def test_saga_writes_answer_202_with_a_location(service: str) -> None:
    doc = generated(service)
    writes = {(method, path) for s, method, path in SAGA_WRITES if s == service}
    for method, path in writes:
        accepted = doc["paths"][path][method]["responses"]["202"]
        assert accepted["headers"]["Location"]["required"] is True, (method, path)


def test_429_is_documented_where_the_gateway_throttles() -> None:
    limited = set(re.findall(r"location\s*=\s*(/[\w/]+)\s*\{\s*limit_req\b",
                             TEMPLATE.read_text()))
    assert limited  # sign-in, registration and token refresh
    for edge in _gateway().edges():
        documented = {path for _, path, op in operations(generated(edge.service))
                      if "429" in op["responses"]}
        assert documented == set(edge.throttled) == limited & documented


@by_service
def test_every_string_a_client_sends_has_a_pattern(service: str) -> None:
    """A pattern (the shared text rule's, or a stricter one) tells which characters
    pass: none of them a control character the services refuse."""
    doc = generated(service)
    found = 0
    for method, path, operation in operations(doc):
        sources = [(f"{p['in']}:{p['name']}", p["schema"])
                   for p in operation.get("parameters", [])]
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            sources.append((f"body({media})", content["schema"]))
        for where, schema in sources:
            for place, string in strings(doc, schema, where):
                if "enum" in string or string.get("format") in ("uuid", "binary"):
                    continue
                if (service, method, path) in UNCHECKED_STRINGS:
                    continue
                found += 1
                assert "pattern" in string, (method, path, place)
                assert not re.match(string["pattern"], "nul\x00"), (method, path, place)
    assert found > 5


@by_service
def test_paging_is_bounded(service: str) -> None:
    doc = generated(service)
    paged = 0
    for method, path, operation in operations(doc):
        for p in operation.get("parameters", []):
            if p["name"] in ("offset", "limit"):
                paged += 1
                assert p["schema"]["maximum"] <= 10_000, (method, path, p["name"])
                assert p["schema"]["minimum"] >= 0, (method, path, p["name"])
    assert paged > 4


def test_urls_are_web_urls() -> None:
    core, social = generated("core"), generated("social")
    for doc, model, field in [(core, "PostIn", "image_url"),
                              (core, "UserUpdateIn", "profile_image_url"),
                              (social, "StoryIn", "image_url")]:
        (string,) = [s for _, s in strings(doc, doc["components"]["schemas"][model]
                                           ["properties"][field], field)]
        assert string["pattern"].startswith("^[Hh][Tt][Tt][Pp][Ss]?://"), (model, field)
        assert not re.match(string["pattern"], "javascript:alert(1)")
        assert re.match(string["pattern"], "https://cdn.example.com/a.png")
