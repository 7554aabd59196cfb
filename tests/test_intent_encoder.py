"""The intent encoder and the belief predator: beliefs that sharpen on a prey that shows its corner."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena.agents import build_agent
from arena.agents.intent_encoder import assemble_belief_predator
from arena.agents.trainers.encoder import train_encoder
from arena.checkpoint import load_agent, new_agent, read_checkpoint, save_checkpoint
from arena.envs import make
from arena.envs.mpe_tag_intent import CORNERS
from arena.errors import UserError
from arena.match import play_match
from arena.replay import open_replay

TINY = {"episodes": 192, "eval_episodes": 64, "updates": 120, "batch": 64, "hidden": 16, "gru_width": 16, "lr": 3e-3}


@pytest.fixture(scope="module")
def lineup(tmp_path_factory):
    """Random predators and the scripted prey that heads straight for its corner."""
    d = tmp_path_factory.mktemp("intent")
    save_checkpoint(d / "pred.ckpt", *new_agent("random", "mpe_tag_intent", name="pred"))
    save_checkpoint(d / "prey.ckpt", *new_agent("scripted", "mpe_tag_intent", side="prey", name="seeker",
                                                config={"rule": "seek_corner"}))
    return d


@pytest.fixture(scope="module")
def encoder(lineup):
    return train_encoder(lineup / "pred.ckpt", lineup / "prey.ckpt", lineup / "enc.ckpt", seed=0, settings=TINY)


def test_scripted_prey_reaches_its_corner():
    env = make("mpe_tag_intent")
    prey = build_agent("scripted", {"rule": "seek_corner"}, (18,), "float32", 5)

    @jax.jit
    def episode(key):
        def step(carry, k):
            state, ts = carry
            _, a, _ = prey.act({}, (), ts.obs[1], k)
            return env.step(k, state, jnp.concatenate([jnp.zeros(3, jnp.int32), a])), None

        (state, _), _ = jax.lax.scan(step, env.reset(key), jax.random.split(key, 25))
        return state

    for seed in range(2):
        state = episode(jax.random.key(seed))
        corner = np.asarray(CORNERS[int(state.intent)])
        assert np.linalg.norm(np.asarray(state.p_pos[3]) - corner) < 0.3


def test_encoder_posterior_sums_to_one_and_sharpens(encoder, lineup):
    assert encoder.p_true[-1] > 0.6 and encoder.p_true[-1] > encoder.p_true[0] + 0.3
    assert encoder.accuracy[-1] > 0.7
    enc = load_agent(encoder.out)
    assert enc.manifest.arch == "intent_encoder"
    assert enc.manifest.extras["belief"]["labels"] == ["NE", "NW", "SE", "SW"]
    held = enc.manifest.provenance["held_out"]["p_true_per_step"]
    assert len(held) == 25 and held[-1] == pytest.approx(float(encoder.p_true[-1]), abs=1e-4)
    obs = jax.random.normal(jax.random.key(1), (7, 16))
    _, action, extras = enc.agent.act(enc.params, enc.agent.init_carry(enc.params, 7), obs, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(extras["belief"]).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.asarray(action) == 0)


def test_encoder_training_is_deterministic_for_a_seed(encoder, lineup, tmp_path):
    again = train_encoder(lineup / "pred.ckpt", lineup / "prey.ckpt", tmp_path / "again.ckpt", seed=0, settings=TINY)
    assert read_checkpoint(again.out)[0].params.sha256 == read_checkpoint(encoder.out)[0].params.sha256


def test_encoder_refuses_bad_settings_and_truthless_envs(lineup, tmp_path):
    with pytest.raises(UserError, match="no setting epochs"):
        train_encoder(lineup / "pred.ckpt", lineup / "prey.ckpt", tmp_path / "x.ckpt", settings={"epochs": 1})
    save_checkpoint(tmp_path / "tag.ckpt", *new_agent("random", "mpe_tag"))
    save_checkpoint(tmp_path / "tag-prey.ckpt", *new_agent("random", "mpe_tag", side="prey"))
    with pytest.raises(UserError, match="no hidden truth"):
        train_encoder(tmp_path / "tag.ckpt", tmp_path / "tag-prey.ckpt", tmp_path / "x.ckpt", settings=TINY)


@pytest.mark.slow  # the default suite keeps its 5 minutes; `make test-all` runs it
def test_belief_predator_emits_the_encoders_belief_and_replays(encoder, lineup, tmp_path):
    policy_path = tmp_path / "soft.ckpt"
    save_checkpoint(policy_path, *new_agent("mlp_actor_critic", "mpe_tag_intent", env_kwargs={"intent_obs": "soft"}))
    enc, policy = load_agent(encoder.out), load_agent(policy_path)
    for flat in (False, True):
        path = tmp_path / f"belief-{flat}.ckpt"
        save_checkpoint(path, *assemble_belief_predator(enc, policy, name=f"belief-{flat}", flat_belief=flat))
        bp = load_agent(path)
        obs = jax.random.normal(jax.random.key(2), (5, 16))
        h0 = bp.agent.init_carry(bp.params, 5)
        _, _, extras = bp.agent.act(bp.params, h0, obs, jax.random.key(0))
        _, _, alone = enc.agent.act(enc.params, h0, obs, jax.random.key(0))
        want = np.full((5, 4), 0.25) if flat else np.asarray(alone["belief"])
        np.testing.assert_allclose(np.asarray(extras["belief"]), want, rtol=1e-6)
    # A recorded match of the belief predator re-simulates, its belief column recorded per seat.
    report, _ = play_match([str(tmp_path / "belief-False.ckpt"), str(lineup / "prey.ckpt")], episodes=4,
                           record_path=str(tmp_path / "m.replay"), record_episodes=2)
    rep = open_replay(tmp_path / "m.replay")
    belief = rep.episodes[0].extras[0]["belief"]
    assert belief.shape == (25, 3, 4)
    np.testing.assert_allclose(belief.sum(-1), 1.0, atol=2e-3)  # float16 extras


def test_assembly_refuses_a_policy_that_does_not_take_the_belief(encoder, tmp_path):
    save_checkpoint(tmp_path / "blind.ckpt", *new_agent("mlp_actor_critic", "mpe_tag_intent"))
    with pytest.raises(ValueError, match=r"must observe \(20,\)"):
        assemble_belief_predator(load_agent(encoder.out), load_agent(tmp_path / "blind.ckpt"), name="x")
