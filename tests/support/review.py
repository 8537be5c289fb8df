"""Helpers of the Review tab's browser tests: photos to upload, a session made in the tab, typing labels."""

from playwright.sync_api import Page, expect
from tagloop.classes import VOC_CLASSES

from tests.support.training import image_bytes

KEYS = dict(zip(VOC_CLASSES, "1234567890qwertyuiop", strict=True))
CARD = "#rev-card"


def photo_files(prefix: str, n: int, offset: int = 0) -> list[dict]:
    """n distinct JPEGs named <prefix>NN.jpg (offset picks other variants)."""
    data = image_bytes(n + offset)[offset:]
    return [
        {"name": f"{prefix}{k:02d}.jpg", "mimeType": "image/jpeg", "buffer": b} for k, b in enumerate(data)
    ]


def new_session(page: Page) -> int:
    """Click "New session" and wait until it is the session open (an older empty one, which
    the tab may open first, reads "0 / 0" too); returns its id."""
    before = {str(s["id"]) for s in page.request.get("/sessions").json()["sessions"]}
    page.locator("#rev-new").click()
    menu = page.locator("#rev-session")
    expect(menu).not_to_have_value("")
    for _ in range(200):
        if menu.input_value() not in before:
            break
        page.wait_for_timeout(50)
    assert menu.input_value() not in before, "New session did not open a new session"
    return int(menu.input_value())


def start_session(page: Page, files: list[dict]) -> int:
    """A new session holding `files`, uploaded from the Review tab; returns its id."""
    page.goto("/#review")
    new_session(page)
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed")
    page.locator("#rev-files").set_input_files(files=files)
    expect(page.locator("#rev-upload-msg")).to_contain_text(f"{len(files)} photos added", timeout=60_000)
    expect(page.locator("#rev-progress")).to_contain_text(f"/ {len(files)} reviewed")
    return int(page.locator("#rev-session").input_value())


def card_name(page: Page) -> str:
    expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
    return page.locator(CARD).get_attribute("data-filename")


def ticked(page: Page) -> set[str]:
    return set(page.locator("#rev-rows input:checked").evaluate_all("els => els.map(e => e.value)"))


def type_labels(page: Page, wanted: set[str]) -> None:
    """Toggle with hotkeys until exactly `wanted` is ticked."""
    for label in sorted(ticked(page) ^ wanted):
        page.keyboard.press(KEYS[label])
    assert ticked(page) == wanted
