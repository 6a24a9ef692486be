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
