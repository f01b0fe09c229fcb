"""Logistic regression on NumPy: BLAS matrix-vector products, timed per iteration."""

from __future__ import annotations

import statistics
import time
from typing import Any

from harness.registry import RunContext, implements


def iteration_metrics(times: list[float]) -> dict[str, Any]:
    """Cold vs warm: the first iteration's time and the median of the later ones."""
    return {
        "iteration_s": times,
        "first_iteration_s": times[0] if times else None,
        "later_iterations_median_s": statistics.median(times[1:]) if len(times) > 1 else None,
    }


@implements("logreg", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into float64 arrays, then the documented gradient descent.

    Written apart from the reference (intercept kept separate, no design matrix), so the
    check compares two implementations, not one with itself.
    """
    import numpy as np

    from workloads.logreg import load

    y, x = load(list(ctx.data.inputs), ctx.params["label"])
    rate, n = float(ctx.params["learning_rate"]), len(y)
    bias, w = 0.0, np.zeros(x.shape[1])
    losses, times = [], []
    for _ in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        z = x @ w + bias
        losses.append(float(np.mean(np.logaddexp(0.0, z) - y * z)))
        residual = 0.5 * (1.0 + np.tanh(0.5 * z)) - y
        w = w - rate * (residual @ x) / n
        bias -= rate * float(residual.sum()) / n
        times.append(time.perf_counter() - began)
    ctx.metrics.update(iteration_metrics(times))
    return {"weights": [bias, *w.tolist()], "loss": losses}
