"""Cost lines fitted over a size ladder: ``y = a + b x n`` and where two of them cross.

``n`` is a workload's own size unit (points, words, rows: what ``scale_sizes`` counts). A fit
is made on one value per size (the runs' median at that size), by least squares on the
*relative* residuals ``(a + b n - y) / y``: every size counts alike whatever its magnitude (a
plain fit would let the largest size decide everything and miss the fixed cost), with a soft
L1 loss so that one noisy size pulls the line less than a squared residual would; ``a`` and
``b`` are kept non-negative (no cost is negative). scipy's ``least_squares`` does the work.

Each fit says how well it holds: ``fit_error``, the root mean square of the relative
residuals, and ``held_out_error``: fitted again without the largest size, how far (signed,
relative) its prediction of that size is from what was measured. That is the check that the
line predicts a size it did not see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: Relative residual at which the soft L1 loss turns from squared to linear (5%).
F_SCALE = 0.05

CrossKind = Literal["measured", "extrapolated", "never"]


@dataclass(frozen=True)
class LineFit:
    """``y = fixed + per_unit x n`` fitted over ``sizes`` (with the values it saw)."""

    fixed: float
    per_unit: float
    sizes: tuple[float, ...]
    values: tuple[float, ...]
    #: Root mean square of the relative residuals over the sizes (0.05 = 5%).
    fit_error: float
    #: (predicted - measured) / measured at the largest size, from a fit without it; None
    #: with fewer than three sizes (two points always fit a line exactly).
    held_out_error: float | None

    def predict(self, n: float) -> float:
        """The line's value at ``n``."""
        return self.fixed + self.per_unit * n

    @property
    def per_million(self) -> float:
        """The slope per million units (e.g. seconds per million rows)."""
        return self.per_unit * 1e6


def _solve(sizes: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """The non-negative ``(a, b)`` minimising the soft-L1 relative residuals."""
    import numpy as np
    from scipy.optimize import least_squares

    n = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    # Start from the weighted linear least squares (weights 1 / y), clipped into the bounds.
    design = np.column_stack([1.0 / y, n / y])
    start, *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    scale = np.array([max(float(y.max()), 1e-300), max(float(y.max() / n.max()), 1e-300)])
    x0 = np.clip(start / scale, 0.0, None) + 1e-9

    def residuals(p: np.ndarray) -> np.ndarray:
        return (p[0] * scale[0] + p[1] * scale[1] * n - y) / y

    if len(n) == 2 or np.ptp(n) == 0:
        loss = "linear"
    else:
        loss = "soft_l1"
    result = least_squares(
        residuals, x0, bounds=(0.0, np.inf), loss=loss, f_scale=F_SCALE, x_scale="jac"
    )
    return float(result.x[0] * scale[0]), float(result.x[1] * scale[1])


def fit_line(sizes: Sequence[float], values: Sequence[float]) -> LineFit | None:
    """The line through ``(size, value)`` pairs, one per distinct size (None with fewer than
    two distinct sizes, or a value that is not a positive finite number)."""
    pairs = sorted(zip(sizes, values, strict=True))
    if len({n for n, _ in pairs}) < 2 or len(pairs) != len({n for n, _ in pairs}):
        return None
    if any(not (math.isfinite(v) and v > 0) or not (n > 0) for n, v in pairs):
        return None
    xs = [float(n) for n, _ in pairs]
    ys = [float(v) for _, v in pairs]
    fixed, per_unit = _solve(xs, ys)
    error = math.sqrt(sum(((fixed + per_unit * n - y) / y) ** 2 for n, y in pairs) / len(pairs))
    held_out = None
    if len(pairs) >= 3:
        a, b = _solve(xs[:-1], ys[:-1])
        held_out = (a + b * xs[-1] - ys[-1]) / ys[-1]
    return LineFit(fixed, per_unit, tuple(xs), tuple(ys), error, held_out)


@dataclass(frozen=True)
class Crossover:
    """Where line ``one`` and line ``other`` meet, and which is cheaper beyond it."""

    kind: CrossKind
    #: The size at which they are equal (None: ``never``).
    rows: float | None
    #: ``rows`` over the largest measured size (above 1: beyond the ladder).
    factor: float | None
    #: Which line is cheaper above ``rows`` (for ``never``: everywhere): "one" or "other";
    #: None when the lines are the same.
    cheaper_after: Literal["one", "other"] | None


#: Slopes of two fitted lines that agree to this relative tolerance are parallel: the solver
#: finds each to about 1e-8, so a smaller difference is its rounding, not a crossing.
FITTED_SLOPE_RTOL = 1e-6


def crossover(
    one: LineFit,
    other: LineFit,
    measured: Sequence[float] = (),
    *,
    rtol: float = FITTED_SLOPE_RTOL,
) -> Crossover:
    """Where ``one`` and ``other`` cross for n > 0: ``measured`` when inside the sizes both
    were measured at (``measured`` overrides: the sizes of the ladder), ``extrapolated``
    outside them, ``never`` when the lines do not cross for n > 0 (parallel, or one is
    cheaper everywhere). Slopes within ``rtol`` of each other (relative) count as parallel
    (``FITTED_SLOPE_RTOL`` for lines from ``fit_line``)."""
    lo_hi = sorted(measured) if measured else sorted(set(one.sizes) & set(other.sizes))
    if not lo_hi:
        lo_hi = sorted(set(one.sizes) | set(other.sizes))
    lo, hi = lo_hi[0], lo_hi[-1]
    dfixed = other.fixed - one.fixed
    dslope = one.per_unit - other.per_unit
    tolerance = rtol * max(abs(one.per_unit), abs(other.per_unit), 1e-300)
    if abs(dslope) <= tolerance:
        if dfixed == 0:
            return Crossover("never", None, None, None)
        return Crossover("never", None, None, "one" if dfixed > 0 else "other")
    rows = dfixed / dslope
    after: Literal["one", "other"] = "other" if dslope > 0 else "one"
    if rows <= 0:
        return Crossover("never", None, None, after)
    kind: CrossKind = "measured" if lo <= rows <= hi else "extrapolated"
    return Crossover(kind, rows, rows / hi, after)


def solve_for(fit: LineFit, value: float) -> float | None:
    """The size at which the line reaches ``value`` (None if it never does for n > 0)."""
    if fit.per_unit <= 0:
        return None
    n = (value - fit.fixed) / fit.per_unit
    return n if n > 0 else None
