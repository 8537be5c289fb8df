"""Renders the gateway's nginx config for the native run into $TAGLOOP_RUN_DIR/nginx/.

Only ${TAGLOOP_*} names are replaced, as the official nginx image's envsubst does with
NGINX_ENVSUBST_FILTER=TAGLOOP_, so the same template serves both runs.

Safe by default: the gateway listens on 127.0.0.1 unless TAGLOOP_BIND names another
address, and it refuses to listen anywhere but loopback without TAGLOOP_ADMIN_TOKEN
(whoever can reach it could otherwise retrain, import and roll back models).
`render.py --check` only runs that check (scripts/run, before starting anything).

Started as root, nginx's workers run as www-data (or nobody) with a private temp folder
they own; the UI is copied next to it when that user cannot read the repo's web/.
"""

import contextlib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

from tagloop.process import group_has_live_members, pid_alive
from tagloop.settings import MIB, CommonSettings

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{(TAGLOOP_[A-Z0-9_]+)\}")
TEMP_SUBDIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
WORKER_USERS = ("www-data", "nobody")
SERVER_CHECKS = "max_fails=2 fail_timeout=5s"
"""Passive health check of each inference replica: after 2 failed connections it is left
out for 5 s, then tried again."""


class UnsafeBindError(Exception):
    """TAGLOOP_BIND opens the gateway beyond this machine and no admin token is set."""


def listen_address(*, bind: str, port: str, token_set: bool) -> str:
    """nginx's `listen` value: 127.0.0.1:<port>, or TAGLOOP_BIND's address with a token."""
    bind = bind.strip() or "127.0.0.1"
    if not is_loopback(bind) and not token_set:
        raise UnsafeBindError(
            f"TAGLOOP_BIND={bind} would let anyone who can reach this machine retrain, import "
            "and activate models: set TAGLOOP_ADMIN_TOKEN too (then those actions need it), "
            "or leave TAGLOOP_BIND unset to listen on 127.0.0.1 only"
        )
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def known_hosts(public_hosts: list[str], *, bind: str) -> str:
    """The template's host list: TAGLOOP_PUBLIC_HOSTS, and TAGLOOP_BIND's address when it
    names one (LAN users type it in their browser). Comma-separated, no spaces or empty
    names, as the template's map takes it."""
    names = list(public_hosts)
    try:
        address = ipaddress.ip_address(bind.strip().strip("[]"))
    except ValueError:
        address = None
    if address is not None and not address.is_unspecified and not address.is_loopback:
        names.append(f"[{address}]" if address.version == 6 else str(address))
    return ",".join(dict.fromkeys(names))


def is_loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def admin_token_set() -> bool:
    """As the services see it: the environment or .env (their settings class)."""
    token = CommonSettings().admin_token
    return token is not None and bool(token.get_secret_value())


def limit_values(settings: CommonSettings) -> dict[str, str]:
    """The request limits as the template takes them (the containers' environment must say
    the same: tests/stack/test_containers.py compares them)."""
    return {
        "TAGLOOP_PREDICT_RATE": settings.predict_rate,
        "TAGLOOP_PREDICT_BURST": str(settings.predict_burst),
        "TAGLOOP_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "TAGLOOP_MAX_BODY_TEXT": f"{settings.max_body_bytes / MIB:g} MB",
        "TAGLOOP_MAX_IMPORT_BYTES": str(settings.max_import_bytes),
        "TAGLOOP_MAX_JSON_BYTES": str(settings.max_json_bytes),
    }


def native_values(env: dict[str, str], *, token_set: bool = False) -> dict[str, str]:
    """The template's values for a native run: defaults, then the environment."""
    settings = CommonSettings.model_validate(
        {k.removeprefix("TAGLOOP_").lower(): v for k, v in env.items() if k.startswith("TAGLOOP_")}
    )
    run_dir = str(settings.run_dir.resolve())
    defaults = {
        "TAGLOOP_GATEWAY_PORT": str(settings.gateway_port),
        "TAGLOOP_WEB_ROOT": str(HERE.parent / "web"),
        "TAGLOOP_RESOLVER": "127.0.0.1",
        "TAGLOOP_INFERENCE_GROUP": inference_group(settings.inference_port, settings.inference_replicas),
        "TAGLOOP_INFERENCE_ADDR": "tagloop_inference",
        "TAGLOOP_TRAINING_ADDR": f"127.0.0.1:{settings.training_port}",
        "TAGLOOP_RUN_DIR": run_dir,
        "TAGLOOP_NGINX_TEMP": f"{run_dir}/nginx",
        "TAGLOOP_NGINX_MIME_TYPES": "/etc/nginx/mime.types",
        "TAGLOOP_NGINX_ACCESS_LOG": "/dev/stdout",
        **limit_values(settings),
        "TAGLOOP_NGINX_USER": "",
    }
    values = {**defaults, **{k: v for k, v in env.items() if k.startswith("TAGLOOP_")}}
    values["TAGLOOP_PUBLIC_HOSTS"] = known_hosts(settings.public_host_list, bind=settings.bind)
    values["TAGLOOP_LISTEN"] = listen_address(
        bind=settings.bind, port=values["TAGLOOP_GATEWAY_PORT"], token_set=token_set
    )
    return values


def unprivileged_workers(values: dict[str, str]) -> dict[str, str]:
    """As root: a `user` line, a temp folder the workers own, a UI they can read."""
    worker = next(_users(WORKER_USERS))
    group = _group_name(worker.pw_gid)
    temp = _fresh_worker_dir(Path(values["TAGLOOP_RUN_DIR"]) / "nginx", worker)
    web_root = Path(values["TAGLOOP_WEB_ROOT"])
    if not _readable_by(web_root, worker):
        shutil.copytree(web_root, temp / "web")
        _chown_tree(temp / "web", worker)
        web_root = temp / "web"
    return {
        **values,
        "TAGLOOP_NGINX_USER": f"user {worker.pw_name} {group};",
        "TAGLOOP_NGINX_TEMP": str(temp),
        "TAGLOOP_WEB_ROOT": str(web_root),
    }


def _users(names: tuple[str, ...]):
    for name in names:
        try:
            yield pwd.getpwnam(name)
        except KeyError:
            continue


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _fresh_worker_dir(nginx_dir: Path, worker: pwd.struct_passwd) -> Path:
    """A new private folder in the system temp dir (the run dir may be closed to the
    worker user); the previous one, named in nginx_dir/worker-dir, is removed."""
    record = nginx_dir / "worker-dir"
    if record.exists():
        previous = Path(record.read_text().strip())
        if previous.name.startswith("tagloop-nginx-") and previous.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(previous, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix="tagloop-nginx-"))
    for sub in TEMP_SUBDIRS:
        (temp / sub).mkdir(mode=0o700)
    _chown_tree(temp, worker)
    temp.chmod(0o711)
    record.write_text(f"{temp}\n")
    return temp


def _chown_tree(root: Path, worker: pwd.struct_passwd) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, worker.pw_uid, worker.pw_gid, follow_symlinks=False)


def _readable_by(path: Path, worker: pwd.struct_passwd) -> bool:
    """Whether `worker` can reach `path` (every parent searchable) and list it, by mode bits."""
    import grp

    groups = {worker.pw_gid} | {g.gr_gid for g in grp.getgrall() if worker.pw_name in g.gr_mem}
    chain = [path, *path.parents]
    for i, folder in enumerate(chain):
        info = folder.stat()
        wanted = (stat.S_IRUSR | stat.S_IXUSR) if i == 0 else stat.S_IXUSR
        shift = 0 if info.st_uid == worker.pw_uid else 3 if info.st_gid in groups else 6
        if (info.st_mode & (wanted >> shift)) != wanted >> shift:
            return False
    return True


def inference_group(first_port: int, replicas: int) -> str:
    """The upstream group of the inference replicas, on consecutive ports, on one line."""
    servers = " ".join(f"server 127.0.0.1:{first_port + i} {SERVER_CHECKS};" for i in range(replicas))
    return f"upstream tagloop_inference {{ least_conn; {servers} }}"


def reap_orphaned_workers(pid_file: Path, timeout: float = 5.0) -> None:
    """End the workers of a master that was killed (SIGKILL, the OOM killer): they outlive
    it and keep the port, so a new master could never bind it. They are in the dead
    master's process group (supervisord starts each part as a group leader)."""
    try:
        master = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if master <= 1 or pid_alive(master):
        return
    deadline = time.monotonic() + timeout
    while group_has_live_members(master) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(master, signal.SIGKILL)
        time.sleep(0.1)


def render(template: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{name} is used by the gateway template but has no value")
        return values[name]

    return PLACEHOLDER.sub(substitute, template)


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    try:
        values = native_values(env, token_set=admin_token_set())
    except UnsafeBindError as exc:
        print(f"gateway not started: {exc}", file=sys.stderr)
        return 2
    if "--check" in argv:
        return 0
    out = Path(values["TAGLOOP_RUN_DIR"]) / "nginx"
    out.mkdir(parents=True, exist_ok=True)
    reap_orphaned_workers(out / "nginx.pid")
    if os.geteuid() == 0:
        values = unprivileged_workers(values)
    else:
        for sub in TEMP_SUBDIRS:
            (out / sub).mkdir(parents=True, exist_ok=True)
    for name, target in (("tagloop.conf.template", "tagloop.conf"), ("nginx.conf.template", "nginx.conf")):
        (out / target).write_text(render((HERE / name).read_text(), values))
    print(f"gateway config written to {out}; listening on {values['TAGLOOP_LISTEN']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
