"""A population against a frozen opponent (`arena train population --opponent`): its members
equal the same seeds trained alone with `train ppo --opponent`, the frozen team never
changes, provenance and population.json name the opponent, it resumes exactly, and a bad
opponent is one line.

mpe_tag_intent with 5-step episodes and the tiny settings of test_train.py's frozen-opponent
test; the prey is a fresh random mlp_actor_critic.
"""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from arena.agents.trainers import RunSpec, train
from arena.agents.trainers.population import PopulationSpec, recorded_population, train_population
from arena.checkpoint import load_agent, new_agent, save_checkpoint

ENV_KW = {"max_steps": 5}
SETTINGS = {"num_envs": 4, "num_steps": 5, "num_minibatches": 2, "total_steps": 2 * 4 * 5}  # 2 updates
SEEDS = (3, 5)


def _spec(out, prey) -> PopulationSpec:
    return PopulationSpec("mpe_tag_intent", out=str(out), seed=3, seeds=SEEDS, env_kwargs=ENV_KW, config=SETTINGS,
                          opponent=str(prey))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(folder, prey path, the population's result, each seed's `train ppo --opponent` result)."""
    root = tmp_path_factory.mktemp("popopp")
    prey = root / "prey.ckpt"
    save_checkpoint(prey, *new_agent("mlp_actor_critic", "mpe_tag_intent", side="prey", seed=4, env_kwargs=ENV_KW))
    pop = train_population(_spec(root / "pop", prey), chunk=1, checkpoint_every=1, progress=False)
    alone = [train("ppo", RunSpec("mpe_tag_intent", out=str(root / f"alone-{s}.ckpt"), seed=s, env_kwargs=ENV_KW,
                                  config=SETTINGS, opponent=str(prey)), chunk=1, checkpoint_every=1, progress=False)
             for s in SEEDS]
    return root / "pop", prey, pop, alone


@pytest.mark.slow  # five compiles (population and single-run init and chunk, the reference match): ~1 min CPU
def test_a_population_against_an_opponent_equals_its_seeds_trained_alone(runs):
    out, prey_path, pop, alone = runs
    prey = load_agent(prey_path)
    assert [p.name for p in pop.outputs] == ["member-00-predators.ckpt", "member-01-predators.ckpt"]
    for i, single in enumerate(alone):
        together = jax.tree.map(lambda x, i=i: x[i], pop.state.members)
        for a, b in zip(jax.tree.leaves(single.state), jax.tree.leaves(together)):
            a, b = np.asarray(a), np.asarray(b)
            if np.issubdtype(a.dtype, np.floating):
                # vmapped matmuls sum in another order (test_population.py): float tolerance.
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            else:
                np.testing.assert_array_equal(a, b)
        # The frozen prey: every member's copy is the checkpoint's params, bit for bit.
        for a, b in zip(jax.tree.leaves(together.params[1]), jax.tree.leaves(prey.params)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        mine = load_agent(out / f"member-{i:02d}-predators.ckpt").manifest
        theirs = load_agent(single.outputs[0]).manifest
        assert mine.plays == ("predators",) and mine.provenance["seed"] == SEEDS[i]
        assert mine.provenance["trained_with"] == theirs.provenance["trained_with"]
        assert "against frozen prey" in mine.provenance["trained_with"] and prey.name in mine.provenance["trained_with"]
        assert mine.provenance["best_return"] is not None  # measured against the frozen prey
    doc = json.loads((out / "population.json").read_text())
    assert doc["opponent"] == {"checkpoint": str(prey_path), "name": prey.name, "sha256": prey.manifest.params.sha256,
                               "team": "prey"}
    assert [m["checkpoints"] for m in doc["members"]] == [["member-00-predators.ckpt"], ["member-01-predators.ckpt"]]


@pytest.mark.slow  # the fixture's runs; test_population.py resumes populations in the default suite
def test_a_population_against_an_opponent_resumes_exactly(runs, tmp_path, monkeypatch):
    from tests.test_train import interrupt_at_chunk

    _, prey, ref, _ = runs
    spec = _spec(tmp_path / "pop", prey)
    with monkeypatch.context() as m:
        interrupt_at_chunk(m, 2)
        stopped = train_population(spec, chunk=1, checkpoint_every=1, progress=False)
    assert stopped.interrupted and stopped.updates == 1
    recorded = recorded_population(tmp_path / "pop")
    assert recorded.opponent == str(prey)
    resumed = train_population(recorded, resume=True, chunk=1, checkpoint_every=1, progress=False)
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), resumed.state, ref.state)
    assert all(jax.tree.leaves(same)), "resumed population diverged from the uninterrupted one"


@pytest.mark.parametrize("env, opponent, message", [
    ("mpe_tag_intent", "zoo:ppo-tag-s0-prey", "must fit exactly one team of mpe_tag_intent"),  # mpe_tag's prey
    ("coord_game", "zoo:intent-prey", "an opponent needs a team game"),
    ("mpe_tag_intent", "zoo:no-such-prey", "no such zoo agent"),
])
def test_cli_population_with_a_bad_opponent_is_one_line(env, opponent, message, tmp_path, monkeypatch, arena_cli):
    monkeypatch.chdir(tmp_path)
    run = arena_cli("train", "population", "--env", env, "--opponent", opponent, "--n", "2", "-o", "pop", "--quiet")
    err = run.err.strip()
    assert run.code == 2 and err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "pop").exists()  # nothing written

