"""`make run` as a person uses it: start, see every part green, Ctrl-C, and again."""

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.make_run import ctrl_c, make_run_env, start_make_run, wait_green
from tests.support.stack import REPO, free_consecutive_ports, pids_with_env, port_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def run_env(tmp_path: Path, v1_model_dir: Path) -> dict[str, str]:
    return make_run_env(tmp_path, v1_model_dir)


@pytest.fixture
def running(run_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    log = tmp_path / "make-run.log"
    proc = start_make_run(run_env, log)
    yield proc, log
    ctrl_c(proc, run_env, log)


def test_make_run_then_ctrl_c_twice_leaves_nothing_running(run_env: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{run_env['TAGLOOP_GATEWAY_PORT']}"
    for attempt in (1, 2):
        log = tmp_path / f"make-run-{attempt}.log"
        proc = start_make_run(run_env, log)
        try:
            body = wait_green(url, proc, log)
            assert body["status"] == "ok"
            assert all(part["ok"] for part in body["parts"].values())
        finally:
            ctrl_c(proc, run_env, log)
        left = pids_with_env("TAGLOOP_RUN_DIR", run_env["TAGLOOP_RUN_DIR"])
        assert not left, f"processes left after Ctrl-C: {left}"
        output = log.read_text()
        # Each part's lines reach the terminal prefixed with its name.
        for name in ("redis", "inference", "training", "worker", "gateway"):
            assert re.search(rf"^{name}(\.\d+)? +\| \S", output, re.M), f"no log lines from {name}"


def test_second_make_run_says_already_running(
    running: tuple[subprocess.Popen, Path], run_env: dict[str, str], tmp_path: Path
) -> None:
    proc, log = running
    wait_green(f"http://127.0.0.1:{run_env['TAGLOOP_GATEWAY_PORT']}", proc, log)
    second = subprocess.run(
        ["make", "run"], cwd=REPO, env=run_env, capture_output=True, text=True, timeout=120
    )
    assert second.returncode != 0
    assert "already running" in second.stdout + second.stderr
    assert proc.poll() is None, "the first run must be untouched"


def test_make_run_names_a_port_taken_by_another_program(run_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(run_env["TAGLOOP_INFERENCE_PORT"])))
        blocker.listen()
        result = subprocess.run(
            ["make", "run"], cwd=REPO, env=run_env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode != 0
    assert f"port {run_env['TAGLOOP_INFERENCE_PORT']}" in result.stdout + result.stderr
    assert "TAGLOOP_INFERENCE_PORT" in result.stdout + result.stderr


def test_make_run_starts_the_inference_replicas_asked_for(run_env: dict[str, str], tmp_path: Path) -> None:
    first = free_consecutive_ports(2)
    env = {**run_env, "TAGLOOP_INFERENCE_PORT": str(first), "TAGLOOP_INFERENCE_REPLICAS": "2"}
    log = tmp_path / "make-run-replicas.log"
    proc = start_make_run(env, log)
    try:
        body = wait_green(f"http://127.0.0.1:{env['TAGLOOP_GATEWAY_PORT']}", proc, log)
        replicas = body["parts"]["inference"]["replicas"]
        assert [r["url"] for r in replicas] == [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{first + 1}"]
        assert all(r["ready"] for r in replicas), replicas
    finally:
        ctrl_c(proc, env, log)
    assert not port_open(first + 1), "the second replica outlived Ctrl-C"
