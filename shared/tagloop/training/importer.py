"""Import an external Keras model file (.h5 or .keras) as a new store version.

The model is loaded without its training setup (compile=False: a custom loss it was
compiled with is not needed), checked against the contract, exported to ONNX and
published through the same path as a retrained version (tagloop.model.publish).
"""

from pathlib import Path

from tagloop.errors import TagloopError
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

SUFFIXES = (".h5", ".keras")


class ImportRefusedError(TagloopError):
    """The file is not a loadable Keras model (422)."""


def import_model_file(*, store: ModelStore, path: Path, activate: bool, name: str | None = None) -> int:
    """Publish the model in `path` as a new version; returns its number."""
    from tagloop.model.build import load_model
    from tagloop.model.publish import publish_model

    path = Path(path)
    shown = name or path.name
    if path.suffix.lower() not in SUFFIXES:
        raise ImportRefusedError(f"{shown!r}: only .h5 and .keras model files can be imported")
    try:
        model = load_model(path)
    except Exception as exc:  # h5py, zipfile and keras raise many kinds for a bad file
        raise ImportRefusedError(f"{shown!r} could not be loaded as a Keras model: {exc}") from exc
    if len(model.inputs) != 1:
        # A two-prior model's .h5 takes the detector's scores, which only its version's
        # model.onnx computes: an .h5 alone cannot be served.
        raise ImportRefusedError(
            f"{shown!r} takes {len(model.inputs)} inputs; "
            "an imported model takes one image input (N, 224, 224, 3)"
        )
    meta = VersionMeta(parent=None, samples=None, backbone="imported", source=f"import:{shown}")
    return publish_model(store, model, meta, activate=activate)
