"""After a retrain: the session's photos predicted again by the version inference now serves.

The training API sends the stored uploads to inference's /batch_predict (it never runs a
model itself), so the scores are exactly what a person would see in the UI. It runs in a
thread of the API process that got the request, in calls of a few photos, each stored as it
comes back (the session stays usable and re-sorts as it goes); its progress is kept in
Redis (`tagloop:repredict:<session>`), so every API replica answers for it, with a
heartbeat: a run whose process died stops beating and reads as failed.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
PROGRESS_TTL_S = 3600
"""How long a finished run's outcome is kept."""
STALE_S = 3 * TIMEOUT_S
"""A running run whose last beat is older than this died with its process."""
STARTED = {"state": "running", "done": 0, "total": None, "model_version": None, "error": None}
"""A run's state before its first call to inference."""

log = logging.getLogger(__name__)


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
    db: Session,
    uploads: UploadStore,
    settings: Settings,
    review: ReviewSession,
    on_chunk: Callable[[int, int, int | None], None] = lambda done, total, version: None,
) -> tuple[int, int | None]:
    """Every photo of the session predicted again (once, however many annotators' cards it
    has), each call's photos stored as they come back; returns (how many photos, model
    version). `on_chunk(done, total, version)` after each call."""
    cards: dict[str, list[ReviewItem]] = {}
    for card in items_of(db, review):
        cards.setdefault(card.image_id, []).append(card)
    photos = [same[0] for same in cards.values()]
    version: int | None = None
    done = 0
    for chunk in _chunks(uploads, photos):
        body = _batch_predict(settings, uploads, chunk)
        version = body.get("model_version", version)
        by_id = {r["image_id"]: r for r in body["results"] if "image_id" in r}
        for photo in chunk:
            result = by_id.get(photo.image_id)
            if result is None:
                continue
            for card in cards[photo.image_id]:
                card.scores = {k: float(v) for k, v in result["scores"].items()}
                card.thresholds = result.get("thresholds") or body.get("thresholds") or None
                card.model_version = version
        review.updated = now()
        db.commit()
        done += len(chunk)
        on_chunk(done, len(photos), version)
    review.saves_since_retrain = 0
    review.updated = now()
    db.commit()
    return len(photos), version


def progress_key(session_id: int) -> str:
    return f"tagloop:repredict:{session_id}"


def run_state(redis: Any, session_id: int) -> dict[str, Any] | None:
    """The session's last re-predict run: {state: running|finished|failed, done, total,
    model_version, error}, None when there was none (or it is forgotten)."""
    raw = redis.get(progress_key(session_id))
    if raw is None:
        return None
    state = json.loads(raw)
    if state["state"] == "running" and time.time() - state["beat"] > STALE_S:
        state |= {
            "state": "failed",
            "error": "the re-prediction stopped (its service restarted); start it again",
        }
    return state


def start_repredict(
    redis: Any,
    sessions: Callable[[], Session],
    uploads: UploadStore,
    settings: Settings,
    review: ReviewSession,
) -> dict[str, Any]:
    """Start re-predicting the session in the background, or join the run already going;
    returns its state."""
    key = progress_key(review.id)
    state = dict(STARTED)
    current = run_state(redis, review.id)
    if current is not None and current["state"] == "running":
        return current
    if not redis.set(key, json.dumps(state | {"beat": time.time()}), ex=PROGRESS_TTL_S, nx=current is None):
        return run_state(redis, review.id) or state  # another request started it a moment ago
    threading.Thread(
        target=_run,
        args=(redis, sessions, uploads, settings, review.id),
        name=f"repredict-{review.id}",
        daemon=True,
    ).start()
    return state


def _run(
    redis: Any, sessions: Callable[[], Session], uploads: UploadStore, settings: Settings, sid: int
) -> None:
    key = progress_key(sid)

    def save(**fields: Any) -> None:
        redis.set(key, json.dumps(STARTED | fields | {"beat": time.time()}), ex=PROGRESS_TTL_S)

    try:
        with sessions() as db:
            review = db.get(ReviewSession, sid)
            if review is None:
                raise TagloopError("the session was deleted")
            count, version = repredict(
                db, uploads, settings, review, lambda d, n, v: save(done=d, total=n, model_version=v)
            )
        save(state="finished", done=count, total=count, model_version=version)
    except Exception as exc:  # the person reads it in the Review tab
        log.warning("re-predicting session %s failed: %s", sid, exc)
        save(state="failed", error=str(exc) if isinstance(exc, TagloopError) else type(exc).__name__)


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
