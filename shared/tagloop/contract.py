"""The model contract: images (N, H, W, 3) float32 in [0, 1] -> (N, 20) probabilities in [0, 1].

A seed-style model has one input, (N, 224, 224, 3). A model may take one input per
resolution it needs (the two-prior model: "image" at 224 and "detector_image" at 512);
the service decodes each image once and resizes it for each input.
Checked on publish, on import and by inference before a version is swapped in.
"""

import numpy as np

from tagloop.classes import NUM_CLASSES
from tagloop.errors import ModelContractError

IMAGE_SIZE = 224
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


MIN_SIDE, MAX_SIDE = 32, 1024
"""Input sides a served model may ask for."""


def probe_images(n: int = 4, *, seed: int = 0, size: int = IMAGE_SIZE) -> np.ndarray:
    """Deterministic probe batch: a black, a white, and smooth random images in [0, 1].

    Every `size` shows the same pictures (a 7x7 grid of colours, blown up), so that probes
    at 224 and at 512 are one image at two resolutions.
    """
    rng = np.random.default_rng(seed)
    batch = np.empty((n, size, size, 3), dtype=np.float32)
    cells = np.arange(size) * 7 // size
    for i in range(n):
        if i == 0:
            batch[i] = 0.0
        elif i == 1:
            batch[i] = 1.0
        else:
            # Low-frequency noise upsampled looks more like a photo than white noise does.
            small = rng.random((7, 7, 3), dtype=np.float32)
            batch[i] = small[cells][:, cells]
    return batch


def check_image_input(name: str, shape: tuple) -> tuple[int, int]:
    """(H, W) of a served image input (N, H, W, 3); ModelContractError otherwise."""
    dims = tuple(shape)
    if len(dims) != 4 or dims[3] != 3 or not all(isinstance(d, int) for d in dims[1:3]):
        raise ModelContractError(f"model input {name!r} must be images (N, H, W, 3), got {dims}")
    height, width = int(dims[1]), int(dims[2])
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise ModelContractError(
            f"model input {name!r} must be {MIN_SIDE} to {MAX_SIDE} pixels a side, got {dims}"
        )
    return height, width


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


def session_inputs(session) -> list[tuple[str, tuple[int, int]]]:
    """[(name, (H, W))] of an ONNX Runtime session's image inputs, checked (check_image_input)."""
    inputs = session.get_inputs()
    if not inputs:
        raise ModelContractError("model has no input")
    return [(tensor.name, check_image_input(tensor.name, tuple(tensor.shape))) for tensor in inputs]
