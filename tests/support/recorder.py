"""Writes artifacts/RELIABILITY.md from what the reliability tests observed.

Each test's outcome (passed/failed/...), what it observed (status codes, error texts) and
its figures (latencies, RSS) are collected during the run; at the end of the session the
file is rewritten. Cases that did not run this time (a `-k` run) keep the row of the run
that last measured them, with that run's time, so the file always says what was measured
and when. The rows also live, as JSON, in a comment at the end of the file.
"""

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA_BEGIN = "<!-- reliability-results\n"
DATA_END = "\n-->"

SECTIONS = {
    "test_bad_input": "Bad input (through the gateway unless said otherwise)",
    "test_fuzz": "API fuzzing (schemathesis, each service directly)",
    "test_faults": "Faults",
    "test_crash_recovery": "Crashes under `make run`: a part SIGKILLed under load, restarted by supervisord",
    "test_full_disk": "Faults: a full disk (during publish, and under the running system)",
    "test_concurrency": "Concurrency",
    "test_rate_limit": "Rate limiting at the gateway",
    "test_soak": "Load (soak)",
    "test_safe_defaults": "Safe by default: who can reach the gateway and what a web page can make it do",
    "test_hostile_input": "Hostile input: bombs, strict schemas, imports (memory and time figures)",
    "test_training_limits": "The training API's own limits: bodies, import token, exports, re-predict",
}


@dataclass
class Row:
    nodeid: str
    case: str
    description: str
    outcome: str
    observed: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    at: str = ""
    line: int = 0

    @property
    def module(self) -> str:
        return Path(self.nodeid.split("::")[0]).stem


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_rows(path: Path) -> dict[str, Row]:
    """The rows stored in an earlier file, by nodeid (none if there is no file)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    start = text.find(DATA_BEGIN)
    if start < 0:
        return {}
    end = text.find(DATA_END, start)
    try:
        raw = json.loads(text[start + len(DATA_BEGIN) : end])
    except ValueError:
        return {}
    return {item["nodeid"]: Row(**item) for item in raw}


def still_exists(row: Row, repo: Path) -> bool:
    """False for rows of tests that were renamed or removed since they were measured."""
    path = repo / row.nodeid.split("::")[0]
    function = row.case.split("[")[0]
    return path.is_file() and re.search(rf"def {re.escape(function)}\b", path.read_text()) is not None


def merge(old: dict[str, Row], new: dict[str, Row], repo: Path, collected: set[str]) -> list[Row]:
    """Old rows of tests that still exist, updated by this run's; `collected` = every nodeid
    this run collected (deselected included): in a collected file it decides alone."""
    files = {nodeid.split("::")[0] for nodeid in collected}

    def keep(row: Row) -> bool:
        if row.nodeid.split("::")[0] in files:
            return row.nodeid in collected
        return still_exists(row, repo)

    rows = {k: v for k, v in old.items() if keep(v)}
    rows.update(new)
    order = list(SECTIONS)
    return sorted(
        rows.values(), key=lambda r: (order.index(r.module) if r.module in order else 99, r.line, r.nodeid)
    )


def render(rows: list[Row], *, run_at: str) -> str:
    passed = sum(r.outcome == "passed" for r in rows)
    lines = [
        "# Reliability",
        "",
        "Written by the reliability suite (`tests/reliability/`, part of `make test`); do not edit",
        "by hand: rerun the suite (`.venv/bin/python -m pytest tests/reliability`) and commit the",
        "result. The 10-minute load run is `make soak` (`scripts/soak`); the suite runs a",
        "60-second version of it against the test stack.",
        "",
        f"Last written: {run_at} on a machine with {os.cpu_count()} CPU cores.",
        f"Cases: {len(rows)}, passed: {passed}, not passed: {len(rows) - passed}.",
        "",
        "Decisions recorded by these tests: a 1x1 image and a JPEG with 60 KB of EXIF are valid",
        "images and are predicted; a JPEG with a ZIP or HTML appended decodes as the JPEG it is",
        "and is served back only as `image/jpeg` with `nosniff`; GIF (animated or a GIF/JS",
        "polyglot) and SVG are refused with 415; client filenames are metadata only.",
        "",
        "Not repeated here: a worker SIGKILLed mid-job is tested by the training suite",
        "(`tests/stack/test_retrain_stack.py::test_killed_worker_fails_the_job_and_the_next_retrain_works`).",
    ]
    failing = [r for r in rows if r.outcome != "passed"]
    if failing:
        lines += ["", "Not passed (what was expected, then what happened; the row below has more):", ""]
        for r in failing:
            lines.append(f"- `{_cell(r.case)}`: {_cell(r.description)} Got: {_cell(r.observed)[:240]}")
    for module, title in SECTIONS.items():
        section = [r for r in rows if r.module == module]
        if section:
            lines += ["", f"## {title}", "", *_recovery_table(section), *_table(section)]
            lines += _figures(section)
    other = [r for r in rows if r.module not in SECTIONS]
    if other:
        lines += ["", "## Other", "", *_table(other)]
    payload = json.dumps([asdict(r) for r in rows], indent=1, sort_keys=True)
    return "\n".join(lines) + "\n\n" + DATA_BEGIN + payload + DATA_END + "\n"


def _table(rows: list[Row]) -> list[str]:
    out = ["| case | what it checks | outcome | observed | s | measured at |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| `{_cell(r.case)}` | {_cell(r.description)} | **{r.outcome}** | {_cell(r.observed)} "
            f"| {r.seconds:.1f} | {r.at} |"
        )
    return out


def _recovery_table(rows: list[Row]) -> list[str]:
    """One line per part killed: what a person cares about after a crash."""
    killed = [r for r in rows if "seconds_to_healthy" in r.figures]
    if not killed:
        return []
    out = [
        "| part killed | seconds until every part is healthy | failed requests meanwhile | "
        "corrections lost (of acknowledged) |",
        "|---|---|---|---|",
    ]
    for r in killed:
        f = r.figures
        part = r.case.rpartition("[")[2].rstrip("]")
        out.append(
            f"| {_cell(part)} | {_fmt(f['seconds_to_healthy'])} | {_fmt(f.get('failed_requests'))} "
            f"| {_fmt(f.get('corrections_lost'))} (of {_fmt(f.get('acknowledged'))}) |"
        )
    return [*out, ""]


def _figures(rows: list[Row]) -> list[str]:
    out: list[str] = []
    for r in rows:
        if not r.figures:
            continue
        out += ["", f"Figures of `{_cell(r.case)}` ({r.at}):", "", "| figure | value |", "|---|---|"]
        out += [f"| {_cell(k)} | {_cell(_fmt(v))} |" for k, v in r.figures.items()]
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _cell(text: str) -> str:
    """Text safe inside one markdown table cell."""
    text = " ".join(str(text).split())
    text = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= 400 else text[:397] + "..."
