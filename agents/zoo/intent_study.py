"""The hidden-intent study of issue 12 (the seed's Exp 6), one command, resumable:

    python -m arena.agents.zoo.intent_study --work intent-work          # the README's settings
    python -m arena.agents.zoo.intent_study --work intent-work --zoo    # and copy seed 0 to the zoo
    python -m arena.agents.zoo.intent_study --work tiny --steps 20000 --episodes 64 --json

In mpe_tag_intent (envs/mpe_tag_intent.py) it trains, each run resuming its files in --work:

1. the prey: IPPO co-training of a corner-conditioned prey with intent-blind predators;
2. predators against that prey, frozen (`arena train ppo --opponent`), `--seeds` seeds each:
   intent-blind (`intent_obs="none"`), oracle (`"true"`) and belief-trained (`"soft"`); one
   run after another, or with `--population` each kind's seeds as one population (`arena
   train population --opponent`, one compiled call; the same seeds and settings, equal to
   the runs alone to float rounding, which over 1M steps can grow into other agents: the
   zoo's intent-* agents come from the runs alone);
3. per seed, an intent encoder (`arena train encoder`) on the blind predators' observations
   in their matches with the prey, and from it and the belief-trained policy a belief
   predator, plus the same with its belief flattened to uniform (the ablation);

then plays every predator kind against the prey for `--episodes` episodes a seed (the same
match seed for all, so every kind meets the same starts and corners): captures per episode,
mean over seeds with a 95% bootstrap CI over the seeds (whole seeds resampled, their episodes
pooled), each seed's own mean with its episode-level CI, and the belief predators' mean
p(true corner) and argmax accuracy at every step (scored by `arena.calibration`, with 95%
bootstrap CIs over episodes in the JSON and at the last step in the table). Rows: blind;
oracle; the oracle fed a random corner (the oracle's checkpoint in `intent_obs="random"`);
belief-reactive; flat-belief reactive; the belief planner (agents/planner.py: the seed's Exp 6 planner on the true
simulator, K=5 rollouts of H=3 steps, base policy the blind predators of the same seed, the
prey's corner drawn from the encoder's belief) and the same planner with a flat belief.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from arena.agents import planner
from arena.agents.intent_encoder import assemble_belief_predator
from arena.agents.trainers import RunSpec, reference, train
from arena.agents.trainers.encoder import train_encoder
from arena.agents.trainers.population import PopulationSpec, run_files, train_population
from arena.agents.trainers.runfiles import state_path_for
from arena.agents.zoo import ZOO_DIR
from arena.calibration import items, per_step
from arena.checkpoint import load_agent, read_checkpoint, save_checkpoint
from arena.envs import make
from arena.errors import UserError
from arena.paths import enable_compilation_cache
from arena.runner import run_match
from arena.stats import bootstrap_ci, bootstrap_groups_ci

ENV = "mpe_tag_intent"
# The zoo's mpe_tag settings, with the learning rate and env count that let predators learn
# against an already-trained prey within 1M steps (2.5e-4 and 16 envs: 0.65 captures at 500k).
PPO_SET = {"num_steps": 100, "shaping_horizon": 0, "lr": 1e-3, "num_envs": 32}
KINDS = {"blind": "none", "oracle": "true", "soft": "soft"}  # predator kind -> intent_obs it trains in
MATCH_SEED = 0


@dataclasses.dataclass(frozen=True)
class Settings:
    seeds: int = 3
    prey_steps: int = 1_000_000
    steps: int = 1_000_000  # each predator run
    episodes: int = 1000  # evaluation episodes per seed
    encoder: tuple = ()  # encoder settings (`arena train encoder --set`), as (key, value) pairs
    population: bool = False  # each kind's predator seeds trained as one population


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)  # progress on stderr: stdout is the result (--json)


def _finished(ckpt: Path) -> bool:
    if not ckpt.is_file():
        return False
    p = load_agent(ckpt).manifest.provenance
    return p.get("steps") is not None and p.get("steps") >= p.get("planned_steps", 0)


def ppo_run(out: Path, steps: int, seed: int, intent_obs: str, opponent: Path | None, log) -> list[Path]:
    """One PPO run (resumed when its state file exists; skipped when finished) -> checkpoints."""
    team = "predators" if opponent is not None else None
    outputs = [out.with_name(f"{out.stem}-{t}.ckpt") for t in (["predators"] if team else ["predators", "prey"])]
    if all(_finished(p) for p in outputs):
        return outputs
    spec = RunSpec(ENV, out=str(out), seed=seed, env_kwargs={"intent_obs": intent_obs},
                   config={**PPO_SET, "total_steps": steps}, opponent=str(opponent) if opponent else "")
    log(f"training {out.name}: intent_obs={intent_obs}, seed {seed}, {steps:,} steps"
        + (f", against {opponent.name}" if opponent else ", co-training the prey"))
    result = train("ppo", spec, resume=state_path_for(out).is_file(), progress=False)
    if result.interrupted:
        raise KeyboardInterrupt
    return [Path(p) for p in result.outputs]


def population_run(out: Path, steps: int, seeds: int, intent_obs: str, opponent: Path, log) -> list[Path]:
    """Predators of seeds 0..seeds-1 against the frozen `opponent` as one population in folder
    `out` (resumed when its state exists; skipped when finished) -> each seed's checkpoint."""
    outputs = [out / f"member-{k:02d}-predators.ckpt" for k in range(seeds)]
    if all(_finished(p) for p in outputs):
        return outputs
    spec = PopulationSpec(ENV, out=str(out), seeds=tuple(range(seeds)), env_kwargs={"intent_obs": intent_obs},
                          config={**PPO_SET, "total_steps": steps}, opponent=str(opponent))
    log(f"training {out.name}: intent_obs={intent_obs}, seeds 0-{seeds - 1} as one population, {steps:,} steps "
        f"each, against {opponent.name}")
    result = train_population(spec, resume=run_files(out).state.is_file(), progress=False)
    if result.interrupted:
        raise KeyboardInterrupt
    return outputs


def build(work: Path, s: Settings, log=_log) -> dict:
    """Train (or find) everything; -> {"prey": path, kind: [path per seed], "encoder": [...],
    "belief": [...], "flat": [...], "planner": [...], "flat_planner": [...]}."""
    work.mkdir(parents=True, exist_ok=True)
    _, prey = ppo_run(work / "prey.ckpt", s.prey_steps, 0, "none", None, log)
    paths: dict = {"prey": prey}
    for kind, intent_obs in KINDS.items():
        if s.population:
            paths[kind] = population_run(work / f"{kind}-population", s.steps, s.seeds, intent_obs, prey, log)
        else:
            paths[kind] = [ppo_run(work / f"{kind}-s{k}.ckpt", s.steps, k, intent_obs, prey, log)[0]
                           for k in range(s.seeds)]
    for key in ("encoder", "belief", "flat", "planner", "flat_planner"):
        paths[key] = []
    for k in range(s.seeds):
        enc = work / f"encoder-s{k}.ckpt"
        if not enc.is_file():
            log(f"training {enc.name} on {paths['blind'][k].name} vs the prey")
            train_encoder(paths["blind"][k], prey, enc, seed=k, settings=dict(s.encoder))
        paths["encoder"].append(enc)
        for key, flat in (("belief", False), ("flat", True)):
            out = work / f"{key}-s{k}.ckpt"
            if not out.is_file():
                save_checkpoint(out, *assemble_belief_predator(load_agent(enc), load_agent(paths["soft"][k]),
                                                               name=f"intent-{key}-s{k}", flat_belief=flat))
            paths[key].append(out)
        for key, belief in (("planner", "encoder"), ("flat_planner", "flat")):
            out = work / f"{key.replace('_', '-')}-s{k}.ckpt"
            if not out.is_file():
                save_checkpoint(out, *planner.build(prey=prey, predators=paths["blind"][k], encoder=enc, belief=belief,
                                                    name=f"intent-{key.replace('_', '-')}-s{k}"))
            paths[key].append(out)
    return paths


# Row label -> (checkpoints key, the intent_obs the predators play in).
ROWS = {
    "blind": ("blind", "none"),
    "oracle": ("oracle", "true"),
    "oracle, random corner": ("oracle", "random"),
    "belief, reactive": ("belief", "none"),
    "belief flattened, reactive": ("flat", "none"),
    "belief, planner": ("planner", "none"),
    "belief flattened, planner": ("flat_planner", "none"),
}


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A recorded match's beliefs: `belief` (E, T, 3, K), one per predator, `truth` (E,) the
    prey's corner, `live` (E, T) the steps each episode was still running."""

    belief: np.ndarray
    truth: np.ndarray
    live: np.ndarray


def play(pred: Path, prey: Path, intent_obs: str, episodes: int, record: bool) -> tuple[np.ndarray, Recorded | None]:
    """(captures per episode (E,), the predators' beliefs when `record`)."""
    a, b = load_agent(pred), load_agent(prey)
    env = make(ENV, intent_obs=intent_obs)
    r = run_match(env, [a.agent, b.agent], [a.params, b.params], episodes=episodes, seed=MATCH_SEED,
                  record=episodes if record else 0)
    captures = np.asarray(r.metrics["captures"], np.float64)
    if not record:
        return captures, None
    belief = np.swapaxes(np.asarray(r.steps.extras[0]["belief"]), 0, 1)  # (T, E, 3, K) -> (E, T, 3, K)
    live = np.arange(belief.shape[1])[None, :] < np.asarray(r.length)[:, None]
    return captures, Recorded(belief, np.asarray(r.initial_state.intent), live)


def belief_curve(recorded: list[Recorded], *, seed: int = 0) -> dict:
    """p(true) and argmax accuracy at each step over seeds, episodes and predators, scored by
    `arena.calibration` (what `arena calibration` prints): the means, and per step each with
    its 95% bootstrap CI. Every seed plays the same episodes (one match seed: the same starts
    and corners), so the seeds' predators are items of one episode and the bootstrap resamples
    episodes, not seed-episodes that share a start."""
    truth, live = recorded[0].truth, recorded[0].live
    if any(not np.array_equal(r.truth, truth) or not np.array_equal(r.live, live) for r in recorded):
        raise ValueError("the seeds' matches did not play the same episodes (corners or lengths differ)")
    rows = per_step(items(np.stack([r.belief for r in recorded], axis=2), truth, live), seed=seed)
    return {"p_true": [round(row["p_true"]["mean"], 3) for row in rows],
            "accuracy": [round(row["accuracy"]["mean"], 3) for row in rows],
            "per_step": rows}


def evaluate(paths: dict, episodes: int) -> dict:
    rows, raw, recorded = {}, {}, []
    for label, (key, intent_obs) in ROWS.items():
        raw[label] = []
        for pred in paths[key]:
            captures, rec = play(pred, paths["prey"], intent_obs, episodes, record=key == "belief")
            raw[label].append(captures)
            if rec is not None:
                recorded.append(rec)
        rows[label] = {
            "captures": bootstrap_groups_ci(raw[label]).to_dict(),
            "per_seed": [bootstrap_ci(c).to_dict() for c in raw[label]],
        }
    # The reactive belief effect, paired by seed index and episode (the same starts and corners).
    diff = [b - a for a, b in zip(raw["blind"], raw["belief, reactive"])]
    return {"rows": rows, "belief_minus_blind": {"over_seeds": bootstrap_groups_ci(diff).to_dict(),
                                                 "per_seed": [bootstrap_ci(d).to_dict() for d in diff]},
            "belief_curve": belief_curve(recorded)}


def study(work: Path, s: Settings, log=_log) -> dict:
    start = time.perf_counter()
    paths = build(work, s, log)
    trained = time.perf_counter()
    result = evaluate(paths, s.episodes)
    return {"settings": {**dataclasses.asdict(s), "ppo": PPO_SET, "match_seed": MATCH_SEED},
            "seconds": {"build": round(trained - start, 1), "evaluate": round(time.perf_counter() - trained, 1)},
            "checkpoints": {k: ([str(p) for p in v] if isinstance(v, list) else str(v)) for k, v in paths.items()},
            **result}


# Zoo name -> (checkpoints key, seed index or None for the prey): seed 0 of each kind.
ZOO = {"intent-prey": ("prey", None), "intent-blind-s0": ("blind", 0), "intent-oracle-s0": ("oracle", 0),
       "intent-soft-s0": ("soft", 0), "intent-belief-s0": ("belief", 0)}


def export_zoo(paths: dict, zoo: Path = ZOO_DIR) -> list[Path]:
    """Copy the prey and seed 0 of each predator kind into the zoo under their zoo names (the
    manifest's name changes, the params are byte for byte the same); the belief predator's
    reference return is measured against the prey, as training records the others'."""
    written = []
    for name, (key, seed) in ZOO.items():
        manifest, params, _ = read_checkpoint(paths[key] if seed is None else paths[key][seed])
        out = zoo / f"{name}.ckpt"
        save_checkpoint(out, manifest.replace(name=name), params)
        written.append(out)
    belief = zoo / "intent-belief-s0.ckpt"
    reference.record([belief], lineup=[belief, zoo / "intent-prey.ckpt"])
    return written


def _fmt(e: dict) -> str:
    if e["low"] is None:
        return f"{e['mean']:.2f}"
    return f"{e['mean']:.2f} [{e['low']:.2f}, {e['high']:.2f}]"


def markdown(result: dict) -> str:
    lines = ["| predators | captures / episode (95% CI over seeds) | per seed (95% CI over episodes) |", "|---|---|---|"]
    for label, r in result["rows"].items():
        lines.append(f"| {label} | {_fmt(r['captures'])} | {'; '.join(_fmt(e) for e in r['per_seed'])} |")
    d = result["belief_minus_blind"]
    lines += ["", f"belief-reactive minus blind, paired by episode: {_fmt(d['over_seeds'])} over seeds; per seed "
              + "; ".join(_fmt(e) for e in d["per_seed"])]
    c = result["belief_curve"]
    lines += ["", "belief p(true corner) per step: " + " ".join(f"{v:.2f}" for v in c["p_true"]),
              "belief argmax accuracy per step: " + " ".join(f"{v:.2f}" for v in c["accuracy"])]
    if c.get("per_step"):  # results written before the curve carried its intervals have none
        last = c["per_step"][-1]
        lines.append(f"at the last step (95% CI over episodes): p(true corner) {_fmt(last['p_true'])}, "
                     f"accuracy {_fmt(last['accuracy'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arena.agents.zoo.intent_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Folder of the runs; run again to resume.")
    parser.add_argument("--seeds", type=int, default=Settings.seeds)
    parser.add_argument("--prey-steps", type=int, default=Settings.prey_steps)
    parser.add_argument("--steps", type=int, default=Settings.steps, help="Env steps of each predator run.")
    parser.add_argument("--episodes", type=int, default=Settings.episodes, help="Evaluation episodes per seed.")
    parser.add_argument("--encoder-set", action="append", default=[], metavar="KEY=VALUE",
                        help="Encoder setting (as `arena train encoder --set`), repeatable.")
    parser.add_argument("--population", action="store_true",
                        help="Train each predator kind's seeds as one population (one compiled call) rather than "
                             "one run after another; float rounding differs, so the agents are not the zoo's.")
    parser.add_argument("--zoo", action="store_true",
                        help="Also copy the prey and seed 0 of each predator kind into the zoo (intent-*.ckpt).")
    parser.add_argument("--json", action="store_true", help="Print the whole result as JSON.")
    args = parser.parse_args(argv)
    if min(args.seeds, args.prey_steps, args.steps, args.episodes) < 1:
        print("error: --seeds, --prey-steps, --steps and --episodes must be positive", file=sys.stderr)
        return 2
    try:
        encoder = tuple((k, json.loads(v)) for k, v in (kv.split("=", 1) for kv in args.encoder_set))
    except ValueError:
        print("error: --encoder-set takes KEY=VALUE with a JSON value, e.g. --encoder-set episodes=2048",
              file=sys.stderr)
        return 2
    enable_compilation_cache()
    s = Settings(seeds=args.seeds, prey_steps=args.prey_steps, steps=args.steps, episodes=args.episodes,
                 encoder=encoder, population=args.population)
    try:
        result = study(args.work, s)
        if args.zoo:
            paths = {k: ([Path(p) for p in v] if isinstance(v, list) else Path(v)) for k, v in result["checkpoints"].items()}
            for path in export_zoo(paths):
                _log(f"wrote {path}")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=1) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
