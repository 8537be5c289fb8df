"""Team mode on the training API: once a user exists every route but health and sign-in
needs one (token or login cookie), roles decide the rest, sign-in is rate-limited."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from training_api import users
from training_api.main import create_app

from tests.support.training import make_settings

ADMIN_TOKEN = "the-service-admin-token"


@pytest.fixture
def team(tmp_path: Path, redis_url: str, models_dir: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API with an admin (password) and an annotator: their tokens by name."""
    settings = make_settings(
        models_dir=models_dir, data_dir=tmp_path / "data", redis_url=redis_url, admin_token=ADMIN_TOKEN
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/auth/me").json() == {"mode": "single", "user": None}
        with client.app.state.sessions() as db:
            tokens = {
                "boss": users.add_user(db, "boss", "admin", "boss password"),
                "ann": users.add_user(db, "ann", "annotator"),
            }
        yield client, tokens


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_without_a_user_every_route_but_health_and_sign_in_is_401(team) -> None:
    client, _ = team
    for method, path in [
        ("GET", "/get_corrections"),
        ("GET", "/models"),
        ("GET", "/sessions"),
        ("GET", "/export"),
        ("GET", "/auth/check"),
        ("POST", "/retrain"),
        ("POST", "/models/import"),
    ]:
        reply = client.request(method, path, headers=bearer("tl_1_not-the-secret"))
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["code"] == "not_authorized"
        assert client.request(method, path).status_code == 401
    assert client.get("/health").status_code in (200, 503)
    assert client.get("/auth/me").json() == {"mode": "team", "user": None}


def test_an_annotator_labels_but_may_not_change_the_model_or_the_users(team) -> None:
    client, tokens = team
    ann = bearer(tokens["ann"])
    assert client.get("/auth/me", headers=ann).json() == {
        "mode": "team",
        "user": {"name": "ann", "role": "annotator"},
    }
    assert client.get("/get_corrections", headers=ann).status_code == 200
    assert client.get("/auth/check", headers=ann).status_code == 204
    for method, path, body in [
        ("POST", "/models/1/activate", None),
        ("POST", "/retrain", None),
        ("DELETE", "/jobs/x", None),
        ("POST", "/models/import", None),
        ("GET", "/users", None),
        ("POST", "/users", {"name": "eve", "role": "admin"}),
        ("POST", "/sessions", {"name": "s", "auto_retrain_after": 5}),
    ]:
        reply = client.request(method, path, headers=ann, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
        assert reply.json()["code"] == "admin_only"


def test_an_admin_manages_users_and_a_removed_token_stops_at_once(team) -> None:
    client, tokens = team
    boss = bearer(tokens["boss"])
    assert client.post("/models/1/activate", headers=boss).json()["active"] == 1
    made = client.post("/users", headers=boss, json={"name": "cat", "role": "annotator"})
    assert made.status_code == 201
    cat = bearer(made.json()["token"])
    assert client.get("/get_corrections", headers=cat).status_code == 200
    assert [u["name"] for u in client.get("/users", headers=boss).json()["users"]] == ["ann", "boss", "cat"]
    assert (
        client.post("/users", headers=boss, json={"name": "cat", "role": "admin"}).json()["code"]
        == "user_exists"
    )
    assert client.delete("/users/cat", headers=boss).status_code == 204
    assert client.get("/get_corrections", headers=cat).status_code == 401
    # The service's admin token stays an admin in team mode (scripts, the CLI's export).
    assert client.get("/users", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_sign_in_sets_a_strict_http_only_cookie_that_works_until_sign_out(team) -> None:
    client, _ = team
    reply = client.post("/auth/login", json={"name": "boss", "password": "boss password"})
    assert reply.status_code == 200
    assert reply.json()["user"] == {"name": "boss", "role": "admin"}
    cookie = reply.headers["set-cookie"]
    assert "tagloop_login=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/users").status_code == 200  # the client keeps the cookie
    assert client.post("/auth/logout").status_code == 204
    assert client.get("/users").status_code == 401


def test_ten_wrong_passwords_are_rate_limited_and_so_is_the_right_one_then(team) -> None:
    client, _ = team
    statuses = [
        client.post("/auth/login", json={"name": "boss", "password": f"guess {i}"}).status_code
        for i in range(10)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 5
    limited = client.post("/auth/login", json={"name": "boss", "password": "boss password"})
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_logins"
    assert int(limited.headers["retry-after"]) > 0


def test_no_user_left_is_single_user_mode_again(team) -> None:
    client, tokens = team
    boss = bearer(tokens["boss"])
    assert client.delete("/users/ann", headers=boss).status_code == 204
    assert client.delete("/users/boss", headers=boss).status_code == 204
    assert client.get("/get_corrections").status_code == 200
    assert client.post("/models/1/activate").status_code == 401  # the admin token again


def test_the_first_user_is_never_made_through_the_api(client: TestClient) -> None:
    """Single-user mode: whoever reaches the API could otherwise turn team mode on and lock
    everyone out; the first user is made on the server (`tagloop users add`)."""
    refused = client.post("/users", json={"name": "eve", "role": "admin", "password": "x" * 12})
    assert refused.status_code == 403 and refused.json()["code"] == "first_user_by_cli"
    assert client.get("/auth/me").json()["mode"] == "single"
