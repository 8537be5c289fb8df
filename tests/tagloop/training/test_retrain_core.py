"""The retrain core (tagloop.training.retrain.run_retrain) on a tiny model: no stack, no backbone work.

The features are drawn at random for a small seed-style model; what is checked is the
core's own work: fit, judge by the one rule, publish, and put the weights back when the
candidate is not promoted.
"""

import numpy as np
from tagloop.training.policy import corrections_data

from tests.tagloop.training.tiny import retrain_tiny, tiny_data


def test_run_retrain_publishes_meta_with_the_gate_statistics(store_with_seed):
    from tagloop.training.loaded import LoadedModel

    store, cache = store_with_seed
    loaded = LoadedModel.from_store(store, 1, cache_dir=cache)
    data = tiny_data(loaded, 60, learnable=True)
    stages: list[str] = []
    outcome = retrain_tiny(store, loaded, cache, data, progress=lambda stage, **fields: stages.append(stage))
    assert outcome.version == 2 and outcome.parent == 1
    assert {"training", "evaluating", "publishing"} <= set(stages)
    meta = store.meta(2)
    assert meta.gate is not None and meta.gate.photos == data.split.held_out == len(data.split.evaluate)
    assert meta.gate.test in ("paired bootstrap", "label sets reproduced") and meta.reason
    assert meta.promoted is outcome.candidate.decision.promoted
    # every correction was scored once by a candidate that did not train on it (the audit's input)
    assert set(outcome.candidate.out_of_fold) == set(data.keys)
    assert outcome.candidate.fit.final_loss is not None
    assert outcome.candidate.fit.final_loss < outcome.candidate.fit.loss_curve[0]


def test_run_retrain_refused_keeps_the_parent_loaded(store_with_seed):
    from tagloop.training.loaded import LoadedModel

    store, cache = store_with_seed
    loaded = LoadedModel.from_store(store, 1, cache_dir=cache)
    data = tiny_data(loaded, 40, learnable=False)
    before = loaded.top_trainer.predict(data.x)
    # held-out labels: what the parent says (so it is right there); the rest: random classes
    parent_says = (before >= 0.5).astype(np.float32)
    y = data.y.copy()
    y[data.split.evaluate] = parent_says[data.split.evaluate]
    data = corrections_data(data.keys, data.x, y, modulus=5, min_holdout=5)
    outcome = retrain_tiny(store, loaded, cache, data)
    gate = store.meta(2).gate
    assert outcome.candidate.decision.promoted is False and gate is not None, (
        outcome.candidate.decision.reason
    )
    assert gate.code == "not_reproduced" and gate.parent_right == len(data.split.evaluate)
    assert store.active_version() == 1
    assert np.allclose(loaded.top_trainer.predict(data.x), before, atol=1e-6)


def test_anchor_changes_do_not_count_photos_that_follow_their_look_alike_correction():
    from tagloop.training.candidate import anchor_changes
    from tagloop.training.fit import Anchors

    x = np.eye(4, dtype=np.float32)  # corrections 0 and 1; anchors like 0, like 1, and two others
    y = np.zeros((2, 20), np.float32)
    y[0, 7] = y[1, 11] = 1  # cat, dog
    data = corrections_data(["a" * 64, "b" * 64], x[:2], y, modulus=5, min_holdout=5)
    anchors = Anchors(np.stack([x[0] + 0.1, x[1] + 0.1, x[2], x[3]]), np.zeros((4, 20), np.float32))
    after = np.zeros((4, 20), np.float32)
    after[0, 7] = 1  # follows correction 0: cat
    after[1, 7] = 1  # looks like correction 1 (dog) but became a cat: a spill
    after[2, 3] = 1  # an unrelated photo became a boat: a spill
    assert anchor_changes(anchors, after, data, np.full(20, 0.5), np.full(20, 0.5)) == (2, 1)


def test_anchor_changes_leave_out_a_score_that_only_crossed_its_threshold_by_a_hair():
    from tagloop.training.candidate import anchor_changes
    from tagloop.training.fit import Anchors

    x = np.eye(3, dtype=np.float32)
    y = np.zeros((1, 20), np.float32)
    y[0, 7] = 1
    data = corrections_data(["a" * 64], x[:1], y, modulus=5, min_holdout=5)
    before = np.zeros((2, 20), np.float32)
    before[:, 11] = 0.49  # both anchors sat just under the threshold for "dog"
    anchors = Anchors(x[1:], before)
    after = before.copy()
    after[0, 11] = 0.51  # a hair across: noise, not a change a person would see
    after[1, 11] = 0.80  # clearly across: the correction spilled onto it
    thresholds = np.full(20, 0.5)
    assert anchor_changes(anchors, after, data, thresholds, thresholds, margin=0.05) == (1, 0)
    assert anchor_changes(anchors, after, data, thresholds, thresholds) == (2, 0)
