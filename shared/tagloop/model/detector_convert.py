"""Convert the COCO detector (a TF.js graph model) to ONNX once, and cache the result.

The TF.js files (centernet.json + centernet.bin, put in settings.detector_dir by
scripts/setup) do not convert as they are with tf2onnx 1.17 under TensorFlow 2.21 and
numpy 2; three fixes make them:
1. tf2onnx calls np.product, gone in numpy 2: alias it to np.prod.
2. _FusedConv2D / FusedDepthwiseConv2dNative nodes lack their TArgs attribute: add it.
3. Other nodes lack attributes that have defaults (e.g. TopKV2.index_type): fill them
   from TensorFlow's op registry.
The input's batch size is made dynamic too (the graph has no other batch-1 constant on the
way to the heatmap; the tests check a batch against one image at a time).

This module imports TensorFlow: inference never imports it.
"""

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tagloop.files import write_atomic
from tagloop.model.detector import DETECTOR_SIZE, OPSET, RAW_OUTPUT, wrap_raw

log = logging.getLogger(__name__)

GRAPH_FILE = "centernet.json"
WEIGHTS_FILE = "centernet.bin"
FUSED_OPS = ("_FusedConv2D", "FusedDepthwiseConv2dNative")
_CACHE_FORMAT = "tagloop-detector-onnx-1"  # bump to invalidate the cached conversions


class DetectorUnavailableError(Exception):
    """The detector's files are not there (setup could not fetch them)."""


def detector_files_present(source_dir: Path) -> bool:
    return all((Path(source_dir) / name).is_file() for name in (GRAPH_FILE, WEIGHTS_FILE))


def detector_onnx(source_dir: Path, cache_dir: Path, *, side: int = DETECTOR_SIZE) -> Path:
    """The wrapped detector's ONNX (detector.wrap_raw) at input `side`, converted once and cached."""
    source_dir = Path(source_dir)
    if not detector_files_present(source_dir):
        raise DetectorUnavailableError(
            f"the COCO detector's files are not in {source_dir}; run scripts/setup"
        )
    path = Path(cache_dir) / "onnx" / f"detector-{_key(source_dir)}-{side}.onnx"
    if path.exists():
        return path
    log.info("converting the COCO detector to ONNX (once): %s", path.name)
    wrapped = wrap_raw(convert_tfjs(source_dir), side)
    write_atomic(path, wrapped.SerializeToString(), sync=True)
    return path


def _key(source_dir: Path) -> str:
    import tf2onnx

    digest = hashlib.sha256(f"{_CACHE_FORMAT}|opset {OPSET}|tf2onnx {tf2onnx.__version__}".encode())
    for name in (GRAPH_FILE, WEIGHTS_FILE):
        digest.update((source_dir / name).read_bytes())
    return digest.hexdigest()[:16]


def convert_tfjs(source_dir: Path):
    """The raw detector as ONNX: RAW_INPUT (N, 512, 512, 3) in 0..255 -> RAW_OUTPUT."""
    if not hasattr(np, "product"):
        np.product = np.prod  # type: ignore[attr-defined]  # fix 1: tf2onnx 1.17 still calls it
    from tf2onnx import convert

    graph = json.loads((Path(source_dir) / GRAPH_FILE).read_text())
    patch_graph(graph)
    with tempfile.TemporaryDirectory() as tmp:
        patched = Path(tmp) / GRAPH_FILE
        patched.write_text(json.dumps(graph))
        shutil.copyfile(Path(source_dir) / WEIGHTS_FILE, Path(tmp) / WEIGHTS_FILE)
        proto, _ = convert._convert_common(
            None, name=GRAPH_FILE, opset=OPSET, tfjs_path=str(patched), output_names=[RAW_OUTPUT]
        )
    return proto


def patch_graph(graph: dict) -> None:
    """Fixes 2 and 3 of the module docstring, and a dynamic batch size, in place."""
    from google.protobuf.json_format import MessageToDict
    from tensorflow.python.framework import op_def_registry

    for node in graph["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] in FUSED_OPS and "TArgs" not in attr:
            count = int(attr.get("num_args", {}).get("i", 1))
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * count}}
        op_def = op_def_registry.get(node["op"])
        for definition in op_def.attr if op_def is not None else ():
            if definition.name not in attr and definition.HasField("default_value"):
                attr[definition.name] = MessageToDict(definition.default_value)
        if node["op"] == "Placeholder":
            attr["shape"]["shape"]["dim"][0]["size"] = "-1"
