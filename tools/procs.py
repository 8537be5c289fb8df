"""Which processes serve a running tagloop system, and how much memory they hold (from /proc).

Used by the soak run to watch each service's RSS; Linux only.
"""

import argparse
import os
import re
from pathlib import Path


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def pids_listening_on(port: int) -> list[int]:
    """Every process holding the listening socket of `port` (nginx: master and workers)."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
    return sorted(found)


def worker_pids(redis_url: str) -> list[int]:
    """Training workers of this system: `-m training_api.worker` with our TAGLOOP_REDIS_URL."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"training_api.worker" not in cmdline:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if f"TAGLOOP_REDIS_URL={redis_url}".encode() in environ:
            found.append(int(proc.name))
    return found


def port_of(url: str) -> int:
    match = re.search(r":(\d+)(/|$)", url.split("//", 1)[1])
    return int(match.group(1)) if match else 80


def service_pids(args: argparse.Namespace) -> dict[str, list[int]]:
    return {
        "inference": pids_listening_on(port_of(args.inference_url)),
        "training": pids_listening_on(port_of(args.training_url)),
        "worker": worker_pids(args.redis_url),
        "gateway": pids_listening_on(port_of(args.url)),
        "redis": pids_listening_on(port_of(args.redis_url)),
    }


def rss_mb(pids: list[int]) -> float | None:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(match.group(1)) if match else 0
    return round(total / 1024, 1) if pids else None


# -- the load -----------------------------------------------------------------------------
