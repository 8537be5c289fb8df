"""The training API's own limits (issue 22): bodies bounded before they are parsed, on its
own port as through the gateway, and the model import refused before its body is read when
the admin token is missing.

Decisions (also in docs/SECURITY.md): every route but the import takes at most
TAGLOOP_MAX_JSON_BYTES (8 MiB) of body, counted before any parser runs (a declared
Content-Length at once, a chunked body while it streams): 413 `too_large`; the import has
TAGLOOP_MAX_IMPORT_BYTES; the gateway asks the training API whether the caller may import
(auth_request) before it reads the upload.
"""

import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tagloop.uploads import UploadStore

from tests.support.probes import json_body, memory_kib, peak_growth
from tests.support.stack import Stack, running_stack
from tests.support.stack_checks import assert_json_error
from tests.support.testfiles import crafted_keras, keras_config, noise_jpeg, unique_seed
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TOKEN = "s3cret-token-for-limits"
JSON = {"Content-Type": "application/json"}


def big_json(size: int) -> bytes:
    """A valid JSON session of about `size` bytes: one long name (what a parser holds whole)."""
    return b'{"name": "' + b"a" * size + b'"}'


@pytest.fixture(scope="module")
def token_stack(tmp_path_factory: pytest.TempPathFactory, v1_model_dir: Path) -> Iterator[Stack]:
    """A system with an admin token (imports need it)."""
    env = {"TAGLOOP_ADMIN_TOKEN": TOKEN}
    with running_stack(tmp_path_factory.mktemp("limits"), v1_model_dir, env) as system:
        yield system


def test_64_mb_json_to_the_training_port_is_refused_before_parsing(token_stack: Stack, record) -> None:
    """64 MB of JSON straight to the training API: 413 `too_large`, its memory does not move."""
    body = big_json(64 * MIB)
    pid = token_stack.processes["training"].pid
    with httpx.Client(base_url=token_stack.training_url, timeout=120) as api:
        reply, grew_mib, seconds = peak_growth(pid, lambda: api.post("/sessions", content=body, headers=JSON))
    assert_json_error(reply, 413, "larger than 8 MiB")
    assert reply.json()["code"] == "too_large"
    assert grew_mib < 16, f"the training API's peak grew {grew_mib:.0f} MiB"
    record(
        "413 too_large",
        peak_growth_mib=round(grew_mib, 1),
        seconds=round(seconds, 3),
        before_the_fix="+2.6 GB",
    )


def test_64_mb_chunked_json_to_the_training_port_is_cut_off(token_stack: Stack, record) -> None:
    """The same body without a Content-Length (chunked): counted while it streams, 413."""

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(64):
            yield b"a" * MIB
        yield b'"}'

    pid = token_stack.processes["training"].pid
    with httpx.Client(base_url=token_stack.training_url, timeout=120) as api:
        reply, grew_mib, _ = peak_growth(pid, lambda: api.post("/sessions", content=chunks(), headers=JSON))
    assert_json_error(reply, 413, "larger than 8 MiB")
    assert grew_mib < 32, f"the training API's peak grew {grew_mib:.0f} MiB"
    record("413 too_large", peak_growth_mib=round(grew_mib, 1))


def test_16_mb_json_through_the_gateway_is_refused(token_stack: Stack, record) -> None:
    """Over the training API's 8 MiB: the gateway, which has the same limit for its routes,
    answers 413 itself (a service refusing mid-upload would read as a reset, 503)."""
    pid = token_stack.processes["training"].pid
    with httpx.Client(base_url=token_stack.url, timeout=120) as gateway:
        reply, grew_mib, _ = peak_growth(
            pid, lambda: gateway.post("/sessions", content=big_json(15 * MIB), headers=JSON)
        )
    assert_json_error(reply, 413, "8388608 bytes")
    assert reply.json()["code"] == "too_large"
    assert grew_mib < 16, f"the training API's peak grew {grew_mib:.0f} MiB"
    record("413", peak_growth_mib=round(grew_mib, 1), before_the_fix="+1.3 GB")


def test_import_without_token_is_refused_before_the_body_is_sent(token_stack: Stack, record) -> None:
    """Headers announcing a 300 MB model and no body at all: the gateway answers 401 at once."""
    head = (
        "POST /models/import HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{token_stack.ports['gateway']}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {300 * MIB}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", token_stack.ports["gateway"]), timeout=30) as conn:
        conn.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line.split()[1] == b"401", reply[:300]
    assert b"application/json" in headers.lower(), headers
    error = json_body(body)
    assert error["code"] == "not_authorized" and "admin token" in error["error"]
    record(f"401 {error['code']} with no byte of the body sent", before_the_fix="401 after 300 MB spooled")


def test_import_without_token_to_the_training_port_is_refused_before_the_body(token_stack: Stack) -> None:
    """The training API itself answers 401 from the headers of a 300 MB import, no body sent."""
    head = (
        "POST /models/import HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{token_stack.ports['training']}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {300 * MIB}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", token_stack.ports["training"]), timeout=30) as conn:
        conn.sendall(head.encode())
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line.split()[1] == b"401", reply[:300]
    assert b"www-authenticate: bearer" in headers.lower(), headers
    assert json_body(body)["code"] == "not_authorized"


def test_import_with_wrong_token_is_refused_and_with_token_allowed(token_stack: Stack) -> None:
    with httpx.Client(base_url=token_stack.url, timeout=60) as gateway:
        wrong = gateway.post(
            "/models/import", files={"file": ("m.keras", b"x")}, headers={"Authorization": "Bearer wrong"}
        )
        assert_json_error(wrong, 401, "admin token")
        right = gateway.post(
            "/models/import",
            files={"file": ("m.keras", b"not a zip")},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        # Past the gateway's check, the training API looks at the file itself.
        assert_json_error(right, 422)
        assert right.json()["code"] == "import_refused"


def test_repredict_session_of_large_photos(token_stack: Stack, record) -> None:
    """Six ordinary 2.9 MB photos: more than inference's 16 MiB in one call, so re-predict
    sends them in calls under it (the review's case was a 503 "request body is larger")."""
    with httpx.Client(base_url=token_stack.url, timeout=300) as gateway:
        items = []
        for i in range(6):
            photo = noise_jpeg(seed=unique_seed())
            assert len(photo) > 2.7 * MIB
            reply = gateway.post("/predict", files={"file": (f"big{i}.jpg", photo, "image/jpeg")})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            items.append({"image_id": body["image_id"], "filename": f"big{i}.jpg", "scores": body["scores"]})
        created = gateway.post("/sessions", json={"name": "large photos", "items": items})
        assert created.status_code == 201, created.text
        session_id = created.json()["session"]["id"]
        started = gateway.post(f"/sessions/{session_id}/repredict", json={})
        assert started.status_code == 202, started.text
        assert started.json()["state"] in ("running", "finished")
        path = f"/sessions/{session_id}/repredict"
        run = wait_until(
            lambda: (body := gateway.get(path).json())["state"] != "running" and body,
            timeout=240,
            what="the re-prediction to end",
        )
    assert run["state"] == "finished", run
    assert run["done"] == run["total"] == 6
    record("finished, 6 repredicted", total_mb=round(6 * len(photo) / MIB, 1), before_the_fix="503")


def test_voc_export_of_500_photos_streams_with_flat_memory(
    token_stack: Stack, tmp_path: Path, record
) -> None:
    """500 corrected photos (about 68 MiB): the zip is written in chunks as it is sent, so the
    training API's peak stays far under the photos' size; the download is a valid zip."""
    uploads = UploadStore(token_stack.data_dir / "uploads")
    total = 0
    with httpx.Client(base_url=token_stack.url, timeout=120) as gateway:
        for i in range(500):
            photo = noise_jpeg(seed=unique_seed(), size=(400, 300), quality=95)
            total += len(photo)
            image_id = uploads.put(photo, f"export{i}.jpg")  # as /predict stores it, without the model
            saved = gateway.post("/save_correction", json={"image_id": image_id, "corrected_labels": ["cat"]})
            assert saved.status_code == 200, saved.text
        target = tmp_path / "export.zip"

        def download() -> int:
            with (
                gateway.stream("GET", "/export", params={"format": "voc"}) as reply,
                open(target, "wb") as out,
            ):
                assert reply.status_code == 200, reply.read()[:300]
                for chunk in reply.iter_bytes():
                    out.write(chunk)
            return target.stat().st_size

        size, grew_mib, seconds = peak_growth(token_stack.processes["training"].pid, download)
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert len([n for n in archive.namelist() if "/JPEGImages/" in n]) >= 500
    assert grew_mib < 0.25 * total / MIB, f"peak +{grew_mib:.0f} MiB for {total / MIB:.0f} MiB of photos"
    record(
        "valid zip, streamed",
        photos_mib=round(total / MIB, 1),
        zip_mib=round(size / MIB, 1),
        peak_growth_mib=round(grew_mib, 1),
        seconds=round(seconds, 2),
    )


HOSTILE_MODELS = {
    # The review's two: a 480 MiB member padded with zeros, and one Dense layer of 400 GB.
    "padded_member_480_mib": (dict(inputs=1280, units=20), 480, "model.weights.h5"),
    "config_declares_huge_dense": (dict(inputs=100_000, units=1_000_000), 0, "declare weights"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MODELS))
def test_hostile_keras_is_refused_before_loading(
    token_stack: Stack, tmp_path: Path, record, case: str
) -> None:
    """422 `import_refused` from the training API's check; the worker never loads it."""
    shape, padding_mib, words = HOSTILE_MODELS[case]
    model = crafted_keras(tmp_path / f"{case}.keras", config=keras_config(**shape), weights_mib=padding_mib)
    worker = token_stack.processes["worker"].pid
    worker_before = memory_kib(worker)["VmRSS"]
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=token_stack.url, timeout=120) as gateway:
        versions = [v["version"] for v in gateway.get("/models").json()["versions"]]
        reply, grew_mib, seconds = peak_growth(
            token_stack.processes["training"].pid,
            lambda: gateway.post(
                "/models/import", files={"file": (model.name, model.read_bytes())}, headers=admin
            ),
        )
        assert_json_error(reply, 422, words)
        assert reply.json()["code"] == "import_refused"
        assert [v["version"] for v in gateway.get("/models").json()["versions"]] == versions
    worker_grew_mib = (memory_kib(worker)["VmRSS"] - worker_before) / 1024
    assert worker_grew_mib < 512 and grew_mib < 64, (worker_grew_mib, grew_mib)
    record(
        reply.json()["error"][:160],
        file_kb=model.stat().st_size // 1024,
        api_peak_growth_mib=round(grew_mib, 1),
        worker_growth_mib=round(worker_grew_mib, 1),
        seconds=round(seconds, 3),
        before_the_fix="accepted, worker +955 MB" if padding_mib else "worker +3.4 to +6.0 GB",
    )
