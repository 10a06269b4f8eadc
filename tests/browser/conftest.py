"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, headless, nothing downloaded) against the
real stack of tests/e2e (one stack per session, shared with the e2e tests). Screenshots go to results/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import PROJECT_ROOT
from tests.e2e.conftest import new_shopper, stack, staff_account  # noqa: F401  (the shared session stack)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "results" / "screenshots"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright. A missing browser fails the run (never a silent skip).
    Package scope, not session: Playwright's sync API keeps an event loop running in this thread while it is open,
    and the e2e tests that run after these call `asyncio.run`."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests drive Debian's Chromium; run `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()
    print(f"\nbrowser tests: Chromium open for {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
