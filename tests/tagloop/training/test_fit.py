"""TopTrainer on cached features: it learns corrections, and leaves alone what needs no learning."""

import numpy as np
import pytest
from tagloop.classes import VOC_CLASSES
from tagloop.model.build import split_model
from tagloop.training.features import Backbone
from tagloop.training.fit import FitConfig, TopTrainer
from tagloop.training.voc import label_matrix


@pytest.fixture(scope="module")
def features(model, photos) -> np.ndarray:
    return Backbone(model)(np.stack(list(photos.values())))


@pytest.fixture
def trainer(model):
    """A trainer of the v1 top; its weights are put back after each test (the model is shared)."""
    top = split_model(model)[1]
    weights = top.get_weights()
    yield TopTrainer(top)
    top.set_weights(weights)


def _labels(p: np.ndarray) -> list[list[str]]:
    return [[VOC_CLASSES[i] for i in np.flatnonzero(row >= 0.5)] for row in p]


def test_predict_is_the_top(trainer, features):
    assert np.allclose(trainer.predict(features), np.asarray(trainer.top(features)), atol=1e-6)


def test_labels_already_predicted_train_nothing(trainer, features):
    p = trainer.predict(features)
    assert _labels(p) == [["cat"], []]  # v1 on chelsea and coffee
    before = [w.copy() for w in trainer.top.get_weights()]
    result = trainer.fit(features, label_matrix(_labels(p)), config=FitConfig(margin=0.1))
    assert result.epochs_run == 0 and result.loss_curve == [] and result.stopped_early
    assert all(np.array_equal(a, b) for a, b in zip(before, trainer.top.get_weights(), strict=True))


def test_contradicting_labels_are_learned_and_the_prior_kept(trainer, features):
    prior = [w.numpy().copy() for w in trainer.top.non_trainable_weights]
    wanted = [["dog"], ["bottle"]]
    result = trainer.fit(features, label_matrix(wanted), config=FitConfig())
    assert 0 < result.epochs_run < 100 and result.stopped_early
    assert result.loss_curve[-1] < result.loss_curve[0]
    assert _labels(trainer.predict(features)) == wanted
    after = [w.numpy() for w in trainer.top.non_trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(prior, after, strict=True))
