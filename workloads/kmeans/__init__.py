"""k-means clustering by Lloyd's algorithm, the same algorithm everywhere.

Semantics (every implementation computes exactly this, in float64):

* Input: CSV files with a header row. The point columns are the parameter ``columns``: column
  names separated by ``+`` or ``,`` (``lat+lon``; the CLI splits ``--param`` values at commas
  into a sweep, so write ``+`` there); the empty string (the default) means every column of the
  first file. Other columns are ignored; every file has the first file's header. ``n`` points
  of dimension ``d``, in file order (files in the given order).
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
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.registry import CheckResult, RunContext, Workload, register_workload
from workloads._numeric import (
    ITERATIVE,
    FloatRows,
    add_float_csv,
    estimated_rows,
    finite_values,
    first_difference,
    tolerant_digest,
)

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
INERTIA_MARGIN = 0.05
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


def header(path: Path) -> list[str]:
    """The column names of a CSV file's header row, or a UserError."""
    import pandas as pd

    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"kmeans: cannot parse {path.name}: {first}") from exc


def positions(path: Path, columns: str) -> list[int]:
    """Positions of the point columns in a (validated) input's header row, for engines
    that split lines themselves."""
    names = header(path)
    return [names.index(c) for c in column_names(columns) or names]


def _read(path: Path, wanted: list[str]) -> Any:
    """The frame of ``path`` restricted to the ``wanted`` columns, in that order."""
    import pandas as pd

    try:
        return pd.read_csv(path, usecols=wanted)[wanted]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"kmeans: cannot parse {path.name}: {first}") from exc


def load_points(paths: list[Path], columns: str) -> np.ndarray:
    """The points (n x d float64) of a CSV input, validated. Every file has the first
    file's header (engines that split lines themselves find the columns by position)."""
    if not paths:
        raise UserError("kmeans: the input has no file")
    first = header(paths[0])
    wanted = column_names(columns) or first
    missing = [c for c in wanted if c not in first]
    if missing:
        raise UserError(
            f"kmeans: {paths[0].name} has no column {missing[0]!r} (columns: {', '.join(first)})"
        )
    if not wanted:
        raise UserError("kmeans: the input has no column")
    # Plain finite numbers are read piece by piece straight into the points (held once);
    # anything else takes the whole-frame path, which words what is wrong.
    rows = FloatRows([range(len(wanted))], estimated_rows(paths))
    for path in paths:
        if header(path) != first:
            raise UserError(f"kmeans: {path.name} has other columns than {paths[0].name}")
        if not add_float_csv(rows, path, first, wanted):
            rows.add(finite_values(_read(path, wanted), f"kmeans: {path.name}"))
    if rows.rows == 0:
        raise UserError("kmeans: the input has no rows")
    (points,) = rows.result()
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
    if answer.get("model") == "mllib":
        return check_quality(answer, expected)
    for key in ("centroids", "inertia"):
        difference = first_difference(key, answer[key], expected[key], RTOL, ATOL)
        if difference is not None:
            return CheckResult(False, difference)
    return CheckResult(
        True,
        f"{len(expected['centroids'])} centroids and {len(expected['inertia'])} inertias within "
        f"rtol {RTOL:g}; final inertia {expected['inertia'][-1]:.6g}",
    )


def check_quality(answer: Mapping[str, Any], expected: Mapping[str, Any]) -> CheckResult:
    """Spark ML's clustering against the reference's: final inertia at most ``INERTIA_MARGIN``
    (relative) above the reference's last inertia, with ``k`` centroids of dimension ``d``."""
    got, want = float(answer["final_inertia"]), float(expected["inertia"][-1])
    shape = [len(c) for c in answer["centroids"]]
    if shape != [len(c) for c in expected["centroids"]]:
        return CheckResult(False, f"quality check: centroid shapes {shape} differ", True)
    detail = (
        f"quality check (different initialisation): inertia {got:.6g} vs reference {want:.6g} "
        f"(margin {INERTIA_MARGIN:.0%})"
    )
    return CheckResult(got <= want * (1 + INERTIA_MARGIN), detail, by_quality=True)


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
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        to_json=_to_json,
        # Throughput: points x iterations run per second.
        items=lambda expected: int(expected["points"]) * len(expected["inertia"]),
        params=DEFAULT_PARAMS,
        check_params=check_params,
        # Measured: 7,755,862 bytes for small's 200,000 points (38.78 at x16 too).
        bytes_per_item=38.8,
        **ITERATIVE,
    )
)


def update(
    centroids: list[list[float]], sums: dict[int, list[float]]
) -> tuple[list[list[float]], float, float]:
    """New centroids from per-centroid ``[count, squared distances, coordinate sums]`` (a
    centroid without points keeps its place), the iteration's inertia and the largest move."""
    updated, moved = [], 0.0
    for j, old in enumerate(centroids):
        part = sums.get(j)
        new = [s / part[0] for s in part[2:]] if part and part[0] else list(old)
        moved = max(moved, math.dist(old, new))
        updated.append(new)
    inertia = math.fsum(part[1] for part in sums.values())
    return updated, inertia, moved


def lloyd(
    ctx: RunContext,
    centroids: list[list[float]],
    sums_of: Callable[[int, list[list[float]]], dict[int, list[float]]],
) -> dict[str, Any]:
    """The driver every engine's Lloyd iterations share: per iteration ``sums_of(step,
    centroids)`` (the engine's pass: per centroid ``[count, squared distances, coordinate
    sums]``), then ``update``; stops early once no centroid moves more than ``tolerance``.
    Records each iteration's time; returns the answer."""
    from workloads._iterative import iteration_metrics

    tolerance = float(ctx.params["tolerance"])
    inertia: list[float] = []
    times: list[float] = []
    points = 0
    for step in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        sums = sums_of(step, centroids)
        points = int(sum(part[0] for part in sums.values()))
        centroids, total, moved = update(centroids, sums)
        inertia.append(total)
        times.append(time.perf_counter() - began)
        ctx.iteration_done(len(times), times[-1])
        if tolerance > 0 and moved <= tolerance:
            break
    ctx.metrics.update(iteration_metrics(times))
    return {"centroids": centroids, "inertia": inertia, "points": points}


def first_distinct(ctx: RunContext, columns: list[int]) -> list[list[float]]:
    """The first ``k`` distinct points (the documented initialisation), read by the driver
    from the head of the input: only as many lines as it needs (the input was validated)."""
    k = int(ctx.params["k"])
    seen: dict[tuple[float, ...], None] = {}
    for path in ctx.data.inputs:
        with path.open(encoding="utf-8") as handle:
            next(handle, None)  # the header
            for line in handle:
                cells = line.split(",")
                # Adding 0.0 makes -0.0 and 0.0 one key, as numeric equality says.
                seen.setdefault(tuple(float(cells[i]) + 0.0 for i in columns), None)
                if len(seen) == k:
                    return [list(point) for point in seen]
    raise ValueError(f"fewer than {k} distinct points")  # the reference rejects this input first


from workloads.kmeans import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401
