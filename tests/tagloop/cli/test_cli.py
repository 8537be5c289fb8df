"""The `tagloop` command: train from a VOC folder, evaluate, list/activate/import versions."""

import json
from pathlib import Path

import pytest
from tagloop.classes import VOC_CLASSES
from tagloop.cli import main
from tagloop.store import ModelStore

from tests.support.voc import make_seed_h5, make_voc

pytestmark = pytest.mark.slow


def run(capsys, models_dir: Path, data_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--models-dir", str(models_dir), "--data-dir", str(data_dir), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_from_voc_publishes_a_version_with_metrics(capsys, tmp_path: Path, models_dir: Path):
    voc = make_voc(tmp_path)
    code, out, _ = run(
        capsys, models_dir, tmp_path / "data", "train", "--voc-dir", voc, "--epochs", 40, "--activate", "yes"
    )
    assert code == 0
    assert "training on 16 images (trainval), evaluating on 8 (test)" in out
    assert "mAP:" in out and "motorbike" in out and "published version 2 (active)" in out
    store = ModelStore(models_dir, "voc")
    meta = store.meta(2)
    assert store.active_version() == 2 and meta.parent == 1 and meta.samples == 16
    assert set(meta.metrics["candidate"]["per_class_ap"]) == set(VOC_CLASSES)
    assert meta.metrics["candidate"]["mAP"] >= meta.metrics["active"]["mAP"] - 1e-9
    assert len(list((tmp_path / "data" / "cache" / "features").rglob("*.npy"))) == 24

    code, out, _ = run(
        capsys, models_dir, tmp_path / "data", "evaluate", "--version", 2, "--voc-dir", voc, "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["version"] == 2 and report["samples"] == 8
    assert report["mAP"] == pytest.approx(meta.metrics["candidate"]["mAP"], abs=1e-3)  # ONNX vs Keras


def test_evaluate_with_images_and_labels_csv(capsys, tmp_path: Path, models_dir: Path):
    voc = make_voc(tmp_path, train_variants=0)
    labels = tmp_path / "labels.csv"
    rows = [
        "filename,labels",
        "000000.jpg,cat",
        "020000.jpg,person",
        "050000.jpg,motorbike;person",
        "010000.jpg,",
    ]
    labels.write_text("\n".join(rows) + "\n")
    code, out, _ = run(
        capsys, models_dir, tmp_path / "data", "evaluate", "--images", voc / "JPEGImages", "--labels", labels
    )
    assert code == 0
    assert out.startswith("version 1\nsamples: 4")
    assert "F1@per-class thresholds" in out  # version 1 has them (fitted on the tuning photos)


def test_evaluate_rejects_unknown_labels_in_csv(capsys, tmp_path: Path, models_dir: Path):
    voc = make_voc(tmp_path, train_variants=0)
    labels = tmp_path / "labels.csv"
    labels.write_text("000000.jpg,unicorn\n")
    code, _, err = run(
        capsys, models_dir, tmp_path / "data", "evaluate", "--images", voc / "JPEGImages", "--labels", labels
    )
    assert code == 2 and "unknown classes ['unicorn']" in err


def test_models_import_list_and_activate(capsys, tmp_path: Path, models_dir: Path):
    seed = make_seed_h5(tmp_path / "voc_multilabel_final.h5")
    code, out, _ = run(capsys, models_dir, tmp_path / "data", "models", "import", seed)
    assert code == 0 and "as version 2" in out
    code, out, _ = run(capsys, models_dir, tmp_path / "data", "models", "list")
    lines = out.splitlines()
    assert lines[1].split()[0] == "2" and lines[2].split()[:2] == ["*", "1"]
    assert "import:voc_multilabel_final.h5" in lines[1]
    code, out, _ = run(capsys, models_dir, tmp_path / "data", "models", "activate", 2)
    assert code == 0 and ModelStore(models_dir, "voc").active_version() == 2
    code, _, err = run(capsys, models_dir, tmp_path / "data", "models", "activate", 9)
    assert code == 2 and "model version 9 does not exist" in err


def test_models_import_refuses_a_file_that_is_no_model(capsys, tmp_path: Path, models_dir: Path):
    bogus = tmp_path / "model.h5"
    bogus.write_bytes(b"not an hdf5 file")
    code, _, err = run(capsys, models_dir, tmp_path / "data", "models", "import", bogus)
    assert code == 2 and "could not be loaded as a Keras model" in err
    assert ModelStore(models_dir, "voc").version_numbers() == [1]


def test_models_new_efficientnetb0_offline_names_the_default(capsys, tmp_path: Path, models_dir: Path):
    # These machines reach no weight server: the option fails clearly and publishes nothing.
    code, out, err = run(
        capsys, models_dir, tmp_path / "data", "models", "new", "--backbone", "efficientnetb0"
    )
    if code == 0:  # weights already in ~/.keras: then a version was published
        assert "as version 2" in out
    else:
        assert code == 2 and "use the default backbone lite0" in err
        assert ModelStore(models_dir, "voc").version_numbers() == [1]
