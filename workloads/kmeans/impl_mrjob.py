"""k-means on mrjob: one MapReduce job per Lloyd iteration, driven by a loop."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements
from workloads.logreg.impl_numpy import iteration_metrics


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


@implements("kmeans", "mrjob")
def run(ctx: RunContext) -> dict[str, Any]:
    """Each iteration re-reads the input in a job that sums the points per nearest centroid;
    the driver moves the centroids and passes them to the next job."""
    from workloads.kmeans import positions
    from workloads.kmeans.mr_kmeans import MRKMeansStep

    engine = ctx.engine_as(MrjobEngine)
    columns = positions(ctx.data.inputs[0], ctx.params["columns"])
    centroids = first_distinct(ctx, columns)
    tolerance = float(ctx.params["tolerance"])
    inertia, times, points = [], [], 0
    for step in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        scratch = ctx.scratch / f"iteration-{step}"
        scratch.mkdir(parents=True, exist_ok=True)
        pairs = engine.run_job(
            MRKMeansStep,
            ctx.data.inputs,
            scratch,
            extra_args=["--centroids", json.dumps(centroids), "--columns", json.dumps(columns)],
        )
        sums = {int(j): part for j, part in pairs}
        points = int(sum(part[0] for part in sums.values()))
        centroids, total, moved = update(centroids, sums)
        inertia.append(total)
        times.append(time.perf_counter() - began)
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
