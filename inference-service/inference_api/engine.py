"""A model version loaded into ONNX Runtime, and the slot that holds the live one.

Loading = open the session, check the contract on probe images (shape, finite values,
probabilities), warm up; only a model that passed all of that is ever put in the slot,
and the swap is one reference assignment: a request that already took `slot.current`
finishes on that model even if another one is swapped in meanwhile.
"""

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from tagloop.contract import check_outputs, probe_images, session_inputs
from tagloop.errors import ModelContractError, TagloopError
from tagloop.images import Size
from tagloop.version_meta import VersionMeta

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
META_FILE = "meta.json"
DEFAULT_THRESHOLDS = tuple(VersionMeta().threshold_list())

# "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from /x/model.onnx failed:..."
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : (\w+) : ")
_ORT_LOAD_FAILED = re.compile(r"Load model from \S+ failed:(.*)")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)*([^\s/:'\"]+)")


class ModelLoadError(TagloopError):
    """A version could not be loaded or failed its checks; the old one keeps serving."""


class ModelNotReadyError(TagloopError):
    """No model version is loaded yet (503)."""


Batch = dict[Size, np.ndarray]
"""Images prepared for a model: (N, H, W, 3) float32 in [0, 1] per input size (H, W)."""


def as_batch(images: np.ndarray | Batch) -> Batch:
    """A bare (N, H, W, 3) array is the batch of its own size."""
    if isinstance(images, dict):
        return images
    return {(int(images.shape[1]), int(images.shape[2])): images}


def batch_rows(batch: Batch) -> int:
    return len(next(iter(batch.values()))) if batch else 0


def concat_batches(batches: list[Batch]) -> Batch:
    """One batch of every image in `batches`, at the sizes all of them have."""
    if len(batches) == 1:
        return batches[0]
    sizes = [size for size in batches[0] if all(size in b for b in batches[1:])]
    return {size: np.concatenate([b[size] for b in batches]) for size in sizes}


@dataclass(frozen=True, eq=False)
class ServedModel:
    version: int
    session: ort.InferenceSession
    input_name: str
    inputs: tuple[tuple[str, Size], ...] = ()
    """(name, (H, W)) of each image input, in the graph's order."""
    prior: str | None = None
    """The frozen priors the version answers from (its meta.json): "imagenet+coco", "imagenet"."""
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    """Per-class decision thresholds of this version (its meta.json), classes.json order."""
    loaded_at: float = field(default_factory=time.time)

    @property
    def sizes(self) -> tuple[Size, ...]:
        """The sizes an image is resized to for this model, one per input."""
        return tuple(size for _, size in self.inputs)

    def run(self, batch: np.ndarray | Batch) -> np.ndarray:
        """Images (an array, or one per input size) -> (N, 20) probabilities."""
        batch = as_batch(batch)
        return self.session.run(None, {name: _at_size(batch, size) for name, size in self.inputs})[0]


def _at_size(batch: Batch, size: Size) -> np.ndarray:
    """The batch's images at `size`; resized from its largest ones when it lacks that size
    (images prepared for the model that was live before a swap to one with other inputs)."""
    if size in batch:
        return batch[size]
    source = batch[max(batch, key=lambda s: s[0] * s[1])]
    height, width = size
    resized = [
        Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        for image in source
    ]
    return np.stack([np.asarray(r, dtype=np.float32) / np.float32(255.0) for r in resized])


def session_options(*, threads: int, spinning: bool) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    # No CPU arena: it keeps the largest batch's activations for good, per runner, and a
    # two-prior model's (the detector's feature maps) made RSS grow by ~170 MB under mixed
    # batch sizes against ~100 MB without it, at the same speed.
    opts.enable_cpu_mem_arena = False
    return opts


def load_version(
    *, folder: Path, version: int, threads: int = 2, spinning: bool = False, warmup_batch: int = 1
) -> ServedModel:
    """Open, check and warm up `folder/model.onnx`; ModelLoadError says what is wrong."""
    started = time.perf_counter()
    try:
        model = _open(folder / ONNX_FILE, version=version, threads=threads, spinning=spinning)
        check_model(model)
        model.run({size: np.zeros((warmup_batch, *size, 3), dtype=np.float32) for size in model.sizes})
    except ModelLoadError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... classes.
        reason = load_failure_reason(exc, folder=folder)
        raise ModelLoadError(f"version {version} failed to load: {reason}") from exc
    log.info("loaded model version %d in %.2f s", version, time.perf_counter() - started)
    return model


def check_model(model: ServedModel) -> None:
    """The contract on the real session: image inputs (N,H,W,3), probe outputs (N,20) in [0,1]."""
    try:
        if any(height != width for height, width in model.sizes):
            raise ModelContractError(f"model inputs must be square images, got {list(model.sizes)}")
        # A black and a photo-like probe: publishing already checked the outputs on all four
        # against Keras; here the point is the real session (a two-input model at 512 px costs
        # a forward pass per probe while a version waits to be swapped in).
        probe = {size: probe_images(3, size=size[0])[[0, 2]] for size in model.sizes}
        check_outputs(np.asarray(model.run(probe)), 2)
    except ModelContractError as exc:
        raise ModelLoadError(f"version {model.version} failed its checks: {exc}") from exc


def _open(path: Path, *, version: int, threads: int, spinning: bool) -> ServedModel:
    if not path.is_file():
        raise ModelLoadError(f"version {version} failed to load: {ONNX_FILE} does not exist")
    session = ort.InferenceSession(
        str(path),
        sess_options=session_options(threads=threads, spinning=spinning),
        providers=["CPUExecutionProvider"],
    )
    try:
        inputs = tuple(session_inputs(session))
    except ModelContractError as exc:
        raise ModelLoadError(f"version {version} failed its checks: {exc}") from exc
    return ServedModel(
        version=version,
        session=session,
        input_name=inputs[0][0],
        inputs=inputs,
        prior=_prior(path.parent),
        thresholds=served_thresholds(path.parent),
    )


def _prior(folder: Path) -> str | None:
    """The version's prior from its meta.json; None when it says nothing (or is unreadable)."""
    try:
        prior = json.loads((folder / META_FILE).read_text()).get("prior")
    except (OSError, ValueError, AttributeError):
        return None
    return prior if isinstance(prior, str) else None


def served_thresholds(folder: Path) -> tuple[float, ...]:
    """The version's calibrated thresholds; 0.5 for every class without meta.json (or a
    meta.json that cannot be read: the thresholds are a refinement, not a reason to refuse)."""
    try:
        return tuple(VersionMeta.model_validate_json((folder / META_FILE).read_text()).threshold_list())
    except (OSError, ValueError) as exc:
        log.warning("version in %s: default thresholds (%s)", folder.name, exc)
        return DEFAULT_THRESHOLDS


def load_failure_reason(exc: Exception, *, folder: Path | None = None, limit: int = 300) -> str:
    """Why ORT refused a model, for /health: one line, no server paths (a file's name only)."""
    text = str(exc)
    if folder is not None:
        text = text.replace(str(folder / ONNX_FILE), ONNX_FILE).replace(str(folder), "the version folder")
    text = _ABSOLUTE_PATH.sub(r"\1", " ".join(text.split())) or type(exc).__name__
    if match := _ORT_PREFIX.match(text):
        code, text = match.group(1), text[match.end() :]
        if loading := _ORT_LOAD_FAILED.match(text):
            reason = loading.group(1).strip().rstrip(".") or code
            invalid = code == "INVALID_PROTOBUF" or "protobuf" in reason.lower()
            what = "is not a valid ONNX file" if invalid else "cannot be loaded"
            text = f"{ONNX_FILE} {what} ({reason})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModelSlot:
    """The live model and what the last load attempt said; read by requests, written by the reloader."""

    def __init__(self) -> None:
        self.current: ServedModel | None = None
        self.error: str | None = None

    def require(self) -> ServedModel:
        model = self.current
        if model is None:
            raise ModelNotReadyError(self.error or "no model version is loaded yet; the service is starting")
        return model

    @property
    def version(self) -> int | None:
        model = self.current
        return None if model is None else model.version
