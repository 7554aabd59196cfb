"""How arena writes numbers: for people (three significant digits, intervals that say when
there is none) and for JSON (floats at the float32 precision the results are measured in).

Results are float32 on the device; their float64 means carry digits that were never measured
(0.005 in float32 is 0.004999999888241291 in float64). JSON gets the shortest decimal that
reads back as the same float32; tables get three significant digits, so a rate of 0.5% is
0.00500, not 0.00.
"""
from __future__ import annotations

import json
import math

import numpy as np

SIG_DIGITS = 3
_MAX_DECIMALS = 6


def decimals(x: float, digits: int = SIG_DIGITS) -> int:
    """Decimal places that show `digits` significant digits of x (none for |x| >= 10^digits);
    zero reads like a number of ones (0.00)."""
    if not math.isfinite(x):
        return 0
    if x == 0:
        return digits - 1
    return int(min(_MAX_DECIMALS, max(0, digits - 1 - math.floor(math.log10(abs(x))))))


def sig(x: float | None, digits: int = SIG_DIGITS, places: int | None = None) -> str:
    """x with `digits` significant digits, never in exponent notation: 0.005 -> 0.00500,
    238.2 -> 238, 16.99 -> 17.0; `places` fixes the decimal places instead."""
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{decimals(x, digits) if places is None else places}f}"


def _places(e: dict) -> int:
    # The mean sets the precision; a zero mean takes it from the interval's larger end.
    ref = e["mean"] if e["mean"] else max(abs(e.get("low") or 0.0), abs(e.get("high") or 0.0))
    return decimals(ref)


def _parts(e: dict, unit: str) -> tuple[str, str | None, str | None]:
    """(mean, low, high) as text at one precision; low and high are None without an interval,
    and the mean then carries the note: `mean n/a (2 seeds)`."""
    places = _places(e)
    mean = sig(e["mean"], places=places)
    if e.get("low") is None or e.get("high") is None:
        n = e.get("n", 0)
        return f"{mean} n/a ({n} {unit}{'' if n == 1 else 's'})", None, None
    return mean, sig(e["low"], places=places), sig(e["high"], places=places)


def interval(e: dict | None, unit: str = "episode") -> str:
    """`mean [low, high]`, or `mean n/a (2 seeds)` when the estimate has no interval."""
    if not e:
        return "-"
    mean, low, high = _parts(e, unit)
    return mean if low is None else f"{mean} [{low}, {high}]"


def plus_minus(e: dict | None, unit: str = "episode") -> str:
    """`mean ±half-width`, or `mean n/a (2 seeds)` when the estimate has no interval."""
    if not e:
        return "-"
    mean, low, _ = _parts(e, unit)
    return mean if low is None else f"{mean} ±{sig((e['high'] - e['low']) / 2, places=_places(e))}"


def float32_round(x: float) -> float:
    """The shortest decimal that reads back as the same float32: 0.004999999888241291 -> 0.005."""
    if not math.isfinite(x) or abs(x) > float(np.finfo(np.float32).max):
        return x  # beyond float32's range: nothing to round to
    f32 = np.float32(x)
    return float(np.format_float_positional(f32, unique=True, trim="-"))


def json_ready(obj):
    """obj with every float (and numpy scalar or array) as a plain float rounded by
    float32_round; non-finite floats become null, which JSON can hold."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return float32_round(x) if math.isfinite(x) else None
    return obj


def dumps(obj, indent: int | None = 2) -> str:
    """JSON text of a report: floats at float32 precision (json_ready)."""
    return json.dumps(json_ready(obj), indent=indent, default=str)
