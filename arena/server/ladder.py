"""Continuous ladders. Every agent submitted for a ladder's env joins it; whenever the
ladder's last round is played, the next pairs are chosen by information
(`tournaments/matchmaking.py`) and queued as one tournament, so the pairs of one architecture
batch into one vmapped call like any other tournament's. A competitive env is a round-robin
rated by Bradley–Terry, within each role when the env declares how each role is scored
(mpe_tag's predators by captures, prey by return: `role_round`); a cooperative one fills its
cross-play matrix and scores an agent by its mean cross-play with the rest of the population.

A ladder rests when every pair it may play has `budget` episodes, and wakes when an agent joins.
"""
from __future__ import annotations

import dataclasses
import json
import math
import threading
import time

import numpy as np

from arena.env import make as make_env
from arena.errors import UserError
from arena.numfmt import json_ready
from arena.server.errors import BadRequest, NotFound
from arena.tournaments.matchmaking import MatchmakingConfig, crossplay_cells, describe, next_pairs
from arena.tournaments.outcomes import describe as describe_outcomes
from arena.tournaments.outcomes import head_to_head, role_games
from arena.tournaments.ratings import Games, elo_ratings

SCHEMA = """
CREATE TABLE IF NOT EXISTS ladders (
    env TEXT PRIMARY KEY, config TEXT NOT NULL, rounds INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL
);
"""
PROVISIONAL_MATCHES = 3  # fewer matches than this, or an interval wider than PROVISIONAL_WIDTH: provisional
PROVISIONAL_WIDTH = 200.0  # Elo points
RECENT_ROUNDS = 4
OPEN = ("queued", "running")


@dataclasses.dataclass(frozen=True)
class LadderConfig:
    env: str
    episodes_per_match: int = 32
    pairs_per_round: int = 4
    budget: int = 512  # episodes per pair after which the pair is not chosen again
    env_kwargs: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_request(cls, body) -> LadderConfig:
        if not isinstance(body, dict) or not isinstance(body.get("env"), str):
            raise BadRequest('a ladder is a JSON object with at least {"env": ENV}')
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise BadRequest(f"unknown ladder field(s) {', '.join(unknown)}; fields: {', '.join(fields)}")
        for key in ("episodes_per_match", "pairs_per_round", "budget"):
            if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool) or body[key] < 1):
                raise BadRequest(f"`{key}` must be a positive integer")
        if not isinstance(body.get("env_kwargs", {}), dict):
            raise BadRequest("`env_kwargs` must be an object")
        try:
            make_env(body["env"], **body.get("env_kwargs", {}))
        except UserError as err:
            raise BadRequest(str(err)) from None
        except TypeError as err:
            raise BadRequest(f"env_kwargs for {body['env']}: {err}") from None
        return cls(**body)

    def matchmaking(self, n_members: int) -> MatchmakingConfig:
        # The floor must leave room to choose: a round seats at most 2 * pairs agents, so
        # keeping everyone within ceil(n / 2p) rounds would fill every slot by force alone.
        floor = max(4, math.ceil(3 * n_members / (2 * self.pairs_per_round)))
        return MatchmakingConfig(pairs_per_round=self.pairs_per_round, floor=floor)


@dataclasses.dataclass
class Played:
    """What a ladder has played, over its members (indices into `members`)."""

    members: list[dict]
    pair_episodes: np.ndarray  # (N, N) episodes played by each unordered pair (symmetric)
    matches: np.ndarray  # (N,) matches each member played
    games: Games  # competitive: one outcome per episode, from first's view
    team: dict  # cooperative: {(a, b) with a < b: [team return per episode]}
    recent: list[list[tuple[int, int]]]  # the last rounds' pairs, oldest first
    # Who is rated against whom: (members, their games in indices into that list), one
    # league of everyone, or in a ladder by role one per side (outcomes.py).
    leagues: list[tuple[list[int], Games]] = dataclasses.field(default_factory=list)
    role: list[int] | None = None  # in a ladder by role: each member's side


class Ladders:
    """The ladders of one server. `service` gives the store, the jobs and the submissions."""

    def __init__(self, service):
        self.service = service
        with service.store.db:
            service.store.db.executescript(SCHEMA)
        self._envs: dict[str, object] = {}
        self._cells: dict[str, list] = {}  # finished ladder tournaments' cells, by id (they never change)
        self._resting: dict[str, tuple] = {}  # env -> what it had when it found nothing to play
        self._boards: dict[str, tuple[int, dict]] = {}  # env -> (store generation, its leaderboard)
        self._boards_lock = threading.Lock()

    # ------------------------------------------------------------ configs

    def ensure(self, config: LadderConfig) -> tuple[dict, bool]:
        db = self.service.store.db
        known = db.execute("SELECT config FROM ladders WHERE env = ?", (config.env,)).fetchone()
        with db:
            db.execute("INSERT INTO ladders (env, config, created) VALUES (?, ?, ?) ON CONFLICT (env) DO UPDATE SET config = ?",
                       (config.env, json.dumps(dataclasses.asdict(config)), time.time(), json.dumps(dataclasses.asdict(config))))
        return self.view(config.env), known is None

    def configs(self) -> list[LadderConfig]:
        rows = self.service.store.db.execute("SELECT config FROM ladders ORDER BY created").fetchall()
        return [LadderConfig(**json.loads(r[0])) for r in rows]

    def config(self, env: str) -> LadderConfig:
        row = self.service.store.db.execute("SELECT config FROM ladders WHERE env = ?", (env,)).fetchone()
        if not row:
            raise NotFound(f"no ladder for env {env!r}; `arena serve --ladder {env}` or POST /api/v1/ladders starts one")
        return LadderConfig(**json.loads(row[0]))

    def view(self, env: str) -> dict:
        config = self.config(env)
        rounds = self.service.store.db.execute("SELECT rounds FROM ladders WHERE env = ?", (env,)).fetchone()[0]
        return {**dataclasses.asdict(config), "rounds": rounds, "members": len(self._members(env)),
                "mode": self._mode(config), "policy": self._policy(config)}

    def _env(self, config: LadderConfig):
        if config.env not in self._envs:
            self._envs[config.env] = make_env(config.env, **config.env_kwargs)
        return self._envs[config.env]

    def _mode(self, config: LadderConfig) -> str:
        return "crossplay" if self._env(config).spec.cooperative else "roundrobin"

    def _policy(self, config: LadderConfig) -> str:
        if self._mode(config) == "crossplay":
            return (f"cross-play cells chosen unplayed first, then widest CI, then fewest episodes, "
                    f"{config.pairs_per_round} pairs of {config.episodes_per_match} episodes a round; "
                    "score: mean cross-play return with every other member")
        pairs = describe(config.matchmaking(len(self._members(config.env)))).rstrip(".")
        if self._by_role(config):
            return (f"each role ranked within itself; pairs of one role play the same opponents of the other: {pairs}; "
                    f"{config.episodes_per_match} episodes a match; {describe_outcomes(self._role_info(config), True)}; "
                    "Bradley–Terry per role with a bootstrap CI over episodes")
        return (f"{pairs}; {config.episodes_per_match} episodes a match; "
                "an episode is won by the side with the higher return; Bradley–Terry with a bootstrap CI over episodes")

    def _members(self, env: str) -> list[dict]:
        return [a for a in self.service.submissions.all(env) if a["status"] == "active"]

    def _by_role(self, config: LadderConfig) -> bool:
        """Whether the ladder ranks each role within itself: a team game that declares how
        each role is scored (mpe_tag: predators by captures, prey by return), whose returns
        are not on one scale across teams."""
        spec = self._env(config).spec
        return bool(spec.scores) and not spec.cooperative

    def _role_info(self, config: LadderConfig) -> dict:
        """The env's sides and declared scores, as outcomes.py reads them from a tournament."""
        spec = self._env(config).spec
        return {"sides": [{"name": s.name} for s in spec.sides], "scores": [s.to_dict() for s in spec.scores]}

    def _role_of(self, config: LadderConfig, members: list[dict]) -> list[int] | None:
        """In a ladder by role: each member's side, the first its smoke episode played."""
        if not self._by_role(config):
            return None
        sides = [s.name for s in self._env(config).spec.sides]
        return [sides.index(a["smoke"]["sides"][0]) for a in members]

    # ------------------------------------------------------------ results

    def played(self, config: LadderConfig, members: list[dict] | None = None) -> Played:
        members = members if members is not None else self.service.submissions.all(config.env)
        index = {a["id"]: i for i, a in enumerate(members)}
        n = len(members)
        pair_episodes, matches = np.zeros((n, n), int), np.zeros(n, int)
        # Head to head: (first, second) -> outcomes of its episodes, from first's view; one entry
        # a lineup, however many rounds played it, as a report holds them (and one resample
        # draw a lineup, not a round, in the bootstrap).
        h2h: dict[tuple[int, int], list[np.ndarray]] = {}
        team: dict = {}
        recent = []
        role = self._role_of(config, members)
        values: dict[tuple[int, int], dict[str, list]] = {}  # by role: (side 0, side 1) member -> what each episode scored
        jobs, store = self.service.jobs, self.service.store
        for tid in jobs.tournaments(ladder=config.env):
            server = jobs.tournament(tid)
            t = store.tournament(tid)
            ids = [a["id"] for a in t["agents"]]
            sides = [s["seats"] for s in t["env_info"]["sides"]]
            request = server["request"]
            recent.append([(index[request["agents"][i]], index[request["agents"][j]]) for i, j in request.get("pairs", [])
                           if request["agents"][i] in index and request["agents"][j] in index])
            for c in self._stored_cells(tid, server["status"]):
                a, b = (index.get(ids[k]) for k in c.lineup)
                if a is None or b is None:
                    continue
                r0, r1 = c.returns[:, sides[0]].mean(axis=1), c.returns[:, sides[1]].mean(axis=1)
                _count(pair_episodes, matches, a, b, len(r0))
                if role is not None:
                    got = values.setdefault((a, b), {})
                    for name, x in (("return:0", r0), ("return:1", r1), *c.metrics.items()):
                        got.setdefault(name, []).append(np.asarray(x))
                elif a != b:
                    h2h.setdefault((a, b), []).append(head_to_head([r0, r1]))
                    team.setdefault((min(a, b), max(a, b)), []).extend(c.returns.mean(axis=1).tolist())
            if server["on_agent_failure"] == "forfeit" and role is None:
                # The breaker loses every episode; void counts nothing, and so does a forfeit by
                # role: a role's score (captures, a return) has no value that means "lost".
                for m in jobs.matches(tid).values():
                    if m["status"] == "forfeit" and m["failed_agent"] in index:
                        lineup = [index.get(ids[k]) for k in m["lineup"]]
                        loser = index[m["failed_agent"]]
                        other = next((x for x in lineup if x != loser), None)
                        if other is not None:
                            h2h.setdefault((other, loser), []).append(np.ones(t["spec"]["episodes"]))
                            _count(pair_episodes, matches, other, loser, t["spec"]["episodes"])
        games = Games(tuple(a for a, _ in h2h), tuple(b for _, b in h2h), tuple(np.concatenate(x) for x in h2h.values()))
        if role is None:
            leagues = [(list(range(n)), games)]
        else:
            def score(lineup, side, metric):
                return np.concatenate(values[lineup][f"return:{side}" if metric == "return" else metric])

            leagues = []
            by_side = role_games(self._role_info(config), sorted(values), dict(enumerate(role)), score)
            for side, (f, s, o) in enumerate(by_side):
                players = [i for i in range(n) if role[i] == side]
                local = {g: x for x, g in enumerate(players)}
                leagues.append((players, Games(tuple(local[i] for i in f), tuple(local[j] for j in s), tuple(o))))
        return Played(members, pair_episodes, matches, games, team, recent[-RECENT_ROUNDS:], leagues, role)

    def _stored_cells(self, tid: str, status: str) -> list:
        if tid in self._cells:
            return self._cells[tid]
        cells = self.service.store.cells(tid)
        if status not in OPEN:
            self._cells[tid] = cells
        return cells

    def leaderboard(self, env: str, role: str | None = None) -> dict:
        """The ladder's rows, ranked; in a ladder by role, ranked within each role (`role`
        keeps one role's rows). Fitted once per store generation, whichever page asks."""
        config = self.config(env)
        generation = self.service.generation.value  # read before the store: a board is never newer than its key
        with self._boards_lock:  # the API, the index page and agent pages share one fit
            known = self._boards.get(env)
            if known is None or known[0] != generation:
                known = self._boards[env] = (generation, self._board(config))
        board = known[1]
        if role is None:
            return board
        if role not in (board["roles"] or []):
            raise BadRequest(f"the {env} ladder has no role {role[:40]!r}; "
                             + (f"its roles: {', '.join(board['roles'])}" if board["roles"] else "it ranks every agent in one ladder"))
        return {**board, "rows": [r for r in board["rows"] if r["role"] == role]}

    def _board(self, config: LadderConfig) -> dict:
        env = config.env
        sides = [s.name for s in self._env(config).spec.sides]
        by_role = self._by_role(config)
        p = self.played(config)
        n = len(p.members)
        cooperative = self._mode(config) == "crossplay"
        if cooperative:
            scores = _crossplay_scores(p.team, n)
        else:
            scores = [None] * n
            for players, games in p.leagues:  # each league fitted on its own players
                for i, s in zip(players, elo_ratings(games, len(players), seed=0) if players else []):
                    scores[i] = {"rating": s["elo"], "low": s["low"], "high": s["high"], "prior_dominated": s["prior_dominated"]}
        rows = []
        for i, a in enumerate(p.members):
            if p.matches[i] == 0:
                continue
            s = scores[i]
            width = s["high"] - s["low"] if s["low"] is not None else float("inf")
            rows.append({"id": a["id"], "name": a["name"], "arch": a["arch"], "status": a["status"],
                         **({"role": sides[p.role[i]]} if by_role else {}), **s,
                         "matches": int(p.matches[i]), "episodes": int(p.pair_episodes[i].sum()),
                         "provisional": bool(p.matches[i] < PROVISIONAL_MATCHES
                                             or (not cooperative and width > PROVISIONAL_WIDTH) or s["low"] is None)})
        rows.sort(key=lambda r: (sides.index(r["role"]) if by_role else 0, -(r["rating"] if r["rating"] is not None else -np.inf)))
        for row in rows:
            league = [o for o in rows if o.get("role") == row.get("role")]
            row["rank"] = 1 + league.index(row)
            # Chatbot Arena's rule: 1 + the number of agents statistically better (their low above my high).
            row["rank_ub"] = 1 + sum(1 for o in league if o is not row and o["low"] is not None and row["high"] is not None
                                     and o["low"] > row["high"])
        # Floats at the float32 precision results are measured in, as the CLI's --json writes them.
        return json_ready({"env": env, "mode": self._mode(config), "score": "cross-play" if cooperative else "Elo",
                           "roles": sides if by_role else None, "policy": self._policy(config),
                           "rounds": self.view(env)["rounds"], "rows": rows,
                           "waiting": [a["name"] for i, a in enumerate(p.members) if p.matches[i] == 0]})

    # ------------------------------------------------------------ scheduling

    def tick(self) -> None:
        """Queue the next round of each ladder whose last round is done (the dispatcher calls
        this when the queue runs dry)."""
        for config in self.configs():
            if self.service.jobs.has_open(config.env):
                continue
            state = (config, len(self._members(config.env)), len(self.service.jobs.tournaments(ladder=config.env)))
            if self._resting.get(config.env) == state:
                continue  # nothing changed since it last found nothing worth playing
            if self.next_round(config) is None:
                self._resting[config.env] = state

    def next_round(self, config: LadderConfig) -> str | None:
        """Choose and queue one round; its tournament id, or None when the ladder rests."""
        members = self._members(config.env)
        if len(members) < 2:
            return None
        p = self.played(config, members)
        allowed = self._allowed(config, members, p)
        db = self.service.store.db
        rounds = db.execute("SELECT rounds FROM ladders WHERE env = ?", (config.env,)).fetchone()[0]
        rng = np.random.default_rng([rounds, len(members)])
        if self._mode(config) == "crossplay":
            counts = p.pair_episodes.astype(float)
            width = np.full(counts.shape, np.inf)
            for (a, b), xs in p.team.items():
                if len(xs) > 1:
                    width[a, b] = width[b, a] = 3.92 * float(np.std(xs)) / np.sqrt(len(xs))
            chosen = [c for c in crossplay_cells(counts, width, 4 * config.pairs_per_round) if allowed(*c)]
            pairs = _dedupe(chosen)[:config.pairs_per_round]
        elif p.role is not None:
            pairs = role_round(config, p, allowed, rng)
        else:
            wins = p.games.win_matrix(len(members))
            pairs = next_pairs(len(members), wins, p.recent, config.matchmaking(len(members)), rng, allowed=allowed)
        if not pairs:
            return None
        involved = sorted({i for pair in pairs for i in pair})
        local = {g: k for k, g in enumerate(involved)}
        request = {"mode": self._mode(config), "agents": [members[g]["id"] for g in involved],
                   "pairs": [[local[a], local[b]] for a, b in pairs], "env": config.env, "env_kwargs": config.env_kwargs,
                   "episodes": config.episodes_per_match, "seed": rounds}
        view, _ = self.service.create_tournament(request, ladder=config.env)
        with db:
            db.execute("UPDATE ladders SET rounds = rounds + 1 WHERE env = ?", (config.env,))
        return view["id"]

    def _allowed(self, config: LadderConfig, members: list[dict], p: Played):
        sides = [s.name for s in self._env(config).spec.sides]
        plays = [set(a["smoke"]["sides"]) for a in members]

        def allowed(i: int, j: int) -> bool:
            if i == j or p.pair_episodes[i, j] >= config.budget:
                return False
            return (sides[0] in plays[i] and sides[1] in plays[j]) or (sides[0] in plays[j] and sides[1] in plays[i])

        return allowed


def role_round(config: LadderConfig, p: Played, allowed, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A round of a ladder by role: in each role the pairs whose comparison tells most
    about that role's ranking (as `next_pairs` chooses them), then each pair of one
    role with a pair of the other, every member of one against every member of the
    other: a block of up to four matches that compares both pairs on common opponents.
    A role with fewer pairs lends its least-played member instead. (side 0, side 1) pairs."""
    role = p.role
    chosen = []
    for side, (players, games) in enumerate(p.leagues):
        local = {g: x for x, g in enumerate(players)}
        others = [x for x in range(len(role)) if role[x] != side]

        def ok(a: int, b: int, players=players, others=others) -> bool:
            # Two of a role can be compared while some opponent has room under both their budgets.
            return any(allowed(players[a], x) and allowed(players[b], x) for x in others)

        recent = [[(local[a], local[b]) for a, b in _shared_opponent_pairs(rnd, role, side)] for rnd in p.recent]
        pairs = next_pairs(len(players), games.win_matrix(len(players)), recent, config.matchmaking(len(players)),
                           rng, allowed=ok) if len(players) > 1 else []
        chosen.append([(players[a], players[b]) for a, b in pairs])
    cells: list[tuple[int, int]] = []
    for k in range(max(len(chosen[0]), len(chosen[1]))):
        groups = [list(chosen[side][k]) if k < len(chosen[side]) else None for side in (0, 1)]
        for side in (0, 1):
            if groups[side] is None:
                mine = groups[1 - side]
                cands = [x for x in range(len(role)) if role[x] == side and all(allowed(x, m) for m in mine)]
                if not cands:
                    groups[side] = []
                    continue
                load = np.array([-p.pair_episodes[x, mine].sum() for x in cands], dtype=float)
                groups[side] = [cands[_pick(load, rng)]]
        for a in groups[0]:
            for b in groups[1]:
                if allowed(a, b) and (a, b) not in cells:
                    cells.append((a, b))
    return cells


def _pick(scores: np.ndarray, rng: np.random.Generator) -> int:
    """The best score's index, ties broken by rng."""
    return int(rng.choice(np.flatnonzero(scores == scores.max())))


def _shared_opponent_pairs(cells, role: list[int], side: int) -> list[tuple[int, int]]:
    """The pairs of `side`'s members who met a common opponent among a round's cells: the
    comparisons that round made."""
    faced: dict[int, set[int]] = {}
    for a, b in cells:
        me, them = (a, b) if role[a] == side else (b, a)
        if role[me] == side:
            faced.setdefault(them, set()).add(me)
    return sorted({(i, j) for group in faced.values() for i in group for j in group if i < j})


def _count(pair_episodes: np.ndarray, matches: np.ndarray, a: int, b: int, episodes: int) -> None:
    pair_episodes[a, b] += episodes
    if a != b:
        pair_episodes[b, a] += episodes
    matches[a] += 1
    if a != b:
        matches[b] += 1


def _dedupe(cells) -> list[tuple[int, int]]:
    out, seen = [], set()
    for a, b in cells:
        key = (min(a, b), max(a, b))
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def _crossplay_scores(team: dict, n: int, n_boot: int = 200, seed: int = 0) -> list[dict]:
    """Each member's mean cross-play return over its partners, with a bootstrap CI that
    resamples the episodes of each pair."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mine = [np.asarray(xs) for (a, b), xs in team.items() if i in (a, b)]
        if not mine:
            out.append({"rating": None, "low": None, "high": None})
            continue
        score = float(np.mean([x.mean() for x in mine]))
        boots = [np.mean([x[rng.integers(0, x.size, x.size)].mean() for x in mine]) for _ in range(n_boot)]
        low, high = np.quantile(boots, [0.025, 0.975])
        out.append({"rating": score, "low": float(low), "high": float(high)})
    return out
