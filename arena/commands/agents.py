"""`arena new-agent`, `arena inspect`, `arena pack`, `arena ensemble`: making and reading checkpoints."""
from __future__ import annotations

from pathlib import Path

import click

from arena.commands.options import CTX, complete_agent, complete_env_id, json_option


@click.command("new-agent", context_settings=CTX)
@click.option("--arch", required=True, help="Architecture key (see `arena archs`).")
@click.option("--env", "env_id", required=True, shell_complete=complete_env_id, help="Env id (see `arena envs`).")
@click.option("--side", default=None, help="Side or team to play (default: the first); e.g. prey for mpe_tag.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--config", "config_kv", multiple=True, metavar="KEY=VALUE", help="Architecture config field (repeatable); values read as JSON.")
@click.option("--name", default="", help="Agent name (default: the output file name without extension).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Checkpoint file to write.")
def new_agent(arch, env_id, side, seed, config_kv, name, output):
    """Write a randomly initialised agent: for tests, and to try the tools before training.

    \b
    Examples:
      arena new-agent --arch softmoe_gru --env overcooked_v2/cramped_room --seed 1 -o moe.ckpt
      arena new-agent --arch scripted --config rule='"tit_for_tat"' --env ipd -o tft.ckpt
      arena new-agent --arch mlp_actor_critic --env mpe_tag --side prey -o prey.ckpt
    """
    from arena.checkpoint import new_agent as make_new_agent
    from arena.checkpoint import save_checkpoint
    from arena.commands.options import parse_env_kwargs

    manifest, params = make_new_agent(arch, env_id, seed=seed, side=side, config=parse_env_kwargs(config_kv),
        name=name or Path(output).stem)
    manifest = save_checkpoint(output, manifest, params)
    click.echo(f"wrote {output}: {manifest.name} ({manifest.arch}) for {manifest.env}, params sha256 {manifest.params.sha256[:12]}")


@click.command(context_settings=CTX)
@click.argument("checkpoint", shell_complete=complete_agent)
@json_option
def inspect(checkpoint, as_json):
    """Print CHECKPOINT's manifest and a summary of its params (after checking them).

    \b
    Examples:
      arena inspect a.ckpt
      arena inspect zoo:ppo-cramped-s0 --json
    """
    import jax
    import numpy as np

    from arena.checkpoint import load_agent
    from arena.commands.report import print_json

    loaded = load_agent(checkpoint)
    leaves = jax.tree_util.tree_flatten_with_path(loaded.params)[0]
    params = [
        {"name": jax.tree_util.keystr(k), "shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)}
        for k, v in leaves
    ]
    total = int(sum(np.size(v) for _, v in leaves))
    if as_json:
        print_json({"manifest": loaded.manifest.to_dict(), "params": params, "param_count": total})
        return
    import tomli_w

    click.echo(f"# {checkpoint}")
    click.echo(tomli_w.dumps(_drop_empty(loaded.manifest.to_dict())))
    if loaded.manifest.privileged:
        click.echo("# privileged: acts on the env state and may call the env's step (not only its observation); "
                   "tournaments with privileged = \"forbid\" and server uploads refuse it")
    click.echo(f"# params: {total:,} numbers in {len(params)} arrays")
    for p in params:
        click.echo(f"#   {p['name']:<48} {str(tuple(p['shape'])):<16} {p['dtype']}")


def _drop_empty(d):
    if isinstance(d, dict):
        return {k: _drop_empty(v) for k, v in d.items() if v not in ("", [], {}, None)}
    return d


@click.command(context_settings=CTX)
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def pack(folder, output):
    """Turn a checkpoint FOLDER (manifest.toml + params, msgpack or safetensors) into one .ckpt.

    \b
    Example:
      arena pack runs/ippo_cramped/ -o ippo.ckpt
    """
    from arena.checkpoint import pack_folder

    manifest = pack_folder(folder, output)
    click.echo(f"wrote {output}: {manifest.name} ({manifest.arch}), params sha256 {manifest.params.sha256[:12]}")


@click.command(context_settings=CTX)
@click.argument("members", nargs=-1, required=True, shell_complete=complete_agent)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Checkpoint file to write.")
@click.option("--name", default="", help="Agent name (default: the output file name without extension).")
def ensemble(members, output, name):
    """Make a mode-action ensemble of MEMBERS (checkpoints of one env, observation and action
    count): every member acts on each observation and the ensemble plays the most-voted
    action (ties: the members' summed probabilities, then the lowest action). Its `votes`
    extra, how many members chose each action, shows in the viewer.

    \b
    Examples:
      arena ensemble pop/member-*.ckpt -o lhs-ensemble.ckpt
      arena ensemble zoo:ppo-cramped-s0 zoo:ppo-cramped-s1 zoo:ppo-cramped-s2 -o ens.ckpt
    """
    from arena.agents.ensemble import ensemble_of
    from arena.checkpoint import load_agent, save_checkpoint

    manifest, params = ensemble_of([load_agent(m) for m in members], name=name or Path(output).stem)
    manifest = save_checkpoint(output, manifest, params)
    click.echo(f"wrote {output}: {manifest.name}, a mode-action ensemble of {len(members)} for {manifest.env}, "
               f"params sha256 {manifest.params.sha256[:12]}")
