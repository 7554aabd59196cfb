"""The intent study's numbers on hand-made inputs (the study itself trains for minutes)."""
from __future__ import annotations

import numpy as np

from arena.agents.zoo import intent_study


def test_belief_curve_by_hand():
    # 2 steps, 2 episodes, 1 predator, 2 classes; truths 0 and 1.
    belief = np.array([[[[0.5, 0.5]], [[0.5, 0.5]]],
                       [[[0.9, 0.1]], [[0.6, 0.4]]]])
    got = intent_study.belief_curve([belief], [np.array([0, 1])])
    assert got["p_true"] == [0.5, 0.65]  # step 1: (0.9 + 0.4) / 2
    assert got["accuracy"] == [0.5, 0.5]  # argmax of a tie is class 0: right for episode 0 only


def test_bad_arguments_exit_2(capsys, tmp_path):
    assert intent_study.main(["--work", str(tmp_path), "--episodes", "0"]) == 2
    assert intent_study.main(["--work", str(tmp_path), "--encoder-set", "episodes"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "Traceback" not in err
