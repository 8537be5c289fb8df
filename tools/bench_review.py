"""Review benchmark against a running system (it starts nothing itself), in Chromium.

    .venv/bin/python -m tools.bench_review --url http://127.0.0.1:8080

(tests/ on the path for the test photos of tests/support/training.py.)

A session of 50 photos, the repo's labelled fixture (tests/fixtures/photos and photos.csv:
47 real photos) and mirrored variants of its first ones to make up the number, is created
from the Review tab as a person would, by choosing the files. Measured:
  - time to first card: from choosing the files to the first card drawn with its photo;
  - next card: from Enter (save and next) to the next card drawn with its photo decoded,
    measured inside the page (p50 and p95 over the session);
  - keys per photo: the keys a person presses to label each photo right (the hotkeys that
    fix the pre-ticked labels, then Enter), on photos whose right labels are known; the
    saved labels are checked against them at the end.
"""

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps
from playwright.sync_api import Page, sync_playwright
from tagloop.classes import VOC_CLASSES

from tools.upload_bytes import jpeg_bytes

KEYS = dict(zip(VOC_CLASSES, "1234567890qwertyuiop", strict=True))
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
CHROMIUM = "/usr/bin/chromium"

NEXT_CARD_JS = """async () => {
  const card = document.querySelector('#rev-card');
  const before = card.dataset.filename;
  const t0 = performance.now();
  document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
  while (card.dataset.filename === before && !document.querySelector('#rev-done:not([hidden])')) {
    await new Promise((r) => requestAnimationFrame(r));
  }
  const img = document.querySelector('#rev-img');
  if (!img.hidden && img.src) await img.decode().catch(() => {});
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - t0;
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ticked(page: Page) -> set[str]:
    return set(page.locator("#rev-rows input:checked").evaluate_all("els => els.map(e => e.value)"))


def first_card(page: Page, files: list[dict]) -> float:
    page.goto("/#review")
    page.locator("#rev-new").click()
    page.wait_for_function("() => document.querySelector('#rev-progress').textContent.startsWith('0 / 0')")
    t0 = time.perf_counter()
    page.locator("#rev-files").set_input_files(files=files)
    page.wait_for_function(
        "() => { const c = document.querySelector('#rev-card'); const i = document.querySelector('#rev-img');"
        " return c.dataset.status === 'pending' && i.complete && i.naturalWidth > 0; }",
        timeout=120_000,
    )
    seconds = time.perf_counter() - t0
    page.wait_for_function(
        f"() => document.querySelector('#rev-upload-msg').textContent.includes('{len(files)} photos added')",
        timeout=300_000,
    )
    return seconds


def review_all(page: Page, truth: dict[str, set[str]]) -> tuple[list[float], list[int]]:
    """Label every card right with hotkeys, Enter timed in the page; returns (ms per card, keys per photo)."""
    times, keys = [], []
    page.locator("#rev-card").focus()
    while page.locator("#rev-done").is_hidden():
        name = page.locator("#rev-card").get_attribute("data-filename")
        fixes = sorted(ticked(page) ^ truth[name])
        for label in fixes:
            page.keyboard.press(KEYS[label])
        keys.append(len(fixes) + 1)
        times.append(page.evaluate(NEXT_CARD_JS))
    return times, keys


def labelled_photos(n: int) -> tuple[list[dict], dict[str, set[str]]]:
    """n photos to upload and their right labels: the fixture's, then mirrored variants (same labels)."""
    with open(FIXTURE / "photos.csv", newline="") as f:
        rows = [(name, {c for c in labels.split(";") if c}) for name, labels in list(csv.reader(f))[1:]]
    files, truth = [], {}
    for k in range(n):
        name, labels = rows[k % len(rows)]
        path = FIXTURE / "photos" / name
        mirrored = k >= len(rows)
        data = jpeg_bytes(ImageOps.mirror(Image.open(path).convert("RGB"))) if mirrored else path.read_bytes()
        upload = f"bench{k:03d}-{name}"
        files.append({"name": upload, "mimeType": "image/jpeg", "buffer": data})
        truth[upload] = labels
    return files, truth


def run(url: str, n: int) -> dict[str, float]:
    files, truth = labelled_photos(n)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(
            base_url=url, locale="en-US", viewport={"width": 1280, "height": 800}
        ).new_page()
        first = first_card(page, files)
        times, keys = review_all(page, truth)
        page.wait_for_function("() => document.querySelector('#rev-progress').dataset.pending === '0'")
        sid = page.locator("#rev-session").input_value()
        items = page.request.get(f"{url}/sessions/{sid}").json()["items"]
        browser.close()
    wrong = [i["filename"] for i in items if set(i["labels"] or []) != truth[i["filename"]]]
    if wrong:
        raise SystemExit(f"saved labels differ from the typed ones for {wrong}")
    return {
        "photos": len(files),
        "first_card_s": first,
        "next_p50_ms": statistics.median(times),
        "next_p95_ms": percentile(times, 0.95),
        "keys_per_photo": statistics.mean(keys),
        "accepted_as_is": sum(1 for k in keys if k == 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--photos", type=int, default=50)
    args = parser.parse_args()
    r = run(args.url, args.photos)
    print(f"\nReview, a session of {r['photos']} photos in Chromium via {args.url}\n")
    print("| measurement | result |\n|---|---|")
    print(f"| time to first card (choose files -> first card with its photo) | {r['first_card_s']:.2f} s |")
    print(f"| next card after Enter: p50 / p95 | {r['next_p50_ms']:.0f} / {r['next_p95_ms']:.0f} ms |")
    print(
        f"| keys per photo to label it right (hotkeys + Enter) | {r['keys_per_photo']:.2f} "
        f"({r['accepted_as_is']} of {r['photos']} right as predicted: Enter only) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
