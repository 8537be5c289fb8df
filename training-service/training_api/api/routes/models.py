"""Model versions: list with metrics, activate (rollback), import a Keras file."""

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from tagloop.http import error_responses

from training_api import versions
from training_api.api.deps import AdminOnly, SettingsDep, StoreDep, UserOnly
from training_api.schemas import Activated, Imported, VersionList

router = APIRouter(prefix="/models", tags=["models"])


@router.get(
    "",
    response_model=VersionList,
    dependencies=UserOnly,
    responses=error_responses(
        401,
    ),
)
def list_models(store: StoreDep) -> VersionList:
    """Every stored version, newest first, with its metrics and gate decision."""
    return versions.version_list(store=store)


@router.post(
    "/{version}/activate",
    response_model=Activated,
    dependencies=AdminOnly,
    responses=error_responses(401, 404, 422),
)
def activate(version: int, store: StoreDep) -> Activated:
    """Make a stored version the live one (rollback)."""
    store.activate(version)
    return Activated(active=version)


@router.post(
    "/import", response_model=Imported, dependencies=AdminOnly, responses=error_responses(401, 413, 422)
)
def import_model(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a Keras model: .h5 or .keras")],
    activate: Annotated[bool, Query()] = False,
) -> Imported:
    """Check a Keras model file against the contract and publish it as a new version."""
    version = versions.import_upload(store=store, settings=settings, upload=file, activate=activate)
    return Imported(version=version, active=activate)
