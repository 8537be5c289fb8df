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


@keras.saving.register_keras_serializable(package="tagloop")
class ColumnSlice(keras.layers.Layer):
    """features (N, D) -> features[:, start:stop]: one part of a concatenated feature vector."""

    def __init__(self, start: int = 0, stop: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)
        self.trainable = False

    def call(self, features):
        return features[:, self.start : self.stop]

    def get_config(self) -> dict:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="tagloop")
class NoisyOrLogit(keras.layers.Layer):
    """[logit a, probability b] -> logit(1 - (1 - sigmoid(a)) (1 - b)), clipped to stay finite.

    The noisy-OR of two priors that each see a class on their own (ImageNet's classifier,
    the COCO detector): either one is enough to see it.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trainable = False

    def call(self, inputs):
        logit_a, p_b = inputs
        p = 1.0 - (1.0 - ops.sigmoid(logit_a)) * (1.0 - p_b)
        p = ops.clip(p, PROB_EPSILON, 1.0 - PROB_EPSILON)
        return ops.log(p) - ops.log(1.0 - p)


CUSTOM_OBJECTS = {
    "MappedProbability": MappedProbability,
    "CalibratedLogit": CalibratedLogit,
    "ZeroPrior": ZeroPrior,
    "ColumnSlice": ColumnSlice,
    "NoisyOrLogit": NoisyOrLogit,
}
