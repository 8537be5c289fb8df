"""Helpers of the inference tests: test images, tiny contract-true ONNX models, publishing.

Imported by the inference tests.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from fastapi.testclient import TestClient
from inference_api.config import Settings
from inference_api.main import create_app
from onnx import TensorProto, helper
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

from tests.support.images import png_bytes

MODEL_NAME = "voc"


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

    return store.publish(write, VersionMeta(source="tiny-test-model", **kwargs), activate=activate)


def make_settings(*, models_dir: Path, data_dir: Path, redis_url: str, **overrides: object) -> Settings:
    values: dict = {"model_name": MODEL_NAME, "reload_poll_s": 0.2, **overrides}
    return Settings(models_dir=models_dir, data_dir=data_dir, redis_url=redis_url, _env_file=None, **values)


def publish_raw_onnx(
    store: ModelStore, data: bytes, *, activate: bool = True, parent: int | None = None
) -> int:
    """A version whose model.onnx holds `data` (e.g. bytes that are no ONNX model at all)."""

    def write(folder: Path) -> None:
        (folder / "model.onnx").write_bytes(data)

    return store.publish(write, VersionMeta(source="raw-test-bytes", parent=parent), activate=activate)


def raw_multipart(field: str, files: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart body with filenames sent byte for byte (httpx would percent-encode NUL, CR...)."""
    boundary = b"tagloop-test-boundary"
    body = b"".join(
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + field.encode() + b'"; '
        b'filename="' + name + b'"\r\nContent-Type: image/png\r\n\r\n' + data + b"\r\n"
        for name, data in files
    )
    return body + b"--" + boundary + b"--\r\n", f"multipart/form-data; boundary={boundary.decode()}"


def served_version(client: TestClient) -> int:
    """The version that answers a /predict of the app behind `client`."""
    reply = client.post("/predict", files={"file": ("a.png", png_bytes(), "image/png")})
    assert reply.status_code == 200, reply.text
    return reply.json()["model_version"]


def serving(models_dir: Path, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    """The app serving `models_dir`'s active version (lifespan run), its data in tmp_path."""
    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        yield client
