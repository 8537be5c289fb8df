"""How the system view finds the inference replicas and sums up what they serve."""

from training_api.health import system_status
from training_api.replicas import replica_urls, summarize


def replica(url: str, version: int | None, *, ready: bool = True, error: str | None = None) -> dict:
    return {"url": url, "ok": ready, "ready": ready, "model_version": version, "error": error}


def test_replicas_listen_on_consecutive_ports() -> None:
    assert replica_urls("http://127.0.0.1:8001", 3) == [
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8002",
        "http://127.0.0.1:8003",
    ]
    assert replica_urls("http://localhost:9000/", 1) == ["http://localhost:9000"]


def test_a_name_that_does_not_resolve_is_kept_so_its_health_says_unreachable() -> None:
    assert replica_urls("http://no-such-host.invalid:8001", 1) == ["http://no-such-host.invalid:8001"]


def test_every_replica_on_the_active_version_is_ok() -> None:
    part = summarize([replica("a", 3), replica("b", 3)], active=3)
    assert part["ok"] and not part["converging"] and part["model_version"] == 3
    assert [r["url"] for r in part["replicas"]] == ["a", "b"] and "ok" not in part["replicas"][0]
    assert system_status(True, part) == "ok"


def test_a_replica_still_on_the_old_version_is_converging_and_shows_the_old_one() -> None:
    part = summarize([replica("a", 4), replica("b", 3)], active=4)
    assert part["ok"] and part["converging"] and part["model_version"] == 3
    assert system_status(True, part) == "converging"


def test_a_replica_down_is_degraded() -> None:
    part = summarize([replica("a", 4), replica("b", None, ready=False, error="unreachable")], active=4)
    assert not part["ok"] and part["error"] == "unreachable"
    assert system_status(False, part) == "degraded"


def test_a_replica_that_failed_to_load_the_active_version_is_stale_not_converging() -> None:
    failed = "version 5 failed to load: model.onnx is not a valid ONNX file"
    part = summarize([replica("a", 4, error=failed)], active=5)
    assert part["ok"] and not part["converging"] and part["stale"] and part["error"] == failed
    assert system_status(True, part) == "stale"
