"""k-means on mrjob: one MapReduce job per Lloyd iteration, driven by a loop."""

from __future__ import annotations

import json
from typing import Any

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements
from workloads.kmeans import first_distinct, lloyd


@implements("kmeans", "mrjob", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """Each iteration re-reads the input in a job that sums the points per nearest centroid;
    the driver moves the centroids and passes them to the next job."""
    from workloads.kmeans import positions
    from workloads.kmeans.mr_kmeans import MRKMeansStep

    engine = ctx.engine_as(MrjobEngine)
    columns = positions(ctx.data.inputs[0], ctx.params["columns"])

    def job(step: int, centroids: list[list[float]]) -> dict[int, list[float]]:
        scratch = ctx.scratch / f"iteration-{step}"
        scratch.mkdir(parents=True, exist_ok=True)
        pairs = engine.run_job(
            MRKMeansStep,
            ctx.data.inputs,
            scratch,
            extra_args=["--centroids", json.dumps(centroids), "--columns", json.dumps(columns)],
        )
        return {int(j): part for j, part in pairs}

    return lloyd(ctx, first_distinct(ctx, columns), job)
