"""int8 quantization of version 1 (tagloop.model.quantize): the quantized model gives the
fixture's photos the same labels as the float one, within the bound a quantized model must
meet to be served (mAP -0.005, F1 -0.01). Served models stay float (README, "Performance")."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from tagloop.evaluation import evaluate
from tagloop.model.quantize import DETECTOR_HEAD, nodes_to_exclude, quantize
from tagloop.training.offline import csv_images, onnx_scores

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures"
EVALSET = Path(__file__).resolve().parents[3] / ".cache" / "evalset"


def test_the_variants_leave_what_they_name_in_float(v1_model_dir: Path) -> None:
    model = onnx.load(str(v1_model_dir / "model.onnx"), load_external_data=False)
    names = [n.name for n in model.graph.node]
    classifier = set(nodes_to_exclude(model, "classifier branch"))
    assert {n for n in names if n.startswith(("detector/", "top/"))} <= classifier
    assert not any(n.startswith("backbone/") for n in classifier)
    head = set(nodes_to_exclude(model, "classifier + detector body (head in float)"))
    assert any(n.startswith(DETECTOR_HEAD) for n in head) and head < set(names)
    assert not any(n.startswith("detector/tower_0/MobilenetV3/") for n in head)


@pytest.mark.skipif(not EVALSET.is_dir(), reason="the evaluation set (scripts/setup) is not there")
def test_quantized_classifier_gives_the_fixture_the_same_labels(v1_model_dir: Path, tmp_path: Path) -> None:
    calibration = sorted(EVALSET.glob("*.jpg"))  # 59 photos; 8 were too few (F1 -0.14)
    target = quantize(
        v1_model_dir / "model.onnx",
        tmp_path / "int8.onnx",
        variant="classifier branch",
        calibration=calibration,
        work=tmp_path / "work",
    )
    fixture = csv_images(FIXTURE / "photos", FIXTURE / "photos.csv")
    floats, int8 = onnx_scores(v1_model_dir / "model.onnx", fixture.paths), onnx_scores(target, fixture.paths)
    assert not np.array_equal(floats, int8)  # it is another model...
    before, after = evaluate(fixture.y, floats), evaluate(fixture.y, int8)
    assert before["mAP"] - after["mAP"] <= 0.005
    assert before["f1_micro"] - after["f1_micro"] <= 0.01
    changed = (floats >= 0.5) != (int8 >= 0.5)
    assert changed.sum() <= 1, f"labels changed on {changed.any(axis=1).sum()} photos"
