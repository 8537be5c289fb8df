"""The main journey of the Individual tab, through the real gateway and services:
upload -> predict -> move threshold -> tick a box -> save -> retrain -> progress seen ->
new version shown -> re-predicted labels changed."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

RETRAIN_TIMEOUT_S = 240


def header_version(page: Page) -> int:
    expect(page.locator("#model-version")).to_have_attribute("data-version", re.compile(r"^\d+$"))
    return int(page.locator("#model-version").get_attribute("data-version"))


def bar_labels(page: Page) -> list[str]:
    """The labels at or over the threshold (every class has a bar; those under it are marked)."""
    bars = page.locator("#ind-bars li.bar[data-above=true]")
    return bars.evaluate_all("items => items.map(i => i.dataset.label)")


def set_threshold(page: Page, value: float) -> None:
    page.locator("#ind-threshold").fill(str(value))


def watch_job(page: Page, timeout_s: float) -> tuple[set[str], list[str]]:
    """Poll the job panel until an outcome shows; returns the stages and details seen."""
    stages: set[str] = set()
    details: list[str] = []
    outcome = page.locator("#job-outcome")

    def ended() -> bool:
        stage = page.locator("#job-stage").get_attribute("data-stage")
        if stage:
            stages.add(stage)
        detail = page.locator("#job-detail").text_content()
        if detail and (not details or details[-1] != detail):
            details.append(detail)
        done = outcome.get_attribute("data-promoted") is not None
        return done or outcome.get_attribute("data-kind") == "error"

    wait_until(
        ended,
        timeout=timeout_s,
        interval=0.1,
        what=lambda: f"a retrain outcome; stages seen {stages}, details {details}",
    )
    details.append(page.locator("#job-detail").text_content() or "")  # the outcome's own
    return stages, details


def test_journey_predict_correct_retrain_repredict(page: Page, photos, shoot) -> None:
    page.goto("/#individual")
    before_version = header_version(page)
    expect(page.locator("#health-dot")).to_have_attribute("data-state", "ok")

    predicts: list[str] = []
    page.on("request", lambda r: predicts.append(r.url) if r.url.endswith("/predict") else None)

    # upload -> predict
    page.locator("#ind-file").set_input_files(
        files=[{"name": "chelsea.jpg", "mimeType": "image/jpeg", "buffer": photos["cat"]}]
    )
    expect(page.locator("#ind-model-used")).to_contain_text(f"v{before_version}")
    expect(page.locator("#ind-preview-wrap")).to_be_visible()
    assert "cat" in bar_labels(page), "version 1 should already see the cat"

    # move the threshold: re-filtered in the page, not uploaded again
    set_threshold(page, 0.9)
    high = bar_labels(page)
    set_threshold(page, 0.1)
    low = bar_labels(page)
    assert len(low) >= len(high)
    expect(page.locator("#ind-threshold-out")).to_have_text("0.10")
    for bar in page.locator("#ind-bars li.bar").all():
        # colour bands of the original design; the shown percent is rounded, so skip the edges
        percent = int(bar.locator(".bar-value").text_content().split()[0])
        band = bar.get_attribute("data-band")
        if percent >= 72:
            assert band == "high", percent
        elif 41 <= percent <= 69:
            assert band == "mid", percent
        elif percent <= 39:
            assert band == "low", percent
    assert len(predicts) == 1, f"moving the threshold must not upload again: {predicts}"

    # tick a box: the boxes follow the predictions until the person edits them
    ticked = set(page.locator("#ind-checks input:checked").evaluate_all("els => els.map(e => e.value)"))
    assert ticked == set(low)
    new_label = "dog" if "dog" not in ticked else "horse"
    page.locator(f"#ind-cb-{new_label}").check()

    # save
    page.locator("#ind-save").click()
    expect(page.locator("#ind-msg")).to_have_attribute("data-kind", "ok")
    expect(page.locator("#ind-msg")).to_contain_text("Correction saved")
    shoot(page, "individual")

    # retrain: an in-page confirmation dialog, then the progress of the job
    page.locator("#ind-retrain").click()
    expect(page.locator("#retrain-dialog")).to_be_visible()
    page.locator("[data-testid=retrain-confirm]").click()
    expect(page.locator("#job")).to_be_visible()
    stages, details = watch_job(page, RETRAIN_TIMEOUT_S)
    outcome = page.locator("#job-outcome")
    assert outcome.get_attribute("data-kind") == "ok", outcome.text_content()
    assert outcome.get_attribute("data-promoted") == "true", outcome.text_content()
    assert stages - {"finished"}, f"no progress stage was shown: {stages}"
    # Epochs and images are drawn while the page sees them; a retrain shorter than one poll
    # (features cached, a plateau reached early) still says how many epochs it trained.
    assert any(word in d for d in details for word in ("Epoch", "images", "epochs")), details

    # the new version is shown, the image predicted again, the changes listed
    new_version = int(re.search(r"Version (\d+) is now live", outcome.text_content()).group(1))
    assert new_version > before_version
    expect(page.locator("#model-version")).to_have_attribute("data-version", str(new_version), timeout=60_000)
    expect(page.locator("#ind-model-used")).to_contain_text(f"v{new_version}", timeout=60_000)
    changes = page.locator("#ind-changes")
    expect(changes).to_be_visible()
    expect(changes.locator(f"[data-change=added][data-label={new_label}]")).to_be_visible()
    assert len(predicts) == 2, predicts
    assert new_label in bar_labels(page)
    shoot(page, "individual-retrained")
