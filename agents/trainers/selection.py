"""How a population's reward shapings are chosen: each method a pure function of a seed
giving an (n, k) array of weights, each weight in [LOW, HIGH] (the seed paper's range), and
the diversity report of a set.

    random     each weight uniform in [LOW, HIGH], independently
    lhs        Latin hypercube (the paper's "stratified grid"): [LOW, HIGH] cut into n equal
               strata per weight, exactly one member's weight in each, paired across weights
               by independent random permutations
    surrogate  an MLP fitted on (weights -> measured sparse return) of earlier runs, then the
               n best predicted of `candidates` uniform random shapings
    same       every member the same shaping (default JaxMARL's overcooked one, see SAME)
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from arena.envs.overcooked_shaping import WEIGHT_RANGE

LOW, HIGH = WEIGHT_RANGE

# JaxMARL's overcooked BASE_REW_SHAPING_PARAMS, in the order placement in pot, dish (plate)
# pickup, soup pickup, dish-dispenser distance, pot distance, soup distance: what "same"
# gives every member (JaxMARL anneals it away; a population trains with it fixed).
SAME = (3.0, 3.0, 5.0, 0.0, 0.0, 0.0)


def random_shapings(seed: int, n: int, k: int) -> np.ndarray:
    """(n, k) weights, each uniform in [LOW, HIGH]."""
    return np.random.default_rng(seed).uniform(LOW, HIGH, (n, k))


def lhs_shapings(seed: int, n: int, k: int) -> np.ndarray:
    """(n, k) Latin hypercube: for each weight, member weights fall one in each of the n
    equal strata of [LOW, HIGH], at a uniform point inside it; each column's strata are
    shuffled on their own, so shapings pair strata at random across weights."""
    rng = np.random.default_rng(seed)
    strata = np.stack([rng.permutation(n) for _ in range(k)], axis=1)  # (n, k)
    u = (strata + rng.uniform(0.0, 1.0, (n, k))) / n
    # Float rounding of the top stratum's upper end must not spill into the next stratum.
    return np.clip(LOW + (HIGH - LOW) * u, LOW, HIGH)


def same_shapings(n: int, vector: Sequence[float] = SAME) -> np.ndarray:
    """(n, k): `vector` for every member."""
    return np.tile(np.asarray(vector, np.float64), (n, 1))


@dataclasses.dataclass(frozen=True)
class SurrogateConfig:
    """The surrogate MLP and its fit (full batch Adam on a standardised return)."""

    # Hidden layer widths.
    hidden: tuple[int, ...] = (64, 64)
    # Adam steps over the whole history.
    steps: int = 2000
    lr: float = 3e-3
    # L2 weight penalty (the history is small: tens of runs).
    weight_decay: float = 1e-4
    # Random shapings scored, of which the best predicted n are chosen (the paper's 1000).
    candidates: int = 1000


def _mlp_init(key, sizes: Sequence[int]) -> list:
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        params.append({"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros((b,))})
    return params


def _mlp(params: list, x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return (x @ params[-1]["w"] + params[-1]["b"])[..., 0]


@functools.partial(jax.jit, static_argnums=3)
def _fit(key: jax.Array, x: jax.Array, target: jax.Array, config: SurrogateConfig) -> list:
    params = _mlp_init(key, (x.shape[1], *config.hidden, 1))
    tx = optax.adamw(config.lr, weight_decay=config.weight_decay)

    def step(carry, _):
        p, opt = carry
        grads = jax.grad(lambda p: ((_mlp(p, x) - target) ** 2).mean())(p)
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=config.steps)
    return params


def fit_surrogate(seed: int, weights: np.ndarray, returns: np.ndarray, config: SurrogateConfig = SurrogateConfig()):
    """Fit the MLP weights (m, k) -> returns (m,); -> predict(weights (c, k)) -> (c,)."""
    y = np.asarray(returns, np.float64)
    mean, std = y.mean(), y.std() + 1e-6
    x = jnp.asarray(weights, jnp.float32) / HIGH
    params = _fit(jax.random.PRNGKey(seed), x, jnp.asarray((y - mean) / std, jnp.float32), config)

    def predict(w: np.ndarray) -> np.ndarray:
        return np.asarray(_mlp(params, jnp.asarray(w, jnp.float32) / HIGH)) * std + mean

    return predict


def surrogate_shapings(seed: int, n: int, weights: np.ndarray, returns: np.ndarray,
                       config: SurrogateConfig = SurrogateConfig()) -> np.ndarray:
    """(n, k): the n of `config.candidates` random shapings whose predicted sparse return is
    highest, best first; the MLP is fitted on earlier runs' (weights (m, k), returns (m,))."""
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 2 or len(weights) != len(returns) or len(weights) < 2:
        raise ValueError(f"the surrogate needs at least 2 earlier runs with weights and a return, got {len(weights)}")
    if config.candidates < n:
        raise ValueError(f"the surrogate scores {config.candidates} candidates, fewer than the {n} it must choose")
    predict = fit_surrogate(seed, weights, np.asarray(returns), config)
    candidates = random_shapings(seed, config.candidates, weights.shape[1])
    best = np.argsort(-predict(candidates), kind="stable")[:n]
    return candidates[best]


def _surrogate(seed: int, n: int, k: int, history: tuple | None) -> np.ndarray:
    if history is None:
        raise ValueError("the surrogate needs earlier runs' weights and sparse returns")
    return surrogate_shapings(seed, n, *history)


# method -> fn(seed, n, k, history) -> (n, k); history = (weights (m, k), sparse returns (m,))
# of earlier runs, which only the surrogate reads.
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "lhs": lambda seed, n, k, history: lhs_shapings(seed, n, k),
    "random": lambda seed, n, k, history: random_shapings(seed, n, k),
    "surrogate": _surrogate,
    "same": lambda seed, n, k, history: same_shapings(n, SAME[:k]),
}


def diversity(weights: np.ndarray, names: Sequence[str]) -> dict:
    """How spread a set of shapings (n, k) is: the mean over weights of each weight's std
    across members, and the mean share of [LOW, HIGH] its members span (max - min); per
    weight too."""
    w = np.asarray(weights, np.float64)
    std = w.std(axis=0)
    covered = (w.max(axis=0) - w.min(axis=0)) / (HIGH - LOW)
    return {
        "mean_std": round(float(std.mean()), 4),
        "range_covered_pct": round(100 * float(covered.mean()), 2),
        "per_weight": {name: {"std": round(float(s), 4), "min": round(float(lo), 4), "max": round(float(hi), 4),
                              "range_covered_pct": round(100 * float(c), 2)}
                       for name, s, lo, hi, c in zip(names, std, w.min(axis=0), w.max(axis=0), covered)},
    }
