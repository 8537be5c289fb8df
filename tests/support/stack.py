"""The real system for integration tests: every process of the Procfile, on free ports.

The commands come from the repo's Procfile, so the tests start exactly what `make run`
starts. Each process runs in its own session (process group) so that it and its
children can be stopped together, and `stop_all` proves nothing is left behind.
"""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from tagloop.redis_auth import ensure_password

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "voc"
_random = random.Random()  # its own: tests that seed the global one must not pick the same ports


def free_port() -> int:
    return free_consecutive_ports(1)


def free_consecutive_ports(count: int) -> int:
    """The first of `count` consecutive ports that can be listened on (inference replicas
    listen on such).

    Taken outside the kernel's ephemeral range: a port the kernel hands out (bind to 0) can
    become an outgoing connection's local port before the service binds it, and then the
    service's bind fails ("address already in use": seen on a loaded CI run).
    """
    low, high = ephemeral_range()
    choices = range(10_000, low - count) if low - count > 10_000 else range(high + 1, 65_536 - count)
    while True:
        first = _random.choice(choices)
        if all(can_listen(first + i) for i in range(count)):
            return first


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def can_listen(port: int) -> bool:
    """Whether a server could listen on `port` now (servers set SO_REUSEADDR, so do we)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


class Stack:
    """Starts, kills and restarts the processes of the Procfile with a private environment."""

    def __init__(
        self,
        *,
        workdir: Path,
        models_dir: Path,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        replicas: int = 1,
        workers: int = 1,
    ):
        self.workdir = workdir
        self.models_dir = models_dir
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in ("gateway", "training", "redis")}
        self.ports["inference"] = free_consecutive_ports(replicas)
        self.ports.update({f"inference.{i}": self.ports["inference"] + i - 1 for i in range(2, replicas + 1)})
        # As honcho names the copies of a process: the first keeps the plain name.
        self.names = [
            "redis",
            *instances("inference", replicas),
            "training",
            *instances("worker", workers),
            "gateway",
        ]
        self.replica_urls = [f"http://127.0.0.1:{self.ports['inference'] + i}" for i in range(replicas)]
        self.url = f"http://127.0.0.1:{self.ports['gateway']}"
        self.inference_url = f"http://127.0.0.1:{self.ports['inference']}"
        self.training_url = f"http://127.0.0.1:{self.ports['training']}"
        self.redis_address = f"redis://127.0.0.1:{self.ports['redis']}/0"
        self.env = {
            "TAGLOOP_GATEWAY_PORT": str(self.ports["gateway"]),
            "TAGLOOP_INFERENCE_PORT": str(self.ports["inference"]),
            "TAGLOOP_INFERENCE_REPLICAS": str(replicas),
            "TAGLOOP_TRAINING_PORT": str(self.ports["training"]),
            "TAGLOOP_REDIS_PORT": str(self.ports["redis"]),
            "TAGLOOP_REDIS_URL": self.redis_address,
            "TAGLOOP_INFERENCE_URL": self.inference_url,
            "TAGLOOP_MODELS_DIR": str(models_dir),
            "TAGLOOP_DATA_DIR": str(data_dir),
            "TAGLOOP_RUN_DIR": str(workdir / "run"),
            **(extra_env or {}),
        }
        self.commands = procfile_commands()
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopped: set[str] = set()
        self.started_pids: list[int] = []

    @property
    def redis_url(self) -> str:
        """The stack's Redis with the password its processes generated on first start."""
        password = ensure_password(self.data_dir)
        return self.redis_address.replace("redis://", f"redis://:{password}@", 1)

    def _process_env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
        env.update(self.env)
        kind, _, number = name.partition(".")
        env["HONCHO_PROCESS_NAME"] = f"{kind}.{number or 1}"
        env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return env

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def start(self, name: str) -> None:
        assert name not in self.processes or self.processes[name].poll() is not None, f"{name} is running"
        with open(self.log_path(name), "a") as log:
            proc = subprocess.Popen(
                ["bash", "-c", self.commands[name.partition(".")[0]]],
                cwd=REPO,
                env=self._process_env(name),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = proc
        self.stopped.discard(name)
        self.started_pids.append(proc.pid)

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 15) -> None:
        """Send `sig` to the process group of `name` and wait until it is gone."""
        proc = self.processes[name]
        self.stopped.add(name)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        # Children that outlived their leader (none should) go with the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)

    def stop_all(self) -> None:
        for name in reversed(self.names):
            if name in self.processes:
                self.kill(name, signal.SIGTERM)
        # Started as root, the gateway's workers had a temp folder of their own outside the run dir.
        record = Path(self.env["TAGLOOP_RUN_DIR"]) / "nginx" / "worker-dir"
        if record.exists():
            shutil.rmtree(record.read_text().strip(), ignore_errors=True)

    def wait_ready(self, timeout: float = 120) -> dict:
        """Poll the gateway's /health until every part is up; returns the last body."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            self._fail_if_exited()
            try:
                reply = httpx.get(f"{self.url}/health", timeout=5)
                body = reply.json()
                # Every part up; a replica may serve an older version than the active one
                # when a test made the active one fail to load ("stale").
                if reply.status_code == 200 and body.get("success") is True:
                    return body
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"stack not ready after {timeout}s; last /health: {body}\n{self.logs_tail()}")

    def _fail_if_exited(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None and name not in self.stopped:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 30) -> str:
        out = []
        for name in self.processes:
            text = self.log(name).splitlines()[-lines:]
            out.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(out)

    def leftovers(self) -> list[str]:
        """What is still alive or listening after stop_all: must be nothing."""
        started = set(self.started_pids) | set(pids_with_env("TAGLOOP_RUN_DIR", self.env["TAGLOOP_RUN_DIR"]))
        problems = [f"pid {pid} still alive" for pid in sorted(started) if _alive(pid)]
        problems += [
            f"port {port} ({name}) still open" for name, port in self.ports.items() if port_open(port)
        ]
        return problems


def instances(kind: str, count: int) -> list[str]:
    """The names of `count` copies of a Procfile process: kind, kind.2, kind.3, ..."""
    return [kind if i == 1 else f"{kind}.{i}" for i in range(1, count + 1)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but its exit status.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def seed_models_dir(root: Path, v1_dir: Path) -> Path:
    """A models root holding v1 as the active version of `voc`."""
    shutil.copytree(v1_dir, root / MODEL_NAME / "1")
    (root / MODEL_NAME / "active").write_text("1\n")
    return root


def pids_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment has name=value: how a test finds every process it
    started, whichever process group they moved to."""
    needle = f"{name}={value}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return [pid for pid in pids if _alive(pid)]


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    v1_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    replicas: int = 1,
    workers: int = 1,
) -> Iterator[Stack]:
    """A whole system of its own (store, database, Redis) seeded with v1, stopped on exit,
    with `replicas` inference processes and `workers` RQ workers.

    Fails if any process or port outlives it.
    """
    system = Stack(
        workdir=workdir,
        models_dir=seed_models_dir(workdir / "models", v1_dir),
        data_dir=workdir / "data",
        extra_env=extra_env,
        replicas=replicas,
        workers=workers,
    )
    system.start_all()
    try:
        system.wait_ready()
        yield system
    finally:
        system.stop_all()
    leftovers = system.leftovers()
    assert not leftovers, f"the stack left things behind: {leftovers}"
