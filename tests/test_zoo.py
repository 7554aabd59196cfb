"""The shipped zoo: every checkpoint loads by name, matches its sha256, and plays a match."""
from __future__ import annotations

import json

import msgpack
import pytest

from arena.agents.zoo import ZOO_DIR, zoo_names
from arena.agents.zoo.build import RECIPES, Recipe
from arena.checkpoint import load_agent, sha256_hex
from arena.match import play_match
from arena.tournaments.zsc_study import ZOO_POOL

SHIPPED = [r for r in RECIPES if all((ZOO_DIR / f"{f}.ckpt").is_file() for f in r.files)]


def test_the_zoo_has_every_recipe_and_fits_its_budget():
    missing = [f for r in RECIPES for f in r.files if f not in zoo_names()]
    assert not missing, f"recipes without a checkpoint: {missing}"
    total = sum(p.stat().st_size for p in ZOO_DIR.iterdir() if p.is_file())
    assert total <= 25 * 2**20


def test_the_zoo_readme_describes_every_agent():
    readme = (ZOO_DIR / "README.md").read_text()
    for name in zoo_names():
        assert f"`{name}`" in readme
    assert "python -m arena.agents.zoo.build" in readme


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_checkpoint_loads_and_matches_its_sha256(name):
    raw = msgpack.unpackb((ZOO_DIR / f"{name}.ckpt").read_bytes(), raw=False)
    loaded = load_agent(f"zoo:{name}")  # verifies the hash itself, too
    assert sha256_hex(raw["params"]) == loaded.manifest.params.sha256 == raw["manifest"]["params"]["sha256"]
    prov = loaded.manifest.provenance
    for field in ("algorithm", "seed", "steps", "wall_time_s", "hyperparameters", "reward_shaping",
                  "final_training_return", "best_return", "best_return_episodes"):
        assert field in prov, f"{name}: provenance lacks {field}"
    # The zero-shot reference: self-play measured over 256 episodes (build.py --references).
    assert isinstance(prov["best_return"], float) and prov["best_return_episodes"] == 256
    assert prov["steps"] == prov["planned_steps"], f"{name} is a partial run"


@pytest.mark.parametrize("recipe", SHIPPED, ids=lambda r: r.name)
def test_zoo_agents_play_a_short_match(recipe: Recipe):
    refs = [f"zoo:{f}" for f in recipe.files]
    lineup = refs * 2 if len(refs) == 1 else refs
    report, results = play_match(lineup, env_kwargs={"max_steps": 12}, episodes=2, seed=0, swap=False)
    assert report["env"] == recipe.env
    assert results[0].length.tolist() == [12, 12]


POOL = [n for n in zoo_names() if n.startswith(ZOO_POOL)]


def test_the_held_out_pool_names_its_shapings_and_overlaps_no_zoo_agent():
    from arena.envs.overcooked_shaping import FEATURES, WEIGHT_RANGE
    from arena.tournaments.leaks import leak

    assert len(POOL) >= 2, "the zoo ships a held-out pool for overcooked/forced_coord"
    pool = [load_agent(f"zoo:{n}").manifest for n in POOL]
    focal = [load_agent(f"zoo:{n}").manifest for n in zoo_names() if n not in POOL]
    for m in pool:
        assert m.env == "overcooked/forced_coord"
        shaping = m.provenance["shaping"]
        assert list(shaping) == list(FEATURES)
        assert all(WEIGHT_RANGE[0] <= w <= WEIGHT_RANGE[1] for w in shaping.values())
        for f in focal:
            assert leak(f.to_dict(), m.to_dict()) is None, (f.name, m.name)
    assert len({json.dumps(m.provenance["shaping"], sort_keys=True) for m in pool}) == len(pool)
