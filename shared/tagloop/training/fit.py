"""Train the top of a tagloop model (pooled features -> 20 probabilities) on cached features.

Only the top's trainable weights move: in tagloop's own models that is the head, whose
logits are added to a fixed ImageNet prior (non-trainable layers), so training adds to
what the prior knows and cannot train it away.

Recipe of the original design, as settings: focal loss (gamma 2.0, alpha 0.25), class
weights from the label counts, Adam. Its learning rate (1e-5), batch 16 and 5 epochs did
not move the loss at all (docs/ARCHITECTURE.md, "Fine-tuning"), so retraining uses the
settings' lr 2e-3 (FitConfig's defaults are the settings'), large batches and up to 100
epochs, stopping as soon as every training label sits on the right side of 0.5 by
`margin`: a correction then *shows* on the image it corrected, and training stops there
instead of overfitting further (before the first epoch, when every label already does: a
freshly reset Adam's first steps move every weight by about the learning rate whatever the
gradient, which would only stir a model that has nothing to learn). It also stops on a
loss plateau: one inconsistent label never lets every label fit, and the epochs after the
plateau only cost time.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from tagloop.training.policy import FitConfig

PROB_EPSILON = 1e-7
CLASS_WEIGHT_RANGE = (0.1, 10.0)
"""Class weights are clipped to this range so one rare label cannot dominate the loss."""

EpochCallback = Callable[[int, int, float], None]
"""on_epoch(epoch, epochs, loss); it may raise to stop training (e.g. a cancelled job)."""


@dataclass(frozen=True)
class Anchors:
    """Images nobody corrected, with the parent's probabilities as soft targets.

    Trained on beside the corrections with a cross-entropy towards those targets, they
    keep what a fit learns from the corrections from spilling onto other photos (a
    correction of one photo otherwise also moves photos that only look alike).
    """

    x: np.ndarray
    p: np.ndarray
    prior: np.ndarray | None = None
    """Their frozen prior logits (TopTrainer.prior_logits), filled in by the fit."""

    def __len__(self) -> int:
        return len(self.x)


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
    """Binary focal loss per image (mean over classes), with alpha balancing (alpha weighs
    positives) and class weights.

    Written out rather than keras' BinaryFocalCrossentropy, which ignores alpha unless
    apply_class_balancing=True (docs/ARCHITECTURE.md, "Fine-tuning").
    """
    p = ops.clip(p, PROB_EPSILON, 1.0 - PROB_EPSILON)
    p_true = y * p + (1.0 - y) * (1.0 - p)
    weight = y * w_pos * alpha + (1.0 - y) * w_neg * (1.0 - alpha)
    return ops.mean(-weight * ops.power(1.0 - p_true, gamma) * ops.log(p_true), axis=-1)


def soft_cross_entropy(target, p):
    """Binary cross-entropy per image (mean over classes) towards soft targets."""
    p = ops.clip(p, PROB_EPSILON, 1.0 - PROB_EPSILON)
    return ops.mean(-(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p)), axis=-1)


def labels_fit(p: np.ndarray, y: np.ndarray, *, margin: float, thresholds: np.ndarray | float = 0.5) -> bool:
    """True when every probability in `p` is on its label's side of its class's threshold
    by at least `margin` (thresholds: one for all classes, or one per class).

    The margin is given for a threshold of 0.5 and scales with the room on each side, so
    that it stays reachable for a threshold near 0 or 1: above t by margin * (1 - t) / 0.5,
    below it by margin * t / 0.5.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    above, below = t + 2 * margin * (1 - t), t - 2 * margin * t
    return bool(np.all(np.where(y > 0.5, p >= above, p <= below)))


MIN_STEPS_PER_EPOCH = 4
MIN_BATCH = 16


def batch_size(n: int, config: FitConfig) -> int:
    """Rows per step: config.batch_size for many corrections; for few, small enough that an
    epoch still takes MIN_STEPS_PER_EPOCH steps (Adam moves each weight by about the
    learning rate per step, so a few corrections in one batch would need 4x the epochs)."""
    return max(MIN_BATCH, min(config.batch_size, -(-n // MIN_STEPS_PER_EPOCH)))


def _plateau(curve: list[float], config: FitConfig) -> bool:
    """No relative improvement of plateau_tolerance over the best loss for `patience` epochs."""
    patience = config.plateau_patience
    if len(curve) <= patience:
        return False
    best_before = min(curve[:-patience])
    return min(curve[-patience:]) > best_before * (1.0 - config.plateau_tolerance)


def prior_and_head(top: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """(features -> prior logit, features -> head logit), sharing the top's layers, for a top
    whose output is sigmoid(Add "logits"(prior logit, head logit)); None for other tops."""
    names = {layer.name for layer in top.layers}
    if not {"logits", "probabilities"} <= names:
        return None
    if getattr(top.get_layer("probabilities"), "activation", None) is not keras.activations.sigmoid:
        return None
    prior, head = top.get_layer("logits").input
    return keras.Model(top.inputs, prior), keras.Model(top.inputs, head)


class TopTrainer:
    """Trains one top model; its traced train step is kept, so the next fit skips tracing.

    keras' compile()+fit() re-traces its train function on every compile (~3 s here);
    a warm worker keeps one TopTrainer per loaded model instead, traced when it is made
    (for any batch size), so that not even the first fit waits for tracing. Class
    weights, gamma and alpha are step arguments, and the optimizer's state is zeroed
    between fits. Its traced `predict` is ~3x faster than calling the Keras model.

    In tagloop's own tops (sigmoid(prior logit + head logit)) the frozen prior's logit of
    each image is computed once per fit, not at every step: the prior's 1280x1000 layer
    was most of a step's work.
    """

    def __init__(self, top: keras.Model):
        import tensorflow as tf

        self.top = top
        self.optimizer = keras.optimizers.Adam(1e-3)
        self.optimizer.build(top.trainable_variables)
        features, classes = top.inputs[0].shape[-1], top.outputs[0].shape[-1]
        self._parts = prior_and_head(top)
        signature = [
            tf.TensorSpec((None, features), tf.float32),
            tf.TensorSpec((None, classes), tf.float32),
            tf.TensorSpec((None, classes), tf.float32),
            tf.TensorSpec((None,), tf.float32),
            tf.TensorSpec((classes,), tf.float32),
            tf.TensorSpec((classes,), tf.float32),
            tf.TensorSpec((), tf.float32),
            tf.TensorSpec((), tf.float32),
            tf.TensorSpec((), tf.float32),
        ]
        self._step = tf.function(self._train_step, input_signature=signature)
        self._step.get_concrete_function()  # trace now
        self._predict = tf.function(lambda x: top(x, training=False), input_signature=signature[:1])
        self._predict.get_concrete_function()
        if self._parts is not None:
            prior_model = self._parts[0]
            self._prior = tf.function(lambda x: prior_model(x, training=False), input_signature=signature[:1])
            self._prior.get_concrete_function()
            self._with_prior = tf.function(
                lambda x, prior: self._probabilities(x, prior, training=False), input_signature=signature[:2]
            )
            self._with_prior.get_concrete_function()

    def predict(self, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, classes) of the top on features `x` (N, D)."""
        if len(x) == 0:
            return np.zeros((0, self.top.outputs[0].shape[-1]), np.float32)
        x = x.astype(np.float32)
        return np.concatenate(
            [np.asarray(self._predict(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )

    def _probabilities(self, x, prior, *, training: bool):
        """The top's outputs, from the prior logit computed beforehand when the top has one."""
        if self._parts is None:
            return self.top(x, training=training)
        return ops.sigmoid(prior + self._parts[1](x, training=training))

    def _batched(self, fn, x: np.ndarray, *extra: np.ndarray, batch_size: int = 256) -> np.ndarray:
        classes = self.top.outputs[0].shape[-1]
        if len(x) == 0:
            return np.zeros((0, classes), np.float32)
        return np.concatenate(
            [
                np.asarray(fn(x[i : i + batch_size], *(e[i : i + batch_size] for e in extra)))
                for i in range(0, len(x), batch_size)
            ]
        )

    def prior_logits(self, x: np.ndarray) -> np.ndarray:
        """(N, classes) frozen prior logits of features `x` (zeros for a top without a prior part)."""
        if self._parts is None:
            return np.zeros((len(x), self.top.outputs[0].shape[-1]), np.float32)
        return self._batched(self._prior, x.astype(np.float32))

    def _fitted_predict(self, x: np.ndarray, prior: np.ndarray) -> np.ndarray:
        if self._parts is None:
            return self.predict(x)
        return self._batched(self._with_prior, x, prior)

    def _train_step(self, x, prior, y, is_anchor, w_pos, w_neg, gamma, alpha, anchor_weight):
        """One step on a batch of corrections (is_anchor 0: focal loss) and anchors
        (is_anchor 1: cross-entropy towards the soft targets in y)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            p = self._probabilities(x, prior, training=True)
            corrections = focal_loss(y, p, w_pos=w_pos, w_neg=w_neg, gamma=gamma, alpha=alpha)
            anchors = soft_cross_entropy(y, p) * anchor_weight
            loss = ops.mean(corrections * (1.0 - is_anchor) + anchors * is_anchor)
        grads = tape.gradient(loss, self.top.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.top.trainable_variables, strict=True))
        return loss

    def reset(self, learning_rate: float, *, seed: int = 0) -> None:
        """Zero the optimizer's state and restart every random draw (dropout) from `seed`,
        so that the same data gives the same fit in any process (the worker, the CLI)."""
        for variable in self.optimizer.variables:
            variable.assign(ops.zeros_like(variable))
        self.optimizer.learning_rate.assign(learning_rate)
        keras.utils.set_random_seed(seed)
        # A layer's seed generator was seeded when the model was loaded and moves on with
        # every call: set_random_seed alone does not restart it.
        for layer in self.top._flatten_layers():
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                generator.state.assign(np.array([seed, 0], dtype=generator.state.dtype))

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        config: FitConfig,
        on_epoch: EpochCallback | None = None,
        thresholds: np.ndarray | float = 0.5,
        anchors: Anchors | None = None,
    ) -> FitResult:
        """Train the top's trainable weights in place on features `x` (N, D) and labels `y` (N, classes).

        Early stop: once every label is on its side of its class's threshold by the margin,
        or once the loss has not improved for config.plateau_patience epochs.
        Each batch of corrections is trained together with as many anchors, drawn at random.
        """
        started = time.monotonic()
        x, y = x.astype(np.float32), y.astype(np.float32)
        self.reset(config.learning_rate, seed=config.seed)
        rng = np.random.default_rng(config.seed)
        w_pos, w_neg = class_weights(y)
        args = (
            w_pos,
            w_neg,
            np.float32(config.gamma),
            np.float32(config.alpha),
            np.float32(config.anchor_weight),
        )
        result = FitResult()
        prior = self.prior_logits(x)
        if anchors is not None and len(anchors):
            anchors = Anchors(
                anchors.x.astype(np.float32), anchors.p, self.prior_logits(anchors.x.astype(np.float32))
            )
        fits = lambda: labels_fit(  # noqa: E731
            self._fitted_predict(x, prior), y, margin=config.margin, thresholds=thresholds
        )
        if fits():
            result.stopped_early = True
            result.seconds = time.monotonic() - started
            return result
        for epoch in range(1, config.epochs + 1):
            loss = self._epoch(
                x, prior, y, anchors, rng=rng, batch_size=batch_size(len(x), config), args=args
            )
            result.loss_curve.append(loss)
            result.epochs_run = epoch
            if on_epoch:
                on_epoch(epoch, config.epochs, loss)
            if fits() or _plateau(result.loss_curve, config):
                result.stopped_early = epoch < config.epochs
                break
        result.seconds = time.monotonic() - started
        return result

    def _epoch(
        self,
        x: np.ndarray,
        prior: np.ndarray,
        y: np.ndarray,
        anchors: Anchors | None,
        *,
        rng,
        batch_size: int,
        args: tuple,
    ) -> float:
        """One pass over the corrections; returns the mean loss of its steps, per image."""
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            bx, bp, by = x[batch], prior[batch], y[batch]
            is_anchor = np.zeros(len(batch), np.float32)
            if anchors is not None and len(anchors) and anchors.prior is not None:
                drawn = rng.choice(len(anchors), size=min(len(batch), len(anchors)), replace=False)
                bx = np.concatenate([bx, anchors.x[drawn]])
                bp = np.concatenate([bp, anchors.prior[drawn]])
                by = np.concatenate([by, anchors.p[drawn].astype(np.float32)])
                is_anchor = np.concatenate([is_anchor, np.ones(len(drawn), np.float32)])
            total += float(self._step(bx, bp, by, is_anchor, *args)) * len(batch)
        return total / max(len(x), 1)
