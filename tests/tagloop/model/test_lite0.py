import io
import os
import pickle

import numpy as np
import pytest
from tagloop.contract import probe_images
from tagloop.model import lite0

# ImageNet logits of the converted classifier on probe_images()[2], recorded once from this
# converter after checking that it classifies real photos right (test_classify_photos below).
REFERENCE_PROBE_INDEX = 2
REFERENCE_LOGITS = {
    0: -0.08914149552583694,
    1: 0.22687041759490967,
    281: 0.13016779720783234,
    285: -0.2512074410915375,
    504: -0.45174095034599304,
    967: -0.27871304750442505,
}
REFERENCE_TOP3 = [916, 446, 623]
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


def test_convert_weights_reproduces_reference_logits(classifier):
    logits = np.asarray(classifier(probe_images()[REFERENCE_PROBE_INDEX : REFERENCE_PROBE_INDEX + 1]))[0]
    for index, expected in REFERENCE_LOGITS.items():
        assert abs(logits[index] - expected) < 1e-4, index
    assert list(np.argsort(-logits)[:3]) == REFERENCE_TOP3


def test_classify_photos_imagenet_top1(classifier, photos):
    logits = np.asarray(classifier(np.stack([photos["chelsea"], photos["coffee"]])))
    assert int(np.argmax(logits[0])) in CAT_CLASSES
    assert int(np.argmax(logits[1])) in COFFEE_CLASSES


def test_load_weights_has_every_tensor(weights):
    # 296 tensors in the pickle, less the 49 BatchNorm num_batches_tracked counters.
    assert len(weights) == 296 - 49
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert all(w.dtype == np.float32 for w in weights.values())


def test_load_weights_reads_cache(cache_dir, weights):
    assert (cache_dir / lite0.CACHE_FILE).is_file()
    again = lite0.load_imagenet_weights(cache_dir)
    assert np.array_equal(again["_bn1.running_var"], weights["_bn1.running_var"])


def test_build_backbone_shapes(weights):
    backbone = lite0.build_backbone(weights)
    assert backbone.name == "backbone"
    assert backbone.input_shape == (None, 224, 224, 3)
    assert backbone.output_shape == (None, 1280)


class _CallsSystem:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def test_unpickle_rejects_other_globals():
    payload = io.BytesIO(pickle.dumps(_CallsSystem()))
    with pytest.raises(lite0.UnsafePickleError, match="system"):
        lite0.restricted_load(payload)


def test_read_weights_rejects_non_torch_file(tmp_path):
    path = tmp_path / "not-weights.pth"
    path.write_bytes(pickle.dumps({"hello": 1}))
    with pytest.raises(lite0.WeightsFormatError):
        lite0.read_torch_legacy(path)
