"""UDF filters on mrjob (any runner): a map-only job, filters in the mapper."""

from __future__ import annotations

import json

from harness.engines.mrjob_engine import MrjobEngine, counter_totals
from harness.registry import RunContext, implements
from workloads.udf_filter import evaluation_order, filter_specs, run_metrics


@implements("udf_filter", "mrjob")
def run(ctx: RunContext) -> list[int]:
    """Run ``MRUdfFilter`` with the filters in written (rules off) or ranked (on) order."""
    from workloads.udf_filter.mr_udf_filter import MRUdfFilter

    engine = ctx.engine_as(MrjobEngine)
    specs = filter_specs(ctx.params)
    order = evaluation_order(specs, ctx.rules, ctx.prepared)
    pairs, counters = engine.run_job(
        MRUdfFilter,
        ctx.data.inputs,
        ctx.scratch,
        extra_args=["--filters", json.dumps(order)],
        with_counters=True,
    )
    calls = counter_totals(counters, "bdbench_udf_calls")
    micros = counter_totals(counters, "bdbench_udf_micros")
    parallel = engine.num_cores() if engine.variant == "local" else 1
    ctx.metrics["udf"] = run_metrics(
        calls,
        {name: us / 1e6 for name, us in micros.items()},
        [s["name"] for s in order],
        parallelism=parallel,
    )
    return sorted(int(row_id) for row_id, _ in pairs)
