"""The zero-shot leak flag: a pool partner that overlaps a focal agent's training is flagged
(and left out of its aggregates); a held-out one is not."""
import pytest

from arena.checkpoint import new_agent, params_to_bytes, save_checkpoint, sha256_hex
from arena.tournaments.leaks import NO_PARAMS, leak
from arena.tournaments.spec import make_spec
from arena.tournaments.tournament import run_tournament

SHAPING_A = {"placement_in_pot": 3.0, "dish_pickup": 3.0, "soup_pickup": 5.0,
             "dish_distance": 0.0, "pot_distance": 0.0, "soup_distance": 0.0}
SHAPING_B = {**SHAPING_A, "pot_distance": 7.5}


def manifest(name, sha, env="overcooked/forced_coord", **prov):
    return {"name": name, "env": env, "params": {"sha256": sha}, "provenance": prov}


def test_no_params_is_the_sha_of_empty_params():
    assert sha256_hex(params_to_bytes({})) == NO_PARAMS


def test_a_single_agent_leaks_only_with_itself_or_its_own_run():
    focal = manifest("f", "aa", seed=0, shaping=SHAPING_A)
    assert "trained with" in leak(focal, manifest("copy", "aa"))  # its own params, renamed
    assert "same training run" in leak(focal, manifest("rerun", "bb", seed=0, shaping=SHAPING_A))
    assert leak(focal, manifest("other-seed", "cc", seed=1, shaping=SHAPING_A)) is None
    assert leak(focal, manifest("other-shaping", "dd", seed=0, shaping=SHAPING_B)) is None
    assert leak(focal, manifest("other-env", "ee", env="overcooked/cramped_room", seed=0, shaping=SHAPING_A)) is None
    assert leak(focal, manifest("no-shaping", "ff", seed=0)) is None  # nothing says it is the same run


def test_an_ensemble_leaks_with_any_members_run_or_recorded_partner():
    members = [{"name": "m0", "sha256": "m0sha", "seed": 0, "shaping": SHAPING_A},
               {"name": "m1", "sha256": "m1sha", "seed": 1, "shaping": SHAPING_B}]
    ens = manifest("ens", "ens-sha", members=members, partners=["bc-partner"])
    assert "m1" in leak(ens, manifest("pool-0", "m1sha"))
    assert "m0" in leak(ens, manifest("pool-1", "xx", seed=0, shaping=SHAPING_A))
    assert "records it" in leak(ens, manifest("bc-partner", "yy"))
    assert leak(ens, manifest("held-out", "zz", seed=0, shaping=SHAPING_B)) is None
    # The partner's own record counts too: it names the focal agent as a training partner.
    assert "it records ens" in leak(ens, manifest("br", "ww", partners=["ens"]))


def save(folder, name, arch, config=None, seed=0, **prov):
    m, params = new_agent(arch, "coord_game", seed=seed, side=None, config=config or {}, name=name)
    m = m.replace(provenance={**m.provenance, "best_return": 1.0, **prov})
    path = folder / f"{name}.ckpt"
    save_checkpoint(path, m, params)
    return m, str(path)


@pytest.mark.parametrize("overlap", [True, False])
def test_zeroshot_tournament_flags_an_overlapping_pool_and_not_a_clean_one(tmp_path, overlap):
    m0, p0 = save(tmp_path, "m0", "mlp_actor_critic", seed=0, shaping=SHAPING_A)
    _, p1 = save(tmp_path, "m1", "mlp_actor_critic", seed=1, shaping=SHAPING_A)
    members = [{"name": "m0", "sha256": m0.params.sha256, "seed": 0, "shaping": SHAPING_A}]
    _, focal = save(tmp_path, "focal", "scripted", {"rule": "constant", "action": 0}, members=members)
    # The pool: m0 itself (overlapping), or m1, another seed of the same shaping (clean).
    pool = [p0 if overlap else p1]
    spec = make_spec("zeroshot", [focal], pool=pool, env_kwargs={"rounds": 1}, episodes=2)
    report, _ = run_tournament(spec, db=str(tmp_path / "z.sqlite"))
    row = report["zeroshot"]["focal"][0]
    (partner,) = row["partners"]
    assert partner["trained_with"] is overlap and (partner["leak"] is not None) is overlap
    assert row["flagged"] == (["m0"] if overlap else [])
    assert ("mean" in row) is not overlap  # a leaked partner is left out of the aggregates

