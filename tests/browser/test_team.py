"""Team mode in the browser (issue 24): an annotator signs in, sees and labels only the cards
assigned to them; an admin signs in after them, sees the agreement, resolves one disagreement
from the list and the other in a review session of disagreements, then adds and removes a
user. One stack of its own, six photos."""

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


def test_an_annotator_labels_only_their_cards_and_the_admin_resolves(page: Page, stack: Stack, shoot) -> None:
    boss = as_user(add_user(stack, "boss", "admin", PASSWORDS["boss"]))
    ann = add_user(stack, "ann", "annotator", PASSWORDS["ann"])
    bob = as_user(add_user(stack, "bob", "annotator"))
    files = photo_files("team", 6, offset=30)
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
        # ann gets photos 0, 2 and 4, bob 1, 3 and 5; overlap 1/3 doubles photos 2 and 5
        body = {
            "name": "team",
            "order": "upload",
            "items": items,
            "annotators": ["ann", "bob"],
            "overlap": 1 / 3,
        }
        sid = gateway.post("/sessions", json=body, headers=boss).json()["session"]["id"]
        for k in (2, 5):
            saved = gateway.post(
                f"/sessions/{sid}/items/{items[k]['image_id']}", json={"labels": ["dog"]}, headers=bob
            )
            assert saved.status_code == 200, saved.text

    sign_in(page, "ann")
    expect(page.locator("#rev-progress")).to_contain_text("0 / 4 reviewed")
    seen = []
    for _ in range(4):
        expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
        seen.append(page.locator(CARD).get_attribute("data-filename"))
        page.locator(CARD).focus()
        type_labels(page, {"cat"})
        page.keyboard.press("Enter")
        expect(page.locator("#rev-progress")).to_contain_text(f"{len(seen)} / 4 reviewed")
    assert sorted(seen) == [files[k]["name"] for k in (0, 2, 4, 5)]
    with page.expect_navigation():  # signing out reloads the page: a goto meanwhile would race it
        page.get_by_test_id("team-signout").click()

    sign_in(page, "boss")
    page.goto("/#corrections")
    expect(page.get_by_test_id("agree-summary")).to_contain_text("2 photo(s) where they disagree")
    expect(page.get_by_test_id("agree-kappa")).to_have_count(1)
    disagreements = page.get_by_test_id("agree-list").locator("li.row")
    expect(disagreements).to_have_count(2)
    shoot(page, "team-agreement")
    # one kept from the list (ann's "cat") ...
    disagreements.first.get_by_test_id("agree-resolve").first.click()
    expect(page.get_by_test_id("agree-summary")).to_contain_text("1 photo(s) where they disagree")

    # ... the other in a review session of disagreements: the admin's save is its label
    page.get_by_test_id("agree-review").click()
    expect(page.locator("#rev-progress")).to_contain_text("0 / 1 reviewed")
    last = page.locator(CARD).get_attribute("data-image-id")
    page.locator(CARD).focus()
    type_labels(page, {"dog", "person"})
    page.keyboard.press("Enter")
    expect(page.locator("#rev-progress")).to_contain_text("1 / 1 reviewed")
    with httpx.Client(base_url=stack.url, timeout=60) as gateway:
        [newest, *_] = gateway.get(f"/corrections/{last}", headers=boss).json()["corrections"]
        assert (newest["source"], sorted(newest["corrected_labels"])) == ("resolved", ["dog", "person"])

    # a new session assigned from the Review tab: its photos are ann's cards
    page.get_by_test_id("rev-annotators").fill("ann")
    page.get_by_test_id("rev-new").click()
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed · assigned to ann")
    page.locator("#rev-files").set_input_files(files=files[:2])
    expect(page.locator("#rev-progress")).to_contain_text("0 / 2 reviewed")
    assigned = int(page.locator("#rev-session").input_value())
    with httpx.Client(base_url=stack.url, timeout=60) as gateway:
        cards = gateway.get(f"/sessions/{assigned}", headers=as_user(ann)).json()["items"]
        assert [c["annotator"] for c in cards] == ["ann", "ann"]
    page.goto("/#corrections")
    expect(page.get_by_test_id("agree-summary")).to_contain_text("0 photo(s) where they disagree")
    expect(page.get_by_test_id("agree-review")).to_be_disabled()

    # the users: one added (its token shown once, and it works), then removed
    users = page.get_by_test_id("users-list")
    expect(users.get_by_test_id("user-row")).to_have_count(3)
    page.get_by_test_id("users-name").fill("cy")
    page.get_by_test_id("users-add").click()
    expect(page.get_by_test_id("users-msg")).to_contain_text("cy added")
    expect(users.get_by_test_id("user-row")).to_have_count(4)
    token = page.get_by_test_id("users-token").text_content() or ""
    with httpx.Client(base_url=stack.url, timeout=60) as gateway:
        assert gateway.get("/auth/me", headers=as_user(token)).json()["user"]["name"] == "cy"
        page.once("dialog", lambda dialog: dialog.accept())
        users.locator("li[data-name=cy] button").click()
        expect(page.get_by_test_id("users-msg")).to_contain_text("cy removed")
        expect(users.get_by_test_id("user-row")).to_have_count(3)
        assert gateway.get("/auth/me", headers=as_user(token)).json()["user"] is None
        assert gateway.get("/sessions", headers=as_user(token)).status_code == 401
