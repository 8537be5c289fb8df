"""The native run's supervisord config and its log prefixer."""

import io
from pathlib import Path

from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions
from tagloop import supervise
from tagloop.settings import CommonSettings


def test_render_config_has_every_part_with_restart_and_limit(tmp_path: Path) -> None:
    settings = CommonSettings(run_dir=tmp_path, inference_replicas=2, training_workers=2, inference_port=9100)
    path = supervise.write_config(settings)
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)
    programs = {group.name: group.process_configs[0] for group in options.process_group_configs}
    assert set(programs) == {
        "logs",
        "redis",
        "inference.1",
        "inference.2",
        "training",
        "worker.1",
        "worker.2",
        "gateway",
    }
    for name, program in programs.items():
        if name == "logs":
            continue
        assert (
            program.autorestart is RestartUnconditionally and program.startretries == supervise.START_RETRIES
        ), name
        assert program.killasgroup and program.stopasgroup, name
    assert "--port 9101" in programs["inference.2"].command


def test_prefix_logs_prints_each_line_with_its_part() -> None:
    chunks = [("training", "INFO: started\nERROR: half"), ("redis", "ready\n"), ("training", " a line\n")]
    events = b""
    for name, data in chunks:
        payload = f"processname:{name} groupname:{name} pid:1 channel:stdout\n{data}".encode()
        header = "ver:3.0 server:supervisor serial:1 pool:logs poolserial:1 eventname:PROCESS_LOG_STDOUT"
        events += f"{header} len:{len(payload)}\n".encode()
        events += payload
    replies, out = io.StringIO(), io.StringIO()
    supervise.prefix_logs(io.BytesIO(events), replies, out)
    assert out.getvalue().splitlines() == [
        "training     | INFO: started",
        "redis        | ready",
        "training     | ERROR: half a line",
    ]
    assert replies.getvalue().count("RESULT 2\nOK") == 3
