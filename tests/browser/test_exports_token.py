"""With TAGLOOP_TOKEN_FOR_ALL every call needs the token, downloads too: the Review tab's
exports go through fetch with the token the page holds, are saved under the server's
filename, and a failed one is said (in Spanish too)."""

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.review import photo_files
from support.stack import Stack, running_stack

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


def session_with_saved_photos(api: httpx.Client) -> tuple[int, dict[str, list[str]]]:
    """A review session of two predicted photos, both saved with LABELS."""
    items = []
    for f in photo_files("tok", len(LABELS), offset=40):
        reply = api.post("/predict", files={"file": (f["name"], f["buffer"], "image/jpeg")})
        reply.raise_for_status()
        body = reply.json()
        items.append({"image_id": body["image_id"], "filename": f["name"], "scores": body["scores"]})
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
