"""How numbers are written: three significant digits for people, float32 precision in JSON,
and intervals that say when there is none (issue 10: `0.00 [0.00, 0.00]` hid a 0.5% rate)."""
import json

import numpy as np

from arena import numfmt
from arena.stats import MIN_UNITS, bootstrap_ci, probability_of_improvement_ci


def test_three_significant_digits_never_round_a_small_rate_to_zero():
    assert numfmt.sig(0.005) == "0.00500"
    assert [numfmt.sig(x) for x in (238.2, 16.99, -26.72, 1.0, 0.0, 1660.4)] == ["238", "17.0", "-26.7", "1.00", "0.00", "1660"]
    e = bootstrap_ci(np.r_[np.ones(1), np.zeros(199)].astype(np.float32))
    assert numfmt.interval(e.to_dict()).startswith("0.00500 [0.00000, ")
    assert numfmt.plus_minus({"mean": 240.0, "low": 238.0, "high": 240.0, "n": 64}) == "240 ±1"


def test_fewer_than_three_units_give_no_interval_and_say_so():
    assert MIN_UNITS == 3
    for n in (1, 2):
        e = bootstrap_ci(np.arange(n, dtype=float))
        assert e.low is None and e.high is None and e.n == n
        assert json.loads(numfmt.dumps(e.to_dict()))["low"] is None
    assert numfmt.plus_minus(bootstrap_ci(np.ones(2)).to_dict(), "seed") == "1.00 n/a (2 seeds)"
    assert numfmt.interval(bootstrap_ci(np.ones(1)).to_dict(), "game") == "1.00 n/a (1 game)"
    assert bootstrap_ci(np.ones(3)).low == 1.0  # three units: an interval (of width 0 when all agree)
    assert probability_of_improvement_ci(np.ones(2), np.zeros(5)).low is None


def test_json_floats_are_rounded_to_float32_precision():
    rate = float(np.mean(np.float32([0.005, 0.005])))
    assert rate == 0.004999999888241291
    text = numfmt.dumps({"cooperation": rate, "xs": [np.float32(0.1), np.float64(1 / 3)], "n": np.int64(3),
                         "nan": float("nan"), "flag": np.bool_(True), "big": 1e300})
    assert json.loads(text) == {"cooperation": 0.005, "xs": [0.1, 0.33333334], "n": 3, "nan": None, "flag": True,
                                "big": 1e300}
    assert "0.004999" not in text
    assert numfmt.float32_round(238.19999694824219) == 238.2
