"""A model loaded to have its top retrained: the worker's retrain and `tagloop train` both."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from tagloop.model.build import load_model, split_model
from tagloop.model.detector import detector_from_version
from tagloop.model.publish import MODEL_FILE, ONNX_FILE, TopOnly
from tagloop.training.features import Backbone
from tagloop.training.fit import TopTrainer
from tagloop.version_meta import VersionMeta

if TYPE_CHECKING:
    from tagloop.store import ModelStore


@dataclass
class LoadedModel:
    model: keras.Model
    top: keras.Model
    backbone: Backbone  # id, probe features, fast feature extraction
    top_trainer: TopTrainer  # its traced train step survives between fits
    detector: Path | None = None  # the COCO detector's ONNX a two-prior model takes scores from

    @classmethod
    def from_store(cls, store: "ModelStore", version: int, *, cache_dir: Path) -> "LoadedModel":
        """Version `version` of `store`, loaded to be retrained (the CLI, the worker's warm model)."""
        return cls.load(
            model_file(store, version), backbone=backbone_name(store.meta(version)), cache_dir=cache_dir
        )

    @classmethod
    def load(cls, model_file: Path, *, backbone: str, cache_dir: Path) -> "LoadedModel":
        """`model_file` (.h5 or .keras); `backbone` names its backbone in the feature cache.

        A two-prior model's detector is taken from the model.onnx beside `model_file`: the
        exact detector the version was published with.
        """
        model = load_model(model_file)
        _, top = split_model(model)
        detector = None
        if len(model.inputs) == 2:
            detector = detector_from_version(Path(model_file).parent / ONNX_FILE, cache_dir)
        features = Backbone(model, name=backbone, cache_dir=cache_dir, detector=detector)
        return cls(model, top, features, TopTrainer(top), detector)

    def top_only(self, loaded_from: Path) -> TopOnly:
        """What publishing may skip, the top being all that changed since `loaded_from`."""
        probe_outputs = self.top_trainer.predict(self.backbone.probe_features)
        return TopOnly(loaded_from, probe_outputs, self.backbone.key, self.detector)


def model_file(store: "ModelStore", version: int) -> Path:
    """The Keras file a version is retrained from."""
    return store.path(version) / MODEL_FILE


def backbone_name(meta: VersionMeta) -> str:
    """The name a version's backbone has in the feature cache."""
    return meta.backbone or "backbone"
