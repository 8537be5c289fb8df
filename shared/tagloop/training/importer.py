"""Import an external Keras model file (.h5 or .keras) as a new store version.

`check_model_file` runs first, in the training API, without TensorFlow: it reads only
the file's directory (the zip's central directory, the HDF5 object headers) and refuses
a file whose contents would unpack to more than the limits, before anything is unpacked
(a 261 KB .keras holding a 256 MB config.json is a zip bomb). A .keras archive's config
is then read (it is bounded) and the weights its layers declare are summed from their
shapes: loading a model allocates them before any weight is read, so a 2 KB file
declaring one huge Dense layer would cost gigabytes. Above `weight_bytes` (256 MiB; a
tagloop model needs about 20 MB) the file is refused, and no member may be larger than
those weights can be (`weight_bytes` plus room for HDF5's own structure): a padded
member is refused too. Loading then runs under an address-space limit (load_memory_bytes
above what the process had mapped, 2 GiB by default): a file the checks could not size
fails with a MemoryError instead of taking the worker's machine. The import itself runs in
the worker (an RQ job): the model is loaded without its training setup (compile=False:
a custom loss it was compiled with is not needed), checked against the contract, exported
to ONNX and published through the same path as a retrained version (tagloop.model.publish).
Messages never carry server paths: the file is named as the user named it.
"""

import contextlib
import json
import math
import re
import resource
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagloop.errors import TagloopError
from tagloop.store import ModelStore
from tagloop.version_meta import VersionMeta

SUFFIXES = (".h5", ".keras")
MIB = 1024 * 1024
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/:,)]+/)*[^\s'\"/:,)]*")


class ImportRefusedError(TagloopError):
    """The file is not a loadable Keras model, or would unpack to too much (422)."""

    code = "import_refused"


@dataclass(frozen=True)
class ImportLimits:
    unpacked_bytes: int = 1024 * MIB
    """Everything a .keras unpacks to, or every dataset of an .h5, together."""
    member_bytes: int = 512 * MIB
    """One member of a .keras archive (the weights file is the big one)."""
    config_bytes: int = 16 * MIB
    """A .keras archive's JSON members, an .h5's model_config: parsed whole in memory."""
    load_memory_bytes: int = 2048 * MIB
    """Address space loading may add to what the process had mapped before (a backstop:
    TensorFlow's own threads and arenas take some of it)."""
    weight_bytes: int = 256 * MIB
    """The weights a .keras config declares, summed from its layers' shapes; also bounds
    each member (plus MEMBER_OVERHEAD): a member larger than any weights it may hold is
    padding."""


MEMBER_OVERHEAD = 16 * MIB
"""What an HDF5 weights file holds beyond the weights themselves (headers, names, b-trees)."""

KERNEL_LAYERS = {"Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
DEPTHWISE_LAYERS = {"DepthwiseConv1D", "DepthwiseConv2D"}
SEPARABLE_LAYERS = {"SeparableConv1D", "SeparableConv2D"}
NORMALIZATION_LAYERS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization"}
WEIGHTED_LAYERS = {"Dense", "Embedding"} | KERNEL_LAYERS | DEPTHWISE_LAYERS | SEPARABLE_LAYERS
"""Layers whose weights are counted from their config: those image classifiers are made of.
Embedding's size is in its config alone; the others need their build_config's input shape."""


def check_model_file(path: Path, *, name: str, limits: ImportLimits = ImportLimits()) -> None:
    """Refuse what is not a Keras file or would unpack beyond `limits`; reads no data."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportRefusedError(f"{name!r}: only .h5 and .keras model files can be imported")
    if suffix == ".keras":
        _check_archive(path, name=name, limits=limits)
    else:
        _check_hdf5(path, name=name, limits=limits)


def _check_archive(path: Path, *, name: str, limits: ImportLimits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _unloadable(name, "a .keras file is a zip archive, and this one is not") from exc
    total = 0
    member_limit = min(limits.member_bytes, limits.weight_bytes + MEMBER_OVERHEAD)
    for member in members:
        # Python's zipfile never returns more than a member's declared size (and checks
        # its CRC), so the declared sizes bound what keras can be made to unpack.
        limit = limits.config_bytes if member.filename.endswith(".json") else member_limit
        if member.file_size > limit:
            raise _too_big(name, f"its member {member.filename!r} unpacks to", member.file_size, limit)
        total += member.file_size
    if total > limits.unpacked_bytes:
        raise _too_big(name, "it unpacks to", total, limits.unpacked_bytes)
    _check_declared_weights(_archive_config(path, name=name), name=name, limits=limits)


def _archive_config(path: Path, *, name: str) -> Any:
    """config.json of a .keras archive (its size already checked against config_bytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except KeyError:
        raise _unloadable(name, "the archive has no config.json") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _unloadable(name, "its config.json cannot be read") from exc


def _check_declared_weights(config: Any, *, name: str, limits: ImportLimits) -> None:
    declared = sum(declared_weight_bytes(layer, name=name) for layer in _layers(config))
    if declared > limits.weight_bytes:
        raise _too_big(name, "its layers declare weights of", declared, limits.weight_bytes)


def _layers(node: Any) -> Iterator[dict[str, Any]]:
    """Every layer config in a model config, nested models' layers included."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value)


def declared_weight_bytes(layer: dict[str, Any], *, name: str) -> int:
    """Bytes of the weights a layer config declares (4 per weight, 8 for float64 layers)."""
    kind, config = layer["class_name"], layer["config"]
    if kind not in WEIGHTED_LAYERS and kind not in NORMALIZATION_LAYERS:
        return 0
    itemsize = 8 if "float64" in json.dumps(config.get("dtype")) else 4
    if kind == "Embedding":
        return itemsize * _int(config.get("input_dim")) * _int(config.get("output_dim"))
    shape = (layer.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or not shape:
        if kind in NORMALIZATION_LAYERS:
            return 0  # built from its input: bounded by the layers around it
        raise _unloadable(name, f"its layer {config.get('name', kind)!r} does not say its input shape")
    channel = 1 if config.get("data_format") == "channels_first" else -1
    inputs = _int(shape[channel])
    return itemsize * _weights(kind, config, inputs)


def _weights(kind: str, config: dict[str, Any], inputs: int) -> int:
    bias = 1 if config.get("use_bias", True) else 0
    if kind in NORMALIZATION_LAYERS:
        return 4 * inputs
    if kind == "Dense":
        units = _int(config.get("units"))
        return inputs * units + bias * units
    kernel = math.prod(_int(k) for k in _list(config.get("kernel_size")))
    if kind in KERNEL_LAYERS:
        filters = _int(config.get("filters"))
        return kernel * inputs * filters + bias * filters
    multiplier = _int(config.get("depth_multiplier", 1))
    if kind in DEPTHWISE_LAYERS:
        return kernel * inputs * multiplier + bias * inputs * multiplier
    filters = _int(config.get("filters"))  # separable: depthwise, then pointwise
    return kernel * inputs * multiplier + inputs * multiplier * filters + bias * filters


def _int(value: Any) -> int:
    """A size from a config: a non-negative integer, or 1 where none is given (None)."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImportRefusedError(f"a layer size in the model's config is not a size: {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_hdf5(path: Path, *, name: str, limits: ImportLimits) -> None:
    import h5py

    if not h5py.is_hdf5(path):
        raise _unloadable(name, "a .h5 file is an HDF5 file, and this one is not")
    sizes: list[int] = []
    try:
        with h5py.File(path, "r") as h5:
            config = h5.attrs.get("model_config")
            if config is not None and len(config) > limits.config_bytes:
                raise _too_big(name, "its model_config is", len(config), limits.config_bytes)

            def add(_name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    sizes.append(obj.size * obj.dtype.itemsize)

            h5.visititems(add)
    except (OSError, ValueError) as exc:
        raise _unloadable(name, "its HDF5 structure cannot be read") from exc
    if sum(sizes) > limits.unpacked_bytes:
        raise _too_big(name, "its weights take", sum(sizes), limits.unpacked_bytes)


def _unloadable(name: str, why: str) -> ImportRefusedError:
    return ImportRefusedError(f"{name!r} could not be loaded as a Keras model: {why}")


def _too_big(name: str, what: str, size: int, limit: int) -> ImportRefusedError:
    return ImportRefusedError(
        f"{name!r} is refused: {what} {size / MIB:.0f} MiB; the limit is {limit / MIB:g} MiB"
    )


def without_paths(message: str, *, path: Path, name: str) -> str:
    """`message` with the server's file named as the user named it and other paths hidden."""
    return hide_paths(message.replace(str(path), name))


def hide_paths(message: str) -> str:
    """`message` with every absolute path replaced by <path>: clients never see the server's."""
    return _ABSOLUTE_PATH.sub("<path>", message)


def import_model_file(
    *,
    store: ModelStore,
    path: Path,
    activate: bool,
    name: str | None = None,
    limits: ImportLimits = ImportLimits(),
) -> int:
    """Publish the model in `path` as a new version; returns its number."""
    from tagloop.model.build import load_model
    from tagloop.model.publish import publish_model

    path = Path(path)
    shown = name or path.name
    check_model_file(path, name=shown, limits=limits)
    try:
        with address_space_limit(limits.load_memory_bytes):
            model = load_model(path)
    except MemoryError:
        needed = f"more than {limits.load_memory_bytes / MIB:g} MiB of memory"
        raise ImportRefusedError(f"{shown!r} is refused: loading it needed {needed}") from None
    except Exception as exc:  # h5py, zipfile and keras raise many kinds for a bad file
        reason = without_paths(str(exc), path=path, name=shown)
        raise ImportRefusedError(f"{shown!r} could not be loaded as a Keras model: {reason}") from None
    if len(model.inputs) != 1:
        # A two-prior model's .h5 takes the detector's scores, which only its version's
        # model.onnx computes: an .h5 alone cannot be served.
        raise ImportRefusedError(
            f"{shown!r} takes {len(model.inputs)} inputs; "
            "an imported model takes one image input (N, 224, 224, 3)"
        )
    meta = VersionMeta(parent=None, samples=None, backbone="imported", source=f"import:{shown}")
    return publish_model(store, model, meta, activate=activate)


@contextlib.contextmanager
def address_space_limit(extra_bytes: int) -> Iterator[None]:
    """RLIMIT_AS set to what the process maps now plus `extra_bytes`, and restored after:
    an allocation past it fails (MemoryError in Python) instead of growing the process.
    Where the limit cannot be set (not Linux, or a lower hard limit), nothing changes."""
    try:
        mapped = _mapped_bytes()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        yield
        return
    wanted = mapped + extra_bytes
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        yield  # already as tight
        return
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _mapped_bytes() -> int:
    """VmSize: the address space the process has mapped."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no VmSize in /proc/self/status")
