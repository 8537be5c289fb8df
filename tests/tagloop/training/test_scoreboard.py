"""Every version scored on one set (tagloop.training.scoreboard), on the tiny model."""

import keras
import numpy as np
from tagloop.model.publish import publish_model
from tagloop.training.gate import is_held_out
from tagloop.training.loaded import LoadedModel
from tagloop.training.scoreboard import load_scoreboard, save_scoreboard, score_versions
from tagloop.version_meta import VersionMeta

from tests.tagloop.training.tiny import retrain_tiny, tiny_data


def test_every_version_is_scored_on_the_same_photos_and_says_which_it_learned(store_with_seed, tmp_path):
    store, cache = store_with_seed
    loaded = LoadedModel.from_store(store, 1, cache_dir=cache)
    data = tiny_data(loaded, 80, learnable=True)
    ids = list(range(1, len(data.keys) + 1))  # correction ids, oldest first
    learned_through = 60  # the retrain saw the first 60 corrections; 20 came after it
    retrain_tiny(store, loaded, cache, data, force=True, corrections_through=learned_through)
    # a model on another backbone: it cannot be scored on these features
    other = keras.models.load_model(store.path(1) / "model.h5", compile=False)
    publish_model(store, other, VersionMeta(source="import:x", backbone_id="another"), activate=False)
    live = loaded.top_trainer.predict(data.x)

    held = [i for i, key in enumerate(data.keys) if is_held_out(key, modulus=5)]
    board = score_versions(
        store,
        loaded,
        x=data.x[held],
        y=data.y[held],
        correction_ids=[ids[i] for i in held],
        rule=data.rule,
        after_version=2,
    )
    assert board.photos == len(held) >= 5
    assert set(board.versions) == {1, 2} and board.other_backbone == [3]
    first, retrained = board.versions[1], board.versions[2]
    assert first.metrics["samples"] == retrained.metrics["samples"] == len(held)
    assert first.seen == 0 and first.unseen == first.metrics  # version 1 learned no correction
    assert retrained.seen == sum(ids[i] <= learned_through for i in held)
    assert 0 < retrained.seen < len(held)
    assert retrained.unseen is not None and retrained.unseen["samples"] == len(held) - retrained.seen
    # the two versions' own tops were applied: the retrained one knows these classes, the seed does not
    assert retrained.metrics["mAP"] > first.metrics["mAP"] + 0.1
    assert np.allclose(loaded.top_trainer.predict(data.x), live, atol=1e-6)  # the live top is back

    save_scoreboard(tmp_path / "scoreboard.json", board)
    assert load_scoreboard(tmp_path / "scoreboard.json") == board
    assert load_scoreboard(tmp_path / "missing.json") is None
