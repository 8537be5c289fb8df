"""Per-class thresholds from out-of-sample scores, and the fixed/broke report (numpy only)."""

import numpy as np
from tagloop.classes import VOC_CLASSES
from tagloop.evaluation import label_changes
from tagloop.training.thresholds import best_f1_threshold, calibrate_thresholds, threshold_vector

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
