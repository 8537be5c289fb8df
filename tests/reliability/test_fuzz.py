"""API fuzzing with schemathesis against each service's own OpenAPI schema (directly on its port).

Every operation gets MAX_EXAMPLES positive and MAX_EXAMPLES negative (schema-violating)
examples, derandomised so that a run is repeatable. Each response goes through each check
separately, so one test can say "no 5xx" and another "replies match the schema".

Left out on the training service, because one example could start minutes of training or
change the model every other test relies on: POST /retrain, POST /models/{version}/activate
and POST /models/import (each has its own tests in tests/training and test_faults.py).
"""

from collections import Counter
from dataclasses import dataclass, field

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.core.result import Ok

from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 25
EXCLUDED = {
    "training": ["POST /retrain", "POST /models/{version}/activate", "POST /models/import"],
    "inference": [],
}
CHECKS = {
    "not_a_server_error": st_checks.not_a_server_error,
    "response_schema_conformance": st_checks.response_schema_conformance,
    "content_type_conformance": st_checks.content_type_conformance,
    "status_code_conformance": st_checks.status_code_conformance,
}


@dataclass(frozen=True)
class Failure:
    operation: str
    status: int
    line: str


@dataclass
class FuzzRun:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    operations: list[str] = field(default_factory=list)
    no_negative: list[str] = field(default_factory=list)

    def failed(self, check: str) -> list[Failure]:
        return self.failures.get(check, [])


def fuzz(base_url: str, excluded: list[str]) -> FuzzRun:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    run = FuzzRun()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"the schema at {base_url} is invalid: {result.err()}")
        operation = result.ok()
        if operation.label in excluded:
            continue
        run.operations.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, base_url, run)
    return run


def fuzz_operation(operation, mode: GenerationMode, base_url: str, run: FuzzRun) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def one(case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        run.requests += 1
        run.statuses[response.status_code] += 1
        for name, check in CHECKS.items():
            try:
                case.validate_response(response, checks=[check])
            except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup of one check's failures
                run.failures.setdefault(name, []).append(
                    Failure(
                        operation.label, response.status_code, describe(case, mode, response.status_code, exc)
                    )
                )

    try:
        one()
    except hypothesis.errors.Unsatisfiable:
        run.no_negative.append(operation.label)  # nothing to break: no parameters, no body


def describe(case, mode: GenerationMode, status: int, exc: BaseException) -> str:
    """One line: the request that failed a check, what came back and the check's title."""
    inner = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else exc
    title = getattr(inner, "title", None) or type(inner).__name__
    return f"{case.method} {case.formatted_path} ({mode.value}) -> {status}: {title}"[:200]


@pytest.fixture(scope="module", params=["inference", "training"])
def fuzz_run(request: pytest.FixtureRequest, stack: Stack) -> tuple[str, FuzzRun]:
    service = request.param
    base_url = stack.inference_url if service == "inference" else stack.training_url
    return service, fuzz(base_url, EXCLUDED[service])


def summary(run: FuzzRun) -> str:
    statuses = dict(sorted(run.statuses.items()))
    return f"{run.requests} requests over {len(run.operations)} operations; statuses {statuses}"


def distinct(failures: list[Failure]) -> list[str]:
    return sorted({f.line for f in failures})[:8]


def test_fuzz_service_never_answers_5xx(fuzz_run: tuple[str, FuzzRun], stack: Stack, record) -> None:
    """No fuzzed request gets a server error (5xx); the stack stays healthy."""
    service, run = fuzz_run
    record(f"{service}: {summary(run)}; 5xx: {distinct(run.failed('not_a_server_error')) or 'none'}")
    assert not run.failed("not_a_server_error"), distinct(run.failed("not_a_server_error"))
    stack.wait_ready(timeout=30)


def test_fuzz_service_replies_match_its_schema(fuzz_run: tuple[str, FuzzRun], record) -> None:
    """Every reply's body and content type are what the service's OpenAPI schema declares."""
    service, run = fuzz_run
    checks = ("response_schema_conformance", "content_type_conformance")
    broken = [f"{name}: {line}" for name in checks for line in distinct(run.failed(name))]
    counts = {name: len(run.failed(name)) for name in checks if run.failed(name)}
    record(f"{service}: non-conforming replies {counts or 'none'}; e.g. {broken[:3]}")
    assert not broken, broken


def test_fuzz_service_documents_every_status_it_answers(fuzz_run: tuple[str, FuzzRun], record) -> None:
    """Every status a reply carries (400, 404, 413, 415...) is declared in the OpenAPI schema."""
    service, run = fuzz_run
    undocumented = run.failed("status_code_conformance")
    by_operation: dict[str, set[int]] = {}
    for failure in undocumented:
        by_operation.setdefault(failure.operation, set()).add(failure.status)
    found = {op: sorted(statuses) for op, statuses in sorted(by_operation.items())}
    record(
        f"{service}: {len(undocumented)} replies with a status the schema does not declare: {found or 'none'}"
    )
    assert not undocumented, found
