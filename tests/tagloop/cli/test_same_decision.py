"""One promotion rule: `tagloop train` and the worker's retrain judge the same candidate alike.

The same images with the same labels, from the same version 1: the job holds out the
corrections whose hash says so, and the VOC folder puts exactly those in its test split.
Both then fit the candidate on the others, in the same order, and judge it on those.
"""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tagloop.cli import main
from tagloop.store import ModelStore
from tagloop.training.gate import is_held_out
from training_api.main import create_app

from tests.support.training import (
    CONTRADICTING,
    correct,
    image_bytes,
    label_sets,
    make_settings,
    retrain,
    serve,
    sha,
    store_images,
)
from tests.support.voc import write_voc

pytestmark = pytest.mark.slow


def variants_held_out_last(n: int, modulus: int) -> tuple[list[bytes], list[list[str]]]:
    """n photo variants with their CONTRADICTING labels, those to train on first and the
    held-out ones last (the order of the VOC folder's trainval and test splits)."""
    images = image_bytes(n)
    order = sorted(range(n), key=lambda i: is_held_out(sha(images[i]), modulus=modulus))
    return [images[i] for i in order], [CONTRADICTING[i % 8] for i in order]


@pytest.mark.parametrize("scheme", ["learnable", "nonsense"])
def test_cli_and_job_decide_the_same_candidate_the_same_way(
    scheme: str, capsys, tmp_path: Path, redis_url: str, models_dir: Path, v1_model_dir: Path
):
    from tests.support.stack import seed_models_dir

    settings = make_settings(models_dir=models_dir, data_dir=tmp_path / "job-data", redis_url=redis_url)
    images, labels = variants_held_out_last(32, settings.holdout_modulus)
    held = [is_held_out(sha(data), modulus=settings.holdout_modulus) for data in images]
    assert sum(held) >= settings.min_holdout
    # learnable: the held-out variants look like trained ones and share their labels.
    if scheme == "nonsense":  # trained on nonsense, judged on what version 1 already says
        says = label_sets(serve(settings, 1, images))
        labels = [says[i] if h else ["sheep", "train", "bus"] for i, h in enumerate(held)]

    with TestClient(create_app(settings)) as client:
        correct(client, store_images(settings.uploads_dir, images), labels)
        job = retrain(client, settings)["result"]

    cli_models = seed_models_dir(tmp_path / "cli-models", v1_model_dir)
    voc = write_voc(tmp_path, images, labels, test=held)
    places = ["--models-dir", str(cli_models), "--data-dir", str(tmp_path / "cli-data")]
    assert main([*places, "train", "--voc-dir", str(voc)]) == 0
    print(capsys.readouterr().out)
    cli = ModelStore(cli_models, settings.model_name).meta(2)

    assert job["metrics"]["basis"] == cli.metrics["basis"] == "held-out"
    assert job["promoted"] is cli.promoted is (scheme == "learnable")
    for model in ("candidate", "active"):
        assert cli.metrics[model]["samples"] == job["metrics"][model]["samples"] == sum(held)
        assert cli.metrics[model]["loss"] == pytest.approx(job["metrics"][model]["loss"], abs=1e-4), model
