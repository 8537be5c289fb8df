"""int8 quantization curve of a model version (it starts nothing; no running system needed).

    .venv/bin/python -m tools.bench_quantize [--model-dir FOLDER]   (default: the active version)

Each variant of tagloop.model.quantize.PARTS is calibrated on the evaluation set's photos
(.cache/evalset, made by scripts/setup) and judged on the tuning fixture
(tests/fixtures/photos + photos.csv, photos the calibration never saw): mAP, micro F1 at
the version's thresholds, and how many of the fixture's (photo, class) decisions differ
from the float model's. `--swap` calibrates on the fixture and judges on the evaluation
set instead (its 59 photos, the held-out ones among them), the other way round.
Speed: the forward pass alone at batch 1 on the fixture's photos, the variants
interleaved round by round (the machine is shared), each round's ratio to the float
model's time in the same round, medians over rounds. A variant is worth
serving only when mAP drops by <= 0.005 and F1 by <= 0.01 (README, "Performance").
"""

import argparse
import hashlib
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from inference_api.engine import session_options
from tagloop.contract import session_inputs
from tagloop.evalset import read_evalset
from tagloop.evaluation import evaluate
from tagloop.images import load_image_arrays
from tagloop.model.quantize import PARTS, quantize
from tagloop.settings import CommonSettings
from tagloop.store import ModelStore
from tagloop.training.offline import LabelledImages, csv_images, label_matrix, onnx_scores
from tagloop.version_meta import VersionMeta

REPO = Path(__file__).resolve().parents[1]
MAP_BOUND, F1_BOUND = 0.005, 0.01


def build(model: Path, work: Path, calibration: list[Path]) -> dict[str, Path]:
    files = {"float": model}
    for variant in PARTS:
        target = work / f"{hashlib.sha256(variant.encode()).hexdigest()[:10]}.onnx"
        if not target.is_file():
            started = time.perf_counter()
            quantize(model, target, variant=variant, calibration=calibration, work=work)
            print(f"# quantized '{variant}' in {time.perf_counter() - started:.0f} s", flush=True)
        files[variant] = target
    return files


def forward_ms(
    files: dict[str, Path], photos: list[Path], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Per variant, each round's median forward time (ms), rounds interleaved across variants."""
    sessions = {
        name: ort.InferenceSession(
            str(path), session_options(threads=2, spinning=False), providers=["CPUExecutionProvider"]
        )
        for name, path in files.items()
    }
    inputs = session_inputs(sessions["float"])
    sizes = [size for _, size in inputs]
    feeds = []
    for path in photos:
        arrays = load_image_arrays(path.read_bytes(), sizes)
        feeds.append({name: a[np.newaxis] for (name, _), a in zip(inputs, arrays, strict=True)})
    out: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(rounds):
        for name, session in sessions.items():
            session.run(None, feeds[0])  # warm
            times = []
            for k in range(per_round):
                started = time.perf_counter()
                session.run(None, feeds[k % len(feeds)])
                times.append((time.perf_counter() - started) * 1e3)
            out[name].append(statistics.median(times))
    return out


def main() -> None:
    args = parse_args()
    meta = VersionMeta.model_validate_json((args.model_dir / "meta.json").read_text())
    thresholds = np.array(meta.threshold_list())
    fixture = csv_images(args.fixture_dir, args.fixture_csv)
    calibration = sorted(args.calibration_dir.glob("*.jpg"))
    if args.swap:
        photos = read_evalset(args.evalset_csv)
        judged = LabelledImages(
            [args.calibration_dir / p.filename for p in photos],
            label_matrix([list(p.labels) for p in photos]),
        )
        calibration, fixture = list(fixture.paths), judged
    digest = hashlib.sha256((args.model_dir / "model.onnx").read_bytes()).hexdigest()[:12]
    work = args.work / f"{digest}{'-swap' if args.swap else ''}"
    print(f"# calibrated on {len(calibration)} photos; judged on {len(fixture.paths)} others")
    files = build(args.model_dir / "model.onnx", work, calibration)
    scores = {name: onnx_scores(path, fixture.paths) for name, path in files.items()}
    times = forward_ms(files, fixture.paths, args.rounds, args.per_round)
    base = evaluate(fixture.y, scores["float"], threshold=thresholds)
    print("\n| quantized | forward p50 | vs float | mAP | F1 (micro) | decisions changed | within bounds |")
    print("|---|---|---|---|---|---|---|")
    for name in files:
        metrics = evaluate(fixture.y, scores[name], threshold=thresholds)
        ratio = statistics.median(f / t for f, t in zip(times["float"], times[name], strict=True))
        changed = int(np.sum((scores[name] >= thresholds) != (scores["float"] >= thresholds)))
        ok = base["mAP"] - metrics["mAP"] <= MAP_BOUND and base["f1_micro"] - metrics["f1_micro"] <= F1_BOUND
        label = "nothing (float)" if name == "float" else name
        cells = [f"{statistics.median(times[name]):.1f} ms", f"{ratio:.2f}x", f"{metrics['mAP']:.3f}"]
        cells += [f"{metrics['f1_micro']:.3f}", str(changed), "yes" if ok else "NO"]
        print(f"| {label} | {' | '.join(cells)} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model-dir", type=Path, required=True, help="a version folder (model.onnx, meta.json)"
    )
    parser.add_argument("--calibration-dir", type=Path, default=REPO / ".cache" / "evalset")
    parser.add_argument("--evalset-csv", type=Path, default=REPO / "tests" / "fixtures" / "evalset.csv")
    parser.add_argument(
        "--swap", action="store_true", help="calibrate on the fixture, judge on the evaluation set"
    )
    parser.add_argument("--fixture-dir", type=Path, default=REPO / "tests" / "fixtures" / "photos")
    parser.add_argument("--fixture-csv", type=Path, default=REPO / "tests" / "fixtures" / "photos.csv")
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "quantize")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()
    if args.model_dir is None:
        settings = CommonSettings()
        store = ModelStore(settings.models_dir, settings.model_name)
        args.model_dir = store.path(store.require_active())
    return args


if __name__ == "__main__":
    main()
