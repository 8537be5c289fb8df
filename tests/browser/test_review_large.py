"""The Review tab's grid on a session of 5,000 cards (a folder of 5,000 photos): only the
rows in view are in the page, scrolling brings the others, keys and selection still work."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.large_session import large_session_items
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

N = 5000
TILES = "#rev-grid li.rev-tile"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: a 5,000-card session would be every other test's latest."""
    with running_stack(tmp_path_factory.mktemp("review-large-stack"), v1_model_dir) as system:
        yield system


def test_the_grid_of_a_5000_card_session_draws_what_is_in_view(page: Page, stack: Stack) -> None:
    items = large_session_items(stack.data_dir / "uploads", N)
    body = {"name": "folder", "order": "upload", "items": items}
    reply = httpx.post(f"{stack.url}/sessions", json=body, timeout=120)
    assert reply.status_code == 201, reply.text
    sid = reply.json()["session"]["id"]

    page.add_init_script(f"localStorage.setItem('tagloop.review.session', '{sid}')")
    page.goto("/#review")
    expect(page.locator("#rev-session")).to_have_value(str(sid))
    expect(page.locator("#rev-progress")).to_contain_text(re.compile(r"^0 / 5,000 reviewed"))
    page.locator("#rev-view").click()
    grid = page.locator("#rev-grid")
    expect(grid).to_have_attribute("data-count", str(N))
    expect(page.locator(f"{TILES}[data-filename='card00000.png']")).to_be_visible()
    drawn = page.locator(TILES).count()
    assert 0 < drawn < 200, f"{drawn} tiles in the page for {N} cards"

    # scrolled to the end: the last cards are drawn in their place, the first ones are gone
    grid.evaluate("g => { g.scrollTop = g.scrollHeight; }")
    last = page.locator("#rev-tile-4999")
    expect(last).to_have_attribute("data-filename", "card04999.png")
    expect(last).to_be_in_viewport()
    expect(page.locator(f"{TILES}[data-filename='card00000.png']")).to_have_count(0)
    assert page.locator(TILES).count() < 200
    expect(last.locator("img")).to_have_js_property("complete", True)

    # back to the top with the keyboard: the cursor's tile comes into view; Ctrl+A takes all 5,000
    grid.evaluate("g => { g.scrollTop = 0; }")
    page.locator(f"{TILES}[data-filename='card00000.png']").click()
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    cursor = page.locator(f"{TILES}.is-cursor")
    expect(cursor).to_be_in_viewport()
    page.keyboard.press("Control+a")
    expect(page.locator("#rev-selected")).to_contain_text(re.compile(r"^5,?000 selected"))
    expect(page.locator(f"{TILES}[aria-selected=true]")).to_have_count(page.locator(TILES).count())
