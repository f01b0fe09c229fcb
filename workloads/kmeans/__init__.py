"""k-means clustering by Lloyd's algorithm, the same algorithm everywhere.

Semantics (every implementation computes exactly this, in float64):

* Input: CSV files with a header row. The point columns are the parameter ``columns``: column
  names separated by ``+`` or ``,`` (``lat+lon``; the CLI splits ``--param`` values at commas
  into a sweep, so write ``+`` there); the empty string (the default) means every column of the
  first file. Other columns are ignored. ``n`` points of dimension ``d``, in file order (files
  in the given order).
* Initial centroids: the first ``k`` (default 8) *distinct* points in file order (points that
  compare equal coordinate by coordinate are the same point, so ``-0.0`` equals ``0.0``).
  Fewer than ``k`` distinct points is an error.
* For ``t = 1 .. iterations`` (default 10): every point is assigned to its nearest centroid by
  squared Euclidean distance (a tie goes to the lowest centroid index); the iteration's
  inertia is the sum over the points of the squared distance to the assigned centroid, at the
  centroids *before* the update; then every centroid becomes the mean of its points, and a
  centroid without points keeps its previous place.
* Early stop: with ``tolerance`` > 0, the loop ends after an iteration in which no centroid
  moved (Euclidean distance between its old and new place) by more than ``tolerance``. The
  default 0.0 never stops early: exactly ``iterations`` iterations run.
* Answer: ``{"centroids": k x d final centroids, "inertia": one value per iteration run,
  "points": n}``. Engines sum in different orders, so the check allows a relative difference
  of ``RTOL`` (1e-6) per value (absolute ``ATOL`` 1e-9 near zero); a point exactly as far from
  two centroids may then land in either only when the engines' distances differ in the last
  bits, which moves nothing beyond that tolerance.

Generated data: pickup-like latitude/longitude points (columns ``lat,lon``) in a city-sized
box around New York (the classic Spark k-means demo on Uber pickups): Gaussian blobs around
``CENTRES`` seeded centres with different spreads and weights, plus ``NOISE`` uniform noise.

Bad input (a missing column, non-numeric values, NaN or empty cells, no rows, fewer distinct
points than ``k``) is one clear error before any run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.registry import CheckResult, Workload, register_workload
from workloads._numeric import finite_values, first_difference, tolerant_digest

if TYPE_CHECKING:
    import numpy as np

    from harness.datasets import Dataset

#: Generated data: number of blobs, the box (degrees) and the share of uniform noise.
CENTRES = 12
LAT_RANGE = (40.58, 40.88)
LON_RANGE = (-74.06, -73.74)
NOISE = 0.02
RTOL = 1e-6
ATOL = 1e-9
DEFAULT_PARAMS: dict[str, Any] = {"k": 8, "iterations": 10, "tolerance": 0.0, "columns": ""}


def column_names(columns: str) -> list[str]:
    """The names in a ``columns`` parameter (``+`` or ``,`` separated); empty = all."""
    return [c.strip() for c in re.split(r"[+,]", columns) if c.strip()]


def check_params(params: Mapping[str, Any]) -> None:
    """One clear error for a bad parameter value."""
    k = params.get("k")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100_000:
        raise UserError("kmeans: k must be an integer from 1 to 100000")
    its = params.get("iterations")
    if not isinstance(its, int) or isinstance(its, bool) or not 1 <= its <= 100_000:
        raise UserError("kmeans: iterations must be an integer from 1 to 100000")
    tol = params.get("tolerance")
    if not isinstance(tol, int | float) or isinstance(tol, bool) or not 0 <= tol < math.inf:
        raise UserError("kmeans: tolerance must be a finite number >= 0")
    columns = params.get("columns")
    if not isinstance(columns, str):
        raise UserError("kmeans: columns must be column names separated by '+' (or empty)")
    names = column_names(columns)
    if len(set(names)) != len(names):
        raise UserError(f"kmeans: columns names a column twice: {columns!r}")


def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """``size`` pickup-like (lat, lon) points around seeded centres, as ``points.csv``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    low = np.array([LAT_RANGE[0], LON_RANGE[0]])
    high = np.array([LAT_RANGE[1], LON_RANGE[1]])
    # Blobs inside the inner part of the box; spreads from a few blocks to a borough.
    centres = low + (high - low) * rng.uniform(0.15, 0.85, size=(CENTRES, 2))
    spreads = rng.uniform(0.004, 0.03, size=CENTRES)
    weights = rng.dirichlet(np.full(CENTRES, 1.5))
    path = folder / "points.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("lat,lon\n")
        for start in range(0, size, 200_000):
            n = min(200_000, size - start)
            blob = rng.choice(CENTRES, size=n, p=weights)
            points = centres[blob] + rng.normal(size=(n, 2)) * spreads[blob, None]
            noise = rng.random(n) < NOISE
            points[noise] = rng.uniform(low, high, size=(int(noise.sum()), 2))
            np.savetxt(out, points, delimiter=",", fmt="%.17g")
    return {"files": [path.name], "points": size, "columns": ["lat", "lon"]}


def _read(path: Path, columns: list[str]) -> tuple[list[str], Any]:
    """The header of ``path`` and its frame restricted to ``columns`` (all when empty)."""
    import pandas as pd

    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        wanted = columns or header
        missing = [c for c in wanted if c not in header]
        if missing:
            raise UserError(
                f"kmeans: {path.name} has no column {missing[0]!r} (columns: {', '.join(header)})"
            )
        frame = pd.read_csv(path, usecols=wanted)[wanted]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"kmeans: cannot parse {path.name}: {first}") from exc
    return wanted, frame


def load_points(paths: list[Path], columns: str) -> np.ndarray:
    """The points (n x d float64) of a CSV input, validated."""
    import numpy as np

    names = column_names(columns)
    blocks = []
    for path in paths:
        names, frame = _read(path, names)
        blocks.append(finite_values(frame, f"kmeans: {path.name}"))
    if not names:
        raise UserError("kmeans: the input has no column")
    points = np.concatenate(blocks) if blocks else np.empty((0, len(names)))
    if len(points) == 0:
        raise UserError("kmeans: the input has no rows")
    return points


def initial_centroids(x: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` distinct points of ``x`` in order (k x d), or a UserError."""
    import numpy as np

    # Adding 0.0 turns -0.0 into 0.0, so byte-wise uniqueness is numeric equality.
    # Look at a growing prefix: real data has its first k points distinct.
    m = min(len(x), 4 * k)
    while True:
        prefix = x[:m] + 0.0
        _, first = np.unique(prefix, axis=0, return_index=True)
        if len(first) >= k:
            return x[np.sort(first)[:k]].copy()
        if m == len(x):
            raise UserError(
                f"kmeans: k = {k} larger than the number of distinct points ({len(first)})"
            )
        m = min(len(x), 4 * m)


def load(paths: list[Path], columns: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of a CSV input and the ``k`` initial centroids, validated."""
    x = load_points(paths, columns)
    return x, initial_centroids(x, k)


def squared_distances(x: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row of ``x`` to one centroid, summed over the
    coordinates in order (so a row's value never depends on the other rows)."""
    import numpy as np

    total = np.zeros(len(x))
    for i in range(x.shape[1]):
        diff = x[:, i] - centroid[i]
        total += diff * diff
    return total


def assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centroid of every point (ties: the lowest index) and its
    squared distance, from direct differences."""
    import numpy as np

    best = np.full(len(x), np.inf)
    labels = np.zeros(len(x), dtype=np.int64)
    for j, centroid in enumerate(centroids):
        dist = squared_distances(x, centroid)
        closer = dist < best  # strict: an equal distance keeps the lower index
        best[closer] = dist[closer]
        labels[closer] = j
    return labels, best


def train(x: np.ndarray, initial: np.ndarray, iterations: int, tolerance: float) -> dict[str, Any]:
    """The documented algorithm, plainly (the reference)."""
    import numpy as np

    centroids = np.array(initial, dtype=np.float64)
    inertia = []
    for _ in range(iterations):
        labels, dist = assign(x, centroids)
        inertia.append(float(dist.sum()))
        updated = centroids.copy()
        for j in range(len(centroids)):
            members = x[labels == j]
            if len(members):
                updated[j] = members.mean(axis=0)
        moved = float(np.sqrt(((updated - centroids) ** 2).sum(axis=1)).max())
        centroids = updated
        if tolerance > 0 and moved <= tolerance:
            break
    return {"centroids": centroids.tolist(), "inertia": inertia}


def reference(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Load and validate the input, then train (never timed; cached)."""
    check_params(params)
    x, initial = load(list(data.inputs), params["columns"], params["k"])
    answer = train(x, initial, params["iterations"], float(params["tolerance"]))
    answer["points"] = len(x)
    return answer


def check(answer: Any, expected: Mapping[str, Any]) -> CheckResult:
    """Centroids and inertias within ``RTOL`` of the reference, value by value."""
    if not isinstance(answer, Mapping) or "centroids" not in answer or "inertia" not in answer:
        return CheckResult(False, "answer is not {'centroids': [[...], ...], 'inertia': [...]}")
    for key in ("centroids", "inertia"):
        difference = first_difference(key, answer[key], expected[key], RTOL, ATOL)
        if difference is not None:
            return CheckResult(False, difference)
    return CheckResult(
        True,
        f"{len(expected['centroids'])} centroids and {len(expected['inertia'])} inertias within "
        f"rtol {RTOL:g}; final inertia {expected['inertia'][-1]:.6g}",
    )


def digest(answer: Mapping[str, Any]) -> str:
    """SHA-256 of the centroids and inertias rounded to 9 significant digits (tolerant to
    summation order, like the check)."""
    return tolerant_digest(answer, ("centroids", "inertia"))


def _to_json(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "centroids": [[float(v) for v in row] for row in answer["centroids"]],
        "inertia": [float(v) for v in answer["inertia"]],
        **{k: v for k, v in answer.items() if k not in ("centroids", "inertia")},
    }


KMEANS = register_workload(
    Workload(
        name="kmeans",
        version="1",
        description="k-means clustering by Lloyd's algorithm (centroids, inertia per iteration)",
        scale_sizes={"tiny": 2_000, "small": 200_000, "medium": 2_000_000, "large": 20_000_000},
        unit="point-iterations",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        to_json=_to_json,
        from_json=lambda data: data,
        # Throughput: points x iterations run per second.
        items=lambda expected: int(expected["points"]) * len(expected["inertia"]),
        params=DEFAULT_PARAMS,
        check_params=check_params,
    )
)

from workloads.kmeans import impl_numpy  # noqa: E402, F401
