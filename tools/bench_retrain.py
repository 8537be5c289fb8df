"""Retrain benchmark against a running system (it starts nothing itself).

    .venv/bin/python -m tools.bench_retrain --url http://127.0.0.1:8080

In one run, on the same 20 new images (photos shipped by scikit-image, made unique by a
random tint so that no feature is cached yet):
  1. through the gateway: upload (/predict), 20 corrections contradicting the model,
     POST /retrain -> the new version served by /predict (wall time);
  2. the same again, every feature now cached;
  3. in this process, the original design's recipe on the same images and labels: the
     active version's model.h5, all but the last 4 layers frozen, focal loss, Adam 1e-5,
     model.fit on full images for 5 epochs, then saved as .h5 (no ONNX export, no gate);
then prints a Markdown table and the speed-up of (1) and (2) over (3).

Then the curve (--curve-only: just it, no running system needed): the retrain core
(tagloop.training.retrain.run_retrain, what the worker runs once features are cached) on
50 / 500 / 5,000 synthetic corrections, in this process, from a copy of the active version:
the features of the five photos above plus noise, each labelled as its photo, with 100
anchors (five other photos plus noise). Prints seconds of fitting and judging, of
publishing, and the decision.
"""

import argparse
import io
import platform
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from tagloop.images import load_image_array
from tagloop.store import ModelStore
from training_api.config import Settings

PHOTO_LABELS = [["dog"], ["cat"], ["aeroplane", "person"], ["boat"], ["bicycle", "person"]]
"""Corrections contradicting the model, one label set per photo (variants share their photo's)."""


def make_images(n: int, seed: int) -> list[bytes]:
    from skimage import data

    # The same order as PHOTO_LABELS: chelsea (a cat) -> dog, coffee -> cat, ...
    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket(), data.stereo_motorcycle()[0]]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = np.asarray(Image.fromarray(photos[i % len(photos)]).convert("RGB"), dtype=np.float32)
        arr = np.clip(arr * rng.uniform(0.8, 1.0, size=3), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr if i % 2 else arr[:, ::-1])
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def upload_and_correct(client: httpx.Client, images: list[bytes], labels: list[list[str]]) -> None:
    for i, (data, wanted) in enumerate(zip(images, labels, strict=True)):
        reply = client.post("/predict", files={"file": (f"bench{i}.jpg", data, "image/jpeg")}).json()
        r = client.post(
            "/save_correction",
            json={
                "image_id": reply["image_id"],
                "corrected_labels": wanted,
                "model_version": reply["model_version"],
            },
        )
        r.raise_for_status()


def retrain_until_served(client: httpx.Client, probe: bytes) -> dict:
    """POST /retrain, poll the job, then poll /predict until the new version answers."""
    started = time.monotonic()
    job_id = client.post("/retrain", json={}).json()["job_id"]
    while (job := client.get(f"/jobs/{job_id}").json())["status"] not in (
        "finished",
        "failed",
        "stopped",
        "canceled",
    ):
        time.sleep(0.1)
    job_done = time.monotonic() - started
    if job["status"] != "finished":
        raise SystemExit(f"retrain {job['status']}: {job['error']}")
    result = job["result"]
    served = None
    if result["promoted"]:
        while (
            client.post("/predict", files={"file": ("probe.jpg", probe, "image/jpeg")}).json()[
                "model_version"
            ]
            != result["version"]
        ):
            time.sleep(0.1)
        served = time.monotonic() - started
    return {"job": job_done, "served": served, "result": result, "progress": job["progress"]}


def matched(client: httpx.Client, images: list[bytes], labels: list[list[str]]) -> int:
    """How many of `images` the served model labels exactly as `labels` at threshold 0.5."""
    files = [("files", (f"bench{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    results = client.post("/batch_predict", files=files, data={"threshold": "0.5"}).json()["results"]
    found = [{p["label"] for p in r["predictions"]} for r in results]
    return sum(got == set(wanted) for got, wanted in zip(found, labels, strict=True))


def flat_layers(model) -> list:
    import keras

    out = []
    for layer in model.layers:
        out += flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def original_recipe(model_file: Path, images: list[bytes], labels: list[list[str]]) -> dict:
    """The original design's incremental_retrain, timed from loading the model to saving it."""
    started = time.monotonic()
    import keras
    from tagloop.model.build import load_model
    from tagloop.training.voc import label_matrix

    imported = time.monotonic()
    model = load_model(model_file)
    layers = flat_layers(model)
    for layer in layers[:-4]:
        layer.trainable = False
    for layer in layers[-4:]:
        layer.trainable = True
    x = np.stack([load_image_array(b) for b in images])
    if len(model.inputs) == 2:  # a two-prior model: its detector scores (zeros: timing only)
        x = [x, np.zeros((len(images), 20), np.float32)]
    y = label_matrix(labels)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, apply_class_balancing=True),
    )
    before = float(model.evaluate(x, y, verbose=0))
    fit_start = time.monotonic()
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    fit_seconds = time.monotonic() - fit_start
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.h5")
    p = np.asarray(model(x, training=False))
    matched = int(np.sum(np.all((p >= 0.5) == (y > 0.5), axis=1)))
    return {
        "total": time.monotonic() - imported,
        "with_import": time.monotonic() - started,
        "fit": fit_seconds,
        "loss": (before, float(history.history["loss"][-1])),
        "matched": matched,
    }


CURVE = (50, 500, 5000)


def synthetic_corrections(loaded, n: int, *, seed: int):
    """n corrections (features of the five photos plus noise, each labelled as its photo)
    and 100 anchors, as the worker's retrain sees them (held out by hash)."""
    import hashlib

    from tagloop.images import load_image_arrays
    from tagloop.training.policy import corrections_data
    from tagloop.training.voc import label_matrix

    rng = np.random.default_rng(seed)
    sizes = loaded.backbone.sizes

    def features(photos: list[bytes], count: int) -> np.ndarray:
        images = [load_image_arrays(b, sizes) for b in photos]
        base = loaded.backbone(tuple(np.stack([image[i] for image in images]) for i in range(len(sizes))))
        noise = rng.normal(0, float(np.std(base)) * 0.3, (count, base.shape[1]))
        return (base[np.arange(count) % len(photos)] + noise).astype(np.float32)

    x = features(make_images(len(PHOTO_LABELS), seed), n)
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in range(n)]
    y = label_matrix([PHOTO_LABELS[i % len(PHOTO_LABELS)] for i in range(n)])
    return corrections_data(keys, x, y, modulus=5, min_holdout=5, anchor_x=features(anchor_photos(), 100))


def anchor_photos() -> list[bytes]:
    """Photos unlike the corrected ones (textures, a page, the moon): the uploads nobody corrected."""
    from skimage import data

    out = []
    for arr in (data.brick(), data.grass(), data.gravel(), data.moon(), data.text()):
        buf = io.BytesIO()
        Image.fromarray(arr).convert("RGB").save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def retrain_curve(settings: Settings, *, seed: int) -> list[dict]:
    """run_retrain on each size of CURVE from a copy of the active version (the store is untouched)."""
    import shutil

    from tagloop.training.loaded import LoadedModel
    from tagloop.training.policy import RetrainPolicy
    from tagloop.training.retrain import run_retrain

    source = ModelStore(settings.models_dir, settings.model_name)
    active = source.require_active()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "models", settings.model_name)
        origin = source.path(active)

        def write(folder: Path) -> None:
            for name in ("model.h5", "model.onnx"):
                shutil.copy2(origin / name, folder / name)

        store.publish(
            write, source.meta(active).model_copy(update={"version": None, "created": None}), activate=True
        )
        for n in CURVE:  # each size from the copy of the active version, with everything to learn
            loaded = LoadedModel.from_store(store, 1, cache_dir=settings.cache_dir)
            data = synthetic_corrections(loaded, n, seed=seed)
            started = time.monotonic()
            outcome = run_retrain(
                store=store,
                loaded=loaded,
                parent=1,
                data=data,
                policy=RetrainPolicy.from_settings(settings),
                cache_dir=settings.cache_dir,
                source="bench",
            )
            rows.append({"n": n, "total": time.monotonic() - started, **outcome.timings, "outcome": outcome})
    return rows


def print_curve(rows: list[dict]) -> None:
    print(f"\n## Retrain curve, features cached ({platform.node()}, in-process run_retrain)\n")
    print("| corrections | fit + judge | publish | total | fits' epochs (final) | rule said |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        c = r["outcome"].candidate
        print(
            f"| {r['n']} | {r['training_and_evaluating']:.1f} s | {r['publishing']:.1f} s | "
            f"{r['total']:.1f} s | {c.fit.epochs_run} | {c.decision.stats.code} |"
        )
    print("\ntargets: 500 corrections <= 10 s, 5,000 <= 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument(
        "--models-dir", type=Path, help="the running system's model store (default: settings)"
    )
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--curve-only", action="store_true", help="only the 50/500/5,000 curve")
    args = parser.parse_args()
    settings = Settings(**({"models_dir": args.models_dir} if args.models_dir else {}))
    if args.curve_only:
        print_curve(retrain_curve(settings, seed=args.seed))
        return
    images = make_images(args.n, args.seed)
    labels = [PHOTO_LABELS[i % len(PHOTO_LABELS)] for i in range(args.n)]
    with httpx.Client(base_url=args.url, timeout=120) as client:
        upload_and_correct(client, images, labels)
        first = retrain_until_served(client, images[0])
        first["matched"] = matched(client, images, labels)
        second = retrain_until_served(client, images[0])
        second["matched"] = matched(client, images, labels)
        store = ModelStore(settings.models_dir, settings.model_name)
        model_file = store.path(first["result"]["parent_version"]) / "model.h5"
    served = lambda r: r["served"] if r["served"] is not None else float("nan")  # noqa: E731
    original = original_recipe(model_file, images, labels)
    print(f"\n## Retrain benchmark ({platform.node()}, {args.n} corrections, {args.url})\n")
    print(
        "| run | POST /retrain -> job done | -> new version served | epochs | images whose labels all match |"
    )
    print("|---|---|---|---|---|")
    for name, r in (("new images (features computed)", first), ("same images (features cached)", second)):
        res = r["result"]
        print(
            f"| {name} | {r['job']:.1f} s | {served(r):.1f} s | {res['epochs_run']} | "
            f"{r['matched']}/{args.n} |"
        )
    print(
        f"| original recipe, in-process (load, 5 epochs of model.fit, save .h5) | {original['total']:.1f} s "
        f"(fit {original['fit']:.1f} s) | - (no export) | 5 | {original['matched']}/{args.n} |"
    )
    print(
        f"\nspeed-up over the original recipe: {original['total'] / served(first):.1f}x (new images), "
        f"{original['total'] / served(second):.1f}x (cached); targets: <= 30 s, <= 10 s, >= 5x"
    )
    print(
        f"original recipe loss {original['loss'][0]:.5f} -> {original['loss'][1]:.5f}; "
        f"ours: all labels matched on {first['matched']}/{args.n} after the first retrain"
    )
    for name, r in (("new", first), ("cached", second)):
        t = r["result"].get("timings", {})
        compute = t.get("features", 0) + t.get("training_and_evaluating", 0)
        print(
            f"stages ({name}): {t}; features+training {compute:.1f} s = "
            f"{original['total'] / max(compute, 1e-9):.1f}x faster than the original recipe"
        )
    print_curve(retrain_curve(settings, seed=args.seed))


if __name__ == "__main__":
    main()
