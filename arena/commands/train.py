"""`arena train ppo|iop|coala`: the CLI front of `arena.agents.trainers.train(kind, spec)`."""
from __future__ import annotations

import click

from arena.commands.options import CTX, complete_env_id, env_kwargs_option, json_option, parse_env_kwargs


def _shared_options() -> list:
    """Options every `arena train` command of an env takes, defined once."""
    return [
        click.option("--env", "env_id", default=None, shell_complete=complete_env_id, help="Env id (see `arena envs`). Required unless --resume."),
        env_kwargs_option,
        click.option("--seed", default=0, show_default=True, type=int, help="Training seed: same seed, same agent."),
        click.option("--steps", default=None, type=int,
                     help="Env steps to train for, over all parallel envs (default: ppo 5,000,000, iop 1,000,000, coala 400,000)."),
        click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
                     help="Trainer hyperparameter, e.g. --set lr=3e-4 --set num_envs=32 (repeatable)."),
        click.option("--arch-kw", "arch_kw", multiple=True, metavar="KEY=VALUE",
                     help="Architecture config field, e.g. --arch-kw hidden=[128,128] (repeatable)."),
        click.option("--checkpoint-every", default=50, show_default=True, type=int, help="Updates between checkpoints."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--list-settings", is_flag=True, help="List the settings --set takes, with defaults, and exit."),
        json_option,
    ]


def _decorate(fn, options: list):
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _decorate_shared(fn):
    return _decorate(fn, _shared_options())


def _common(fn):
    """The options of a trainer writing X.ckpt."""
    return _decorate(fn, [
        *_shared_options(),
        click.option("-o", "--out", default=None, type=click.Path(dir_okay=False),
                     help="Checkpoint to write (X.ckpt; team games write X-<team>.ckpt). Metrics, curves and the "
                          "resumable state go beside it."),
        click.option("--name", default=None, metavar="NAME",
                     help="Agent name in the manifest, as tables show it (default: the stem of -o; team games "
                          "add -<team>)."),
        click.option("--resume", default=None, type=click.Path(dir_okay=False),
                     help="Continue the run whose -o was this path (its .state file must exist); its recorded "
                          "settings are used."),
        click.option("--force", is_flag=True, help="Replace the run already at -o (its checkpoint, state, metrics, curves)."),
    ])


def _list_settings(kind: str, as_json: bool) -> None:
    from arena.agents.trainers.run import settings_of

    rows = [{"name": n, "type": t, "default": d} for n, t, d in settings_of(kind)]
    if as_json:
        from arena.commands.report import print_json

        print_json(rows)
        return
    from arena.tables import Col, print_table

    print_table([Col("setting (--set)", key=True), Col("type"), Col("default")],
                [[r["name"], r["type"], repr(r["default"])] for r in rows], title=f"arena train {kind} settings")


def _base_spec(kind: str, env_id, env_kw, seed, steps, out, name, settings, arch_kw, checkpoint_every, resume,
               arch: str = "", opponent: str | None = None):
    """The RunSpec the options describe, checked (None with --resume: the recorded one is used)."""
    from arena.agents.trainers import RunSpec
    from arena.errors import UserError

    if resume is None and (env_id is None or out is None):
        raise UserError(f"arena train {kind} needs --env and -o (or --resume {'DIR' if kind == 'population' else 'CKPT'})")
    if checkpoint_every < 1:
        raise UserError("--checkpoint-every must be at least 1")
    if steps is not None and steps < 1:
        raise UserError("--steps must be positive")
    if resume is not None:
        return None
    config = parse_env_kwargs(settings)
    if steps is not None:
        config["total_steps"] = steps
    if name is not None and not name.strip():
        raise UserError("--name must not be empty")
    return RunSpec(env=env_id, out=out, seed=seed, arch=arch, arch_config=parse_env_kwargs(arch_kw),
                   env_kwargs=parse_env_kwargs(env_kw), config=config, name=(name or "").strip(),
                   opponent=opponent or "")


def _report(kind: str, result, as_json: bool, again: str, extra: dict | None = None) -> None:
    """What a run printed when it ended; Ctrl-C exits 130 with the command that continues it."""
    summary = {
        "checkpoints": [str(p) for p in result.outputs],
        "updates": result.updates,
        "env_steps": result.env_steps,
        "wall_time_s": round(result.wall_time, 1),
        "final": result.final,
        "interrupted": result.interrupted,
        **(extra or {}),
    }
    if as_json:
        from arena.commands.report import print_json

        print_json(summary)
    elif not result.interrupted:
        final = "  ".join(f"{k} {v:.3g}" for k, v in result.final.items()
                          if k.startswith(("return", "soups", "captures", "agreement")) and "/member-" not in k)
        # the metrics on a line of their own: a team game's three do not fit 80 columns beside the rest
        click.echo(f"trained {result.env_steps:,} env steps in {result.wall_time:.0f}s" + (f"\n  {final}" if final else ""))
        for p in result.outputs:
            click.echo(f"wrote {p}")
    if result.interrupted:
        click.echo(
            f"interrupted: the last checkpoint (update {result.updates}) is kept; "
            f"continue with: arena train {kind} --resume {again}", err=True,
        )
        raise SystemExit(130)


def _run(kind: str, env_id, env_kw, seed, steps, out, name, settings, arch_kw, checkpoint_every, resume, force, quiet,
         list_settings, as_json, arch: str = "", opponent: str | None = None):
    if list_settings:
        _list_settings(kind, as_json)
        return
    from arena.agents.trainers import recorded_spec, train
    from arena.paths import enable_compilation_cache

    spec = _base_spec(kind, env_id, env_kw, seed, steps, out, name, settings, arch_kw, checkpoint_every, resume, arch,
                      opponent)
    if spec is None:
        spec = recorded_spec(kind, resume)  # the recorded settings; the other options are ignored
    enable_compilation_cache()
    result = train(kind, spec, resume=resume is not None, force=force, checkpoint_every=checkpoint_every,
                   progress=not quiet)
    _report(kind, result, as_json, resume or out)


@click.group(context_settings=CTX)
def train():
    """Train agents with arena's own trainers (PPO self-play and populations of it, Internal
    Other-Play, COALA-PG, offline learners from a dataset, and intent encoders from matches).

    \b
    Examples:
      arena train ppo --env overcooked/cramped_room --steps 5000000 -o ppo.ckpt
      arena train iop --env overcooked_v2/cramped_room --steps 1000000 -o iop.ckpt
      arena train coala --env ipd --env-kw rounds=8 --steps 500000 -o la.ckpt
      arena train population --env overcooked/forced_coord --shaping lhs --n 8 -o lhs/
      arena train offline --method iql --data data/ -o iql.ckpt
      arena train encoder --predators blind-predators.ckpt --prey prey.ckpt -o encoder.ckpt
    """


@train.command(context_settings=CTX)
@click.option("--arch", default="mlp_actor_critic", show_default=True,
              type=click.Choice(["mlp_actor_critic", "cnn_actor_critic"]), help="Network trained.")
@click.option("--opponent", default=None, metavar="CKPT",
              help="Team games: this checkpoint plays its team frozen; only the other teams train.")
@_common
def ppo(arch, opponent, **options):
    """Independent PPO in self-play: one network per team, shared by its seats.

    Overcooked (v1 and v2) trains one network for both cooks, with the env's shaped reward
    annealed away over --set shaping_horizon steps (JaxMARL's IPPO baseline); mpe_tag trains
    predators and prey at once and writes X-predators.ckpt and X-prey.ckpt, or, with
    --opponent, trains one team against a frozen agent of the other. Defaults are
    JaxMARL's ippo_ff_overcooked (lr 2.5e-4, 16 envs x 128 steps, 4 epochs x 4 minibatches,
    clip 0.2, entropy 0.01). Ctrl-C keeps the last checkpoint; --resume continues the run and
    ends exactly where an uninterrupted run would.

    \b
    Examples:
      arena train ppo --env overcooked/cramped_room --seed 0 --steps 5000000 -o ppo-v1.ckpt
      arena train ppo --env overcooked_v2/cramped_room --arch cnn_actor_critic --steps 3000000 -o v2.ckpt
      arena train ppo --env mpe_tag --steps 1000000 --set num_steps=100 -o tag.ckpt
      arena train ppo --env mpe_tag --opponent tag-prey.ckpt --steps 500000 -o hunters.ckpt
      arena train ppo --resume ppo-v1.ckpt
      arena train ppo --list-settings
    """
    _run("ppo", arch=arch, opponent=opponent, **options)


@train.command(context_settings=CTX)
@_common
def iop(**options):
    """Internal Other-Play for the softmoe_gru agent (the IOP seed).

    Each update K cohorts (--set num_cohorts=8) play self-play with perturbed GRU hidden
    states (noise sigma spread over [0.05, 0.25]) and a routing bias toward chosen experts
    (scale 0.3); the top k cohorts by return (--set top_k=4) feed a PPO-clip update with a
    KL penalty (0.1) and an entropy bonus (0.01), lr 3e-4. Logs return, cohort return std,
    action entropy, routing entropy and expert usage per update.

    \b
    Examples:
      arena train iop --env overcooked_v2/cramped_room --seed 0 --steps 1000000 -o iop.ckpt
      arena train iop --env coord_game --steps 20000 --set num_steps=16 -o iop-coord.ckpt
      arena train iop --resume iop.ckpt
    """
    _run("iop", **options)


# ---------------------------------------------------------------- offline (from a dataset)


@train.command(context_settings=CTX)
@click.option("--method", required=True, type=click.Choice(["bc", "iql", "maiql", "moma"]),
              help="bc: independent behaviour cloning; iql: centralised IQL over joint actions; maiql: MA-IQL "
                   "(centralised critic, per-seat actors); moma: MOMA-PPO-lite (reward-model ensemble, separate "
                   "PPO actors per seat).")
@click.option("--data", required=True, type=click.Path(), help="Dataset folder (`arena dataset`, `arena match --dataset`).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="X.ckpt: one checkpoint per seat is written, X-<seat>.ckpt.")
@click.option("--seed", default=0, show_default=True, type=int, help="Training seed: same seed, same agents.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Learner setting, e.g. --set penalty=2.0 --set greedy=false (repeatable).")
@json_option
def offline(method, data, out, seed, settings, as_json):
    """Learn one agent per seat from an offline dataset, with no env interaction.

    The checkpoints are ordinary mlp_actor_critic agents (logits linear in the seat's own
    observation), each tied to its seat; iql, maiql and moma learn one-shot games (episodes of one
    step). By default each deploys its policy's mode (--set greedy=false keeps it stochastic).

    \b
    Examples:
      arena train offline --method bc --data data/ -o bc.ckpt
      arena train offline --method moma --data data/ --seed 3 -o moma.ckpt
      arena match moma-row.ckpt moma-col.ckpt --env-kw rounds=1
    """
    from arena.agents.trainers.offline_run import train_offline
    from arena.paths import enable_compilation_cache

    enable_compilation_cache()
    result = train_offline(data, method, out, seed=seed, settings=parse_env_kwargs(settings))
    if as_json:
        from arena.commands.report import print_json

        print_json({"checkpoints": [str(p) for p in result.outputs],
                    "final": {k: v.tolist() for k, v in result.metrics.items()}})
        return
    for p in result.outputs:
        click.echo(f"wrote {p}")


@train.command(context_settings=CTX)
@click.option("--predators", required=True, metavar="CKPT", help="The watched side (its seats' observations are the input).")
@click.option("--prey", required=True, metavar="CKPT", help="The side whose hidden class is encoded.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="The intent_encoder checkpoint to write.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the match the episodes come from and of the training: same seed, same encoder.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Encoder setting, e.g. --set episodes=4096 --set updates=1500 (repeatable).")
@json_option
def encoder(predators, prey, out, seed, settings, as_json):
    """Train an intent encoder: a GRU posterior over the env's hidden class (mpe_tag_intent's
    corner) at every step, from the watched side's own observations.

    The data are the episodes `arena match PREDATORS PREY --seed SEED` plays, labelled with the
    truth read from each episode's state; the loss is the cross-entropy at every step. Held-out
    p(true) and accuracy per step are printed and kept in the checkpoint's provenance.

    \b
    Examples:
      arena train encoder --predators blind-predators.ckpt --prey prey.ckpt -o encoder.ckpt
      arena train encoder --predators blind-predators.ckpt --prey prey.ckpt --set episodes=8192 -o enc.ckpt
    """
    from arena.agents.trainers.encoder import train_encoder
    from arena.paths import enable_compilation_cache

    enable_compilation_cache()
    result = train_encoder(predators, prey, out, seed=seed, settings=parse_env_kwargs(settings))
    if as_json:
        from arena.commands.report import print_json

        print_json({"checkpoint": str(result.out), "p_true": result.p_true.tolist(),
                    "accuracy": result.accuracy.tolist(), "final_loss": result.final_loss})
        return
    click.echo("held-out p(true) per step: " + " ".join(f"{v:.2f}" for v in result.p_true))
    click.echo("held-out accuracy per step: " + " ".join(f"{v:.2f}" for v in result.accuracy))
    click.echo(f"wrote {result.out}")


@train.command(context_settings=CTX)
@_common
def coala(**options):
    """COALA-PG: a learning-aware history_gru against in-match naive learners (IPD).

    Each update plays --set units=8 meta-episodes of --set inner=16 inner episodes in --set
    lanes=8 coupled lanes against a fresh naive_learner (tabular memory-1, A2C between inner
    episodes on the batch of lanes, --set learner_lr=3). The trained agent's whole history
    is one sequence, scored by the seed's batch lambda returns (Algorithm 1); --set
    batch_aware=false gives the batch-unaware baseline (plain PPO returns on the same long
    context). Writes the one trained policy for both seats: X-row.ckpt and X-col.ckpt.

    \b
    Examples:
      arena train coala --env ipd --env-kw rounds=8 --steps 500000 -o la.ckpt
      arena train coala --env ipd --env-kw rounds=8 --steps 500000 --set batch_aware=false -o ppo-la.ckpt
      arena train coala --resume la.ckpt
    """
    _run("coala", **options)


# ---------------------------------------------------------------- populations


@train.command(context_settings=CTX)
@click.option("--shaping", default="none", show_default=True,
              type=click.Choice(["lhs", "random", "surrogate", "same", "none"]),
              help="How each member's six shaping weights (each in [0, 10]) are chosen: lhs (Latin hypercube: one "
                   "member in each tenth of the range per weight at --n 10), random (uniform), surrogate (the best "
                   "predicted of 1000 random shapings by an MLP fitted on --history), same (JaxMARL's 3, 3, 5, 0, 0, 0 "
                   "for every member), none (no shaping: members differ by seed).")
@click.option("--n", "n", default=8, show_default=True, type=int, help="Members in the population.")
@click.option("--history", multiple=True, type=click.Path(),
              help="An earlier population's DIR/population.json (or DIR) for --shaping surrogate (repeatable).")
@click.option("--arch", default="mlp_actor_critic", show_default=True,
              type=click.Choice(["mlp_actor_critic", "cnn_actor_critic"]), help="Network trained.")
@click.option("--opponent", default=None, metavar="CKPT",
              help="Team games: this checkpoint plays its team frozen against every member; only the other "
                   "teams train.")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Folder to write: member-00.ckpt ..., population.json, and the population's state, metrics "
                   "and curves.")
@click.option("--name", default=None, metavar="NAME",
              help="Members are named NAME-00, NAME-01, ... (default: the folder's name).")
@click.option("--resume", default=None, type=click.Path(file_okay=False),
              help="Continue the population in this folder; its recorded settings are used.")
@click.option("--force", is_flag=True, help="Replace the population already in -o.")
@_decorate_shared
def population(shaping, n, history, arch, opponent, env_id, env_kw, seed, steps, out, name, settings, arch_kw,
               checkpoint_every, resume, force, quiet, list_settings, as_json):
    """N PPO self-play agents, one per reward shaping, trained together as one compiled call.

    Members get seeds --seed, --seed + 1, ...; --seed also seeds the shaping selection. With
    --opponent (team games), every member trains the other teams against that one frozen
    checkpoint, as `arena train ppo --opponent` does for one seed. Each member's shaping
    (overcooked/ and overcooked_v2/ layouts) is fixed for its whole run and the same for every
    cook; JaxMARL's annealed shaping is then off (--set shaping_horizon=0 unless set). The
    diversity of the shapings (mean std per weight, % of [0, 10] covered) prints first; each
    member's checkpoint records its shaping (provenance.shaping), and population.json its
    sparse self-play return, which --shaping surrogate learns from. --set takes PPO's settings
    (arena train ppo --list-settings).

    \b
    Examples:
      arena train population --env overcooked/forced_coord --shaping lhs --n 8 --seed 0 --steps 5000000 -o lhs/
      arena train population --env overcooked/forced_coord --shaping surrogate --history lhs/ --n 8 -o sur/
      arena train population --env mpe_tag --n 3 --steps 1000000 --set num_steps=100 -o tag/
      arena train population --env mpe_tag_intent --opponent zoo:intent-prey --n 3 -o hunters/
      arena train population --resume lhs/
      arena ensemble lhs/member-*.ckpt -o lhs-ensemble.ckpt
    """
    if list_settings:
        _list_settings("ppo", as_json)
        return
    from arena.agents.trainers.population import recorded_population, shaped_population, shaping_report, train_population
    from arena.errors import UserError
    from arena.paths import enable_compilation_cache

    base = _base_spec("population", env_id, env_kw, seed, steps, out, name, settings, arch_kw, checkpoint_every,
                      resume, arch, opponent)
    enable_compilation_cache()  # before anything is compiled (building a shaped env traces its reset)
    if base is None:
        spec = recorded_population(resume)
    else:
        if n < 1:
            raise UserError("--n must be at least 1")
        spec = shaped_population(base, shaping, n, history)
    report = shaping_report(spec)
    if report and not as_json:
        _print_diversity(report)
    result = train_population(spec, resume=resume is not None, force=force, checkpoint_every=checkpoint_every,
                              progress=not quiet)
    _report("population", result, as_json, resume or out, extra=report)


def _print_diversity(report: dict) -> None:
    from arena.tables import Col, print_table

    d = report["diversity"]
    rows = [[name, f"{w['std']:.2f}", f"{w['min']:.2f}", f"{w['max']:.2f}", f"{w['range_covered_pct']:.0f}%"]
            for name, w in d["per_weight"].items()]
    print_table([Col("weight", key=True), Col("std"), Col("min"), Col("max"), Col("range covered")], rows,
                title=f"shapings by {report['selection']}: mean std {d['mean_std']:.2f}, "
                      f"{d['range_covered_pct']:.0f}% of [0, 10] covered on average")
