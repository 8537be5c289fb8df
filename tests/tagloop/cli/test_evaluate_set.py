"""`tagloop evaluate --set`: the active version on the evaluation set, held-out first, tuning beside."""

import json
from pathlib import Path

import pytest
from tagloop.cli import main
from tagloop.evalset import HELDOUT, TUNING, of_split, read_evalset
from tagloop.store import ModelStore

from tests.support.stack import MODEL_NAME, REPO

CSV = REPO / "tests" / "fixtures" / "evalset.csv"
PHOTOS = REPO / ".cache" / "evalset"


def evaluate_set(capsys, models_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--models-dir", str(models_dir), "evaluate", "--set", "--set-csv", str(CSV), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_evaluate_set_prints_heldout_then_tuning_figures(capsys, models_dir: Path):
    photos = read_evalset(CSV)
    if not all((PHOTOS / p.filename).is_file() for p in photos):
        pytest.skip("the evaluation set is not in .cache/evalset: tests/fixtures/make_eval_set.py fetches it")
    code, out, _ = evaluate_set(capsys, models_dir, "--set-dir", str(PHOTOS), "--json")
    report = json.loads(out)
    assert code == 0 and report["version"] == 1
    assert report["held-out"]["samples"] == len(of_split(photos, HELDOUT))
    assert report["tuning"]["samples"] == len(of_split(photos, TUNING))
    figures = {"mAP", "precision", "recall", "f1_micro", "keys_per_photo", "per_class_recall"}
    assert figures <= set(report["tuning"])
    code, out, _ = evaluate_set(capsys, models_dir, "--set-dir", str(PHOTOS))
    lines = out.splitlines()
    assert lines[1].startswith("held-out  photos") and lines[2].startswith("tuning    photos")
    # What /models shows for version 1 (stored when its thresholds were fitted) is what the set
    # measures now: a photo more or less, or a model that changed, shows here.
    stored = ModelStore(models_dir, MODEL_NAME).meta(1).evaluation_set
    if stored is None:
        pytest.skip("version 1 is not built as its thresholds were fitted for: it carries no figures")
    for part in ("held-out", "tuning"):
        assert stored[part]["samples"] == report[part]["samples"]
        for name in ("mAP", "precision", "recall", "f1_micro"):
            assert stored[part][name] == pytest.approx(report[part][name], abs=0.02), (part, name)


def test_evaluate_set_says_how_to_fetch_missing_photos(capsys, tmp_path: Path, models_dir: Path):
    code, _, err = evaluate_set(capsys, models_dir, "--set-dir", str(tmp_path))
    assert code == 2 and "photos missing from" in err and "make_eval_set.py" in err
