"""Safe by default, through the gateway: who can reach it, what a web page can make it do,
and that every answer of the gateway itself is JSON (issue 13's review, case by case).

Decisions (also in docs/SECURITY.md): without an admin token the gateway listens on
127.0.0.1 only, and TAGLOOP_BIND opens it only together with a token; a state-changing
request from another site (Origin / Sec-Fetch-Site) is refused with 403 whether or not a
token is set; JSON routes take application/json only (415); nginx's workers are not root;
Redis answers nobody without its password.
"""

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.probes import child_pids, json_body, raw_request, uid_of
from tests.support.stack import REPO, Stack
from tests.support.stack_checks import assert_json_error, upload_files
from tests.support.testfiles import photo_jpeg, photo_png, unique_seed

pytestmark = pytest.mark.integration

EVIL = "http://evil.example"


def outward_address() -> str | None:
    """This machine's address on its network, if it has one (UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_gateway_without_token_listens_on_loopback_only(stack: Stack, record) -> None:
    """No admin token: the gateway answers on 127.0.0.1 and not on the machine's own address."""
    conf = (Path(stack.env["TAGLOOP_RUN_DIR"]) / "nginx" / "tagloop.conf").read_text()
    assert f"listen 127.0.0.1:{stack.ports['gateway']};" in conf
    assert httpx.get(f"{stack.url}/health/inference", timeout=10).status_code == 200
    address = outward_address()
    if address is not None:
        with socket.socket() as conn:
            conn.settimeout(2)
            assert conn.connect_ex((address, stack.ports["gateway"])) != 0, f"open on {address}"
    record(f"listen 127.0.0.1 only; refused on {address or 'no outward address'}")


def render(run_dir: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
    return subprocess.run(
        [sys.executable, str(REPO / "gateway" / "render.py")],
        env={**clean, "TAGLOOP_RUN_DIR": str(run_dir), "TAGLOOP_GATEWAY_PORT": "18080", **env},
        cwd=run_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gateway_refuses_to_open_beyond_loopback_without_a_token(tmp_path: Path, record) -> None:
    """TAGLOOP_BIND=0.0.0.0 without TAGLOOP_ADMIN_TOKEN: the gateway does not start, and says why."""
    refused = render(tmp_path, TAGLOOP_BIND="0.0.0.0")
    assert refused.returncode != 0
    assert "TAGLOOP_ADMIN_TOKEN" in refused.stderr and "0.0.0.0" in refused.stderr
    assert not (tmp_path / "nginx" / "tagloop.conf").exists()
    opened = render(tmp_path, TAGLOOP_BIND="0.0.0.0", TAGLOOP_ADMIN_TOKEN="s3cret-token")
    assert opened.returncode == 0, opened.stderr
    assert "listen 0.0.0.0:18080;" in (tmp_path / "nginx" / "tagloop.conf").read_text()
    _remove_worker_dir(tmp_path)
    record(refused.stderr.strip().splitlines()[-1][:160])


def _remove_worker_dir(run_dir: Path) -> None:
    record = run_dir / "nginx" / "worker-dir"
    if record.exists():
        subprocess.run(["rm", "-rf", record.read_text().strip()], check=True)


def test_nginx_workers_are_not_root(stack: Stack, record) -> None:
    """Started as root, nginx's workers run as an unprivileged user and can still take big bodies."""
    master = stack.processes["gateway"].pid
    workers = child_pids(master)
    assert workers, "nginx has no worker processes"
    if uid_of(master) == 0:
        assert all(uid_of(pid) != 0 for pid in workers), "an nginx worker runs as root"
    # A body over client_body_buffer_size (1 MB) goes to the workers' temp folder.
    big = photo_png(seed=unique_seed(), size=(800, 600))  # noise: 1.4 MB whatever the seed
    assert len(big) > 1024 * 1024
    reply = httpx.post(f"{stack.url}/predict", files={"file": ("big.png", big, "image/png")}, timeout=60)
    assert reply.status_code == 200, reply.text
    record(f"master uid {uid_of(master)}, workers uid {sorted({uid_of(p) for p in workers})}")


CROSS_SITE = {
    "form_post_rolls_back_model": ("/models/1/activate", {"Origin": EVIL}),
    "retrain_from_another_site": ("/retrain", {"Sec-Fetch-Site": "cross-site"}),
    "correction_from_same_site_other_origin": ("/save_correction", {"Sec-Fetch-Site": "same-site"}),
    "predict_from_another_site": ("/predict", {"Origin": EVIL}),
    "null_origin": ("/models/1/activate", {"Origin": "null"}),
}


@pytest.mark.parametrize("case", sorted(CROSS_SITE))
def test_state_changing_request_from_another_site_is_refused(
    stack: Stack, gateway: httpx.Client, record, case: str
) -> None:
    """The review's curl (a form POST with Origin: evil.example) and its relatives get 403."""
    path, headers = CROSS_SITE[case]
    before = upload_files(stack)
    reply = gateway.post(
        path,
        content=b"",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_json_error(reply, 403, "another web site")
    assert reply.json()["code"] == "cross_site_request"
    assert upload_files(stack) == before
    record(f"{reply.status_code} {reply.json()['code']}")


def test_same_origin_page_still_changes_state(stack: Stack, gateway: httpx.Client) -> None:
    """tagloop's own page (Origin = the gateway, Sec-Fetch-Site: same-origin) is served."""
    headers = {"Origin": stack.url, "Sec-Fetch-Site": "same-origin"}
    reply = gateway.post("/models/1/activate", json={}, headers=headers)
    assert reply.status_code == 200, reply.text
    upload = ("same.jpg", photo_jpeg(seed=unique_seed()), "image/jpeg")
    assert gateway.post("/predict", files={"file": upload}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/save_correction", "application/x-www-form-urlencoded"),
        ("/save_correction", "text/plain"),
        ("/retrain", "multipart/form-data; boundary=x"),
        ("/models/1/activate", "text/plain"),
    ],
)
def test_json_routes_take_json_only(gateway: httpx.Client, path: str, content_type: str) -> None:
    """A body that is not application/json gets 415 (HTML forms cannot send JSON)."""
    reply = gateway.post(path, content=b'{"corrected_labels": []}', headers={"Content-Type": content_type})
    assert_json_error(reply, 415, "JSON")
    assert reply.json()["code"] == "json_required"


LONG = "a" * 20_000
GATEWAY_ERRORS = {
    "uri_too_long_414": (f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "headers_too_large": (f"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {LONG}\r\n\r\n", 400),
    "unknown_transfer_coding_501": (
        "POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
    "http_version_505": ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "trace": ("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    "connect": ("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", (400, 405)),
    "post_to_static_file": ("POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 405),
    "delete_static_file": ("DELETE /js/app.js HTTP/1.1\r\nHost: localhost\r\n\r\n", 405),
    "folder_without_slash_301": ("GET /js HTTP/1.1\r\nHost: localhost\r\n\r\n", 301),
    "folder_listing_403": ("GET /js/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 403),
    "precondition_412": ('GET /index.html HTTP/1.1\r\nHost: localhost\r\nIf-Match: "x"\r\n\r\n', 412),
    "range_416": ("GET /index.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=99999999-\r\n\r\n", 416),
    "put_static_file": ("PUT /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi", 405),
}


@pytest.mark.parametrize("case", sorted(GATEWAY_ERRORS))
def test_every_gateway_error_is_json(stack: Stack, record, case: str) -> None:
    """414, oversize headers, 501, 505, TRACE/CONNECT, writes to static files, 301, 403, 412
    and 416: JSON, not HTML."""
    request, expected = GATEWAY_ERRORS[case]
    closing = request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
    status, headers, body = raw_request(stack.ports["gateway"], closing.encode())
    statuses = expected if isinstance(expected, tuple) else (expected,)
    assert status in statuses, (status, body[:200])
    assert headers.get("content-type", "").startswith("application/json"), (headers, body[:200])
    reply = json_body(body)
    assert reply["success"] is False and reply["error"] and reply.get("code")
    if status == 301:  # a path, never a Location built from the Host header
        assert headers["location"] == "/js/", headers
    record(f"{status} {reply['code']}")


REBOUND = "rebind.example:8080"
ROUTE_FAMILIES = {
    "ui_page": ("GET", "/index.html"),
    "ui_script": ("GET", "/js/app.js"),
    "folder_redirect": ("GET", "/js"),
    "predict": ("POST", "/predict"),
    "batch_predict": ("POST", "/batch_predict"),
    "activate": ("POST", "/models/1/activate"),
    "models_import": ("POST", "/models/import"),
    "models": ("GET", "/models"),
    "corrections": ("GET", "/corrections"),
    "save_correction": ("POST", "/save_correction"),
    "retrain": ("POST", "/retrain"),
    "jobs": ("GET", "/jobs/x"),
    "images": ("GET", "/images/x"),
    "sessions": ("POST", "/sessions"),
    "export": ("GET", "/export?format=csv"),
    "health": ("GET", "/health"),
    "health_inference": ("GET", "/health/inference"),
    "health_training": ("GET", "/health/training"),
    "unknown_path": ("GET", "/nothing-here"),
}


@pytest.mark.parametrize("family", sorted(ROUTE_FAMILIES))
def test_foreign_host_is_refused_on_every_route(stack: Stack, gateway: httpx.Client, family: str) -> None:
    """DNS rebinding: Host and Origin both a foreign name (the page's own origin) get 421 JSON."""
    method, path = ROUTE_FAMILIES[family]
    headers = {"Host": REBOUND, "Origin": f"http://{REBOUND}", "Sec-Fetch-Site": "same-origin"}
    before = upload_files(stack)
    reply = gateway.request(method, path, json={} if method == "POST" else None, headers=headers)
    assert_json_error(reply, 421, "host")
    assert reply.json()["code"] == "unknown_host"
    assert "location" not in reply.headers
    assert upload_files(stack) == before


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}", "[::1]:{port}"])
def test_loopback_host_names_are_served(stack: Stack, gateway: httpx.Client, host: str) -> None:
    """The names a browser on this machine uses, any case, with or without the port."""
    reply = gateway.get("/health/training", headers={"Host": host.format(port=stack.ports["gateway"])})
    assert reply.status_code == 200, reply.text


def test_public_hosts_are_rendered_into_the_allowlist(tmp_path: Path, record) -> None:
    """TAGLOOP_PUBLIC_HOSTS (any case, spaces) and a LAN TAGLOOP_BIND join the served names."""
    rendered = render(
        tmp_path,
        TAGLOOP_PUBLIC_HOSTS=" Tagloop.Example.org, ,lab.local ",
        TAGLOOP_BIND="192.168.7.20",
        TAGLOOP_ADMIN_TOKEN="s3cret-token",
    )
    assert rendered.returncode == 0, rendered.stderr
    conf = (tmp_path / "nginx" / "tagloop.conf").read_text()
    _remove_worker_dir(tmp_path)
    line = next(line for line in conf.splitlines() if line.startswith('map "$host;'))
    assert ',[::1],tagloop.example.org,lab.local,192.168.7.20,"' in line, line
    record(line)


def test_redis_answers_nobody_without_its_password(stack: Stack, record) -> None:
    """Redis has a password, generated into the data dir on first start, readable by its owner only."""
    password_file = stack.data_dir / "redis" / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    anonymous = redis.Redis(host="127.0.0.1", port=stack.ports["redis"], socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=stack.ports["redis"], password="wrong", socket_timeout=5).ping()
    assert redis.Redis.from_url(stack.redis_url, socket_timeout=5).ping()
    record("NOAUTH without the password; the services use the generated one")
