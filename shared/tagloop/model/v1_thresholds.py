"""Version 1's per-class thresholds, fitted once on the evaluation set's tuning part.

    python -m tagloop.model.v1_thresholds --models-dir DIR [--write]

scores the tuning photos (tests/fixtures/evalset.csv, fetched by
tests/fixtures/make_eval_set.py) with the active version of DIR, which must be a version 1
built with the default prior and detector size; chooses the shrinkage strength by
cross-validation on them (tagloop.training.thresholds), fits the thresholds on all of them,
and prints both parts' figures at 0.5 and at the fitted thresholds. With --write it stores
the thresholds, and both parts' figures at them, in v1_thresholds.json beside this module,
which bootstrap reads (version 1's meta.json carries both, and /models and the Models tab
show the figures): the photos are not needed where the services run. The held-out part is
scored for the report only.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tagloop.classes import VOC_CLASSES
from tagloop.evalset import EvalPhoto, tuning_only
from tagloop.training.thresholds import (
    calibrate_thresholds,
    cross_validated_strength,
    global_threshold,
    threshold_vector,
)

THRESHOLDS_FILE = Path(__file__).with_name("v1_thresholds.json")
STRENGTHS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 1e9)
"""Candidate shrinkage strengths; 1e9 is the global threshold for every class."""


def fit_v1_thresholds(photos: list[EvalPhoto], y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The thresholds and how they were chosen; `photos` (the rows of y and scores) must all
    be tuning photos: a held-out one raises EvalSetError."""
    tuning_only(photos)
    strength, cv_f1 = cross_validated_strength(y, scores, STRENGTHS)
    thresholds, _ = calibrate_thresholds(y, scores, min_positives=1, min_negatives=1, strength=strength)
    toward = global_threshold(y, scores)
    # A class without a positive among the tuning photos is the limit of the shrinkage: the global one.
    vector = threshold_vector(thresholds, default=toward)
    return {
        "photos": len(photos),
        "strength": strength,
        "cross_validated_f1": {str(k): round(v, 4) for k, v in cv_f1.items()},
        "global": toward,
        "thresholds": dict(zip(VOC_CLASSES, map(float, vector), strict=True)),
    }


FIGURES = ("samples", "mAP", "precision", "recall", "f1_micro", "keys_per_photo")
"""What version 1's meta.json keeps of each part's figures (tagloop.evaluation)."""


def stored_fit(prior: str, detector_size: int, path: Path = THRESHOLDS_FILE) -> dict[str, Any]:
    """{"thresholds": {class: threshold}, "figures": {part: {figure: value}}} when version 1
    is built as they were fitted for, else {} (0.5 everywhere, no figures).

    The committed file was fitted on the tuning part of the evaluation set, where it raised
    held-out F1 against 0.5 (docs/EVALUATION.md); on the 59-photo set it had lowered it."""
    if not path.is_file():
        return {}
    stored = json.loads(path.read_text())
    if (stored["prior"], stored["detector_size"]) != (prior, detector_size):
        return {}
    return {
        "thresholds": {k: float(v) for k, v in stored["thresholds"].items()},
        "figures": stored.get("figures", {}),
    }


def main() -> None:
    from tagloop.evalset import HELDOUT, TUNING, evaluate_parts, of_split, read_evalset, without_arguable
    from tagloop.evaluation import format_parts
    from tagloop.settings import CommonSettings
    from tagloop.store import ModelStore
    from tagloop.training.offline import onnx_scores
    from tagloop.training.voc import label_matrix

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--set-csv", type=Path, default=Path("tests/fixtures/evalset.csv"))
    parser.add_argument("--set-dir", type=Path, default=Path(".cache/evalset"))
    parser.add_argument("--write", action="store_true", help=f"store them in {THRESHOLDS_FILE.name}")
    args = parser.parse_args()
    settings = CommonSettings()
    store = ModelStore(args.models_dir, settings.model_name)
    onnx = store.path(store.require_active()) / "model.onnx"
    photos = read_evalset(args.set_csv)
    tuning = of_split(photos, TUNING)
    y = label_matrix([list(p.labels) for p in tuning])
    scores = without_arguable(tuning, onnx_scores(onnx, [args.set_dir / p.filename for p in tuning]))
    fitted = fit_v1_thresholds(tuning, y, scores)
    print(json.dumps({k: v for k, v in fitted.items() if k != "thresholds"}, indent=1))
    at = np.array([fitted["thresholds"][n] for n in VOC_CLASSES])
    print(f"\nat 0.5\n{format_parts(evaluate_parts(photos, args.set_dir, onnx, 0.5))}")
    parts = evaluate_parts(photos, args.set_dir, onnx, at)
    print(f"\nat the fitted thresholds\n{format_parts(parts)}")
    assert len(of_split(photos, HELDOUT)) > 0
    if args.write:
        record = {"prior": "imagenet+coco", "detector_size": settings.detector_size, **fitted}
        record["figures"] = {part: {k: round(m[k], 4) for k in FIGURES} for part, m in parts.items()}
        THRESHOLDS_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {THRESHOLDS_FILE}")


if __name__ == "__main__":
    main()
