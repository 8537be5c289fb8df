"""The page rides through a restart: the training service is killed in the middle of a
keyboard review and supervisord brings it back; the page says it reconnects, keeps the
saves made meanwhile and sends them again until they land."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.review import CARD, card_name, photo_files, start_session, type_labels
from tests.support.stack import Stack, running_stack
from tests.support.training import CONTRADICTING

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: its training service is killed."""
    with running_stack(tmp_path_factory.mktemp("reconnect-stack"), v1_model_dir) as system:
        yield system


def test_review_saves_made_while_training_restarts_all_land(page: Page, stack: Stack, console) -> None:
    console.expect_http_error(503)  # the gateway's answer while the training service is down
    console.expect_http_error(502)
    sid = start_session(page, photo_files("rc", 8))
    page.locator(CARD).focus()
    typed: dict[str, set[str]] = {}

    def review_one(k: int) -> None:
        name = card_name(page)
        typed[name] = set(CONTRADICTING[k % len(CONTRADICTING)])
        type_labels(page, typed[name])
        page.keyboard.press("Enter")

    for k in range(3):
        review_one(k)
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")
    # Every state the progress line goes through, to see what it said while saves waited.
    page.evaluate(
        """() => {
          const line = document.getElementById("rev-progress");
          window.progressSeen = [];
          new MutationObserver(() => window.progressSeen.push([line.textContent, line.dataset.saved]))
            .observe(line, { childList: true, characterData: true, subtree: true, attributes: true });
        }"""
    )

    killed = stack.crash("training")  # SIGKILL; supervisord restarts it, nothing here does
    for k in range(3, 8):
        review_one(k)
    banner = page.locator("#reconnecting")
    expect(banner).to_contain_text("Reconnecting…", timeout=30_000)

    # Every save lands once the service is back, without a key pressed again.
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0", timeout=120_000)
    expect(banner).to_be_hidden(timeout=30_000)
    assert stack.pid("training") != killed
    items = httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]
    assert {i["filename"]: set(i["labels"] or []) for i in items} == typed
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    latest = {r["image_id"]: set(r["corrected_labels"]) for r in rows}
    assert {i["filename"]: latest.get(i["image_id"]) for i in items} == typed
    expect(page.locator("#rev-msg")).not_to_have_attribute("data-kind", "error")
    # A save on its way is not counted as reviewed: it is shown as being saved until it lands.
    seen = page.evaluate("window.progressSeen")
    waiting = [(text, saved) for text, saved in seen if "being saved" in text]
    assert waiting, seen
    assert all(int(saved) < 8 for _, saved in waiting), waiting
    expect(page.locator("#rev-progress")).to_have_attribute("data-saved", "8")
