"""Batch of five -> "Correct" on one opens the batch as a review session -> saved -> the
Batch tile says so -> the Corrections tab lists it, with history."""

import csv
import io

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

NAMES = ["cat", "astronaut", "coffee", "rocket", "motorcycle"]


def batch_files(photos: dict[str, bytes]) -> list[dict]:
    files = [{"name": f"batch-{n}.jpg", "mimeType": "image/jpeg", "buffer": photos[n]} for n in NAMES]
    # A truncated JPEG: its error must show on its own card, the others still classified.
    files.append({"name": "batch-broken.jpg", "mimeType": "image/jpeg", "buffer": photos["cat"][:600]})
    return files


def test_batch_correct_one_then_listed_in_corrections(page: Page, photos, shoot) -> None:
    page.goto("/#batch")
    page.locator("#batch-files").set_input_files(files=batch_files(photos))
    expect(page.locator("#batch-selected")).to_contain_text("Images selected: 6")
    page.locator("#batch-run").click()

    expect(page.locator("#batch-msg")).to_contain_text("5 of 6 images classified", timeout=60_000)
    grid = page.locator("#batch-grid")
    expect(grid.locator("li.tile[data-state=ok]")).to_have_count(5)
    broken = grid.locator("li.tile[data-filename='batch-broken.jpg']")
    expect(broken).to_have_attribute("data-state", "error")
    expect(broken.locator(".card-error")).not_to_be_empty()
    assert not broken.locator(".card-error").text_content().lstrip().startswith("{")
    expect(page.locator("#batch-progress")).to_be_hidden()
    shoot(page, "batch")

    # CSV of the results: one row per file, every class as a column
    with page.expect_download() as download:
        page.locator("#batch-csv").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert [r["filename"] for r in rows] == [f["name"] for f in batch_files(photos)]
    assert rows[-1]["error"] and not rows[0]["error"]
    assert "cat" in rows[0]["labels"].split() and float(rows[0]["cat"]) > 0.5

    # "Correct" on the astronaut opens the batch as a review session, at the astronaut
    tile = grid.locator("li.tile[data-filename='batch-astronaut.jpg']")
    image_id = tile.get_attribute("data-image-id")
    assert image_id and len(image_id) == 64
    tile.get_by_role("button", name="Correct").click()
    expect(page.locator("#tab-review")).to_have_attribute("aria-selected", "true")
    card = page.locator("#rev-card")
    expect(card).to_have_attribute("data-filename", "batch-astronaut.jpg")
    expect(page.locator("#rev-progress")).to_contain_text("0 / 5 reviewed")
    for label in ("person", "aeroplane"):
        box = card.locator(f"input[type=checkbox][value={label}]")
        if not box.is_checked():
            box.check()
    ticked = set(card.locator("input:checked").evaluate_all("els => els.map(e => e.value)"))
    page.locator("#rev-save").click()
    expect(card).not_to_have_attribute("data-filename", "batch-astronaut.jpg")

    # back in Batch, the tile says it was corrected, with its labels
    page.locator("#tab-batch").click()
    expect(tile.locator("[data-testid=batch-corrected]")).to_be_visible()
    expect(tile.locator(".tag[data-label=aeroplane]")).to_be_visible()
    assert {"person", "aeroplane"} <= ticked

    # the Corrections tab lists it, with its labels as tags and a thumbnail
    page.locator("#tab-corrections").click()
    row = page.locator(f"#corr-list li.row[data-image-id='{image_id}']").first
    expect(row).to_be_visible()
    expect(row.locator(".tag[data-label=aeroplane]")).to_be_visible()
    expect(row.locator(".tag[data-label=person]")).to_be_visible()
    expect(page.locator("#corr-total")).to_contain_text("Total corrections")
    expect(row.locator("img.thumb")).to_have_js_property("complete", True)
    assert row.locator("img.thumb").evaluate("img => img.naturalWidth") > 0
    shoot(page, "corrections")

    # filtering by a label keeps it; by one it lacks drops it
    page.locator("#corr-label").select_option("aeroplane")
    expect(page.locator(f"#corr-list li.row[data-image-id='{image_id}']")).to_have_count(1)
    page.locator("#corr-label").select_option("cow")
    expect(page.locator(f"#corr-list li.row[data-image-id='{image_id}']")).to_have_count(0)
    page.locator("#corr-label").select_option("")

    # the history of that image
    page.locator(f"#corr-list li.row[data-image-id='{image_id}']").first.get_by_role("button").click()
    dialog = page.locator("#history-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#history-list li").first).to_be_visible()
    expect(dialog.locator("#history-list .tag[data-label=aeroplane]").first).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
