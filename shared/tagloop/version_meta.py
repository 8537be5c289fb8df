"""What a model version's meta.json holds: one typed model, written and read by every part.

Written by the store (version, created) and by whoever publishes: bootstrap (version 1),
an import, `tagloop models new`, and the retrain core (tagloop.training.retrain). Read by
the store's listing, the training API's /models, the CLI, the worker (the backbone to load)
and inference (per-class thresholds). No TensorFlow here: inference imports it.

Old meta.json files still load: every field has a default, and fields this model does
not know are kept (extra="allow"), so a file written by another version of tagloop
round-trips unchanged.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tagloop.classes import VOC_CLASSES

DEFAULT_THRESHOLD = 0.5
"""The decision threshold of a class that has no calibrated one."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TrainingRun(_Open):
    """How the published top was fitted."""

    epochs_run: int = 0
    max_epochs: int | None = None
    stopped_early: bool = False
    learning_rate: float | None = None
    batch_size: int | None = None
    focal_gamma: float | None = None
    focal_alpha: float | None = None
    seconds: float | None = None
    held_out: int | None = None
    evaluated_on: int | None = None
    corrections_through: int | None = None
    """The newest correction (its id) among those it learned: a photo whose latest correction
    is not newer was learned with its current labels (tagloop.training.scoreboard)."""


class EvaluationSet(_Open):
    """One set of labelled images, and the parent's and the candidate's metrics on it.

    `digest` names the set (its image ids and labels): two versions whose evaluations
    carry the same digest were measured on exactly the same images and labels.
    """

    images: int = 0
    rule: str = ""
    digest: str | None = None
    parent: dict[str, Any] = Field(default_factory=dict)
    candidate: dict[str, Any] = Field(default_factory=dict)


class Evaluation(_Open):
    """The two evaluation sets of a retrain: held out (never trained on by the candidate
    that the gate judged; its membership depends only on each image's hash) and every
    correction (what the published version was trained on, plus the held-out ones)."""

    held_out: EvaluationSet = Field(default_factory=EvaluationSet)
    corrections: EvaluationSet = Field(default_factory=EvaluationSet)


class ClassChange(_Open):
    positives: int = 0
    f1_before: float | None = None
    f1_after: float | None = None
    ap_before: float | None = None
    ap_after: float | None = None


class Changes(_Open):
    """Over every corrected photo: is its label set (at each model's thresholds) now right?"""

    photos: int = 0
    fixed: int = 0
    broke: int = 0
    unchanged_right: int = 0
    unchanged_wrong: int = 0
    per_class: dict[str, ClassChange] = Field(default_factory=dict)


class Calibration(_Open):
    """Why a class got its threshold: out-of-sample corrections and F1 at 0.5 and at it."""

    positives: int
    negatives: int
    f1_at_default: float
    f1: float


class GateStats(_Open):
    """What the promotion rule (tagloop.training.gate) measured and decided.

    code: the rule's outcome in one word for the UI (not_worse, significantly_worse,
    reproduced, not_reproduced, anchors_changed); forced: promoted whatever it said.
    loss_difference and interval: the mean per-photo log-loss of the candidate minus the
    parent's on the evaluated photos, and its paired bootstrap interval at `confidence`.
    candidate_right, parent_right: label sets each model reproduces there.
    """

    code: str = ""
    test: str = ""
    basis: str = ""
    photos: int = 0
    held_out: int = 0
    min_paired: int = 0
    loss_difference: float | None = None
    interval: list[float] | None = None
    confidence: float | None = None
    candidate_right: int = 0
    parent_right: int = 0
    anchors: int = 0
    anchors_changed: int = 0
    anchors_followed: int = 0
    anchor_limit: int = 0
    passed: bool = False
    forced: bool = False


class VersionMeta(_Open):
    version: int | None = None
    created: str | None = None
    parent: int | None = None
    samples: int | None = None
    backbone: str | None = None
    backbone_id: str | None = None
    source: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    """{basis, candidate, active}: what the promotion rule compared (see tagloop.training.gate)."""
    loss_curve: list[float] = Field(default_factory=list)
    promoted: bool | None = None
    reason: str | None = None
    gate: GateStats | None = None
    """The promotion rule's statistics and decision (None: a version no rule judged)."""
    training: TrainingRun | None = None
    evaluation: Evaluation | None = None
    changes: Changes | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    """Calibrated per-class thresholds; a class not named here uses DEFAULT_THRESHOLD."""
    calibration: dict[str, Calibration] = Field(default_factory=dict)
    evaluation_set: dict[str, dict[str, int | float]] | None = None
    """Figures on the evaluation set's photos ({"held-out": ..., "tuning": ...}, each with samples,
    mAP, precision, recall, f1_micro, keys_per_photo) where the version was measured on it:
    version 1 at the thresholds fitted on the tuning part (tagloop.model.v1_thresholds)."""
    onnx_max_abs_diff: float | None = None
    prior: str | None = None
    """The frozen priors the version answers from (e.g. "imagenet+coco", "imagenet", "none")."""
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    """The served file's image inputs: [{"name", "size": [H, W]}]; empty: one 224x224 input."""

    def threshold_list(self) -> list[float]:
        """The 20 thresholds in classes.json order (DEFAULT_THRESHOLD where not calibrated)."""
        return [float(self.thresholds.get(name, DEFAULT_THRESHOLD)) for name in VOC_CLASSES]

    def extra(self, name: str, default: Any = None) -> Any:
        """A field this model does not declare (written by other tools or tests)."""
        return (self.model_extra or {}).get(name, default)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=False)
