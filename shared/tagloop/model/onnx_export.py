"""Serving export: Keras -> ONNX, refused when ONNX Runtime disagrees with Keras.

Two ways to the same graph of the Keras model:
- plain: tf2onnx converts the whole model (seconds: the backbone is most of it);
- backbone + top, for tagloop's own models (`top(backbone(inputs))`, sub-models named
  "backbone" and "top"): only the small top changes between versions, so the backbone's
  ONNX and the joined graph are cached (onnx_cache) and an export only copies the top's
  weights in (tens of milliseconds, not half a second).
A two-prior model (inputs "image" and "detector_scores") then gets the COCO detector
(detector.py, ONNX only) joined in front of its "detector_scores" input, so that the served
file takes the two images, "image" (N, 224, 224, 3) and "detector_image" (N, 512, 512, 3).
Either way the result is checked against Keras on the whole model before it is published
(check_onnx_parity), so a wrong cache cannot go live.
"""

import logging
from pathlib import Path

import keras
import numpy as np

from tagloop.contract import INPUT_SHAPE
from tagloop.model import onnx_graph
from tagloop.model.detector import IMAGE_INPUT, PREFIX, SCORES
from tagloop.model.onnx_cache import (  # noqa: F401  (re-exported: the export's public names)
    BACKBONE_CACHE_DIR,
    backbone_key,
    backbone_onnx,
    cached_backbone_path,
    cached_template_path,
    merged_from_cache,
    template_key,
)
from tagloop.model.onnx_graph import (  # noqa: F401  (re-exported)
    INPUT_NAME,
    ExportError,
    export_method,
    onnx_predict,
    served_input_names,
)

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4
"""Largest allowed |ONNX - Keras| on probe images, in probability units.

tf2onnx matched Keras within 5e-7 on EfficientNetB0 (docs/ARCHITECTURE.md, "Export"), float32 round-off of
a different op order. 1e-4 leaves two hundredfold room for that, yet a real conversion
error (a wrong padding, a dropped layer) moves probabilities by 1e-2 or more, and 1e-4 is
far below anything visible in the UI (two decimals).
"""

Probes = np.ndarray | dict[str, np.ndarray]
"""Probe images as the served file takes them: an array for a one-input file, else a dict
by input name."""


class ExportMismatchError(ExportError):
    """The ONNX export's outputs differ from the Keras model's beyond the tolerance."""


class DetectorMissingError(ExportError):
    """A two-prior model is exported without the detector's ONNX to join to it."""


def export_onnx(
    model: keras.Model,
    path: Path,
    *,
    cache_dir: Path | None = None,
    key: str | None = None,
    detector: Path | None = None,
) -> str:
    """Write `model` as ONNX with the served inputs (served_input_names), dynamic batch.

    With `cache_dir`, a model split into "backbone" and "top" sub-models is exported from
    the cached template or as cached backbone + freshly converted top; any other model, or
    any failure of that path, goes through the plain whole-model conversion. Returns the
    method used: "full" or "backbone+top". `key`: backbone_key() of the model's backbone
    when the caller has it (hashing the backbone takes ~0.1 s). `detector`: the wrapped
    detector's ONNX, needed by a two-prior model.
    """
    if IMAGE_INPUT in served_input_names(model) and detector is None:
        raise DetectorMissingError("this model takes the COCO detector's scores, but no detector was given")
    parts = split_parts(model) if cache_dir is not None else None
    if parts is not None and cache_dir is not None:
        try:
            key = key or backbone_key(parts[0])
            merged = merged_from_cache(*parts, cache_dir=Path(cache_dir), key=key)
            _finish(merged, model, path, method=f"backbone+top:{key}", detector=detector)
            return "backbone+top"
        except Exception:  # the plain conversion is the known-good way: never fail for speed
            log.warning("backbone+top ONNX export failed; converting the whole model", exc_info=True)
    _finish(_convert_full(model), model, path, method="full", detector=detector)
    return "full"


def export_checked(
    model: keras.Model,
    path: Path,
    probes: Probes,
    *,
    cache_dir: Path | None = None,
    expected: np.ndarray | None = None,
    key: str | None = None,
    detector: Path | None = None,
    keras_probes: np.ndarray | list[np.ndarray] | None = None,
) -> float:
    """export_onnx, then check_onnx_parity on `probes`; returns the max abs difference.

    `expected` is the Keras model's output on `probes` when the caller already has it;
    `keras_probes` what the Keras model takes for them (default: `probes`). A backbone+top
    export that fails the parity check is thrown away with its cached backbone and redone
    by the plain conversion, which must pass the check in turn.
    """
    method = export_onnx(model, path, cache_dir=cache_dir, key=key, detector=detector)
    try:
        return check_onnx_parity(model, path, probes, expected=expected, keras_probes=keras_probes)
    except ExportMismatchError:
        if method == "full":
            raise
        log.warning("backbone+top ONNX export failed the parity check; converting the whole model")
        parts = split_parts(model)
        if parts is not None and cache_dir is not None:
            key = key or backbone_key(parts[0])
            cached_backbone_path(cache_dir, key).unlink(missing_ok=True)
            cached_template_path(cache_dir, template_key(key, parts[1])).unlink(missing_ok=True)
        _finish(_convert_full(model), model, path, method="full", detector=detector)
        return check_onnx_parity(model, path, probes, expected=expected, keras_probes=keras_probes)


def _convert_full(model: keras.Model):
    if not hasattr(model, "output_names") and len(model.inputs) == 1:
        # A Sequential (e.g. an imported seed .h5) has no output_names, and tf2onnx 1.17
        # then looks its outputs up by KerasTensor name and fails (KeyError). The same
        # layers as a functional model convert.
        model = keras.Model(model.inputs, model.outputs)
    return onnx_graph.convert(model)


def _finish(proto, model: keras.Model, path: Path, *, method: str, detector: Path | None) -> None:
    """Join the detector in front when the model takes its scores; check, then save."""
    if IMAGE_INPUT in served_input_names(model) and detector is not None:
        proto = attach_detector(proto, detector)
    onnx_graph.set_method(proto, method)
    onnx_graph.check_graph(proto, served_input_names(model))
    onnx_graph.save(proto, path)


def attach_detector(keras_proto, detector: Path):
    """The wrapped detector's ONNX feeding the Keras graph's "detector_scores" input."""
    import onnx
    from onnx import compose

    detector_proto = onnx.load(str(detector))
    if not detector_proto.graph.output[0].name.startswith(PREFIX):
        compose.add_prefix(detector_proto, PREFIX, rename_inputs=False, inplace=True)
    io_map = [(detector_proto.graph.output[0].name, SCORES)]
    merged = onnx_graph.merge(detector_proto, keras_proto, io_map)
    onnx_graph.order_inputs(merged, [INPUT_NAME, IMAGE_INPUT])
    return merged


def split_parts(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """(backbone, top) when `model` is exactly `top(backbone(inputs))`, else None.

    Imported "seed-style" models (a backbone, pooling, a chain of layers) have no such
    sub-models and return None: they take the plain export.
    """
    names = {layer.name for layer in model.layers}
    if not {"backbone", "top"} <= names:
        return None
    backbone, top = model.get_layer("backbone"), model.get_layer("top")
    if not (isinstance(backbone, keras.Model) and isinstance(top, keras.Model)):
        return None
    # operations, not layers: a bare keras.ops call between the two would not be a layer.
    others = [
        op
        for op in getattr(model, "operations", model.layers)
        if op is not backbone and op is not top and not isinstance(op, keras.layers.InputLayer)
    ]
    single = all(len(m.outputs) == 1 for m in (model, backbone, top)) and len(top.inputs) == 1
    if others or not single or len(backbone.inputs) != len(model.inputs):
        return None
    if tuple(backbone.inputs[0].shape[1:]) != INPUT_SHAPE:
        return None
    if tuple(backbone.outputs[0].shape[1:]) != tuple(top.inputs[0].shape[1:]):
        return None
    history = getattr(model.outputs[0], "_keras_history", None)
    if history is None or history.operation is not top:
        return None
    return backbone, top


def check_onnx_parity(
    model: keras.Model,
    onnx_path: Path,
    probes: Probes,
    *,
    expected: np.ndarray | None = None,
    keras_probes: np.ndarray | list[np.ndarray] | None = None,
) -> float:
    """Max |ONNX - Keras| on `probes`; ExportMismatchError when above PARITY_TOLERANCE.

    `expected`: the Keras model's output on `probes` if the caller already computed it
    (publish does, for the contract check); otherwise it is computed here from
    `keras_probes` (what the Keras model takes for `probes`; default `probes` itself).
    """
    if expected is None:
        inputs = probes if keras_probes is None else keras_probes
        expected = np.asarray(model(inputs, training=False))
    actual = onnx_predict(onnx_path, probes)
    if actual.shape != expected.shape:
        raise ExportMismatchError(f"ONNX output shape {actual.shape} differs from Keras' {expected.shape}")
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_TOLERANCE:  # also refuses NaN
        raise ExportMismatchError(
            f"ONNX export differs from the Keras model by {diff:.3g} (tolerance {PARITY_TOLERANCE:g})"
        )
    log.info("ONNX parity on %d probes: max abs diff %.3g", len(expected), diff)
    return diff
