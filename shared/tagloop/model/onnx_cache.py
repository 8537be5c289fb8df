"""The export's caches: each backbone's ONNX, and joined backbone + top templates.

The backbone's ONNX is converted once and cached under `cache_dir`, keyed by a hash of
its architecture and weights; an export converts the top alone and joins the two. That
join is cached too, as a template: it is made from a stand-in top whose every weight holds
distinct random values, so that each weight can be found in the graph as exactly one
initializer (and none is folded away, as the converter does with a zero bias); an export
then copies the top's current weights into those initializers, with no conversion at all.
A constant the converter derived from a weight would keep the stand-in's random values,
which the parity check (export.check_onnx_parity) could not miss.
"""

import hashlib
import json
import logging
from pathlib import Path

import keras
import numpy as np

from tagloop.model import onnx_graph
from tagloop.model.onnx_graph import OPSET, keras_input_names

log = logging.getLogger(__name__)

BACKBONE_CACHE_DIR = "onnx"
"""Sub-folder of the cache directory holding the converted backbones."""
TOP_INPUT_NAME = "features"
TOP_PREFIX = "top/"
BACKBONE_PREFIX = "backbone/"
TEMPLATE_WEIGHTS_KEY = "tagloop_top_weights"
"""Metadata property of a cached template: JSON list of the initializers holding the top's
weights, in `top.weights` order (not kept in published files)."""
_CACHE_FORMAT = "tagloop-backbone-onnx-2"  # bump to invalidate every cached backbone and template


def backbone_key(backbone: keras.Model) -> str:
    """Hash of what the backbone's ONNX depends on: converter versions, architecture, weights."""
    import onnx
    import tf2onnx

    digest = hashlib.sha256()
    digest.update(
        f"{_CACHE_FORMAT}|opset {OPSET}|tf2onnx {tf2onnx.__version__}|onnx {onnx.__version__}".encode()
    )
    shapes = [tuple(tensor.shape) for tensor in backbone.inputs]
    digest.update(f"|keras {keras.__version__}|{shapes}".encode())
    try:
        digest.update(json.dumps(backbone.get_config(), sort_keys=True, default=str).encode())
    except Exception:  # a layer without get_config: names and classes still tell layouts apart
        digest.update(repr([(type(layer).__name__, layer.name) for layer in backbone.layers]).encode())
    for weight in backbone.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:32]


def template_key(backbone_key: str, top: keras.Model) -> str:
    """Hash of what a template depends on: the backbone's key and the top's architecture
    (not the top's weight values, which each export fills in)."""
    digest = hashlib.sha256(f"{backbone_key}|".encode())
    digest.update(json.dumps(top.get_config(), sort_keys=True, default=str).encode())
    for weight in top.weights:
        digest.update(f"|{weight.path}|{weight.dtype}{tuple(weight.shape)}".encode())
    return digest.hexdigest()[:32]


def cached_backbone_path(cache_dir: Path, key: str) -> Path:
    """Where the backbone with `key` (backbone_key) is cached as ONNX."""
    return Path(cache_dir) / BACKBONE_CACHE_DIR / f"backbone-{key}.onnx"


def cached_template_path(cache_dir: Path, key: str) -> Path:
    """Where the joined backbone + top export with `key` (template_key) is cached."""
    return Path(cache_dir) / BACKBONE_CACHE_DIR / f"template-{key}.onnx"


def backbone_onnx(backbone: keras.Model, cache_dir: Path, *, key: str) -> Path:
    """The backbone's cached ONNX export (`key`: its backbone_key), converted now if it is
    not cached yet."""
    path = cached_backbone_path(cache_dir, key)
    cached_backbone(backbone, path)
    return path


def cached_backbone(backbone: keras.Model, path: Path):
    """The backbone's ONNX (inputs "image" [, "detector_scores"], one output), from `path`
    or converted now."""
    import onnx

    names = keras_input_names(backbone)
    if path.exists():
        try:
            cached = onnx.load(str(path))
            onnx_graph.check_graph(cached, names)
            return cached
        except Exception as exc:  # damaged or foreign: convert again and replace it
            log.warning("cached backbone %s is unusable (%s); converting it again", path, exc)
    log.info("converting the backbone to ONNX (once per backbone): %s", path.name)
    converted = onnx_graph.convert(backbone)
    onnx_graph.check_graph(converted, names)
    onnx_graph.save(converted, path)
    return converted


def merged_from_cache(backbone: keras.Model, top: keras.Model, *, cache_dir: Path, key: str):
    """backbone + top as one ONNX graph: from the cached template, else converted (and cached)."""
    template = cached_template_path(cache_dir, template_key(key, top))
    merged = _from_template(template, top)
    if merged is None:
        _save_template(backbone, top, key, cache_dir=cache_dir, path=template)
        merged = _from_template(template, top) or merge_converted(backbone, top, key, cache_dir=cache_dir)
    return merged


def merge_converted(backbone: keras.Model, top: keras.Model, key: str, *, cache_dir: Path):
    """The cached backbone's ONNX joined with the top converted now."""
    from onnx import compose

    backbone_proto = cached_backbone(backbone, cached_backbone_path(cache_dir, key))
    # tf2onnx's optimizer passes take most of the top's conversion (they re-serialise its
    # 10 MB of weights ~25 times) and only drop a couple of Identity nodes there, which ONNX
    # Runtime drops anyway; the parity check still guards the result.
    top_proto = onnx_graph.convert(top, names=[TOP_INPUT_NAME], optimize=False)
    # Prefixes keep the two graphs' names apart; the inputs and the output keep theirs.
    # Both protos are this call's own (loaded or converted just now): prefix them in place.
    compose.add_prefix(backbone_proto, BACKBONE_PREFIX, rename_inputs=False, inplace=True)
    compose.add_prefix(top_proto, TOP_PREFIX, rename_outputs=False, inplace=True)
    io_map = [(backbone_proto.graph.output[0].name, top_proto.graph.input[0].name)]
    return onnx_graph.merge(backbone_proto, top_proto, io_map)


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
    merged = merge_converted(backbone, stand_in, key, cache_dir=cache_dir)
    names = _top_initializers(merged, stand_in)
    if names is None:
        log.info("the top's weights are not all plain initializers; every export converts the top")
        return
    merged.metadata_props.add(key=TEMPLATE_WEIGHTS_KEY, value=json.dumps(names))
    onnx_graph.save(merged, path)


def _from_template(path: Path, top: keras.Model):
    """The cached template with the top's current weights in it; None when there is none."""
    import onnx

    if not path.exists():
        return None
    try:
        template = onnx.load(str(path))
        _fill_template(template, top)
    except Exception as exc:  # damaged or foreign: convert again and replace it
        log.warning("cached export template %s is unusable (%s); converting the top again", path, exc)
        return None
    kept = [p for p in template.metadata_props if p.key != TEMPLATE_WEIGHTS_KEY]
    del template.metadata_props[:]
    template.metadata_props.extend(kept)
    return template


def _fill_template(template, top: keras.Model) -> None:
    from onnx import numpy_helper

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
