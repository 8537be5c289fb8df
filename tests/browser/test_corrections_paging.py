"""Corrections tab paging: 20 to a page, Next and Previous, the range shown."""

import io
import re
import uuid

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

PAGE = 20


def random_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def ensure_corrections(stack: Stack, at_least: int) -> int:
    """Save corrections of fresh noise images through the API until there are enough."""
    with httpx.Client(base_url=stack.url, timeout=30) as api:
        total = api.get("/get_corrections", params={"limit": 1}).json()["total"]
        base = uuid.uuid4().int % 10**9
        for i in range(max(0, at_least - total)):
            upload = {"file": (f"noise-{i}.png", random_png(base + i), "image/png")}
            reply = api.post("/predict", files=upload)
            assert reply.status_code == 200, reply.text
            correction = {"image_id": reply.json()["image_id"], "corrected_labels": ["sheep"]}
            assert api.post("/save_correction", json=correction).status_code == 200
        return api.get("/get_corrections", params={"limit": 1}).json()["total"]


def test_corrections_pages_forward_and_back(page: Page, stack: Stack) -> None:
    total = ensure_corrections(stack, PAGE + 2)
    page.goto("/#corrections")
    expect(page.locator("#corr-list li.row")).to_have_count(PAGE)
    expect(page.locator("#corr-page")).to_have_text(f"1–{PAGE} of {total}")
    expect(page.locator("#corr-total")).to_have_text(f"Total corrections: {total}")
    expect(page.locator("#corr-prev")).to_be_disabled()
    first_page = page.locator("#corr-list li.row").evaluate_all("rows => rows.map(r => r.dataset.imageId)")

    page.locator("#corr-next").click()
    last = min(total, 2 * PAGE)
    expect(page.locator("#corr-page")).to_have_text(f"{PAGE + 1}–{last} of {total}")
    expect(page.locator("#corr-list li.row")).to_have_count(last - PAGE)
    second_page = page.locator("#corr-list li.row").evaluate_all("rows => rows.map(r => r.dataset.imageId)")
    assert not set(first_page) & set(second_page)
    expect(page.locator("#corr-prev")).to_be_enabled()

    page.locator("#corr-prev").click()
    expect(page.locator("#corr-page")).to_have_text(re.compile(rf"^1–{PAGE} of"))
