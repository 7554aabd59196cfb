"""What arena's trainers share: env stepping with auto-reset, GAE, the clipped policy loss,
minibatch updates, and the host-side run driver (chunks, progress, checkpoints, resume).

A trainer (`arena.agents.ppo`, `arena.agents.iop`) is a `Trainer`: a pure `init(key) -> state`
and a pure `update(state) -> (state, metrics)` over a frozen pytree state. The driver jits a
`lax.scan` of `update` over a chunk of updates, so Python only runs between chunks: to draw
the progress bar, append metrics and write checkpoints. Chunks always start at multiples of
the chunk size, so a run resumed from a checkpoint replays exactly the compiled calls an
uninterrupted run makes, and ends with the same params.

Files of a run `-o X.ckpt`:
    X.ckpt (or X-<team>.ckpt per team)  the agent(s), arena checkpoints with provenance
    X.ckpt.state                        the whole training state (params, optimizer state,
                                        env states, RNG key, update counter) for --resume
    X.metrics.jsonl                     one JSON object per update
    X.curves.png                        training curves
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import msgpack
import numpy as np
import optax

STATE_FORMAT = "arena.train-state"
STATE_VERSION = 1


# ---------------------------------------------------------------- pure pieces (inside jit)


def tree_select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """`jnp.where(pred, a, b)` leaf by leaf, `pred` a scalar bool."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def step_autoreset(env, key: jax.Array, state: Any, actions: jax.Array):
    """One env step; an episode that ended is replaced by a fresh one in the same call.

    Returns (state, timestep) where reward/done/metrics are the step's and `obs` is already
    the next episode's first observation when the episode ended (PureJaxRL's auto-reset,
    done here because arena's envs leave resets to the caller).
    """
    k_step, k_reset = jax.random.split(key)
    state, ts = env.step(k_step, state, actions)
    reset_state, reset_ts = env.reset(k_reset)
    done = ts.done
    state = tree_select(done, reset_state, state)
    return state, ts.replace(obs=tree_select(done, reset_ts.obs, ts.obs))


def batch_step_autoreset(env, key: jax.Array, states: Any, actions: jax.Array):
    """`step_autoreset` over a batch of envs (leading axis E), resetting only when needed.

    The resets are computed under a `lax.cond` on "any episode ended", so batches whose
    episodes end together at the step limit (overcooked, mpe_tag) pay for a reset once per
    episode instead of every step, as a per-env `jnp.where` would.
    """
    n = actions.shape[0]
    k_step, k_reset = jax.random.split(key)
    states, ts = jax.vmap(env.step)(jax.random.split(k_step, n), states, actions)
    done = ts.done

    def reset(args):
        states, obs = args
        fresh, fresh_ts = jax.vmap(env.reset)(jax.random.split(k_reset, n))
        pick = jax.vmap(tree_select)
        return pick(done, fresh, states), pick(done, fresh_ts.obs, obs)

    states, obs = jax.lax.cond(done.any(), reset, lambda a: a, (states, ts.obs))
    return states, ts.replace(obs=obs)


def vmapped_reset(env, key: jax.Array, n: int):
    return jax.vmap(env.reset)(jax.random.split(key, n))


def gae(rewards, values, dones, last_value, gamma: float, lam: float):
    """Generalised advantage estimates over time-major (T, N) arrays.

    `dones[t]` says the episode ended at step t, so nothing after it is bootstrapped.
    Returns (advantages, value targets), both (T, N).
    """

    def body(carry, x):
        running, next_value = carry
        r, v, d = x
        notdone = 1.0 - d
        delta = r + gamma * next_value * notdone - v
        running = delta + gamma * lam * notdone * running
        return (running, v), running

    _, adv = jax.lax.scan(body, (jnp.zeros_like(last_value), last_value), (rewards, values, dones), reverse=True)
    return adv, adv + values


@dataclasses.dataclass(frozen=True)
class PolicyGradientConfig:
    """The hyperparameters every trainer here has (JaxMARL ippo_ff_overcooked defaults);
    a trainer's config adds its own and overrides defaults. Subclasses define `num_envs`."""

    # Env steps in the whole run, counted per env (not per seat), over all parallel envs.
    total_steps: int = 5_000_000
    # Steps each env runs between updates.
    num_steps: int = 128
    lr: float = 2.5e-4
    # Fall the learning rate linearly to 0 over the run.
    anneal_lr: bool = True
    update_epochs: int = 4
    num_minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # Env steps over which the shaped-reward coefficient falls from 1 to 0 (0: no shaping).
    shaping_horizon: int = 2_500_000

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.steps_per_update)


@dataclasses.dataclass(frozen=True)
class LossCoefs:
    clip: float = 0.2
    vf: float = 0.5
    ent: float = 0.01
    kl: float = 0.0


def policy_loss(logits, value, batch: dict, coefs: LossCoefs):
    """PPO-clip loss with a clipped value loss, an entropy bonus and an optional KL penalty.

    `batch` holds action, logp (behaviour), value (behaviour), advantage, target. The KL term
    is the non-negative k3 estimator of KL(pi_old || pi_new) from the behaviour samples
    (Schulman, "Approximating KL divergence"). Returns (loss, aux dict).
    """
    logp_all = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    logp = jnp.take_along_axis(logp_all, batch["action"][:, None], axis=-1)[:, 0]
    log_ratio = logp - batch["logp"]
    ratio = jnp.exp(log_ratio)
    adv = batch["advantage"]
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    actor = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - coefs.clip, 1 + coefs.clip) * adv).mean()
    v_clipped = batch["value"] + jnp.clip(value - batch["value"], -coefs.clip, coefs.clip)
    critic = 0.5 * jnp.maximum((value - batch["target"]) ** 2, (v_clipped - batch["target"]) ** 2).mean()
    entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
    kl = ((ratio - 1.0) - log_ratio).mean()
    loss = actor + coefs.vf * critic - coefs.ent * entropy + coefs.kl * kl
    return loss, {"actor_loss": actor, "value_loss": critic, "entropy": entropy, "approx_kl": kl}


def minibatch_epochs(key, params, opt_state, tx, data: dict, loss_fn: Callable, epochs: int, minibatches: int):
    """`epochs` passes of shuffled minibatch SGD over `data` (leaves (N, ...)).

    loss_fn(params, minibatch) -> (loss, aux). Returns (params, opt_state, mean aux).
    """
    n = jax.tree.leaves(data)[0].shape[0]
    size = n // minibatches

    def epoch(carry, k):
        params, opt_state = carry
        perm = jax.random.permutation(k, n)[: size * minibatches]
        batches = jax.tree.map(lambda x: x[perm].reshape((minibatches, size, *x.shape[1:])), data)

        def step(carry, mb):
            params, opt_state = carry
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        return jax.lax.scan(step, (params, opt_state), batches)

    (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))
    return params, opt_state, jax.tree.map(jnp.mean, aux)


def make_optimizer(lr: float, max_grad_norm: float, anneal_steps: int | None) -> optax.GradientTransformation:
    """Adam with global-norm clipping; the learning rate falls linearly to 0 over
    `anneal_steps` optimizer steps when given (JaxMARL's IPPO `ANNEAL_LR`)."""
    rate = optax.linear_schedule(lr, 0.0, anneal_steps) if anneal_steps else lr
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(rate, eps=1e-5))


def track_episodes(ep_sum: jax.Array, last: jax.Array, add: jax.Array, done: jax.Array):
    """Running per-env episode sums and the value of the last finished episode.

    ep_sum, last, add: (E, ...); done: (E,). Returns (ep_sum, last) after this step.
    """
    total = ep_sum + add
    d = done.reshape((-1,) + (1,) * (total.ndim - 1))
    return jnp.where(d, 0.0, total), jnp.where(d, total, last)


def linear_anneal(step, horizon: int) -> jax.Array:
    """1 at step 0, falling to 0 at `horizon` (JaxMARL's reward-shaping anneal); 0 if none."""
    if not horizon:
        return jnp.zeros((), jnp.float32)
    return jnp.clip(1.0 - step / horizon, 0.0, 1.0).astype(jnp.float32)


# ---------------------------------------------------------------- the trainer contract


@dataclasses.dataclass(frozen=True)
class Output:
    """One agent a run produces: where it goes and how to build its checkpoint."""

    path: Path
    agent: Any
    team: int
    plays: tuple[str, ...]


class Trainer:
    """A training algorithm over one env: pure `init`/`update`, plus what the driver needs.

    Subclasses are frozen dataclasses (hashable: they are the static part of the jit).
    """

    algorithm: str = ""
    env: Any
    num_updates: int
    steps_per_update: int

    def init(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def update(self, state: Any) -> tuple[Any, dict]:
        raise NotImplementedError

    def team_params(self, state: Any, team: int) -> Any:
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        raise NotImplementedError

    def reward_shaping(self) -> dict:
        raise NotImplementedError

    # metrics shown on the progress bar, and drawn as curves
    progress_keys: tuple[str, ...] = ("return",)


class PolicyGradientTrainer(Trainer):
    """A Trainer whose `config` is a PolicyGradientConfig: the run's length, the optimizer
    and the reward shaping follow from it."""

    config: PolicyGradientConfig

    @property
    def num_updates(self) -> int:
        return self.config.num_updates

    @property
    def steps_per_update(self) -> int:
        return self.config.steps_per_update

    @functools.cached_property
    def tx(self):
        c = self.config
        anneal = c.num_updates * c.update_epochs * c.num_minibatches if c.anneal_lr else None
        return make_optimizer(c.lr, c.max_grad_norm, anneal)

    def reward_shaping(self) -> dict:
        if not self.config.shaping_horizon:
            return {"kind": "none"}
        return {"kind": "env shaped_reward, coefficient annealed linearly 1 -> 0",
                "anneal_steps": self.config.shaping_horizon}


def _scan_updates(trainer: Trainer, state, n: int):
    return jax.lax.scan(lambda s, _: trainer.update(s), state, None, length=n)


_COMPILED: dict = {}


def compiled_init(trainer: Trainer) -> Callable:
    """jit(trainer.init), compiled once per trainer (a bound method is a new object per call)."""
    key = (trainer, "init")
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(trainer.init)
    return _COMPILED[key]


def compiled_chunk(trainer: Trainer, n: int) -> Callable:
    """jit(scan(update, n)): one compiled call per (trainer, chunk length)."""
    key = (trainer, n)
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(lambda s: _scan_updates(trainer, s, n))
    return _COMPILED[key]


# ---------------------------------------------------------------- host side: files


def run_paths(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("") if out.suffix == ".ckpt" else out
    return {
        "state": Path(f"{out}.state"),
        "metrics": Path(f"{stem}.metrics.jsonl"),
        "curves": Path(f"{stem}.curves.png"),
    }


def save_state(path: Path, meta: dict, state: Any) -> None:
    """The whole training state as msgpack {format, version, meta, state}.

    `state` is stored as its list of leaves (flax msgpack of numpy arrays) and restored into
    the tree structure of a freshly initialised state: env states hold types flax cannot
    serialise by name (chex dataclasses in overcooked v2), and leaves need no names.
    """
    from flax import serialization

    from arena.checkpoint import atomic_write

    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    data = serialization.msgpack_serialize(leaves)
    atomic_write(path, msgpack.packb(
        {"format": STATE_FORMAT, "version": STATE_VERSION, "meta": meta, "state": data}, use_bin_type=True
    ))


def read_state_meta(path: Path) -> tuple[dict, bytes]:
    from arena.errors import UserError

    if not path.is_file():
        raise UserError(f"{path}: no training state to resume from (expected the .state file written beside the checkpoint)")
    try:
        obj = msgpack.unpackb(path.read_bytes(), raw=False)
    except Exception:
        raise UserError(f"{path}: training state is corrupt (not msgpack)") from None
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT or not isinstance(obj.get("state"), bytes):
        raise UserError(f"{path}: not an arena training state")
    if obj.get("version", 0) > STATE_VERSION:
        raise UserError(f"{path}: training state version {obj.get('version')} is newer than this arena reads")
    return obj["meta"], obj["state"]


def recorded_run(out: Path, trainer: str) -> dict:
    """The settings `--resume` continues with: the meta of `out`'s state file, which must be a
    run of `trainer` ("ppo" or "iop")."""
    from arena.errors import UserError

    meta, _ = read_state_meta(state_path_for(out))
    if meta.get("trainer") != trainer:
        raise UserError(f"{out}: the recorded run is {meta.get('trainer')!r}, not {trainer}")
    return meta


def restore_state(template: Any, data: bytes, path: Path) -> Any:
    """Leaves saved by `save_state`, checked against `template` (a fresh state of this run)."""
    from flax import serialization

    from arena.errors import UserError

    want, treedef = jax.tree.flatten(template)
    try:
        saved = serialization.msgpack_restore(data)
        leaves = [np.asarray(saved[str(i)]) for i in range(len(saved))]
    except Exception as err:
        raise UserError(f"{path}: training state is corrupt ({str(err)[:80]})") from None
    if len(leaves) != len(want) or any(a.shape != tuple(b.shape) for a, b in zip(leaves, want)):
        raise UserError(f"{path}: training state does not fit this run (other env, architecture or settings)")
    return jax.tree.unflatten(treedef, [jnp.asarray(x, b.dtype) for x, b in zip(leaves, want)])


def state_path_for(ref: str | Path) -> Path:
    """`--resume` accepts the run's -o path (X.ckpt) or its state file (X.ckpt.state)."""
    ref = Path(ref)
    return ref if ref.name.endswith(".state") else Path(f"{ref}.state")


def write_metrics(path: Path, rows: Sequence[dict]) -> None:
    """Append rows as JSON lines; one write per chunk keeps lines whole."""
    if rows:
        with open(path, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))


def read_metrics(path: Path, upto: int | None = None) -> list[dict]:
    """Metric rows (update <= upto when given); a torn last line is skipped."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if upto is None or row.get("update", 0) <= upto:
                rows.append(row)
    return rows


def plot_curves(path: Path, rows: Sequence[dict], keys: Sequence[str], title: str) -> None:
    """Training curves against env steps, one panel per metric, written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arena.checkpoint import atomic_write

    keys = [k for k in keys if rows and k in rows[0]]
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
    steps = [r["env_steps"] for r in rows]
    for ax, k in zip(axes[:, 0], keys):
        ax.plot(steps, [r[k] for r in rows], lw=1)
        ax.set_ylabel(k, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("env steps")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


@contextlib.contextmanager
def deferred_sigint():
    """Hold Ctrl-C while checkpoint files are written, then deliver it."""
    received = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *a: received.append(a))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


# ---------------------------------------------------------------- host side: the run


@dataclasses.dataclass
class RunResult:
    outputs: list[Path]
    updates: int
    env_steps: int
    wall_time: float
    final: dict  # last metrics row
    interrupted: bool = False
    state: Any = None


def _rows(metrics: dict, first_update: int, steps_per_update: int) -> list[dict]:
    host = jax.tree.map(np.asarray, metrics)
    n = len(next(iter(host.values())))
    rows = []
    for i in range(n):
        u = first_update + i + 1
        row = {"update": u, "env_steps": u * steps_per_update}
        row.update({k: float(v[i]) for k, v in host.items()})
        rows.append(row)
    return rows


def run_training(
    trainer: Trainer,
    *,
    out: Path,
    outputs: Sequence[Output],
    seed: int,
    meta: dict,
    chunk: int = 10,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = True,
    manifest_fields: Callable[[int], dict] | None = None,
) -> RunResult:
    """Run `trainer` to `trainer.num_updates`, checkpointing every `checkpoint_every` updates.

    `meta` (plain data: how to rebuild this trainer) is stored in the state file; resuming
    continues from the state file beside `out`. Ctrl-C stops between chunks and leaves the
    last checkpoint in place (RunResult.interrupted). `manifest_fields(team)` adds manifest
    fields (name, env_kwargs, description) per output.
    """
    from arena.checkpoint import manifest_for, params_to_bytes, save_checkpoint

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = run_paths(out)
    chunk = max(1, min(chunk, checkpoint_every))
    checkpoint_every = max(chunk, checkpoint_every // chunk * chunk)  # checkpoints fall on chunk ends
    wall_before = 0.0
    if resume:
        saved_meta, data = read_state_meta(paths["state"])
        # Only the tree's structure, shapes and dtypes are needed: nothing is computed.
        template = jax.eval_shape(trainer.init, jax.random.PRNGKey(seed))
        state = restore_state(template, data, paths["state"])
        wall_before = float(saved_meta.get("wall_time", 0.0))
        update = int(state.update)
        # Rows after the checkpoint belong to work that is being redone.
        rows = read_metrics(paths["metrics"], upto=update)
        from arena.checkpoint import atomic_write

        atomic_write(paths["metrics"], "".join(json.dumps(r) + "\n" for r in rows).encode())
    else:
        state = compiled_init(trainer)(jax.random.PRNGKey(seed))
        update = 0
        paths["metrics"].unlink(missing_ok=True)
        rows = []
    final = rows[-1] if rows else {}
    start = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - start

    def save(state, final) -> None:
        u = int(state.update)
        with deferred_sigint():
            save_state(paths["state"], {**meta, "update": u, "wall_time": wall()}, state)
            for o in outputs:
                params = jax.tree.map(np.asarray, trainer.team_params(state, o.team))
                extra = manifest_fields(o.team) if manifest_fields else {}
                provenance = {
                    "algorithm": trainer.algorithm,
                    "seed": seed,
                    "steps": u * trainer.steps_per_update,
                    "updates": u,
                    "planned_steps": trainer.num_updates * trainer.steps_per_update,
                    "wall_time_s": round(wall(), 1),
                    "hyperparameters": trainer.hyperparameters(),
                    "reward_shaping": trainer.reward_shaping(),
                    "final_training_return": final.get(f"return{_team_suffix(trainer, o.team)}"),
                    "final_training_metrics": {k: v for k, v in final.items() if k not in ("update", "env_steps")},
                    "trained_with": extra.pop("trained_with", "self-play"),
                    "arena_version": _arena_version(),
                }
                manifest = manifest_for(
                    o.agent, env=trainer.env.spec.id, params_bytes=params_to_bytes(params),
                    plays=o.plays, provenance=provenance, **extra,
                )
                save_checkpoint(o.path, manifest, params)
            plot_curves(paths["curves"], read_metrics(paths["metrics"]), _curve_keys(trainer), f"{trainer.algorithm} on {trainer.env.spec.id}, seed {seed}")

    interrupted = False
    bar = _progress(progress)
    try:
        with bar:
            task = bar.add_task(f"{trainer.algorithm} {trainer.env.spec.id}", total=trainer.num_updates, completed=update, info="")
            t_last = time.perf_counter()
            while update < trainer.num_updates:
                n = min(chunk, trainer.num_updates - update)
                state, metrics = compiled_chunk(trainer, n)(state)
                new_rows = _rows(metrics, update, trainer.steps_per_update)
                update += n
                write_metrics(paths["metrics"], new_rows)
                final = new_rows[-1]
                now = time.perf_counter()
                sps = n * trainer.steps_per_update / max(now - t_last, 1e-9)
                t_last = now
                info = f"{sps:,.0f} steps/s  " + "  ".join(
                    f"{k} {final[k]:.2f}" for k in trainer.progress_keys if k in final
                )
                bar.update(task, completed=update, info=info)
                if update % checkpoint_every == 0 or update >= trainer.num_updates:
                    save(state, final)
    except KeyboardInterrupt:
        interrupted = True
    return RunResult(
        outputs=[o.path for o in outputs], updates=int(state.update) if not interrupted else _saved_update(paths["state"]),
        env_steps=update * trainer.steps_per_update, wall_time=wall(), final=final, interrupted=interrupted,
        state=state,
    )


def _saved_update(path: Path) -> int:
    try:
        return int(read_state_meta(path)[0].get("update", 0))
    except Exception:
        return 0


def _team_suffix(trainer: Trainer, team: int) -> str:
    return "" if len(trainer.env.spec.teams) == 1 else f"/{trainer.env.spec.teams[team].name}"


def _curve_keys(trainer: Trainer) -> list[str]:
    return list(getattr(trainer, "curve_keys", trainer.progress_keys))


def _arena_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arena")
    except PackageNotFoundError:
        return "unknown"


class _NoBar(contextlib.nullcontext):
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def _progress(enabled: bool):
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("updates"),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        transient=False,
    )
