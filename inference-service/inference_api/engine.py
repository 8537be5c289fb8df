"""A model version loaded into ONNX Runtime, and the slot that holds the live one.

Loading = open the session, check the contract on probe images (shape, finite values,
probabilities), warm up; only a model that passed all of that is ever put in the slot,
and the swap is one reference assignment: a request that already took `slot.current`
finishes on that model even if another one is swapped in meanwhile.
"""

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tagloop.contract import check_input_shape, check_outputs, probe_images
from tagloop.errors import ModelContractError, TagloopError
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


@dataclass(frozen=True, eq=False)
class ServedModel:
    version: int
    session: ort.InferenceSession
    input_name: str
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    """Per-class decision thresholds of this version (its meta.json), classes.json order."""
    loaded_at: float = field(default_factory=time.time)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, 224, 224, 3) float32 -> (N, 20) probabilities."""
        return self.session.run(None, {self.input_name: batch})[0]


def session_options(*, threads: int, spinning: bool) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return opts


def load_version(
    *, folder: Path, version: int, threads: int = 2, spinning: bool = False, warmup_batch: int = 1
) -> ServedModel:
    """Open, check and warm up `folder/model.onnx`; ModelLoadError says what is wrong."""
    started = time.perf_counter()
    try:
        model = _open(folder / ONNX_FILE, version=version, threads=threads, spinning=spinning)
        check_model(model)
        model.run(np.zeros((warmup_batch, 224, 224, 3), dtype=np.float32))
    except ModelLoadError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... classes.
        reason = load_failure_reason(exc, folder=folder)
        raise ModelLoadError(f"version {version} failed to load: {reason}") from exc
    log.info("loaded model version %d in %.2f s", version, time.perf_counter() - started)
    return model


def check_model(model: ServedModel) -> None:
    """The contract on the real session: input (N,224,224,3), probe outputs (N,20) in [0,1]."""
    shape = tuple(model.session.get_inputs()[0].shape)
    probe = probe_images(4)
    try:
        check_input_shape(shape)
        check_outputs(np.asarray(model.run(probe)), len(probe))
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
    return ServedModel(
        version=version,
        session=session,
        input_name=session.get_inputs()[0].name,
        thresholds=served_thresholds(path.parent),
    )


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
