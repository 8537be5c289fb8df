"""Low-level probes of the running stack: raw HTTP bytes, a process's memory and libraries."""

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def raw_request(port: int, data: bytes, *, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send `data` as is to 127.0.0.1:port; (status, headers, body) of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def json_body(body: bytes) -> dict[str, Any]:
    return json.loads(body)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def peak_growth(pid: int, action: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, MiB the process's peak RSS rose above its RSS before, seconds) of `action`.

    The peak is reset first (clear_refs 5), so an earlier test's peak does not hide this one.
    """
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = memory_kib(pid)["VmRSS"]
    started = time.monotonic()
    result = action()
    seconds = time.monotonic() - started
    return result, max(0, memory_kib(pid)["VmHWM"] - before) / 1024, seconds


def loaded_libraries(pid: int) -> set[str]:
    """File names of the shared objects mapped into a process."""
    names = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and ".so" in parts[5]:
            names.add(Path(parts[5]).name)
    return names


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (e.g. nginx's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise ValueError(f"no Uid line for {pid}")
