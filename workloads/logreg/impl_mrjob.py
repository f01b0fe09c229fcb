"""Logistic regression on mrjob: one MapReduce job per iteration, driven by a loop."""

from __future__ import annotations

import json
import time
from typing import Any

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements
from workloads._iterative import iteration_metrics
from workloads.logreg import feature_count, label_index


@implements("logreg", "mrjob", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """Each iteration re-reads the input in a job that sums the gradient; the driver updates
    the weights and passes them to the next job."""
    from workloads.logreg.mr_logreg import MRLogRegStep

    engine = ctx.engine_as(MrjobEngine)
    at = label_index(ctx)
    w = [0.0] * (feature_count(ctx) + 1)
    rate = float(ctx.params["learning_rate"])
    losses, times = [], []
    for step in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        scratch = ctx.scratch / f"iteration-{step}"
        scratch.mkdir(parents=True, exist_ok=True)
        pairs = engine.run_job(
            MRLogRegStep,
            ctx.data.inputs,
            scratch,
            extra_args=["--weights", json.dumps(w), "--label-index", str(at)],
        )
        ((_, sums),) = pairs
        n = sums[0]
        losses.append(sums[1] / n)
        w = [wj - rate * gj / n for wj, gj in zip(w, sums[2:], strict=True)]
        times.append(time.perf_counter() - began)
        ctx.iteration_done(len(times), times[-1])
    ctx.metrics.update(iteration_metrics(times))
    return {"weights": w, "loss": losses}
