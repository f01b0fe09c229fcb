"""k-means on NumPy: BLAS distances and one-hot sums in blocks, timed per iteration."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads.logreg.impl_numpy import iteration_metrics

if TYPE_CHECKING:
    import numpy as np

#: Points per block: the block's k x BLOCK distance matrix (4 MiB at k = 8) stays in the L3
#: cache between the passes over it; smaller blocks fit L2 but pay more per-call overhead.
BLOCK = 1 << 16
#: Safety factor on the rounding bound of the expanded distance formula (see ``_onehot``).
SLACK = 16.0


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
) -> np.ndarray:
    """Nearest centroid of every point of one block as a k x m one-hot matrix in ``out``,
    agreeing with the reference bit for bit.

    ``x`` holds the block's m points (m x d), ``xa`` the same points shifted, as columns with
    a 1 appended ((d + 1) x m); ``mask`` is a k x m bool scratch array. The expanded
    distances (one BLAS product) are off by less than ``bound``, so a point whose best two
    are farther apart has the true argmin as its only entry within ``bound`` of the minimum;
    a point with two or more such entries (a tie or a near tie) is decided again on direct
    differences by the reference's own ``assign`` (same ties: the lowest index).
    """
    import numpy as np

    from workloads.kmeans import assign

    np.matmul(weights, xa, out=out)
    threshold = np.minimum.reduce(out, axis=0)
    threshold += bound
    # Compare into bytes, count them, then widen to 0.0/1.0: faster than comparing into
    # floats (numpy casts bool to float slowly, uint8 quickly) and summing floats.
    within = np.less_equal(out, threshold, out=mask).view(np.uint8)
    hits = np.add.reduce(within, axis=0, dtype=np.uint8 if len(out) < 256 else np.intp)
    np.copyto(out, within)
    close = np.flatnonzero(hits != 1)
    if len(close):
        labels = assign(x[close], centroids)[0]
        out[:, close] = 0.0
        out[labels, close] = 1.0
    return out


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
    onehot = _onehot(x, xa, weights, centroids, bound, np.empty(shape), np.empty(shape, bool))
    return onehot.argmax(axis=0)


@implements("kmeans", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into a float64 array, then the documented Lloyd iterations.

    Written apart from the reference (expanded distances on data shifted to the first
    centroid for accuracy, a one-hot assignment matrix whose BLAS products give the sums,
    counts and each point's centroid), so the check compares two implementations.
    """
    import numpy as np

    from workloads.kmeans import load

    x, centroids = load(list(ctx.data.inputs), ctx.params["columns"], int(ctx.params["k"]))
    tolerance = float(ctx.params["tolerance"])
    n, d = x.shape
    k = len(centroids)
    shift = centroids[0].copy()
    # Coordinates as rows, so every per-block operand is contiguous: the shifted points
    # with a row of ones (its product with the one-hot matrix counts the points), and the
    # points as given (the inertia takes the reference's differences).
    xa = np.empty((d + 1, n))
    np.subtract(x.T, shift[:, None], out=xa[:d])
    xa[d] = 1.0
    xt = np.ascontiguousarray(x.T)
    norms = np.sqrt(np.einsum("ij,ij->j", xa[:d], xa[:d]))
    blocks = [(a, min(n, a + BLOCK)) for a in range(0, n, BLOCK)]
    reach = [float(norms[a:b].max()) for a, b in blocks]
    onehot_buf = np.empty(k * min(n, BLOCK))
    mask_buf = np.empty(k * min(n, BLOCK), dtype=bool)
    own_buf = np.empty(min(n, BLOCK))
    inertia, times = [], []
    for _ in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        weights, reach_c = _weights(centroids, shift)
        sums = np.zeros((d + 1, k))  # sums of the shifted coordinates, then the counts
        total = 0.0
        for (a, b), reach_x in zip(blocks, reach, strict=True):
            m = b - a
            onehot = _onehot(
                x[a:b],
                xa[:, a:b],
                weights,
                centroids,
                _bound(d, reach_x + reach_c),
                onehot_buf[: k * m].reshape(k, m),
                mask_buf[: k * m].reshape(k, m),
            )
            # Matrix-vector products: OpenBLAS runs these faster than one k x m x (d + 1)
            # product of this thin shape.
            for i in range(d + 1):
                sums[i] += onehot @ xa[i, a:b]
            own = own_buf[:m]
            for i in range(d):
                # Exact: one 1.0 per column picks the centroid's coordinate, the rest add 0.
                np.matmul(centroids[:, i], onehot, out=own)
                own -= xt[i, a:b]
                total += float(own @ own)
        inertia.append(total)
        counts = sums[d]
        filled = counts > 0
        updated = centroids.copy()
        updated[filled] = shift + (sums[:d, filled] / counts[filled]).T
        step = updated - centroids
        moved = float(np.sqrt(np.einsum("ij,ij->i", step, step)).max())
        centroids = updated
        times.append(time.perf_counter() - began)
        if tolerance > 0 and moved <= tolerance:
            break
    ctx.metrics.update(iteration_metrics(times))
    return {"centroids": centroids.tolist(), "inertia": inertia, "points": n}
