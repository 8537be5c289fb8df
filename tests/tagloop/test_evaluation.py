"""tagloop.evaluation: AP, mAP, F1 and log-loss against hand-computed values."""

import numpy as np
import pytest
from tagloop.classes import NUM_CLASSES, VOC_CLASSES
from tagloop.evaluation import average_precision, decisions, evaluate, f1_scores, format_report, mean_log_loss


def test_average_precision_matches_hand_computed_value():
    # ranks: pos (P=1/1), neg, pos (P=2/3) -> AP = (1 + 2/3) / 2
    assert average_precision(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1])) == pytest.approx(5 / 6)


def test_average_precision_is_1_for_perfect_ranking_and_none_without_positives():
    assert average_precision(np.array([0, 1, 1]), np.array([0.1, 0.7, 0.8])) == 1.0
    assert average_precision(np.array([0, 0]), np.array([0.3, 0.2])) is None


def test_f1_scores_micro_macro_and_per_class():
    y = np.zeros((2, 20))
    p = np.zeros((2, 20))
    y[:, :2] = [[1, 0], [1, 1]]
    p[:, :2] = [[0.9, 0.6], [0.2, 0.7]]  # aeroplane: tp1 fn1; bicycle: tp1 fp1
    p[0, 2] = 0.8  # bird: fp1
    f1 = f1_scores(y, p, threshold=0.5)
    assert f1["f1_micro"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert f1["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert f1["per_class_f1"]["aeroplane"] == pytest.approx(2 / 3)
    assert f1["per_class_f1"]["bird"] == 0.0
    assert f1["per_class_f1"]["cat"] is None  # neither present nor predicted


def test_mean_log_loss_of_confident_right_answers_is_small():
    y = np.array([[1.0, 0.0]])
    assert mean_log_loss(y, np.array([[0.99, 0.01]])) == pytest.approx(-np.log(0.99))
    assert np.isfinite(mean_log_loss(y, np.array([[0.0, 1.0]])))


def test_evaluate_skips_classes_without_positives_in_map():
    y = np.zeros((3, NUM_CLASSES))
    y[:, 0] = [1, 0, 1]
    scores = np.full((3, NUM_CLASSES), 0.1)
    scores[:, 0] = [0.9, 0.8, 0.1]
    metrics = evaluate(y, scores)
    assert metrics["mAP"] == pytest.approx(5 / 6)
    assert metrics["per_class_ap"][VOC_CLASSES[0]] == pytest.approx(5 / 6)
    assert metrics["per_class_ap"][VOC_CLASSES[1]] is None
    assert metrics["samples"] == 3 and metrics["exact_match"] == pytest.approx(1 / 3)
    report = format_report(metrics)
    assert "mAP: 0.833" in report and f"{VOC_CLASSES[1]:<15}   n/a" in report


def test_decisions_counts_precision_recall_and_keys_per_photo():
    y = np.zeros((2, NUM_CLASSES))
    p = np.zeros((2, NUM_CLASSES))
    y[0, 0] = y[1, 1] = 1
    p[0, 0] = p[0, 2] = 0.9  # photo 0: right, plus one false label; photo 1: its label missed
    d = decisions(y, p, threshold=0.5)
    assert d["precision"] == 0.5 and d["recall"] == 0.5
    assert d["keys_per_photo"] == 2.0  # (1 + 1 toggles) / 2 photos, plus the save key
    assert d["per_class_recall"][VOC_CLASSES[1]] == 0.0 and d["per_class_precision"][VOC_CLASSES[1]] is None
    assert d["per_class_positives"][VOC_CLASSES[0]] == 1
    # Each toggle is charged to its class: the false label on class 2, the miss on class 1.
    keys = d["per_class_keys"]
    assert keys[VOC_CLASSES[1]] == keys[VOC_CLASSES[2]] == 0.5 and keys[VOC_CLASSES[0]] == 0.0
