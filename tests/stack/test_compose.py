"""`docker-compose up` for real: the five containers built, started and used as users would.

One compose project (a unique name, the gateway on a free port) for the module, built
with the local base images (tests/support/compose.py); the tests run in order on it, and
teardown proves `docker-compose down -v` leaves no container, network or volume behind.
Figures (build time, time to healthy, image sizes, memory) go to the terminal.
"""

import fcntl
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from skimage import data as skdata

from tests.support.compose import (
    SERVICES,
    ComposeProject,
    docker,
    engine_answers,
    image_size_mb,
    local_base_images,
    memory_usage,
    start_engine,
    stop_engine,
)
from tests.support.images import jpeg_bytes
from tests.support.stack import free_port
from tests.support.stack_checks import predict_photo as predict
from tests.support.stack_checks import wait_job
from tests.support.training import CONTRADICTING, image_bytes
from tests.support.waiting import wait_until

# The first test's time includes the module's setup: a cold build takes minutes.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]
# One compose test at a time on a machine: runs from several checkouts share the engine
# (the one that started dockerd stops it) and the images' tag.
LOCK = Path("/tmp/tagloop-compose-test.lock")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Docker engine: the running one, or a dockerd started here and stopped after."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if engine_answers():
            yield
            return
        if os.geteuid() != 0:
            pytest.fail(
                "no Docker engine answers, and starting dockerd needs root: run as root or start Docker"
            )
        proc = start_engine(tmp_path_factory.mktemp("dockerd") / "dockerd.log")
        try:
            yield
        finally:
            stop_engine(proc)


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest):
    """Prints a figure to the terminal, past pytest's capture (the run's log keeps it)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n[compose] {line}", flush=True)

    return write


@pytest.fixture(scope="module")
def project(engine: None, report) -> Iterator[ComposeProject]:
    started = time.monotonic()
    variables = local_base_images()
    report(f"local base images and wheelhouse ready in {time.monotonic() - started:.0f} s: {variables}")
    port = free_port()
    variables |= {
        "TAGLOOP_GATEWAY_ADDRESS": "127.0.0.1",
        "TAGLOOP_GATEWAY_PORT": str(port),
        "TAGLOOP_IMAGE_TAG": "test",
        "TAGLOOP_REDIS_PASSWORD": uuid.uuid4().hex,
    }
    compose = ComposeProject(f"tagloop-test-{uuid.uuid4().hex[:8]}", variables)
    try:
        started = time.monotonic()
        compose.compose("build")
        built = time.monotonic()
        # What users type; the images are built by now, so this build only checks.
        compose.compose("up", "-d", "--build")
        compose.wait_healthy()
        healthy = time.monotonic() - built
        report(f"docker-compose build {built - started:.0f} s; up -d --build until healthy {healthy:.0f} s")
        yield compose
    finally:
        compose.compose("down", "-v", "--remove-orphans", "--timeout", "20")
        # The images stay (the next run's build cache); the previous build's are pruned.
        docker("image", "prune", "-f", "--filter", "label=tagloop.image")
    leftovers = compose.leftovers()
    assert not leftovers, f"docker-compose down -v left {leftovers}"


@pytest.fixture
def gateway(project: ComposeProject) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=project.url, timeout=30) as client:
        yield client


def wait_served(client: httpx.Client, version: int, timeout: float = 60) -> None:
    def served() -> bool:
        return client.get("/health/inference").json().get("model_version") == version

    wait_until(served, timeout=timeout, interval=0.2, what=f"inference serves version {version}")


def correct(client: httpx.Client, images: list[bytes], labels: list[list[str]], tag: str) -> None:
    for i, (data, wanted) in enumerate(zip(images, labels, strict=True)):
        reply = predict(client, data, f"{tag}{i}.jpg")
        saved = client.post(
            "/save_correction", json={"image_id": reply["image_id"], "corrected_labels": wanted}
        )
        assert saved.status_code == 200, saved.text


def test_the_five_services_are_healthy(project: ComposeProject, report) -> None:
    assert project.health() == dict.fromkeys(SERVICES, "healthy")
    for service in ("inference", "training-api", "worker"):
        user = docker("exec", project.container(service), "id", "-u")
        assert user != "0", f"{service} runs as root"
    inference_image = docker("inspect", "--format", "{{.Config.Image}}", project.container("inference"))
    training_image = docker("inspect", "--format", "{{.Config.Image}}", project.container("training-api"))
    no_tf = "import importlib.util as u; print(u.find_spec('tensorflow') is None)"
    assert docker("run", "--rm", inference_image, "python", "-c", no_tf) == "True"
    report(
        f"image sizes: inference {image_size_mb(inference_image):.0f} MB, "
        f"training {image_size_mb(training_image):.0f} MB; memory: "
        + ", ".join(f"{s} {memory_usage(project.container(s))}" for s in SERVICES)
    )


def test_gateway_serves_the_ui(gateway: httpx.Client) -> None:
    reply = gateway.get("/")
    assert reply.status_code == 200
    assert "text/html" in reply.headers["content-type"]
    assert "<script" in reply.text


def test_each_health_answers(gateway: httpx.Client) -> None:
    system = gateway.get("/health")
    assert system.status_code == 200, system.text
    parts = system.json()["parts"]
    assert all(parts[p]["ok"] for p in ("inference", "training_api", "redis", "workers")), parts
    inference = gateway.get("/health/inference").json()
    assert inference["ready"] is True and inference["model_version"] == 1
    training = gateway.get("/health/training").json()
    assert training["redis"] is True and training["database"] is True


def test_a_photo_is_predicted_through_the_gateway(gateway: httpx.Client) -> None:
    body = predict(gateway, jpeg_bytes(skdata.chelsea()), "chelsea.jpg")
    assert body["model_version"] == 1
    assert body["predictions"][0]["label"] == "cat", body["predictions"]


def test_retrain_publishes_version_2_and_inference_serves_it(gateway: httpx.Client) -> None:
    images = image_bytes(8)
    correct(gateway, images, CONTRADICTING, "loop")
    accepted = gateway.post("/retrain", json={})
    assert accepted.status_code == 202, accepted.text
    job = wait_job(gateway, accepted.json()["job_id"], timeout=300)
    assert job["status"] == "finished", job
    assert job["result"]["version"] == 2 and job["result"]["promoted"] is True, job["result"]
    # Published by the worker's container into the models volume, loaded by inference's.
    wait_served(gateway, 2)
    assert predict(gateway, images[0], "loop0.jpg")["model_version"] == 2


def test_down_and_up_keep_corrections_and_versions(project: ComposeProject, gateway: httpx.Client) -> None:
    project.compose("down", "--timeout", "20")
    project.compose("up", "-d")
    project.wait_healthy()
    assert gateway.get("/get_corrections").json()["total"] == len(CONTRADICTING)
    models = gateway.get("/models").json()
    assert sorted(v["version"] for v in models["versions"]) == [1, 2] and models["active"] == 2
    wait_served(gateway, 2)


def crash(project: ComposeProject, service: str) -> int:
    """SIGKILL the service's main process from the host, as a crash or the OOM killer would
    (`docker kill` is an explicit stop, which no restart policy undoes); returns the
    container's restart count before."""
    container = project.container(service)
    restarts = int(docker("inspect", "--format", "{{.RestartCount}}", container))
    os.kill(project.state(service)["Pid"], signal.SIGKILL)
    return restarts


def wait_restarted(project: ComposeProject, service: str, restarts: int) -> None:
    """The container of `service` restarted by itself (restart: unless-stopped), healthy again."""
    container = project.container(service)

    def restarted() -> bool:
        return int(docker("inspect", "--format", "{{.RestartCount}}", container)) > restarts

    wait_until(restarted, timeout=60, interval=0.5, what=f"{service} restarted by Docker")
    project.wait_healthy()


def test_crashed_worker_fails_its_job_comes_back_by_itself_and_takes_the_next(
    project: ComposeProject, gateway: httpx.Client
) -> None:
    images = image_bytes(16)[8:]  # new images: the job has features to compute
    correct(gateway, images, [[*list(reversed(c))[:1], "sheep"] for c in CONTRADICTING], "kill")
    job_id = gateway.post("/retrain", json={}).json()["job_id"]

    def started() -> bool:
        return gateway.get(f"/jobs/{job_id}").json()["status"] == "started"

    wait_until(started, timeout=60, interval=0.1, what="the retrain started on the worker")
    restarts = crash(project, "worker")
    job = wait_job(gateway, job_id, timeout=90)
    assert job["status"] == "failed", job
    assert "worker stopped" in job["error"]
    wait_restarted(project, "worker", restarts)  # nobody started it
    second = gateway.post("/retrain", json={}).json()
    assert second["job_id"] != job_id
    job = wait_job(gateway, second["job_id"], timeout=300)
    assert job["status"] == "finished", job
    wait_served(gateway, job["result"]["version"])


def test_crashed_inference_comes_back_by_itself_and_predicts(
    project: ComposeProject, gateway: httpx.Client
) -> None:
    version = gateway.get("/health/inference").json()["model_version"]
    wait_restarted(project, "inference", crash(project, "inference"))
    wait_served(gateway, version)
    assert predict(gateway, jpeg_bytes(skdata.chelsea()), "chelsea.jpg")["model_version"] == version
