"""Beliefs against the truth on the real mpe_tag_intent with the real belief_predator (freshly
initialised: what is tested is the plumbing, not its skill) and a prey that heads for its
corner: a recorded belief predator's replay verifies and its belief column is what its `act`
returned; `arena calibration` scores it the same from a replay and from a match, and refuses
what it cannot score in one line; the viewer stars the true corner and outlines its bar."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena.replay import open_replay

EPISODES = 4


@pytest.fixture(scope="module")
def lineup(tmp_path_factory):
    from arena.checkpoint import new_agent, save_checkpoint

    folder = tmp_path_factory.mktemp("beliefs")

    def ckpt(arch, side, name, config=None, env="mpe_tag_intent"):
        # Small nets: the plumbing is under test, and small compiles fast.
        if arch == "belief_predator":
            config = {"hidden": 16, "gru_width": 16, "policy_hidden": [16], **(config or {})}
        manifest, params = new_agent(arch, env, side=side, config=config or {}, name=name)
        path = folder / f"{name}.ckpt"
        save_checkpoint(path, manifest, params)
        return str(path)

    return {
        "believer": ckpt("belief_predator", "predators", "believer"),
        "prey": ckpt("scripted", "prey", "prey", {"rule": "seek_corner"}),
        "blind": ckpt("random", "predators", "blind"),
        "three": ckpt("belief_predator", "predators", "three", {"labels": ["NE", "NW", "SE"]}),
        "shuffled": ckpt("belief_predator", "predators", "shuffled", {"labels": ["NW", "NE", "SE", "SW"]}),
        "tag_predators": ckpt("random", "predators", "tag-predators", env="mpe_tag"),
        "tag_prey": ckpt("random", "prey", "tag-prey", env="mpe_tag"),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def replay(lineup):
    from arena.match import play_match

    path = lineup["folder"] / "believer.replay"
    play_match([lineup["believer"], lineup["prey"]], episodes=EPISODES, seed=3, record_path=str(path),
               record_episodes=EPISODES)
    return path


def test_replay_verifies_and_its_belief_column_is_what_act_returned(replay, lineup):
    from arena import keys
    from arena.checkpoint import load_agent
    from arena.envs import make
    from arena.states import state_tree
    from arena.verify import verify_traces

    rep = open_replay(replay)
    assert verify_traces(rep.episodes).ok  # so the recorded states are the ones the agents saw
    believer = load_agent(lineup["believer"])
    env = make("mpe_tag_intent")
    side = env.spec.sides[0]

    @jax.jit
    def replay_agent(states, ep_key):
        """The believer's (actions, beliefs) over the episode, its carry threaded step by step,
        each step on the predators' observations of the recorded state and the runner's key."""
        obs = jax.vmap(lambda s: env._obs(env.env.get_obs(s)))(states)[side.team]

        def step(carry, t):
            _, side_keys = keys.split_step_key(keys.step_key(ep_key, t), len(env.spec.sides))
            carry, action, extras = believer.agent.act(believer.params, carry, obs[t], side_keys[0])
            return carry, (action, extras["belief"])

        carry = believer.agent.init_carry(believer.params, len(side.seats))
        return jax.lax.scan(step, carry, jnp.arange(obs.shape[0] - 1))[1]

    for trace in rep.episodes:
        actions, beliefs = replay_agent(state_tree(env, trace.states), keys.seed_episode_key(trace.seed, trace.episode))
        np.testing.assert_array_equal(trace.actions[:, list(side.seats)], np.asarray(actions))
        # Replays keep extras as float16 by default (`float_extras`): exactly act's, rounded so.
        np.testing.assert_array_equal(trace.extras[0]["belief"], np.asarray(beliefs).astype(np.float16).astype(np.float32))


def test_calibration_of_a_replay_scores_the_recorded_beliefs(replay, arena_cli, tmp_path):
    code, out, err = arena_cli("calibration", replay, "--rows", "0", "--json", "--png", tmp_path / "png")
    assert code == 0, err
    report = json.loads(out)
    traces = open_replay(replay).episodes
    truths = np.array([int(tr.states[".intent"][0]) for tr in traces])
    beliefs = np.stack([tr.extras[0]["belief"] for tr in traces])  # (E, T, 3 seats, 4)
    p_true = beliefs[np.arange(EPISODES), :, :, truths].mean(axis=(0, 2))  # (T,)
    (agent,) = report["agents"]
    assert (agent["agent"], agent["side"], report["episodes"], report["truth"]["labels"]) == \
        ("believer", "predators", EPISODES, ["NE", "NW", "SE", "SW"])
    assert [r["steps"] for r in agent["per_step"]] == [[t, t + 1] for t in range(25)]
    np.testing.assert_allclose([r["p_true"]["mean"] for r in agent["per_step"]], p_true, rtol=1e-5)
    assert sum(report["truth"]["episodes"].values()) == EPISODES
    assert sum(b["items"] for b in agent["reliability"]) == EPISODES * 25 * 3
    for path in report["png"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = arena_cli("calibration", replay)
    assert code == 0, err
    assert "believer (belief_predator) on predators" in out and "p(true)" in out and "ECE" in out


def test_calibration_of_a_match_equals_that_of_its_replay(replay, lineup, arena_cli):
    code, out, err = arena_cli("calibration", lineup["believer"], lineup["prey"], "--episodes", EPISODES, "--seed", 3, "--json")
    assert code == 0, err
    played = json.loads(out)
    recorded = json.loads(arena_cli("calibration", replay, "--json").out)
    assert played["truth"] == recorded["truth"]
    # The replay's beliefs are float16, the match's float32: the same scores to float16's
    # precision (argmax accuracy and ECE may flip on a near-tie of a fresh net's flat belief).
    for a, b in zip(played["agents"], recorded["agents"]):
        assert (a["agent"], a["side"], len(a["per_step"])) == (b["agent"], b["side"], len(b["per_step"]))
        for m in ("p_true", "nll"):
            for ra, rb in zip(a["per_step"], b["per_step"]):
                assert ra[m]["mean"] == pytest.approx(rb[m]["mean"], rel=2e-3, abs=1e-4)


@pytest.mark.parametrize("who, env, message", [
    (("tag_predators", "tag_prey"), "mpe_tag", "error: env mpe_tag has no hidden per-episode truth to score beliefs against"),
    (("blind", "prey"), "mpe_tag_intent", "error: no agent emits belief (4,)"),
    (("three", "prey"), "mpe_tag_intent", "error: agent 'three' (predators) emits belief of shape (3,), but mpe_tag_intent's "
                                          "truth has 4 classes (NE NW SE SW)"),
    (("shuffled", "prey"), "mpe_tag_intent", "error: agent 'shuffled' (predators) labels its belief NW NE SE SW"),
])
def test_what_cannot_be_scored_is_one_line_before_anything_plays(lineup, arena_cli, who, env, message):
    code, out, err = arena_cli("calibration", *(lineup[w] for w in who), "--env", env, "--episodes", 2)
    assert code == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_a_belief_that_is_no_distribution_is_refused():
    from arena.beliefs import BeliefSeries, _check_distribution
    from arena.errors import UserError
    from arena.trace import SideInfo

    beliefs = np.full((1, 2, 1, 4), 0.25)
    beliefs[0, 1, 0] = [0.5, 0.5, 0.5, 0.0]
    live = np.array([[True, True]])
    series = BeliefSeries(SideInfo("predators", (0,), "odd"), beliefs, np.zeros(1, int), live)
    with pytest.raises(UserError, match=r"episode 0, step 1: \[0.5, 0.5, 0.5, 0.0\]"):
        _check_distribution(series)
    _check_distribution(BeliefSeries(series.side, beliefs, series.truths, np.array([[True, False]])))  # dead: not scored


# ------------------------------------------------------------------ the truth beside the belief

QUADRANT = {"NE": (1, -1), "NW": (-1, -1), "SE": (1, 1), "SW": (-1, 1)}  # (x, y) signs on screen: y grows down


def truth_pixels(png) -> np.ndarray:
    """(W, H) bool: the pixels of the truth colour in a rendered frame."""
    import pygame

    from arena.viewer import style

    return (pygame.surfarray.array3d(pygame.image.load(str(png))) == np.array(style.TRUTH)).all(axis=-1)


def test_exported_frame_stars_the_true_corner_and_outlines_its_bar(replay, arena_cli, tmp_path):
    from arena.viewer.app import make_layout

    traces = open_replay(replay).episodes
    truths = [int(tr.states[".intent"][0]) for tr in traces]
    assert len(set(truths)) > 1  # the star must move with the truth, not sit in one place
    lay = make_layout((960, 576), 4, 2)
    for k in (truths.index(c) for c in sorted(set(truths))):
        png = tmp_path / f"ep{k}.png"
        code, _, err = arena_cli("replay", "export", replay, "--png", png, "--step", 5, "--episode", k)
        assert code == 0, err
        lit = truth_pixels(png)
        scene = lit[lay.scene.left:lay.scene.right, lay.scene.top:lay.scene.bottom]
        xs, ys = np.nonzero(scene)
        assert len(xs) > 50, "no star on the scene"
        # Every star pixel (and its label) lies in the true corner's quadrant of the arena.
        sx, sy = QUADRANT[("NE", "NW", "SE", "SW")[truths[k]]]
        cx, cy = lay.scene.width / 2, lay.scene.height / 2 - 8
        assert np.all(sx * (xs - cx) > 0) and np.all(sy * (ys - cy) > 0)
        for seat, rect in enumerate(lay.panels):
            marked = lit[rect.left:rect.right, rect.top:rect.bottom].sum()
            # The three predators emit a belief: its true bar is marked; the prey emits none.
            assert (marked > 20) if seat < 3 else (marked == 0), (seat, marked)


def test_belief_bars_outline_the_true_row_only():
    import pygame

    from arena.viewer import style
    from arena.viewer.panels import draw_bars

    surf = pygame.Surface((300, 80))
    draw_bars(surf, pygame.Rect(0, 10, 300, 60), [0.1, 0.2, 0.6, 0.1], ["NE", "NW", "SE", "SW"], (200, 80, 80),
              row_h=15, truth=2)
    ys = np.nonzero((pygame.surfarray.array3d(surf) == np.array(style.TRUTH)).all(axis=-1))[1]
    assert ys.size and ys.min() >= 10 + 2 * 15 - 1 and ys.max() <= 10 + 3 * 15  # row 2: y in [40, 55)


def test_a_live_trace_knows_its_truth_from_the_first_frame(lineup):
    from arena.checkpoint import load_agent
    from arena.envs import make
    from arena.trace import side_infos
    from arena.viewer.live import GrowingTrace, initial_state
    from arena.viewer.scenes import scene_for

    env = make("mpe_tag_intent")
    state = initial_state(env, seed=3, episode=0)
    sides = side_infos(env, [load_agent(lineup["believer"]), load_agent(lineup["prey"])])
    trace = GrowingTrace.start(env, sides, state, seed=3)
    truth = scene_for("mpe_tag_intent", {}).truth(trace)
    assert trace.length == 0 and (truth.extra, truth.index) == ("belief", int(state.intent))
    assert truth.label == ("NE", "NW", "SE", "SW")[int(state.intent)]


def _human_frame(lineup, seat: int, tmp_path):
    """Play mpe_tag_intent by hand in `seat` (headless) and return the window's last frame as
    (W, H) truth-colour pixels, with the game's replay path."""
    import pygame

    from arena.viewer import style
    from arena.viewer.human_game import HumanGame, PlayConfig

    cfg = PlayConfig(seat=seat, seed=3, tick_hz=60.0, countdown=0.0, size=(960, 576), close_at_end=True,
                     replay_path=tmp_path / f"seat{seat}.replay")
    agents = [lineup["believer"], lineup["prey"]] if seat < 3 else [lineup["believer"]]  # a human prey plays alone
    game = HumanGame(agents, env_id="mpe_tag_intent", env_kwargs={"max_steps": 4}, config=cfg)
    frames = []

    def on_frame(g):
        if g.trace.length >= 2:  # the frame on screen holds beliefs the predators emitted
            frames.append(pygame.surfarray.array3d(pygame.display.get_surface()))

    game.run(on_frame=on_frame, max_frames=2000)
    assert frames and game.trace.finished
    return (frames[-1] == np.array(style.TRUTH)).all(axis=-1), cfg.replay_path


def test_a_human_predator_is_not_shown_the_corner_a_human_prey_and_a_spectator_are(lineup, tmp_path):
    from arena.viewer.app import export_png, make_layout

    lay = make_layout((960, 576), 4, 2)
    # A predator must infer the corner: no star on the scene, no outline on the belief bars of
    # the agent predators beside them, no "truth:" label.
    lit, replay_path = _human_frame(lineup, 1, tmp_path)
    assert lit.sum() == 0
    # The prey observes its corner: it is starred, and the predators' true bars outlined.
    lit, _ = _human_frame(lineup, 3, tmp_path)
    assert lit[lay.scene.left:lay.scene.right, lay.scene.top:lay.scene.bottom].sum() > 50
    assert lit[lay.panels[0].left:lay.panels[0].right, lay.panels[0].top:lay.panels[0].bottom].sum() > 20
    # The predator's game seen afterwards, by nobody playing it: the truth is back.
    png = export_png(open_replay(replay_path).episodes[0], tmp_path / "after.png", 3)
    assert truth_pixels(png).sum() > 50


def test_the_oracle_option_lets_predators_observe_the_truth():
    from arena.envs import make

    spec = make("mpe_tag_intent").spec
    assert [spec.observes_truth(s) for s in range(4)] == [False, False, False, True]
    assert all(make("mpe_tag_intent", intent_obs="true").spec.observes_truth(s) for s in range(4))
    assert not make("mpe_tag_intent", intent_obs="soft").spec.observes_truth(0)  # a hint is not the truth
    assert not make("mpe_tag").spec.observes_truth(3)  # no truth at all
