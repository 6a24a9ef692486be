"""The generic machinery (``shared_lib``) names no service of this system and never
imports its vocabulary (``instasaga``): another system could run on it as it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import shared_lib

GENERIC = Path(shared_lib.__file__).parent
SERVICE_NAMES = re.compile(r"CORE|SOCIAL|core\.|social\.")


def _modules() -> list[Path]:
    modules = sorted(GENERIC.rglob("*.py"))
    assert len(modules) > 30
    return modules


def test_the_generic_package_names_no_service() -> None:
    hits = [f"{path.relative_to(GENERIC)}:{n}: {line.strip()}"
            for path in _modules()
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if SERVICE_NAMES.search(line)]
    assert hits == []


def test_the_generic_package_never_imports_the_system_or_its_services() -> None:
    imported = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {(path.name, a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add((path.name, node.module.split(".")[0]))
    assert {(f, m) for f, m in imported
            if m in ("instasaga", "core_service", "social_service", "ops_tools")} == set()


#: the floors of docs/architecture.md ("Import floors"): a module imports from its own
#: floor and the ones below, never from above
FLOORS: dict[str, int] = {
    "contracts": 0,
    **dict.fromkeys(("tables", "db", "database", "settings", "logs", "metrics", "failpoints",
                     "security", "errors", "supervisor", "text", "schemas", "migrations",
                     "tracing"), 1),
    "messaging": 2,
    **dict.fromkeys(("outbox", "retention", "idempotency"), 3),
    "saga": 4,
    **dict.fromkeys(("runtime", "web", "deps", "ops", "ops_insight", "openapi", "app"), 5),
}


def _unit(path: Path) -> str:
    """The floor unit of a module: its package under shared_lib, or the module itself."""
    return path.relative_to(GENERIC).parts[0].removesuffix(".py")


def test_every_module_imports_only_from_its_floor_or_below() -> None:
    upward = []
    for path in _modules():
        unit = _unit(path)
        if unit == "__init__":
            continue
        assert unit in FLOORS, f"{unit} is on no floor: add it to the docs and here"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.startswith("shared_lib."):
                target = node.module.split(".")[1]
                if FLOORS[target] > FLOORS[unit]:
                    upward.append(f"{path.relative_to(GENERIC)} imports {node.module}")
    assert upward == []
