"""FastAPI dependencies: the state that lifespan built, as typed Annotated aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from rq import Queue
from sqlalchemy.orm import Session
from tagloop.store import ModelStore
from tagloop.uploads import UploadStore

from training_api import team
from training_api.config import Settings
from training_api.users import Caller


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


AuthorizationHeader = Annotated[str | None, Header()]


def require_admin(
    request: Request, settings: SettingsDep, db: DbSession, authorization: AuthorizationHeader = None
) -> Caller:
    """An admin in team mode; the admin token, when one is set, in single-user mode."""
    return team.caller(db, settings, authorization, request.cookies.get(team.LOGIN_COOKIE), admin=True)


def require_user(
    request: Request, settings: SettingsDep, db: DbSession, authorization: AuthorizationHeader = None
) -> Caller:
    """Any user in team mode; in single-user mode the admin token only with TAGLOOP_TOKEN_FOR_ALL."""
    return team.caller(db, settings, authorization, request.cookies.get(team.LOGIN_COOKIE), admin=False)


AdminOnly = [Depends(require_admin)]
UserOnly = [Depends(require_user)]
CallerDep = Annotated[Caller, Depends(require_user)]
AdminDep = Annotated[Caller, Depends(require_admin)]
