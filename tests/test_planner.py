"""belief_planner: built from checkpoints, it plans on the true simulator with the prey's corner
drawn from its belief, so the right corner catches more than a wrong one; its replays verify."""
import jax
import numpy as np
import pytest

from arena.agent import World, build_agent
from arena.agents.planner import build
from arena.checkpoint import load_agent, new_agent, save_checkpoint
from arena.envs import make
from arena.errors import UserError
from arena.match import record_replay
from arena.runner import run_match

ENV = "mpe_tag_intent"
LABELS = ["NE", "NW", "SE", "SW"]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """Checkpoints of the scripted prey (straight for its corner) and base predators (chase)."""
    folder = tmp_path_factory.mktemp("scripted")
    out = {}
    for rule, side in (("seek_corner", "prey"), ("chase", "predators")):
        manifest, params = new_agent("scripted", ENV, side=side, config={"rule": rule}, name=rule)
        save_checkpoint(folder / f"{rule}.ckpt", manifest, params)
        out[side] = folder / f"{rule}.ckpt"
    return out


def _planner(scripted, tmp_path, corner):
    manifest, params = build(prey=scripted["prey"], predators=scripted["predators"], belief="point", corner=corner,
                             rollouts=1, horizon=4, name=f"plan-{LABELS[corner]}")
    path = tmp_path / f"plan-{corner}.ckpt"
    save_checkpoint(path, manifest, params)
    return load_agent(path)


def test_the_true_corner_beats_a_wrong_one_and_the_replay_verifies(scripted, tmp_path, arena_cli):
    env = make(ENV)
    prey = load_agent(scripted["prey"])
    planners = [_planner(scripted, tmp_path, c) for c in range(4)]
    assert planners[0].manifest.privileged and planners[0].manifest.extras["belief"]["labels"] == LABELS
    captures, results = [], []
    for p in planners:
        # The corner is data (as_data): the four planners share one compiled match.
        agent, params = p.agent.as_data(p.params)
        r = run_match(env, [agent, prey.agent], [params, prey.params], episodes=32, seed=0, record=32)
        captures.append(r.metrics["captures"])
        results.append(r)
    captures = np.stack(captures)  # (corner, episode)
    assert sum(r.compile_seconds > 0 for r in results) <= 1
    truth = np.asarray(results[0].initial_state.intent)
    assert len(set(truth)) >= 3  # the episodes' corners vary
    right = captures[truth, np.arange(32)]
    wrong = (captures.sum(axis=0) - right) / 3
    assert right.mean() > wrong.mean() + 1.0, (right.mean(), wrong.mean())
    # Emitted per predator and step: the point belief, and a score per root action whose
    # best is the action played.
    steps = results[2].steps
    np.testing.assert_array_equal(steps.extras[0]["belief"], np.broadcast_to(np.eye(4)[2], (25, 32, 3, 4)))
    scores = steps.extras[0]["scores"]
    assert scores.shape == (25, 32, 3, 5)
    chosen = np.take_along_axis(scores, steps.actions[:, :, :3, None], axis=-1)[..., 0]
    np.testing.assert_allclose(chosen, scores.max(axis=-1))
    np.testing.assert_allclose(steps.extras[0]["value"], chosen)
    # The replay of a privileged agent re-simulates like any other.
    path = tmp_path / "plan.replay"
    record_replay(path, env, results[2], [planners[2], prey], episodes=2)
    code, out, err = arena_cli("replay", "verify", path)
    assert code == 0, err


def test_configs_it_cannot_plan_with_are_one_line_errors(scripted, tmp_path):
    with pytest.raises(UserError, match="belief 'encoder' needs the encoder checkpoint"):
        build(prey=scripted["prey"], predators=scripted["predators"], belief="encoder")
    base = {"prey": {"arch": "scripted", "config": {"rule": "seek_corner"}},
            "predator": {"arch": "scripted", "config": {"rule": "chase"}}, "leaf_value": False}
    with pytest.raises(UserError, match="leaf_value reads the base predator's critic"):
        build_agent("belief_planner", {**base, "belief": "flat", "leaf_value": True}, (16,), "float32", 5)
    with pytest.raises(UserError, match="has memory; rollouts restart"):
        build_agent("belief_planner", {**base, "belief": "flat", "predator": {"arch": "history_gru"}}, (16,), "float32", 5)
    # Planning needs the hidden corner: mpe_tag has none.
    planner = _planner(scripted, tmp_path, 0)
    prey = load_agent(scripted["prey"])
    with pytest.raises(UserError, match="mpe_tag has no hidden class"):
        run_match(make("mpe_tag"), [planner.agent, prey.agent], [planner.params, prey.params], episodes=1)


@pytest.mark.slow
def test_an_encoder_belief_is_the_encoders_own_posterior_on_each_predators_observations(tmp_path):
    """Built from an intent_encoder checkpoint, the planner's belief at every step is what
    that encoder alone says on the same observations, row by row; flat is uniform."""
    env = make(ENV)
    paths = {}
    for arch, side in (("mlp_actor_critic", "prey"), ("mlp_actor_critic", "predators"), ("intent_encoder", "predators")):
        manifest, params = new_agent(arch, ENV, side=side, seed=len(paths), config={"hidden": [8]} if arch != "intent_encoder" else {})
        paths[arch, side] = tmp_path / f"{arch}-{side}.ckpt"
        save_checkpoint(paths[arch, side], manifest, params)
    manifest, params = build(prey=paths["mlp_actor_critic", "prey"], predators=paths["mlp_actor_critic", "predators"],
                             encoder=paths["intent_encoder", "predators"], rollouts=2, horizon=2)
    save_checkpoint(tmp_path / "plan.ckpt", manifest, params)
    planner, encoder = load_agent(tmp_path / "plan.ckpt"), load_agent(paths["intent_encoder", "predators"])
    assert planner.agent.config.belief == "encoder" and planner.manifest.provenance["encoder"]["name"] == encoder.name
    side = env.spec.sides[0]
    act = jax.jit(lambda c, o, k, s: planner.agent.act(planner.params, c, o, k, World(env, s, env.default_params, side.seats)))
    watch = jax.jit(lambda c, o: encoder.agent.act(encoder.params, c, o, jax.random.PRNGKey(0)))
    state, ts = env.reset(jax.random.PRNGKey(4))
    carry, alone = planner.agent.init_carry(planner.params, 3), encoder.agent.init_carry(encoder.params, 3)
    beliefs = []
    for t in range(3):
        obs = ts.obs[side.team]
        carry, action, extras = act(carry, obs, jax.random.PRNGKey(t), state)
        alone, _, seen = watch(alone, obs)
        np.testing.assert_allclose(extras["belief"], seen["belief"], rtol=1e-6)
        assert extras["scores"].shape == (3, 5) and np.isfinite(extras["scores"]).all()
        beliefs.append(np.asarray(extras["belief"]))
        actions = jax.numpy.concatenate([action, jax.numpy.zeros((1,), jax.numpy.int32)])
        state, ts = env.step(jax.random.PRNGKey(10 + t), state, actions)
    np.testing.assert_allclose(np.sum(beliefs, axis=-1), 1.0, rtol=1e-5)
    assert not np.allclose(beliefs[0], beliefs[2])  # it updates on what each predator saw
