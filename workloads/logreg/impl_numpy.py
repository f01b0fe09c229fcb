"""Logistic regression on NumPy: threads held one to a core share row blocks of the features
signed by the label, each block a single-threaded BLAS matrix-vector product, one exp, one
division and one log in place, and the gradient's product."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads._iterative import (
    blas_threads,
    blocks,
    cores,
    iteration_metrics,
    one_cpu_each,
    share,
)

if TYPE_CHECKING:
    import numpy as np

#: Rows per block, at most: a block's features (5 MiB at most, 10 columns) stay in the L3
#: cache from the first product to the second. Measured at small on 2 cores (4 blocks of
#: 50,000 rows): a little faster than 2^15, and 2^14 is slower still (every call pays its
#: overhead and may wait for the GIL).
BLOCK = 1 << 16


class _Rows:
    """The rows in blocks, each block's features times the rows' signs ``s = 1 - 2 y``
    (column-major, the rows with ``s = 1`` first); each block's partial sums, and a scratch
    vector for each thread."""

    def __init__(
        self, x: np.ndarray, s: np.ndarray, bounds: list[tuple[int, int]], threads: int
    ) -> None:
        import numpy as np

        longest = max(b - a for a, b in bounds)
        self.scratch = [np.empty(longest) for _ in range(threads)]
        self.logs = np.zeros(len(bounds))
        self.grads = np.zeros((len(bounds), x.shape[1] + 1))
        self.blocks = []
        # No column for the intercept (s): the two products read X from memory, and one
        # more column of 10 made the iteration slower (measured at small, 2 cores) than
        # the two cheap passes below that put the bias in and take its sum out. With the
        # +1 rows first, those passes are scalar operations on two slices.
        for a, b in bounds:
            positive = s[a:b] > 0
            signed = np.concatenate([x[a:b][positive], -x[a:b][~positive]])
            self.blocks.append((np.asfortranarray(signed), int(positive.sum())))

    def _exponent(self, i: int, worker: int, minus_w: np.ndarray) -> np.ndarray:
        """``-v`` of block ``i`` in the worker's scratch, where ``v = s z`` is the margin
        signed by the label and ``minus_w`` is ``-[w, bias]``."""
        import numpy as np

        xs, k = self.blocks[i]
        e = self.scratch[worker][: len(xs)]
        # np.dot, not np.matmul: numpy's matmul keeps the GIL when its output is small (the
        # gradient's d values), which serialises the threads; np.dot lets it go.
        np.dot(xs, minus_w[:-1], out=e)
        e[:k] += minus_w[-1]
        e[k:] -= minus_w[-1]
        return e

    def block(self, i: int, worker: int, minus_w: np.ndarray) -> None:
        """Block ``i``'s ``sum(log(1 + exp(-v)))`` and ``[s X, s]^T p`` with
        ``p = sigmoid(v)``, into its slots."""
        import numpy as np

        xs, k = self.blocks[i]
        grad = self.grads[i]
        e = self._exponent(i, worker, minus_w)
        with np.errstate(over="ignore", divide="ignore"):
            np.exp(e, out=e)
            e += 1.0
            # p = 1 / (1 + exp(-v)), exactly 0 where exp(-v) overflowed.
            np.divide(1.0, e, out=e)
            np.dot(xs.T, e, out=grad[:-1])
            grad[-1] = float(e[:k].sum()) - float(e[k:].sum())
            # log(1 + exp(-v)) = -log(p), then p is no longer needed: one scratch vector.
            np.log(e, out=e)
        logs = -float(e.sum())
        if not math.isfinite(logs):
            # exp(-v) overflowed (v < -709): this block's sum again, stably.
            e = self._exponent(i, worker, minus_w)
            logs = float(np.logaddexp(0.0, e, out=e).sum())
        self.logs[i] = logs


def train(
    y: np.ndarray,
    x: np.ndarray,
    iterations: int,
    rate: float,
    workers: int,
    block: int = BLOCK,
) -> tuple[dict[str, Any], list[float]]:
    """The documented gradient descent over row blocks shared by ``workers`` threads (each
    held to a CPU of its own): the answer and the time of every iteration."""
    import numpy as np

    n, d = x.shape
    # With s = 1 - 2 y and the margin v = s z, the point's loss log(1 + exp(z)) - y z is
    # v + log(1 + exp(-v)) and sigmoid(z) - y = s sigmoid(v); sum(v) = [s @ X, sum(s)] w
    # needs no pass over the rows.
    s = 1.0 - 2.0 * y
    s_x = np.append(s @ x, s.sum())
    bounds = blocks(n, block, workers)
    helpers = max(0, min(workers, len(bounds)) - 1)
    rows = _Rows(x, s, bounds, helpers + 1)
    w = np.zeros(d + 1)  # the intercept last
    losses, times = [], []
    with one_cpu_each(helpers + 1) as hold, blas_threads(1):
        pool = ThreadPoolExecutor(helpers, initializer=hold) if helpers else None
        try:
            for _ in range(iterations):
                began = time.perf_counter()
                share(pool, helpers, partial(rows.block, minus_w=-w), len(bounds))
                # Summed in block order, whichever thread did which block.
                losses.append((float(s_x @ w) + float(rows.logs.sum())) / n)
                w -= (rate / n) * rows.grads.sum(axis=0)
                times.append(time.perf_counter() - began)
        finally:
            if pool is not None:
                pool.shutdown()
    return {"weights": [float(w[-1]), *w[:-1].tolist()], "loss": losses}, times


@implements("logreg", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into float64 arrays, then the documented gradient descent on every core.

    Written apart from the reference (no design matrix: the rows signed by their label, so
    that the loss and the sigmoid come from one ``exp`` of the signed margin, the intercept
    apart; the margins' sum from a constant vector), so the check compares two
    implementations, not one with itself.
    """
    from workloads.logreg import load

    y, x = load(list(ctx.data.inputs), ctx.params["label"])
    answer, times = train(
        y, x, int(ctx.params["iterations"]), float(ctx.params["learning_rate"]), cores()
    )
    ctx.metrics.update(iteration_metrics(times))
    return answer
