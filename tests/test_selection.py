"""Shaping selection: each method a pure function of its seed, LHS stratified exactly, the
surrogate choosing what its history says pays, and the diversity report by hand."""
from __future__ import annotations

import numpy as np
import pytest

from arena.agents.trainers import selection as S


@pytest.mark.parametrize("n", [1, 2, 8, 10])
def test_lhs_puts_exactly_one_sample_in_each_stratum_per_weight(n):
    w = S.lhs_shapings(seed=3, n=n, k=6)
    assert w.shape == (n, 6)
    strata = np.floor((w - S.LOW) / (S.HIGH - S.LOW) * n).astype(int)
    for j in range(6):
        assert sorted(strata[:, j]) == list(range(n)), f"weight {j}: strata {sorted(strata[:, j])}"


def test_lhs_pairs_strata_differently_across_weights_and_seeds():
    a = S.lhs_shapings(0, 10, 6)
    assert not all(np.array_equal(np.argsort(a[:, 0]), np.argsort(a[:, j])) for j in range(1, 6))
    assert not np.array_equal(a, S.lhs_shapings(1, 10, 6))


def test_methods_are_pure_functions_of_their_seed():
    np.testing.assert_array_equal(S.random_shapings(5, 8, 6), S.random_shapings(5, 8, 6))
    np.testing.assert_array_equal(S.lhs_shapings(5, 8, 6), S.lhs_shapings(5, 8, 6))
    r = S.random_shapings(5, 64, 6)
    assert r.min() >= S.LOW and r.max() <= S.HIGH and not np.array_equal(r, S.random_shapings(6, 64, 6))
    assert S.same_shapings(3).tolist() == [list(S.SAME)] * 3


def test_the_surrogate_chooses_what_its_history_says_pays():
    # Earlier runs whose return grows with weight 0 and falls with weight 1.
    hist = S.random_shapings(0, 40, 6)
    returns = 10 * hist[:, 0] - 5 * hist[:, 1]
    config = S.SurrogateConfig(steps=300, candidates=200)
    chosen = S.surrogate_shapings(1, 5, hist, returns, config)
    assert chosen.shape == (5, 6)
    np.testing.assert_array_equal(chosen, S.surrogate_shapings(1, 5, hist, returns, config))
    assert chosen[:, 0].mean() > 7.5 and chosen[:, 1].mean() < 2.5  # uniform candidates average 5
    with pytest.raises(ValueError, match="at least 2 earlier runs"):
        S.surrogate_shapings(1, 5, hist[:1], returns[:1], config)


def test_diversity_by_hand():
    w = np.array([[0.0, 5.0], [10.0, 5.0]])
    d = S.diversity(w, ["a", "b"])
    # stds: 5 and 0 -> mean 2.5; ranges covered: 100% and 0% -> 50%
    assert d["mean_std"] == 2.5 and d["range_covered_pct"] == 50.0
    assert d["per_weight"]["a"] == {"std": 5.0, "min": 0.0, "max": 10.0, "range_covered_pct": 100.0}
    assert S.diversity(S.same_shapings(4), list("abcdef"))["mean_std"] == 0.0
