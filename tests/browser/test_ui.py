"""What every page owes a person: keyboard tabs, two languages, readable errors, phone width."""

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import wait_until_wired
from tests.support.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TABS = ["individual", "review", "batch", "corrections", "models"]


def selected_tab(page: Page) -> str:
    return page.locator("[role=tab][aria-selected=true]").get_attribute("data-tab")


def test_tabs_move_with_arrow_keys(page: Page) -> None:
    page.goto("/#individual")
    page.locator("#tab-individual").focus()
    page.keyboard.press("ArrowRight")
    assert selected_tab(page) == "review"
    expect(page.locator("#panel-review")).to_be_visible()
    expect(page.locator("#panel-individual")).to_be_hidden()
    expect(page.locator("#tab-review")).to_be_focused()
    page.keyboard.press("End")
    assert selected_tab(page) == "models"
    page.keyboard.press("ArrowRight")
    assert selected_tab(page) == "individual"
    page.keyboard.press("ArrowLeft")
    assert selected_tab(page) == "models"
    page.keyboard.press("Home")
    assert selected_tab(page) == "individual"
    for name in TABS:
        tabindex = page.locator(f"#tab-{name}").get_attribute("tabindex")
        assert (tabindex == "0") == (name == "individual")


def test_language_switch_is_remembered(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#tab-batch")).to_have_text("Batch")
    page.locator("#lang-select").select_option("es")
    expect(page.locator("#tab-batch")).to_have_text("Lote")
    expect(page.locator("#ind-save")).to_have_text("Guardar corrección")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.reload()
    expect(page.locator("#tab-batch")).to_have_text("Lote")
    expect(page.locator("#model-version")).to_contain_text("Modelo v")
    expect(page.locator("label[for=ind-cb-dog]")).to_have_text("perro")


def test_spanish_browser_gets_spanish(browser, stack) -> None:
    context = browser.new_context(base_url=stack.url, locale="es-ES")
    page = wait_until_wired(context.new_page())
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/")
    expect(page.locator("#tab-corrections")).to_have_text("Correcciones")
    context.close()
    assert not errors


def test_api_error_shown_as_a_sentence(page: Page, console) -> None:
    console.expect_http_error(415)
    console.expect_http_error(400)
    page.goto("/#individual")
    page.locator("#ind-file").set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"these are not pixels" * 20}]
    )
    msg = page.locator("#ind-msg")
    expect(msg).to_have_attribute("data-kind", "error")
    text = msg.text_content()
    assert text and not text.lstrip().startswith("{") and "success" not in text
    expect(page.locator("#ind-save")).to_be_disabled()


def test_every_control_has_a_label(page: Page) -> None:
    page.goto("/")
    unlabelled = page.locator("input, select, button").evaluate_all(
        """els => els.filter(e => {
            if (e.type === 'hidden') return false;
            const named = (e.labels && e.labels.length) || e.getAttribute('aria-label')
                || e.getAttribute('aria-labelledby') || (e.tagName === 'BUTTON' && e.textContent.trim());
            return !named;
        }).map(e => e.id || e.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("tab", TABS)
def test_readable_at_phone_width(page: Page, tab: str, lang: str, shoot) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"/#{tab}")
    page.locator("#lang-select").select_option(lang)
    expect(page.locator(f"#panel-{tab}")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.locator("#health-summary").click()  # the services popover must fit too
    expect(page.locator("#health-parts")).to_be_visible()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{tab} ({lang}) scrolls sideways by {overflow}px at 375px"
    shoot(page, f"phone-{tab}-{lang}")


def test_a_long_session_name_does_not_widen_the_phone_page(page: Page, stack: Stack) -> None:
    name = "A session named at length, " * 7
    reply = httpx.post(f"{stack.url}/sessions", json={"name": name[:200]}, timeout=30)
    assert reply.status_code == 201, reply.text
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/#review")
    expect(page.locator("#rev-session")).to_contain_text("A session named at length")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the review tab scrolls sideways by {overflow}px at 375px"


def put_file_in_page(page: Page, name: str, content: bytes):
    """A DataTransfer in the page holding one image file, as a drag or a paste carries."""
    return page.evaluate_handle(
        """([name, bytes]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, { type: "image/jpeg" }));
            return dt;
        }""",
        [name, list(content)],
    )


def test_drop_an_image_on_individual(page: Page, photos) -> None:
    page.goto("/#individual")
    dt = put_file_in_page(page, "dropped.jpg", photos["coffee"])
    page.locator("#ind-drop").dispatch_event("drop", {"dataTransfer": dt})
    expect(page.locator("#ind-model-used")).to_contain_text("dropped.jpg")
    expect(page.locator("#ind-checks input").first).to_be_enabled()


def test_paste_an_image_on_individual(page: Page, photos) -> None:
    page.goto("/#individual")
    dt = put_file_in_page(page, "clip.jpg", photos["rocket"])
    page.evaluate("dt => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt }))", dt)
    expect(page.locator("#ind-model-used")).to_contain_text("pasted.jpg")


def test_drop_many_images_on_batch(page: Page, photos) -> None:
    page.goto("/#batch")
    dt = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, bytes] of files) {
                dt.items.add(new File([new Uint8Array(bytes)], name, { type: "image/jpeg" }));
            }
            dt.items.add(new File(["plain text"], "readme.txt", { type: "text/plain" }));
            return dt;
        }""",
        [[f"{n}.jpg", list(photos[n])] for n in ("cat", "coffee")],
    )
    page.locator("#batch-drop").dispatch_event("drop", {"dataTransfer": dt})
    expect(page.locator("#batch-selected")).to_contain_text("Images selected: 2")
    expect(page.locator("#batch-msg")).to_contain_text("readme.txt is not a JPEG, PNG or WebP image")
    expect(page.locator("#batch-grid li.tile")).to_have_count(2)


def test_retrain_dialog_cancel_or_escape_starts_nothing(page: Page) -> None:
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto("/#individual")
    dialog = page.locator("#retrain-dialog")
    page.locator("#ind-retrain").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.locator("#ind-retrain").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#job")).to_be_hidden()
    assert posts == []


def test_a_photo_over_the_gateways_limit_is_refused_before_uploading(page: Page) -> None:
    """The page reads the limit from the gateway (/limits.json, the settings' value) and
    says so at once instead of sending 17 MB to be refused."""
    page.goto("/#individual")
    limits = page.evaluate("fetch('/limits.json').then((r) => r.json())")
    assert limits == {"max_body_bytes": 16 * 1024 * 1024}
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/predict") else None)
    page.locator("#ind-file").set_input_files(
        files=[
            {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"\0" * (17 * 1024 * 1024)}
        ]
    )
    expect(page.locator("#ind-msg")).to_have_attribute("data-kind", "error")
    expect(page.locator("#ind-msg")).to_contain_text("huge.jpg is 17")
    expect(page.locator("#ind-msg")).to_contain_text("it was not uploaded")
    assert sent == []
