"""Rebuild the zoo: every shipped agent, trained by arena's own trainers from a fixed recipe.

    python -m arena.agents.zoo.build                 # everything, one run after another
    python -m arena.agents.zoo.build ppo-cramped-s1  # just these
    python -m arena.agents.zoo.build --list
    python -m arena.agents.zoo.build --references    # (re)measure provenance.best_return, params untouched

Each run writes its by-products (metrics, curves, resumable state) to a work folder
(default: arena's cache dir, `zoo-build/`) and copies the finished checkpoint(s) into this
folder. Runs in one process share compiled trainers, so seeds after the first of a recipe
start at once. A run interrupted with Ctrl-C is resumed by running the same command again.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

from arena.agents.trainers import RunSpec, reference, train
from arena.agents.trainers.runfiles import state_path_for
from arena.agents.zoo import ZOO_DIR, zoo_names
from arena.checkpoint import load_agent
from arena.match import play_match
from arena.paths import cache_dir, enable_compilation_cache


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One zoo agent (or team pair): the exact arguments of `arena train`."""

    name: str
    trainer: str  # "ppo" or "iop"
    env: str
    seed: int
    steps: int
    arch: str = "mlp_actor_critic"
    config: tuple = ()  # trainer settings as (key, value) pairs
    arch_config: tuple = ()  # architecture config as (key, value) pairs
    outputs: tuple[str, ...] = ()  # checkpoint names when a run makes several (team games)

    @property
    def files(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)

    def spec(self, out: Path):
        """The run this recipe describes, writing to `out`."""

        return RunSpec(env=self.env, out=str(out), seed=self.seed, arch=self.arch, arch_config=dict(self.arch_config),
                       config={**dict(self.config), "total_steps": self.steps})

    def command(self) -> str:
        """The equivalent `arena train` command line, for the zoo README."""
        parts = [f"arena train {self.trainer} --env {self.env} --seed {self.seed} --steps {self.steps}"]
        if self.trainer == "ppo":
            parts.append(f"--arch {self.arch}")
        parts += [f"--set {k}={json.dumps(v)}" for k, v in self.config]  # as `--set` reads it: JSON
        parts += [f"--arch-kw {k}={json.dumps(list(v) if isinstance(v, tuple) else v, separators=(',', ':'))}"
                  for k, v in self.arch_config]
        parts.append(f"-o {self.name}.ckpt")
        return " ".join(parts)


PPO_STEPS = 2_500_000
# JaxMARL's IPPO anneals shaping over half its run; the zoo keeps that proportion.
PPO_SET = (("shaping_horizon", PPO_STEPS // 2),)
FORCED_STEPS = 2_000_000
# IOP's agent is ~4x the MLP's compute per step even at a quarter width: 2M steps take about
# 15 minutes on 2 shared cores. Shaping is annealed over the first half, as for PPO. The
# seed's lr (3e-4) barely moves this smaller model (0.75 soups after 2M steps); 1e-3, annealed
# like PPO's, is what makes it learn.
IOP_STEPS = 2_000_000
# The seed's layout (CNN -> 4-expert Soft MoE -> GRU -> head) at a quarter of its widths.
IOP_ARCH = (("conv_features", (16,)), ("encoder_width", 64), ("expert_width", 128), ("gru_width", 128))

RECIPES: tuple[Recipe, ...] = (
    Recipe("ppo-v1-cramped-s0", "ppo", "overcooked/cramped_room", 0, PPO_STEPS, config=PPO_SET),
    *(Recipe(f"ppo-cramped-s{s}", "ppo", "overcooked_v2/cramped_room", s, PPO_STEPS, config=PPO_SET) for s in range(3)),
    # Smaller budgets from here on are what a 2-core machine shared with other work allowed.
    # forced_coord splits the work across a counter, so seeds settle on different hand-over
    # conventions: the layout with the clearest self-play vs cross-play gap.
    *(Recipe(f"ppo-v1-forced-s{s}", "ppo", "overcooked/forced_coord", s, FORCED_STEPS,
             config=(("shaping_horizon", FORCED_STEPS // 2),)) for s in range(3)),
    Recipe("ppo-tag-s0", "ppo", "mpe_tag", 0, 500_000, config=(("num_steps", 100), ("shaping_horizon", 0)),
           outputs=("ppo-tag-s0-predators", "ppo-tag-s0-prey")),
    *(Recipe(f"iop-cramped-s{s}", "iop", "overcooked_v2/cramped_room", s, IOP_STEPS, arch="softmoe_gru",
             config=(("envs_per_cohort", 2), ("update_epochs", 2), ("shaping_horizon", IOP_STEPS // 2),
                     ("lr", 1e-3), ("anneal_lr", True)),
             arch_config=IOP_ARCH) for s in range(2)),
)


def run_recipe(recipe: Recipe, work: Path, zoo: Path = ZOO_DIR, progress: bool = True) -> list[Path]:
    """Train one recipe (resuming its work files if a previous build was interrupted)."""

    work.mkdir(parents=True, exist_ok=True)
    spec = recipe.spec(work / f"{recipe.name}.ckpt")
    result = train(recipe.trainer, spec, resume=state_path_for(spec.out).is_file(), progress=progress)
    if result.interrupted:
        raise KeyboardInterrupt
    copied = []
    for src in result.outputs:
        dst = zoo / Path(src).name
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        copied.append(dst)
    return copied


def _score(refs: list[str], episodes: int, seed: int = 0) -> dict:
    """Per-episode soups (overcooked) or captures (mpe_tag) of one lineup, 95% bootstrap CI."""

    report, _ = play_match(refs, episodes=episodes, seed=seed, swap=False)
    order = report["orders"][0]
    name = "soups" if "soups" in order["metrics"] else "captures"
    return {"metric": name, **order["metrics"][name], "return": order["sides"][0]["return"]}


def evaluate(episodes: int = 256) -> dict:
    """Self-play of every zoo agent, and cross-play within each recipe family.

    Returns {"self_play": {name: score}, "cross_play": {family: {"a|b": score}}} where a
    family is the recipe name without its seed (ppo-cramped, ppo-v1-forced, iop-cramped) and
    PPO x IOP pairs on cramped_room are a family of their own.
    """

    names = set(zoo_names())
    out: dict = {"self_play": {}, "cross_play": {}}
    for r in RECIPES:
        if not set(r.files) <= names:
            continue
        refs = [f"zoo:{f}" for f in r.files]
        out["self_play"][r.name] = _score(refs * 2 if len(refs) == 1 else refs, episodes)
    families: dict[str, list[str]] = {}
    for r in RECIPES:
        if len(r.files) == 1 and r.name in names:
            families.setdefault(r.name.rsplit("-s", 1)[0], []).append(r.name)
    families["ppo-x-iop-cramped"] = families.get("ppo-cramped", []) + families.get("iop-cramped", [])
    for family, members in families.items():
        pairs = {}
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if family == "ppo-x-iop-cramped" and a.split("-")[0] == b.split("-")[0]:
                    continue
                pairs[f"{a}|{b}"] = _score([f"zoo:{a}", f"zoo:{b}"], episodes)
        if pairs:
            out["cross_play"][family] = pairs
    return out


def markdown(results: dict) -> str:
    """The zoo README's tables from `evaluate` and the checkpoints' own provenance."""

    fmt = lambda e: f"{e['mean']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"  # noqa: E731
    lines = ["| agent | env | arch | algorithm | seed | env steps | wall time | self-play (per episode, 95% CI) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in RECIPES:
        if r.name not in results["self_play"]:
            continue
        m = load_agent(f"zoo:{r.files[0]}").manifest
        p = m.provenance
        names = " + ".join(f"`{f}`" for f in r.files)
        s = results["self_play"][r.name]
        lines.append(f"| {names} | {m.env} | {m.arch} | {p['algorithm']} | {p['seed']} | {p['steps']:,} | "
                     f"{p['wall_time_s'] / 60:.1f} min | {s['metric']} {fmt(s)} |")
    for family, pairs in results["cross_play"].items():
        lines += ["", f"Cross-play, {family} (seat 0 with seat 1):", "", "| pair | soups per episode |", "|---|---|"]
        lines += [f"| {k.replace('|', ' with ')} | {fmt(v)} |" for k, v in pairs.items()]
    return "\n".join(lines)


def record_references(zoo: Path = ZOO_DIR, names: list[str] | None = None) -> dict[str, float]:
    """Write provenance.best_return into the shipped checkpoints (what `arena train` now records
    at the end of a run), measured by self-play as trainers/reference.py does; no retraining,
    params byte for byte unchanged. {checkpoint name: best_return}."""
    out: dict[str, float] = {}
    for r in RECIPES:
        if names and r.name not in names:
            continue
        paths = [zoo / f"{f}.ckpt" for f in r.files]
        if all(p.is_file() for p in paths):
            out.update(zip(r.files, reference.record(paths)))
    return out


def main(argv=None) -> int:

    parser = argparse.ArgumentParser(prog="python -m arena.agents.zoo.build", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="recipes to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the recipes as arena train commands")
    parser.add_argument("--table", action="store_true", help="measure the zoo (256 episodes each) and print the README tables")
    parser.add_argument("--work", type=Path, default=None, help="folder for metrics, curves and state files")
    parser.add_argument("--references", action="store_true",
                        help="measure each shipped agent's self-play and write it as provenance.best_return (no training)")
    args = parser.parse_args(argv)
    known = {r.name: r for r in RECIPES}
    if args.list:
        for r in RECIPES:
            print(r.command())
        return 0
    if args.table:
        enable_compilation_cache()
        print(markdown(evaluate()))
        return 0
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"error: unknown recipe(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    if args.references:
        enable_compilation_cache()
        for name, value in record_references(names=args.names or None).items():
            print(f"{name}: best_return {value:.4g} (self-play, {reference.REFERENCE_EPISODES} episodes)", flush=True)
        return 0
    enable_compilation_cache()
    work = args.work or cache_dir() / "zoo-build"
    for r in [known[n] for n in args.names] if args.names else RECIPES:
        print(f"== {r.name}: {r.command()}", flush=True)
        try:
            for path in run_recipe(r, work):
                print(f"   wrote {path}", flush=True)
        except KeyboardInterrupt:
            print("interrupted; run the same command again to resume", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
