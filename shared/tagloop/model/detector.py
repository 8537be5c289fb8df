"""The COCO detector prior as an ONNX graph: images (N, 512, 512, 3) in [0, 1] -> (N, 20).

The detector is CenterNet (MobileNetV3, 80 COCO classes), a TF.js graph model that
scripts/setup fetches; detector_convert.py turns it into ONNX once. This module (onnx
and ONNX Runtime only, no TensorFlow) wraps that raw graph so that it meets the model
contract: it takes images in [0, 1] (the x255 lives inside the graph) and outputs, per VOC
class, the max of the class' heatmap `tower_0/keypoints` (N, 128, 128, 80): an image-level
score in [0, 1].

A published two-prior version holds the wrapped detector inside its model.onnx (names
prefixed "detector/"); extract_from_version() takes it back out, so a retrain uses exactly
the detector its parent was built with, whatever is in the cache.
"""

import hashlib
from pathlib import Path

import numpy as np

from tagloop.classes import VOC_CLASSES
from tagloop.files import write_atomic

DETECTOR_SIZE = 512
"""The side of the detector's square input as published (the TF.js graph's). Its upsampling
steps are scales (x2), not sizes, once converted, so any multiple of 32 runs: a smaller side
is quicker (settings.detector_size)."""
IMAGE_INPUT = "detector_image"
"""Name of the served model's input that feeds the detector."""
SCORES = "detector_scores"
"""Name of the detector's output, and of the Keras model's second input."""
PREFIX = "detector/"
"""Prefix of the detector's names inside a served model.onnx."""
RAW_INPUT = "tower_0/images:0"
RAW_OUTPUT = "tower_0/keypoints"
OPSET = 17

_COCO_NAMES = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite "
    "baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork "
    "knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake "
    "chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
    "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear "
    "hair_drier toothbrush"
)
COCO_CLASSES: tuple[str, ...] = tuple(_COCO_NAMES.split())
"""The detector's 80 classes in its output order (darknet's coco.names, person first)."""

COCO_TO_VOC = {
    "airplane": "aeroplane",
    "motorcycle": "motorbike",
    "couch": "sofa",
    "potted_plant": "pottedplant",
    "dining_table": "diningtable",
    "tv": "tvmonitor",
}
"""COCO names that differ from their VOC class; the other 14 VOC classes share the name."""


def voc_indices() -> list[int]:
    """For each VOC class, in output order, the index of its COCO class."""
    voc_of = {coco: COCO_TO_VOC.get(coco, coco) for coco in COCO_CLASSES}
    index = {voc: i for i, (coco, voc) in enumerate(voc_of.items())}
    return [index[voc] for voc in VOC_CLASSES]


def wrap_raw(raw, side: int = DETECTOR_SIZE):
    """The contract around the raw converted graph: x255 before it, heatmap max after it.

    `raw`: onnx ModelProto with input RAW_INPUT (N, 512, 512, 3) in 0..255 and output
    RAW_OUTPUT (N, 128, 128, 80). Returns a new ModelProto: IMAGE_INPUT (N, side, side, 3)
    -> SCORES (N, 20).
    """
    if side % 32 or not 128 <= side <= 1024:
        raise ValueError(f"the detector's input side must be a multiple of 32 from 128 to 1024, got {side}")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = onnx.GraphProto()
    graph.CopyFrom(raw.graph)
    graph.name = "detector"
    del graph.input[:]
    del graph.output[:]
    del graph.value_info[:]  # shapes inferred at 512 would not hold at another side
    graph.input.extend([helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.FLOAT, ["N", side, side, 3])])
    graph.output.extend([helper.make_tensor_value_info(SCORES, TensorProto.FLOAT, ["N", len(VOC_CLASSES)])])
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(255.0, np.float32), "detector_wrap/scale"),
            numpy_helper.from_array(np.array(voc_indices(), np.int64), "detector_wrap/voc_indices"),
        ]
    )
    graph.node.insert(0, helper.make_node("Mul", [IMAGE_INPUT, "detector_wrap/scale"], [RAW_INPUT]))
    graph.node.extend(
        [
            helper.make_node("ReduceMax", [RAW_OUTPUT], ["detector_wrap/class_max"], axes=[1, 2], keepdims=0),
            helper.make_node(
                "Gather", ["detector_wrap/class_max", "detector_wrap/voc_indices"], [SCORES], axis=1
            ),
        ]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tagloop")
    model.ir_version = raw.ir_version
    onnx.checker.check_model(model)
    return model


def extract_from_version(onnx_file: Path):
    """The wrapped detector inside a served model.onnx (IMAGE_INPUT -> SCORES), or None
    when the model has no detector input."""
    import onnx

    served = onnx.load(str(onnx_file))
    inputs = {i.name for i in served.graph.input}
    if IMAGE_INPUT not in inputs:
        return None
    nodes, needed = [], {PREFIX + SCORES}
    for node in reversed(served.graph.node):  # the graph is topologically sorted
        if any(out in needed for out in node.output):
            nodes.append(node)
            needed.update(node.input)
    nodes.reverse()
    kept = [init for init in served.graph.initializer if init.name in needed]
    graph = onnx.helper.make_graph(
        nodes,
        "detector",
        [i for i in served.graph.input if i.name == IMAGE_INPUT],
        [
            onnx.helper.make_tensor_value_info(
                PREFIX + SCORES, onnx.TensorProto.FLOAT, ["N", len(VOC_CLASSES)]
            )
        ],
        kept,
    )
    model = onnx.helper.make_model(graph, opset_imports=list(served.opset_import), producer_name="tagloop")
    model.ir_version = served.ir_version
    return model


def detector_from_version(onnx_file: Path, cache_dir: Path) -> Path | None:
    """extract_from_version, saved under `cache_dir` (named by its content); None if none."""
    model = extract_from_version(onnx_file)
    if model is None:
        return None
    data = model.SerializeToString()
    path = Path(cache_dir) / "onnx" / f"detector-from-version-{hashlib.sha256(data).hexdigest()[:16]}.onnx"
    if not path.exists():
        write_atomic(path, data, sync=True)
    return path


def output_name(model) -> str:
    """The detector graph's one output (SCORES, or PREFIX + SCORES once extracted)."""
    return str(model.graph.output[0].name)


class DetectorScores:
    """ONNX Runtime on a wrapped detector file: images (N, 512, 512, 3) -> (N, 20)."""

    def __init__(self, path: Path, *, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # No spin-waiting threads after a batch: TensorFlow may run next, on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.side = int(self._session.get_inputs()[0].shape[1])
        """The side of the detector's square input."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: images.astype(np.float32)})[0]
