"""Rate limiting of /predict and /batch_predict at the gateway (settings TAGLOOP_PREDICT_*)."""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.render import native_values, render
from tests.support.stack import REPO, Stack
from tests.support.stack_checks import assert_json_error
from tests.support.waiting import wait_until

BURST_REQUESTS = 200


def test_render_takes_rate_and_burst_from_settings() -> None:
    """The rate and burst come from TAGLOOP_PREDICT_RATE / TAGLOOP_PREDICT_BURST."""
    template = (REPO / "gateway/tagloop.conf.template").read_text()
    text = render(template, native_values({"TAGLOOP_PREDICT_RATE": "7r/s", "TAGLOOP_PREDICT_BURST": "3"}))
    assert "zone=predict:10m rate=7r/s;" in text
    assert text.count("limit_req zone=predict burst=3 nodelay;") == 2
    defaults = render(template, native_values({}))
    assert "rate=30r/s" in defaults and "burst=60 nodelay" in defaults


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/predict", "/batch_predict"])
def test_predict_flood_gets_429_json_then_recovers(stack: Stack, record, path: str) -> None:
    """A flood from one address gets 429 in the JSON shape beyond the burst, then recovers."""
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        # An empty multipart body: the service answers 422, which is enough to count.
        def hit(_: int) -> httpx.Response:
            return client.post(path, files={"x": ("a", b"")})

        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = list(pool.map(hit, range(BURST_REQUESTS)))
        statuses = Counter(r.status_code for r in replies)
        limited = [r for r in replies if r.status_code == 429]
        assert limited, statuses
        assert set(statuses) <= {422, 429}, statuses
        assert_json_error(limited[0], 429, "too many")
        recovered_after = wait_until_not_limited(client, path)
    record(f"{dict(statuses)} for {BURST_REQUESTS} requests; served again after {recovered_after:.1f}s")


def wait_until_not_limited(client: httpx.Client, path: str, timeout: float = 10) -> float:
    started = time.monotonic()
    wait_until(
        lambda: client.post(path, files={"x": ("a", b"")}).status_code != 429,
        timeout=timeout,
        interval=0.2,
        what=f"{path} no longer limited",
    )
    return time.monotonic() - started
