"""Hot reload: follow the store's `active` pointer, woken early by Redis pub/sub.

One background thread. It listens on the reload channel with a timeout of
`reload_poll_s`, and after every message or timeout reads the `active` pointer: the
pointer is the truth, a message only says "look now". So when Redis is down the pointer
is still read every second, and the thread reconnects when Redis comes back.

A version that fails to load is remembered and not retried until the pointer names
another one; the old model keeps serving and `/health` shows the error. Before loading a
new version, the reloader waits until no request still holds the version retired by the
previous swap, so at most two versions are ever in memory; once that retired model is
gone, the C heap is trimmed so that its memory really goes back to the system.

At start only (nothing served yet), an active version that fails to load is replaced by
another one that loads: a restart never leaves the service without a model while a good
version exists. `/health` says which version failed and which one serves.
"""

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import redis
from tagloop.errors import VersionNotFoundError
from tagloop.heap import trim_heap
from tagloop.store import ModelStore

from inference_api.engine import ModelLoadError, ModelSlot, ServedModel, load_failure_reason

log = logging.getLogger(__name__)

# What one look at the pointer did: nothing left to do, a load failed, or the pointer moved
# while a version was loading (look again).
DONE, FAILED, MOVED = "done", "failed", "moved"

Loader = Callable[..., ServedModel]


class ModelReloader:
    def __init__(
        self,
        *,
        store: ModelStore,
        slot: ModelSlot,
        load: Loader,
        redis_url: str,
        channel: str,
        poll_s: float = 1.0,
        retired_wait_s: float = 30.0,
        on_reload: Callable[[bool, int], None] = lambda ok, version: None,
    ):
        self.store = store
        self.slot = slot
        self.load = load
        self.redis_url = redis_url
        self.channel = channel
        self.poll_s = poll_s
        self.retired_wait_s = retired_wait_s
        self.on_reload = on_reload
        self.redis_ok = False
        self.failed_version: int | None = None
        self._retired: weakref.ref[ServedModel] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Subscribe before serving, so /health says whether Redis is there from the first request."""
        first = self._subscribe()
        self._thread = threading.Thread(target=self._run, args=(first,), name="reloader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check_pointer(self) -> None:
        """Load the version the `active` pointer names, unless it is live or known broken.

        Looks again at once when the pointer moved while a version was loading.
        """
        with self._lock:
            while self._follow_pointer() == MOVED:
                pass

    def _follow_pointer(self) -> str:
        self._release_retired()
        try:
            wanted = self.store.active_version()
        except (OSError, ValueError) as exc:
            log.warning("cannot read the active pointer: %s", exc)
            return DONE
        if wanted is None or wanted == self.failed_version:
            return DONE
        self.failed_version = None
        if wanted == self.slot.version:  # e.g. rolled back to the live one: nothing failed
            self.slot.error = None
            return DONE
        starting = self.slot.current is None
        outcome = self._load_and_swap(wanted)
        if outcome == FAILED and starting:
            self._serve_fallback(instead_of=wanted)
        return outcome

    def retired_in_use(self) -> bool:
        """Whether some request still holds the model retired by the last swap."""
        return self._retired is not None and self._retired() is not None

    # -- internals -----------------------------------------------------------------

    def _load_and_swap(self, version: int) -> str:
        """Load `version` and swap it in; on failure remember it, report it, keep serving.

        Loading takes a while; if the pointer moved meanwhile (a newer activation), the
        loaded model is dropped rather than served: an older version must never be swapped
        in after a newer one was activated. The next check loads what the pointer names.
        """
        model = self._load(version)
        if isinstance(model, str):
            log.error("%s; still serving version %s", model, self.slot.version)
            self.failed_version = version
            self.slot.error = model
            self.on_reload(False, version)
            return FAILED
        if self._pointer_moved_from(version):
            log.info("version %d loaded, but the active pointer moved meanwhile: not serving it", version)
            return MOVED
        self._swap(model)
        self.slot.error = None
        self.on_reload(True, version)
        return DONE

    def _pointer_moved_from(self, version: int) -> bool:
        try:
            return self.store.active_version() != version
        except (OSError, ValueError):
            return False  # unreadable for a moment: the version we loaded is the last we read

    def _serve_fallback(self, *, instead_of: int) -> None:
        """At start: serve the first of `fallback_order` that loads, saying why in /health."""
        failure = self.slot.error
        for version in fallback_order(self.store, broken=instead_of):
            model = self._load(version)
            if isinstance(model, str):
                log.error("fallback: %s", model)
                continue
            self._swap(model)
            self.slot.error = f"active {failure}; serving version {version} instead"
            log.warning("%s", self.slot.error)
            self.on_reload(True, version)
            return

    def _load(self, version: int) -> ServedModel | str:
        """The loaded model, or why it failed (one line, no server paths)."""
        self._wait_for_retired()
        try:
            return self.load(folder=self.store.path(version), version=version)
        except ModelLoadError as exc:
            return str(exc)
        except Exception as exc:
            return f"version {version} failed to load: {load_failure_reason(exc)}"
        finally:
            trim_heap()  # loading frees the parsed file, a failed load a whole session

    def _swap(self, model: ServedModel) -> None:
        old = self.slot.current
        self.slot.current = model  # The swap: one reference assignment.
        self._retired = weakref.ref(old) if old is not None else None
        log.info("now serving model version %d (was %s)", model.version, old and old.version)

    def _release_retired(self) -> None:
        """Once no request holds the retired model any more, give its memory back."""
        if self._retired is not None and self._retired() is None:
            self._retired = None
            trim_heap()

    def _wait_for_retired(self) -> None:
        deadline = time.monotonic() + self.retired_wait_s
        while self.retired_in_use():
            if time.monotonic() > deadline:
                log.warning("requests still hold a retired model; loading anyway")
                return
            time.sleep(0.01)
        self._release_retired()

    def _run(self, pubsub: "redis.client.PubSub | None") -> None:
        while True:
            try:
                self._listen(pubsub)
            finally:
                if pubsub is not None:
                    _close_quietly(pubsub)
            if self._stop.is_set():
                return
            pubsub = self._subscribe()

    def _subscribe(self) -> "redis.client.PubSub | None":
        try:
            client = redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=1.0, socket_timeout=self.poll_s + 5
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(self.channel)
        except redis.RedisError as exc:
            self._set_redis(False, exc)
            return None
        self._set_redis(True)
        return pubsub

    def _listen(self, pubsub: "redis.client.PubSub | None") -> None:
        """Until Redis fails (then return, to reconnect) or stop: wait, then read the pointer."""
        while not self._stop.is_set():
            if pubsub is None:
                self._stop.wait(self.poll_s)
            else:
                try:
                    pubsub.get_message(timeout=self.poll_s)
                except (redis.RedisError, OSError) as exc:
                    self._set_redis(False, exc)
                    pubsub = None
            self._check_safely()
            if pubsub is None:
                return

    def _check_safely(self) -> None:
        try:
            self.check_pointer()
        except Exception:  # The thread must survive anything, or reloads stop for good.
            log.exception("reload check failed")

    def _set_redis(self, ok: bool, exc: Exception | None = None) -> None:
        if ok != self.redis_ok:
            if ok:
                log.info("subscribed to %s on Redis", self.channel)
            else:
                log.warning("Redis is away (%s); watching the active pointer only", exc)
        self.redis_ok = ok


def _close_quietly(pubsub: "redis.client.PubSub") -> None:
    with contextlib.suppress(Exception):  # the connection is already broken
        pubsub.close()


def fallback_order(store: ModelStore, *, broken: int) -> list[int]:
    """Versions to try instead of `broken`: its ancestors first, then the others, newest first.

    The parent was live when `broken` was trained from it: the last known good version.
    Newer versions may be candidates that were never promoted, so they come after it.
    """
    versions = store.version_numbers()
    ancestors: list[int] = []
    parent = _parent(store, broken)
    while parent in versions and parent != broken and parent not in ancestors:
        ancestors.append(parent)
        parent = _parent(store, parent)
    return ancestors + [v for v in reversed(versions) if v != broken and v not in ancestors]


def _parent(store: ModelStore, version: int) -> int | None:
    try:
        parent = store.meta(version).parent
    except (OSError, ValueError, VersionNotFoundError):
        return None
    return parent if isinstance(parent, int) else None


def store_for(models_dir: Path, name: str) -> ModelStore:
    """The store inference reads: it never publishes, so it announces nothing."""
    return ModelStore(models_dir, name)
