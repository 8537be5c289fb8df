import numpy as np
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
