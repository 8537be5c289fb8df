"""Fixtures of the model tests: the converted weights and built models, made once per session."""

from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from tagloop.contract import IMAGE_SIZE
from tagloop.model import lite0
from tagloop.model.build import build_model


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data volume whose cache/ receives the weights conversion (fresh each session)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def cache_dir(data_dir: Path) -> Path:
    return data_dir / "cache"


@pytest.fixture(scope="session")
def weights(cache_dir: Path) -> dict[str, np.ndarray]:
    return lite0.load_imagenet_weights(cache_dir)


@pytest.fixture(scope="session")
def classifier(weights: dict[str, np.ndarray]) -> keras.Model:
    return lite0.build_imagenet_classifier(weights)


@pytest.fixture(scope="session")
def model(cache_dir: Path, weights: dict[str, np.ndarray]) -> keras.Model:
    """The version-1 model (ImageNet prior, zero head)."""
    return build_model(cache_dir=cache_dir)


def to_model_input(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 photo -> (224, 224, 3) float32 in [0, 1], resized as the services do."""
    resized = Image.fromarray(image).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Two real photos from scikit-image: a cat (chelsea) and a cup of coffee."""
    from skimage import data

    return {"chelsea": to_model_input(data.chelsea()), "coffee": to_model_input(data.coffee())}
