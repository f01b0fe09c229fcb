"""UDF filters on Spark DataFrames: Python UDFs, as the paper's workflow writes them.

With rules off, plain Spark evaluates every UDF of the chain on every row (one eval node);
with rules on, our Catalyst rules split the evaluation; "paper" loads only the paper's reorder
rule. Calls and time inside each UDF are counted with accumulators (exact, summed over the
Python workers); the executed physical plan is recorded.
"""

from __future__ import annotations

from typing import Any

from harness.engines.spark_engine import SparkEngine, master_cores
from harness.registry import RunContext, implements
from harness.rules import RulesMode
from workloads._spark import input_uris, session
from workloads._udf.spark import annotate, apply_chain, executed_plan, plan_groups, warm_filters
from workloads.udf_filter import filter_specs, run_metrics


def chain_metrics(
    calls: dict[str, Any], seconds: dict[str, Any], parallelism: int, plan: str
) -> dict[str, Any]:
    """``run_metrics`` from the accumulators, after the action ran, with the eval nodes of the
    executed plan: the order of evaluation is theirs, all at once when there is one node."""
    counted = {name: acc.value for name, acc in calls.items()}
    grouping = plan_groups(plan, list(counted))
    evaluated = [n for g in grouping for n in g] if len(grouping) > 1 else None
    return run_metrics(
        counted, {name: acc.value for name, acc in seconds.items()}, evaluated, parallelism,
        grouping,
    )  # fmt: skip


def prewarm(ctx: RunContext) -> None:
    """Untimed warm-up: the run's own filter chain on 64 made-up rows, in the run's rules mode
    (``workloads._udf.spark.warm_filters``): it forks and warms exactly the Python workers the
    timed query will use. Engine start-up, not workload."""
    warm_filters(ctx, filter_specs(ctx.params))


@implements("udf_filter", "spark", "df", prewarm=prewarm)
def run_df(ctx: RunContext) -> list[int]:
    """``read.csv`` -> one ``filter`` per UDF in the written order -> ids."""
    engine = ctx.engine_as(SparkEngine)
    spark = session(ctx)
    if ctx.rules is RulesMode.ON:
        # Measured annotations (the stored profile, below the name-suffix convention) and the
        # probe's node cost, stored by the untimed warm-up.
        annotate(spark, ctx.prepared.get("udfs", {}))
    uris = input_uris(ctx)
    # The history stays text: each UDF parses what it needs (the cheap one only the head).
    rows = spark.read.csv(uris, schema="id LONG, history STRING")
    rows, calls, seconds = apply_chain(spark, rows, filter_specs(ctx.params))
    result = rows.select("id")
    ids = sorted(row["id"] for row in result.collect())
    # File splits give at least one partition per core (spark.sql.files.minPartitionNum).
    plan = executed_plan(result)
    ctx.metrics["udf"] = chain_metrics(calls, seconds, master_cores(engine.options.master), plan)
    ctx.metrics["plan"] = plan
    return ids
