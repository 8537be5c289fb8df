"""meta.json as one typed model: old files still load, unknown fields survive a round trip."""

import json

from tagloop.store import META_FILE, ModelStore
from tagloop.version_meta import DEFAULT_THRESHOLD, VersionMeta

# What bootstrap wrote for version 1 before VersionMeta, and an imported model's meta.
OLD_V1 = {
    "created": "2026-11-28T10:00:00+00:00",
    "parent": None,
    "samples": 0,
    "backbone": "efficientnet-lite0",
    "source": "imagenet-prior",
    "metrics": {},
    "onnx_max_abs_diff": 2.1e-07,
    "version": 1,
}
OLD_IMPORT = {
    "parent": None,
    "samples": None,
    "backbone": "imported",
    "source": "import:seed.h5",
    "version": 2,
}
OLD_RETRAIN = {
    "parent": 1,
    "samples": 8,
    "metrics": {"basis": "all", "candidate": {"mAP": 0.9}, "active": {"mAP": 0.5}},
    "training": {"epochs_run": 14, "held_out": 2, "evaluated_on": 8, "seconds": 0.4},
    "promoted": True,
    "some_future_field": {"kept": True},
    "version": 3,
}


def test_old_meta_files_load_with_defaults(tmp_path):
    store = ModelStore(tmp_path, "voc")
    for meta in (OLD_V1, OLD_IMPORT, OLD_RETRAIN):
        folder = store.dir / str(meta["version"])
        folder.mkdir()
        (folder / META_FILE).write_text(json.dumps(meta))
    v1, imported, retrained = (store.meta(v) for v in (1, 2, 3))
    assert v1.source == "imagenet-prior" and v1.thresholds == {} and v1.evaluation is None
    assert v1.threshold_list() == [DEFAULT_THRESHOLD] * 20
    assert imported.backbone == "imported" and imported.created is None
    assert retrained.training is not None and retrained.training.epochs_run == 14
    assert retrained.metrics["candidate"]["mAP"] == 0.9
    assert retrained.extra("some_future_field") == {"kept": True}
    assert [info.version for info in store.versions()] == [3, 2, 1]


def test_unknown_fields_survive_a_publish(tmp_path):
    store = ModelStore(tmp_path, "voc")
    meta = VersionMeta.model_validate({**OLD_RETRAIN, "version": None})
    version = store.publish(lambda folder: None, meta, activate=True)
    written = json.loads((store.path(version) / META_FILE).read_text())
    assert written["some_future_field"] == {"kept": True} and written["version"] == version
    assert written["created"]
