"""A real PostgreSQL server for the tests, from Debian's `postgresql` package: initdb and
postgres in a temporary folder, on a free port, as the Redis fixture does with redis-server.

PostgreSQL refuses to run as root; as root the server runs as the `postgres` user that the
package creates.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.stack import free_port, port_open
from tests.support.waiting import wait_until

USER = "tagloop"
SERVER_OPTIONS = ("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
"""Local TCP only; no fsync (a test server's data may be lost); room for several stacks."""


def server_binaries() -> Path:
    """The bin folder of the newest installed PostgreSQL (Debian keeps them off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: run scripts/setup --dev (apt package postgresql)")
    return Path(initdb).parent


def _run_as() -> dict[str, int]:
    """subprocess arguments that drop root to the postgres user; nothing otherwise."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway server; yields its base URL (no database name), removed on exit."""
    bindir, port = server_binaries(), free_port()
    # Not under pytest's tmp dirs: those are private to root, and the server may not be root.
    datadir = Path(tempfile.mkdtemp(prefix="tagloop-postgres-"))
    as_postgres = _run_as()
    if as_postgres:
        os.chown(datadir, as_postgres["user"], as_postgres["group"])
    try:
        subprocess.run(
            [
                bindir / "initdb",
                "-D",
                datadir / "data",
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **as_postgres,
        )
        with open(datadir / "server.log", "wb") as log:
            server = subprocess.Popen(
                [
                    bindir / "postgres",
                    "-D",
                    datadir / "data",
                    "-p",
                    str(port),
                    "-k",
                    datadir,
                    *SERVER_OPTIONS,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                **as_postgres,
            )
        try:
            _wait_accepting(server, port, datadir)
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


def _wait_accepting(server: subprocess.Popen, port: int, datadir: Path) -> None:

    def log() -> str:
        return "postgres started:\n" + (datadir / "server.log").read_text(errors="replace")[-2000:]

    def accepting() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.returncode}; {log()}")
        if port_open(port):
            with contextlib.suppress(psycopg.OperationalError), _admin(port):
                return True
        return False

    wait_until(accepting, timeout=30, interval=0.1, what=log, error=RuntimeError)


def _admin(port: int) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=port, user=USER, dbname="postgres", autocommit=True)


def new_database(base_url: str) -> str:
    """A fresh, empty database on the server; its SQLAlchemy URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    port = int(base_url.rsplit(":", 1)[1])
    with _admin(port) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
