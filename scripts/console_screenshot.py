"""``make console-screenshot``: docs/console-timeline.png, a saga's timeline in the console.

Starts a stack of its own (both services and the gateway, on the machine's PostgreSQL
and RabbitMQ with a database and vhost of their own, as the tests do) and the console,
makes a create_story saga whose participant (core) is away past the step deadline, so
that it compensates once core is back, opens its timeline in Chromium (the system's
/usr/bin/chromium, headless) and saves the picture. Everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from testkit.console import ConsoleProcess
from testkit.http import register_and_login
from testkit.infra import provide_infra
from testkit.otlp import OtlpReceiver
from testkit.processes import wait_until
from testkit.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


def _saga(url: str, user_id: int) -> dict | None:  # type: ignore[type-arg]
    sagas = httpx.get(f"{url}/ops/sagas", params={"type": "create_story",
                                                  "user_id": user_id}).json()
    return sagas[0] if sagas else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console-timeline.png")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="console-screenshot-"))
    # tracing on (to a receiver of its own), so the saga shows its trace id
    with OtlpReceiver() as otlp, provide_infra() as infra, running_stack(
            infra, log_dir, env={"SAGA_STEP_TIMEOUT_SECONDS": "2", "SAGA_STEP_MAX_ATTEMPTS": "1",
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint}) as stack:
        console = ConsoleProcess(stack, log_dir).start()
        try:
            with stack.client() as c:
                user = register_and_login(c, "alice")
                c.post("/api/posts", json={"content": "golden hour #sunset"},
                       headers=user["headers"])
            stack.core.stop()
            try:
                r = httpx.post(f"{stack.social.url}/api/stories", json={"content": "hi"},
                               headers={**user["headers"], "Prefer": "respond-async"},
                               timeout=30)
                r.raise_for_status()
                wait_until(lambda: (s := _saga(stack.social.url, user["id"])) is not None
                           and s["status"] == "compensating", 30, 0.2, "compensating")
            finally:
                stack.core.start()
            saga = wait_until(lambda: (s := _saga(stack.social.url, user["id"])) is not None
                              and s["status"] == "compensated" and s, 60, 0.2, "compensated")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900},
                                        device_scale_factor=1)
                page.goto(f"{console.url}/login")
                page.get_by_test_id("login-operator").fill("alice")
                page.get_by_test_id("login-token").fill(console.token)
                page.get_by_test_id("login-submit").click()
                expect(page.get_by_test_id("service-core")).to_be_visible()
                page.select_option("#search-field", "saga")
                page.get_by_test_id("search-q").fill(saga["id"])
                page.get_by_test_id("search-submit").click()
                page.get_by_test_id(f"view-{saga['id']}").click()
                expect(page.get_by_test_id("detail-status")).to_have_text("compensated")
                page.locator("#auto-refresh").uncheck()
                # the sticky top bar would cover part of the picture
                page.locator(".topbar").evaluate("bar => { bar.style.position = 'static'; }")
                page.locator("#detail .card").screenshot(path=str(args.out))
                browser.close()
        finally:
            console.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
