"""The Review tab through the gateway: a session reviewed with the keyboard only, resumed
after a reload, bulk accept, retrain from the session, exports, Spanish errors, no stale labels."""

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from tagloop.classes import VOC_CLASSES
from tagloop.training.voc import read_split

from tests.support.review import CARD, KEYS, card_name, photo_files, start_session, ticked, type_labels
from tests.support.stack import Stack, running_stack
from tests.support.training import CONTRADICTING

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own: its sessions, corrections and retrains touch no other test."""
    with running_stack(tmp_path_factory.mktemp("review-stack"), v1_model_dir) as system:
        yield system


def is_save(url: str) -> bool:
    """A write to a card (a save, skip or undo), not the lease that keeps it on this screen."""
    return "/items/" in url and not url.endswith("/lease")


def session_labels(stack: Stack, sid: int) -> dict[str, list[str] | None]:
    items = httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]
    return {i["filename"]: i["labels"] for i in items}


def latest_corrections(stack: Stack) -> dict[str, list[str]]:
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    return {r["image_id"]: r["corrected_labels"] for r in rows}


def test_twelve_photos_reviewed_with_the_keyboard_only(page: Page, stack: Stack, shoot) -> None:
    sid = start_session(page, photo_files("kb", 12))
    page.locator(CARD).focus()
    typed: dict[str, set[str]] = {}

    # 1: hotkeys, then Enter (save and next)
    first = card_name(page)
    hotkeys = {
        k: page.locator(f"#rev-rows input[value={k}]").get_attribute("aria-keyshortcuts") for k in VOC_CLASSES
    }
    assert hotkeys == KEYS
    assert "Enter" in page.locator("#rev-save").get_attribute("aria-keyshortcuts")
    typed[first] = set(CONTRADICTING[0])
    type_labels(page, typed[first])
    page.keyboard.press("Enter")

    # 2: "a" accepts the predictions as they are
    second = card_name(page)
    assert second != first
    typed[second] = ticked(page)
    page.keyboard.press("a")

    # 3: a wrong save, undone with z: back on the same card with what was saved, fixed, saved again
    third = card_name(page)
    type_labels(page, {"sofa"})
    page.keyboard.press("Enter")
    assert card_name(page) != third
    page.keyboard.press("z")
    expect(page.locator(CARD)).to_have_attribute("data-filename", third)
    assert ticked(page) == {"sofa"}
    typed[third] = set(CONTRADICTING[2])
    type_labels(page, typed[third])
    page.keyboard.press("Enter")

    # 4: ← shows the previous card (saved, with its labels), → comes back, nothing saved on the way
    fourth = card_name(page)
    page.keyboard.press("ArrowLeft")
    expect(page.locator(CARD)).to_have_attribute("data-status", "saved")
    assert ticked(page) == typed[page.locator(CARD).get_attribute("data-filename")]
    page.keyboard.press("ArrowRight")
    expect(page.locator(CARD)).to_have_attribute("data-filename", fourth)

    for k in range(3, 12):
        name = card_name(page)
        typed[name] = set(CONTRADICTING[k % len(CONTRADICTING)])
        type_labels(page, typed[name])
        if k == 8:
            shoot(page, "review-card")
        page.keyboard.press("Enter")

    expect(page.locator("#rev-done")).to_be_visible()
    expect(page.locator("#rev-progress")).to_contain_text("12 / 12 reviewed")
    # Saves reach the server in the background: wait until the page has their answers.
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")
    saved = session_labels(stack, sid)
    assert {name: set(labels) for name, labels in saved.items()} == typed
    items = httpx.get(f"{stack.url}/sessions/{sid}").json()["items"]
    latest = latest_corrections(stack)
    assert {i["filename"]: set(latest[i["image_id"]]) for i in items} == typed


def test_a_reload_resumes_at_the_same_card(page: Page) -> None:
    sid = start_session(page, photo_files("resume", 4, offset=12))
    page.locator(CARD).focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page.locator("#rev-progress")).to_contain_text("2 / 4 reviewed")
    here = card_name(page)
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")  # both saves answered
    page.reload()
    expect(page.locator("#rev-session")).to_have_value(str(sid))
    expect(page.locator(CARD)).to_have_attribute("data-filename", here)
    expect(page.locator("#rev-progress")).to_contain_text("2 / 4 reviewed")


def test_writes_to_one_photo_land_in_the_order_they_were_made(page: Page, stack: Stack) -> None:
    """A save held up on the network, then undone and saved again: the server keeps the last labels."""
    sid = start_session(page, photo_files("order", 2, offset=16))
    page.locator(CARD).focus()
    held = []
    page.route(is_save, lambda route: route.continue_() if held else held.append(route))
    first = card_name(page)
    type_labels(page, {"sofa"})
    page.keyboard.press("Enter")
    page.keyboard.press("z")
    expect(page.locator(CARD)).to_have_attribute("data-filename", first)
    type_labels(page, {"horse"})
    page.keyboard.press("Enter")
    expect(page.locator(CARD)).not_to_have_attribute("data-filename", first)
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#rev-progress")).to_have_attribute("data-pending", "0")
    assert session_labels(stack, sid)[first] == ["horse"]


def _confident_session(stack: Stack, photos: dict[str, bytes]) -> tuple[int, dict[str, str]]:
    """A session (made through the API) of three photos: two confident, one not."""
    scores = {
        "cat": {c: (0.97 if c == "cat" else 0.01) for c in VOC_CLASSES},
        "coffee": {c: (0.5 if c == "cup" else 0.3 if c == "diningtable" else 0.02) for c in VOC_CLASSES},
        "rocket": {c: 0.02 for c in VOC_CLASSES},
    }
    ids, items = {}, []
    for name, table in scores.items():
        reply = httpx.post(
            f"{stack.url}/predict", files={"file": (f"bulk-{name}.jpg", photos[name], "image/jpeg")}
        )
        ids[name] = reply.json()["image_id"]
        items.append({"image_id": ids[name], "filename": f"bulk-{name}.jpg", "scores": table})
    body = {"name": "bulk", "order": "upload", "items": items}
    return httpx.post(f"{stack.url}/sessions", json=body).json()["session"]["id"], ids


def test_bulk_accept_and_set_a_label_in_the_grid(page: Page, stack: Stack, photos) -> None:
    sid, ids = _confident_session(stack, photos)
    page.add_init_script(f"localStorage.setItem('tagloop.review.session', '{sid}')")
    page.goto("/#review")
    expect(page.locator("#rev-session")).to_have_value(str(sid))
    page.locator("#rev-view").click()
    tiles = page.locator("#rev-grid li.rev-tile")
    expect(tiles).to_have_count(3)
    page.locator("#rev-bulk-confident").click()
    expect(page.locator("#rev-bulk-question")).to_have_text(
        "Save the predictions of 2 confident cards as they are?"
    )
    page.locator("#rev-bulk-ok").click()
    expect(page.locator("#rev-bulk-msg")).to_contain_text("2 cards saved")
    rows = httpx.get(f"{stack.url}/get_corrections?limit=500").json()["corrections"]
    mine = {r["image_id"]: r for r in rows if r["image_id"] in ids.values()}
    assert mine[ids["cat"]]["corrected_labels"] == ["cat"] and mine[ids["cat"]]["source"] == "bulk"
    assert mine[ids["rocket"]]["corrected_labels"] == []
    assert ids["coffee"] not in mine or mine[ids["coffee"]]["source"] != "bulk"

    # click the first tile, shift-click the last: three selected; set "sofa" on them
    tiles.first.click()
    tiles.last.click(modifiers=["Shift"])
    expect(page.locator("#rev-grid li[aria-selected=true]")).to_have_count(3)
    page.locator("#rev-bulk-label").select_option("sofa")
    page.locator("#rev-bulk-set").click()
    expect(page.locator("#rev-bulk-question")).to_contain_text("Add “sofa” to 3 cards?")
    page.locator("#rev-bulk-ok").click()
    expect(page.locator("#rev-bulk-msg")).to_contain_text("3 cards saved")
    labels = session_labels(stack, sid)
    assert labels == {
        "bulk-cat.jpg": ["cat", "sofa"],
        "bulk-coffee.jpg": ["sofa"],
        "bulk-rocket.jpg": ["sofa"],
    }


def test_exports_of_a_session_parse(page: Page, stack: Stack, tmp_path: Path) -> None:
    sid = start_session(page, photo_files("exp", 3, offset=16))
    page.locator(CARD).focus()
    held: list[Route] = []
    wanted = {}
    for k in range(3):
        if k == 2:  # the last save is held on its way to the server
            page.route("**/sessions/*/items/*", lambda route: held.append(route))
        name = card_name(page)
        wanted[name] = set(CONTRADICTING[k])
        type_labels(page, wanted[name])
        page.keyboard.press("Enter")
    expect(page.locator("#rev-done")).to_be_visible()
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)

    def download(testid: str, meanwhile: Callable[[], None] = lambda: None) -> Path:
        with page.expect_download() as got:
            page.locator(f"[data-testid={testid}]").click()
            meanwhile()
        return got.value.path()

    # Export at once: the file waits for that save and has it
    exported = download("rev-export-csv", meanwhile=lambda: held.pop().continue_())
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert {r["filename"]: set(r["labels"].split()) for r in rows} == wanted
    coco = json.loads(download("rev-export-coco").read_text())
    assert len(coco["images"]) == 3 and len(coco["categories"]) == 20
    assert len(coco["annotations"]) == sum(len(v) for v in wanted.values())
    zipfile.ZipFile(download("rev-export-voc")).extractall(tmp_path)
    items = read_split(tmp_path / f"tagloop-session-{sid}", "trainval")
    assert sorted(i.labels for i in items) == sorted(tuple(sorted(v)) for v in wanted.values())


def test_spanish_error_messages_and_files_refused_before_upload(page: Page, console, photos) -> None:
    page.add_init_script("localStorage.setItem('tagloop.lang', 'es')")
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.goto("/#review")
    page.locator("#rev-files").set_input_files(
        files=[
            {"name": "notas.txt", "mimeType": "text/plain", "buffer": b"hola"},
            {
                "name": "enorme.jpg",
                "mimeType": "image/jpeg",
                "buffer": b"\xff\xd8\xff" + b"0" * (17 * 1024 * 1024),
            },
        ]
    )
    msg = page.locator("#rev-upload-msg")
    expect(msg).to_contain_text("notas.txt no es una imagen JPEG, PNG o WebP")
    expect(msg).to_contain_text("enorme.jpg ocupa 17,0 MB")  # the decimal comma of Spanish
    assert uploads == []

    # an error the server finds (a damaged JPEG) is shown in Spanish from its code
    console.expect_http_error(400)
    page.goto("/#individual")
    page.locator("#ind-file").set_input_files(
        files=[{"name": "rota.jpg", "mimeType": "image/jpeg", "buffer": photos["cat"][:600]}]
    )
    expect(page.locator("#ind-msg")).to_have_text("La imagen está dañada o incompleta y no se puede leer.")


def test_no_stale_labels_while_a_photo_is_predicting(page: Page, stack: Stack, photos) -> None:
    held = []
    page.goto("/#individual")
    page.locator("#ind-file").set_input_files(
        files=[{"name": "gato.jpg", "mimeType": "image/jpeg", "buffer": photos["cat"]}]
    )
    expect(page.locator("#ind-save")).to_be_enabled()
    assert page.locator("#ind-checks input:checked").count() > 0

    page.route("**/predict", lambda route: held.append(route))
    page.locator("#ind-file").set_input_files(
        files=[{"name": "cohete.jpg", "mimeType": "image/jpeg", "buffer": photos["rocket"]}]
    )
    page.wait_for_function(
        "() => document.querySelector('#ind-results').getAttribute('aria-busy') === 'true'"
    )
    expect(page.locator("#ind-save")).to_be_disabled()
    assert page.locator("#ind-checks input:checked").count() == 0
    page.locator("#ind-save").click(force=True)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/predict")
    expect(page.locator("#ind-model-used")).to_contain_text("cohete.jpg")
    expect(page.locator("#ind-save")).to_be_enabled()

    # the same in a review session: the first card is a placeholder until its photo is predicted
    saves: list[str] = []
    page.on("request", lambda r: saves.append(r.url) if is_save(r.url) else None)
    page.goto("/#review")
    page.locator("#rev-new").click()
    expect(page.locator("#rev-progress")).to_have_text("0 / 0 reviewed")
    page.route("**/batch_predict", lambda route: held.append(route))
    page.locator("#rev-files").set_input_files(files=photo_files("slow", 1, offset=19))
    expect(page.locator(CARD)).to_have_attribute("data-status", "predicting")
    expect(page.locator("#rev-save")).to_be_disabled()
    page.locator(CARD).focus()
    page.keyboard.press("Enter")
    page.keyboard.press("a")
    held[-1].continue_()
    page.unroute("**/batch_predict")
    expect(page.locator(CARD)).to_have_attribute("data-filename", "slow00.jpg")
    expect(page.locator(CARD)).to_have_attribute("data-status", "pending")
    assert saves == []


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rgb_of(css: str) -> tuple[int, ...]:
    return tuple(int(float(x)) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


@pytest.mark.parametrize("size", [{"width": 1280, "height": 800}, {"width": 375, "height": 740}])
def test_save_is_on_screen_without_scrolling(page: Page, size: dict, shoot) -> None:
    page.set_viewport_size(size)
    start_session(page, photo_files("fold", 2, offset=20))
    box = page.locator("#rev-save").bounding_box()
    shoot(page, f"review-{size['width']}")
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= size["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], box


def test_focus_rings_have_three_to_one_contrast(page: Page) -> None:
    page.goto("/#review")
    page.locator("#rev-new").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
    ring = page.locator("#rev-new").evaluate("el => getComputedStyle(el).boxShadow")
    assert contrast(rgb_of(ring), (255, 255, 255)) >= 3, ring
    page.locator("body").click(position={"x": 5, "y": 400})
    for _ in range(6):  # Tab from the top of the page to the selected tab
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "tab-review":
            break
    expect(page.locator("#tab-review")).to_be_focused()
    outline = page.locator("#tab-review").evaluate("el => getComputedStyle(el).outlineColor")
    header = page.locator(".tabs").evaluate("el => getComputedStyle(el).backgroundColor")
    assert contrast(rgb_of(outline), rgb_of(header)) >= 3, (outline, header)


def test_a_drop_outside_the_drop_zone_does_not_leave_the_page(page: Page) -> None:
    page.goto("/#review")
    prevented = page.evaluate(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["x"], "stray.jpg", { type: "image/jpeg" }));
            const drop = new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true });
            document.querySelector("#rev-progress").dispatchEvent(drop);
            return drop.defaultPrevented;
        }"""
    )
    assert prevented is True


def test_hotkeys_can_be_changed(page: Page) -> None:
    start_session(page, photo_files("keys", 1, offset=22))
    page.locator("#rev-keys").click()
    page.locator("#key-cat").click()
    page.keyboard.press("k")
    expect(page.locator("#key-cat")).to_have_value("K")
    page.locator("#keys-ok").click()
    expect(page.locator("#keys-dialog")).to_be_hidden()
    box = page.locator("#rev-rows input[value=cat]")
    expect(box).to_have_attribute("aria-keyshortcuts", "k")
    before = box.is_checked()
    page.locator(CARD).focus()
    page.keyboard.press("k")
    assert box.is_checked() is not before
    page.evaluate("localStorage.removeItem('tagloop.review.keys')")
