"""int8 quantization of a served model.onnx (ONNX Runtime's static QDQ quantization).

Only what the project measured to keep its quality is quantized: the parts are chosen by
the node-name prefixes the export gives them ("backbone/", "detector/", "top/"), and
`PARTS` names the variants the benchmark (tools/bench_quantize.py) compares. Calibration
runs the served preprocessing on photos the project ships (the evaluation set).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from tagloop.images import Size, load_image_arrays

DETECTOR_HEAD = "detector/tower_0/CenternetHead/"
"""The detector's CenterNet head: its feature pyramid, SE block and class heatmap."""

PARTS: dict[str, tuple[str, ...]] = {
    "classifier branch": ("backbone/",),
    "classifier + detector body (head in float)": ("backbone/", "detector/"),
    "everything but the top": ("backbone/", "detector/"),
}
"""Variant -> the node-name prefixes quantized (the rest stays float)."""

KEEP_FLOAT: dict[str, tuple[str, ...]] = {
    "classifier + detector body (head in float)": (DETECTOR_HEAD, "detector/Resize"),
}
"""Variant -> prefixes kept in float even inside a quantized part."""


def nodes_to_exclude(model: onnx.ModelProto, variant: str) -> list[str]:
    """The node names a variant leaves in float."""
    quantized, kept = PARTS[variant], KEEP_FLOAT.get(variant, ())
    return [n.name for n in model.graph.node if not n.name.startswith(quantized) or n.name.startswith(kept)]


class PhotoReader:
    """onnxruntime.quantization's CalibrationDataReader over image files, one photo a batch."""

    def __init__(self, paths: Sequence[Path], inputs: Sequence[tuple[str, Size]]):
        self._feeds = self._iterate(list(paths), list(inputs))

    @staticmethod
    def _iterate(paths: list[Path], inputs: list[tuple[str, Size]]) -> Iterator[dict[str, np.ndarray]]:
        sizes = [size for _, size in inputs]
        for path in paths:
            arrays = load_image_arrays(path.read_bytes(), sizes)
            yield {name: array[np.newaxis] for (name, _), array in zip(inputs, arrays, strict=True)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize(source: Path, target: Path, *, variant: str, calibration: Sequence[Path], work: Path) -> Path:
    """Write `source` quantized as `variant` to `target` (QDQ, per-channel int8 weights,
    uint8 activations, MinMax calibration on `calibration`); returns `target`."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from tagloop.contract import session_inputs

    work.mkdir(parents=True, exist_ok=True)
    prepared = work / "prepared.onnx"
    if not prepared.is_file():
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    inputs = session_inputs(ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]))
    quantize_static(
        str(prepared),
        str(target),
        PhotoReader(calibration, inputs),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=nodes_to_exclude(model, variant),
    )
    return target
