"""Tolerant comparison and digests of floating-point answers (shared by the ML workloads).

Engines sum in different orders, so their float answers agree to a relative tolerance, not
bit for bit: the check compares value by value, the digest rounds before hashing.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any


def show(value: Any) -> str:
    """A value as a user reads it: numbers plainly (``nan``, ``0.5``, ``3``), never as
    ``np.float64(nan)``; anything else by its repr."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return repr(value)


def first_difference(
    name: str, got: Sequence[Any], want: Sequence[Any], rtol: float, atol: float
) -> str | None:
    """Where two (possibly nested) sequences of numbers first differ beyond the tolerance,
    e.g. ``centroids[1][0] = 0.5, reference 0.6 (rtol 1e-06)``; None when they agree."""
    got, want = list(got), list(want)
    if len(got) != len(want):
        return f"{name}: {len(got)} values instead of {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if isinstance(w, Sequence) and not isinstance(w, str):
            if not isinstance(g, Sequence) or isinstance(g, str):
                return f"{name}[{i}] = {show(g)} is not a sequence"
            inner = first_difference(f"{name}[{i}]", g, w, rtol, atol)
            if inner is not None:
                return inner
        elif not math.isclose(float(g), float(w), rel_tol=rtol, abs_tol=atol):
            return f"{name}[{i}] = {show(g)}, reference {show(w)} (rtol {rtol:g})"
    return None


def rounded(value: Any, digits: int = 9) -> Any:
    """Numbers (in nested lists) rounded to ``digits`` significant digits."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [rounded(v, digits) for v in value]
    return float(f"{float(value):.{digits}g}")


def tolerant_digest(answer: Mapping[str, Any], keys: Sequence[str]) -> str:
    """SHA-256 of the answer's ``keys``, rounded (equal for answers the check calls equal,
    except at rounding boundaries)."""
    blob = json.dumps({k: rounded(answer[k]) for k in keys})
    return hashlib.sha256(blob.encode()).hexdigest()


def finite_values(frame: Any, where: str) -> Any:
    """A CSV frame's values as float64 (rows x columns), or a UserError naming the first cell
    that is not a finite number: ``<where> row 3 column 'x' is not a finite number: 'abc'``
    (rows counted as in the file, header = row 1)."""
    import numpy as np
    import pandas as pd

    from harness.errors import UserError

    # The C parser makes numeric columns float/int; anything else is text somewhere.
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{where} row {row + 2} column {frame.columns[col]!r} is not a finite number: "
            f"{show(frame.iat[row, col])}"
        )
    return values


def count_own_iterations(
    metrics: dict[str, Any], expected: Mapping[str, Any], params: Mapping[str, Any], prepared: Any
) -> None:
    """``finish_metrics`` of the ML workloads: a Spark ML run's throughput counts the
    point-iterations it ran (it iterates to convergence), not the reference's."""
    if "mllib_iterations" in metrics:
        metrics["items"] = int(expected["points"]) * int(metrics["mllib_iterations"])


#: What the iterative ML workloads (logreg, kmeans) register alike: their sizes in points,
#: throughput in points x iterations, their own iteration count, and Spark cells with our
#: rules off and on, like every Spark cell.
ITERATIVE: dict[str, Any] = {
    "scale_sizes": {"tiny": 2_000, "small": 200_000, "medium": 2_000_000, "large": 20_000_000},
    "unit": "point-iterations",
    "finish_metrics": count_own_iterations,
    "default_rules": "both",
}
