"""The native run under supervisord: every part's command, the config, the log prefixer and
the parts' states as supervisord sees them.

`make run` (scripts/run) and the test stack (tests/support/stack.py) both start
`supervisord -c $(python -m tagloop.supervise render)`, so the commands below are the only
ones. Each part is restarted when it exits (supervisord's autorestart, with its backoff of
1, 2, 3... s between failed starts); a part that exits within `START_SECONDS` of being
started `START_RETRIES` times in a row is given up (state FATAL) and named, with the last
error line of its log, by the training service's /health/system (`part_states`).

    python -m tagloop.supervise render       writes $TAGLOOP_RUN_DIR/supervisord.conf, prints its path
    python -m tagloop.supervise prefix-logs  the event listener that prints each part's lines,
                                             prefixed with its name, on supervisord's terminal
"""

import http.client
import socket
import sys
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from tagloop.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30
"""A part that exits sooner than this after a start failed to start: a model that kills the
process while loading, a bad setting, a port taken."""
START_RETRIES = 5
"""Failed starts in a row before a part is given up (about 15 s of backoff in all): enough
to ride out a neighbour that restarts (Redis after a crash takes about a second). A slow
machine may take 10-20 s to load a model, hence the generous START_SECONDS."""
STOP_SECONDS = 15
"""How long a part may take to stop on SIGTERM before supervisord kills its process group."""
LOG_BYTES = "2MB"
LOG_LINES_FOR_ERROR = 40


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    priority: int


def programs(settings: CommonSettings) -> list[Program]:
    """The parts of the native run, in start order (Redis first, the gateway last)."""
    python = ".venv/bin/python"
    replicas = [
        Program(
            f"inference.{i}",
            f"exec .venv/bin/uvicorn --factory inference_api.main:create_app --host 127.0.0.1"
            f" --port {settings.inference_port + i - 1} --no-access-log",
            20,
        )
        for i in range(1, settings.inference_replicas + 1)
    ]
    workers = [
        Program(f"worker.{i}", f"exec {python} -m training_api.worker", 40)
        for i in range(1, settings.training_workers + 1)
    ]
    return [
        Program(
            "redis",
            f'conf=$({python} -m tagloop.redis_auth) && exec redis-server "$conf" --bind 127.0.0.1'
            ' --port "$TAGLOOP_REDIS_PORT" --dir "$TAGLOOP_DATA_DIR/redis" --appendonly yes --save ""',
            10,
        ),
        *replicas,
        Program(
            "training",
            "exec .venv/bin/uvicorn --factory training_api.main:create_app --host 127.0.0.1"
            ' --port "$TAGLOOP_TRAINING_PORT" --no-access-log',
            30,
        ),
        *workers,
        Program(
            "gateway",
            f"{python} gateway/render.py"
            ' && exec nginx -e stderr -p "$TAGLOOP_RUN_DIR/nginx" -c "$TAGLOOP_RUN_DIR/nginx/nginx.conf"'
            ' -g "daemon off;"',
            50,
        ),
    ]


def config_path(settings: CommonSettings) -> Path:
    return settings.run_dir.resolve() / "supervisord.conf"


def socket_path(run_dir: Path) -> Path:
    return run_dir.resolve() / "supervisor.sock"


def log_path(run_dir: Path, name: str) -> Path:
    return run_dir.resolve() / "logs" / f"{name}.log"


def _escape(value: str) -> str:
    """supervisord expands %(name)s in its values: a literal % is written %%."""
    return value.replace("%", "%%")


def render(settings: CommonSettings) -> str:
    run_dir = settings.run_dir.resolve()
    sections = [
        "; Rendered by `python -m tagloop.supervise render` (scripts/run); edits are overwritten.",
        "[supervisord]",
        "nodaemon=true",
        "logfile=/dev/stdout",
        "logfile_maxbytes=0",
        "loglevel=info",
        f"pidfile={_escape(str(run_dir / 'supervisord.pid'))}",
        f"childlogdir={_escape(str(run_dir / 'logs'))}",
        "",
        "[unix_http_server]",
        f"file={_escape(str(socket_path(run_dir)))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(socket_path(run_dir)))}",
        "",
        # Each part's output goes to its own (rotated) log file, and as events to this
        # listener, which prints it on the terminal with the part's name in front.
        "[eventlistener:logs]",
        f"command={_escape(sys.executable)} -m tagloop.supervise prefix-logs",
        "events=PROCESS_LOG",
        "buffer_size=10000",
        f"directory={_escape(str(REPO))}",
        "priority=1",
        "autorestart=true",
        "stdout_logfile=NONE",
        "stderr_logfile=/dev/stdout",
        "stderr_logfile_maxbytes=0",
        "",
    ]
    for program in programs(settings):
        log = _escape(str(log_path(run_dir, program.name)))
        sections += [
            f"[program:{program.name}]",
            f"command=bash -c {_escape(_quote(program.command))}",
            f"directory={_escape(str(REPO))}",
            f"priority={program.priority}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_SECONDS}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={log}",
            f"stdout_logfile_maxbytes={LOG_BYTES}",
            "stdout_logfile_backups=1",
            "stdout_events_enabled=true",
            "",
        ]
    return "\n".join(sections)


def _quote(command: str) -> str:
    """Single-quoted for supervisord's shlex split of `command=`."""
    return "'" + command.replace("'", "'\"'\"'") + "'"


def write_config(settings: CommonSettings) -> Path:
    path = config_path(settings)
    (path.parent / "logs").mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings))
    return path


# --- the log prefixer (supervisord's event listener protocol) ---


def prefix_logs(events: BinaryIO, replies: TextIO, out: TextIO) -> None:
    """Print each part's output lines as "name | line" on `out` until `events` ends.

    Protocol: say READY, read a header line with the payload's length, read the payload
    ("processname:x ... channel:stdout" then the bytes written), answer RESULT 2 OK.
    """
    partial: dict[str, str] = {}
    width = 12
    while True:
        replies.write("READY\n")
        replies.flush()
        header_line = events.readline()
        if not header_line:
            return
        header = dict(token.split(":", 1) for token in header_line.decode().split())
        payload = events.read(int(header["len"])).decode(errors="replace")
        first, _, data = payload.partition("\n")
        name = dict(token.split(":", 1) for token in first.split()).get("processname", "?")
        text = partial.pop(name, "") + data
        *lines, rest = text.split("\n")
        if rest:
            partial[name] = rest
        width = max(width, len(name))
        for line in lines:
            out.write(f"{name:<{width}} | {line}\n")
        out.flush()
        replies.write("RESULT 2\nOK")
        replies.flush()


# --- the parts' states, read over supervisord's unix socket ---


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path, timeout: float):
        super().__init__()
        self._path = str(path)
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


def supervisor_proxy(run_dir: Path, timeout: float = 2.0) -> Any:
    """supervisord's XML-RPC interface (supervisor.getAllProcessInfo, startProcess...)."""
    return xmlrpc.client.ServerProxy(
        "http://localhost", transport=_UnixTransport(socket_path(run_dir), timeout)
    ).supervisor


def part_states(run_dir: Path) -> list[dict[str, Any]] | None:
    """Each supervised part's name, state and pid, and for one that is not running its last
    error line; None when no supervisord answers (a container, or a run without one)."""
    if not socket_path(run_dir).exists():
        return None
    try:
        infos = supervisor_proxy(run_dir).getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return None
    states = []
    for info in infos:
        if info["group"] == "logs":
            continue
        state = {"name": info["name"], "state": info["statename"], "pid": info["pid"]}
        if info["statename"] != "RUNNING":
            state["error"] = last_error(log_path(run_dir, info["name"])) or info["spawnerr"]
        states.append(state)
    return states


ERROR_WORDS = ("error", "exception", "fatal", "killed", "traceback", "failed", "cannot", "could not")


def last_error(log: Path) -> str:
    """The last line of a part's log that reads like an error, else its last line."""
    try:
        with log.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16_384))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    lines = lines[-LOG_LINES_FOR_ERROR:]
    for line in reversed(lines):
        if any(word in line.lower() for word in ERROR_WORDS):
            return line[-300:]
    return lines[-1][-300:] if lines else ""


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "render":
        print(write_config(CommonSettings()))
        return 0
    if command == "prefix-logs":
        prefix_logs(sys.stdin.buffer, sys.stdout, sys.stderr)
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
