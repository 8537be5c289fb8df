"""Users of a running stack's team, made as a person would: `tagloop users add`."""

import subprocess

from tests.support.stack import REPO, Stack


def add_user(stack: Stack, name: str, role: str, password: str | None = None) -> str:
    """`tagloop users add` with the stack's settings; the token from its last line."""
    argv = [str(REPO / ".venv/bin/tagloop"), "users", "add", name, "--role", role]
    done = subprocess.run(
        argv + (["--password-stdin"] if password else []),
        input=f"{password}\n" if password else "",
        env=stack._env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1]


def as_user(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
