"""Model versions as the API shows them, and the import of an uploaded model file."""

import tempfile
from pathlib import Path

from fastapi import UploadFile
from tagloop.store import ModelStore, VersionInfo
from tagloop.training.importer import SUFFIXES, ImportRefusedError, import_model_file

from training_api.config import Settings
from training_api.schemas import VersionList, VersionOut


def version_out(info: VersionInfo) -> VersionOut:
    meta = info.meta
    return VersionOut(
        version=info.version,
        created=meta.created,
        active=info.active,
        parent=meta.parent,
        samples=meta.samples,
        backbone=meta.backbone,
        prior=meta.prior,
        source=meta.source,
        metrics=meta.metrics,
        loss_curve=meta.loss_curve,
        promoted=meta.promoted,
        reason=meta.reason,
        evaluation=meta.evaluation,
        changes=meta.changes,
        thresholds=meta.thresholds,
    )


def version_list(*, store: ModelStore) -> VersionList:
    return VersionList(active=store.active_version(), versions=[version_out(v) for v in store.versions()])


def import_upload(*, store: ModelStore, settings: Settings, upload: UploadFile, activate: bool) -> int:
    """Copy the upload to a temporary file (keras needs a path and a suffix), then import it."""
    name = upload.filename or "model"
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportRefusedError(f"{name!r}: only .h5 and .keras model files can be imported")
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as folder:
        path = Path(folder) / f"upload{suffix}"
        with open(path, "wb") as out:
            copied = _copy_limited(upload, out, limit=settings.max_import_bytes)
        if copied == 0:
            raise ImportRefusedError(f"{name!r} is empty")
        return import_model_file(store=store, path=path, activate=activate, name=name)


def _copy_limited(upload: UploadFile, out, *, limit: int) -> int:
    copied = 0
    while chunk := upload.file.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            raise ImportRefusedError(f"the model file is larger than {limit // (1 << 20)} MB")
        out.write(chunk)
    return copied
