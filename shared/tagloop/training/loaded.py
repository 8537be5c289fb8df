"""A model loaded to have its top retrained: the worker's retrain and `tagloop train` both."""

from dataclasses import dataclass
from pathlib import Path

import keras

from tagloop.model.build import load_model, split_model
from tagloop.model.detector import detector_from_version
from tagloop.model.publish import ONNX_FILE, TopOnly
from tagloop.training.features import Backbone
from tagloop.training.fit import TopTrainer


@dataclass
class LoadedModel:
    model: keras.Model
    top: keras.Model
    backbone: Backbone  # id, probe features, fast feature extraction
    trainer: TopTrainer  # its traced train step survives between fits
    detector: Path | None = None  # the COCO detector's ONNX a two-prior model takes scores from

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
        probe_outputs = self.trainer.predict(self.backbone.probe_features)
        return TopOnly(loaded_from, probe_outputs, self.backbone.key, self.detector)
