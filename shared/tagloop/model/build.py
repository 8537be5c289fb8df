"""The tagloop model: backbone -> "top" (fixed ImageNet prior + trainable head) -> 20 sigmoids.

The head's last Dense starts at zero and its output is *added* to the prior logit, so
version 1 answers exactly from the ImageNet prior and training only adds to it.
"""

import logging
from pathlib import Path

import keras
import numpy as np

from tagloop.classes import NUM_CLASSES
from tagloop.contract import INPUT_SHAPE
from tagloop.errors import TagloopError
from tagloop.model import lite0, prior
from tagloop.model.detector import SCORES
from tagloop.model.layers import (
    CUSTOM_OBJECTS,
    CalibratedLogit,
    ColumnSlice,
    MappedProbability,
    NoisyOrLogit,
    ZeroPrior,
)

log = logging.getLogger(__name__)

BACKBONES = ("lite0", "efficientnetb0")
FEATURES = 1280


class BackboneUnavailableError(TagloopError):
    """The requested backbone cannot be built here (unknown, or its weights cannot load)."""


class NotSplittableError(TagloopError):
    """The model has no GlobalAveragePooling2D, so it has no pooled features to split at."""


def build_model(*, cache_dir: Path, backbone: str = "lite0", detector: bool = False) -> keras.Model:
    """A new model: image (N, 224, 224, 3) in [0, 1] -> (N, 20) probabilities.

    With `detector` (lite0 only), the two-prior model: a second input "detector_scores"
    (N, 20), the COCO detector's per-class scores (detector.py computes them from the
    512 px image, outside Keras), is joined to the ImageNet prior by noisy-OR and given
    to the head beside the pooled features.
    """
    if detector and backbone != "lite0":
        raise BackboneUnavailableError("the COCO detector prior is built on the lite0 backbone only")
    if backbone == "lite0":
        weights = lite0.load_imagenet_weights(cache_dir)
        scores = NUM_CLASSES if detector else 0
        features, top = (
            lite0.build_backbone(weights, detector_scores=scores),
            build_top(weights, detector=detector),
        )
    elif backbone == "efficientnetb0":
        features, top = _efficientnetb0_backbone(), build_top(None)
    else:
        raise BackboneUnavailableError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
    image = keras.Input(INPUT_SHAPE, name="image")
    if not detector:
        return keras.Model(image, top(features(image)), name="tagloop")
    detector_scores = keras.Input((NUM_CLASSES,), name=SCORES)
    return keras.Model([image, detector_scores], top(features([image, detector_scores])), name="tagloop")


def build_top(weights: dict[str, np.ndarray] | None, *, detector: bool = False) -> keras.Model:
    """Features (N, 1280), or (N, 1300) with the detector's scores last, -> (N, 20):
    sigmoid(prior logit + trainable head). The head sees every feature."""
    features = keras.Input((FEATURES + (NUM_CLASSES if detector else 0),), name="features")
    if detector and weights is not None:
        pooled = ColumnSlice(0, FEATURES, name="pooled_features")(features)
        scores = ColumnSlice(FEATURES, FEATURES + NUM_CLASSES, name="detector_scores")(features)
        prior_logit = NoisyOrLogit(name="prior_logit")(
            [_prior_logit(pooled, weights, name="imagenet_logit"), scores]
        )
    else:
        prior_logit = _prior_logit(features, weights)
    x = keras.layers.Dense(512, activation="relu", name="head_dense_512")(features)
    x = keras.layers.Dropout(0.5, name="head_dropout_1")(x)
    x = keras.layers.Dense(256, activation="relu", name="head_dense_256")(x)
    x = keras.layers.Dropout(0.3, name="head_dropout_2")(x)
    # Zero start: the head contributes nothing until trained, so v1 is exactly the prior.
    delta = keras.layers.Dense(NUM_CLASSES, kernel_initializer="zeros", name="head_logits")(x)
    logits = keras.layers.Add(name="logits")([prior_logit, delta])
    probs = keras.layers.Activation("sigmoid", name="probabilities")(logits)
    return keras.Model(features, probs, name="top")


def _prior_logit(
    features: keras.KerasTensor, weights: dict[str, np.ndarray] | None, *, name: str = "prior_logit"
) -> keras.KerasTensor:
    if weights is None:
        return ZeroPrior(NUM_CLASSES, name="zero_prior")(features)
    imagenet_logits = lite0.imagenet_dense(weights, name="prior_imagenet_logits")(features)
    mapped = MappedProbability(NUM_CLASSES, name="prior_mapped_probability")
    p = mapped(imagenet_logits)
    mapped.set_weights([prior.mapping_matrix()])
    return CalibratedLogit(prior.PRIOR_SCALE, prior.PRIOR_SHIFT, name=name)(p)


def _efficientnetb0_backbone() -> keras.Model:
    # keras.applications downloads these weights at run time, which fails offline.
    try:
        base = keras.applications.EfficientNetB0(
            weights="imagenet", include_top=False, pooling="avg", input_shape=INPUT_SHAPE
        )
    except Exception as exc:
        raise BackboneUnavailableError(
            f"EfficientNetB0's ImageNet weights could not be loaded ({exc}); use the default backbone lite0"
        ) from exc
    # keras' EfficientNetB0 expects [0, 255]; the contract feeds [0, 1].
    image = keras.Input(INPUT_SHAPE, name="image")
    pooled = base(keras.layers.Rescaling(255.0, name="to_0_255")(image))
    return keras.Model(image, pooled, name="backbone")


def load_model(path: Path) -> keras.Model:
    """A saved model (.h5 or .keras) with tagloop's custom layers, without its training setup."""
    return keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False)


def split_model(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(features: image -> pooled features, top: pooled features -> outputs), sharing layers.

    Training `top` trains `model`. Works for tagloop's own models and for imported
    "seed-style" models (a backbone, GlobalAveragePooling2D, then a chain of layers).
    """
    names = {layer.name for layer in model.layers}
    if {"backbone", "top"} <= names:
        return model.get_layer("backbone"), model.get_layer("top")
    pool_index = _last_pooling_index(model)
    pool = model.layers[pool_index]
    # model.inputs, not model.input: a reloaded Sequential has only the former. A lone
    # input is passed bare so that callers may feed an array, not a one-element list.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    features = keras.Model(inputs, pool.output, name="features")
    pooled = keras.Input(tuple(pool.output.shape[1:]), name="features")
    x = pooled
    for layer in model.layers[pool_index + 1 :]:
        x = layer(x)
    return features, keras.Model(pooled, x, name="top")


def _last_pooling_index(model: keras.Model) -> int:
    indices = [
        i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    if not indices:
        raise NotSplittableError(
            f"model {model.name!r} has no GlobalAveragePooling2D layer to split features from"
        )
    return indices[-1]
