"""A model loaded to have its top retrained: the worker's retrain and `tagloop train` both."""

from dataclasses import dataclass
from pathlib import Path

import keras

from tagloop.model.build import load_model, split_model
from tagloop.model.publish import TopOnly
from tagloop.training.features import Backbone
from tagloop.training.fit import TopTrainer


@dataclass
class LoadedModel:
    model: keras.Model
    top: keras.Model
    backbone: Backbone  # id, probe features, fast feature extraction
    trainer: TopTrainer  # its traced train step survives between fits

    @classmethod
    def load(cls, model_file: Path, *, backbone: str, cache_dir: Path) -> "LoadedModel":
        """`model_file` (.h5 or .keras); `backbone` names its backbone in the feature cache."""
        model = load_model(model_file)
        _, top = split_model(model)
        return cls(model, top, Backbone(model, name=backbone, cache_dir=cache_dir), TopTrainer(top))

    def top_only(self, loaded_from: Path) -> TopOnly:
        """What publishing may skip, the top being all that changed since `loaded_from`."""
        probe_outputs = self.trainer.predict(self.backbone.probe_features)
        return TopOnly(loaded_from, probe_outputs, self.backbone.key)
