"""k-means on mrjob: one MapReduce job per Lloyd iteration, driven by a loop."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements
from workloads._iterative import iteration_metrics
from workloads.kmeans import first_distinct, update


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
