"""The model contract: (N, 224, 224, 3) float32 in [0, 1] -> (N, 20) probabilities in [0, 1].

Checked on publish, on import and by inference before a version is swapped in.
"""

import numpy as np

from tagloop.classes import NUM_CLASSES
from tagloop.errors import ModelContractError

IMAGE_SIZE = 224
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


def probe_images(n: int = 4, *, seed: int = 0) -> np.ndarray:
    """Deterministic probe batch: a black, a white, and smooth random images in [0, 1]."""
    rng = np.random.default_rng(seed)
    batch = np.empty((n, *INPUT_SHAPE), dtype=np.float32)
    for i in range(n):
        if i == 0:
            batch[i] = 0.0
        elif i == 1:
            batch[i] = 1.0
        else:
            # Low-frequency noise upsampled looks more like a photo than white noise does.
            small = rng.random((7, 7, 3), dtype=np.float32)
            batch[i] = np.kron(small, np.ones((32, 32, 1), dtype=np.float32))
    return batch


def check_input_shape(shape: tuple) -> None:
    """Refuse a model whose input is not (N, 224, 224, 3)."""
    if tuple(shape[1:]) != INPUT_SHAPE:
        raise ModelContractError(f"model input must be (N, 224, 224, 3), got {tuple(shape)}")


def check_outputs(outputs: np.ndarray, n: int) -> None:
    """Refuse outputs that are not (n, 20) finite probabilities."""
    if outputs.shape != (n, NUM_CLASSES):
        raise ModelContractError(f"model output must be (N, {NUM_CLASSES}), got {tuple(outputs.shape)}")
    if not np.all(np.isfinite(outputs)):
        raise ModelContractError("model output has NaN or infinite values")
    if outputs.min() < 0.0 or outputs.max() > 1.0:
        raise ModelContractError(
            "model output must be probabilities in [0, 1] (a sigmoid output layer), "
            f"got values in [{outputs.min():.3g}, {outputs.max():.3g}]"
        )
