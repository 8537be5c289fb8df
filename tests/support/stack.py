"""The real system for integration tests: every part under supervisord, on free ports.

The supervisord config is rendered by tagloop.supervise, as `make run` does, so the tests
start exactly what `make run` starts: a part that exits is restarted by supervisord, not
by the test. `kill` stops a part for good (until `start`), as a test that looks at the
system without it needs; `crash` only kills it, as the OOM killer would. `stop_all` stops
supervisord (which stops every part) and proves nothing is left behind.
"""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tagloop import supervise
from tagloop.redis_auth import ensure_password

from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "voc"
KEEP_VERSIONS = 100
"""The test stacks' retention: the session's shared stack publishes more versions than the
default 10 (retrains, copies, corrupt versions), and its tests return to version 1 after
changing the active one, so version 1 must never be dropped."""
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


@dataclass(frozen=True)
class Part:
    """One supervised process as supervisord last saw it."""

    pid: int
    state: str

    def poll(self) -> int | None:
        """As Popen.poll: None while it runs."""
        return None if self.state in ("RUNNING", "STARTING") and self.pid else 1


class Stack:
    """Starts the parts under supervisord with a private environment; kills, crashes and
    restarts single parts through it."""

    def __init__(
        self,
        *,
        workdir: Path,
        models_dir: Path,
        data_dir: Path,
        extra_env: dict[str, str] | None = None,
        replicas: int = 1,
        workers: int = 1,
        first_inference_port: int | None = None,
    ):
        self.workdir = workdir
        self.models_dir = models_dir
        self.data_dir = data_dir
        self.run_dir = workdir / "run"
        self.ports = {name: free_port() for name in ("gateway", "training", "redis")}
        self.ports["inference"] = first_inference_port or free_consecutive_ports(replicas)
        self.ports.update({f"inference.{i}": self.ports["inference"] + i - 1 for i in range(2, replicas + 1)})
        # The first copy of a part keeps the plain name here (supervisord calls it kind.1).
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
            "TAGLOOP_TRAINING_WORKERS": str(workers),
            "TAGLOOP_TRAINING_PORT": str(self.ports["training"]),
            "TAGLOOP_REDIS_PORT": str(self.ports["redis"]),
            "TAGLOOP_REDIS_URL": self.redis_address,
            "TAGLOOP_INFERENCE_URL": self.inference_url,
            "TAGLOOP_MODELS_DIR": str(models_dir),
            "TAGLOOP_DATA_DIR": str(data_dir),
            "TAGLOOP_RUN_DIR": str(self.run_dir),
            "TAGLOOP_KEEP_VERSIONS": str(KEEP_VERSIONS),
            **(extra_env or {}),
        }
        self.supervisord: subprocess.Popen | None = None
        self.started_pids: list[int] = []

    @property
    def redis_url(self) -> str:
        """The stack's Redis with the password its processes generated on first start."""
        password = ensure_password(self.data_dir)
        return self.redis_address.replace("redis://", f"redis://:{password}@", 1)

    def _env(self) -> dict[str, str]:
        """As scripts/run sets it (scripts/env.sh) with the stack's own settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
        env.update(self.env)
        env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return env

    @staticmethod
    def program(name: str) -> str:
        """supervisord's name of a part: inference -> inference.1, inference.2 stays."""
        kind, _, number = name.partition(".")
        return f"{kind}.{number or 1}" if kind in ("inference", "worker") else name

    @property
    def control(self) -> Any:
        """supervisord's XML-RPC interface for this stack."""
        return supervise.supervisor_proxy(self.run_dir, timeout=30)

    def log_path(self, name: str) -> Path:
        return supervise.log_path(self.run_dir, self.program(name))

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def processes(self) -> dict[str, Part]:
        """Each part's pid and state, by the stack's names."""
        infos = {info["name"]: info for info in self.control.getAllProcessInfo()}
        return {
            name: Part(infos[self.program(name)]["pid"], infos[self.program(name)]["statename"])
            for name in self.names
            if self.program(name) in infos
        }

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def state(self, name: str) -> str:
        return self.processes[name].state

    def start(self, name: str) -> None:
        """Start a part that `kill` stopped (supervisord starts it; it answers soon after)."""
        self.control.startProcess(self.program(name), False)

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 15) -> None:
        """Send `sig` to the part's process group and keep it down until `start`."""
        program = self.program(name)
        if sig == signal.SIGTERM:
            with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
                self.control.stopProcess(program, True)
            return
        pid = self.pid(name)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        # supervisord restarts a part that exits (EXITED, then at once STARTING): stop the
        # new start, whatever state it has reached.

        def down() -> bool:
            state = self.state(name)
            if state in ("STARTING", "BACKOFF") or (state == "RUNNING" and self.pid(name) != pid):
                with contextlib.suppress(xmlrpc.client.Fault):
                    self.control.stopProcess(program, True)
                return True
            return state in ("STOPPED", "FATAL")

        wait_until(
            down,
            timeout=timeout,
            what=lambda: f"{name} down after signal {sig} (it is {self.state(name)})",
            error=TimeoutError,
        )

    def crash(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill the part's main process only, as the OOM killer does; supervisord restarts
        it. Returns the pid killed."""
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    def start_all(self) -> None:
        env = self._env()
        conf = subprocess.run(
            [str(REPO / ".venv/bin/python"), "-m", "tagloop.supervise", "render"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        with open(self.workdir / "supervisord.log", "a") as log:
            self.supervisord = subprocess.Popen(
                [str(REPO / ".venv/bin/supervisord"), "-c", conf],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_pids.append(self.supervisord.pid)

        def listening() -> bool:
            if self.supervisord is None or self.supervisord.poll() is not None:
                raise RuntimeError(f"supervisord exited\n{self.logs_tail()}")
            return supervise.socket_path(self.run_dir).exists()

        wait_until(
            listening,
            timeout=30,
            interval=0.1,
            what=lambda: f"supervisord's socket\n{self.logs_tail()}",
            error=RuntimeError,
        )

    def stop_all(self) -> None:
        """What Ctrl-C does to `make run`: supervisord stops every part, then exits."""
        if self.supervisord is not None and self.supervisord.poll() is None:
            with contextlib.suppress(xmlrpc.client.Error, OSError):
                self.started_pids += [part.pid for part in self.processes.values() if part.pid]
            self.supervisord.send_signal(signal.SIGTERM)
            try:
                self.supervisord.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.supervisord.pid, signal.SIGKILL)
                self.supervisord.wait(timeout=15)
        # Started as root, the gateway's workers had a temp folder of their own outside the run dir.
        record = self.run_dir / "nginx" / "worker-dir"
        if record.exists():
            shutil.rmtree(record.read_text().strip(), ignore_errors=True)

    def wait_ready(self, timeout: float = 120) -> dict:
        """Poll the gateway's /health until every part is up; returns the last body."""
        body: dict = {}

        def ready() -> dict | None:
            nonlocal body
            self._fail_if_given_up()
            reply = httpx.get(f"{self.url}/health", timeout=5)
            body = reply.json()
            # Every part up; a replica may serve an older version than the active one
            # when a test made the active one fail to load ("stale").
            return body if reply.status_code == 200 and body.get("success") is True else None

        return wait_until(
            ready,
            timeout=timeout,
            interval=0.5,
            what=lambda: f"stack ready; last /health: {body}\n{self.logs_tail()}",
            error=TimeoutError,
        )

    def _fail_if_given_up(self) -> None:
        if self.supervisord is None or self.supervisord.poll() is not None:
            raise RuntimeError(f"supervisord is not running\n{self.logs_tail()}")
        with contextlib.suppress(xmlrpc.client.Error, OSError):
            fatal = [name for name, part in self.processes.items() if part.state == "FATAL"]
            if fatal:
                raise RuntimeError(f"given up by supervisord: {fatal}\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 30) -> str:
        out = []
        for name in self.names:
            text = self.log(name).splitlines()[-lines:]
            out.append(f"--- {name} ---\n" + "\n".join(text))
        supervisord_log = self.workdir / "supervisord.log"
        if supervisord_log.exists():
            text = supervisord_log.read_text(errors="replace").splitlines()[-lines:]
            out.append("--- supervisord ---\n" + "\n".join(text))
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
    """The names of `count` copies of a part: kind, kind.2, kind.3, ..."""
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
    ready: bool = True,
    first_inference_port: int | None = None,
) -> Iterator[Stack]:
    """A whole system of its own (store, database, Redis) seeded with v1, stopped on exit,
    with `replicas` inference processes and `workers` RQ workers; waited for until every
    part is up unless `ready` is False (a test that makes a part fail).

    Fails if any process or port outlives it.
    """
    system = Stack(
        workdir=workdir,
        models_dir=seed_models_dir(workdir / "models", v1_dir),
        data_dir=workdir / "data",
        extra_env=extra_env,
        replicas=replicas,
        workers=workers,
        first_inference_port=first_inference_port,
    )
    system.start_all()
    try:
        if ready:
            system.wait_ready()
        yield system
    finally:
        system.stop_all()
    leftovers = system.leftovers()
    assert not leftovers, f"the stack left things behind: {leftovers}"
