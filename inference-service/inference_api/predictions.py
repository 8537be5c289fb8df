"""What /predict and /batch_predict do: decode, store the upload, batch, threshold.

Decoding and storing run in worker threads, the forward pass in the batcher's thread:
the event loop only moves bytes. Each phase goes into the request's Server-Timing.
"""

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import anyio
import numpy as np
from tagloop.classes import VOC_CLASSES
from tagloop.decode_budget import DecodeBudget
from tagloop.errors import TagloopError
from tagloop.http import error_code
from tagloop.images import DecodeLimits, ImageError, Size, decode_image, draft_size
from tagloop.tiling import decode_draft, views
from tagloop.uploads import UploadStore, clean_filename

from inference_api.batcher import DynamicBatcher, Result
from inference_api.engine import Batch, ModelSlot, ServedModel, batch_rows, concat_batches
from inference_api.schemas import BatchPredictResponse, FileError, ImageResult, Prediction, PredictResponse
from inference_api.timing import ServerTiming


class TooManyFilesError(TagloopError):
    """A /batch_predict with more files than `max_batch_files` (413)."""


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


def received(filename: str | None, data: bytes) -> Upload:
    """An upload with the client's filename as the store keeps it (echoed back the same)."""
    return Upload(filename=clean_filename(filename) or None, data=data)


@dataclass(frozen=True)
class PreparedImage:
    filename: str | None
    image_id: str
    arrays: Batch
    """The image's rows at each input size of the model: (rows, H, W, 3) float32 in [0, 1];
    one row, or with tiling the full view and a row per tile (tagloop.tiling)."""
    decode_s: float = 0.0
    store_s: float = 0.0


def merged(scores: np.ndarray) -> np.ndarray:
    """One image's scores from its rows' (the full view's, and its tiles'): each class's highest."""
    return scores.max(axis=0)


@dataclass(frozen=True)
class Predictor:
    """Everything a prediction needs; built once in the lifespan."""

    slot: ModelSlot
    batcher: DynamicBatcher
    uploads: UploadStore
    limits: DecodeLimits
    """The same two decode limits as training's (CommonSettings.decode_limits)."""
    chunk_size: int
    max_files: int
    decode_threads: int = 2
    decode_budget: DecodeBudget | None = None
    tile: int = 0
    """Tiles of this side for the detector input of a larger photo (0: the full view only)."""

    def decode(self, data: bytes, sizes: Sequence[Size]) -> Batch:
        """Decode once within this service's limits and its shared memory budget, resize for
        each input size, with the tiles' rows when tiling (ImageError if unusable)."""
        tile = self.tile if len(sizes) > 1 else 0  # a one-input model has no detector input
        draft = draft_size(sizes)
        img = decode_image(
            data,
            max_pixels=self.limits.max_pixels,
            draft=decode_draft(draft, tile) if tile else draft,
            max_bytes=self.limits.max_bytes,
            budget=self.decode_budget,
        )
        return views(img, sizes, tile=tile)


def prepare_upload(upload: Upload, *, predictor: "Predictor", sizes: Sequence[Size]) -> PreparedImage:
    """Decode (ImageError if unusable), then store the bytes; nothing is stored on error."""
    started = time.perf_counter()
    arrays = predictor.decode(upload.data, sizes)
    decoded = time.perf_counter()
    image_id = predictor.uploads.put(upload.data, upload.filename)
    return PreparedImage(
        filename=upload.filename,
        image_id=image_id,
        arrays=arrays,
        decode_s=decoded - started,
        store_s=time.perf_counter() - decoded,
    )


def thresholds_of(model: ServedModel, threshold: float | None) -> dict[str, float]:
    """A request's threshold for every class, or else the model version's own per class."""
    values = model.thresholds if threshold is None else [threshold] * len(VOC_CLASSES)
    return dict(zip(VOC_CLASSES, values, strict=True))


def image_result(prepared: PreparedImage, scores: np.ndarray, *, thresholds: dict[str, float]) -> ImageResult:
    by_label = {label: float(p) for label, p in zip(VOC_CLASSES, scores, strict=True)}
    kept = sorted(
        (Prediction(label=k, confidence=v) for k, v in by_label.items() if v >= thresholds[k]),
        key=lambda p: p.confidence,
        reverse=True,
    )
    return ImageResult(
        filename=prepared.filename, image_id=prepared.image_id, predictions=kept, scores=by_label
    )


async def predict_upload(
    *, predictor: Predictor, upload: Upload, threshold: float | None, timing: ServerTiming | None = None
) -> PredictResponse:
    """One image through the dynamic batcher."""
    timing = timing or ServerTiming()
    model = predictor.slot.require()
    sizes = model.sizes
    with predictor.batcher.expecting():
        arrays = await anyio.to_thread.run_sync(_decode, predictor, upload, sizes)
    timing.lap("decode")
    future = predictor.batcher.submit(arrays)
    # Hash and store while the forward pass runs: off the request's critical path.
    image_id, store_s = await anyio.to_thread.run_sync(_store, predictor, upload)
    answer = await asyncio.wrap_future(future)
    timing.add("queue", answer.queued_s)
    timing.add("forward", answer.forward_s)  # the whole pass, other requests' images included
    timing.add("store", store_s, "beside queue+forward")
    if model.version != answer.version:  # a newer version was swapped in meanwhile and answered
        model = predictor.slot.current or model
    thresholds = thresholds_of(model, threshold)
    prepared = PreparedImage(filename=upload.filename, image_id=image_id, arrays=arrays)
    result = image_result(prepared, merged(answer.scores), thresholds=thresholds)
    return PredictResponse(model_version=answer.version, thresholds=thresholds, **result.model_dump())


async def predict_uploads(
    *,
    predictor: Predictor,
    uploads: Sequence[Upload],
    threshold: float | None,
    timing: ServerTiming | None = None,
) -> BatchPredictResponse:
    """Many images, one forward pass per chunk, all on one model version; bad files reported.

    Chunk by chunk: while the runners compute one chunk, the next one is being decoded.
    """
    if len(uploads) > predictor.max_files:
        raise TooManyFilesError(
            f"too many files: {len(uploads)}; a batch takes at most {predictor.max_files}"
        )
    model = predictor.slot.require()
    limiter = anyio.CapacityLimiter(predictor.decode_threads)
    outcomes: list[PreparedImage | FileError] = []
    passes: list[tuple[list[PreparedImage], Future[Result]]] = []
    for start in range(0, len(uploads), predictor.chunk_size):
        chunk = await _prepare_all(
            predictor, uploads[start : start + predictor.chunk_size], limiter, model.sizes
        )
        outcomes.extend(chunk)
        good = [o for o in chunk if isinstance(o, PreparedImage)]
        if good:
            images = concat_batches([p.arrays for p in good])
            passes.append((good, predictor.batcher.submit(images, model=model)))
    timing = timing or ServerTiming()
    timing.lap("prepare")
    scores = await _collect(passes, timing)
    thresholds = thresholds_of(model, threshold)
    results = [
        image_result(o, scores[o.image_id], thresholds=thresholds) if isinstance(o, PreparedImage) else o
        for o in outcomes
    ]
    return BatchPredictResponse(model_version=model.version, thresholds=thresholds, results=results)


async def _prepare_all(
    predictor: Predictor, uploads: Sequence[Upload], limiter: anyio.CapacityLimiter, sizes: Sequence[Size]
) -> list[PreparedImage | FileError]:
    """Decode and store `uploads` in parallel threads; results in the order given."""
    outcomes: list[PreparedImage | FileError | None] = [None] * len(uploads)

    async def one(i: int) -> None:
        outcomes[i] = await anyio.to_thread.run_sync(
            _prepare_or_error, predictor, uploads[i], sizes, limiter=limiter
        )

    async with anyio.create_task_group() as group:
        for i in range(len(uploads)):
            group.start_soon(one, i)
    return [o for o in outcomes if o is not None]


async def _collect(
    passes: list[tuple[list[PreparedImage], Future[Result]]], timing: ServerTiming
) -> dict[str, np.ndarray]:
    """The passes' scores by image id; the wait for them, and what the passes and the
    preparation took, summed, into `timing`."""
    scores: dict[str, np.ndarray] = {}
    results = []
    for prepared, future in passes:
        result = await asyncio.wrap_future(future)
        results.append(result)
        start = 0
        for p in prepared:
            rows = batch_rows(p.arrays)
            scores[p.image_id] = merged(result.scores[start : start + rows])
            start += rows
    timing.lap("wait")
    files = [p for prepared, _ in passes for p in prepared]
    in_files, in_passes = f"summed over {len(files)} files", f"summed over {len(results)} passes"
    timing.add("decode", sum(p.decode_s for p in files), in_files)
    timing.add("store", sum(p.store_s for p in files), in_files)
    timing.add("queue", sum(r.queued_s for r in results), in_passes)
    timing.add("forward", sum(r.forward_s for r in results), in_passes)
    return scores


def _decode(predictor: Predictor, upload: Upload, sizes: Sequence[Size]) -> Batch:
    return predictor.decode(upload.data, sizes)


def _store(predictor: Predictor, upload: Upload) -> tuple[str, float]:
    """The upload's image id, and how long hashing and storing it took."""
    started = time.perf_counter()
    image_id = predictor.uploads.put(upload.data, upload.filename)
    return image_id, time.perf_counter() - started


def _prepare_or_error(
    predictor: Predictor, upload: Upload, sizes: Sequence[Size]
) -> PreparedImage | FileError:
    try:
        return prepare_upload(upload, predictor=predictor, sizes=sizes)
    except ImageError as exc:
        return FileError(filename=upload.filename, error=str(exc), code=error_code(exc))
