"""docker-compose.yml run for real: the Docker engine, the local base images, one project.

Docker Hub may be out of reach (it is on the machines that build tagloop), so the base
images are local equivalents made by scripts/container-images from a debootstrapped
Debian; the compose file is the users' one, with those images chosen by its variables.
"""

import json
import os
import shlex
import subprocess
from pathlib import Path

from tests.support.stack import REPO
from tests.support.waiting import wait_until

COMPOSE_FILE = REPO / "docker-compose.yml"
SERVICES = ("redis", "inference", "training-api", "worker", "gateway")
DOCKERD = [
    "dockerd",
    "--iptables=false",
    "--ip-masq=false",
    "--bridge=none",
    "--storage-driver=overlay2",
]


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_engine(log: Path, timeout: float = 60) -> subprocess.Popen:
    """dockerd as the tests need it: no iptables rules, no default bridge (compose makes
    its own network), published ports through docker-proxy."""
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            DOCKERD, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited:\n{log.read_text(errors='replace')[-3000:]}")
        return engine_answers()

    try:
        wait_until(answers, timeout=timeout, interval=0.5, what="dockerd answers", error=RuntimeError)
    except RuntimeError:
        stop_engine(proc)
        raise
    return proc


def stop_engine(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def local_base_images() -> dict[str, str]:
    """Builds (or finds cached) the local base images and the wheelhouse; their variables."""
    result = subprocess.run(
        [str(REPO / "scripts/container-images")], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    words = shlex.split(result.stdout.strip().splitlines()[-1])
    assert words[0] == "export", result.stdout
    return dict(word.split("=", 1) for word in words[1:])


class ComposeProject:
    """One `docker-compose -p NAME` project of the repo's compose file."""

    def __init__(self, name: str, variables: dict[str, str]):
        self.name = name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
        self.env.update(variables)
        address = variables.get("TAGLOOP_GATEWAY_ADDRESS", "127.0.0.1")
        self.url = f"http://{address}:{variables.get('TAGLOOP_GATEWAY_PORT', '8080')}"

    def compose(self, *args: str, timeout: float = 900) -> str:
        command = ["docker-compose", "--no-ansi", "-p", self.name, "-f", str(COMPOSE_FILE), *args]
        result = subprocess.run(
            command, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result.stdout

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-q", service, timeout=60).split()
        assert len(ids) == 1, f"{service}: containers {ids}"
        return ids[0]

    def state(self, service: str) -> dict:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.container(service)))

    def health(self) -> dict[str, str]:
        """Each service's health as Docker's healthcheck sees it (or its state)."""
        states = {service: self.state(service) for service in SERVICES}
        return {s: st.get("Health", {}).get("Status") or st["Status"] for s, st in states.items()}

    def wait_healthy(self, timeout: float = 300) -> dict[str, str]:
        health: dict[str, str] = {}

        def all_healthy() -> dict[str, str] | None:
            nonlocal health
            health = self.health()
            return health if all(status == "healthy" for status in health.values()) else None

        return wait_until(
            all_healthy,
            timeout=timeout,
            interval=1,
            what=lambda: f"every service healthy: {health}\n{self.logs()}",
            error=TimeoutError,
        )

    def logs(self, lines: int = 40) -> str:
        try:
            return self.compose("logs", "--no-color", f"--tail={lines}", timeout=60)
        except RuntimeError as error:
            return str(error)

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes of this project still present: must be none."""
        label = f"label=com.docker.compose.project={self.name}"
        found = {
            "container": docker("ps", "-aq", "--filter", label).split(),
            "network": docker("network", "ls", "-q", "--filter", label).split(),
            "volume": docker("volume", "ls", "-q", "--filter", label).split(),
        }
        return [f"{kind} {ident}" for kind, idents in found.items() for ident in idents]


def image_size_mb(image: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image)) / 1e6


def memory_usage(container: str) -> str:
    return docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).split(" / ")[0]
