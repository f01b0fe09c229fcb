"""k-means on NumPy: on every core, row blocks each run single-threaded BLAS products for
the distances and the one-hot sums, with the minimum and the comparison in place."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads.logreg.impl_numpy import blas_threads, cores, fan_out, iteration_metrics, spans

if TYPE_CHECKING:
    import numpy as np

#: Points per block: the block's k x BLOCK distances and one-hot matrix (1 MiB each at
#: k = 8) stay in cache between the passes over them (measured at small: faster than 8192,
#: which pays more per-call overhead, and than 65536).
BLOCK = 1 << 14
#: Safety factor on the rounding bound of the expanded distance formula (see ``_onehot``).
SLACK = 16.0
#: The inertia comes from the expanded distances when their rounding bound is at most this
#: share of it (the check allows 1e-6), else from direct differences like the reference's.
EXACT = 1e-9


def _weights(centroids: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, float]:
    """The k x (d + 1) matrix ``[-2 c, |c|^2]`` of the shifted centroids and their largest
    norm: times a point's column ``[x, 1]`` it gives ``|c|^2 - 2 x.c``, its squared distance
    to ``c`` minus ``|x|^2`` (the same for every centroid, so the argmin needs no ``|x|^2``)."""
    import numpy as np

    cs = centroids - shift
    k, d = cs.shape
    weights = np.empty((k, d + 1))
    np.multiply(cs, -2.0, out=weights[:, :d])
    np.einsum("ij,ij->i", cs, cs, out=weights[:, d])
    return weights, math.sqrt(float(weights[:, d].max()))


def _bound(d: int, reach: float) -> float:
    """Bound on the rounding error of a gap between two expanded distances, where ``reach``
    bounds ``|x| + |c|`` of the shifted data (with ``SLACK`` to spare)."""
    import numpy as np

    return SLACK * (d + 4) * float(np.finfo(np.float64).eps) * reach * reach


def _onehot(
    x: np.ndarray,
    xa: np.ndarray,
    weights: np.ndarray,
    centroids: np.ndarray,
    bound: float,
    out: np.ndarray,
    mask: np.ndarray,
    least: np.ndarray,
) -> float:
    """Nearest centroid of every point of one block as a k x m one-hot matrix in ``out``,
    agreeing with the reference bit for bit; returns the sum of the least expanded distances.

    ``x`` holds the block's m points (m x d), ``xa`` the same points shifted, as columns with
    a 1 appended ((d + 1) x m); ``mask`` (k x m bool) and ``least`` (m) are scratch. The
    expanded distances (one BLAS product) are off by less than ``bound``, so a point whose
    best two are farther apart has the true argmin as its only entry within ``bound`` of the
    minimum; a point with two or more such entries (a tie or a near tie) is decided again on
    direct differences by the reference's own ``assign`` (same ties: the lowest index).
    """
    import numpy as np

    from workloads.kmeans import assign

    np.matmul(weights, xa, out=out)
    np.minimum.reduce(out, axis=0, out=least)
    total = float(least.sum())
    least += bound
    within = np.less_equal(out, least, out=mask).view(np.uint8)
    # Every point has its minimum within: more entries than points means a near tie.
    if np.count_nonzero(within) != len(least):
        hits = np.add.reduce(within, axis=0, dtype=np.uint8 if len(out) < 256 else np.intp)
        close = np.flatnonzero(hits != 1)
        within[:, close] = 0
        within[assign(x[close], centroids)[0], close] = 1
    # Compare into bytes, then widen to 0.0/1.0: numpy casts uint8 to float quickly, bool
    # to float slowly.
    np.copyto(out, within)
    return total


class _Points:
    """One thread's share of the points: its blocks (shifted coordinates with a row of ones,
    the points as given, their squared norms' sum and largest norm) and scratch arrays."""

    def __init__(
        self, x: np.ndarray, shift: np.ndarray, k: int, blocks: list[tuple[int, int]]
    ) -> None:
        import numpy as np

        d = x.shape[1]
        longest = max(b - a for a, b in blocks)
        self.onehot, self.mask = np.empty(k * longest), np.empty(k * longest, dtype=bool)
        self.least, self.own = np.empty(longest), np.empty((d, longest))
        self.sums, self.part = np.zeros((k, d + 1)), np.empty((k, d + 1))
        self.blocks = []
        for a, b in blocks:
            # Coordinates as rows, so every per-block operand is contiguous.
            xa = np.empty((d + 1, b - a))
            np.subtract(x[a:b].T, shift[:, None], out=xa[:d])
            xa[d] = 1.0
            norms = np.einsum("ij,ij->j", xa[:d], xa[:d])
            reach = math.sqrt(float(norms.max()))
            self.blocks.append((x[a:b], xa, float(norms.sum()), reach))

    def _block(
        self, i: int, weights: np.ndarray, centroids: np.ndarray, reach_c: float
    ) -> tuple[np.ndarray, float, float]:
        """Block ``i``'s one-hot matrix, its inertia from expanded distances, and the
        rounding bound of that inertia."""
        x, xa, norms, reach = self.blocks[i]
        k, m = len(centroids), len(x)
        bound = _bound(x.shape[1], reach + reach_c)
        onehot = self.onehot[: k * m].reshape(k, m)
        mask = self.mask[: k * m].reshape(k, m)
        least = _onehot(x, xa, weights, centroids, bound, onehot, mask, self.least[:m])
        return onehot, least + norms, m * bound

    def step(
        self, weights: np.ndarray, centroids: np.ndarray, reach_c: float
    ) -> tuple[float, float]:
        """Per-centroid sums of the shifted points and counts into ``sums``; the inertia from
        expanded distances and its rounding bound."""
        import numpy as np

        inertia = error = 0.0
        self.sums[:] = 0.0
        for i in range(len(self.blocks)):
            onehot, part, bound = self._block(i, weights, centroids, reach_c)
            inertia, error = inertia + part, error + bound
            # One k x m x (d + 1) product: on L2-sized blocks OpenBLAS runs it faster than
            # d + 1 matrix-vector products.
            np.matmul(onehot, self.blocks[i][1].T, out=self.part)
            self.sums += self.part
        return inertia, error

    def direct_inertia(self, weights: np.ndarray, centroids: np.ndarray, reach_c: float) -> float:
        """The inertia from the reference's direct differences (the same assignment)."""
        import numpy as np

        total = 0.0
        coordinates = np.ascontiguousarray(centroids.T)
        for i in range(len(self.blocks)):
            onehot = self._block(i, weights, centroids, reach_c)[0]
            x, m = self.blocks[i][0], onehot.shape[1]
            own = self.own[:, :m]
            # Exact: one 1.0 per column picks the centroid's coordinate, the rest add 0.
            np.matmul(coordinates, onehot, out=own)
            own -= x.T
            total += float(np.einsum("ij,ij->", own, own))
        return total


def _labels(
    x: np.ndarray, xs: np.ndarray, xx: np.ndarray, centroids: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Nearest centroid of every point (ties: the lowest index), as the engine decides it:
    ``xs`` is ``x - shift`` and ``xx`` its squared row norms (only the largest matters)."""
    import numpy as np

    xa = np.vstack([xs.T, np.ones(len(xs))])
    weights, reach_c = _weights(centroids, shift)
    bound = _bound(x.shape[1], math.sqrt(float(xx.max())) + reach_c)
    shape = (len(centroids), len(x))
    onehot = np.empty(shape)
    _onehot(x, xa, weights, centroids, bound, onehot, np.empty(shape, bool), np.empty(len(x)))
    return onehot.argmax(axis=0)


def train(
    x: np.ndarray,
    initial: np.ndarray,
    iterations: int,
    tolerance: float,
    workers: int,
    block: int = BLOCK,
) -> tuple[dict[str, Any], list[float]]:
    """The documented Lloyd iterations over ``workers`` threads of point blocks: the answer
    and the time of every iteration."""
    import numpy as np

    n, d = x.shape
    centroids = np.array(initial, dtype=np.float64)
    k = len(centroids)
    shift = centroids[0].copy()
    parts = [_Points(x, shift, k, blocks) for blocks in spans(n, workers, block)]
    inertia, times = [], []
    pool = ThreadPoolExecutor(len(parts) - 1) if len(parts) > 1 else None
    try:
        with blas_threads(1):
            for _ in range(iterations):
                began = time.perf_counter()
                weights, reach_c = _weights(centroids, shift)
                found = fan_out(pool, methodcaller("step", weights, centroids, reach_c), parts)
                total = sum(part for part, _ in found)
                if not sum(error for _, error in found) <= EXACT * total:
                    direct = methodcaller("direct_inertia", weights, centroids, reach_c)
                    total = sum(fan_out(pool, direct, parts))
                inertia.append(total)
                sums = parts[0].sums.copy()
                for part in parts[1:]:
                    sums += part.sums
                counts = sums[:, d]
                filled = counts > 0
                updated = centroids.copy()
                updated[filled] = shift + sums[filled, :d] / counts[filled, None]
                step = updated - centroids
                moved = float(np.sqrt(np.einsum("ij,ij->i", step, step)).max())
                centroids = updated
                times.append(time.perf_counter() - began)
                if tolerance > 0 and moved <= tolerance:
                    break
    finally:
        if pool is not None:
            pool.shutdown()
    return {"centroids": centroids.tolist(), "inertia": inertia, "points": n}, times


@implements("kmeans", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into a float64 array, then the documented Lloyd iterations on every core.

    Written apart from the reference (expanded distances on data shifted to the first
    centroid for accuracy, the inertia from them when their rounding bound allows, a one-hot
    assignment matrix whose BLAS product gives the sums and counts), so the check compares
    two implementations.
    """
    from workloads.kmeans import load

    x, centroids = load(list(ctx.data.inputs), ctx.params["columns"], int(ctx.params["k"]))
    answer, times = train(
        x, centroids, int(ctx.params["iterations"]), float(ctx.params["tolerance"]), cores()
    )
    ctx.metrics.update(iteration_metrics(times))
    return answer
