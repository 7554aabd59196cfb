"""The intent study's numbers on hand-made inputs (the study itself trains for minutes)."""
from __future__ import annotations

import numpy as np

from arena.agents.zoo import intent_study


def test_belief_curve_by_hand():
    # 2 episodes, 2 steps, 1 predator, 2 classes; truths 0 and 1.
    belief = np.array([[[[0.5, 0.5]], [[0.9, 0.1]]],
                       [[[0.5, 0.5]], [[0.6, 0.4]]]])
    got = intent_study.belief_curve([intent_study.Recorded(belief, np.array([0, 1]), np.ones((2, 2), bool))])
    assert got["p_true"] == [0.5, 0.65]  # step 1: (0.9 + 0.4) / 2
    assert got["accuracy"] == [0.5, 0.5]  # argmax of a tie is class 0: right for episode 0 only
    last = got["per_step"][1]
    assert last["steps"] == [1, 2] and last["episodes"] == 2
    assert last["p_true"]["mean"] == 0.65 and last["p_true"]["low"] is None  # two episodes: too few for an interval


def test_belief_curve_is_what_arena_calibration_reports_for_the_same_match(tmp_path):
    """A tiny belief predator (fresh weights) against the corner-seeking prey: the study's curve
    for one seed is `arena calibration`'s per-step rows, intervals included; two seeds are
    items of the same episodes."""
    from arena.beliefs import calibration_report, match_traces
    from arena.checkpoint import new_agent, save_checkpoint

    def ckpt(arch, side, name, config, seed=0):
        manifest, params = new_agent(arch, intent_study.ENV, side=side, config=config, name=name, seed=seed)
        save_checkpoint(tmp_path / f"{name}.ckpt", manifest, params)
        return tmp_path / f"{name}.ckpt"

    tiny = {"hidden": 16, "gru_width": 16, "policy_hidden": [16]}
    preds = [ckpt("belief_predator", "predators", f"believer-{k}", tiny, seed=k) for k in range(2)]
    prey = ckpt("scripted", "prey", "prey", {"rule": "seek_corner"})
    recorded = []
    for pred in preds:
        captures, rec = intent_study.play(pred, prey, "none", 8, record=True)
        assert captures.shape == (8,) and rec.belief.shape == (8, 25, 3, 4)
        recorded.append(rec)
    curve = intent_study.belief_curve(recorded[:1])
    env, traces = match_traces([str(preds[0]), str(prey)], episodes=8, seed=intent_study.MATCH_SEED)
    report = calibration_report(env, traces)
    assert curve["per_step"] == report["agents"][0]["per_step"]
    both = intent_study.belief_curve(recorded)
    pooled = np.concatenate([r.belief for r in recorded], axis=2)  # (E, T, 6, K)
    p_true = np.take_along_axis(pooled, recorded[0].truth[:, None, None, None], axis=-1)[..., 0].mean(axis=(0, 2))
    np.testing.assert_allclose(both["p_true"], p_true.round(3), atol=1e-3)
    assert all(row["episodes"] == 8 and row["p_true"]["low"] <= row["p_true"]["mean"] <= row["p_true"]["high"]
               for row in both["per_step"])
    assert "at the last step (95% CI over episodes): p(true corner)" in intent_study.markdown(
        {"rows": {}, "belief_minus_blind": {"over_seeds": {"mean": 0.0, "low": None}, "per_seed": []}, "belief_curve": both})


def test_bad_arguments_exit_2(capsys, tmp_path):
    assert intent_study.main(["--work", str(tmp_path), "--episodes", "0"]) == 2
    assert intent_study.main(["--work", str(tmp_path), "--encoder-set", "episodes"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "Traceback" not in err
