"""Retrain from a review session: the confirmation says what it will use, the outcome is in
plain words (a stored photo it could not read is said to be left out), and the session's
pending photos are predicted again and re-sorted."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tagloop.classes import VOC_CLASSES
from tagloop.uploads import UploadStore

from tests.support.review import CARD, card_name, photo_files, start_session, type_labels
from tests.support.stack import Stack, running_stack
from tests.support.training import CONTRADICTING, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: its sessions, corrections and retrains touch no other test."""
    with running_stack(tmp_path_factory.mktemp("review-retrain-stack"), v1_model_dir) as system:
        yield system


RETRAIN_TIMEOUT_MS = 240_000


def margin(item: dict) -> float:
    limits = item.get("thresholds") or {}
    return min(abs(item["scores"][c] - limits.get(c, 0.5)) for c in VOC_CLASSES)


def test_retrain_from_the_session_repredicts_and_resorts(page: Page, stack: Stack) -> None:
    sid = start_session(page, photo_files("rt", 10, offset=24))
    before = httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]
    old_version = before[0]["model_version"]
    page.locator(CARD).focus()
    for k in range(6):
        card_name(page)
        type_labels(page, set(CONTRADICTING[k]))
        page.keyboard.press("Enter")
    expect(page.locator("#rev-progress")).to_contain_text("6 / 10 reviewed")
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")

    # another upload, uncorrected (a retrain's anchor), whose stored bytes a bad disk cut short
    reply = httpx.post(f"{stack.url}/predict", files={"file": ("cut.jpg", image_bytes(40)[-1], "image/jpeg")})
    stored = UploadStore(stack.data_dir / "uploads").path_of(reply.json()["image_id"])
    stored.write_bytes(stored.read_bytes()[:2000])

    page.locator("#rev-retrain").click()
    plan = page.locator("#retrain-plan")
    expect(plan).to_contain_text(
        re.compile(r"It will use \d+ corrected photos \(\d+ new since the current version\)")
    )
    page.locator("[data-testid=retrain-confirm]").click()
    msg = page.locator("#rev-retrain-msg")
    expect(msg).to_contain_text("re-sorted", timeout=RETRAIN_TIMEOUT_MS)
    assert re.search(r"Done: version \d+ learned from \d+ photos and is now in use\.", msg.text_content())
    assert "1 stored photo(s) could not be read" in msg.text_content()

    after = httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]
    new_version = after[0]["model_version"]
    assert new_version > old_version and all(i["model_version"] == new_version for i in after)
    pending = [i for i in after if i["status"] == "pending"]
    assert len(pending) == 4
    assert [i["image_id"] for i in pending] == [i["image_id"] for i in sorted(pending, key=margin)]
    # the card on screen is still one of the pending photos, drawn from the new scores
    expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
    assert page.locator(CARD).get_attribute("data-image-id") in {i["image_id"] for i in pending}
    shown = {i["image_id"]: i for i in after}[page.locator(CARD).get_attribute("data-image-id")]
    top = max(VOC_CLASSES, key=lambda c: shown["scores"][c])
    expect(page.locator("#rev-rows li").first).to_have_attribute("data-label", top)

    # the label audit: the saved labels the retrain's out-of-fold heads disagree with, as a session
    page.locator("[data-testid=rev-audit]").click()
    expect(msg).to_contain_text(re.compile(r"look wrong to the model|No saved label looks wrong"))
    suspects = httpx.get(f"{stack.url}/corrections/suspects?limit=50").json()["suspects"]
    if suspects:
        expect(page.locator("#rev-session option:checked")).to_have_text(re.compile("Label audit"))
