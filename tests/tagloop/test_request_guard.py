"""The request guard: which state-changing requests a browser may make from which page."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tagloop.request_guard import RequestGuardMiddleware


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()

    @app.post("/change")
    def change() -> dict[str, bool]:
        return {"success": True}

    @app.post("/upload")
    def upload() -> dict[str, bool]:
        return {"success": True}

    @app.get("/read")
    def read() -> dict[str, bool]:
        return {"success": True}

    app.add_middleware(
        RequestGuardMiddleware, form_paths=("/upload",), allowed_origins=("https://proxy.example.org",)
    )
    return TestClient(app, base_url="http://tagloop.local:8080")


ALLOWED = {
    "script_without_browser_headers": {},
    "own_page": {"Origin": "http://tagloop.local:8080"},
    "own_page_fetch_metadata": {"Sec-Fetch-Site": "same-origin", "Origin": "http://other:1"},
    "typed_by_the_user": {"Sec-Fetch-Site": "none"},
    "allowed_origin": {"Origin": "https://proxy.example.org"},
    "allowed_origin_default_port": {"Origin": "https://proxy.example.org:443"},
}
REFUSED = {
    "other_site": {"Origin": "http://evil.example"},
    "other_port": {"Origin": "http://tagloop.local:9999"},
    "null_origin": {"Origin": "null"},
    "cross_site_fetch": {"Sec-Fetch-Site": "cross-site"},
    "same_site_other_origin": {"Sec-Fetch-Site": "same-site"},
    "fetch_metadata_wins_over_origin": {
        "Sec-Fetch-Site": "cross-site",
        "Origin": "http://tagloop.local:8080",
    },
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_state_change_allowed_from_own_page_and_scripts(client: TestClient, case: str) -> None:
    assert client.post("/change", json={}, headers=ALLOWED[case]).status_code == 200


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_state_change_from_another_site_is_403(client: TestClient, case: str) -> None:
    reply = client.post("/change", json={}, headers=REFUSED[case])
    assert reply.status_code == 403
    assert reply.json()["code"] == "cross_site_request" and reply.json()["success"] is False


def test_reads_are_never_refused(client: TestClient) -> None:
    assert client.get("/read", headers={"Origin": "http://evil.example"}).status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_json_route_refuses_other_bodies(client: TestClient, content_type: str) -> None:
    reply = client.post("/change", content=b"{}", headers={"Content-Type": content_type})
    assert reply.status_code == 415 and reply.json()["code"] == "json_required"


def test_json_route_takes_json_and_no_body(client: TestClient) -> None:
    assert client.post(
        "/change", content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
    ).is_success
    assert client.post("/change").is_success


def test_form_route_takes_multipart(client: TestClient) -> None:
    assert client.post("/upload", files={"f": ("a.txt", b"x")}).status_code == 200
