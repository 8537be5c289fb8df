"""Helpers of the inference tests: test images, tiny contract-true ONNX models, publishing.

Imported by the test modules (tests/inference/conftest.py puts this folder on sys.path).
"""

import io
import json
from pathlib import Path

import numpy as np
import onnx
from inference.config import Settings
from onnx import TensorProto, helper
from PIL import Image
from tagloop.store import ModelStore

MODEL_NAME = "voc"


def jpeg_bytes(
    size: tuple[int, int] = (320, 240), color: tuple[int, int, int] = (200, 40, 40), quality: int = 90
) -> bytes:
    img = Image.new("RGB", size, color)
    # A gradient so that the JPEG has real content, not one flat block.
    arr = np.asarray(img).copy()
    arr[:, :, 1] = np.linspace(0, 255, size[0], dtype=np.uint8)[np.newaxis, :]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (64, 48), mode: str = "RGBA") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def tiny_onnx(
    path: Path, *, bias: float = 0.0, nan: bool = False, outputs: int = 20, second_input: int = 0
) -> None:
    """Mean colour -> Dense(20) -> sigmoid: meets the contract, loads in milliseconds.

    `bias` shifts every score (tells versions apart); `nan` makes it output NaN;
    `outputs` != 20 breaks the output shape. `second_input` (a side, e.g. 512): a second
    image input "detector_image" whose mean colour is added to the first one's, as a
    two-prior model takes the same photo twice.
    """
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, outputs)).astype(np.float32)
    offset = np.full((outputs,), np.nan if nan else bias, dtype=np.float32)
    nodes, inputs = [], [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 224, 224, 3])]
    mean = "mean"
    if second_input:
        side = second_input
        inputs.append(
            helper.make_tensor_value_info("detector_image", TensorProto.FLOAT, ["N", side, side, 3])
        )
        nodes = [
            helper.make_node("ReduceMean", ["image", "axes"], ["mean_small"], keepdims=0),
            helper.make_node("ReduceMean", ["detector_image", "axes"], ["mean_big"], keepdims=0),
            helper.make_node("Add", ["mean_small", "mean_big"], ["mean"]),
        ]
    else:
        nodes = [helper.make_node("ReduceMean", ["image", "axes"], [mean], keepdims=0)]
    graph = helper.make_graph(
        [
            *nodes,
            helper.make_node("MatMul", ["mean", "w"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["scores"]),
        ],
        "tiny",
        inputs,
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", outputs])],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2]),
            helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.flatten()),
            helper.make_tensor("b", TensorProto.FLOAT, offset.shape, offset),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))


def publish_tiny(store: ModelStore, *, activate: bool = True, **kwargs: object) -> int:
    def write(folder: Path) -> None:
        tiny_onnx(folder / "model.onnx", **kwargs)  # type: ignore[arg-type]

    return store.publish(write, {"source": "tiny-test-model", **kwargs}, activate=activate)


def publish_copy(store: ModelStore, source: Path, *, truncate_onnx: bool = False) -> int:
    """A new version holding `source`'s files (the onnx cut in half if asked)."""

    def write(folder: Path) -> None:
        for name in ("model.onnx", "model.h5"):
            if (source / name).is_file():
                data = (source / name).read_bytes()
                if truncate_onnx and name == "model.onnx":
                    data = data[: len(data) // 2]
                (folder / name).write_bytes(data)

    meta = {
        k: v
        for k, v in json.loads((source / "meta.json").read_text()).items()
        if k not in ("version", "created")
    }
    meta = {**meta, "copied_from": source.name, **({"truncated_onnx": True} if truncate_onnx else {})}
    return store.publish(write, meta, activate=True)


def make_settings(*, models_dir: Path, data_dir: Path, redis_url: str, **overrides: object) -> Settings:
    values: dict = {"model_name": MODEL_NAME, "reload_poll_s": 0.2, **overrides}
    return Settings(models_dir=models_dir, data_dir=data_dir, redis_url=redis_url, _env_file=None, **values)


def publish_raw_onnx(
    store: ModelStore, data: bytes, *, activate: bool = True, parent: int | None = None
) -> int:
    """A version whose model.onnx holds `data` (e.g. bytes that are no ONNX model at all)."""

    def write(folder: Path) -> None:
        (folder / "model.onnx").write_bytes(data)

    return store.publish(write, {"source": "raw-test-bytes", "parent": parent}, activate=activate)


def raw_multipart(field: str, files: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart body with filenames sent byte for byte (httpx would percent-encode NUL, CR...)."""
    boundary = b"tagloop-test-boundary"
    body = b"".join(
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + field.encode() + b'"; '
        b'filename="' + name + b'"\r\nContent-Type: image/png\r\n\r\n' + data + b"\r\n"
        for name, data in files
    )
    return body + b"--" + boundary + b"--\r\n", f"multipart/form-data; boundary={boundary.decode()}"
