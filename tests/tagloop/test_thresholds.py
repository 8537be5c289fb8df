"""Per-class thresholds from out-of-sample scores, and the fixed/broke report (numpy only)."""

import json

import numpy as np
import pytest
from tagloop.classes import VOC_CLASSES
from tagloop.evalset import HELDOUT, TUNING, EvalSetError, of_split, read_evalset
from tagloop.evaluation import label_changes
from tagloop.model.v1_thresholds import fit_v1_thresholds, stored_fit
from tagloop.training.thresholds import (
    best_f1_threshold,
    calibrate_thresholds,
    global_threshold,
    shrink,
    threshold_vector,
)

from tests.support.stack import REPO

CAT, DOG = VOC_CLASSES.index("cat"), VOC_CLASSES.index("dog")


def test_best_threshold_maximises_f1_and_lies_between_scores():
    truth = np.array([True] * 10 + [False] * 10)
    scores = np.array([0.3 + 0.01 * i for i in range(10)] + [0.05 + 0.01 * i for i in range(10)])
    threshold, f1 = best_f1_threshold(truth, scores)
    assert f1 == 1.0 and 0.14 < threshold < 0.3  # every positive above, every negative below
    assert np.all(scores[truth] >= threshold) and np.all(scores[~truth] < threshold)


def test_a_class_already_best_at_half_keeps_half():
    truth = np.array([True] * 10 + [False] * 10)
    scores = np.array([0.9] * 10 + [0.1] * 10)
    assert best_f1_threshold(truth, scores) == (0.5, 1.0)


def test_only_classes_with_enough_corrections_of_both_kinds_are_calibrated():
    rng = np.random.default_rng(0)
    y = np.zeros((30, 20), np.float32)
    y[:12, CAT] = 1  # 12 positives, 18 negatives: calibrated
    y[:5, DOG] = 1  # 5 positives: not
    scores = np.clip(y * 0.35 + rng.uniform(0, 0.2, y.shape), 0, 1)  # positives 0.35-0.55
    thresholds, why = calibrate_thresholds(y, scores, min_positives=10, min_negatives=10)
    assert set(thresholds) == {"cat"} and set(why) == {"cat"}
    assert thresholds["cat"] < 0.5 and why["cat"].f1 == 1.0 > why["cat"].f1_at_default
    assert (why["cat"].positives, why["cat"].negatives) == (12, 18)
    vector = threshold_vector(thresholds)
    assert vector[CAT] == np.float32(thresholds["cat"]) and vector[DOG] == 0.5


def test_label_changes_counts_fixed_broken_and_unchanged_photos():
    y = np.zeros((4, 20), np.float32)
    y[:, CAT] = 1
    before = np.zeros((4, 20), np.float32)
    before[[1, 3], CAT] = 0.9  # photos 1 and 3 right before
    after = np.zeros((4, 20), np.float32)
    after[[0, 1], CAT] = 0.9  # photos 0 and 1 right after
    changes = label_changes(y, before, after)
    assert (changes.fixed, changes.broke, changes.unchanged_right, changes.unchanged_wrong) == (1, 1, 1, 1)
    cat = changes.per_class["cat"]
    assert cat.positives == 4 and cat.f1_before == cat.f1_after == 2 / 3


def test_shrink_pulls_a_class_with_few_positives_toward_the_global_threshold():
    assert shrink(0.2, 0.4, positives=2, strength=10) == pytest.approx((2 * 0.2 + 10 * 0.4) / 12, abs=1e-4)
    assert shrink(0.2, 0.4, positives=200, strength=10) == pytest.approx(0.2095, abs=1e-4)
    assert shrink(0.2, 0.4, positives=3, strength=0) == 0.2


def test_calibrate_thresholds_shrinks_a_small_class_more_than_a_large_one():
    """Two classes whose own best thresholds are both 0.15 (positives at 0.2, negatives at 0.1),
    among decisions whose global best threshold is 0.75 (person: 100 positives at 0.9, 100
    negatives at 0.6): the class with 2 positives moves nearer to it than the class with 40."""
    y = np.zeros((200, 20), np.float32)
    y[:40, CAT] = 1
    y[:2, DOG] = 1
    scores = np.full(y.shape, 0.1, np.float32)
    scores[:40, CAT] = scores[:2, DOG] = 0.2
    person = VOC_CLASSES.index("person")
    y[:, person] = np.arange(200) % 2
    scores[:, person] = np.where(y[:, person] > 0.5, 0.9, 0.6)
    own, _ = calibrate_thresholds(y, scores, min_positives=1, min_negatives=1, strength=0)
    shrunk, why = calibrate_thresholds(y, scores, min_positives=1, min_negatives=1, strength=10)
    assert own["cat"] == own["dog"] == pytest.approx(0.15)
    assert global_threshold(y, scores) == pytest.approx(0.75)
    assert shrunk["cat"] == pytest.approx((40 * 0.15 + 10 * 0.75) / 50, abs=1e-4)
    assert shrunk["dog"] == pytest.approx((2 * 0.15 + 10 * 0.75) / 12, abs=1e-4)
    assert why["dog"].positives == 2


def test_fit_v1_thresholds_refuses_a_heldout_photo():
    photos = read_evalset(REPO / "tests" / "fixtures" / "evalset.csv")
    tuning, heldout = of_split(photos, TUNING), of_split(photos, HELDOUT)
    rows = tuning + heldout[:1]
    y = np.zeros((len(rows), 20), np.float32)
    with pytest.raises(EvalSetError, match="held-out photos may not be fitted on"):
        fit_v1_thresholds(rows, y, np.zeros_like(y))
    assert len(fit_v1_thresholds(tuning, y[:-1], np.zeros_like(y[:-1]))["thresholds"]) == 20


def test_stored_thresholds_apply_only_to_the_version_1_they_were_fitted_for(tmp_path):
    stored = tmp_path / "v1_thresholds.json"
    assert stored_fit("imagenet+coco", 320, stored) == {}  # none kept: 0.5 everywhere
    figures = {"held-out": {"samples": 3, "f1_micro": 0.8}}
    fitted = {"prior": "imagenet+coco", "detector_size": 320, "thresholds": {"cat": 0.3}, "figures": figures}
    stored.write_text(json.dumps(fitted))
    assert stored_fit("imagenet+coco", 320, stored) == {"thresholds": {"cat": 0.3}, "figures": figures}
    assert stored_fit("imagenet+coco", 512, stored) == {}
    assert stored_fit("imagenet", 320, stored) == {}


def test_committed_v1_thresholds_were_fitted_on_the_current_tuning_part_only():
    """The kept file records how many photos it was fitted on: the tuning part of this CSV,
    so a changed split or a fit that read held-out photos does not pass unnoticed."""
    from tagloop.model.v1_thresholds import THRESHOLDS_FILE

    record = json.loads(THRESHOLDS_FILE.read_text())
    photos = read_evalset(REPO / "tests" / "fixtures" / "evalset.csv")
    assert record["photos"] == len(of_split(photos, TUNING)) < len(photos)
    assert stored_fit("imagenet+coco", 320)["thresholds"] == record["thresholds"]
    assert set(record["thresholds"]) == set(VOC_CLASSES)
    assert record["figures"]["held-out"]["samples"] == len(of_split(photos, HELDOUT))
