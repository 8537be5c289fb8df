"""With TAGLOOP_TOKEN_FOR_ALL every call needs the token, downloads and photos too: the Review
tab's exports go through fetch with the token the page holds, are saved under the server's
filename, and a failed one is said (in Spanish too); the stored photos of a session, its grid
and the Corrections tab are shown (no 401 in the console)."""

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.review import photo_files
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TOKEN = "export-test-token-0123456789"
LABELS = [["dog", "person"], ["cat"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system of this module's own, where every request needs the admin token."""
    env = {"TAGLOOP_ADMIN_TOKEN": TOKEN, "TAGLOOP_TOKEN_FOR_ALL": "true"}
    with running_stack(tmp_path_factory.mktemp("token-stack"), v1_model_dir, env) as system:
        yield system


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        yield client


def predicted_items(api: httpx.Client, prefix: str, n: int, offset: int) -> list[dict]:
    items = []
    for f in photo_files(prefix, n, offset=offset):
        reply = api.post("/predict", files={"file": (f["name"], f["buffer"], "image/jpeg")})
        reply.raise_for_status()
        body = reply.json()
        items.append({"image_id": body["image_id"], "filename": f["name"], "scores": body["scores"]})
    return items


def session_with_saved_photos(api: httpx.Client) -> tuple[int, dict[str, list[str]]]:
    """A review session of two predicted photos, both saved with LABELS."""
    items = predicted_items(api, "tok", len(LABELS), offset=40)
    created = api.post("/sessions", json={"name": "exports", "items": items})
    created.raise_for_status()
    sid = created.json()["session"]["id"]
    for item, labels in zip(items, LABELS, strict=True):
        api.post(f"/sessions/{sid}/items/{item['image_id']}", json={"labels": labels}).raise_for_status()
    return sid, {i["filename"]: sorted(lb) for i, lb in zip(items, LABELS, strict=True)}


def open_session(page: Page, sid: int, lang: str = "en") -> None:
    page.add_init_script(
        f"sessionStorage.setItem('tagloop.token', '{TOKEN}');"
        f"localStorage.setItem('tagloop.review.session', '{sid}');"
        f"localStorage.setItem('tagloop.lang', '{lang}');"
    )
    page.goto("/#review")
    expect(page.locator("#rev-session")).to_have_value(str(sid))


def download(page: Page, testid: str) -> tuple[str, Path]:
    with page.expect_download() as got:
        page.locator(f"[data-testid={testid}]").click()
    return got.value.suggested_filename, Path(got.value.path())


def test_exports_download_with_the_token(page: Page, stack: Stack, api: httpx.Client, tmp_path: Path) -> None:
    assert httpx.get(f"{stack.url}/export?format=csv").status_code == 401, "precondition: a link alone fails"
    sid, wanted = session_with_saved_photos(api)
    open_session(page, sid)

    name, path = download(page, "rev-export-csv")
    assert name == f"tagloop-session-{sid}.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert {r["filename"]: sorted(r["labels"].split()) for r in rows} == wanted
    expect(page.locator("#rev-export-msg")).to_have_text(f"{name} downloaded.")

    name, path = download(page, "rev-export-coco")
    assert name == f"tagloop-session-{sid}.json"
    assert len(json.loads(path.read_text())["images"]) == len(wanted)

    name, path = download(page, "rev-export-voc")
    assert name == f"tagloop-session-{sid}.zip"
    with zipfile.ZipFile(path) as archive:
        assert sum(n.startswith(f"tagloop-session-{sid}/JPEGImages/") for n in archive.namelist()) == len(
            wanted
        )

    name, path = download(page, "export-all-csv")
    assert name == "tagloop-corrections.csv"
    assert {r["image_id"] for r in csv.DictReader(io.StringIO(path.read_text()))} >= {
        r["image_id"] for r in rows
    }


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "tagloop-session-{sid}.zip could not be downloaded: there are no corrections to export"),
        ("es", "No se pudo descargar tagloop-session-{sid}.zip: No hay correcciones que exportar."),
    ],
)
def test_failed_export_is_said(page: Page, console, api: httpx.Client, lang: str, said: str) -> None:
    created = api.post("/sessions", json={"name": f"empty {lang}"})
    created.raise_for_status()
    sid = created.json()["session"]["id"]
    console.expect_http_error(404)  # Chromium logs the refused download; the page says why
    open_session(page, sid, lang)
    downloads: list[object] = []
    page.on("download", lambda d: downloads.append(d))
    page.locator("[data-testid=rev-export-voc]").click()
    msg = page.locator("#rev-export-msg")
    expect(msg).to_have_text(said.format(sid=sid))
    expect(msg).to_have_attribute("data-kind", "error")
    expect(page.locator("[data-testid=rev-export-voc]")).to_be_enabled()
    assert downloads == []


def expect_loaded(page: Page, selector: str, n: int) -> None:
    images = page.locator(selector)
    expect(images).to_have_count(n)
    for img in images.all():
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
        expect(img).to_have_attribute("src", re.compile(r"^blob:"))
        assert img.evaluate("i => i.naturalWidth") > 0


def test_stored_photos_show_with_the_token(page: Page, api: httpx.Client) -> None:
    items = predicted_items(api, "pic", 3, offset=44)
    created = api.post("/sessions", json={"name": "photos", "items": items})
    created.raise_for_status()
    sid = created.json()["session"]["id"]
    saved = items[0]["image_id"]
    api.post(f"/sessions/{sid}/items/{saved}", json={"labels": ["cow"]}).raise_for_status()

    open_session(page, sid)  # a fresh page: no local file, every photo from the server
    expect(page.locator("#rev-card")).to_have_attribute("data-status", "pending")
    expect_loaded(page, "#rev-img", 1)
    page.keyboard.press("Enter")  # save: the next card's photo, prefetched, is shown too
    expect(page.locator("#rev-progress")).to_have_attribute("data-saved", "2")
    expect_loaded(page, "#rev-img", 1)

    page.locator("#rev-view").click()
    expect_loaded(page, "#rev-grid li img", 3)

    page.locator("#tab-corrections").click()
    expect_loaded(page, f"#corr-list li.row[data-image-id='{saved}'] img.thumb", 1)
