"""Inference benchmark against a running system (it starts nothing itself).

    .venv/bin/python -m tools.bench_inference --url http://127.0.0.1:8080

Measures, on the same three ~1600x1200 JPEG photos, in one run:
  - through the gateway: /predict with 1 client (p50, p95), 8 concurrent clients (images/s),
    /batch_predict of 10 and of 32 images, and the curve: images/s for 1, 2, 4, 8 and 16
    concurrent clients (--curve);
  - in this process on the active version: bare compute (decode + preprocess + ONNX Runtime
    forward) per image at batch 1 and for 32 images in one pass;
  - the original design's path: Keras `model.predict`, one image per call, on the same
    version's model.h5 (TensorFlow is imported last, so it cannot slow the rows above);
then prints a Markdown table, the ratios the README's Performance section states as targets
(each beside what was measured), and where the 1-client
/predict time goes: the p50 of each phase of the replies' Server-Timing header, and the
client-side time minus the server's total (gateway, HTTP, client).

Each measurement runs in `--rounds` short rounds, interleaved (gateway, bare, gateway...),
so that load from elsewhere on the machine weighs on both sides of a ratio alike; the
Keras ratio uses 8-client rounds run between its own rounds. The gateway's rate limit must
be above what is measured (TAGLOOP_PREDICT_RATE=1000r/s): a 429 stops the benchmark.
"""

import argparse
import io
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from inference_api.config import Settings
from inference_api.engine import load_version
from inference_api.timing import parse_server_timing
from PIL import Image
from tagloop.images import load_image_arrays
from tagloop.store import ModelStore


def test_images() -> list[tuple[str, bytes]]:
    from skimage import data

    images = []
    for name in ("chelsea", "coffee", "astronaut"):
        buf = io.BytesIO()
        Image.fromarray(getattr(data, name)()).resize((1600, 1200), Image.Resampling.BICUBIC).save(
            buf, "JPEG", quality=90
        )
        images.append((f"{name}.jpg", buf.getvalue()))
    return images


def timed(fn: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# -- through the gateway -------------------------------------------------------------


class RateLimitedError(RuntimeError):
    """The gateway answered 429: its per-address rate limit is below what is measured."""


def post_predict(client: httpx.Client, image: tuple[str, bytes]) -> httpx.Response:
    reply = client.post("/predict", files={"file": (image[0], image[1], "image/jpeg")})
    _check(reply)
    return reply


def _check(reply: httpx.Response) -> None:
    if reply.status_code == 429:
        raise RateLimitedError(
            "the gateway rate-limited the benchmark (429); start the system with a higher "
            "limit, e.g. TAGLOOP_PREDICT_RATE=1000r/s TAGLOOP_PREDICT_BURST=1000"
        )
    reply.raise_for_status()


def post_batch(client: httpx.Client, images: list[tuple[str, bytes]]) -> None:
    reply = client.post("/batch_predict", files=[("files", (n, data, "image/jpeg")) for n, data in images])
    _check(reply)
    assert all("error" not in r for r in reply.json()["results"])


def gateway_single(
    url: str, images: list[tuple[str, bytes]], n: int, phases: list[dict[str, float]]
) -> list[float]:
    """Client-side seconds of `n` calls; each call's Server-Timing phases (ms) go to `phases`."""
    seen: list[dict[str, float]] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        it = iter(range(10**9))

        def one() -> None:
            reply = post_predict(client, images[next(it) % len(images)])
            *parts, total = parse_server_timing(reply.headers.get("server-timing", "total;dur=0"))
            rest = total.ms - sum(p.ms for p in parts if p.desc is None)  # those with one overlap
            seen.append({**{p.name: p.ms for p in parts}, "rest in the server": rest, "total": total.ms})

        durations = timed(one, n, warmup=5)
    phases += seen[-n:]  # the warm-up calls left out
    return durations


def gateway_concurrent(url: str, images: list[tuple[str, bytes]], clients: int, seconds: float) -> float:
    """Images per second with `clients` threads each sending /predict back to back."""
    counts = [0] * clients
    stop = threading.Event()

    errors: list[Exception] = []

    def loop(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            post_predict(client, images[i % len(images)])  # connect and warm
            barrier.wait()
            try:
                while not stop.is_set():
                    post_predict(client, images[(i + counts[i]) % len(images)])
                    counts[i] += 1
            except Exception as exc:
                errors.append(exc)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - started)


def gateway_batch(url: str, images: list[tuple[str, bytes]], size: int, repeat: int) -> list[float]:
    batch = [(f"{i}-{name}", data) for i, (name, data) in zip(range(size), _cycle(images, size), strict=True)]
    with httpx.Client(base_url=url, timeout=120) as client:
        return timed(lambda: post_batch(client, batch), repeat, warmup=1)


def _cycle(images: list[tuple[str, bytes]], n: int) -> list[tuple[str, bytes]]:
    return [images[i % len(images)] for i in range(n)]


# -- in process ----------------------------------------------------------------------


def bare_single(model, images: list[tuple[str, bytes]], n: int) -> list[float]:  # type: ignore[no-untyped-def]
    it = iter(range(10**9))

    def one() -> None:
        arrays = load_image_arrays(images[next(it) % len(images)][1], model.sizes)
        model.run({size: a[np.newaxis] for size, a in zip(model.sizes, arrays, strict=True)})

    return timed(one, n, warmup=3)


def bare_batched(model, images: list[tuple[str, bytes]], size: int, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    datas = [data for _, data in _cycle(images, size)]

    def one() -> None:
        arrays = [load_image_arrays(d, model.sizes) for d in datas]
        model.run({s: np.stack([a[i] for a in arrays]) for i, s in enumerate(model.sizes)})

    return timed(one, repeat, warmup=1)


def keras_model(h5: Path):  # type: ignore[no-untyped-def]
    """The original design's model: the version's .h5 when it is a one-input model, else
    keras' EfficientNetB0 (random weights: speed only) + the original head."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tagloop.model.build import load_model

    model = load_model(h5)
    if len(model.inputs) == 1:
        return model
    import keras

    base = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    x = keras.layers.Dropout(0.5)(keras.layers.Dense(512, activation="relu")(x))
    x = keras.layers.Dropout(0.3)(keras.layers.Dense(256, activation="relu")(x))
    return keras.Model(base.input, keras.layers.Dense(20, activation="sigmoid")(x))


def keras_per_image(model, images: list[tuple[str, bytes]], n: int) -> list[float]:  # type: ignore[no-untyped-def]
    """The original design: PIL open, resize 224, /255, model.predict on one image per call."""

    def one(data: bytes) -> None:
        img = Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224))
        model.predict(np.asarray(img, dtype=np.float32)[np.newaxis] / 255.0, verbose=0)

    it = iter(range(10**9))
    return timed(lambda: one(images[next(it) % len(images)][1]), n, warmup=2)


def inference_rss_mib(inference_url: str | None) -> float | None:
    if not inference_url:
        return None
    try:
        text = httpx.get(f"{inference_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 2**20
    return None


# -- report --------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    return f"{cpu}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}, load {load}"


@dataclass
class Results:
    """Raw timings in seconds, gathered over interleaved rounds."""

    single: list[float] = field(default_factory=list)
    single_phases: list[dict[str, float]] = field(default_factory=list)
    """Server-Timing of each `single` call, in ms by phase, in the same order."""
    concurrent_ips: list[float] = field(default_factory=list)
    batch10: list[float] = field(default_factory=list)
    batch32: list[float] = field(default_factory=list)
    bare1: list[float] = field(default_factory=list)
    bare32: list[float] = field(default_factory=list)
    keras: list[float] = field(default_factory=list)
    keras_concurrent_ips: list[float] = field(default_factory=list)
    curve: dict[int, list[float]] = field(default_factory=dict)
    """Clients -> images/s of each round (the curve)."""
    rss_mib: float | None = None
    rest_rss_mib: float | None = None
    """RSS a few seconds later, once idle (the service trims its heap after idle_trim_s)."""


def measure(
    args: argparse.Namespace, store: ModelStore, version: int, images: list[tuple[str, bytes]]
) -> Results:
    """Gateway and bare rows alternate round by round, so that a neighbour's load on the
    machine weighs on both sides of each ratio alike."""
    res = Results()
    model = load_version(folder=store.path(version), version=version, threads=args.bare_threads)
    per_round = max(args.requests // args.rounds, 5)
    for _ in range(args.rounds):
        res.single += gateway_single(args.url, images, per_round, res.single_phases)
        res.bare1 += bare_single(model, images, per_round)
        res.concurrent_ips.append(
            gateway_concurrent(args.url, images, args.clients, args.seconds / args.rounds)
        )
        for clients in args.curve:
            ips = gateway_concurrent(args.url, images, clients, args.curve_seconds / args.rounds)
            res.curve.setdefault(clients, []).append(ips)
        res.bare32 += bare_batched(model, images, 32, 1)
        res.batch10 += gateway_batch(args.url, images, 10, max(args.batch_repeat // args.rounds, 1))
        res.batch32 += gateway_batch(args.url, images, 32, max(args.batch_repeat // args.rounds, 1))
    res.rss_mib = inference_rss_mib(args.inference_url)
    time.sleep(args.rest_s)
    res.rest_rss_mib = inference_rss_mib(args.inference_url)
    del model
    if not args.skip_keras:
        keras = keras_model(store.path(version) / "model.h5")
        for _ in range(args.rounds):
            res.keras += keras_per_image(keras, images, max(args.keras_n // args.rounds, 3))
            res.keras_concurrent_ips.append(
                gateway_concurrent(args.url, images, args.clients, args.seconds / args.rounds)
            )
    return res


def report(args: argparse.Namespace, res: Results) -> None:
    med = statistics.median
    single_p50, bare1 = med(res.single), med(res.bare1)
    bare32 = med(res.bare32)
    bare32_ips, conc = 32 / bare32, med(res.concurrent_ips)
    keras_ips = 1 / med(res.keras) if res.keras else None
    rows = [
        (
            "/predict via gateway, 1 client: p50 / p95",
            f"{single_p50 * 1e3:.1f} / {p(res.single, 95) * 1e3:.1f} ms",
        ),
        (f"/predict via gateway, {args.clients} concurrent clients", f"{conc:.1f} images/s"),
        ("/batch_predict 10 images via gateway (median)", f"{med(res.batch10) * 1e3:.0f} ms"),
        ("/batch_predict 32 images via gateway (median)", f"{med(res.batch32) * 1e3:.0f} ms"),
        ("bare compute in-process, batch 1 (decode+preprocess+forward)", f"{bare1 * 1e3:.1f} ms/image"),
        (
            "bare compute in-process, 32 images in one pass",
            f"{bare32 * 1e3:.0f} ms ({bare32_ips:.1f} images/s)",
        ),
        (
            "original path: Keras model.predict, one image per call",
            "skipped" if keras_ips is None else f"{keras_ips:.1f} images/s ({1000 / keras_ips:.0f} ms/image)",
        ),
        (
            f"/predict via gateway, {args.clients} clients, rounds between the Keras rounds",
            f"{med(res.keras_concurrent_ips):.1f} images/s" if res.keras_concurrent_ips else "skipped",
        ),
        ("inference process RSS right after the load", _mib(res.rss_mib)),
        (f"inference process RSS {args.rest_s:g} s later (idle)", _mib(res.rest_rss_mib)),
    ]
    print("\n| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    targets = [
        ("/predict p50 / bare batch-1 compute", single_p50 / bare1, "<= 1.2", single_p50 / bare1 <= 1.2),
        (
            f"{args.clients}-client images/s / bare batched images/s",
            conc / bare32_ips,
            ">= 0.8",
            conc / bare32_ips >= 0.8,
        ),
        (
            "/batch_predict 32 / bare batched 32",
            med(res.batch32) / bare32,
            "<= 1.3",
            med(res.batch32) / bare32 <= 1.3,
        ),
    ]
    if keras_ips is not None:
        ratio = med(res.keras_concurrent_ips) / keras_ips  # both measured in the same rounds
        targets.insert(
            1, (f"{args.clients}-client images/s / Keras per-image images/s", ratio, ">= 5", ratio >= 5)
        )
    if res.rest_rss_mib is not None:
        rss = res.rest_rss_mib
        targets.append(("inference RSS once idle (MiB)", rss, "<= 600", rss <= 600))
    print(f"\n(load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])})")
    print("\n| target | measured | wanted | met |\n|---|---|---|---|")
    for name, value, wanted, met in targets:
        print(f"| {name} | {value:.2f} | {wanted} | {'yes' if met else 'NO'} |")
    report_curve(res, keras_ips)
    report_breakdown(res)


def report_curve(res: Results, keras_ips: float | None) -> None:
    """images/s by number of concurrent /predict clients (median of the rounds)."""
    if not res.curve:
        return
    one = statistics.median(res.curve.get(1, [0.0])) or None
    print("\n| /predict clients | images/s | vs 1 client | vs the original path |\n|---|---|---|---|")
    for clients, values in sorted(res.curve.items()):
        ips = statistics.median(values)
        vs_one = f"{ips / one:.2f}x" if one else "n/a"
        vs_keras = f"{ips / keras_ips:.1f}x" if keras_ips else "n/a"
        print(f"| {clients} | {ips:.1f} | {vs_one} | {vs_keras} |")


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def report_breakdown(res: Results) -> None:
    """p50 of each Server-Timing phase of the 1-client /predict calls, and of what is left."""
    med, runs = statistics.median, res.single_phases
    names = list(dict.fromkeys(name for phases in runs for name in phases))
    rows = [(f"server {n}" if n == "total" else n, med([ph.get(n, 0.0) for ph in runs])) for n in names]
    outside = [s * 1e3 - ph["total"] for s, ph in zip(res.single, runs, strict=True)]
    rows += [("client-side minus server total (gateway + HTTP + client)", med(outside))]
    rows += [("client-side /predict", med(res.single) * 1e3)]
    print("\n| /predict via gateway, 1 client: Server-Timing phase (store: beside queue+forward) | p50 |")
    print("|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} ms |")


def main() -> None:
    args = parse_args()
    settings = Settings()
    store = ModelStore(args.models_dir or settings.models_dir, args.model_name or settings.model_name)
    version = store.require_active()
    images = test_images()
    print(f"# inference benchmark: model version {version}, {machine()}", flush=True)
    print(f"# images: {', '.join(f'{n} ({len(d) // 1024} KB)' for n, d in images)}", flush=True)
    report(args, measure(args, store, version, images))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway")
    parser.add_argument(
        "--inference-url", default="http://127.0.0.1:8001", help="inference service, for its RSS via /metrics"
    )
    parser.add_argument("--models-dir", type=Path, default=None, help="default: TAGLOOP_MODELS_DIR")
    parser.add_argument("--model-name", default=None)
    parser.add_argument("--requests", type=int, default=60, help="sequential /predict calls (and bare runs)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--curve",
        type=lambda text: [int(x) for x in text.split(",") if x],
        default=[1, 2, 4, 8, 16],
        help="client counts of the images/s curve ('' for none)",
    )
    parser.add_argument("--curve-seconds", type=float, default=6.0, help="per client count, over all rounds")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of the concurrent run")
    parser.add_argument("--batch-repeat", type=int, default=5)
    parser.add_argument("--keras-n", type=int, default=24)
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement")
    parser.add_argument("--rest-s", type=float, default=4.0, help="idle wait before the second RSS reading")
    parser.add_argument("--bare-threads", type=int, default=2, help="ORT threads of the bare baseline")
    return parser.parse_args()


if __name__ == "__main__":
    try:
        main()
    except RateLimitedError as exc:
        sys.exit(f"[bench] {exc}")
