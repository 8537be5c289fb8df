"""Serving export: Keras -> ONNX, refused when ONNX Runtime disagrees with Keras.

Two ways to the same one-input graph:
- plain: tf2onnx converts the whole model (seconds: the backbone is most of it);
- backbone + top, for tagloop's own models (`image -> top(backbone(image))`, sub-models
  named "backbone" and "top"): only the small top changes between versions, so the
  backbone's ONNX is converted once and cached under `cache_dir`, keyed by a hash of its
  architecture and weights; an export converts the top alone and joins the two with
  `onnx.compose.merge_models`. That join is cached too, as a template: it is made from a
  stand-in top whose every weight holds distinct random values, so that each weight can
  be found in the graph as exactly one initializer (and none is folded away, as the
  converter does with a zero bias); an export then copies the top's current weights into
  those initializers, with no conversion at all (tens of milliseconds, not half a second).
  A constant the converter derived from a weight would keep the stand-in's random values,
  which the parity check below could not miss.
Either way the result is checked against Keras on the whole model before it is published
(check_onnx_parity), so a wrong cache cannot go live.
"""

import hashlib
import json
import logging
from pathlib import Path

import keras
import numpy as np

from tagloop.contract import INPUT_SHAPE
from tagloop.errors import TagloopError
from tagloop.files import write_atomic

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "image"
TOP_INPUT_NAME = "features"
BACKBONE_CACHE_DIR = "onnx"
"""Sub-folder of the cache directory holding the converted backbones."""
TOP_PREFIX = "top/"
BACKBONE_PREFIX = "backbone/"
EXPORT_METHOD_KEY = "tagloop_export"
"""ONNX metadata property naming how the file was made: "full" or "backbone+top:<key>"."""
TEMPLATE_WEIGHTS_KEY = "tagloop_top_weights"
"""Metadata property of a cached template: JSON list of the initializers holding the top's
weights, in `top.weights` order (not kept in published files)."""
_CACHE_FORMAT = "tagloop-backbone-onnx-1"  # bump to invalidate every cached backbone and template

PARITY_TOLERANCE = 1e-4
"""Largest allowed |ONNX - Keras| on probe images, in probability units.

tf2onnx matched Keras within 5e-7 on EfficientNetB0 (docs/ARCHITECTURE.md, "Export"), float32 round-off of
a different op order. 1e-4 leaves two hundredfold room for that, yet a real conversion
error (a wrong padding, a dropped layer) moves probabilities by 1e-2 or more, and 1e-4 is
far below anything visible in the UI (two decimals).
"""


class ExportError(TagloopError):
    """The model could not be exported to ONNX as a one-input graph."""


class ExportMismatchError(ExportError):
    """The ONNX export's outputs differ from the Keras model's beyond the tolerance."""


def export_onnx(
    model: keras.Model, path: Path, *, cache_dir: Path | None = None, key: str | None = None
) -> str:
    """Write `model` as ONNX with one input "image" of shape (batch, 224, 224, 3).

    With `cache_dir`, a model split into "backbone" and "top" sub-models is exported from
    the cached template or as cached backbone + freshly converted top (see the module);
    any other model, or any failure of that path, goes through the plain whole-model
    conversion. Returns the method used: "full" or "backbone+top". `key`: backbone_key()
    of the model's backbone when the caller has it (hashing the backbone takes ~0.1 s).
    """
    parts = split_parts(model) if cache_dir is not None else None
    if parts is not None and cache_dir is not None:
        try:
            _export_merged(*parts, path, cache_dir=Path(cache_dir), key=key or backbone_key(parts[0]))
            return "backbone+top"
        except Exception:  # the plain conversion is the known-good way: never fail for speed
            log.warning("backbone+top ONNX export failed; converting the whole model", exc_info=True)
    _export_full(model, path)
    return "full"


def export_checked(
    model: keras.Model,
    path: Path,
    probes: np.ndarray,
    *,
    cache_dir: Path | None = None,
    expected: np.ndarray | None = None,
    key: str | None = None,
) -> float:
    """export_onnx, then check_onnx_parity on `probes`; returns the max abs difference.

    `expected` is the Keras model's output on `probes` when the caller already has it. A
    backbone+top export that fails the parity check is thrown away with its cached
    backbone and redone by the plain conversion, which must pass the check in turn.
    """
    method = export_onnx(model, path, cache_dir=cache_dir, key=key)
    try:
        return check_onnx_parity(model, path, probes, expected=expected)
    except ExportMismatchError:
        if method == "full":
            raise
        log.warning("backbone+top ONNX export failed the parity check; converting the whole model")
        parts = split_parts(model)
        if parts is not None and cache_dir is not None:
            key = key or backbone_key(parts[0])
            cached_backbone_path(cache_dir, key).unlink(missing_ok=True)
            cached_template_path(cache_dir, template_key(key, parts[1])).unlink(missing_ok=True)
        _export_full(model, path)
        return check_onnx_parity(model, path, probes, expected=expected)


def _export_full(model: keras.Model, path: Path) -> None:
    if not hasattr(model, "output_names") and len(model.inputs) == 1:
        # A Sequential (e.g. an imported seed .h5) has no output_names, and tf2onnx 1.17
        # then looks its outputs up by KerasTensor name and fails (KeyError). The same
        # layers as a functional model convert.
        model = keras.Model(model.inputs, model.outputs)
    onnx_model = _convert(model, (None, *INPUT_SHAPE), INPUT_NAME)
    _set_method(onnx_model, "full")
    _check_graph(onnx_model)
    _save(onnx_model, path)


def _convert(model: keras.Model, shape: tuple, input_name: str, *, optimize: bool = True):
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec(shape, tf.float32, name=input_name)]
    # optimizers={} skips tf2onnx's graph clean-up passes (None means all of them).
    optimizers: dict | None = None if optimize else {}
    onnx_model, _ = tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=OPSET, optimizers=optimizers
    )
    return onnx_model


def split_parts(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """(backbone, top) when `model` is exactly `image -> top(backbone(image))`, else None.

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
    if others or any(len(m.inputs) != 1 or len(m.outputs) != 1 for m in (model, backbone, top)):
        return None
    if tuple(backbone.inputs[0].shape[1:]) != INPUT_SHAPE:
        return None
    if tuple(backbone.outputs[0].shape[1:]) != tuple(top.inputs[0].shape[1:]):
        return None
    history = getattr(model.outputs[0], "_keras_history", None)
    if history is None or history.operation is not top:
        return None
    return backbone, top


def _export_merged(backbone: keras.Model, top: keras.Model, path: Path, *, cache_dir: Path, key: str) -> None:
    template = cached_template_path(cache_dir, template_key(key, top))
    merged = _from_template(template, top)
    if merged is None:
        _save_template(backbone, top, key, cache_dir=cache_dir, path=template)
        merged = _from_template(template, top) or _merge_converted(backbone, top, key, cache_dir=cache_dir)
    _set_method(merged, f"backbone+top:{key}")
    _check_graph(merged)
    _save(merged, path)


def _merge_converted(backbone: keras.Model, top: keras.Model, key: str, *, cache_dir: Path):
    """The cached backbone's ONNX joined with the top converted now."""
    from onnx import compose, helper

    backbone_onnx = _cached_backbone(backbone, cached_backbone_path(cache_dir, key))
    # tf2onnx's optimizer passes take most of the top's conversion (they re-serialise its
    # 10 MB of weights ~25 times) and only drop a couple of Identity nodes there, which ONNX
    # Runtime drops anyway; the parity check still guards the result.
    top_onnx = _convert(top, (None, *top.inputs[0].shape[1:]), TOP_INPUT_NAME, optimize=False)
    if backbone_onnx.ir_version != top_onnx.ir_version:
        # Both come from the same tf2onnx (part of the cache key); align to be safe.
        backbone_onnx.ir_version = top_onnx.ir_version = max(backbone_onnx.ir_version, top_onnx.ir_version)
    # Prefixes keep the two graphs' names apart; the image input and the output keep theirs.
    # Both protos are this call's own (loaded or converted just now): prefix them in place.
    compose.add_prefix(backbone_onnx, BACKBONE_PREFIX, rename_inputs=False, inplace=True)
    compose.add_prefix(top_onnx, TOP_PREFIX, rename_outputs=False, inplace=True)
    merged = compose.merge_models(  # runs onnx.checker on the result
        backbone_onnx,
        top_onnx,
        io_map=[(backbone_onnx.graph.output[0].name, top_onnx.graph.input[0].name)],
        producer_name="tagloop",
    )
    # merge_models lists each domain once per model; ONNX wants one entry per domain.
    opsets: dict[str, int] = {}
    for entry in merged.opset_import:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets.items())
    merged.graph.name = "tagloop"
    return merged


def template_key(backbone_key: str, top: keras.Model) -> str:
    """Hash of what a template depends on: the backbone's key and the top's architecture
    (not the top's weight values, which each export fills in)."""
    digest = hashlib.sha256(f"{backbone_key}|".encode())
    digest.update(json.dumps(top.get_config(), sort_keys=True, default=str).encode())
    for weight in top.weights:
        digest.update(f"|{weight.path}|{weight.dtype}{tuple(weight.shape)}".encode())
    return digest.hexdigest()[:32]


def cached_template_path(cache_dir: Path, key: str) -> Path:
    """Where the joined backbone + top export with `key` (template_key) is cached."""
    return Path(cache_dir) / BACKBONE_CACHE_DIR / f"template-{key}.onnx"


def _top_initializers(merged, top: keras.Model) -> list[str] | None:
    """The initializer holding each of the top's weights, in order; None unless every
    weight is found exactly once, as is, among the top's initializers."""
    from onnx import numpy_helper

    candidates = [
        (init.name, numpy_helper.to_array(init))
        for init in merged.graph.initializer
        if init.name.startswith(TOP_PREFIX)
    ]
    names: list[str] = []
    for weight in top.weights:
        value = keras.ops.convert_to_numpy(weight)
        found = [
            name
            for name, array in candidates
            if array.dtype == value.dtype and array.shape == value.shape and np.array_equal(array, value)
        ]
        if len(found) != 1 or found[0] in names:
            return None
        names.append(found[0])
    return names


def _save_template(backbone: keras.Model, top: keras.Model, key: str, *, cache_dir: Path, path: Path) -> None:
    """Convert a stand-in of the top with distinct random weights, join it to the backbone
    and cache the result with where each weight went; nothing when a weight cannot be found."""
    stand_in = keras.models.clone_model(top)
    rng = np.random.default_rng(0)
    stand_in.set_weights([rng.uniform(-1.0, 1.0, w.shape).astype(w.dtype) for w in top.get_weights()])
    merged = _merge_converted(backbone, stand_in, key, cache_dir=cache_dir)
    names = _top_initializers(merged, stand_in)
    if names is None:
        log.info("the top's weights are not all plain initializers; every export converts the top")
        return
    merged.metadata_props.add(key=TEMPLATE_WEIGHTS_KEY, value=json.dumps(names))
    _save(merged, path)


def _from_template(path: Path, top: keras.Model):
    """The cached template with the top's current weights in it; None when there is none."""
    import onnx
    from onnx import numpy_helper

    if not path.exists():
        return None
    try:
        template = onnx.load(str(path))
        props = {p.key: p.value for p in template.metadata_props}
        names = json.loads(props[TEMPLATE_WEIGHTS_KEY])
        by_name = {init.name: init for init in template.graph.initializer}
        if len(names) != len(top.weights):
            raise ValueError(f"{len(names)} weights in the template, {len(top.weights)} in the top")
        for name, weight in zip(names, top.weights, strict=True):
            value = keras.ops.convert_to_numpy(weight)
            init = by_name[name]
            if tuple(init.dims) != value.shape:
                raise ValueError(f"{name}: {tuple(init.dims)} in the template, {value.shape} in the top")
            init.CopyFrom(numpy_helper.from_array(value, name))
    except Exception as exc:  # damaged or foreign: convert again and replace it
        log.warning("cached export template %s is unusable (%s); converting the top again", path, exc)
        return None
    kept = [p for p in template.metadata_props if p.key != TEMPLATE_WEIGHTS_KEY]
    del template.metadata_props[:]
    template.metadata_props.extend(kept)
    return template


def backbone_key(backbone: keras.Model) -> str:
    """Hash of what the backbone's ONNX depends on: converter versions, architecture, weights."""
    import onnx
    import tf2onnx

    digest = hashlib.sha256()
    digest.update(
        f"{_CACHE_FORMAT}|opset {OPSET}|tf2onnx {tf2onnx.__version__}|onnx {onnx.__version__}".encode()
    )
    digest.update(f"|keras {keras.__version__}|{tuple(backbone.inputs[0].shape)}".encode())
    try:
        digest.update(json.dumps(backbone.get_config(), sort_keys=True, default=str).encode())
    except Exception:  # a layer without get_config: names and classes still tell layouts apart
        digest.update(repr([(type(layer).__name__, layer.name) for layer in backbone.layers]).encode())
    for weight in backbone.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:32]


def cached_backbone_path(cache_dir: Path, key: str) -> Path:
    """Where the backbone with `key` (backbone_key) is cached as ONNX."""
    return Path(cache_dir) / BACKBONE_CACHE_DIR / f"backbone-{key}.onnx"


def backbone_onnx(backbone: keras.Model, cache_dir: Path, *, key: str) -> Path:
    """The backbone's cached ONNX export (`key`: its backbone_key), converted now if it is
    not cached yet."""
    path = cached_backbone_path(cache_dir, key)
    _cached_backbone(backbone, path)
    return path


def _cached_backbone(backbone: keras.Model, path: Path):
    """The backbone's ONNX (input "image", one output), from `path` or converted now."""
    import onnx

    if path.exists():
        try:
            cached = onnx.load(str(path))
            _check_graph(cached)
            return cached
        except Exception as exc:  # damaged or foreign: convert again and replace it
            log.warning("cached backbone %s is unusable (%s); converting it again", path, exc)
    log.info("converting the backbone to ONNX (once per backbone): %s", path.name)
    converted = _convert(backbone, (None, *INPUT_SHAPE), INPUT_NAME)
    _check_graph(converted)
    _save(converted, path)
    return converted


def _save(onnx_model, path: Path) -> None:
    """Write atomically: a reader (another publisher, inference) never sees half a file."""
    write_atomic(path, onnx_model.SerializeToString(), sync=True)


def _set_method(onnx_model, method: str) -> None:
    for prop in onnx_model.metadata_props:
        if prop.key == EXPORT_METHOD_KEY:
            prop.value = method
            return
    onnx_model.metadata_props.add(key=EXPORT_METHOD_KEY, value=method)


def _check_graph(onnx_model) -> None:
    # Some exporters turn layer state (e.g. Normalization's mean) into extra graph inputs.
    graph = onnx_model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ExportError(
            f"ONNX export must have the one input {INPUT_NAME!r}, got {[i.name for i in inputs]}"
        )
    batch = inputs[0].type.tensor_type.shape.dim[0]
    if batch.HasField("dim_value"):
        raise ExportError(f"ONNX export must have a dynamic batch size, got {batch.dim_value}")
    if len(graph.output) != 1:
        raise ExportError(f"ONNX export must have one output, got {[o.name for o in graph.output]}")


def export_method(path: Path) -> str | None:
    """How an ONNX file was exported ("full" or "backbone+top:<key>"); None if unrecorded."""
    import onnx

    props = onnx.load(str(path), load_external_data=False).metadata_props
    return next((p.value for p in props if p.key == EXPORT_METHOD_KEY), None)


def onnx_predict(onnx_path: Path, images: np.ndarray) -> np.ndarray:
    """Outputs of the ONNX file on `images`, through ONNX Runtime as inference runs it."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: images.astype(np.float32)})[0]


def check_onnx_parity(
    model: keras.Model, onnx_path: Path, probes: np.ndarray, *, expected: np.ndarray | None = None
) -> float:
    """Max |ONNX - Keras| on `probes`; ExportMismatchError when above PARITY_TOLERANCE.

    `expected`: the Keras model's output on `probes` if the caller already computed it
    (publish does, for the contract check); otherwise it is computed here.
    """
    if expected is None:
        expected = np.asarray(model(probes, training=False))
    actual = onnx_predict(onnx_path, probes)
    if actual.shape != expected.shape:
        raise ExportMismatchError(f"ONNX output shape {actual.shape} differs from Keras' {expected.shape}")
    diff = float(np.max(np.abs(actual - expected)))
    if not diff <= PARITY_TOLERANCE:  # also refuses NaN
        raise ExportMismatchError(
            f"ONNX export differs from the Keras model by {diff:.3g} (tolerance {PARITY_TOLERANCE:g})"
        )
    log.info("ONNX parity on %d probes: max abs diff %.3g", len(probes), diff)
    return diff
