"""Calibration metrics against answers computed by hand (numpy only, no jax)."""
import math

import numpy as np
import pytest

from arena.calibration import _statistics, estimates, items, per_step, reliability, step_ranges

FLAT = [0.25, 0.25, 0.25, 0.25]
# Two episodes, two steps, four classes; episode 0's truth is class 0, episode 1's class 2.
BELIEFS = np.array([
    [FLAT, [0.7, 0.1, 0.1, 0.1]],  # sure and right at step 1
    [FLAT, [0.6, 0.1, 0.2, 0.1]],  # sure and wrong at step 1
])
TRUTHS = np.array([0, 2])
LIVE = np.ones((2, 2), bool)


def means(est):
    return {k: e.mean for k, e in est.items()}


def test_metrics_per_step_equal_hand_computed_values():
    it = items(BELIEFS, TRUTHS, LIVE)
    step0 = means(estimates(it, slice(0, 1)))
    # A flat belief: p(true) 1/4, NLL ln 4; argmax is class 0, right in episode 0 only; both
    # items in bin 2 with confidence 0.25: |(0.25 - 1) + (0.25 - 0)| / 2 = 0.25.
    assert step0 == pytest.approx({"p_true": 0.25, "accuracy": 0.5, "nll": math.log(4), "ece": 0.25})
    step1 = means(estimates(it, slice(1, 2)))
    # p(true) (0.7 + 0.2) / 2; NLL (-ln 0.7 - ln 0.2) / 2; ECE: bin 7 holds 0.7 (right, gap
    # -0.3), bin 6 holds 0.6 (wrong, gap 0.6): (0.3 + 0.6) / 2.
    assert step1 == pytest.approx({"p_true": 0.45, "accuracy": 0.5, "nll": (-math.log(0.7) - math.log(0.2)) / 2,
                                   "ece": 0.45})
    both = means(estimates(it))
    # Pooled over the four items: the three bins' gaps |-0.5| + |-0.3| + |0.6| over 4 items.
    assert both == pytest.approx({"p_true": 0.35, "accuracy": 0.5, "nll": (2 * math.log(4) - math.log(0.7) - math.log(0.2)) / 4,
                                  "ece": 0.35})


def test_dead_steps_do_not_count():
    live = np.array([[True, True], [True, False]])  # episode 1 ended after its first step
    est = estimates(items(BELIEFS, TRUTHS, live), slice(1, 2))
    assert means(est) == pytest.approx({"p_true": 0.7, "accuracy": 1.0, "nll": -math.log(0.7), "ece": 0.3})
    assert est["p_true"].n == 1 and est["p_true"].low is None  # one episode: no interval
    nobody = estimates(items(BELIEFS, TRUTHS, np.zeros((2, 2), bool)))
    assert nobody["ece"].n == 0 and math.isnan(nobody["ece"].mean)


def test_seats_are_items_of_their_episode():
    # Two seats per episode at one step: seat 0 flat, seat 1 sure of the truth.
    b = np.array([[[FLAT, [0.0, 0.0, 1.0, 0.0]]]])  # (E=1, T=1, M=2, K=4), truth 2
    est = means(estimates(items(b, np.array([2]), np.ones((1, 1), bool))))
    # ECE: bin 2 gap 0.25 - 0 (argmax 0 is wrong), bin 9 gap 1 - 1: 0.25 / 2 items.
    assert est == pytest.approx({"p_true": 0.625, "accuracy": 0.5, "nll": math.log(4) / 2, "ece": 0.125})


def test_zero_on_the_truth_costs_float32_epsilon_not_infinity():
    b = np.array([[[1.0, 0.0, 0.0, 0.0]]])
    est = means(estimates(items(b, np.array([1]), np.ones((1, 1), bool))))
    assert est["nll"] == pytest.approx(-math.log(np.finfo(np.float32).eps)) and est["ece"] == 1.0


def test_a_bootstrap_resample_weighs_episodes_as_duplicating_them():
    rng = np.random.default_rng(0)
    beliefs = rng.dirichlet(np.ones(4), size=(5, 3))  # (E=5, T=3, K=4)
    truths = rng.integers(0, 4, 5)
    live = np.ones((5, 3), bool)
    sample = np.array([0, 0, 3, 4, 4])  # one resample: episodes 0 and 4 twice, 1 and 2 never
    direct = means(estimates(items(beliefs[sample], truths[sample], live[sample])))
    it = items(beliefs, truths, live)
    num = np.stack([x.sum(axis=1) for x in (it.p_true, it.correct, it.nll)], axis=1)
    gap = it.confidence - it.correct
    signed = np.stack([(gap * (it.bin() == b)).sum(axis=1) for b in range(10)], axis=1)
    resampled = _statistics(num, signed, np.full(5, 3.0))(sample.astype(float), 0)
    assert resampled == pytest.approx([direct[m] for m in ("p_true", "accuracy", "nll", "ece")])
    # Many resamples at once: one row each.
    both = _statistics(num, signed, np.full(5, 3.0))(np.stack([sample, np.arange(5)]).astype(float), 1)
    assert both.shape == (2, 4) and both[0] == pytest.approx(resampled)


def test_intervals_bracket_the_mean_and_vanish_when_episodes_agree():
    rng = np.random.default_rng(1)
    beliefs = rng.dirichlet(np.ones(4), size=(40, 2))
    est = estimates(items(beliefs, rng.integers(0, 4, 40), np.ones((40, 2), bool)), n_boot=500)
    for e in est.values():
        assert e.n == 40 and e.low < e.mean < e.high
    same = estimates(items(np.repeat(BELIEFS[:1], 5, axis=0), np.zeros(5, int), np.ones((5, 2), bool)), n_boot=200)
    assert all(e.low == pytest.approx(e.high) for e in same.values())


def test_step_ranges_bin_long_episodes():
    assert step_ranges(3) == [(0, 1), (1, 2), (2, 3)]
    assert step_ranges(25, rows=25) == [(t, t + 1) for t in range(25)]
    assert step_ranges(400, rows=25) == [(t, t + 16) for t in range(0, 400, 16)]
    assert step_ranges(26, rows=25)[-1] == (24, 26)
    rows = per_step(items(BELIEFS, TRUTHS, LIVE), n_boot=100)
    assert [r["steps"] for r in rows] == [[0, 1], [1, 2]] and rows[1]["p_true"]["mean"] == pytest.approx(0.45)


def test_reliability_bins_hold_hand_counted_items():
    rel = reliability(items(BELIEFS, TRUTHS, LIVE))
    assert len(rel) == 10 and sum(r["items"] for r in rel) == 4
    assert rel[2] == pytest.approx({"low": 0.2, "high": 0.3, "items": 2, "confidence": 0.25, "accuracy": 0.5})
    assert rel[6]["accuracy"] == 0.0 and rel[7]["accuracy"] == 1.0
    assert rel[0] == {"low": 0.0, "high": 0.1, "items": 0, "confidence": None, "accuracy": None}
