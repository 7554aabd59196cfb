"""`arena train encoder`: the intent encoder, learnt supervised from arena's own matches.

    from arena.agents.trainers.encoder import train_encoder
    train_encoder("blind-predators.ckpt", "prey.ckpt", "encoder.ckpt", seed=0)

The data are the episodes `arena match PREDATORS PREY --seed S --episodes N` plays (the
runner's own `play_step` and key scheme, here in one scan that keeps what the match does not
return): each predator seat's observation before every step, and the episode's hidden class
read from its state by `env.truth`. One predator's sequence is one training example, so an
episode gives one per seat. The GRU (`intent_encoder`, agents/intent_encoder.py) is trained
to put its posterior on the truth at every step (cross-entropy averaged over steps), on
minibatches of whole sequences, and scored on held-out episodes (the match's last
`eval_episodes`, never trained on): mean p(true) and argmax accuracy per step go into the
checkpoint's provenance. Same seed and
settings, same encoder: every draw comes from the seed.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from arena import keys
from arena.agents import build_agent
from arena.agents.intent_encoder import encoder_unroll
from arena.agents.trainers.contract import settings_config
from arena.checkpoint import load_agent, manifest_for, params_to_bytes, save_checkpoint
from arena.env import make
from arena.errors import UserError
from arena.lineup import check_lineup
from arena.runner import episode_start, play_step
from arena.trees import plain
from arena.versions import library_versions


@dataclasses.dataclass(frozen=True)
class EncoderTrainConfig:
    """Data, network and optimisation of one encoder run."""

    # Episodes played to train on (each gives one sequence per predator seat).
    episodes: int = 4096
    # Held-out episodes the per-step scores are measured on.
    eval_episodes: int = 1024
    # Adam steps.
    updates: int = 1500
    # Sequences per minibatch.
    batch: int = 256
    lr: float = 1e-3
    # Encoder widths (intent_encoder's config).
    hidden: int = 64
    gru_width: int = 64

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"{f.name} must be positive, got {getattr(self, f.name)}")


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def collect(env, agents: tuple, episodes: int, team: int, params: tuple, key: jax.Array):
    """The match's episodes: obs (T, episodes * n, D) of `team`'s seats before each step,
    their episode's truth (episodes * n,) and live (T, episodes * n) bool."""
    episode_keys = jax.vmap(lambda i: keys.episode_key(key, i))(jnp.arange(episodes))
    start = jax.vmap(lambda k: episode_start(env, agents, params, keys.reset_key(k)))(episode_keys)
    truth = jax.vmap(env.truth)(start.env_state)

    def body(carry, t):
        step_keys = jax.vmap(lambda k: keys.step_key(k, t))(episode_keys)
        seen = (carry.obs[team], carry.alive)
        carry, _ = jax.vmap(lambda c, k: play_step(env, agents, params, c, k))(carry, step_keys)
        return carry, seen

    _, (obs, live) = jax.lax.scan(body, start, jnp.arange(env.spec.max_steps))
    T, E, n = obs.shape[:3]
    obs = obs.reshape((T, E * n, -1))
    return obs, jnp.repeat(truth, n), jnp.repeat(live, n, axis=1)


def scores(config, params, obs, truth, live) -> dict:
    """Per step: mean p(true) and argmax accuracy over the live sequences."""
    probs = jax.nn.softmax(encoder_unroll(config, params, obs), axis=-1)  # (T, B, K)
    p_true = jnp.take_along_axis(probs, truth[None, :, None], axis=-1)[..., 0]
    hit = (probs.argmax(-1) == truth[None]).astype(jnp.float32)
    w = live.astype(jnp.float32)
    denom = jnp.maximum(w.sum(1), 1.0)
    return {"p_true": (p_true * w).sum(1) / denom, "accuracy": (hit * w).sum(1) / denom}


@functools.partial(jax.jit, static_argnums=(0, 1))
def fit(agent, config: EncoderTrainConfig, obs, truth, live, key):
    """Adam on the per-step cross-entropy: -> params, loss per update (updates,)."""
    k_init, k_batches = jax.random.split(key)
    params = agent.init_params(k_init)
    tx = optax.adam(config.lr)

    def loss_fn(p, idx):
        logits = encoder_unroll(agent.config, p, obs[:, idx])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, truth[idx][None])
        w = live[:, idx].astype(jnp.float32)
        return (ce * w).sum() / jnp.maximum(w.sum(), 1.0)

    def step(carry, k):
        p, opt = carry
        idx = jax.random.choice(k, obs.shape[1], (config.batch,), replace=False)
        loss, grad = jax.value_and_grad(loss_fn)(p, idx)
        updates, opt = tx.update(grad, opt, p)
        return (optax.apply_updates(p, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(k_batches, config.updates))
    return params, losses


@dataclasses.dataclass
class EncoderResult:
    out: Path
    p_true: np.ndarray  # (T,) held-out mean p(true) per step
    accuracy: np.ndarray  # (T,)
    final_loss: float


def encoder_config(settings: dict | None) -> EncoderTrainConfig:
    """The config `settings` describe; unknown or bad ones are a UserError."""
    return settings_config(EncoderTrainConfig, settings, "encoder")


def train_encoder(predators: str | Path, prey: str | Path, out: str | Path, *, seed: int = 0,
                  settings: dict | None = None, name: str = "") -> EncoderResult:
    """Train an intent encoder on the episodes of `predators` (the watched team's seats: the
    first side) against `prey` in the env the predators' manifest names; write `out`."""
    config = encoder_config(settings)
    lineup = [load_agent(predators), load_agent(prey)]
    env = make(lineup[0].manifest.env, **dict(lineup[0].manifest.env_kwargs))
    if env.spec.truth is None:
        raise UserError(f"{predators}: env {env.spec.id} has no hidden truth to encode")
    check_lineup(lineup, env)
    team = env.spec.sides[0].team
    spec_team = env.spec.teams[team]
    agents = tuple(x.agent for x in lineup)
    params = tuple(x.params for x in lineup)
    enc = build_agent("intent_encoder", {"hidden": config.hidden, "gru_width": config.gru_width,
                                         "labels": list(env.spec.truth.labels)},
                      spec_team.obs_shape, spec_team.obs_dtype, spec_team.num_actions)
    # One match; its last eval_episodes (n sequences each) are held out.
    obs, truth, live = collect(env, agents, config.episodes + config.eval_episodes, team, params, keys.match_key(seed))
    cut = config.episodes * len(spec_team.seats)
    data = (obs[:, :cut], truth[:cut], live[:, :cut])
    held_out = (obs[:, cut:], truth[cut:], live[:, cut:])
    enc_params, losses = fit(enc, config, *data, jax.random.PRNGKey(seed))
    got = {k: np.asarray(v) for k, v in jax.jit(scores, static_argnums=0)(enc.config, enc_params, *held_out).items()}
    enc_params = jax.tree.map(np.asarray, enc_params)
    out = Path(out)
    manifest = manifest_for(
        enc, name=name or out.with_suffix("").name, env=env.spec.id, params_bytes=params_to_bytes(enc_params),
        env_kwargs=dict(lineup[0].manifest.env_kwargs), plays=(spec_team.name,),
        description=f"intent encoder (GRU) on {spec_team.name} observations, {env.spec.id}",
        provenance={
            "algorithm": "supervised intent encoder", "seed": seed, "steps": config.updates,
            "trained_with": (f"cross-entropy on the truth at every step of the first {config.episodes} episodes of "
                             f"{lineup[0].name} vs {lineup[1].name} (match seed {seed})"),
            "partners": [x.name for x in lineup],
            "data": [{"agent": x.name, "sha256": x.manifest.params.sha256} for x in lineup],
            "hyperparameters": plain(dataclasses.asdict(config)),
            "held_out": {"episodes": config.eval_episodes, "match_seed": seed,
                         "match_episodes": [config.episodes, config.episodes + config.eval_episodes],
                         "p_true_per_step": [round(float(v), 4) for v in got["p_true"]],
                         "accuracy_per_step": [round(float(v), 4) for v in got["accuracy"]]},
            "final_loss": round(float(losses[-1]), 4),
            **library_versions(),
        },
    )
    save_checkpoint(out, manifest, enc_params)
    return EncoderResult(out, got["p_true"], got["accuracy"], float(losses[-1]))
