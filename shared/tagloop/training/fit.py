"""Train the top of a tagloop model (pooled features -> 20 probabilities) on cached features.

Only the top's trainable weights move: in tagloop's own models that is the head, whose
logits are added to a fixed ImageNet prior (non-trainable layers), so training adds to
what the prior knows and cannot train it away.

Recipe of the original design, as settings: focal loss (gamma 2.0, alpha 0.25), class
weights from the label counts, Adam, batch 16. Its learning rate (1e-5) and 5 epochs did
not move the loss at all (docs/ARCHITECTURE.md, "Fine-tuning"), so retraining uses lr 2e-3 (the training
service's setting; FitConfig's default is Adam's usual 1e-3) and up to 100 epochs,
stopping as soon as every training label sits on the right side of 0.5 by `margin`: a
correction then *shows* on the image it corrected, and training stops there instead of
overfitting further (before the first epoch, when every label already does: a freshly
reset Adam's first steps move every weight by about the learning rate whatever the
gradient, which would only stir a model that has nothing to learn).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

PROB_EPSILON = 1e-7
CLASS_WEIGHT_RANGE = (0.1, 10.0)
"""Class weights are clipped to this range so one rare label cannot dominate the loss."""

EpochCallback = Callable[[int, int, float], None]
"""on_epoch(epoch, epochs, loss); it may raise to stop training (e.g. a cancelled job)."""


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 100
    learning_rate: float = 1e-3
    batch_size: int = 16
    gamma: float = 2.0
    alpha: float = 0.25
    margin: float = 0.1
    seed: int = 0


@dataclass
class FitResult:
    loss_curve: list[float] = field(default_factory=list)
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def final_loss(self) -> float | None:
        return self.loss_curve[-1] if self.loss_curve else None


def class_weights(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class weights of positive and negative entries, "balanced" from the label counts.

    w_pos[c] = N / (2 * positives[c]) and w_neg[c] = N / (2 * negatives[c]), clipped; a
    class without positives (or negatives) gets weight 1 for the missing side.
    """
    n = len(y)
    positives = y.sum(axis=0)
    negatives = n - positives
    w_pos = np.where(positives > 0, n / (2.0 * np.maximum(positives, 1)), 1.0)
    w_neg = np.where(negatives > 0, n / (2.0 * np.maximum(negatives, 1)), 1.0)
    low, high = CLASS_WEIGHT_RANGE
    return np.clip(w_pos, low, high).astype(np.float32), np.clip(w_neg, low, high).astype(np.float32)


def focal_loss(y, p, *, w_pos, w_neg, gamma, alpha):
    """Mean binary focal loss with alpha balancing (alpha weighs positives) and class weights.

    Written out rather than keras' BinaryFocalCrossentropy, which ignores alpha unless
    apply_class_balancing=True (docs/ARCHITECTURE.md, "Fine-tuning").
    """
    p = ops.clip(p, PROB_EPSILON, 1.0 - PROB_EPSILON)
    p_true = y * p + (1.0 - y) * (1.0 - p)
    weight = y * w_pos * alpha + (1.0 - y) * w_neg * (1.0 - alpha)
    return ops.mean(-weight * ops.power(1.0 - p_true, gamma) * ops.log(p_true))


def labels_fit(p: np.ndarray, y: np.ndarray, *, margin: float) -> bool:
    """True when every probability in `p` is on its label's side of 0.5 by at least `margin`."""
    return bool(np.all(np.where(y > 0.5, p >= 0.5 + margin, p <= 0.5 - margin)))


class TopTrainer:
    """Trains one top model; its traced train step is kept, so the next fit skips tracing.

    keras' compile()+fit() re-traces its train function on every compile (~3 s here);
    a warm worker keeps one TopTrainer per loaded model instead, traced when it is made
    (for any batch size), so that not even the first fit waits for tracing. Class
    weights, gamma and alpha are step arguments, and the optimizer's state is zeroed
    between fits. Its traced `predict` is ~3x faster than calling the Keras model.
    """

    def __init__(self, top: keras.Model):
        import tensorflow as tf

        self.top = top
        self.optimizer = keras.optimizers.Adam(1e-3)
        self.optimizer.build(top.trainable_variables)
        features, classes = top.inputs[0].shape[-1], top.outputs[0].shape[-1]
        signature = [
            tf.TensorSpec((None, features), tf.float32),
            tf.TensorSpec((None, classes), tf.float32),
            tf.TensorSpec((classes,), tf.float32),
            tf.TensorSpec((classes,), tf.float32),
            tf.TensorSpec((), tf.float32),
            tf.TensorSpec((), tf.float32),
        ]
        self._step = tf.function(self._train_step, input_signature=signature)
        self._step.get_concrete_function()  # trace now
        self._predict = tf.function(lambda x: top(x, training=False), input_signature=signature[:1])
        self._predict.get_concrete_function()

    def predict(self, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, classes) of the top on features `x` (N, D)."""
        if len(x) == 0:
            return np.zeros((0, self.top.outputs[0].shape[-1]), np.float32)
        x = x.astype(np.float32)
        return np.concatenate(
            [np.asarray(self._predict(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )

    def _train_step(self, x, y, w_pos, w_neg, gamma, alpha):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            p = self.top(x, training=True)
            loss = focal_loss(y, p, w_pos=w_pos, w_neg=w_neg, gamma=gamma, alpha=alpha)
        grads = tape.gradient(loss, self.top.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.top.trainable_variables, strict=True))
        return loss

    def reset(self, learning_rate: float) -> None:
        for variable in self.optimizer.variables:
            variable.assign(ops.zeros_like(variable))
        self.optimizer.learning_rate.assign(learning_rate)

    def fit(
        self, x: np.ndarray, y: np.ndarray, *, config: FitConfig, on_epoch: EpochCallback | None = None
    ) -> FitResult:
        """Train the top's trainable weights in place on features `x` (N, D) and labels `y` (N, classes)."""
        started = time.monotonic()
        x, y = x.astype(np.float32), y.astype(np.float32)
        self.reset(config.learning_rate)
        keras.utils.set_random_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        w_pos, w_neg = class_weights(y)
        args = (w_pos, w_neg, np.float32(config.gamma), np.float32(config.alpha))
        result = FitResult()
        if labels_fit(self.predict(x), y, margin=config.margin):
            result.stopped_early = True
            result.seconds = time.monotonic() - started
            return result
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(x), config.batch_size):
                batch = order[start : start + config.batch_size]
                total += float(self._step(x[batch], y[batch], *args)) * len(batch)
            loss = total / max(len(x), 1)
            result.loss_curve.append(loss)
            result.epochs_run = epoch
            if on_epoch:
                on_epoch(epoch, config.epochs, loss)
            if labels_fit(self.predict(x), y, margin=config.margin):
                result.stopped_early = epoch < config.epochs
                break
        result.seconds = time.monotonic() - started
        return result
