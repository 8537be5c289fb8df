"""Corrections: validate, append, list (latest per image), history of one image."""

from collections.abc import Sequence

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session
from tagloop.classes import VOC_CLASSES
from tagloop.errors import TagloopError
from tagloop.uploads import UnknownImageError, UploadStore

from training_api.db import Correction
from training_api.schemas import CorrectionIn


class UnknownLabelsError(TagloopError):
    """A correction names labels that are not among the 20 VOC classes (422)."""

    code = "unknown_label"


class MissingImageRefError(TagloopError):
    """A correction names neither an image_id nor a filename (422)."""


class AmbiguousFilenameError(TagloopError):
    """Several different images were uploaded under the filename a correction names (409)."""

    code = "ambiguous_filename"


def normalize_labels(labels: Sequence[str]) -> list[str]:
    """Lower-cased, deduplicated, in classes.json order; UnknownLabelsError names the bad ones."""
    wanted = {label.strip().lower() for label in labels}
    unknown = sorted(wanted - set(VOC_CLASSES))
    if unknown:
        raise UnknownLabelsError(
            f"unknown label(s): {', '.join(repr(u) for u in unknown)}; "
            f"valid labels are: {', '.join(VOC_CLASSES)}"
        )
    return [name for name in VOC_CLASSES if name in wanted]


def resolve_image(
    *, uploads: UploadStore, image_id: str | None, filename: str | None
) -> tuple[str, str | None]:
    """(image_id, filename) of a stored upload named by id or by client filename."""
    if image_id:
        if not uploads.exists(image_id):
            raise UnknownImageError(f"no uploaded image has id {image_id}; upload it with /predict first")
        return image_id, filename or _last_filename(uploads, image_id)
    if filename:
        return _only_image_named(uploads, filename), filename
    raise MissingImageRefError("give the image_id (from /predict) or the filename of an uploaded image")


def _only_image_named(uploads: UploadStore, filename: str) -> str:
    """The one upload named `filename`; two different images under one name are ambiguous."""
    found = uploads.ids_by_filename(filename)
    if not found:
        raise UnknownImageError(f"no uploaded image is named {filename!r}; upload it with /predict first")
    if len(found) > 1:
        raise AmbiguousFilenameError(
            f"{len(found)} different images were uploaded as {filename!r}; "
            "name the one to correct by its image_id (from /predict)"
        )
    return found[0]


def _last_filename(uploads: UploadStore, image_id: str) -> str | None:
    try:
        names = uploads.meta(image_id).get("filenames") or []
    except UnknownImageError:
        return None
    return names[-1] if names else None


def save_correction(
    *, db: Session, uploads: UploadStore, body: CorrectionIn, annotator: str | None = None
) -> Correction:
    """Validate and append one correction by `annotator` (team mode); the image must be a stored upload."""
    labels = normalize_labels(body.corrected_labels)
    image_id, filename = resolve_image(uploads=uploads, image_id=body.image_id, filename=body.filename)
    row = Correction(
        image_id=image_id,
        filename=filename,
        corrected_labels=labels,
        model_version=body.model_version,
        threshold=body.threshold,
        predicted=None if body.predicted is None else [s.model_dump() for s in body.predicted],
        annotator=annotator,
    )
    db.add(row)
    db.commit()
    return row


def _latest_ids():
    return select(func.max(Correction.id).label("id")).group_by(Correction.image_id)


def list_corrections(
    *,
    db: Session,
    limit: int,
    offset: int,
    label: str | None = None,
    every: bool = False,
    annotator: str | None = None,
) -> tuple[int, list[Correction]]:
    """(total, page) newest first: the latest correction per image, or every row if `every`;
    with `annotator`, that annotator's (their latest per image)."""
    query = select(Correction)
    if annotator is not None:
        query = query.where(Correction.annotator == annotator)
    if not every:
        latest = _latest_ids()
        if annotator is not None:
            latest = latest.where(Correction.annotator == annotator)
        query = query.where(Correction.id.in_(latest))
    if label:
        name = normalize_labels([label])[0]
        # Labels are stored as a JSON list of validated names, so '"name"' matches exactly.
        query = query.where(cast(Correction.corrected_labels, String).like(f'%"{name}"%'))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.scalars(query.order_by(Correction.id.desc()).limit(limit).offset(offset)).all()
    return total, list(page)


def image_history(*, db: Session, uploads: UploadStore, image_id: str) -> list[Correction]:
    """Every correction of one image, newest first (404 if the image was never uploaded)."""
    if not uploads.exists(image_id):
        raise UnknownImageError(f"no uploaded image has id {image_id}")
    query = select(Correction).where(Correction.image_id == image_id).order_by(Correction.id.desc())
    return list(db.scalars(query).all())


def count_corrections(*, db: Session) -> int:
    return db.scalar(select(func.count(Correction.id))) or 0


def latest_corrections(*, db: Session) -> list[Correction]:
    """The latest correction of every image, oldest image first."""
    query = select(Correction).where(Correction.id.in_(_latest_ids())).order_by(Correction.id)
    return list(db.scalars(query).all())
