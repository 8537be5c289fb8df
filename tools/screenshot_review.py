"""The README's screenshot of the Review tab, taken in Chromium against a running system.

    .venv/bin/python -m tools.screenshot_review --url URL --out docs/screenshot-review.png

A new session of four real photos (scikit-image's chelsea the cat first, in upload order);
the shot shows chelsea's card. Its ticks must be the right labels ({cat}): if the model
ticked anything else, the tool corrects the card with the hotkeys first, as a person would,
and says so.
"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from skimage import data
from tagloop.classes import VOC_CLASSES

from tools.upload_bytes import jpeg_bytes

KEYS = dict(zip(VOC_CLASSES, "1234567890qwertyuiop", strict=True))
PHOTOS = {
    "chelsea.jpg": data.chelsea,
    "astronaut.jpg": data.astronaut,
    "motorcycle.jpg": lambda: data.stereo_motorcycle()[0],
    "coffee.jpg": data.coffee,
}
RIGHT = {"cat"}


def shoot(url: str, out: Path) -> None:
    files = [
        {"name": n, "mimeType": "image/jpeg", "buffer": jpeg_bytes(make())} for n, make in PHOTOS.items()
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(
            base_url=url, locale="en-US", viewport={"width": 1280, "height": 1000}
        ).new_page()
        page.goto("/#review")
        page.locator("#rev-order").select_option("upload")
        page.locator("#rev-new").click()
        page.wait_for_function(
            "() => document.querySelector('#rev-progress').textContent.startsWith('0 / 0')"
        )
        page.locator("#rev-files").set_input_files(files=files)
        page.wait_for_function(
            "() => document.querySelector('#rev-upload-msg').textContent.includes('4 photos')"
        )
        card = page.locator("#rev-card")
        if card.get_attribute("data-filename") != "chelsea.jpg":
            raise SystemExit("the first card is not chelsea.jpg")
        ticked = set(page.locator("#rev-rows input:checked").evaluate_all("els => els.map(e => e.value)"))
        top = page.locator("#rev-rows li").first.get_attribute("data-label")
        print(f"model ticks {sorted(ticked)}, top score: {top}")
        if ticked != RIGHT:
            card.focus()
            for label in sorted(ticked ^ RIGHT):
                page.keyboard.press(KEYS[label])
            print(f"corrected in the UI to {sorted(RIGHT)}")
        page.wait_for_function("() => document.querySelector('#rev-img').complete")
        page.locator("#rev-upload-msg").evaluate("el => { el.textContent = ''; el.dataset.kind = ''; }")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot-review.png"))
    args = parser.parse_args()
    shoot(args.url, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
