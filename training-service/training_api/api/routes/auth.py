"""Sign-in and the team's users: `/auth/login`, `/auth/logout`, `/auth/me`, `/auth/check`, `/users`."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from tagloop.errors import FirstUserByCliError
from tagloop.http import error_responses

from training_api import team, users
from training_api.api.deps import AdminOnly, CallerDep, DbSession, SettingsDep
from training_api.login_limit import LoginLimiter

router = APIRouter(tags=["users"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: str


class Me(BaseModel):
    mode: Literal["single", "team"] = Field(description="team once a user exists")
    user: UserOut | None = Field(description="who signed in; null when nobody (or single-user)")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "annotator"]
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class UserCreated(BaseModel):
    user: UserOut
    token: str = Field(description="the API token, shown only this once")


class UserList(BaseModel):
    users: list[UserOut]


@router.post("/auth/login", response_model=Me, responses=error_responses(400, 401, 415, 422, 429))
def login(body: LoginIn, request: Request, response: Response, db: DbSession) -> Me:
    """Sign in with name and password: sets the login cookie (HttpOnly, SameSite=Strict, 12 h)."""
    limiter: LoginLimiter = request.app.state.login_limiter
    keys = (f"name:{body.name.lower()}", f"addr:{_address(request)}")
    limiter.check(*keys)
    try:
        secret, found = users.login(db, body.name, body.password)
    except users.BadLoginError:
        limiter.failed(*keys)
        raise
    limiter.succeeded(keys[0])
    response.set_cookie(
        team.LOGIN_COOKIE,
        secret,
        max_age=int(users.LOGIN_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.headers.get("x-forwarded-proto") == "https",
        path="/",
    )
    return Me(mode="team", user=UserOut(name=found.name or "", role=found.role))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, db: DbSession) -> None:
    """Forget this browser's sign-in."""
    cookie = request.cookies.get(team.LOGIN_COOKIE)
    if cookie:
        users.logout(db, cookie)
    response.delete_cookie(team.LOGIN_COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/auth/me", response_model=Me)
def me(request: Request, db: DbSession, settings: SettingsDep) -> Me:
    """The mode, and who this request is signed in as (the page asks this first)."""
    if not users.team_mode(db):
        return Me(mode="single", user=None)
    credential = team.presented(request.headers.get("authorization"), request.cookies.get(team.LOGIN_COOKIE))
    found = users.identify(db, credential) if credential else None
    return Me(mode="team", user=UserOut(name=found.name or "", role=found.role) if found else None)


@router.get("/auth/check", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
def check(caller: CallerDep) -> None:
    """204 when this request may predict: the gateway asks before it passes /predict to inference."""


@router.get("/users", response_model=UserList, dependencies=AdminOnly, responses=error_responses(401, 403))
def list_users(db: DbSession) -> UserList:
    """Every user and role (admins only)."""
    return UserList(users=[UserOut.model_validate(u) for u in users.list_users(db)])


@router.post(
    "/users",
    status_code=201,
    response_model=UserCreated,
    dependencies=AdminOnly,
    responses=error_responses(400, 401, 403, 409, 415, 422),
)
def add_user(body: UserIn, db: DbSession) -> UserCreated:
    """Create a user (admins only). The first user, who turns team mode on, is made on the
    server with `tagloop users add`: in single-user mode this answers 403."""
    if not users.team_mode(db):
        raise FirstUserByCliError(
            "team mode is off: the first user is made on the server (`tagloop users add NAME --role admin`)"
        )
    token = users.add_user(db, body.name, body.role, body.password)
    return UserCreated(user=UserOut(name=body.name, role=body.role), token=token)


@router.delete(
    "/users/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=AdminOnly,
    responses=error_responses(401, 403, 404),
)
def remove_user(name: Annotated[str, Path(max_length=64)], db: DbSession) -> None:
    """Delete a user: their token and sign-ins stop working at once; their corrections stay."""
    users.remove_user(db, name)


def _address(request: Request) -> str:
    """The client's address: the gateway's X-Real-IP behind it, the peer on the service's own port."""
    return request.headers.get("x-real-ip") or (request.client.host if request.client else "?")
