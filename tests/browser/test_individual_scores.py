"""The Individual tab shows all 20 scores, those under the threshold dimmed; the ticks start
at the version's thresholds and follow the slider only until the person touches a box."""

import pytest
from playwright.sync_api import Page, expect
from tagloop.classes import VOC_CLASSES

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

BARS = "#ind-bars li.bar"


def predict(page: Page, name: str, data: bytes) -> dict:
    """Upload a photo in the tab; returns the /predict reply the page got."""
    with page.expect_response(lambda r: r.url.endswith("/predict")) as got:
        page.locator("#ind-file").set_input_files(
            files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}]
        )
    expect(page.locator("#ind-model-used")).to_contain_text(name)
    return got.value.json()


def ticked(page: Page) -> set[str]:
    return set(page.locator("#ind-checks input:checked").evaluate_all("els => els.map(e => e.value)"))


def at_or_over(reply: dict, threshold: float | None = None) -> set[str]:
    """What the server's scores reach: the slider's one threshold, else the version's own."""
    limits = reply.get("thresholds") or {}
    return {
        c
        for c, p in reply["scores"].items()
        if p >= (threshold if threshold is not None else limits.get(c, 0.5))
    }


def set_threshold(page: Page, value: float) -> None:
    page.locator("#ind-threshold").fill(str(value))
    expect(page.locator("#ind-threshold-out")).to_have_text(f"{value:.2f}")


def expect_all_scores(page: Page, above: set[str]) -> None:
    """20 bars, highest score first, those under their threshold marked and faded."""
    expect(page.locator(BARS)).to_have_count(len(VOC_CLASSES))
    bars = page.locator(BARS).evaluate_all(
        """els => els.map(e => ({
             label: e.dataset.label, score: Number(e.dataset.score), above: e.dataset.above,
             fade: Number(getComputedStyle(e.querySelector('.bar-fill')).opacity)}))"""
    )
    assert {b["label"] for b in bars} == set(VOC_CLASSES)
    scores = [b["score"] for b in bars]
    assert scores == sorted(scores, reverse=True)
    assert {b["label"] for b in bars if b["above"] == "true"} == above
    assert all(b["fade"] < 1 for b in bars if b["above"] == "false")
    assert all(b["fade"] == 1 for b in bars if b["above"] == "true")


def test_photo_under_every_threshold_still_shows_all_scores(page: Page, photos, shoot) -> None:
    page.goto("/#individual")
    reply = predict(page, "coffee.jpg", photos["coffee"])
    assert not at_or_over(reply), "precondition: the coffee photo reaches no threshold"
    expect_all_scores(page, above=set())
    expect(page.locator("[data-testid=ind-none-above]")).to_have_text("No label reaches the threshold.")
    assert ticked(page) == set()
    shoot(page, "individual-all-scores")


def test_ticks_follow_the_slider_until_a_box_is_touched(page: Page, photos) -> None:
    page.goto("/#individual")
    reply = predict(page, "astronaut.jpg", photos["astronaut"])
    start = at_or_over(reply)  # the version's per-class thresholds, the slider untouched
    low = at_or_over(reply, 0.1)
    assert start and len(low - start) >= 2, f"precondition: scores between 0.1 and the thresholds: {reply}"
    assert ticked(page) == start
    expect_all_scores(page, above=start)

    # untouched: the ticks follow the slider both ways
    set_threshold(page, 0.1)
    assert ticked(page) == low
    expect_all_scores(page, above=low)
    set_threshold(page, 0.9)
    assert ticked(page) == at_or_over(reply, 0.9)
    set_threshold(page, 0.1)
    assert ticked(page) == low

    # touched: the slider moves the dimming, never the ticks; lowering it re-ticks nothing unticked
    unticked = sorted(low - start)[0]
    page.locator(f"#ind-cb-{unticked}").uncheck()
    mine = low - {unticked}
    for value in (0.5, 0.9, 0.3, 0.1):
        set_threshold(page, value)
        assert ticked(page) == mine, value
    expect_all_scores(page, above=low)

    # "Reset to predictions" hands the ticks back to the slider; a new photo starts untouched
    page.locator("#ind-reset").click()
    assert ticked(page) == low
    page.locator(f"#ind-cb-{unticked}").uncheck()
    reply = predict(page, "cat.jpg", photos["cat"])
    assert ticked(page) == at_or_over(reply, 0.1)
