"""What a retrain is given: how to fit and judge (FitConfig, RetrainPolicy), the labelled
images as features (RetrainData and its two builders) and how it reports progress.

A leaf of tagloop.training (numpy and settings only, no TensorFlow): fit.py, candidate.py
and retrain.py all import it, and it imports none of them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagloop.settings import RetrainSettings
from tagloop.training.gate import HELD_OUT, Split, hash_folds, held_out_rule, split_indices

ProgressCallback = Callable[..., None]
"""progress(stage, **fields): where the retrain is; it may raise to cancel it."""


def no_progress(stage: str, **fields: Any) -> None:
    return None


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 100
    learning_rate: float = RetrainSettings.model_fields["learning_rate"].default
    """The training service's setting is the one source of the default."""
    batch_size: int = RetrainSettings.model_fields["batch_size"].default
    gamma: float = 2.0
    alpha: float = 0.25
    margin: float = 0.1
    seed: int = 0
    anchor_weight: float = 0.1
    """Weight of the anchors' term (see fit.Anchors) against the corrections' focal loss."""
    plateau_patience: int = RetrainSettings.model_fields["plateau_patience"].default
    plateau_tolerance: float = RetrainSettings.model_fields["plateau_tolerance"].default


@dataclass(frozen=True)
class RetrainPolicy:
    fit: FitConfig
    min_holdout: int
    min_paired: int
    confidence: float
    bootstrap_rounds: int
    anchor_change_limit: float
    anchor_flip_margin: float
    min_positives: int
    min_negatives: int

    @classmethod
    def from_settings(cls, settings: RetrainSettings, **fit_overrides: Any) -> "RetrainPolicy":
        """The settings' policy; `fit_overrides` (epochs, learning_rate...) that are not None win."""
        fit: dict[str, Any] = {
            "epochs": settings.retrain_epochs,
            "learning_rate": settings.learning_rate,
            "batch_size": settings.batch_size,
            "gamma": settings.focal_gamma,
            "alpha": settings.focal_alpha,
            "margin": settings.fit_margin,
            "anchor_weight": settings.anchor_weight,
            "plateau_patience": settings.plateau_patience,
            "plateau_tolerance": settings.plateau_tolerance,
        }
        fit.update({k: v for k, v in fit_overrides.items() if v is not None})
        return cls(
            fit=FitConfig(**fit),
            min_holdout=settings.min_holdout,
            min_paired=settings.min_paired,
            confidence=settings.gate_confidence,
            bootstrap_rounds=settings.bootstrap_rounds,
            anchor_change_limit=settings.anchor_change_limit,
            anchor_flip_margin=settings.anchor_flip_margin,
            min_positives=settings.calibrate_min_positives,
            min_negatives=settings.calibrate_min_negatives,
        )


@dataclass(frozen=True)
class RetrainData:
    """Labelled images as backbone features, and the part each plays.

    split: the judged candidate trains on split.train and is judged on split.evaluate.
    publish_on: what the published candidate trains on.
    folds: disjoint sets of images scored by a candidate not trained on them, for the
        per-class thresholds and the label audit (the held-out set is one of them).
    anchor_x: features of images nobody labelled, kept near the parent's outputs (fit.Anchors)
        and checked by the promotion rule: their label sets must not move much.
    """

    keys: list[str]
    x: np.ndarray
    y: np.ndarray
    split: Split
    publish_on: list[int]
    folds: list[list[int]]
    rule: str
    noun: str
    anchor_x: np.ndarray | None = None


def corrections_data(
    keys: list[str],
    x: np.ndarray,
    y: np.ndarray,
    *,
    modulus: int,
    min_holdout: int,
    anchor_x: np.ndarray | None = None,
) -> RetrainData:
    """Corrections: held out by image hash (fold 0 of gate.hash_folds); the published
    candidate learns every correction."""
    folds = hash_folds(keys, modulus=modulus)
    split = split_indices(len(keys), folds[0], min_holdout=min_holdout)
    every = list(range(len(keys)))
    return RetrainData(
        keys, x, y, split, every, [f for f in folds if f], held_out_rule(modulus), "corrections", anchor_x
    )


def split_data(
    keys: list[str], x: np.ndarray, y: np.ndarray, *, test_from: int, min_holdout: int, rule: str
) -> RetrainData:
    """A labelled folder: images from `test_from` on are its test split, never trained on
    (unless it is smaller than min_holdout: then the rule judges on everything)."""
    split = split_indices(len(keys), list(range(test_from, len(keys))), min_holdout=min_holdout)
    folds = [split.evaluate] if split.basis == HELD_OUT else []
    return RetrainData(keys, x, y, split, split.train, folds, rule, "images")
