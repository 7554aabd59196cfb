"""`arena serve` and its clients: `arena token`, `arena submit`, `arena remote`,
`arena leaderboard`. The clients talk HTTP (urllib) and never import jax."""
from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import click

from arena.agents.zoo import zoo_path
from arena.commands.options import CTX, json_option, parse_env_kwargs, spec_options
from arena.errors import UserError

server_option = click.option("--server", default=None, metavar="URL",
                             help="The server [default: $ARENA_SERVER, else http://127.0.0.1:8765].")
AGENT_ID = re.compile(r"^[0-9a-f]{12,64}$")


@click.command(context_settings=CTX)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; non-loopback needs --allow-remote.")
@click.option("--port", default=8765, show_default=True, type=int, help="TCP port (0 picks a free one and prints it).")
@click.option("--data", "data", default=None, metavar="DIR", help="Data dir [default: the arena data dir, $ARENA_DATA_DIR].")
@click.option("--workers", default=1, show_default=True, type=int, help="Jobs played at once (worker processes or Ray actors).")
@click.option("--backend", default="local", show_default=True, type=click.Choice(["local", "ray"]), help="Where jobs run.")
@click.option("--ray-address", default=None, metavar="ADDR", help="ray: the cluster to join (default: $RAY_ADDRESS, else start a local Ray).")
@click.option("--ladder", "ladders", multiple=True, metavar="ENV", help="Keep a continuous ladder for this env (repeatable).")
@click.option("--allow-remote", is_flag=True, help="Allow a --host other machines can reach.")
@click.option("--upload-limit", default=64, show_default=True, type=int, metavar="MIB", help="Largest checkpoint upload.")
def serve(host, port, data, workers, backend, ray_address, ladders, allow_remote, upload_limit):
    """Run the arena server: submissions, a durable job queue, ladders, results, replays.

    State lives in DIR/tournaments.sqlite (the store `arena tournament` uses), agents in
    DIR/agents, replays in DIR/replays. On first start an admin token is written to
    DIR/admin.token (mode 0600). Ctrl-C stops it; a restart goes on where it stopped.

    \b
    Examples:
      arena serve
      arena serve --port 8800 --workers 2 --ladder ipd
      arena serve --backend ray --ray-address 10.0.0.5:6379 --host 0.0.0.0 --allow-remote
    """
    from arena.paths import data_dir
    from arena.server.config import ServerConfig
    from arena.server.serve import serve as run_server

    config = ServerConfig(data=Path(data) if data else data_dir(), host=host, port=port, workers=workers, backend=backend,
                          ray_address=ray_address, ladders=tuple(ladders), allow_remote=allow_remote,
                          upload_limit=upload_limit * 2**20)
    run_server(config, announce=lambda line: click.echo(line, nl=True) or None)


@click.group(context_settings=CTX)
def token():
    """Make tokens for a server's clients (run on the server's machine).

    \b
    Examples:
      arena token new alice
      arena token new ci --scope admin --data /srv/arena
    """


@token.command(name="new", context_settings=CTX)
@click.argument("name")
@click.option("--scope", default="submit", show_default=True, type=click.Choice(["submit", "admin"]),
              help="submit: agents and tournaments; admin: also ladders.")
@click.option("--data", "data", default=None, metavar="DIR", help="The server's data dir [default: the arena data dir].")
def token_new(name, scope, data):
    """A new token NAME; it is printed once and only its hash is kept."""
    from arena.paths import data_dir
    from arena.server.tokens import Tokens
    from arena.tournaments.store import Store

    store = Store(Path(data or data_dir()) / "tournaments.sqlite")
    try:
        secret = Tokens(store.db).new(name, scope)
    finally:
        store.close()
    click.echo(secret)
    click.echo(f"token {name!r} ({scope}): give it to its user as ARENA_TOKEN; it is not shown again", err=True)


@click.command(context_settings=CTX)
@click.argument("agent")
@server_option
@json_option
def submit(agent, server, as_json):
    """Upload AGENT (a .ckpt file or zoo:NAME) to the server; prints its id and its smoke episode.

    \b
    Examples:
      arena submit runs/ppo-s0.ckpt
      arena submit zoo:ppo-cramped-s0
      arena submit model.ckpt --server http://arena.lab:8765 --json
    """
    from arena.commands.report import print_json
    from arena.server.client import Client

    out = Client(server).upload(_ckpt_file(agent))
    if as_json:
        print_json(out)
        return
    smoke = out["smoke"]
    returns = ", ".join(f"{r:.3g}" for r in smoke["returns"])
    click.echo(f"{out['id'][:12]}  {out['name']} ({out['arch']}, {out['env']}): smoke episode {smoke['length']} steps, "
               f"side returns [{returns}]" + ("" if out.get("new", True) else "; the server already had it"))


def _ckpt_file(ref: str) -> Path:
    if ref.startswith("zoo:"):
        return zoo_path(ref[4:])
    path = Path(ref)
    if path.is_dir():
        raise UserError(f"{ref}: a folder checkpoint; `arena pack {ref} -o agent.ckpt` makes the one file the server takes")
    if not path.exists():
        raise UserError(f"{ref}: no such file")
    return path


@click.group(context_settings=CTX)
def remote():
    """Run tournaments on a server and fetch what they produced.

    \b
    Examples:
      arena remote run --mode crossplay zoo:ppo-cramped-s0 zoo:ppo-cramped-s1
      arena remote run --spec tournament.toml --no-wait
      arena remote status 3f2a9c81d0e4
      arena remote replay 3f2a9c81d0e4-3 -o match.replay
    """


@remote.command(name="run", context_settings=CTX)
@spec_options(mode_help="selfplay, crossplay, zeroshot, roundrobin, or human (people play it: `arena play --server`) "
                        "[default: crossplay].",
              pool_metavar="AGENT", pool_help="zeroshot: a partner (repeatable).")
@click.option("--seat", default=None, type=int, help="human: the seat the players take [default: 0].")
@click.option("--on-agent-failure", default="void", show_default=True, type=click.Choice(["void", "forfeit"]),
              help="A match an agent breaks: void (not counted) or forfeit (lost by that agent).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the result and print it.")
@server_option
@json_option
def remote_run(agents, mode, spec_file, pool, env_id, env_kw, episodes, seeds, seed, seat, on_agent_failure, wait, server,
               as_json):
    """Run a tournament on the server. Each AGENT is a .ckpt file (uploaded first), an agent
    id the server knows, or zoo:NAME; the same spec twice is the same tournament.

    \b
    Examples:
      arena remote run --mode crossplay a.ckpt b.ckpt --env overcooked_v2/cramped_room
      arena remote run --mode roundrobin 3f2a9c81d0e4 zoo:ppo-tag-s0-prey --env mpe_tag
      arena remote run --mode human a.ckpt b.ckpt --env coord_game --seeds 2     # then: arena play --server

    A human series is not waited for: people play it, each with `arena play --server URL
    --player NAME SERIES_ID`.
    """
    from arena.server.client import Client

    client = Client(server)
    request = _remote_request(client, agents, mode, spec_file, pool, env_id, env_kw, episodes, seeds, seed)
    if request.get("mode") == "human":
        if seat is not None:
            request["seat"] = seat
        out = client.post_json("/api/v1/tournaments", request)
        _print(out, as_json, f"human series {out['id']}  {out['status']}: players join with "
                             f"`arena play --server {client.url} --player NAME {out['id']}`")
        return
    if seat is not None:
        raise UserError("--seat is for human series (--mode human)")
    request["on_agent_failure"] = on_agent_failure
    out = client.post_json("/api/v1/tournaments", request)
    if not wait:
        _print(out, as_json, f"{out['id']}  {out['status']}: {out['cells_total']} cells; `arena remote status {out['id']}`")
        return
    _show_status(_wait(client, out["id"], progress=not as_json), as_json)


def _remote_request(client, agents, mode, spec_file, pool, env_id, env_kw, episodes, seeds, seed) -> dict:
    given = {"mode": mode, "env": env_id, "env_kwargs": parse_env_kwargs(env_kw) or None, "episodes": episodes,
             "seeds": seeds, "seed": seed}
    refs, pool_refs = list(agents), list(pool)
    if spec_file:
        from arena.tournaments.spec import spec_from_toml

        spec = spec_from_toml(spec_file, **{k: v for k, v in given.items() if v is not None},
                              agents=refs or None, pool=pool_refs or None)
        refs, pool_refs = list(spec.agents), list(spec.pool)
        given.update(mode=spec.mode, env=spec.env, env_kwargs=dict(spec.env_kwargs), episodes=spec.episodes,
                     seeds=spec.seeds, seed=spec.seed)
    if not refs:
        raise UserError("give the agents to play (or --spec FILE.toml); see `arena remote run --help`")
    request = {k: v for k, v in given.items() if v is not None}
    request["agents"] = [_server_ref(client, r) for r in refs]
    if pool_refs:
        request["pool"] = [_server_ref(client, r) for r in pool_refs]
    return request


def _server_ref(client, ref: str) -> str:
    """zoo:NAME and known ids go as they are; a local file is uploaded and sent as its id."""
    if ref.startswith("zoo:") or (AGENT_ID.match(ref) and not Path(ref).exists()):
        return ref
    return client.upload(_ckpt_file(ref))["id"]


def _wait(client, tid: str, progress: bool) -> dict:
    last = None
    while True:
        view = client.get(f"/api/v1/tournaments/{tid}")
        if progress and (view["cells_done"], view["status"]) != last:
            click.echo(f"{tid}  {view['status']}: {view['cells_done'] + view['cells_failed']}/{view['cells_total']} cells", err=True)
            last = (view["cells_done"], view["status"])
        if view["status"] in ("finished", "failed", "cancelled"):
            return view
        time.sleep(0.5)


@remote.command(name="status", context_settings=CTX)
@click.argument("tournament_id")
@server_option
@json_option
def remote_status(tournament_id, server, as_json):
    """A tournament's status on the server; when finished, its report.

    \b
    Examples:
      arena remote status 3f2a9c81d0e4
      arena remote status 3f2a9c81d0e4 --json
    """
    from arena.server.client import Client

    _show_status(Client(server).get(f"/api/v1/tournaments/{_id(tournament_id)}"), as_json)


def _show_status(view: dict, as_json: bool) -> None:
    if as_json:
        from arena.commands.report import print_json

        print_json(view)
        return
    if view.get("report"):
        from arena.tournaments.report import print_report

        print_report(view["report"])
    for p in view.get("players", []):  # a human series: each player's series, as `tournament show` prints it
        from arena.tournaments.report import print_report

        print_report(p["report"])
    for a in (view.get("human") or {}).get("agents", []):
        click.echo(f"  {a['agent']}: {a['games']} game(s) by {a['players']} player(s), players' return "
                   f"{a['human_return']['mean']:.2f}, rating {a['rating']['mean']:.2f} ({a['ratings']})" if a["rating"] else
                   f"  {a['agent']}: {a['games']} game(s) by {a['players']} player(s), players' return {a['human_return']['mean']:.2f}")
    click.echo(f"{view['id']}  {view['status']}: {view['cells_done']}/{view['cells_total']} cells stored"
               + (f", {view['cells_failed']} failed by an agent ({view['on_agent_failure']})" if view["cells_failed"] else "")
               + (f"; error: {view['error']}" if view.get("error") else ""))
    for f in view.get("agent_failures", [])[:5]:
        click.echo(f"  match {f['match']}: agent {str(f['agent'])[:12]} {f['status']}: {f['error']}")


@remote.command(name="replay", context_settings=CTX)
@click.argument("match_id")
@click.option("-o", "--out", "out", required=True, metavar="FILE", help="Where to write the replay.")
@server_option
def remote_replay(match_id, out, server):
    """Download a match's replay (MATCH_ID is TOURNAMENT-CELL, as `arena remote status` lists).

    \b
    Examples:
      arena remote replay 3f2a9c81d0e4-3 -o match.replay
      arena view match.replay
    """
    from arena.fileio import atomic_write
    from arena.server.client import Client

    data = Client(server).request("GET", f"/api/v1/replays/{_id(match_id)}", raw=True)
    atomic_write(out, data)
    click.echo(f"wrote {out} ({len(data):,} bytes); `arena view {out}` shows it")


@click.command(context_settings=CTX)
@click.argument("env")
@click.option("--role", default=None, help="a ladder by role (mpe_tag): only this role's rows, e.g. predators")
@server_option
@json_option
def leaderboard(env, role, server, as_json):
    """The ladder of ENV on the server: rank, rating with CI, matches, provisional. A team
    game whose roles score differently (mpe_tag) ranks each role within itself.

    \b
    Examples:
      arena leaderboard ipd
      arena leaderboard mpe_tag --role prey
      arena leaderboard overcooked_v2/cramped_room --json
    """
    import urllib.parse

    from arena.server.client import Client

    query = urllib.parse.urlencode({"env": env, **({"role": role} if role else {})})
    board = Client(server).get(f"/api/v1/leaderboard?{query}")
    if as_json:
        from arena.commands.report import print_json

        print_json(board)
        return
    click.echo(textwrap.fill(f"{board['env']}: {board['policy']}", width=80, subsequent_indent="  "))
    score = board["score"]
    click.echo(f"{'rank':>4} {'ub':>3}  {'agent':<22} {score:>10} {'95% CI':>17} {'matches':>7} {'episodes':>8}")
    for k, row in enumerate(board["rows"]):
        if board.get("roles") and (k == 0 or board["rows"][k - 1]["role"] != row["role"]):
            click.echo(f"-- {row['role']} (ranked among {row['role']})")
        flag = "*" if row["provisional"] else " "
        click.echo(f"{row['rank']:>4} {row['rank_ub']:>3}  {row['name'][:22]:<22} {row['rating']:>9.1f}{flag} "
                   f"{_ci(row):>17} {row['matches']:>7} {row['episodes']:>8}")
    if any(row["provisional"] for row in board["rows"]):
        click.echo("* provisional: few matches yet, or a wide interval")
    if any(row.get("prior_dominated") for row in board["rows"]):
        click.echo("prior-dominated: the results separate the agents perfectly, so the ratings are set by the prior "
                   "and have no interval")
    if board.get("waiting"):
        click.echo(f"not played yet: {', '.join(board['waiting'])}")
    if not board["rows"]:
        click.echo("no agent has played yet")


def _id(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f-]{1,80}", text):
        raise UserError(f"{text!r} is not an id (hex digits, match ids TOURNAMENT-CELL)")
    return text


def _print(obj, as_json: bool, line: str) -> None:
    if as_json:
        from arena.commands.report import print_json

        print_json(obj)
    else:
        click.echo(line)


def _ci(row: dict) -> str:
    if row["low"] is None or row["high"] is None:
        return "n/a: prior" if row.get("prior_dominated") else "n/a"
    return f"[{row['low']:>7.1f}, {row['high']:>7.1f}]"
