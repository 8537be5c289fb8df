"""The one publisher of the tests: copies of stored versions, published through the store."""

import os
from pathlib import Path

from tagloop.store import ModelStore


def publish_copy(store: ModelStore, source: int, *, activate: bool, onnx: bytes | None = None) -> int:
    """A new version holding version `source`'s files (hard links: no copy, no TensorFlow).

    `onnx` replaces model.onnx (e.g. a corrupt export); the copy's meta then says
    `replaced_onnx`.
    """
    origin = store.path(source)

    def write(folder: Path) -> None:
        for name in ("model.h5", "model.onnx"):
            if name == "model.onnx" and onnx is not None:
                (folder / name).write_bytes(onnx)
            elif (origin / name).is_file():
                os.link(origin / name, folder / name)

    meta = store.meta(source).model_copy(
        update={
            "version": None,
            "created": None,
            "source": f"test copy of version {source}",
            "parent": source,
            "replaced_onnx": onnx is not None,
        }
    )
    return store.publish(write, meta, activate=activate)


def truncated_onnx(store: ModelStore, version: int) -> bytes:
    """The first half of a version's model.onnx: a file that cannot load."""
    data = (store.path(version) / "model.onnx").read_bytes()
    return data[: len(data) // 2]
