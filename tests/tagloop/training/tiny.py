"""The tiny model's retrain as the core's tests drive it: made-up corrections over its
feature space, and run_retrain from version 1 with a quick learning rate."""

import hashlib

import numpy as np
from tagloop.classes import VOC_CLASSES
from tagloop.settings import RetrainSettings
from tagloop.training.policy import RetrainData, RetrainPolicy, corrections_data


def tiny_data(loaded, n: int, *, learnable: bool, seed: int = 0) -> RetrainData:
    """n corrections over the tiny model's feature space: each one's class is the largest
    of 20 random directions (learnable), or a random class (not)."""
    rng = np.random.default_rng(seed)
    dim = loaded.top.inputs[0].shape[-1]
    x = rng.normal(0, 1, (n, dim)).astype(np.float32)
    classes = np.argmax(x[:, :20], axis=1) if learnable else rng.integers(0, 20, n)
    y = np.zeros((n, len(VOC_CLASSES)), np.float32)
    y[np.arange(n), classes] = 1
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    return corrections_data(keys, x, y, modulus=5, min_holdout=5)


def retrain_tiny(store, loaded, cache, data: RetrainData, **options):
    """run_retrain of `data` from version 1 of `store` (`options`: progress, force...)."""
    from tagloop.training.retrain import run_retrain

    policy = RetrainPolicy.from_settings(RetrainSettings(), learning_rate=1e-2)
    return run_retrain(
        store=store,
        loaded=loaded,
        parent=1,
        data=data,
        policy=policy,
        cache_dir=cache,
        source="retrain",
        **options,
    )
