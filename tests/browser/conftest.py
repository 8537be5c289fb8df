"""Browser fixtures: Debian's Chromium driven by Playwright against the real stack.

Every page records console errors and uncaught exceptions; a test fails at teardown if
any appeared that it did not declare as expected (`console.expect_http_error(415)` for a
test that provokes an error reply on purpose, since Chromium logs every 4xx/5xx).
"""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from skimage import data as skdata

from tests.support.browser import wait_until_wired
from tests.support.images import jpeg_bytes
from tests.support.stack import REPO, Stack

# Actions wait 20 s (page.set_default_timeout below); expect() has its own default, 5 s,
# which a loaded CI machine can pass while a photo is predicted.
expect.set_options(timeout=20_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's Chromium is missing: apt-get install chromium"
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Console:
    """Console errors and page exceptions seen by one page."""

    HTTP_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed_statuses: set[int] = set()

    def expect_http_error(self, status: int) -> None:
        self.allowed_statuses.add(status)

    def on_console(self, msg) -> None:
        if msg.type != "error":
            return
        match = self.HTTP_ERROR.search(msg.text)
        if match and int(match.group(1)) in self.allowed_statuses:
            return
        self.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    def on_pageerror(self, exc) -> None:
        self.errors.append(f"pageerror: {exc}")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, stack: Stack, console: Console) -> Iterator[Page]:
    """A fresh English page on the gateway; fails the test on any unexpected console error."""
    context = browser.new_context(
        base_url=stack.url, locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = wait_until_wired(context.new_page())
    page.set_default_timeout(20_000)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_pageerror)
    yield page
    context.close()
    assert not console.errors, "errors in the browser console:\n" + "\n".join(console.errors)


@pytest.fixture(scope="session")
def shoot() -> Callable[[Page, str], Path]:
    """shoot(page, "batch") writes artifacts/screenshots/batch.png (the whole page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Real photos shipped with scikit-image, as JPEG files a person would upload."""
    return {
        "cat": jpeg_bytes(skdata.chelsea()),
        "astronaut": jpeg_bytes(skdata.astronaut()),
        "coffee": jpeg_bytes(skdata.coffee()),
        "rocket": jpeg_bytes(skdata.rocket()),
        "motorcycle": jpeg_bytes(skdata.stereo_motorcycle()[0]),
    }
