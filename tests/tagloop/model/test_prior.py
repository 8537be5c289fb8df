import numpy as np
import pytest
from tagloop.classes import CLASS_INDEX, VOC_CLASSES
from tagloop.model import prior


def test_load_mapping_covers_every_voc_class():
    mapping = prior.imagenet_to_voc()
    assert list(mapping) == list(VOC_CLASSES)
    assert all(mapping[voc] for voc in VOC_CLASSES)


def test_load_mapping_known_classes():
    mapping = prior.imagenet_to_voc()
    assert set(range(151, 269)) <= set(mapping["dog"])
    assert set(range(281, 286)) == set(mapping["cat"])
    assert {404, 895} <= set(mapping["aeroplane"])
    assert {610, 834} <= set(mapping["person"])  # jersey, suit


def test_build_matrix_maps_each_imagenet_class_once():
    matrix = prior.mapping_matrix()
    assert matrix.shape == (1000, 20)
    assert set(np.unique(matrix)) == {0.0, 1.0}
    assert matrix.sum(axis=1).max() == 1.0
    assert matrix[281, CLASS_INDEX["cat"]] == 1.0


def test_predict_v1_cat_photo_says_cat(model, photos):
    scores = np.asarray(model(photos["chelsea"][None]))[0]
    assert scores[CLASS_INDEX["cat"]] >= 0.5
    assert np.argmax(scores) == CLASS_INDEX["cat"]


def test_predict_v1_coffee_photo_says_nothing(model, photos):
    scores = np.asarray(model(photos["coffee"][None]))[0]
    assert scores.max() < 0.5


def test_a_stronger_detector_animal_takes_back_imagenet_dog_mass():
    """ImageNet reads a horse among people as dog breeds (p 0.6); the detector sees the horse
    (0.74) far above a dog (0.2): the dog's ImageNet prior is scaled by 1 - 0.74. Where the
    detector's dog is the strongest animal, or the class is not an animal, nothing changes."""
    from tagloop.model.layers import SiblingSuppressedLogit

    dog, horse, person = CLASS_INDEX["dog"], CLASS_INDEX["horse"], CLASS_INDEX["person"]
    layer = SiblingSuppressedLogit([CLASS_INDEX[a] for a in prior.ANIMALS], len(VOC_CLASSES))
    p = np.full((2, 20), 0.6, np.float32)
    scores = np.zeros((2, 20), np.float32)
    scores[0, [dog, horse, person]] = 0.2, 0.74, 0.9
    scores[1, [dog, horse]] = 0.8, 0.74
    logit = np.log(p / (1 - p))
    out = 1 / (1 + np.exp(-np.asarray(layer([logit, scores]))))
    assert out[0, dog] == pytest.approx(0.6 * (1 - 0.74), abs=1e-5)
    assert out[0, horse] == pytest.approx(0.6, abs=1e-5)  # its own detector score is the highest
    assert out[0, person] == pytest.approx(0.6, abs=1e-5)  # not an animal: the person score is no sibling
    assert out[1, dog] == pytest.approx(0.6, abs=1e-5)
    assert out[1, horse] == pytest.approx(0.6 * (1 - 0.8), abs=1e-5)
