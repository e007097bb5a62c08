"""Browser tests: Debian's chromium driven by Playwright, against the session's service.

The session fixtures (one Ray, one simulator, the service on Ray Serve) come
from the tests.fixtures plugin, shared with the integration tests.
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():
    """Headless chromium; a clear failure (not a skip) when it is not installed.

    Module-scoped on purpose: between its calls Playwright's sync API leaves its
    event loop marked as running in the main thread, which would break every
    asyncio test that runs after it in the same session.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium; "
                    "`playwright install` cannot download a browser here)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser context (own sessionStorage, downloads allowed) and page."""
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
