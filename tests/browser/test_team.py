"""Team mode in the browser (issue 24): an annotator signs in, sees and labels only the cards
assigned to them; an admin signs in after them and sees the agreement and resolves the
disagreement. One stack of its own, four photos."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.review import CARD, photo_files, type_labels
from tests.support.stack import Stack, running_stack
from tests.support.users import add_user, as_user

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

PASSWORDS = {"boss": "boss password", "ann": "ann password"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("team-browser-stack"), v1_model_dir) as system:
        yield system


def sign_in(page: Page, name: str) -> None:
    page.goto("/#review")
    expect(page.get_by_test_id("signin-dialog")).to_be_visible()
    page.get_by_test_id("signin-name").fill(name)
    page.get_by_test_id("signin-password").fill(PASSWORDS[name])
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("team-name")).to_contain_text(name)


def test_an_annotator_labels_only_their_cards_and_the_admin_resolves(page: Page, stack: Stack) -> None:
    boss = as_user(add_user(stack, "boss", "admin", PASSWORDS["boss"]))
    add_user(stack, "ann", "annotator", PASSWORDS["ann"])
    bob = as_user(add_user(stack, "bob", "annotator"))
    files = photo_files("team", 4, offset=30)
    items = []
    with httpx.Client(base_url=stack.url, timeout=60) as gateway:
        for f in files:
            reply = gateway.post(
                "/predict", files={"file": (f["name"], f["buffer"], "image/jpeg")}, headers=boss
            )
            items.append(
                {
                    "image_id": reply.json()["image_id"],
                    "filename": f["name"],
                    "scores": reply.json()["scores"],
                }
            )
        # ann gets photos 0 and 2, bob 1 and 3; overlap 0.25 gives photo 3 to ann as well
        body = {
            "name": "team",
            "order": "upload",
            "items": items,
            "annotators": ["ann", "bob"],
            "overlap": 0.25,
        }
        sid = gateway.post("/sessions", json=body, headers=boss).json()["session"]["id"]
        gateway.post(f"/sessions/{sid}/items/{items[3]['image_id']}", json={"labels": ["dog"]}, headers=bob)

    sign_in(page, "ann")
    expect(page.locator("#rev-progress")).to_contain_text("0 / 3 reviewed")
    seen = []
    for _ in range(3):
        expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
        seen.append(page.locator(CARD).get_attribute("data-filename"))
        page.locator(CARD).focus()
        type_labels(page, {"cat"})
        page.keyboard.press("Enter")
        expect(page.locator("#rev-progress")).to_contain_text(f"{len(seen)} / 3 reviewed")
    assert sorted(seen) == [files[k]["name"] for k in (0, 2, 3)]
    page.get_by_test_id("team-signout").click()

    sign_in(page, "boss")
    page.goto("/#corrections")
    expect(page.get_by_test_id("agree-summary")).to_contain_text("1 photo(s) where they disagree")
    expect(page.get_by_test_id("agree-kappa")).to_have_count(1)
    expect(page.get_by_test_id("agree-list").locator("li.row")).to_have_count(1)
    page.get_by_test_id("agree-resolve").first.click()
    expect(page.get_by_test_id("agree-summary")).to_contain_text("0 photo(s) where they disagree")
