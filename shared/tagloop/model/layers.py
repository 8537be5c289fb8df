"""Small custom Keras layers of the tagloop model, registered so .h5 files reload.

No Lambda layers: they do not serialise portably and tf2onnx cannot always trace them.
"""

import keras
from keras import ops

PROB_EPSILON = 1e-6
"""Clip probabilities away from 0 and 1 so that logit(p) stays finite."""


@keras.saving.register_keras_serializable(package="tagloop")
class MappedProbability(keras.layers.Layer):
    """ImageNet logits -> per-VOC-class probability: the softmax mass of the mapped classes.

    The (1000, 20) mapping is a non-trainable weight, so it travels inside the model file.
    """

    def __init__(self, num_classes: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.trainable = False

    def build(self, input_shape: tuple) -> None:
        self.mapping = self.add_weight(
            name="mapping", shape=(input_shape[-1], self.num_classes), initializer="zeros", trainable=False
        )

    def call(self, logits):
        return ops.matmul(ops.softmax(logits, axis=-1), self.mapping)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="tagloop")
class CalibratedLogit(keras.layers.Layer):
    """p -> scale * logit(p) + shift, with fixed (non-trainable) calibration constants."""

    def __init__(self, scale: float = 1.0, shift: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.shift = float(shift)
        self.trainable = False

    def call(self, p):
        p = ops.clip(p, PROB_EPSILON, 1.0 - PROB_EPSILON)
        return self.scale * (ops.log(p) - ops.log(1.0 - p)) + self.shift

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "shift": self.shift}


@keras.saving.register_keras_serializable(package="tagloop")
class ZeroPrior(keras.layers.Layer):
    """A prior logit of 0 for every class: used when no ImageNet classifier is available."""

    def __init__(self, num_classes: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.trainable = False

    def call(self, features):
        # zeros_like of a slice keeps the batch dimension dynamic without a Shape op.
        return ops.zeros_like(features[:, : self.num_classes])

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


CUSTOM_OBJECTS = {
    "MappedProbability": MappedProbability,
    "CalibratedLogit": CalibratedLogit,
    "ZeroPrior": ZeroPrior,
}
