"""Create version 1 when the model store is empty: the ImageNet prior, and the COCO
detector's when settings.prior asks for it and its files are there (scripts/setup).

python -m tagloop.model.bootstrap
"""

import logging
import time
from pathlib import Path

from tagloop.model.build import build_model
from tagloop.model.publish import publish_model
from tagloop.model.v1_thresholds import stored_fit
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
    detector = first_detector(settings)
    prior = "imagenet+coco" if detector is not None else "imagenet"
    log.info("model store %s is empty: building version 1 from the %s prior", store.dir, prior)
    model = build_model(cache_dir=settings.cache_dir, backbone="lite0", detector=detector is not None)
    # Thresholds fitted on the evaluation set's tuning part, where kept, and the set's figures at
    # them (tagloop.model.v1_thresholds).
    fit = stored_fit(prior, settings.detector_size)
    meta = FIRST_META.model_copy(
        update={
            "prior": prior,
            "source": f"{prior}-prior",
            "thresholds": fit.get("thresholds", {}),
            "evaluation_set": fit.get("figures") or None,
        }
    )
    version = publish_model(
        store, model, meta, activate=True, cache_dir=settings.cache_dir, detector=detector
    )
    log.info("published version %d in %.1f s", version, time.monotonic() - started)
    return version


def first_detector(settings: CommonSettings) -> Path | None:
    """The COCO detector's ONNX for version 1, or None: TAGLOOP_PRIOR=imagenet, or the
    detector cannot be had (version 1 is then the ImageNet prior alone)."""
    if settings.prior == "imagenet":
        return None
    from tagloop.model.detector_convert import detector_files_present, detector_onnx

    if not detector_files_present(settings.detector_dir):
        log.warning(
            "the COCO detector is not in %s (scripts/setup fetches it): "
            "version 1 uses the ImageNet prior alone",
            settings.detector_dir,
        )
        return None
    try:
        return detector_onnx(settings.detector_dir, settings.cache_dir, side=settings.detector_size)
    except Exception:  # a converter that fails here must not leave the service without a model
        log.warning(
            "the COCO detector could not be converted: version 1 uses the ImageNet prior alone", exc_info=True
        )
        return None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    version = ensure_first_version(CommonSettings())
    print(f"created version {version}" if version is not None else "a version already exists")


if __name__ == "__main__":
    main()
