"""After a retrain: the session's photos predicted again by the version inference now serves.

The training API sends the stored uploads to inference's /batch_predict (it never runs a
model itself), so the scores are exactly what a person would see in the UI.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import requests
from sqlalchemy.orm import Session
from tagloop.errors import TagloopError
from tagloop.uploads import UploadStore

from training_api.config import Settings
from training_api.db import ReviewItem, ReviewSession, now
from training_api.review.order import predicted_labels
from training_api.review.session_schemas import Disagreement
from training_api.review.sessions import items_of

CHUNK = 32
"""Most photos per /batch_predict call (inference accepts up to 50)."""
CHUNK_BYTES = 12 * 1024 * 1024
"""Most bytes of photos per call: inference (and the gateway) take 16 MiB of body, and six
ordinary 2.9 MB photos are already more. A photo over this goes alone (an upload was
accepted under 16 MB, so it still fits)."""
TIMEOUT_S = 120.0


class InferenceUnavailableError(TagloopError):
    """Inference did not answer the re-prediction of a session's photos (503)."""


def _chunks(uploads: UploadStore, items: Sequence[ReviewItem]) -> Iterator[Sequence[ReviewItem]]:
    """The items in order, in calls of at most CHUNK photos and CHUNK_BYTES of them."""
    chunk: list[ReviewItem] = []
    size = 0
    for item in items:
        item_size = _stored_size(uploads, item.image_id)
        if chunk and (len(chunk) == CHUNK or size + item_size > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def _stored_size(uploads: UploadStore, image_id: str) -> int:
    try:
        return uploads.path_of(image_id).stat().st_size
    except (OSError, TagloopError):
        return 0  # a missing upload: reading it raises UnknownImageError, as before


def _batch_predict(settings: Settings, uploads: UploadStore, items: Sequence[ReviewItem]) -> dict[str, Any]:
    files = [("files", (item.filename or item.image_id, uploads.read(item.image_id))) for item in items]
    headers = {}
    if settings.admin_token is not None:
        headers["Authorization"] = f"Bearer {settings.admin_token.get_secret_value()}"
    url = f"{settings.inference_url.rstrip('/')}/batch_predict"
    try:
        reply = requests.post(url, files=files, headers=headers, timeout=TIMEOUT_S)
        body = reply.json()
    except (requests.RequestException, ValueError) as exc:
        raise InferenceUnavailableError(f"inference did not answer ({type(exc).__name__})") from exc
    if reply.status_code != 200 or not body.get("success"):
        raise InferenceUnavailableError(
            f"inference refused the photos: {body.get('error', reply.status_code)}"
        )
    return body


def repredict(
    db: Session, uploads: UploadStore, settings: Settings, review: ReviewSession
) -> tuple[int, int | None]:
    """Every photo of the session predicted again; returns (how many, model version)."""
    items = items_of(db, review)
    version: int | None = None
    for chunk in _chunks(uploads, items):
        body = _batch_predict(settings, uploads, chunk)
        version = body.get("model_version", version)
        by_id = {r["image_id"]: r for r in body["results"] if "image_id" in r}
        for item in chunk:
            result = by_id.get(item.image_id)
            if result is None:
                continue
            item.scores = {k: float(v) for k, v in result["scores"].items()}
            item.thresholds = result.get("thresholds") or body.get("thresholds") or None
            item.model_version = version
    review.saves_since_retrain = 0
    review.updated = now()
    db.commit()
    return len(items), version


def disagreements(db: Session, review: ReviewSession) -> list[Disagreement]:
    """Saved photos whose prediction still differs from the labels the person gave."""
    out = []
    for item in items_of(db, review):
        if item.status != "saved" or item.labels is None:
            continue
        predicted = predicted_labels(item, review.threshold)
        if set(predicted) != set(item.labels):
            out.append(
                Disagreement(
                    image_id=item.image_id, filename=item.filename, labels=item.labels, predicted=predicted
                )
            )
    return out
