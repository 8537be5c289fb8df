"""The promotion gate: the split by image hash and the rule."""

import hashlib

from tagloop.training.gate import ALL, HELD_OUT, Split, decide, is_held_out, split_examples


def _ids(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_split_is_deterministic_by_image_hash():
    ids = _ids(60)
    split = split_examples(ids, modulus=5, min_holdout=5)
    assert split.basis == HELD_OUT
    assert [ids[i] for i in split.evaluate] == [i for i in ids if int(i[:8], 16) % 5 == 0]
    assert sorted(split.train + split.evaluate) == list(range(60))
    assert split_examples(list(reversed(ids)), modulus=5, min_holdout=5).held_out == split.held_out


def test_split_uses_everything_when_too_few_are_held_out():
    ids = [i for i in _ids(40) if not is_held_out(i, modulus=5)][:6] + [
        i for i in _ids(40) if is_held_out(i, modulus=5)
    ][:2]
    split = split_examples(ids, modulus=5, min_holdout=5)
    assert split.basis == ALL and split.held_out == 2
    assert split.train == split.evaluate == list(range(8))


def test_gate_promotes_a_candidate_within_tolerance():
    split = Split(train=[0], evaluate=[1, 2, 3, 4, 5], basis=HELD_OUT, held_out=5)
    d = decide(
        candidate_loss=0.101,
        parent_loss=0.1,
        split=split,
        min_holdout=5,
        tolerance=0.02,
        force=False,
    )
    assert d.promoted and d.reason.startswith("promoted") and "5 held-out images" in d.reason


def test_gate_refuses_a_worse_candidate_and_says_why():
    split = Split(train=[0], evaluate=[1, 2, 3, 4, 5], basis=HELD_OUT, held_out=5)
    d = decide(candidate_loss=0.2, parent_loss=0.1, split=split, min_holdout=5, tolerance=0.02, force=False)
    assert not d.promoted
    assert "not promoted: candidate log-loss 0.2000 is worse than the parent version's 0.1000" in d.reason


def test_gate_with_few_held_out_says_so():
    split = Split(train=[0, 1, 2], evaluate=[0, 1, 2], basis=ALL, held_out=1)
    d = decide(
        candidate_loss=0.05,
        parent_loss=0.1,
        split=split,
        min_holdout=5,
        tolerance=0.02,
        force=False,
    )
    assert d.promoted and "only 1 held out, fewer than 5" in d.reason


def test_force_promotes_and_keeps_the_verdict():
    split = Split(train=[0], evaluate=[1, 2, 3, 4, 5], basis=HELD_OUT, held_out=5)
    d = decide(candidate_loss=0.2, parent_loss=0.1, split=split, min_holdout=5, tolerance=0.02, force=True)
    assert d.promoted and d.reason.startswith("forced promotion; the gate said: candidate log-loss")
