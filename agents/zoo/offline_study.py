"""The offline-coordination study (the MOMA-PPO seed's one-shot coordination game), one command:

    python -m arena.agents.zoo.offline_study                 # 10 seeds, the table in markdown
    python -m arena.agents.zoo.offline_study --seeds 3 --json
    python -m arena.agents.zoo.offline_study --set beta=10    # another learner setting

For each dataset kind and seed: two biased stochastic scripted agents (p(right) per seat, the
`stochastic` rule) play `coord_game` with `rounds=1` in an arena match that writes a dataset
(`arena match --dataset`); each offline method learns from it (all seeds of a method in one
vmapped call); the learned agents are written as checkpoints and played with each other in an
arena match (`play_match`, as `arena match` does), whose mean agreement is that seed's score.
The table gives the mean over seeds with a 95% bootstrap CI over seeds (`arena.stats`).

Dataset kinds (the seed names them, not their probabilities; these are ours): favourable, both
seats go right 90% of the time; neutral, both 50%; unfavourable, seat row goes right 90% and
seat col 10% (they mostly miscoordinate). All three cover every joint action.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import jax
import numpy as np

from arena.agents import build_agent
from arena.agents.trainers.offline import METHODS, arrays, compiled_fit, seat_params
from arena.agents.trainers.offline_run import offline_config, seat_agent, write_seats
from arena.checkpoint import manifest_for, params_to_bytes
from arena.dataset import load_dataset, write_dataset
from arena.envs import make
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.match import play_match
from arena.numfmt import interval
from arena.paths import cache_dir, enable_compilation_cache
from arena.runner import run_match
from arena.stats import bootstrap_ci
from arena.trace import SideInfo, traces_from_result, trimmed

ENV_ID, ENV_KWARGS = "coord_game", {"rounds": 1}
# Dataset kind -> p(right) of seat row, of seat col.
DATASETS = {"favourable": (0.9, 0.9), "neutral": (0.5, 0.5), "unfavourable": (0.9, 0.1)}
# The seed's table (agreement rate; their methods IQL, MA-IQL, IBC, MOMA-PPO).
SEED_TABLE = {"favourable": {"iql": "1.0", "maiql": "1.0", "bc": "1.0", "moma": "1.0"},
              "neutral": {"iql": "1.0", "maiql": "0.9", "bc": "0.55", "moma": "1.0"},
              "unfavourable": {"iql": "1.0", "maiql": "0", "bc": "0", "moma": "1.0"}}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """What the study runs."""

    # Seeds: seed s makes its own dataset (match seed s) and trains with key s.
    seeds: int = 10
    # Episodes in each dataset (one step each).
    dataset_episodes: int = 1000
    # Episodes of each evaluation match of the learned agents.
    eval_episodes: int = 256
    # Where datasets and learned checkpoints go.
    work: str = ""
    # Learner settings other than the defaults (OfflineConfig fields), for every method.
    settings: tuple = ()


def collectors(p_right: tuple[float, float]):
    env = make(ENV_ID, **ENV_KWARGS)
    team = env.spec.teams[0]
    return env, [build_agent("scripted", {"rule": "stochastic", "probs": [1 - p, p]}, team.obs_shape, team.obs_dtype,
                             team.num_actions) for p in p_right]


def make_dataset(kind: str, seed: int, episodes: int, out: Path) -> dict:
    """Play the kind's scripted pair for `episodes` episodes (match seed `seed`) into dataset `out`."""
    env, agents = collectors(DATASETS[kind])
    result = run_match(env, agents, [{}, {}], episodes=episodes, seed=seed, record=episodes)
    manifests = [manifest_for(a, name=f"{kind}-{side.name}-p{p}", env=ENV_ID, params_bytes=params_to_bytes({}),
                              env_kwargs=dict(ENV_KWARGS), plays=(side.name,))
                 for a, side, p in zip(agents, env.spec.sides, DATASETS[kind])]
    sides = tuple(SideInfo(name=side.name, seats=tuple(side.seats), agent=m.name, arch=m.arch, sha256=m.params.sha256,
                           action_labels=tuple(env.spec.teams[0].action_labels))
                  for side, m in zip(env.spec.sides, manifests))
    traces = [trimmed(t) for t in traces_from_result(result, sides, dict(ENV_KWARGS), env.spec.seats)]
    source = {"kind": "match", "seed": seed, "agents": [f"scripted stochastic p(right)={p}" for p in DATASETS[kind]],
              "episodes": list(range(episodes))}
    return write_dataset(out, traces, [source], [0] * episodes, manifests=[m.to_dict() for m in manifests])


def run_study(config: StudyConfig, log=print) -> dict:
    """Every dataset kind x method x seed; returns {kind: {method or "data": Estimate dict}}."""
    work = Path(config.work or cache_dir() / "offline-study")
    offline = offline_config(dict(config.settings), "bc")
    out: dict = {}
    for kind in DATASETS:
        folders = [work / "datasets" / f"{kind}-s{s}" for s in range(config.seeds)]
        for s, folder in enumerate(folders):
            make_dataset(kind, s, config.dataset_episodes, folder)
        datasets = [load_dataset(f) for f in folders]
        behaviour = [float(np.mean(d.joint_actions()[:, 0] == d.joint_actions()[:, 1])) for d in datasets]
        out[kind] = {"data": bootstrap_ci(np.asarray(behaviour), seed=0).to_dict()}
        agent = seat_agent(datasets[0])
        stacked = jax.tree.map(lambda *xs: np.stack(xs), *[arrays(d) for d in datasets])
        keys = jax.vmap(jax.random.PRNGKey)(np.arange(config.seeds))
        for method in METHODS:
            params, metrics = compiled_fit(method, offline, agent, seeds=config.seeds)(stacked, keys)
            scores = []
            for s, dataset in enumerate(datasets):
                per_seat = seat_params(jax.tree.map(lambda x: x[s], params), len(dataset.seat_names))  # noqa: B023
                seat_metrics = {k: np.asarray(v[s]) for k, v in metrics.items()}
                paths = write_seats(dataset, method, offline, agent, per_seat,
                                    work / "agents" / kind / f"{method}-s{s}.ckpt", s, seat_metrics)
                report, _ = play_match([str(p) for p in paths], env_kwargs=ENV_KWARGS,
                                       episodes=config.eval_episodes, seed=10_000 + s, swap=False)
                scores.append(report["orders"][0]["metrics"]["agreement"]["mean"])
            out[kind][method] = {**bootstrap_ci(np.asarray(scores), seed=0).to_dict(), "per_seed": scores}
            log(f"{kind:>12} {method:>4}: {out[kind][method]['mean']:.2f} per seed {np.round(scores, 2).tolist()}")
    return out


def markdown(results: dict, seeds: int) -> str:
    """The table: ours (mean [95% CI] over seeds) beside the seed's numbers."""
    head = ("| dataset | behaviour data | bc (ours) | iql (ours) | maiql (ours) | moma-lite (ours) | seed: IBC | "
            "seed: IQL | seed: MA-IQL | seed: MOMA-PPO |")
    lines = [head, "|" + "---|" * 10]
    fmt = lambda e: interval(e, unit="seed")  # noqa: E731  (fewer than 3 seeds: no interval, and it says so)
    for kind, row in results.items():
        seed = SEED_TABLE[kind]
        ours = " | ".join(fmt(row[m]) for m in ("data", "bc", "iql", "maiql", "moma"))
        lines.append(f"| {kind} | {ours} | {seed['bc']} | {seed['iql']} | {seed['maiql']} | {seed['moma']} |")
    lines.append("")
    lines.append(f"Agreement rate, mean over {seeds} seeds with a 95% bootstrap CI over seeds.")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per dataset and method (default 10)")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per dataset (default 1000)")
    parser.add_argument("--work", default="", help="folder for datasets and checkpoints (default: arena's cache dir)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="learner setting for every method, e.g. --set beta=10 (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.episodes < 1:
        print("error: --seeds must be at least 2 (a CI needs them) and --episodes positive", file=sys.stderr)
        sys.exit(2)
    settings = []
    for pair in args.settings:
        key, sep, value = pair.partition("=")
        if not sep:
            print(f"error: --set {pair!r}: expected KEY=VALUE", file=sys.stderr)
            sys.exit(2)
        try:
            settings.append((key, json.loads(value)))
        except json.JSONDecodeError:
            settings.append((key, value))
    enable_compilation_cache()
    config = StudyConfig(seeds=args.seeds, dataset_episodes=args.episodes, work=args.work, settings=tuple(settings))
    try:
        results = run_study(config, log=(lambda *_: None) if args.json else print)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    work = Path(config.work or cache_dir() / "offline-study")
    atomic_write(work / "results.json", json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1) if args.json else markdown(results, args.seeds) + f"\n(results: {work / 'results.json'})")


if __name__ == "__main__":
    main()
