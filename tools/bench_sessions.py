"""Review sessions of 50, 500 and 5,000 photos against a running system (it starts nothing).

    .venv/bin/python -m tools.bench_sessions --url http://127.0.0.1:8080

(tests/ on the path for its photos: tests/support/training.py, tests/support/large_session.py.)

Per session size, through the gateway, as the Review tab does it:
  - upload and predict (50 and 500): real photos sent in chunks of 8 to /batch_predict,
    3 chunks in flight, each chunk's items added to the session in order; photos/s end to end;
  - session read: GET /sessions/{id} (every card), median of 5;
  - poll of an unchanged session: the same with its ETag (the Review tab's 1 s poll; 304);
  - next card: GET /sessions/{id}/next after a card, p50 and p95 of 20;
  - save: POST /sessions/{id}/items/{image_id}, p50 of 20;
  - VOC export of the saved cards (20): seconds and the peak the client held (streamed);
  - re-predict: POST /sessions/{id}/repredict, seconds (5,000 only with --repredict-large);
  - in Chromium: the session opened in the Review tab, then the next card after Enter
    (drawn, its photo decoded: tools/bench_review.py's measure), p50 and p95 of 20,
    while the tab polls the session every second.
The 5,000-photo session is built without running inference 5,000 times: distinct small PNGs
are written into the upload store (--data-dir, default TAGLOOP_DATA_DIR, the running
system's) and added with scores. The gateway's rate limit must be above what is measured
(TAGLOOP_PREDICT_RATE=1000r/s, as for tools/bench_inference.py).
"""

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright
from tagloop.classes import VOC_CLASSES
from tagloop.settings import CommonSettings

from tests.support.large_session import large_session_items
from tests.support.training import image_bytes
from tools.bench_review import CHROMIUM, NEXT_CARD_JS, percentile

CHUNK, IN_FLIGHT = 8, 3


def predict_chunk(client: httpx.Client, chunk: list[tuple[str, bytes]]) -> list[dict]:
    reply = client.post("/batch_predict", files=[("files", (n, d, "image/jpeg")) for n, d in chunk])
    reply.raise_for_status()
    return [
        {"image_id": r["image_id"], "filename": r["filename"], "scores": r["scores"], "model_version": 1}
        for r in reply.json()["results"]
        if "error" not in r
    ]


def upload(client: httpx.Client, sid: int, photos: list[tuple[str, bytes]]) -> float:
    """Photos/s of predicting `photos` and adding them to session `sid`, as the Review tab does."""
    chunks = [photos[k : k + CHUNK] for k in range(0, len(photos), CHUNK)]
    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for items in pool.map(lambda c: predict_chunk(client, c), chunks):
            client.post(f"/sessions/{sid}/items", json={"items": items}).raise_for_status()
    return len(photos) / (time.perf_counter() - started)


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for k in range(n):
        started = time.perf_counter()
        fn(k)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def p95(values: list[float]) -> float:
    return percentile(values, 0.95)


def browser_next_card(url: str, sid: int, n: int = 20) -> list[float]:
    """ms from Enter to the next card drawn with its photo, in the Review tab on session `sid`."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(
            base_url=url, locale="en-US", viewport={"width": 1280, "height": 800}
        ).new_page()
        page.add_init_script(f"localStorage.setItem('tagloop.review.session', '{sid}')")
        page.goto("/#review")
        page.wait_for_function(
            "() => { const i = document.querySelector('#rev-img'); return i.complete && i.naturalWidth > 0 }",
            timeout=120_000,
        )
        page.locator("#rev-card").focus()
        page.wait_for_timeout(1500)  # a poll or two in
        times = [page.evaluate(NEXT_CARD_JS) for _ in range(n)]
        browser.close()
    return times


def measure(client: httpx.Client, size: int, args: argparse.Namespace) -> dict[str, str]:
    row: dict[str, str] = {"photos": f"{size:,}"}
    sid = client.post("/sessions", json={"name": f"bench {size}", "order": "upload"}).json()["session"]["id"]
    if size <= args.max_real:
        photos = [(f"bench{size}-{k:05d}.jpg", data) for k, data in enumerate(image_bytes(size))]
        row["upload + predict"] = f"{upload(client, sid, photos):.1f} photos/s"
    else:
        items = large_session_items(args.data_dir / "uploads", size)
        for k in range(0, size, 5000):
            client.post(f"/sessions/{sid}/items", json={"items": items[k : k + 5000]}).raise_for_status()
        row["upload + predict"] = "(built in the store)"
    ids = [i["image_id"] for i in client.get(f"/sessions/{sid}").json()["items"]]
    assert len(ids) == size, f"the session holds {len(ids)} of {size}"
    reads = timed(lambda k: client.get(f"/sessions/{sid}").raise_for_status(), 5)
    row["session read (median)"] = f"{statistics.median(reads):.0f} ms"
    etag = client.get(f"/sessions/{sid}").headers["ETag"]
    polls = timed(lambda k: client.get(f"/sessions/{sid}", headers={"If-None-Match": etag}), 5)
    row["poll, unchanged: 304 (median)"] = f"{statistics.median(polls):.0f} ms"
    step = max(1, size // 20)
    nexts = timed(lambda k: client.get(f"/sessions/{sid}/next", params={"after": ids[k * step]}), 20)
    row["next card p50 / p95"] = f"{statistics.median(nexts):.0f} / {p95(nexts):.0f} ms"
    body = {"status": "saved", "labels": [VOC_CLASSES[0]]}
    saves = timed(lambda k: client.post(f"/sessions/{sid}/items/{ids[k * step]}", json=body), 20)
    row["save p50"] = f"{statistics.median(saves):.0f} ms"
    started, peak, total = time.perf_counter(), 0, 0
    with client.stream("GET", "/export", params={"format": "voc", "session": sid}) as reply:
        for chunk in reply.iter_bytes():
            peak, total = max(peak, len(chunk)), total + len(chunk)
    row["VOC export of 20 saved"] = (
        f"{time.perf_counter() - started:.2f} s ({total // 1024} KB, chunks <= {peak // 1024} KB)"
    )
    shown = browser_next_card(args.url, sid)
    row["in the tab: next card p50 / p95"] = f"{statistics.median(shown):.0f} / {p95(shown):.0f} ms"
    if size <= args.max_real or args.repredict_large:
        started = time.perf_counter()
        client.post(f"/sessions/{sid}/repredict", timeout=1800).raise_for_status()
        row["re-predict"] = f"{time.perf_counter() - started:.1f} s"
    else:
        row["re-predict"] = "skipped (--repredict-large)"
    return row


def main() -> None:
    args = parse_args()
    rows = []
    with httpx.Client(base_url=args.url, timeout=300) as client:
        for size in args.sizes:
            rows.append(measure(client, size, args))
            print(f"# {size} done", flush=True)
    names = list(rows[0])
    print("\n| " + " | ".join(names) + " |\n|" + "---|" * len(names))
    for row in rows:
        print("| " + " | ".join(row.get(n, "") for n in names) + " |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[50, 500, 5000])
    parser.add_argument("--max-real", type=int, default=500, help="largest session uploaded as real photos")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="the system's data dir (TAGLOOP_DATA_DIR)"
    )
    parser.add_argument("--repredict-large", action="store_true", help="re-predict the 5,000 too (minutes)")
    args = parser.parse_args()
    args.data_dir = args.data_dir or CommonSettings().data_dir
    return args


if __name__ == "__main__":
    main()
