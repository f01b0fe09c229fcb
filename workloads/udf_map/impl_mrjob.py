"""UDF map chain on mrjob (any runner): a map-only job, both UDFs in the mapper."""

from __future__ import annotations

from harness.engines.mrjob_engine import MrjobEngine, counter_totals
from harness.registry import RunContext, implements
from workloads.udf_map import Row, run_metrics


@implements("udf_map", "mrjob")
def run(ctx: RunContext) -> list[Row]:
    """Run ``MRUdfMap``; rows sorted by id, exact calls from the job's counters."""
    from workloads.udf_map.mr_udf_map import MRUdfMap

    pairs, counters = ctx.engine_as(MrjobEngine).run_job(
        MRUdfMap,
        ctx.data.inputs,
        ctx.scratch,
        extra_args=["--p", str(ctx.params["p"])],
        with_counters=True,
    )
    calls = counter_totals(counters, "bdbench_udf_calls")
    micros = counter_totals(counters, "bdbench_udf_micros")
    rows = sorted([int(row_id), a, b] for row_id, (a, b) in pairs)
    ctx.metrics["udf"] = run_metrics(calls, {n: us / 1e6 for n, us in micros.items()}, len(rows))
    return rows
