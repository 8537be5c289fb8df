"""`make run` started as a person starts it, on free ports, and stopped with Ctrl-C."""

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
from tagloop import supervise

from tests.support.stack import REPO, free_port, port_open, seed_models_dir
from tests.support.waiting import wait_until


def make_run_env(tmp_path: Path, v1_model_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `make run` of its own: free ports, a store seeded with v1."""
    ports = {name: free_port() for name in ("GATEWAY", "INFERENCE", "TRAINING", "REDIS")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGLOOP_")}
    env.update({f"TAGLOOP_{name}_PORT": str(port) for name, port in ports.items()})
    env["TAGLOOP_MODELS_DIR"] = str(seed_models_dir(tmp_path / "models", v1_model_dir))
    env["TAGLOOP_DATA_DIR"] = str(tmp_path / "data")
    env["TAGLOOP_RUN_DIR"] = str(tmp_path / "run")
    env.update(extra)
    return env


def start_make_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    # A terminal's Ctrl-C goes to the whole foreground process group: give `make run`
    # its own group so the test can do the same.
    with open(log, "ab") as out:
        return subprocess.Popen(
            ["make", "run"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_green(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> dict:

    def green() -> dict | None:
        assert proc.poll() is None, f"make run exited early:\n{log.read_text()[-3000:]}"
        reply = httpx.get(f"{url}/health", timeout=5)
        return reply.json() if reply.status_code == 200 else None

    return wait_until(green, timeout=timeout, interval=0.5, what=lambda: f"green:\n{log.read_text()[-3000:]}")


def ports_of(env: dict[str, str]) -> list[int]:
    return [int(v) for k, v in env.items() if k.startswith("TAGLOOP_") and k.endswith("_PORT")]


def ctrl_c(proc: subprocess.Popen, env: dict[str, str], log: Path) -> None:
    """What a terminal's Ctrl-C does, then proof that nothing is left: supervisord puts
    each part in a process group of its own, so the ports are what tell."""
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=90)

    def open_ports() -> list[int]:
        return [port for port in ports_of(env) if port_open(port)]

    wait_until(
        lambda: not open_ports(),
        timeout=10,
        interval=0.2,
        what=lambda: f"every port closed after Ctrl-C: {open_ports()} open\n{log.read_text()[-2000:]}",
    )


def parts(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """supervisord's view of each part of the run (name -> pid, statename...)."""
    control = supervise.supervisor_proxy(Path(env["TAGLOOP_RUN_DIR"]), timeout=30)
    return {info["name"]: info for info in control.getAllProcessInfo()}
