"""The promotion gate: the split by image hash and the rule (paired test, small samples, anchors)."""

import hashlib

import numpy as np
from tagloop.training.gate import ALL, HELD_OUT, GateRule, Judged, Split, decide, is_held_out
from tagloop.training.policy import corrections_data

RULE = GateRule(min_holdout=5, min_paired=30, confidence=0.95, rounds=2000, anchor_change_limit=0.1)


def _ids(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def _split(ids: list[str]):
    return corrections_data(
        ids, np.zeros((len(ids), 3)), np.zeros((len(ids), 20)), modulus=5, min_holdout=5
    ).split


def _judged(n: int, *, candidate_loss: float, parent_loss: float, seed: int = 0, **anchors: int) -> Judged:
    """n photos with one label each; the models give the true class p = exp(-loss * 20)-ish
    noise around the given mean per-photo loss (a photo's loss is its right class' term)."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 20))
    y[np.arange(n), rng.integers(0, 20, n)] = 1

    def scores(loss: float) -> np.ndarray:
        per_photo = np.clip(rng.normal(loss, loss / 4, n), 1e-3, None) * 20
        p = np.full((n, 20), 1e-6)
        p[y > 0] = np.exp(-per_photo)
        return p

    return Judged(y, scores(candidate_loss), scores(parent_loss), 0.5, 0.5, **anchors)


def test_split_holds_out_by_image_hash():
    ids = _ids(60)
    split = _split(ids)
    assert split.basis == HELD_OUT
    assert [ids[i] for i in split.evaluate] == [i for i in ids if int(i[:8], 16) % 5 == 0]
    assert sorted(split.train + split.evaluate) == list(range(60))
    assert _split(list(reversed(ids))).held_out == split.held_out


def test_split_uses_everything_when_too_few_are_held_out():
    ids = [i for i in _ids(40) if not is_held_out(i, modulus=5)][:6] + [
        i for i in _ids(40) if is_held_out(i, modulus=5)
    ][:2]
    split = _split(ids)
    assert split.basis == ALL and split.held_out == 2
    assert split.train == split.evaluate == list(range(8))


def test_gate_promotes_a_candidate_worse_on_one_photo():
    # The case: a higher mean log-loss that one or two photos make.
    split = Split(train=[0], evaluate=list(range(40)), basis=HELD_OUT, held_out=40)
    same = _judged(40, candidate_loss=0.05, parent_loss=0.05)
    candidate = same.parent.copy()
    candidate[0] = np.where(same.y[0] > 0, 0.01, 1e-6)  # worse on photo 0
    candidate[1] = np.where(same.y[1] > 0, 0.99, 1e-6)  # better on photo 1
    judged = Judged(same.y, candidate, same.parent, 0.5, 0.5)
    d = decide(judged, split=split, rule=RULE, force=False)
    assert (d.stats.loss_difference or 0) > 0.02 * 0.05  # worse than the old 2 % tolerance allowed
    assert d.promoted and d.reason.startswith("promoted: the candidate is not significantly worse")
    assert d.promoted and d.reason.startswith("promoted: the candidate is not significantly worse")
    assert d.stats.code == "not_worse" and d.stats.photos == 40 and d.stats.test == "paired bootstrap"
    assert d.stats.interval is not None and d.stats.interval[0] <= 0 <= d.stats.interval[1]


def test_gate_refuses_a_significantly_worse_candidate_and_says_why():
    split = Split(train=[0], evaluate=list(range(40)), basis=HELD_OUT, held_out=40)
    d = decide(_judged(40, candidate_loss=0.2, parent_loss=0.05), split=split, rule=RULE, force=False)
    assert not d.promoted and d.stats.code == "significantly_worse"
    assert d.reason.startswith("not promoted: the candidate is significantly worse than the parent version")
    assert d.stats.interval is not None and d.stats.interval[0] > 0


def test_gate_with_few_held_out_does_not_reject_on_loss():
    split = Split(train=[0], evaluate=list(range(7)), basis=HELD_OUT, held_out=7)
    judged = _judged(7, candidate_loss=0.02, parent_loss=0.01)  # twice the loss, every photo right
    d = decide(judged, split=split, rule=RULE, force=False)
    assert d.promoted and d.stats.code == "reproduced" and "fewer than 30 held out" in d.reason


def test_gate_with_few_held_out_refuses_a_candidate_that_gets_fewer_right():
    split = Split(train=[0], evaluate=list(range(7)), basis=HELD_OUT, held_out=7)
    judged = _judged(7, candidate_loss=0.5, parent_loss=0.001)
    d = decide(judged, split=split, rule=RULE, force=False)
    assert not d.promoted and d.stats.code == "not_reproduced"
    assert d.stats.candidate_right < d.stats.parent_right == 7


def test_gate_refuses_a_candidate_that_changes_photos_nobody_corrected():
    split = Split(train=[0, 1, 2], evaluate=[0, 1, 2], basis=ALL, held_out=1)
    judged = _judged(3, candidate_loss=0.001, parent_loss=0.001, anchors=20, anchors_changed=3)
    d = decide(judged, split=split, rule=RULE, force=False)
    assert not d.promoted and d.stats.code == "anchors_changed"
    assert "3 of 20 photos nobody corrected changed their labels (at most 2 allowed; 0 more" in d.reason
    assert "only 1 held out, fewer than 5" in d.reason


def test_force_promotes_and_keeps_the_verdict():
    split = Split(train=[0], evaluate=list(range(40)), basis=HELD_OUT, held_out=40)
    d = decide(_judged(40, candidate_loss=0.2, parent_loss=0.05), split=split, rule=RULE, force=True)
    assert d.promoted and d.reason.startswith(
        "forced promotion; the gate said: the candidate is significantly"
    )
    assert d.stats.forced and d.stats.code == "significantly_worse" and not d.stats.passed
