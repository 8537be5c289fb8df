"""Models tab: versions with their metrics; "Activate" rolls back and the header follows."""

import hashlib
import io
import re

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from tagloop.training.gate import is_held_out

from tests.support.stack import Stack
from tests.support.stack_checks import wait_job

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

RELOAD_TIMEOUT_MS = 90_000


def ensure_two_versions(stack: Stack, photo: bytes) -> None:
    """When this test runs alone there is only version 1: train a second through the API."""
    with httpx.Client(base_url=stack.url, timeout=60) as api:
        if len(api.get("/models").json()["versions"]) >= 2:
            return
        reply = api.post("/predict", files={"file": ("rollback.jpg", photo, "image/jpeg")}).json()
        # a label version 1 does not give, so that the fit has something to learn (a loss curve)
        correction = {"image_id": reply["image_id"], "corrected_labels": ["person", "horse"]}
        saved = api.post("/save_correction", json=correction)
        assert saved.status_code == 200, saved.text
        job_id = api.post("/retrain", json={}).json()["job_id"]
        job = wait_job(api, job_id, timeout=240)
        assert job["status"] == "finished", job
        # promoted or not, a second version now exists; rollback is what these tests are about
        assert len(api.get("/models").json()["versions"]) >= 2


def test_rollback_changes_header_version(page: Page, stack: Stack, photos, shoot) -> None:
    ensure_two_versions(stack, photos["astronaut"])
    page.goto("/#models")
    active_card = page.locator("#models-list li.version[data-active=true]")
    expect(active_card).to_have_count(1)
    active = int(active_card.get_attribute("data-version"))
    expect(page.locator("#model-version")).to_have_attribute("data-version", str(active))
    expect(page.locator("#models-list li.version").first).to_be_visible()
    shoot(page, "models")

    target = page.locator("#models-list li.version[data-active=false]").first
    target_version = int(target.get_attribute("data-version"))
    target.get_by_role("button", name="Activate").click()
    expect(target.locator(".confirm-text")).to_have_text(f"Activate version {target_version}?")
    assert page.locator("#models-list li.version[data-active=true]").get_attribute("data-version") == str(
        active
    )
    target.get_by_role("button", name="Yes, activate").click()
    expect(page.locator("#models-msg")).to_have_attribute("data-kind", "ok")
    result = page.locator(
        f"#models-list li.version[data-version='{target_version}'] [data-testid=activate-result]"
    )
    expect(result).to_have_text(f"Version {target_version} is now active.")
    expect(page.locator(f"#models-list li.version[data-version='{target_version}']")).to_have_attribute(
        "data-active", "true"
    )
    header = page.locator("#model-version")
    # inference loads the version in the background; the header polls /health
    expect(header).to_have_attribute("data-version", str(target_version), timeout=RELOAD_TIMEOUT_MS)
    expect(header).to_have_text(f"Model v{target_version}")

    # and forward again, leaving the stack as it was found
    back = page.locator(f"#models-list li.version[data-version='{active}']")
    back.get_by_role("button", name="Activate").click()
    back.get_by_role("button", name="Yes, activate").click()
    expect(header).to_have_attribute("data-version", str(active), timeout=RELOAD_TIMEOUT_MS)


def held_out_copy(photo: bytes) -> bytes:
    """The photo re-encoded until its sha256 puts it in the held-out set (1 in 5)."""
    with Image.open(io.BytesIO(photo)) as image:
        rgb = image.convert("RGB")
    for quality in range(60, 100):
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=quality)
        if is_held_out(hashlib.sha256(out.getvalue()).hexdigest(), modulus=5):
            return out.getvalue()
    raise AssertionError("no quality from 60 to 99 gives a held-out copy")


def retrain_with_a_held_out_correction(stack: Stack, photo: bytes) -> None:
    with httpx.Client(base_url=stack.url, timeout=60) as api:
        reply = api.post("/predict", files={"file": ("held.jpg", held_out_copy(photo), "image/jpeg")}).json()
        # labels no version has given this photo: the fit has something to learn (a loss curve)
        correction = {"image_id": reply["image_id"], "corrected_labels": ["person", "cow"]}
        assert api.post("/save_correction", json=correction).status_code == 200
        job = wait_job(api, api.post("/retrain", json={}).json()["job_id"], timeout=240)
        assert job["status"] == "finished", job


def test_models_show_metrics_of_trained_versions(page: Page, stack: Stack, photos) -> None:
    retrain_with_a_held_out_correction(stack, photos["astronaut"])
    page.goto("/#models")
    trained = page.locator("#models-list li.version").first  # newest first
    expect(trained).to_be_visible()
    expect(trained.locator("dl.facts")).to_contain_text("Samples")
    expect(trained.locator("svg.chart-line")).to_be_visible()
    # the promotion rule's decision in plain words
    check = trained.locator("dl.facts div", has_text="Check")
    plain = re.compile(r"photos (right|nobody corrected)|held-out photos")
    expect(check.locator("dd")).to_contain_text(plain)
    # every version, version 1 included, has figures on the same shared set
    expect(page.locator("#models-scoreboard")).to_contain_text("Every version is scored on the same")
    oldest = page.locator("#models-list li.version").last
    expect(oldest).to_have_attribute("data-version", "1")
    scored = oldest.locator("dl.facts div", has_text="Scored on")
    expect(scored.locator("dd")).to_have_text(re.compile(r"^the shared set of \d+ photos$"))
    # the fact named "mAP" (version 1's evaluation-set line also mentions its mAP)
    first_map = oldest.locator("dl.facts div").filter(has=page.get_by_text("mAP", exact=True)).locator("dd")
    expect(first_map).to_have_text(re.compile(r"^\d\.\d{3}$"))
    expect(trained.locator("dl.facts div", has_text="Scored on").locator("dd")).to_contain_text("it learned")


def test_models_tab_says_which_prior_version_1_uses_and_its_heldout_figures(page: Page, stack: Stack) -> None:
    first_version = httpx.get(f"{stack.url}/models").json()["versions"][-1]
    prior = first_version.get("prior")
    shown = {"imagenet+coco": "ImageNet + COCO detector", "imagenet": "ImageNet"}[prior]
    page.goto("/#models")
    first = page.locator("#models-list li.version[data-version='1']")
    expect(first.locator("dl.facts")).to_contain_text("Prior")
    expect(first.locator("dl.facts")).to_contain_text(shown)
    # The evaluation set's held-out figures come with the thresholds fitted for the default
    # version 1 (tagloop.model.v1_thresholds), held-out first, the tuning part only beside them.
    figures = first_version.get("evaluation_set")
    if prior != "imagenet+coco":
        assert figures is None
        return
    held, tuning = figures["held-out"], figures["tuning"]
    fact = first.locator("dl.facts div", has_text="Photos nobody tuned on").locator("dd")
    shown = f"{held['samples']} held-out photos: mAP {held['mAP']:.3f}, F1 {held['f1_micro']:.3f}"
    expect(fact).to_contain_text(shown)
    expect(fact).to_contain_text(f"tuning part, not a result: {tuning['samples']} photos")
