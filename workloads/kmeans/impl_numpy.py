"""k-means on NumPy: BLAS distances in blocks, bincount sums, timed per iteration."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads.logreg.impl_numpy import iteration_metrics

if TYPE_CHECKING:
    import numpy as np

#: Rows per block: the block's n x k distance matrix stays in cache-friendly megabytes.
BLOCK = 1 << 16
#: Safety factor on the rounding bound of the expanded distance formula (see ``_labels``).
SLACK = 16.0


def _labels(
    x: np.ndarray, xs: np.ndarray, xx: np.ndarray, centroids: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Nearest centroid of every point of one block, agreeing with the reference bit for bit.

    Distances come from ``|x|^2 - 2 x.c + |c|^2`` on shifted data (one BLAS product). Its
    rounding error is below ``bound``, so where the best two distances are farther apart the
    argmin is the true one; the few rows closer than that are decided again on direct
    differences by the reference's own ``assign`` (same ties, lowest index).
    """
    import numpy as np

    from workloads.kmeans import assign

    cs = centroids - shift
    cc = np.einsum("ij,ij->i", cs, cs)
    dist = xs @ cs.T
    dist *= -2.0
    dist += xx[:, None]
    dist += cc
    labels = dist.argmin(axis=1)
    if len(centroids) < 2:
        return labels
    rows = np.arange(len(x))
    best = dist[rows, labels]
    dist[rows, labels] = np.inf
    gap = dist.min(axis=1) - best
    eps = np.finfo(np.float64).eps
    reach = np.sqrt(xx) + float(np.sqrt(cc.max()))
    bound = SLACK * (x.shape[1] + 4) * eps * reach * reach
    close = gap <= bound
    if close.any():
        labels[close] = assign(x[close], centroids)[0]
    return labels


@implements("kmeans", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into a float64 array, then the documented Lloyd iterations.

    Written apart from the reference (expanded distances, bincount sums, data shifted to
    the first centroid for accuracy), so the check compares two implementations.
    """
    import numpy as np

    from workloads.kmeans import load

    x, centroids = load(list(ctx.data.inputs), ctx.params["columns"], int(ctx.params["k"]))
    tolerance = float(ctx.params["tolerance"])
    n, d = x.shape
    k = len(centroids)
    shift = centroids[0].copy()
    xs = x - shift
    xx = np.einsum("ij,ij->i", xs, xs)
    inertia, times = [], []
    for _ in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        sums = np.zeros((k, d))
        counts = np.zeros(k, dtype=np.int64)
        total = 0.0
        for a in range(0, n, BLOCK):
            b = min(n, a + BLOCK)
            labels = _labels(x[a:b], xs[a:b], xx[a:b], centroids, shift)
            diff = x[a:b] - centroids[labels]
            total += float(np.einsum("ij,ij->", diff, diff))
            counts += np.bincount(labels, minlength=k)
            for i in range(d):
                sums[:, i] += np.bincount(labels, weights=xs[a:b, i], minlength=k)
        inertia.append(total)
        filled = counts > 0
        updated = centroids.copy()
        updated[filled] = shift + sums[filled] / counts[filled, None]
        step = updated - centroids
        moved = float(np.sqrt(np.einsum("ij,ij->i", step, step)).max())
        centroids = updated
        times.append(time.perf_counter() - began)
        if tolerance > 0 and moved <= tolerance:
            break
    ctx.metrics.update(iteration_metrics(times))
    return {"centroids": centroids.tolist(), "inertia": inertia, "points": n}
