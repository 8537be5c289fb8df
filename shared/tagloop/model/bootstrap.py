"""Create version 1 (the ImageNet prior) when the model store is empty.

python -m tagloop.model.bootstrap
"""

import logging
import time

from tagloop.model.build import build_model
from tagloop.model.publish import publish_model
from tagloop.settings import CommonSettings
from tagloop.store import Announce, ModelStore
from tagloop.version_meta import VersionMeta

log = logging.getLogger(__name__)

FIRST_META = VersionMeta(parent=None, samples=0, backbone="efficientnet-lite0", source="imagenet-prior")


def ensure_first_version(settings: CommonSettings, announce: Announce | None = None) -> int | None:
    """Publish and activate version 1 if the store has no version; None if one exists."""
    store = ModelStore(
        settings.models_dir, settings.model_name, keep=settings.keep_versions, announce=announce
    )
    if store.version_numbers():
        log.info("model store %s already has versions; nothing to do", store.dir)
        return None
    started = time.monotonic()
    log.info("model store %s is empty: building version 1 from the ImageNet prior", store.dir)
    model = build_model(cache_dir=settings.cache_dir, backbone="lite0")
    version = publish_model(store, model, FIRST_META, activate=True, cache_dir=settings.cache_dir)
    log.info("published version %d in %.1f s", version, time.monotonic() - started)
    return version


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    version = ensure_first_version(CommonSettings())
    print(f"created version {version}" if version is not None else "a version already exists")


if __name__ == "__main__":
    main()
