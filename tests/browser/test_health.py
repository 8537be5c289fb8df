"""The header's health indicator follows the services: a stopped inference shows, and clears."""

import pytest
from playwright.sync_api import Page, expect

from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def test_header_shows_inference_down_then_up(page: Page, stack: Stack, console) -> None:
    console.expect_http_error(503)  # /health answers 503 while a part is down
    page.goto("/")
    dot = page.locator("#health-dot")
    expect(dot).to_have_attribute("data-state", "ok")
    expect(page.locator("#health-parts li")).to_have_count(5)
    expect(page.locator("#health-parts li[data-part=disk]")).to_have_attribute("data-ok", "true")
    expect(page.locator("#reconnecting")).to_be_hidden()

    stack.kill("inference")
    try:
        expect(dot).to_have_attribute("data-state", "degraded", timeout=20_000)
        expect(page.locator("#health-summary")).to_have_text("Some services are down")
        expect(page.locator("#reconnecting")).to_have_text("Reconnecting… a part of tagloop is restarting.")
        page.locator("#health-summary").click()
        expect(page.locator("#health-parts li[data-part=inference]")).to_have_attribute("data-ok", "false")
        expect(page.locator("#health-parts li[data-part=redis]")).to_have_attribute("data-ok", "true")
    finally:
        stack.start("inference")
        stack.wait_ready()
    expect(dot).to_have_attribute("data-state", "ok", timeout=20_000)
    expect(page.locator("#reconnecting")).to_be_hidden()
    expect(page.locator("#model-version")).to_contain_text("Model v")
