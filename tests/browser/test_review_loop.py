"""The Review tab as a loop a person can trust: keys reach the card wherever focus is, the
order is followed while photos upload, bulk changes touch one label and can be undone,
two browsers share a session, the card fits the screen."""

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from support.review import CARD, card_name, photo_files, start_session, type_labels
from support.stack import Stack, running_stack
from support.training import CONTRADICTING

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: its sessions and corrections touch no other test."""
    with running_stack(tmp_path_factory.mktemp("review-loop-stack"), v1_model_dir) as system:
        yield system


def session_items(stack: Stack, sid: int) -> list[dict]:
    """The session's cards in the server's order."""
    return httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]


def session_count(stack: Stack) -> int:
    return len(httpx.get(f"{stack.url}/sessions").json()["sessions"])


def wait_until(page: Page, ready: Callable[[], bool]) -> None:
    """Let the page run (routes are answered meanwhile) until `ready()`; 20 s at most."""
    for _ in range(400):
        if ready():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page never got there")


def answered(page: Page) -> None:
    """Every save the page sent has its answer."""
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")


FOCUS_TARGETS = [
    "#tab-individual",
    "#tab-review",
    "#tab-batch",
    "#tab-corrections",
    "#tab-models",
    "#rev-new",
    "#rev-view",
    "#rev-threshold",
    "#rev-files",
]


def test_type_labels_wherever_focus_is(page: Page, stack: Stack) -> None:
    n = len(FOCUS_TARGETS) + 1
    sid = start_session(page, photo_files("focus", n, offset=24))
    expect(page.locator("#rev-keys-active")).to_be_visible()
    sessions = session_count(stack)
    typed: dict[str, set[str]] = {}

    def label_and_save(k: int) -> None:
        name = card_name(page)
        typed[name] = set(CONTRADICTING[k % len(CONTRADICTING)])
        type_labels(page, typed[name])
        page.keyboard.press("Enter")
        expect(page.locator("#rev-progress")).to_contain_text(f"{k + 1} / {n} reviewed")

    for k, selector in enumerate(FOCUS_TARGETS):
        page.locator(selector).focus()
        expect(page.locator("#rev-keys-active")).to_be_visible()
        label_and_save(k)
        expect(page.locator("#panel-review")).to_be_visible()
        expect(page.locator("#rev-grid-box")).to_be_hidden()

    # the order select takes keys while it has focus; once a choice is made, focus is back on the card
    page.locator("#rev-order").focus()
    expect(page.locator("#rev-keys-active")).to_be_hidden()
    page.locator("#rev-order").select_option("upload")
    expect(page.locator(CARD)).to_be_focused()
    label_and_save(n - 1)

    expect(page.locator("#rev-done")).to_be_visible()
    answered(page)
    assert session_count(stack) == sessions, "a key created a session"
    saved = {i["filename"]: set(i["labels"]) for i in session_items(stack, sid)}
    assert saved == typed


def test_cards_follow_the_order_while_photos_upload(page: Page, stack: Stack) -> None:
    """30 photos, /batch_predict held back and let through one request at a time."""
    held: list[Route] = []
    page.goto("/#review")
    page.locator("#rev-new").click()
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed")
    sid = int(page.locator("#rev-session").input_value())
    page.route("**/batch_predict", lambda route: held.append(route))
    page.locator("#rev-files").set_input_files(files=photo_files("slow", 30, offset=40))
    released = 0

    def release() -> None:
        nonlocal released
        wait_until(page, lambda: len(held) > released)
        held[released].continue_()
        released += 1

    def first_pending() -> str:
        answered(page)
        return next(i["filename"] for i in session_items(stack, sid) if i["status"] == "pending")

    release()  # the first photo alone
    first = card_name(page)
    expect(page.locator("#rev-progress")).to_contain_text("29 photos still uploading")
    page.keyboard.press("Enter")  # nothing else pending: a placeholder, not "done"
    expect(page.locator(CARD)).to_have_attribute("data-status", "predicting")
    expect(page.locator("#rev-done")).to_be_hidden()
    shown = [first]
    while released < 5:
        release()
        expect(page.locator("#rev-progress")).to_contain_text(f"/ {min(30, 1 + 8 * (released - 1))} reviewed")
        # the card on screen stays; each next one is the first pending one in the server's order
        for step in range(3):
            expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
            if step or released == 2:
                assert card_name(page) == first_pending()
            shown.append(card_name(page))
            page.keyboard.press("Enter")
            if released < 5:
                expect(page.locator("#rev-done")).to_be_hidden()
    expect(page.locator("#rev-upload-msg")).to_contain_text("30 photos added")
    while len(shown) < 30:
        assert card_name(page) == first_pending()
        shown.append(card_name(page))
        page.keyboard.press("Enter")
    expect(page.locator("#rev-done")).to_be_visible()
    answered(page)
    assert len(set(shown)) == 30
    items = session_items(stack, sid)
    assert all(i["status"] == "saved" for i in items)
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    ours = {i["image_id"] for i in items}
    saves = Counter(r["image_id"] for r in rows if r["image_id"] in ours)
    assert set(saves.values()) == {1}, "a card was saved twice"
