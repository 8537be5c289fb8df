"""FastAPI dependencies: the state that lifespan built, as typed Annotated aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from rq import Queue
from sqlalchemy.orm import Session
from tagloop.access import check_bearer, check_open_action
from tagloop.store import ModelStore
from tagloop.uploads import UploadStore

from training_api.config import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_queue(request: Request) -> Queue:
    return request.app.state.queue


def get_store(request: Request) -> ModelStore:
    return request.app.state.store


def get_uploads(request: Request) -> UploadStore:
    return request.app.state.uploads


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[Queue, Depends(get_queue)]
StoreDep = Annotated[ModelStore, Depends(get_store)]
UploadsDep = Annotated[UploadStore, Depends(get_uploads)]
DbSession = Annotated[Session, Depends(get_session)]


def require_admin(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The admin token, when one is set."""
    check_bearer(authorization, settings.admin_token)


def require_user(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """The admin token, when one is set and TAGLOOP_TOKEN_FOR_ALL closes the open actions too."""
    check_open_action(authorization, settings)


AdminOnly = [Depends(require_admin)]
UserOnly = [Depends(require_user)]
