"""ONNX building blocks of the serving export: conversion, joining, checking, saving.

Input names: a Keras model's first input is "image" (N, 224, 224, 3); a two-prior model's
second is "detector_scores" (N, 20) in Keras and, once the detector is joined in front of
it, "detector_image" (N, 512, 512, 3) in the served file.
"""

import keras
import numpy as np

from tagloop.errors import TagloopError
from tagloop.files import write_atomic
from tagloop.model.detector import IMAGE_INPUT, SCORES

OPSET = 17
INPUT_NAME = "image"
EXPORT_METHOD_KEY = "tagloop_export"
"""ONNX metadata property naming how the file was made: "full" or "backbone+top:<key>"."""


class ExportError(TagloopError):
    """The model could not be exported to ONNX as the contract's graph."""


def keras_input_names(model: keras.Model) -> list[str]:
    """The ONNX input names of a Keras model (or backbone): "image" [, "detector_scores"]."""
    if len(model.inputs) == 1:
        return [INPUT_NAME]
    if len(model.inputs) == 2 and len(model.inputs[1].shape) == 2:
        return [INPUT_NAME, SCORES]
    raise ExportError(f"model {model.name!r} has inputs {[tuple(i.shape) for i in model.inputs]}")


def served_input_names(model: keras.Model) -> list[str]:
    """The served file's input names: the detector's image replaces its scores."""
    return [IMAGE_INPUT if name == SCORES else name for name in keras_input_names(model)]


def convert(model: keras.Model, *, names: list[str] | None = None, optimize: bool = True):
    """tf2onnx on a Keras model; inputs named `names` (default keras_input_names), dynamic batch."""
    import tensorflow as tf
    import tf2onnx

    names = names or keras_input_names(model)
    spec = [
        tf.TensorSpec((None, *tensor.shape[1:]), tf.float32, name=name)
        for tensor, name in zip(model.inputs, names, strict=True)
    ]
    # optimizers={} skips tf2onnx's graph clean-up passes (None means all of them).
    optimizers: dict | None = None if optimize else {}
    onnx_model, _ = tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=OPSET, optimizers=optimizers
    )
    return onnx_model


def merge(first, second, io_map: list[tuple[str, str]], *, name: str = "tagloop"):
    """`first` feeding `second` through `io_map`; one opset entry per domain."""
    from onnx import compose, helper

    if first.ir_version != second.ir_version:
        # Both come from the same tf2onnx/onnx (part of every cache key); align to be safe.
        first.ir_version = second.ir_version = max(first.ir_version, second.ir_version)
    merged = compose.merge_models(first, second, io_map=io_map, producer_name="tagloop")  # runs the checker
    # merge_models lists each domain once per model; ONNX wants one entry per domain.
    opsets: dict[str, int] = {}
    for entry in merged.opset_import:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets.items())
    merged.graph.name = name
    return merged


def order_inputs(onnx_model, names: list[str]) -> None:
    """Put the graph's inputs named `names` first, in that order (the rest keep theirs)."""
    by_name = {i.name: i for i in onnx_model.graph.input}
    ordered = [by_name[n] for n in names if n in by_name] + [
        i for i in onnx_model.graph.input if i.name not in names
    ]
    copies = [type(i)() for i in ordered]
    for copy, original in zip(copies, ordered, strict=True):
        copy.CopyFrom(original)
    del onnx_model.graph.input[:]
    onnx_model.graph.input.extend(copies)


def check_graph(onnx_model, names: list[str]) -> None:
    """ExportError unless the graph's inputs are exactly `names` with a dynamic batch, and it
    has one output. Some exporters turn layer state (e.g. Normalization's mean) into inputs."""
    graph = onnx_model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if [i.name for i in inputs] != names:
        raise ExportError(f"ONNX export must have the inputs {names}, got {[i.name for i in inputs]}")
    for tensor in inputs:
        batch = tensor.type.tensor_type.shape.dim[0]
        if batch.HasField("dim_value"):
            raise ExportError(f"ONNX export must have a dynamic batch size, got {batch.dim_value}")
    if len(graph.output) != 1:
        raise ExportError(f"ONNX export must have one output, got {[o.name for o in graph.output]}")


def save(onnx_model, path) -> None:
    """Write atomically: a reader (another publisher, inference) never sees half a file."""
    write_atomic(path, onnx_model.SerializeToString(), sync=True)


def set_method(onnx_model, method: str) -> None:
    for prop in onnx_model.metadata_props:
        if prop.key == EXPORT_METHOD_KEY:
            prop.value = method
            return
    onnx_model.metadata_props.add(key=EXPORT_METHOD_KEY, value=method)


def export_method(path) -> str | None:
    """How an ONNX file was exported ("full" or "backbone+top:<key>"); None if unrecorded."""
    import onnx

    props = onnx.load(str(path), load_external_data=False).metadata_props
    return next((p.value for p in props if p.key == EXPORT_METHOD_KEY), None)


def onnx_predict(onnx_path, images: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
    """Outputs of the ONNX file on `images` (an array for a one-input file, else a dict by
    input name), through ONNX Runtime as inference runs it."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    if not isinstance(images, dict):
        images = {INPUT_NAME: images}
    return session.run(None, {name: np.asarray(x, np.float32) for name, x in images.items()})[0]
