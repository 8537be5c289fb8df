"""The last batch comes back after a reload and a tab switch: the same photos, scores, model
version and corrections; a photo the server no longer has is named, its scores still shown."""

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tagloop.uploads import UploadStore

from tests.support.images import jpeg_bytes
from tests.support.review import photo_files
from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TILES = "#batch-grid li.tile"


def batch_csv(page: Page) -> list[dict[str, str]]:
    """The Batch tab's CSV: filename, image_id, model_version, labels and the 20 scores per tile."""
    with page.expect_download() as got:
        page.locator("#batch-csv").click()
    return list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8"))))


def expect_photos_shown(page: Page, n: int) -> None:
    expect(page.locator(f"{TILES}[data-state=ok] img")).to_have_count(n)
    for img in page.locator(f"{TILES} img").all():
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("i => i.naturalWidth") > 0


def test_batch_of_ten_survives_reload_tab_switch_and_correction(page: Page) -> None:
    files = photo_files("restore", 10)
    page.goto("/#batch")
    page.locator("#batch-files").set_input_files(files=files)
    page.locator("#batch-run").click()
    expect(page.locator("#batch-msg")).to_contain_text("10 of 10 images classified", timeout=60_000)
    before = batch_csv(page)
    assert [r["filename"] for r in before] == [f["name"] for f in files]

    page.reload()
    expect(page.locator(TILES)).to_have_count(10)
    expect_photos_shown(page, 10)
    assert batch_csv(page) == before, "the same photos, scores and model version after a reload"
    version = before[0]["model_version"]
    expect(page.locator(f"{TILES}[data-model-version='{version}']")).to_have_count(10)

    # correct one through the review session it opens; its tile says so, also after a reload
    tile = page.locator(f"{TILES}[data-filename='restore03.jpg']")
    tile.get_by_role("button", name="Correct").click()
    card = page.locator("#rev-card")
    expect(card).to_have_attribute("data-filename", "restore03.jpg")
    for box in card.locator("input:checked").all():
        box.uncheck()
    card.locator("input[value=sheep]").check()
    page.locator("#rev-save").click()
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")
    expect(page.locator("#rev-progress")).to_have_attribute("data-saved", "1")
    page.locator("#tab-individual").click()
    page.locator("#tab-batch").click()
    expect(page.locator(TILES)).to_have_count(10)
    expect(tile.locator("[data-testid=batch-corrected]")).to_be_visible()

    # reloaded on another tab: the photos are fetched when Batch is shown
    page.locator("#tab-individual").click()
    page.reload()
    page.locator("#tab-batch").click()
    expect(page.locator(TILES)).to_have_count(10)
    expect(tile.locator("[data-testid=batch-corrected]")).to_be_visible()
    expect(tile.locator(".tag[data-label=sheep]")).to_be_visible()
    expect_photos_shown(page, 10)

    # Clear forgets it: nothing comes back
    page.locator("#batch-clear").click()
    page.reload()
    expect(page.locator("#batch-run")).to_be_disabled()
    expect(page.locator(TILES)).to_have_count(0)


def test_restored_batch_names_the_photos_the_server_no_longer_has(page: Page, stack: Stack, shoot) -> None:
    [kept] = photo_files("kept", 1, offset=30)
    # A picture no other test uploads: its upload is removed from the server's store below.
    gone = {"name": "gone.jpg", "buffer": jpeg_bytes(size=(317, 233), color=(12, 34, 56))}
    replies = [
        httpx.post(f"{stack.url}/predict", files={"file": (f["name"], f["buffer"], "image/jpeg")}).json()
        for f in (kept, gone)
    ]
    record = {
        "threshold": 0.5,
        "items": [
            {
                "filename": f["name"],
                "imageId": r["image_id"],
                "scores": r["scores"],
                "modelVersion": r["model_version"],
            }
            for f, r in zip((kept, gone), replies, strict=True)
        ],
    }
    UploadStore(stack.data_dir / "uploads").path_of(replies[1]["image_id"]).unlink()
    page.add_init_script(f"localStorage.setItem('tagloop.batch.last', {json.dumps(json.dumps(record))})")

    page.goto("/#batch")
    expect(page.locator(TILES)).to_have_count(2)
    expect_photos_shown(page, 1)
    missing = page.locator(f"{TILES}[data-filename='{gone['name']}']")
    expect(missing).to_have_attribute("data-state", "missing")
    expect(missing.locator("[data-testid=batch-missing]")).to_contain_text("no longer has this photo")
    expect(missing.locator(".tag").first).to_be_visible()  # its scores are still shown
    expect(missing.get_by_role("button", name="Correct")).to_have_count(0)
    expect(page.locator("#batch-msg")).to_contain_text(
        "1 photo(s) of the last batch are no longer on the server"
    )
    shown = page.locator(f"{TILES}[data-filename='{kept['name']}']")
    expect(shown.get_by_role("button", name="Correct")).to_be_visible()
    shoot(page, "batch-restored")
