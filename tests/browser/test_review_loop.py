"""The Review tab as a loop a person can trust: keys reach the card wherever focus is, the
order is followed while photos upload, bulk changes touch one label and can be undone,
two browsers share a session, the card fits the screen."""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from tests.support.browser import wait_until_wired
from tests.support.review import CARD, KEYS, card_name, new_session, photo_files, start_session, type_labels
from tests.support.stack import REPO, Stack, running_stack
from tests.support.training import CONTRADICTING

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: its sessions and corrections touch no other test."""
    with running_stack(tmp_path_factory.mktemp("review-loop-stack"), v1_model_dir) as system:
        yield system


def session_items(stack: Stack, sid: int) -> list[dict]:
    """The session's cards in the server's order."""
    return httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]


def session_count(stack: Stack) -> int:
    return len(httpx.get(f"{stack.url}/sessions").json()["sessions"])


def wait_until(page: Page, ready: Callable[[], bool]) -> None:
    """Let the page run (routes are answered meanwhile) until `ready()`; 20 s at most."""
    for _ in range(400):
        if ready():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page never got there")


def answered(page: Page) -> None:
    """Every save the page sent has its answer."""
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")


FOCUS_TARGETS = [
    "#tab-individual",
    "#tab-review",
    "#tab-batch",
    "#tab-corrections",
    "#tab-models",
    "#rev-new",
    "#rev-view",
    "#rev-threshold",
    "#rev-files",
]


def test_type_labels_wherever_focus_is(page: Page, stack: Stack) -> None:
    n = len(FOCUS_TARGETS) + 1
    sid = start_session(page, photo_files("focus", n, offset=24))
    expect(page.locator("#rev-keys-active")).to_be_visible()
    sessions = session_count(stack)
    typed: dict[str, set[str]] = {}

    def label_and_save(k: int) -> None:
        name = card_name(page)
        typed[name] = set(CONTRADICTING[k % len(CONTRADICTING)])
        type_labels(page, typed[name])
        page.keyboard.press("Enter")
        expect(page.locator("#rev-progress")).to_contain_text(f"{k + 1} / {n} reviewed")

    for k, selector in enumerate(FOCUS_TARGETS):
        page.locator(selector).focus()
        expect(page.locator("#rev-keys-active")).to_be_visible()
        label_and_save(k)
        expect(page.locator("#panel-review")).to_be_visible()
        expect(page.locator("#rev-grid-box")).to_be_hidden()

    # the order select takes keys while it has focus; once a choice is made, focus is back on the card
    page.locator("#rev-order").focus()
    expect(page.locator("#rev-keys-active")).to_be_hidden()
    page.locator("#rev-order").select_option("upload")
    expect(page.locator(CARD)).to_be_focused()
    label_and_save(n - 1)

    expect(page.locator("#rev-done")).to_be_visible()
    answered(page)
    assert session_count(stack) == sessions, "a key created a session"
    saved = {i["filename"]: set(i["labels"]) for i in session_items(stack, sid)}
    assert saved == typed


def test_a_slow_first_session_list_does_not_drop_a_session_just_made(page: Page) -> None:
    """The tab's first GET /sessions answers after "New session" made one: the older list
    must not replace the newer, or the new session leaves the menu and uploads go nowhere."""
    held: list[tuple[Route, APIResponse]] = []

    def hold_first(route: Route) -> None:
        if held or route.request.method != "GET":
            route.continue_()
        else:
            held.append((route, route.fetch()))  # the server's answer now, given to the page later

    page.route("**/sessions", hold_first)
    page.goto("/#review")
    wait_until(page, lambda: len(held) == 1)
    page.locator("#rev-new").click()
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed")
    sid = page.locator("#rev-session").input_value()
    assert sid
    stale, answer = held[0]
    stale.fulfill(response=answer)
    page.wait_for_timeout(300)  # the stale list's handler has run
    expect(page.locator("#rev-session")).to_have_value(sid)


def test_cards_follow_the_order_while_photos_upload(page: Page, stack: Stack) -> None:
    """30 photos, /batch_predict held back and let through one request at a time."""
    held: list[Route] = []
    page.goto("/#review")
    sid = new_session(page)
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed")
    page.route("**/batch_predict", lambda route: held.append(route))
    files = photo_files("slow", 30, offset=40)
    page.locator("#rev-files").set_input_files(files=files)
    released = sent = 0

    def holds(route: Route, name: str) -> bool:
        return f'filename="{name}"'.encode() in (route.request.post_data_buffer or b"")

    def release() -> None:
        """Let through the request of the next chunk in the files' order (up to three are on
        their way at once, and they may reach the route in any order)."""
        nonlocal released, sent
        name = files[sent]["name"]
        wait_until(page, lambda: any(holds(r, name) for r in held))
        route = next(r for r in held if holds(r, name))
        held.remove(route)
        sent += sum(holds(route, f["name"]) for f in files)
        route.continue_()
        released += 1

    def first_pending() -> str:
        answered(page)
        return next(i["filename"] for i in session_items(stack, sid) if i["status"] == "pending")

    release()  # the first photo alone
    first = card_name(page)
    expect(page.locator("#rev-progress")).to_contain_text("29 photos still uploading")
    page.keyboard.press("Enter")  # nothing else pending: a placeholder, not "done"
    expect(page.locator(CARD)).to_have_attribute("data-status", "predicting")
    expect(page.locator("#rev-done")).to_be_hidden()
    shown = [first]
    while released < 5:
        release()
        expect(page.locator("#rev-progress")).to_contain_text(f"/ {min(30, 1 + 8 * (released - 1))} reviewed")
        # the card on screen stays; each next one is the first pending one in the server's order
        for step in range(3):
            expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
            if step or released == 2:
                assert card_name(page) == first_pending()
            shown.append(card_name(page))
            page.keyboard.press("Enter")
            if released < 5:
                expect(page.locator("#rev-done")).to_be_hidden()
    expect(page.locator("#rev-upload-msg")).to_contain_text("30 photos added")
    while len(shown) < 30:
        assert card_name(page) == first_pending()
        shown.append(card_name(page))
        page.keyboard.press("Enter")
    expect(page.locator("#rev-done")).to_be_visible()
    answered(page)
    assert len(set(shown)) == 30
    items = session_items(stack, sid)
    assert all(i["status"] == "saved" for i in items)
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    ours = {i["image_id"] for i in items}
    saves = Counter(r["image_id"] for r in rows if r["image_id"] in ours)
    assert set(saves.values()) == {1}, "a card was saved twice"


def labels_now(stack: Stack, sid: int) -> dict[str, set[str]]:
    """Each card's labels as a person sees them: saved ones, else the predicted ones."""
    return {
        i["image_id"]: set(i["labels"] if i["status"] == "saved" else i["predicted"])
        for i in session_items(stack, sid)
    }


def test_bulk_set_and_unset_change_one_label_and_undo_restores(page: Page, stack: Stack) -> None:
    sid = start_session(page, photo_files("bulk", 4, offset=72))
    type_labels(page, {"cat", "sofa"})
    page.keyboard.press("Enter")
    answered(page)
    before = labels_now(stack, sid)
    label = next(c for c in KEYS if not any(c in labels for labels in before.values()))

    # the grid from the keyboard: Space selects, arrows move, the label's key sets it on the selection
    page.locator("#rev-view").click()
    expect(page.locator("#rev-grid")).to_be_focused()
    for key in ["Space", "ArrowRight", "Space", "ArrowRight", "Space"]:
        page.keyboard.press(key)
    chosen = page.locator("#rev-grid li[aria-selected=true]")
    expect(chosen).to_have_count(3)
    picked = set(chosen.evaluate_all("els => els.map(e => e.dataset.imageId)"))
    page.keyboard.press(KEYS[label])
    expect(page.locator("#rev-bulk-question")).to_contain_text("to 3 cards?")
    page.keyboard.press("Enter")
    expect(page.locator("#rev-bulk-msg")).to_contain_text("3 cards saved")
    after_set = labels_now(stack, sid)
    assert after_set == {k: v | {label} if k in picked else v for k, v in before.items()}

    # the same key again: every selected card has it, so it is unset, and only it
    page.keyboard.press(KEYS[label])
    expect(page.locator("#rev-bulk-question")).to_contain_text("from 3 cards?")
    page.keyboard.press("Enter")
    expect(page.locator("#rev-bulk-msg")).to_contain_text("3 cards saved")
    assert labels_now(stack, sid) == before

    # Undo puts back the state before the unset, and deletes the corrections it wrote
    expect(page.locator("#rev-bulk-undo")).to_be_visible()
    page.keyboard.press("z")  # the undo key, in the grid: the last bulk change
    expect(page.locator("#rev-bulk-msg")).to_contain_text("3 cards put back")
    assert labels_now(stack, sid) == after_set
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    latest = {r["image_id"]: set(r["corrected_labels"]) for r in rows if r["image_id"] in picked}
    assert latest == {k: after_set[k] for k in picked}


def test_two_browsers_on_one_session_never_show_the_same_card(
    page: Page, stack: Stack, browser: Browser, console
) -> None:
    console.expect_http_error(409)  # a card the other browser holds is refused, as it should be
    sid = start_session(page, photo_files("share", 8, offset=90))
    context = browser.new_context(base_url=stack.url, locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        other = wait_until_wired(context.new_page())
        other.add_init_script(f"localStorage.setItem('tagloop.review.session', '{sid}')")
        other.goto("/#review")
        expect(other.locator("#rev-session")).to_have_value(str(sid))
        seen: dict[str, list[str]] = {"first": [], "second": []}
        saved = 0
        for _ in range(3):
            for who, me, them in (("first", page, other), ("second", other, page)):
                mine, theirs = card_name(me), card_name(them)
                assert mine != theirs, "both browsers show the same card"
                seen[who].append(mine)
                me.keyboard.press("Enter")
                saved += 1
                answered(me)  # the server has the save: the other browser shows it within 2 s
                expect(them.locator("#rev-progress")).to_contain_text(f"{saved} / 8 reviewed", timeout=2_000)
        assert not set(seen["first"]) & set(seen["second"])
    finally:
        context.close()


def bottom(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box, f"{selector} is not laid out"
    return box["y"] + box["height"]


def screen(page: Page, name: str) -> None:
    """What the viewport shows (not the whole page), for a person to look at."""
    folder = REPO / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def test_the_card_fits_a_laptop_screen_and_buttons_keep_words_on_a_phone(page: Page, stack: Stack) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    start_session(page, photo_files("fit", 3, offset=110))
    expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
    page.evaluate("window.scrollTo(0, 0)")
    screen(page, "review-1280x800")
    rows = page.locator("#rev-rows li")
    expect(rows).to_have_count(20)
    for k in range(20):
        expect(rows.nth(k)).to_be_in_viewport(ratio=1)
    for selector in ("#rev-save", "#rev-img"):
        expect(page.locator(selector)).to_be_in_viewport(ratio=1)
    # the sticky bar covers neither the photo nor the last row
    bar_top = page.locator("#rev-actions").bounding_box()["y"]
    assert bottom(page, "#rev-rows li:last-child") <= bar_top + 1
    assert bottom(page, "#rev-img") <= bar_top + 1

    page.set_viewport_size({"width": 375, "height": 812})
    screen(page, "review-375x812")
    for button in page.locator("#rev-actions button").all():
        words = button.evaluate("b => b.innerText.replace(/[←→↵⎋]|Esc|Enter|\\b[A-Za-z0-9]\\b/g, '').trim()")
        assert len(words) >= 3, f"{button.get_attribute('id')} shows only a key symbol"
    # the tabs wrap: every one of them on screen
    for tab in page.locator("[role=tab]").all():
        expect(tab).to_be_in_viewport(ratio=1)


ENGLISH = re.compile(
    r"\b(the|is|are|not|was|image|file|photos|reviewed|session|choose|uploaded|damaged)\b", re.I
)


def test_spanish_shows_no_english_sentence_after_a_file_error(page: Page, stack: Stack) -> None:
    good = photo_files("gato", 1, offset=120)[0]
    broken = {**good, "name": "rota.jpg", "buffer": good["buffer"][:600]}
    page.goto("/#review")
    page.locator("#lang-select").select_option("es")
    new_session(page)
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 revisadas")
    page.locator("#rev-files").set_input_files(files=[good, broken])
    message = page.locator("#rev-upload-msg")
    expect(message).to_contain_text("rota.jpg: La imagen está dañada o incompleta y no se puede leer.")
    expect(page.locator("#rev-session option:checked")).to_contain_text("Revisión ")
    expect(page.locator("#rev-threshold-out")).to_have_text("0,50")
    expect(page.locator(CARD)).to_have_attribute("data-filename", "gato00.jpg")
    assert_spanish(page.locator("#panel-review").inner_text(), "the Review tab")

    page.locator("#tab-batch").click()
    page.locator("#batch-files").set_input_files(files=[good, broken])
    page.locator("#batch-run").click()
    error = page.locator("#batch-grid li[data-filename='rota.jpg'] .card-error")
    expect(error).to_have_text("La imagen está dañada o incompleta y no se puede leer.")
    assert_spanish(page.locator("#panel-batch").inner_text(), "the Batch tab")


def test_first_visit_lands_on_review_and_the_last_tab_is_remembered(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#panel-review")).to_be_visible()
    expect(page.locator("[data-tab=review]")).to_have_attribute("aria-selected", "true")
    page.locator("[data-tab=corrections]").click()
    page.goto("/")  # no hash: where the person was last
    expect(page.locator("#panel-corrections")).to_be_visible()
    page.goto("/#batch")  # a link to a tab still wins
    expect(page.locator("#panel-batch")).to_be_visible()


def assert_spanish(text: str, where: str) -> None:
    found = ENGLISH.search(text)
    assert not found, f"English on {where}: ...{text[max(0, found.start() - 120) : found.end() + 120]}..."


def test_spanish_shows_no_english_sentence_after_a_retrain_and_a_rollback(page: Page, stack: Stack) -> None:
    """Last in this module: it adds a version to the module's stack."""
    photo = photo_files("retrain-es", 1, offset=160)[0]
    page.goto("/#individual")
    page.locator("#lang-select").select_option("es")
    page.locator("#ind-file").set_input_files(files=[photo])
    expect(page.locator("#ind-checks input").first).to_be_enabled()
    for label in ("horse", "person"):  # labels version 1 does not give: the fit learns something
        page.locator(f"#ind-cb-{label}").check()
    page.locator("#ind-save").click()
    expect(page.locator("#ind-msg")).to_have_attribute("data-kind", "ok")
    page.locator("#ind-retrain").click()
    page.locator("[data-testid=retrain-confirm]").click()
    outcome = page.locator("#job-outcome")
    expect(outcome).to_have_attribute("data-promoted", re.compile("true|false"), timeout=240_000)
    assert_spanish(page.locator("#panel-individual").inner_text(), "Individual after a retrain")

    page.locator("#tab-models").click()
    version = page.locator("#models-list li.version[data-active=false]").first.get_attribute("data-version")
    target = page.locator(f"#models-list li.version[data-version='{version}']")
    target.locator("[data-testid=activate]").click()
    target.locator("[data-testid=activate-yes]").click()
    expect(target.locator("[data-testid=activate-result]")).to_have_text(
        f"La versión {version} ya está activa."
    )
    expect(page.locator("#model-version")).to_have_attribute("data-version", version, timeout=90_000)
    assert_spanish(page.locator("#panel-models").inner_text(), "Models after a rollback")
