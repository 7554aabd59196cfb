"""The tournament spec: what a tournament is (agents, env, mode, episodes, seeds), from the
command line or a TOML file, and its id (the hash of the canonical spec).

The id hashes agents by content (their manifest and params), not by path, so the same
tournament started from another directory, or with renamed files, resumes the same run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from pathlib import Path

from arena.errors import FieldError, UserError
from arena.trees import freeze_kwargs

# The lineup entry of the human's side in a human series' cells.
HUMAN = -1
MODES = ("selfplay", "crossplay", "zeroshot", "roundrobin", "human")
# zeroshot: where each partner's reference return comes from (what scores are normalised by).
REFERENCES = ("provenance", "selfplay")
# Whether agents that read the env state (manifest `privileged = true`, e.g. a planner rolling
# the true simulator) may play. "allow" by default: a local tournament's agents are the user's
# own choice, and comparing a planner with reactive agents is what such a study is for; a
# tournament that ranks agents on what they observe says "forbid" (a server refuses privileged
# uploads outright, so its ladders never see one).
PRIVILEGED = ("allow", "forbid")
SPEC_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TournamentSpec:
    """A tournament, as given; `id` is derived, never stored back."""

    # One of MODES: selfplay, crossplay, zeroshot (agents are the focal ones), roundrobin,
    # human (a person plays a blinded series of games with the agents).
    mode: str
    # Agent references (.ckpt file, checkpoint folder, zoo:NAME); the focal agents in zeroshot.
    agents: tuple[str, ...]
    # zeroshot only: the held-out partner pool (references, or folders holding checkpoints).
    pool: tuple[str, ...] = ()
    # Env id; None means the one the first agent's manifest names.
    env: str | None = None
    # Env options, as sorted (key, value) pairs so the spec stays hashable.
    env_kwargs: tuple[tuple[str, object], ...] = ()
    # Episodes per cell and seed, played at once (human: 1, a game is one episode).
    episodes: int = 64
    # Match seeds per cell (replicates); each is a vmap row of its own. Human: games per agent.
    seeds: int = 1
    # The tournament seed every match key is derived from.
    seed: int = 0
    # human only: who plays (their series is their own tournament) and the seat they take.
    player: str = ""
    seat: int = 0
    # human only: the Williams row the first round follows (taken modulo the rows); None draws
    # it from the player. A server hands rows out in join order, so its players stay balanced.
    row: int | None = None
    # roundrobin / crossplay only: play just these agent pairs (indices into `agents`), each in
    # both seat orders where both agents can take either side; a ladder's rounds are such.
    pairs: tuple[tuple[int, int], ...] = ()
    # zeroshot only: "provenance" normalises by each partner's manifest `provenance.best_return`;
    # "selfplay" plays each partner with itself in this tournament and normalises by that.
    reference: str = "provenance"
    # One of PRIVILEGED: "allow" (default) or "forbid" agents that receive the env state.
    privileged: str = "allow"

    def __post_init__(self):
        if self.mode not in MODES:
            raise FieldError(f"unknown tournament `mode` {self.mode!r}; modes: {', '.join(MODES)}")
        if not self.agents:
            raise UserError(f"a {self.mode} tournament needs at least one agent")
        if self.mode == "zeroshot" and not self.pool:
            raise FieldError("zeroshot needs a held-out partner pool (`pool` FILE_OR_FOLDER), and it is empty")
        if self.mode != "zeroshot" and self.pool:
            raise FieldError(f"`pool` is for zeroshot tournaments, not {self.mode}")
        if self.reference not in REFERENCES:
            raise FieldError(f"unknown `reference` {self.reference!r}; references: {', '.join(REFERENCES)}")
        if self.privileged not in PRIVILEGED:
            raise FieldError(f"`privileged` must be one of {', '.join(PRIVILEGED)}, got {self.privileged!r}")
        if self.reference != "provenance" and self.mode != "zeroshot":
            raise FieldError(f"`reference` is for zeroshot tournaments, not {self.mode}")
        if self.mode in ("crossplay", "roundrobin") and len(self.agents) < 2:
            raise UserError(f"a {self.mode} tournament needs at least two agents")
        for name in ("episodes", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FieldError(f"`{name}` must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise FieldError(f"`seed` must be a non-negative integer, got {self.seed!r}")
        if self.mode == "human":
            if self.episodes != 1:
                raise FieldError("a human series plays one episode per game; give the games per agent with `seeds`")
            if not self.player.strip():
                raise FieldError("a human series needs the player's name (`player` NAME)")
            if isinstance(self.seat, bool) or not isinstance(self.seat, int) or self.seat < 0:
                raise FieldError(f"`seat` must be a non-negative integer, got {self.seat!r}")
            if self.row is not None and (isinstance(self.row, bool) or not isinstance(self.row, int) or self.row < 0):
                raise FieldError(f"`row` must be a non-negative integer, got {self.row!r}")
        elif self.player or self.seat or self.row is not None:
            raise FieldError(f"`player`, `seat` and `row` are for human series (`mode` human), not {self.mode}")
        if self.pairs:
            if self.mode not in ("roundrobin", "crossplay"):
                raise FieldError(f"`pairs` restrict a roundrobin or crossplay tournament, not {self.mode}")
            for pair in self.pairs:
                if len(pair) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(self.agents)
                                             for i in pair) or pair[0] == pair[1]:
                    raise FieldError(f"`pairs` entry {list(pair)} must be two different agent indices below {len(self.agents)}")

    def canonical(self, agent_ids: list[str], pool_ids: list[str]) -> dict:
        """The spec as plain data with agents named by content hash: what the id hashes."""
        return {
            "version": SPEC_VERSION,
            "mode": self.mode,
            "agents": list(agent_ids),
            "pool": list(pool_ids),
            "env": self.env,
            "env_kwargs": {k: v for k, v in self.env_kwargs},
            "episodes": self.episodes,
            "seeds": self.seeds,
            "seed": self.seed,
            # Only a human series has a player and a seat: the ids of other modes stay as they were.
            **({"player": self.player, "seat": self.seat} if self.mode == "human" else {}),
            **({"row": self.row} if self.row is not None else {}),  # ids of series without one stay as they were
            **({"pairs": [list(p) for p in self.pairs]} if self.pairs else {}),
            # Only a self-play reference changes what is played: other ids stay as they were.
            **({"reference": self.reference} if self.reference != "provenance" else {}),
            **({"privileged": self.privileged} if self.privileged != "allow" else {}),
        }

    def to_dict(self) -> dict:
        """The spec as given (paths, not hashes): what `show` prints and TOML holds."""
        d = dataclasses.asdict(self)
        d["agents"], d["pool"] = list(self.agents), list(self.pool)
        d["env_kwargs"] = dict(self.env_kwargs)
        d["pairs"] = [list(p) for p in self.pairs]
        return d


def spec_id(canonical: dict) -> str:
    """12 hex digits of sha256 over the canonical JSON."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def expand_refs(refs) -> tuple[str, ...]:
    """Folders that are not themselves checkpoints stand for the checkpoints inside them."""
    out = []
    for ref in refs:
        path = Path(ref)
        if not str(ref).startswith("zoo:") and path.is_dir() and not (path / "manifest.toml").exists():
            found = sorted(
                str(p) for p in path.iterdir()
                if p.suffix == ".ckpt" or (p.is_dir() and (p / "manifest.toml").exists())
            )
            if not found:
                raise UserError(f"{path}: folder holds no checkpoints (.ckpt files or folders with manifest.toml)")
            out.extend(found)
        else:
            out.append(str(ref))
    return tuple(out)


_TOML_FIELDS = {f.name for f in dataclasses.fields(TournamentSpec)}


def spec_from_toml(path: str | Path, **overrides) -> TournamentSpec:
    """Read a spec file; relative agent paths are relative to the file. Non-None overrides
    (from the command line) win over the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such spec file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid TOML: {err}") from None
    unknown = sorted(set(data) - _TOML_FIELDS)
    if unknown:
        raise UserError(f"{path}: unknown spec field(s) {', '.join(unknown)}; fields: {', '.join(sorted(_TOML_FIELDS))}")
    for key in ("agents", "pool"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{path}: '{key}' must be a list of checkpoint paths")
        data[key] = [v if v.startswith("zoo:") or Path(v).is_absolute() else str(path.parent / v) for v in value]
    if not isinstance(data.get("env_kwargs", {}), dict):
        raise UserError(f"{path}: 'env_kwargs' must be a table")
    data.update({k: v for k, v in overrides.items() if v not in (None, (), [])})
    return make_spec(**data)


def make_spec(mode: str = "crossplay", agents=(), pool=(), env=None, env_kwargs=None, episodes=None, seeds=1, seed=0,
              player="", seat=0, pairs=(), row=None, reference="provenance", privileged="allow") -> TournamentSpec:
    """A spec from loose values (lists, dicts); folders in `agents`/`pool` are expanded.
    Episodes default to 64 a cell (1 in a human series: a game is one episode)."""
    return TournamentSpec(
        mode=str(mode),
        agents=expand_refs(agents),
        pool=expand_refs(pool),
        env=env,
        env_kwargs=freeze_kwargs(dict(env_kwargs or {})),
        episodes=episodes if episodes is not None else 1 if mode == "human" else 64,
        seeds=seeds,
        seed=seed,
        player=str(player),
        seat=seat,
        pairs=tuple(tuple(p) for p in pairs),
        row=row,
        reference=str(reference),
        privileged=str(privileged),
    )
