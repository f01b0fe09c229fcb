"""k-means on NumPy: threads held one to a core share point blocks, each block single-threaded
BLAS products for the distances and the one-hot sums, with the minimum and the comparison in
place."""

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

#: Points per block, at most: the block's k x BLOCK distances and one-hot matrix (at most
#: 2 MiB each at k = 8) stay in the L3 cache between the passes over them. Measured at small
#: on 2 cores (8 blocks of 25,000 points): faster than 2^14 (more calls, each of which may
#: wait for the GIL) and than 2^16.
BLOCK = 1 << 15
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
    sums: np.ndarray,
) -> float:
    """Nearest centroid of every point of one block as a k x m one-hot matrix in ``out``,
    agreeing with the reference bit for bit, and ``out @ xa.T`` (the per-centroid sums of the
    shifted points and, last, their counts) in ``sums``; returns the sum of the least
    expanded distances.

    ``x`` holds the block's m points (m x d), ``xa`` the same points shifted, as columns with
    a 1 appended ((d + 1) x m); ``mask`` (k x m bool) and ``least`` (m) are scratch. The
    expanded distances (one BLAS product) are off by less than ``bound``, so a point whose
    best two are farther apart has the true argmin as its only entry within ``bound`` of the
    minimum; a point with two or more such entries (a tie or a near tie) is decided again on
    direct differences by the reference's own ``assign`` (same ties: the lowest index).
    """
    import numpy as np

    from workloads.kmeans import assign

    np.dot(weights, xa, out=out)
    np.minimum.reduce(out, axis=0, out=least)
    total = float(least.sum())
    least += bound
    within = np.less_equal(out, least, out=mask).view(np.uint8)
    # Compare into bytes, then widen to 0.0/1.0: numpy casts uint8 to float quickly, bool
    # to float slowly.
    np.copyto(out, within)
    # One k x m x (d + 1) product: on cache-sized blocks OpenBLAS runs it faster than d + 1
    # matrix-vector products. np.dot, not np.matmul: numpy's matmul keeps the GIL when its
    # output is small (these k x (d + 1) values), which serialises the threads.
    np.dot(out, xa.T, out=sums)
    # Every point has its minimum within, so the counts add up to more than m exactly when
    # some point has a near tie: no pass over the mask to find out.
    if float(sums[:, -1].sum()) != len(least):
        hits = np.add.reduce(within, axis=0, dtype=np.uint8 if len(out) < 256 else np.intp)
        close = np.flatnonzero(hits != 1)
        within[:, close] = 0
        within[assign(x[close], centroids)[0], close] = 1
        np.copyto(out, within)
        np.dot(out, xa.T, out=sums)
    return total


class _Points:
    """The points in blocks (shifted coordinates with a row of ones, the points as given,
    their squared norms' sum and largest norm), each block's sums and inertia, and scratch
    arrays for each thread."""

    def __init__(
        self,
        x: np.ndarray,
        shift: np.ndarray,
        k: int,
        bounds: list[tuple[int, int]],
        threads: int,
    ) -> None:
        import numpy as np

        d = x.shape[1]
        longest = max(b - a for a, b in bounds)
        self.scratch = [
            (np.empty(k * longest), np.empty(k * longest, dtype=bool), np.empty(longest))
            for _ in range(threads)
        ]
        self.sums = np.zeros((len(bounds), k, d + 1))
        self.inertia, self.error = np.zeros(len(bounds)), np.zeros(len(bounds))
        self.blocks = []
        for a, b in bounds:
            # Coordinates as rows, so every per-block operand is contiguous.
            xa = np.empty((d + 1, b - a))
            np.subtract(x[a:b].T, shift[:, None], out=xa[:d])
            xa[d] = 1.0
            norms = np.einsum("ij,ij->j", xa[:d], xa[:d])
            reach = math.sqrt(float(norms.max()))
            self.blocks.append((x[a:b], xa, float(norms.sum()), reach))

    def _onehot(
        self, i: int, worker: int, weights: np.ndarray, centroids: np.ndarray, reach_c: float
    ) -> tuple[np.ndarray, float, float]:
        """Block ``i``'s one-hot matrix (in the worker's scratch) and its sums (into their
        slot); its inertia from expanded distances, and the rounding bound of that inertia."""
        x, xa, norms, reach = self.blocks[i]
        k, m = len(centroids), len(x)
        out, mask, least = self.scratch[worker]
        bound = _bound(x.shape[1], reach + reach_c)
        onehot = out[: k * m].reshape(k, m)
        total = _onehot(
            x,
            xa,
            weights,
            centroids,
            bound,
            onehot,
            mask[: k * m].reshape(k, m),
            least[:m],
            self.sums[i],
        )
        return onehot, total + norms, m * bound

    def block(
        self, i: int, worker: int, weights: np.ndarray, centroids: np.ndarray, reach_c: float
    ) -> None:
        """Block ``i``'s per-centroid sums of the shifted points and counts, its inertia from
        expanded distances and the rounding bound of that, into their slots."""
        _, self.inertia[i], self.error[i] = self._onehot(i, worker, weights, centroids, reach_c)

    def direct_inertia(
        self, i: int, worker: int, weights: np.ndarray, centroids: np.ndarray, reach_c: float
    ) -> None:
        """Block ``i``'s inertia from the reference's direct differences (the same
        assignment), into its slot."""
        import numpy as np

        onehot = self._onehot(i, worker, weights, centroids, reach_c)[0]
        x = self.blocks[i][0]
        # Exact: one 1.0 per column picks the centroid's coordinate, the rest add 0.
        own = np.dot(np.ascontiguousarray(centroids.T), onehot)
        own -= x.T
        self.inertia[i] = float(np.einsum("ij,ij->", own, own))


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
    onehot, sums = np.empty(shape), np.empty((len(centroids), x.shape[1] + 1))
    mask, least = np.empty(shape, bool), np.empty(len(x))
    _onehot(x, xa, weights, centroids, bound, onehot, mask, least, sums)
    return onehot.argmax(axis=0)


def train(
    x: np.ndarray,
    initial: np.ndarray,
    iterations: int,
    tolerance: float,
    workers: int,
    block: int = BLOCK,
) -> tuple[dict[str, Any], list[float]]:
    """The documented Lloyd iterations over point blocks shared by ``workers`` threads (each
    held to a CPU of its own): the answer and the time of every iteration."""
    import numpy as np

    n, d = x.shape
    centroids = np.array(initial, dtype=np.float64)
    k = len(centroids)
    shift = centroids[0].copy()
    bounds = blocks(n, block, workers)
    helpers = max(0, min(workers, len(bounds)) - 1)
    points = _Points(x, shift, k, bounds, helpers + 1)
    inertia, times = [], []
    with one_cpu_each(helpers + 1) as hold, blas_threads(1):
        pool = ThreadPoolExecutor(helpers, initializer=hold) if helpers else None
        try:
            for _ in range(iterations):
                began = time.perf_counter()
                weights, reach_c = _weights(centroids, shift)
                at: dict[str, Any] = {
                    "weights": weights,
                    "centroids": centroids,
                    "reach_c": reach_c,
                }
                share(pool, helpers, partial(points.block, **at), len(bounds))
                # Summed in block order, whichever thread did which block.
                total = float(points.inertia.sum())
                if not float(points.error.sum()) <= EXACT * total:
                    share(pool, helpers, partial(points.direct_inertia, **at), len(bounds))
                    total = float(points.inertia.sum())
                inertia.append(total)
                sums = points.sums.sum(axis=0)
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
