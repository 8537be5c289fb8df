"""The worker's side of a retrain: the warm model, the corrections as features, the core.

Everything from the features on (fit, evaluate, the promotion rule, thresholds, publish)
is tagloop.training.retrain, which `tagloop train` calls too; jobs.py wires this to RQ
(progress in job.meta, cancel). TensorFlow is imported lazily, so the API process (which
imports jobs.py to enqueue) never loads it.
"""

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagloop.disk import MB, evict_lru
from tagloop.errors import TagloopError
from tagloop.store import ModelStore
from tagloop.uploads import UploadStore

from training_api.config import Settings
from training_api.suspects import save_out_of_fold

if TYPE_CHECKING:  # the API process imports this module and must not load TensorFlow
    from tagloop.training.loaded import LoadedModel
    from tagloop.training.policy import ProgressCallback, RetrainData

log = logging.getLogger(__name__)


class NoCorrectionsError(TagloopError):
    """There is nothing to train on (422 at the API; the job fails with this message)."""


class WarmModels:
    """The last loaded model, keyed by its file (path + mtime), kept between jobs.

    Loading the .h5 and building graphs costs seconds; the worker runs one job at a
    time (rq SimpleWorker), so one entry is enough.
    """

    def __init__(self) -> None:
        self._key: tuple[str, float] | None = None
        self._loaded: LoadedModel | None = None

    def get(self, store: ModelStore, version: int, *, cache_dir: Path) -> "LoadedModel":
        from tagloop.training.loaded import LoadedModel, model_file

        path = model_file(store, version)
        key = (str(path), path.stat().st_mtime)
        if self._key != key or self._loaded is None:
            self._loaded = None  # free the old model before loading the next
            self._loaded = LoadedModel.from_store(store, version, cache_dir=cache_dir)
            self._key = key
        return self._loaded

    def adopt(self, model_file: Path, loaded: "LoadedModel") -> None:
        """The in-memory model *is* the version just published at `model_file`."""
        self._key = (str(model_file), model_file.stat().st_mtime)
        self._loaded = loaded

    def forget(self) -> None:
        self._key, self._loaded = None, None


def retrain_from_corrections(
    *,
    settings: Settings,
    store: ModelStore,
    examples: list[tuple[str, list[str]]],
    correction_ids: dict[str, int],
    warm: WarmModels,
    progress: "ProgressCallback",
    epochs: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train a candidate from the active version on `examples` (image id, labels; the id of
    each one's latest correction in `correction_ids`), judge, publish, then score every
    version on the held-out corrections (tagloop.training.scoreboard)."""
    from tagloop.training.gate import is_held_out
    from tagloop.training.loaded import model_file
    from tagloop.training.policy import RetrainPolicy
    from tagloop.training.retrain import run_retrain
    from tagloop.training.scoreboard import save_scoreboard, score_versions

    if not examples:
        raise NoCorrectionsError("there are no corrections to train on; save some corrections first")
    started = time.monotonic()
    evict_lru(settings.cache_dir, int(settings.cache_max_mb * MB))
    parent = store.require_active()
    loaded = warm.get(store, parent, cache_dir=settings.cache_dir)
    loaded_at = time.monotonic()
    data, skipped = corrections_as_features(
        settings=settings, loaded=loaded, examples=examples, progress=progress
    )
    featured_at = time.monotonic()
    outcome = run_retrain(
        store=store,
        loaded=loaded,
        parent=parent,
        data=data,
        policy=RetrainPolicy.from_settings(settings, epochs=epochs),
        cache_dir=settings.cache_dir,
        source="retrain",
        force=force,
        progress=progress,
        corrections_through=max(correction_ids[key] for key in data.keys),
    )
    save_out_of_fold(
        settings,
        scores=outcome.candidate.out_of_fold,
        thresholds=outcome.meta.threshold_list(),
    )
    if outcome.candidate.decision.promoted:
        warm.adopt(model_file(store, outcome.version), loaded)
    published_at = time.monotonic()
    progress("scoring")
    held = [i for i, key in enumerate(data.keys) if is_held_out(key, modulus=settings.holdout_modulus)]
    if held:
        board = score_versions(
            store,
            loaded,
            x=data.x[held],
            y=data.y[held],
            correction_ids=[correction_ids[data.keys[i]] for i in held],
            rule=data.rule,
            after_version=outcome.version,
        )
        save_scoreboard(scoreboard_file(settings), board)
    else:  # no held-out correction yet: no shared set to compare versions on
        scoreboard_file(settings).unlink(missing_ok=True)
    done = time.monotonic()
    return {
        **outcome.result(),
        "skipped": skipped,
        "seconds": round(done - started, 2),
        "timings": {
            "load": round(loaded_at - started, 2),
            "features": round(featured_at - loaded_at, 2),
            **outcome.timings,
            "scoring_versions": round(done - published_at, 2),
        },
    }


def scoreboard_file(settings: Settings) -> Path:
    return settings.data_dir / "scoreboard.json"


def corrections_as_features(
    *,
    settings: Settings,
    loaded: "LoadedModel",
    examples: list[tuple[str, list[str]]],
    progress: "ProgressCallback",
) -> tuple["RetrainData", list[dict[str, Any]]]:
    """The corrections' features and labels, held out by hash, and the recent uploads
    nobody corrected as anchors (features computed once per image, then cached).

    Images are decoded under the same limits as inference's. A stored upload that cannot
    be decoded (damaged on disk, over the limits) is left out; the second value names each
    (image_id, corrected, reason), for the job's result."""
    from tagloop.training.policy import corrections_data
    from tagloop.training.retrain import features_of
    from tagloop.training.voc import label_matrix

    uploads = UploadStore(settings.uploads_dir)
    keys = [image_id for image_id, _ in examples]
    anchors = uploads.recent(settings.anchor_images, exclude=set(keys))
    limits = settings.decode_limits
    features = features_of(
        loaded,
        cache_dir=settings.cache_dir,
        keys=keys + anchors,
        load_image=lambda image_id: loaded.backbone.prepare(uploads.read(image_id), limits=limits),
        progress=progress,
    )
    log.info(
        "features of %d corrected and %d other uploads (%d computed by %s, %d skipped)",
        len(keys),
        len(anchors),
        features.computed,
        loaded.backbone.engine,
        len(features.skipped),
    )
    skipped = left_out(features.skipped, corrected=set(keys))
    total = len(keys) + len(anchors)
    progress("features", done=total, total=total, skipped=len(skipped))
    kept = [(image_id, labels) for image_id, labels in examples if image_id not in features.skipped]
    if not kept:
        reasons = "; ".join(f"{s['image_id'][:12]}: {s['reason']}" for s in skipped)
        raise NoCorrectionsError(f"none of the {len(keys)} corrected photos can be decoded ({reasons})")
    row = {key: i for i, key in enumerate(features.keys)}
    kept_keys = [image_id for image_id, _ in kept]
    return corrections_data(
        kept_keys,
        features.x[[row[key] for key in kept_keys]],
        label_matrix([labels for _, labels in kept]),
        modulus=settings.holdout_modulus,
        min_holdout=settings.min_holdout,
        anchor_x=features.x[[row[key] for key in anchors if key in row]],
    ), skipped


def left_out(skipped: dict[str, str], *, corrected: set[str]) -> list[dict[str, Any]]:
    """The uploads a retrain could not decode, logged and as the job's result names them."""
    for key, reason in skipped.items():
        log.warning("upload %s left out of the retrain: %s", key, reason)
    return [
        {"image_id": key, "corrected": key in corrected, "reason": reason} for key, reason in skipped.items()
    ]
