"""Fixtures and hooks of the reliability suite: the recorder that writes artifacts/RELIABILITY.md.

The committed docs/RELIABILITY.md is updated on purpose, by `make reliability`.
"""

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from tests.support.recorder import Row, load_rows, merge, now, render
from tests.support.stack import REPO, Stack
from tests.support.stack_checks import activate_and_wait

RESULTS_FILE = REPO / "artifacts" / "RELIABILITY.md"
PUBLISHED_FILE = REPO / "docs" / "RELIABILITY.md"
ROWS = pytest.StashKey[dict[str, Row]]()
COLLECTED = pytest.StashKey[set[str]]()
OBSERVED = "reliability-observed"
FIGURES = "reliability-figures"

Record = Callable[..., None]


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Record:
    """record("what was seen", figure=value, ...): goes into this test's row of the report."""

    def add(observed: str = "", **figures: Any) -> None:
        if observed:
            request.node.user_properties.append((OBSERVED, observed))
        if figures:
            request.node.user_properties.append((FIGURES, json.dumps(figures, default=str)))

    return add


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    note(item, report)
    return report


def note(item: pytest.Item, report: pytest.TestReport) -> None:
    """Fold one phase's report (setup, call, teardown) into the test's row."""
    rows = item.config.stash.setdefault(ROWS, {})
    if report.when == "setup" and report.passed:
        return
    if report.when == "teardown" and (report.passed or item.nodeid not in rows):
        return
    row = rows.get(item.nodeid) or _new_row(item)
    row.outcome = _outcome(report) if report.when != "teardown" else "error in teardown"
    row.seconds += report.duration
    observed = [str(v) for k, v in report.user_properties if k == OBSERVED]
    if report.failed and report.when != "teardown":
        observed.append("FAILED: " + _first_line(report.longreprtext))
    row.observed = "; ".join(observed)
    for k, v in report.user_properties:
        if k == FIGURES:
            row.figures.update(json.loads(str(v)))
    rows[item.nodeid] = row


def _new_row(item: pytest.Item) -> Row:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    summary = doc.strip().split("\n")[0]
    return Row(
        nodeid=item.nodeid,
        case=item.name,
        description=summary,
        outcome="",
        at=now(),
        line=item.location[1] or 0,
    )


def _outcome(report: pytest.TestReport) -> str:
    if report.when == "setup" and report.failed:
        return "error in setup"
    return report.outcome


def _first_line(text: str) -> str:
    """The assertion line of a failure (the line starting with 'E'), else the last line."""
    lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    return (lines[0] if lines else text.strip().splitlines()[-1] if text.strip() else "")[:300]


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash.setdefault(COLLECTED, set()).update(i.nodeid for i in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash.setdefault(COLLECTED, set()).update(i.nodeid for i in session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    rows = session.config.stash.get(ROWS, {})
    if not rows:
        return
    collected = session.config.stash.get(COLLECTED, set())
    # A partial run keeps the rows of the cases it did not run, from the last report.
    previous = RESULTS_FILE if RESULTS_FILE.exists() else PUBLISHED_FILE
    merged = merge(load_rows(previous), rows, REPO, collected)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(render(merged, run_at=now()))


@pytest.fixture
def restore_version_1(stack: Stack) -> Iterator[None]:
    """Tests that change the active model leave version 1 active, as other suites expect."""
    yield
    stack.wait_ready()
    activate_and_wait(stack, 1)
