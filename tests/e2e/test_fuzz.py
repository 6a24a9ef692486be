"""Both services against their own OpenAPI documents, fuzzed by schemathesis: whatever
a client sends, valid or not, no 5xx, and every answer is one the document declares,
with its content type and body schema.

Each service's document is its own ``/openapi.json``, fetched from the running
service; schemathesis runs all its phases on it: the documents' examples, coverage
(boundary and invalid values of every parameter and field), fuzzing, and stateful
sequences of calls. Requests carry the bearer token of a user made for the run
(``DELETE /api/users/me`` is left out: it would end that user). By default the run is
short and the seed fixed; ``make fuzz`` runs longer with a random seed
(``FUZZ_MAX_EXAMPLES``, ``FUZZ_SEED``: a number or ``random``, ``FUZZ_MAX_TIME``).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testkit.http import register_and_login
from testkit.stack import Stack

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
#: the one operation left out: it would delete the user whose token the run uses
EXCLUDED_OPERATIONS = ("delete_me_api_users_me_delete",)

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
_SEED = os.environ.get("FUZZ_SEED", "20250101")
SEED = random.SystemRandom().randrange(2**31) if _SEED == "random" else int(_SEED)
#: seconds each service's run may take (the phases stop there, as passed)
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "30"))


@pytest.fixture(scope="module")
def fuzz_user(stack: Stack) -> dict[str, Any]:
    with stack.client() as c:
        return register_and_login(c)


def schemathesis_command(schema_url: str, token: str, report_dir: Path) -> list[str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", schema_url,
        "--checks", ",".join(CHECKS), "--phases", ",".join(PHASES),
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--max-time", str(MAX_TIME),
        "--header", f"Authorization: Bearer {token}",
        "--generation-database", "none", "--workers", "1", "--continue-on-failure",
        "--request-timeout", "30", "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(report_dir),
        "--no-color", "--output-truncate", "false", "--warnings", "off",
    ]
    for operation_id in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation_id]
    return command


@pytest.mark.timeout(MAX_TIME * 4 + 180)
@pytest.mark.parametrize("service", ["core", "social"])
def test_the_service_answers_what_its_document_says(
        stack: Stack, fuzz_user: dict[str, Any], service: str, tmp_path: Path) -> None:
    url = getattr(stack, service).url
    token = fuzz_user["headers"]["Authorization"].removeprefix("Bearer ")
    run = subprocess.run(schemathesis_command(f"{url}/openapi.json", token, tmp_path),
                         capture_output=True, text=True, timeout=MAX_TIME * 4 + 120,
                         check=False, cwd=tmp_path)
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    print(f"schemathesis on {service}-service, seed {SEED}:\n{output[-4000:]}")
    assert run.returncode == 0, (
        f"schemathesis found problems in {service}-service (seed {SEED}; rerun with "
        f"FUZZ_SEED={SEED}):\n{output[-20000:]}")
    assert "No issues found" in output or " passed" in output, output[-4000:]
