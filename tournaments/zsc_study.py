"""The zero-shot study of the diverse-reward-shapings seed (issue 13 §4), one command:

    python -m arena.tournaments.zsc_study                       # the zoo README's 10-member table
    python -m arena.tournaments.zsc_study --confidence 0.9      # the paper's 90% intervals
    python -m arena.tournaments.zsc_study --members 2 --steps 40000 --episodes 16 --json --work zsc-work

On `overcooked/forced_coord`, four populations of PPO self-play agents, each population one
vmapped training call (`arena.agents.trainers.population`), each member trained with its own
six shaping weights held fixed (`arena.envs.overcooked_shaping`; JaxMARL's own annealed
shaping off):

    lhs     Latin hypercube shapings (the paper's stratified grid)
    random  uniform random shapings
    same    every member JaxMARL's base shaping (3, 3, 5, 0, 0, 0)
    pool    the held-out partners: random shapings of another selection seed, and training
            seeds (1000 + i) no focal run used

Focal agents: the mode-action ensemble of each of lhs, random and same, and each of those
populations' members alone (the same-shaping ones are the paper's single baseline; the
diverse ones show whether the vote helps their members or hurts them). Each focal agent plays every pool member in a
zero-shot arena tournament (both seat orders, `--episodes` episodes a cell, paired seeds); a
focal agent's score per episode is its mean sparse return over the pool and both orders (one
cook's return: 20 per soup delivered, so soups = score / 20), with a bootstrap CI over
episodes. The tournament's leak flag must be empty: every pool member is held out.

PPO self-play per shaping stands in for the paper's TrajeDi populations (each member is its
own best response; no diversity term), and MAPPO's pool for the paper's partners. Every step
resumes: populations train from their state files, the tournament from its store, so running
the command again after a stop continues it. With `--zoo`, the pool's checkpoints are copied
into the zoo as `zsc-pool-forced-NN` (the held-out pool the zoo ships); `--only pool --zoo`
trains and copies the pool alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from arena.agents.ensemble import ensemble_of
from arena.agents.trainers.population import PopulationSpec, member_path, results_path, run_files, shaped_population, shapings_of, train_population
from arena.agents.trainers.run import RunSpec
from arena.agents.trainers.selection import diversity
from arena.agents.zoo import ZOO_DIR
from arena.checkpoint import load_agent, read_checkpoint, save_checkpoint
from arena.envs.overcooked_shaping import FEATURES, weights_dict
from arena.errors import UserError
from arena.fileio import atomic_write
from arena.paths import cache_dir, enable_compilation_cache
from arena.stats import bootstrap_ci
from arena.tournaments.spec import make_spec
from arena.tournaments.store import Store
from arena.tournaments.tournament import prepare, run_tournament

POPULATIONS = ("lhs", "random", "same", "pool")
ENSEMBLES = ("lhs", "random", "same")
POOL_SEED0 = 1000  # training seeds of the held-out pool: no focal run uses them
ZOO_POOL = "zsc-pool-forced"
SOUP = 20.0  # v1 pays each cook 20 per soup
# The paper's forced-coordination table (Random0_Medium, sparse reward, mean +- 90% CI).
PAPER = {"lhs ensemble": "58.7 ± 0.36", "random ensemble": "49.3 ± 0.74", "same ensemble": "36.2 ± 0.60",
         "single (same shaping)": "15.0 ± 3.55"}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """What the study runs."""

    env: str = "overcooked/forced_coord"
    # Members per population: the paper's P = 10 (at 3, the vote of a few agents with
    # different conventions reversed the result; the zoo README has both tables).
    members: int = 10
    # Env steps per member (per env, as `arena train` counts them): the zoo's forced_coord
    # budget; at 600,000 no member learned the layout.
    steps: int = 2_000_000
    # Episodes per tournament cell (one focal agent, one pool member, one seat order).
    episodes: int = 256
    # Shapings are selected with seed + 1 (lhs), seed + 2 (random), seed + 3 (pool).
    seed: int = 0
    # Confidence level of the reported intervals (the paper uses 0.9).
    confidence: float = 0.95
    # Folder of populations, ensembles and the tournament store ("": arena's cache dir).
    work: str = ""

    @property
    def folder(self) -> Path:
        return Path(self.work or cache_dir() / "zsc-study")


# Population -> (selection method, offset of its selection seed from the study's seed).
SELECTION = {"lhs": ("lhs", 1), "random": ("random", 2), "same": ("same", 0), "pool": ("random", 3)}


def population_spec(name: str, c: StudyConfig) -> PopulationSpec:
    """Population `name`'s run: its selected shapings, both cooks alike; focal populations
    share training seeds 0.. (shaping is what differs), the pool trains on seeds 1000.."""
    method, offset = SELECTION[name]
    base = RunSpec(env=c.env, out=str(c.folder / name), name=f"zsc-{name}",
                   seed=POOL_SEED0 if name == "pool" else 0, config={"total_steps": c.steps})
    spec = shaped_population(base, method, c.members, selection_seed=c.seed + offset)
    return dataclasses.replace(spec, provenance=tuple({**p, "shaping_selection": name} for p in spec.provenance))


def shapings(name: str, c: StudyConfig) -> np.ndarray:
    """(members, 6) weights of population `name`, as its members' provenance records them."""
    return shapings_of(population_spec(name, c))


def train(name: str, c: StudyConfig, progress: bool) -> list[Path]:
    """Train population `name` (or resume it, or find it done) -> its member checkpoints."""
    spec = population_spec(name, c)
    paths = [member_path(spec.out, i) for i in range(c.members)]
    if not (results_path(spec.out).is_file() and all(p.is_file() for p in paths)):
        result = train_population(spec, resume=run_files(spec.out).state.is_file(), progress=progress)
        if result.interrupted:
            raise KeyboardInterrupt
    return paths


def ensemble(name: str, members: list[Path], c: StudyConfig) -> Path:
    path = c.folder / f"ensemble-{name}.ckpt"
    if not path.is_file():
        manifest, params = ensemble_of([load_agent(str(p)) for p in members], name=f"zsc-{name}-ensemble")
        save_checkpoint(path, manifest, params)
    return path


def _ci(x: np.ndarray, c: StudyConfig) -> dict:
    return bootstrap_ci(np.asarray(x, np.float64), confidence=c.confidence, seed=0).to_dict()


def evaluate(focal: dict[str, list[Path]], pool: list[Path], c: StudyConfig, progress: bool) -> dict:
    """Zero-shot tournament of every focal checkpoint with the pool -> per focal group the
    per-episode mean sparse return over pool members and seat orders, and the leak flags."""
    refs = [str(p) for paths in focal.values() for p in paths]
    spec = make_spec("zeroshot", refs, pool=[str(p) for p in pool], episodes=c.episodes, seed=c.seed)
    db = str(c.folder / "tournament.sqlite")
    report, _ = run_tournament(spec, db=db, progress=progress)
    prep = prepare(spec)
    cells = Store(db).cells(prep.id)
    team = {}
    for cell in sorted(cells, key=lambda r: (r.lineup, r.replicate)):
        team.setdefault(tuple(cell.lineup), []).append(cell.returns.mean(axis=1))
    n_focal, n = len(refs), len(refs) + len(pool)

    def score(f: int) -> np.ndarray:  # (E,) mean over pool members and both seat orders
        return np.mean([np.concatenate(team[(f, p)]) + np.concatenate(team[(p, f)])
                        for p in range(n_focal, n)], axis=0) / 2

    out, i = {}, 0
    for group, paths in focal.items():
        each = [score(i + j) for j in range(len(paths))]
        series = np.mean(each, axis=0)  # singles: averaged per episode
        out[group] = {"agents": [Path(p).name for p in paths], "episodes": int(series.size),
                      "sparse": _ci(series, c), "soups": _ci(series / SOUP, c),
                      "per_agent": [round(float(x.mean()), 2) for x in each]}
        i += len(paths)
    out["leaks"] = {r["agent"]: r["flagged"] for r in report["zeroshot"]["focal"] if r["flagged"]}
    return out


def train_all(c: StudyConfig, names=POPULATIONS, *, progress: bool = True, zoo: bool = False, log=print) -> dict:
    """Train (or resume, or find done) the populations `names` -> their member checkpoints;
    with `zoo`, copy the pool into the zoo."""
    c.folder.mkdir(parents=True, exist_ok=True)
    members = {}
    for name in names:
        log(f"population {name}: {c.members} members x {c.steps} steps")
        members[name] = train(name, c, progress)
    if zoo and "pool" in members:
        log(f"zoo: {', '.join(p.name for p in copy_pool_to_zoo(members['pool']))}")
    return members


def run_study(c: StudyConfig, *, progress: bool = True, zoo: bool = False, log=print) -> dict:
    members = train_all(c, progress=progress, zoo=zoo, log=log)
    focal = {f"{name} ensemble": [ensemble(name, members[name], c)] for name in ENSEMBLES}
    # Each population's members alone: the paper's single baseline (same), and what the
    # diverse members score before their vote (does the ensemble help or hurt them?).
    for name in ENSEMBLES[::-1]:
        focal[f"single ({name} shaping)"] = members[name]
    log(f"zero-shot tournament: {sum(map(len, focal.values()))} focal agents x {c.members} pool members, "
        f"both seat orders, {c.episodes} episodes a cell")
    scores = evaluate(focal, members["pool"], c, progress)
    base = scores["same ensemble"]["sparse"]["mean"]
    for group in focal:
        scores[group]["vs_same_ensemble_pct"] = round(100 * (scores[group]["sparse"]["mean"] / base - 1), 1) if base else None
    pop_returns = {}
    for name in POPULATIONS:
        doc = json.loads(results_path(c.folder / name).read_text())
        pop_returns[name] = [m.get("sparse_return") for m in doc["members"]]
    return {
        "config": dataclasses.asdict(c), "confidence": c.confidence,
        "scores": {g: scores[g] for g in focal}, "leaks": scores["leaks"],
        "diversity": {name: diversity(shapings(name, c), FEATURES) for name in POPULATIONS},
        "shapings": {name: [weights_dict(w) for w in shapings(name, c)] for name in POPULATIONS},
        "self_play_sparse_return": pop_returns,
    }


def copy_pool_to_zoo(paths: list[Path], zoo: Path = ZOO_DIR) -> list[Path]:
    """The pool's checkpoints into the zoo as zsc-pool-forced-NN.ckpt, named so in their
    manifests too (params and provenance as trained)."""
    out = []
    for i, src in enumerate(paths):
        name = f"{ZOO_POOL}-{i:02d}"
        manifest, params, _ = read_checkpoint(src)
        save_checkpoint(zoo / f"{name}.ckpt", manifest.replace(name=name), params)
        out.append(zoo / f"{name}.ckpt")
    return out


def markdown(results: dict) -> str:
    level = round(100 * results["confidence"])
    lines = [f"| focal agent | sparse reward (mean, {level}% CI) | soups | vs same-shaping ensemble | paper (Random0_Medium, 90% CI) |",
             "|---|---|---|---|---|"]
    for group, s in results["scores"].items():
        sp, so = s["sparse"], s["soups"]
        pct = s["vs_same_ensemble_pct"]
        paper = PAPER.get(group, "")
        lines.append(f"| {group} | {sp['mean']:.1f} [{sp['low']:.1f}, {sp['high']:.1f}] | {so['mean']:.2f} | "
                     f"{'' if pct is None else f'{pct:+.1f}%'} | {paper} |")
    lines += ["", "| shapings | mean std per weight | % of [0, 10] covered |", "|---|---|---|"]
    for name, d in results["diversity"].items():
        lines.append(f"| {name} | {d['mean_std']:.2f} | {d['range_covered_pct']:.1f} |")
    lines.append("")
    leaks = results["leaks"]
    lines.append("Leak flags: " + ("none (every pool member is held out)" if not leaks else json.dumps(leaks)))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    d = StudyConfig()
    parser.add_argument("--members", type=int, default=d.members, help=f"members per population (default {d.members})")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"env steps per member (default {d.steps})")
    parser.add_argument("--episodes", type=int, default=d.episodes, help=f"episodes per tournament cell (default {d.episodes})")
    parser.add_argument("--seed", type=int, default=d.seed, help="selection and tournament seed (default 0)")
    parser.add_argument("--confidence", type=float, default=d.confidence, choices=(0.9, 0.95),
                        help="CI level: 0.95 (default) or 0.9, the paper's")
    parser.add_argument("--work", default="", help="folder for populations and the store (default: arena's cache dir)")
    parser.add_argument("--zoo", action="store_true", help=f"copy the held-out pool into the zoo as {ZOO_POOL}-NN")
    parser.add_argument("--only", nargs="+", choices=POPULATIONS, default=(),
                        help="train just these populations (no tournament), e.g. --only pool --zoo")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.members < 2 or args.steps < 1 or args.episodes < 2:
        print("error: --members must be at least 2, --steps positive and --episodes at least 2", file=sys.stderr)
        sys.exit(2)
    enable_compilation_cache()
    c = StudyConfig(members=args.members, steps=args.steps, episodes=args.episodes, seed=args.seed,
                    confidence=args.confidence, work=args.work)
    log = (lambda *_: None) if args.json else print
    try:
        if args.only:
            train_all(c, args.only, progress=not args.json, zoo=args.zoo, log=log)
            return
        results = run_study(c, progress=not args.json, zoo=args.zoo, log=log)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        sys.exit(130)
    atomic_write(c.folder / "results.json", json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1) if args.json else markdown(results) + f"\n(results: {c.folder / 'results.json'})")


if __name__ == "__main__":
    main()
