"""UDF filters on NumPy: vectorised, each filter evaluated only on the rows still alive."""

from __future__ import annotations

import time

from harness.registry import RunContext, implements
from workloads._udf.data import load
from workloads.udf_filter import evaluation_order, filter_specs, run_metrics


@implements("udf_filter", "numpy")
def run(ctx: RunContext) -> list[int]:
    """Short-circuit chain: written order (rules off) or ranked order (rules on)."""
    import numpy as np

    from workloads._udf import vectorised

    specs = filter_specs(ctx.params)
    order = evaluation_order(specs, ctx.rules, ctx.prepared)
    ids, temps = load(ctx.data.inputs)
    alive = np.arange(len(ids))
    calls: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for spec in order:
        began = time.perf_counter()
        values = vectorised.values(spec, ids[alive], temps[alive])
        keep = vectorised.passes(spec, values)
        seconds[spec["name"]] = time.perf_counter() - began
        calls[spec["name"]] = len(alive)
        alive = alive[keep]
    ctx.metrics["udf"] = run_metrics(calls, seconds, [s["name"] for s in order], parallelism=1)
    return sorted(ids[alive].tolist())
