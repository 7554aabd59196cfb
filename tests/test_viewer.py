"""The viewer, headless: scenes of every env family, overlays that follow the data, the app
driven by posted key events (step, episode, screenshot, GIF export), human play through a
whole episode, the live match observer, and the CLI fronts (view, play, replay export)."""
from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pygame = pytest.importorskip("pygame")

from arena.states import state_leaves  # noqa: E402
from arena.trace import EpisodeTrace, SideInfo  # noqa: E402

FAMILIES = {
    "overcooked_v2/cramped_room": {"max_steps": 8},
    "overcooked/cramped_room": {"max_steps": 8},
    "mpe_tag": {"max_steps": 8},
    "ipd": {"rounds": 6},
    "coord_game": {"rounds": 6},
}


def rollout(env_id: str, env_kwargs: dict, seed: int = 0, extras: dict | None = None) -> EpisodeTrace:
    """A real episode of the env under uniformly random actions, with synthetic extras
    (the viewer draws whatever the trace carries)."""
    import jax

    from arena.envs import make

    env = make(env_id, **env_kwargs)
    T, S = env.spec.max_steps, env.spec.num_seats
    rng = np.random.default_rng(seed)
    nact = {s: t.num_actions for t in env.spec.teams for s in t.seats}
    actions = np.stack([[rng.integers(nact[s]) for s in range(S)] for _ in range(T)]).astype(np.int32)
    state, _ = jax.jit(env.reset)(jax.random.PRNGKey(seed))
    step = jax.jit(env.step)
    states, rewards = [state], []
    for t in range(T):
        state, ts = step(jax.random.PRNGKey(t), state, actions[t])
        states.append(state)
        rewards.append(np.asarray(ts.reward))
    states = state_leaves(jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *states))
    sides, side_extras = [], []
    for side in env.spec.sides:
        n = len(side.seats)
        ex = {k: np.asarray(v(T, n), np.float32) for k, v in (extras or {}).items()}
        sides.append(SideInfo(side.name, tuple(side.seats), "test-agent", "synthetic",
                              extras={k: {"shape": list(v.shape[2:]), "labels": []} for k, v in ex.items()}))
        side_extras.append(ex)
    dones = np.zeros(T, bool)
    dones[-1] = True
    return EpisodeTrace(env_id, dict(env_kwargs), tuple(env.spec.seats), tuple(sides), seed, 0, states, actions,
                        np.stack(rewards).astype(np.float32), dones, tuple(side_extras))


def routing_extras(num_actions: int):
    rng = np.random.default_rng(1)

    def probs(T, n):
        p = rng.random((T, n, num_actions))
        return p / p.sum(-1, keepdims=True)

    def routing(T, n):
        r = rng.random((T, n, 4))
        return r / r.sum(-1, keepdims=True)

    def belief(T, n):
        b = rng.random((T, n, 3)) ** 4
        return b / b.sum(-1, keepdims=True)

    return {"probs": probs, "value": lambda T, n: rng.normal(size=(T, n)), "routing": routing, "belief": belief}


def drawn(viewer, trace, t, size=(1100, 680)) -> np.ndarray:
    surf = pygame.Surface(size)
    viewer.draw(surf, trace, t)
    return pygame.surfarray.array3d(surf).swapaxes(0, 1).copy()


@pytest.fixture(scope="module")
def coord_trace():
    return rollout("coord_game", {"rounds": 6}, extras=routing_extras(2))


def moved(env_id: str, state):
    """The same state with something visible changed (cheaper than compiling env.step)."""
    import jax.numpy as jnp

    if env_id.startswith("overcooked_v2"):
        pos = state.agents.pos
        return state.replace(agents=state.agents.replace(pos=pos.replace(x=pos.x[::-1]), dir=(state.agents.dir + 1) % 4))
    if env_id.startswith("overcooked/"):
        from jaxmarl.environments.overcooked.common import OBJECT_TO_INDEX

        return state.replace(agent_inv=jnp.full_like(state.agent_inv, OBJECT_TO_INDEX["onion"]))
    if env_id == "mpe_tag":
        return state.replace(p_pos=state.p_pos + 0.3)
    return state.replace(step=state.step + 1, last_actions=jnp.array([1, 0], jnp.int32))


@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_scene_of_each_family_draws_its_state(env_id):
    import jax

    from arena.envs import make
    from arena.viewer.scenes import scene_for

    env = make(env_id, **FAMILIES[env_id])
    s0, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
    states = state_leaves(jax.tree.map(lambda a, b: np.stack([np.asarray(a), np.asarray(b)]), s0, moved(env_id, s0)))
    S = env.spec.num_seats
    sides = tuple(SideInfo(s.name, tuple(s.seats), "x") for s in env.spec.sides)
    trace = EpisodeTrace(env_id, FAMILIES[env_id], tuple(env.spec.seats), sides, 0, 0, states,
                         np.array([[1, 0] + [0] * (S - 2)], np.int32), np.zeros((1, S), np.float32),
                         np.ones(1, bool), tuple({} for _ in sides))
    scene = scene_for(env_id, FAMILIES[env_id])
    rect = pygame.Rect(0, 0, 480, 360)

    def frame(t):
        surf = pygame.Surface(rect.size)
        surf.fill((0, 0, 0))
        scene.draw(surf, rect, trace, t)
        return pygame.surfarray.array3d(surf)

    first, last = frame(0), frame(1)
    # Not blank: many colours, and a good share of the picture is not background.
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 8
    assert (first.sum(axis=2) > 0).mean() > 0.2
    # Two different states draw differently.
    assert (np.abs(first.astype(int) - last.astype(int)).sum(axis=2) > 0).sum() > 50


def test_routing_change_moves_the_routing_bars_only():
    from arena.viewer.app import Viewer, make_layout
    from arena.viewer.panels import SeatPanel

    trace = rollout("coord_game", {"rounds": 6}, extras=routing_extras(2))
    other = dataclasses.replace(trace, extras=tuple({k: v.copy() for k, v in ex.items()} for ex in trace.extras))
    t = 3
    # Seat 0 routes everything to expert 3 at step 3 instead.
    other.extras[0]["routing"][t, 0] = [0.0, 0.0, 0.0, 1.0]
    v = Viewer([trace])
    a, b = drawn(v, trace, t), drawn(v, other, t)
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 0
    lay = make_layout((1100, 680), 2, 2)
    p0, p1 = lay.panels
    inside = diff[p0.top:p0.bottom, p0.left:p0.right].sum()
    assert inside > 100, "the routing bars did not move"
    assert diff.sum() == inside, "something outside seat 0's panel changed"
    # Only declared extras are drawn: no routing section for an agent that emits none.
    panel = SeatPanel(0, ("left", "right"))
    bare = dataclasses.replace(trace, extras=({"probs": trace.extras[0]["probs"]}, {}),
                               sides=tuple(dataclasses.replace(s, extras={}) for s in trace.sides))
    assert panel.sections(trace) == ["probs", "value", "routing", "belief"]
    assert panel.sections(bare) == ["probs"]
    c = drawn(v, bare, t)
    assert (np.abs(a.astype(int) - c.astype(int)).sum(axis=2) > 0)[p0.top:p0.bottom, p0.left:p0.right].sum() > 100


def test_app_keys_step_switch_episode_screenshot_and_export(coord_trace, tmp_path):
    import imageio

    from arena.viewer.app import Viewer, ViewerConfig

    second = dataclasses.replace(coord_trace, episode=1)
    v = Viewer([coord_trace, second], ViewerConfig(size=(960, 600), out_dir=tmp_path, autoplay=True))
    script = {1: pygame.K_SPACE, 2: pygame.K_RIGHT, 3: pygame.K_RIGHT, 4: pygame.K_UP, 6: pygame.K_RIGHTBRACKET,
              7: pygame.K_END, 8: pygame.K_h, 9: pygame.K_s, 10: pygame.K_e}
    seen = {}

    def on_frame(viewer):
        seen[viewer.frames] = (viewer.episode, viewer.t, viewer.playing, viewer.speed)
        key = script.get(viewer.frames)
        if key is not None:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))

    v.run(max_frames=13, on_frame=on_frame)
    # Events posted in frame k are handled at the start of frame k + 1.
    assert seen[2][2] is False  # space paused
    t0 = seen[2][1]
    assert seen[4][1] == t0 + 2  # two steps right
    assert seen[5][3] == 2.0  # up: faster
    assert seen[7][:2] == (1, 0)  # ]: next episode, from its start
    assert seen[8][1] == second.length  # end
    assert v.show_help
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 and pngs[0].name.endswith(f"-t{second.length}.png")
    assert pygame.image.load(str(pngs[0])).get_size() == (960, 600)
    gifs = list(tmp_path.glob("*.gif"))
    assert len(gifs) == 1
    frames = imageio.v3.imread(gifs[0], index=None)
    assert frames.shape[0] == second.length + 1
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_human_play_whole_episode_records_keys_replay_and_csv(make_ckpt, tmp_path):
    from arena.human_results import read_results
    from arena.replay import open_replay
    from arena.viewer.human_game import HumanGame, PlayConfig

    agent = make_ckpt("random", "coord_game")
    cfg = PlayConfig(seat=1, seed=3, tick_hz=40.0, countdown=0.0, size=(800, 520), close_at_end=True,
                     replay_path=tmp_path / "human.replay")
    game = HumanGame([str(agent)], env_id="coord_game", env_kwargs={"rounds": 6}, config=cfg)
    keys = [pygame.K_RIGHT, pygame.K_LEFT, None, pygame.K_RIGHT, pygame.K_1, pygame.K_LEFT]
    expected = [1, 0, 0, 1, 0, 0]  # no key repeats the last choice (the matrix games have no no-op)
    posted = []

    def on_frame(g):
        # One key per step, posted once the previous step is on screen.
        if len(posted) == g.trace.length and len(posted) < len(keys):
            k = keys[len(posted)]
            if k is not None:
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=""))
            posted.append(k)

    row = game.run(on_frame=on_frame, max_frames=2000)
    trace = game.trace
    assert trace.finished and trace.length == 6
    assert trace.actions[:, 1].tolist() == expected
    rt = trace.reaction_ms[:, 1]
    assert np.isnan(rt[2]) and np.isfinite(np.delete(rt, 2)).all() and (np.delete(rt, 2) >= 0).all()
    assert np.isnan(trace.reaction_ms[:, 0]).all()
    # The replay holds the game, the human side marked, reaction times kept.
    rep = open_replay(tmp_path / "human.replay")
    ep = rep.episodes[0]
    assert ep.actions.tolist() == trace.actions[:6].tolist()
    assert rep.sides[1].human and not rep.sides[0].human
    np.testing.assert_allclose(ep.reaction_ms[:, 1], rt, rtol=1e-3)
    assert ep.extras[1] == {}  # the human emits no extras
    # One CSV row, matching the game.
    rows = [r for r in read_results() if r["replay"] == str(tmp_path / "human.replay")]
    assert len(rows) == 1
    assert float(rows[0]["human_return"]) == pytest.approx(float(trace.rewards[:6, 1].sum()))
    assert row["steps"] == 6


def test_arena_play_records_an_absolute_replay_path_that_works_from_anywhere(make_ckpt, tmp_path, monkeypatch, capsys):
    import json

    from arena.cli import main
    from arena.human_results import read_results
    from arena.replay import open_replay

    agent = make_ckpt("random", "coord_game")
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    capsys.readouterr()
    main(["play", str(agent), "--env", "coord_game", "--env-kw", "rounds=2", "--seat", "1", "--tick-hz", "40",
          "--countdown", "0", "--size", "800x520", "--out", "games/mine.replay", "--frames", "30", "--json"])
    row = json.loads(capsys.readouterr().out)
    expected = str(tmp_path / "here" / "games" / "mine.replay")
    assert row["replay"] == expected and row["steps"] == 2 and row["complete"]
    monkeypatch.chdir(tmp_path / "elsewhere")  # the CSV row still finds its replay
    rows = [r for r in read_results() if r["replay"] == expected]
    assert len(rows) == 1 and os.path.isabs(rows[0]["replay"])
    assert open_replay(rows[0]["replay"]).episodes[0].length == 2


def test_human_plays_one_predator_while_the_agent_drives_the_others(make_ckpt, tmp_path):
    from arena.errors import UserError
    from arena.replay import open_replay
    from arena.verify import verify_traces
    from arena.viewer.human_game import HumanGame, PlayConfig

    pred = make_ckpt("mlp_actor_critic", "mpe_tag", side="predators")
    prey = make_ckpt("random", "mpe_tag", side="prey")
    with pytest.raises(UserError, match="one per side predators, prey"):
        HumanGame([str(pred), str(prey), str(prey)], env_id="mpe_tag", config=PlayConfig(seat=1))
    cfg = PlayConfig(seat=1, seed=2, tick_hz=60.0, countdown=0.0, size=(800, 520), close_at_end=True,
                     replay_path=tmp_path / "pred.replay")
    game = HumanGame([str(pred), str(prey)], env_id="mpe_tag", env_kwargs={"max_steps": 8}, config=cfg)
    up = game.labels.index("up")
    posted = []

    def on_frame(g):
        if len(posted) == g.trace.length:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP, mod=0, unicode=""))
            posted.append(1)

    game.run(on_frame=on_frame, max_frames=2000)
    trace = game.trace
    assert trace.finished and trace.length == 8
    assert (trace.actions[:, 1] == up).all()  # the human's seat: the human's key every step
    # The agent still drove the other two predators and emitted its extras for the side.
    assert trace.extras[0]["probs"].shape[:2] == (8, 3)
    rep = open_replay(tmp_path / "pred.replay")
    assert rep.sides[0].human_seats == (1,) and not rep.sides[0].human and rep.sides[0].agent == "mlp_actor_critic-0"
    assert np.isfinite(rep.episodes[0].reaction_ms[:, 1]).all() and np.isnan(rep.episodes[0].reaction_ms[:, 0]).all()
    assert verify_traces(rep.episodes).ok


def test_live_match_streams_episode_zero_as_recorded(make_ckpt):
    from arena.match import play_match
    from arena.viewer.live import LiveMatch

    a, b = make_ckpt("random", "coord_game", seed=1), make_ckpt("random", "coord_game", seed=2)
    kw = dict(env_id="coord_game", env_kwargs={"rounds": 5}, episodes=3, seed=4, swap=False)
    live = LiveMatch([str(a), str(b)], **kw).start()
    live.join()
    _, recorded = play_match([str(a), str(b)], record=1, **kw)
    assert live.trace.length == 5 and live.trace.finished
    assert live.trace.actions.tolist() == np.asarray(recorded[0].steps.actions[:, 0]).tolist()
    np.testing.assert_array_equal(live.trace.states[".last_actions"][1:], np.asarray(recorded[0].steps.env_state.last_actions[:, 0]))
    assert live.report["episodes"] == 3


def test_cli_view_export_and_bad_input(coord_trace, tmp_path, arena_cli):
    from click.testing import CliRunner

    from arena.cli import cli
    from arena.replay import write_replay

    path = write_replay(tmp_path / "c.replay", [coord_trace, dataclasses.replace(coord_trace, episode=1)])
    runner = CliRunner()
    res = runner.invoke(cli, ["view", str(path), "--frames", "3", "--episode", "1"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = tmp_path / "c.gif"
    res = runner.invoke(cli, ["replay", "export", str(path), "--gif", str(out), "--size", "640x400", "--json"],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert out.exists() and '"frames": 7' in res.output
    bad = tmp_path / "bad.replay"
    bad.write_bytes(b"not a replay at all")
    for argv in (["view", str(bad)], ["replay", "export", str(path), "--gif", str(tmp_path / "x.png")],
                 ["view", str(path), "--episode", "9"]):
        assert arena_cli(*argv).code == 2


def test_panels_take_action_labels_from_the_trace_and_fall_back_to_the_env(coord_trace):
    from arena.viewer.app import Viewer, seat_action_labels

    # Labels the env does not have: they can only come from the trace (a replay's header).
    named = dataclasses.replace(coord_trace, sides=tuple(dataclasses.replace(s, action_labels=("west", "east")) for s in coord_trace.sides))
    assert seat_action_labels(named) == {0: ("west", "east"), 1: ("west", "east")}
    assert [p.action_labels for p in Viewer([named]).panels(named)] == [("west", "east")] * 2
    # A replay written before sides carried labels: the env's own.
    assert all(s.action_labels == () for s in coord_trace.sides)
    assert seat_action_labels(coord_trace) == {0: ("left", "right"), 1: ("left", "right")}


def test_bar_scale_keeps_probabilities_on_0_1_and_gives_scores_one_scale_from_zero():
    from arena.viewer.panels import UNIT, bar_scale

    scores = np.array([[10.0, 20.0], [10.0, 40.0], [0.0, 0.0]])  # (L, A): a planner's returns
    assert bar_scale("probs", scores) == UNIT and bar_scale("belief", scores) == UNIT
    assert bar_scale("intent", scores, ("probs", "intent")) == UNIT  # the env's truth extra, whatever its name
    s = bar_scale("scores", scores)
    assert (s.lo, s.hi, s.title) == (0.0, 40.0, "scale 0 to 40.0")
    assert s.frac(10.0) == 0.25 and s.frac(0.0) == 0.0
    signed = bar_scale("scores", np.array([[-5.0, 15.0]]))
    assert (signed.lo, signed.hi) == (-5.0, 15.0) and signed.frac(0.0) == 0.25  # bars grow from zero
    assert bar_scale("votes", np.array([[2.0, 3.0], [5.0, 0.0]])).hi == 5.0  # five members
    assert bar_scale("scores", np.zeros((3, 2))).hi == 1.0  # nothing to scale: an empty track


def test_a_score_panel_draws_a_score_at_the_same_length_at_every_step():
    """A planner's scores (returns, not probabilities) share one scale over the episode: a
    score of 10 is as long at a step whose best is 20 as at one whose best is 40."""
    from arena.viewer.panels import SeatPanel

    def scores(T, n):
        s = np.zeros((T, n, 2), np.float32)
        s[0, :] = (10.0, 20.0)
        s[1, :] = (10.0, 40.0)
        return s

    trace = rollout("coord_game", {"rounds": 6}, extras={"scores": scores})
    color = (250, 0, 250)
    panel = SeatPanel(0, ("left", "right"), color)
    rect = pygame.Rect(0, 0, 420, 300)

    def bar_widths(t):
        surf = pygame.Surface(rect.size)
        panel.draw(surf, rect, trace, t)
        lit = (pygame.surfarray.array3d(surf) == np.array(color)).all(axis=-1)  # (W, H)
        per_row = lit[:, 60:].sum(axis=0)  # below the header's seat dot
        return sorted({int(w) for w in per_row if w})

    first, second = bar_widths(0), bar_widths(1)
    assert len(first) == 2 and len(second) == 2, (first, second)
    assert first[0] == second[0]  # the score 10, at both steps
    assert abs(first[1] - 2 * first[0]) <= 2 and abs(second[1] - 4 * second[0]) <= 2  # 20 and 40 from zero
