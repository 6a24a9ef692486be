"""The operator console in Chromium: a stack of its own, the console as a process,
and a page signed in through the login form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from testkit.console import ConsoleProcess
from testkit.infra import Infra
from testkit.otlp import OtlpReceiver
from testkit.stack import Stack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
#: how long an assertion on the page waits: the page refreshes every 5 s, and the
#: management API's queue statistics lag the broker by up to about 10 s for quorum
#: queues (the dead-letter queues are)
EXPECT_TIMEOUT_MS = 30_000
#: short deadlines: a participant that is away makes a saga's compensation give up
#: within seconds
BROWSER_STACK_ENV = {
    "BANNED_HASHTAGS": "forbidden",
    "SAGA_STEP_TIMEOUT_SECONDS": "2",
    "SAGA_STEP_MAX_ATTEMPTS": "1",
    "SAGA_COMPENSATION_MAX_ATTEMPTS": "1",
}


@pytest.fixture(scope="module")
def console_stack(infra: Infra, otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Stack]:
    """The stack, tracing on (its spans go to ``otlp``), so sagas have a trace id."""
    env = {**BROWSER_STACK_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint}
    with running_stack(infra, tmp_path_factory.mktemp("browser-stack"), env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def console(console_stack: Stack, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[ConsoleProcess]:
    process = ConsoleProcess(console_stack, tmp_path_factory.mktemp("console")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # package-scoped: the sync API keeps an event loop running in the main thread
    # while it is open, which later tests calling asyncio.run must not inherit
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests use the system's Chromium "
                    "(apt-get install chromium chromium-driver); Playwright never "
                    "downloads one here")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield browser
    finally:
        browser.close()


def sign_in(page: Page, console: ConsoleProcess, operator: str = "tester") -> None:
    page.goto(f"{console.url}/login")
    page.get_by_test_id("login-operator").fill(operator)
    page.get_by_test_id("login-token").fill(console.token)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("operator")).to_have_text(operator)


@pytest.fixture
def page(browser: Browser, console: ConsoleProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, console)
    try:
        yield page
    finally:
        context.close()
