"""The zero-shot study's design, checked without training: every member trains under the
shaping its provenance names, and the held-out pool overlaps no focal run."""
import itertools

import numpy as np

from arena.envs.overcooked_shaping import weights_array
from arena.tournaments.leaks import leak
from arena.tournaments.zsc_study import ENSEMBLES, POPULATIONS, StudyConfig, markdown, population_spec


def member_manifests(name, c):
    spec = population_spec(name, c)
    return [{"name": f"{spec.name}-{i:02d}", "env": spec.env, "params": {"sha256": f"{name}-{i}"},
             "provenance": {**prov, "seed": seed}}
            for i, (seed, prov) in enumerate(zip(spec.seeds, spec.provenance))]


def test_each_member_trains_under_the_shaping_its_provenance_records():
    c = StudyConfig(members=4)
    for name in POPULATIONS:
        spec = population_spec(name, c)
        assert spec.config["shaping_horizon"] == 0  # JaxMARL's annealed shaping off: only the six weights
        for params, prov in zip(spec.env_params, spec.provenance):
            features = np.asarray(params["features"], np.float32)  # as the env casts them
            assert features.shape == (2, 6)  # both cooks, one shaping
            np.testing.assert_array_equal(features, np.tile(weights_array(prov["shaping"]), (2, 1)))
    same = population_spec("same", c).provenance
    assert all(p["shaping"] == same[0]["shaping"] for p in same)
    assert len({tuple(p["shaping"].values()) for p in population_spec("lhs", c).provenance}) == 4


def test_the_pool_is_held_out_from_every_focal_run():
    c = StudyConfig(members=4)
    pool = member_manifests("pool", c)
    for name in ENSEMBLES:
        members = member_manifests(name, c)
        ensemble = {"name": f"{name}-ens", "env": c.env, "params": {"sha256": f"{name}-ens"},
                    "provenance": {"members": [{"name": m["name"], "sha256": m["params"]["sha256"],
                                                **m["provenance"]} for m in members]}}
        for focal, partner in itertools.product([ensemble, *members], pool):
            assert leak(focal, partner) is None, (focal["name"], partner["name"])
        # A pool drawn from the focal population itself would be flagged, member by member.
        assert all(leak(ensemble, m) for m in members)


def test_markdown_table_has_every_row_and_the_interval_level():
    est = {"mean": 40.0, "low": 38.0, "high": 42.0}
    results = {"confidence": 0.9, "leaks": {},
               "scores": {g: {"sparse": est, "soups": {"mean": 2.0}, "vs_same_ensemble_pct": 0.0}
                          for g in ("lhs ensemble", "same ensemble", "single (same shaping)", "single (lhs shaping)")},
               "diversity": {"lhs": {"mean_std": 2.9, "range_covered_pct": 75.0}}}
    text = markdown(results)
    assert "90% CI" in text and "| lhs ensemble | 40.0 [38.0, 42.0] | 2.00 | +0.0% | 58.7 ± 0.36 |" in text
    assert "| single (same shaping) |" in text and "15.0 ± 3.55" in text
    assert "| single (lhs shaping) | 40.0 [38.0, 42.0] | 2.00 | +0.0% |  |" in text  # no paper figure for it
    assert "Leak flags: none" in text
