"""Redis's password: TAGLOOP_REDIS_PASSWORD, else one generated into the data dir once.

Redis holds the job queue and the announcements that make inference load a version, so
anyone who can talk to it can run jobs in the worker. The native run's redis listens on
127.0.0.1 only, but every local user and any local web-to-localhost trick could reach it;
a password closes that. Nobody has to choose one: the first process to need it (redis
itself or a client, whichever starts first) writes a random one to
<data_dir>/redis/password (mode 600), and every other process reads the same file.

`python -m tagloop.redis_auth` writes <data_dir>/redis/auth.conf (`requirepass ...`) for
the native run's `redis-server auth.conf ...` (tagloop/supervise.py), so the password never shows in `ps`.
"""

import contextlib
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from tagloop.settings import CommonSettings


def password_file(data_dir: Path) -> Path:
    return Path(data_dir) / "redis" / "password"


def ensure_password(data_dir: Path) -> str:
    """The password in <data_dir>/redis/password, created (atomically, once) if missing."""
    path = password_file(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".password.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(24) + "\n")
        # link() fails if another process got there first: then its password is the one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return path.read_text().strip()


def redis_password(settings: CommonSettings) -> str | None:
    """The password clients send: the setting, the URL's own, or the data dir's file.

    An empty TAGLOOP_REDIS_PASSWORD means a Redis without a password (an external one).
    """
    if settings.redis_password is not None:
        return settings.redis_password.get_secret_value() or None
    if urlsplit(settings.redis_url).password:
        return None
    return ensure_password(settings.data_dir)


def authenticated_url(settings: CommonSettings) -> str:
    """settings.redis_url with the password in it (what every client connects with)."""
    password = redis_password(settings)
    parts = urlsplit(settings.redis_url)
    if password is None or parts.password:
        return settings.redis_url
    netloc = f"{parts.username or ''}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def write_server_config(settings: CommonSettings) -> Path:
    """<data_dir>/redis/auth.conf with `requirepass`, for redis-server's command line."""
    password = redis_password(settings)
    conf = Path(settings.data_dir) / "redis" / "auth.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        quoted = (password or "").replace("\\", "\\\\").replace('"', '\\"')
        out.write(
            f'requirepass "{quoted}"\n' if password else "# no password (TAGLOOP_REDIS_PASSWORD is empty)\n"
        )
    return conf


if __name__ == "__main__":
    print(write_server_config(CommonSettings()))
    sys.exit(0)
