"""UDF filters on Spark DataFrames: Python UDFs, as the paper's workflow writes them.

With rules off, plain Spark evaluates every UDF of the chain on every row (one eval node);
with rules on, our Catalyst rules split the evaluation; "paper" loads only the paper's reorder
rule. Calls and time inside each UDF are counted with accumulators (exact, summed over the
Python workers); the executed physical plan is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.engines.spark_engine import master_cores
from harness.registry import RunContext, implements
from harness.spark_rules import costs
from workloads.udf_filter import Spec, filter_specs, run_metrics, udfs

#: Longest executed-plan text kept in a record.
PLAN_CHARS = 6000


def _counted_udf(spec: Spec, calls: Any, seconds: Any) -> Any:
    """A Spark UDF named like the filter that counts its calls and the time inside it."""
    from pyspark.sql.functions import udf

    kind = spec["kind"]
    fn: Callable[..., float | None]
    args: tuple[str, ...]
    if kind == "fatigue":
        fn, args = udfs.fatigue_damage, ("history", "param")
    elif kind == "transient":
        fn, args = udfs.transient_start, ("history", "param")
    else:
        salt, units = int(spec["salt"]), int(spec["units"])

        def fn(row_id: int | None) -> float | None:
            return udfs.spin(row_id, salt, units)

        args = ("id",)

    def wrapper(*values: Any) -> float | None:
        began = time.perf_counter()
        result = fn(*values)
        seconds.add(time.perf_counter() - began)
        calls.add(1)
        return result

    # Catalyst sees the Python function's name: the paper's annotations live in it.
    wrapper.__name__ = wrapper.__qualname__ = spec["name"]
    return udf(wrapper, "double"), args


def executed_plan(df: Any) -> str:
    """The executed physical plan of a DataFrame (final adaptive plan after an action)."""
    return str(df._jdf.queryExecution().executedPlan().toString())[:PLAN_CHARS]


def apply_chain(
    spark: Any, rows: Any, specs: list[Spec]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``rows`` with one ``filter`` per spec, in the given (written) order, and the
    accumulators counting each UDF's calls and the seconds spent inside it."""
    from pyspark import cloudpickle
    from pyspark.sql import functions as F

    # Workers need not have bdbench installed: ship the UDF module by value.
    cloudpickle.register_pickle_by_value(udfs)
    sc = spark.sparkContext
    calls = {s["name"]: sc.accumulator(0) for s in specs}
    seconds = {s["name"]: sc.accumulator(0.0) for s in specs}
    for spec in specs:
        func, args = _counted_udf(spec, calls[spec["name"]], seconds[spec["name"]])
        columns = [F.lit(spec["param"]) if a == "param" else F.col(a) for a in args]
        value = func(*columns)
        rows = rows.filter(value > spec["threshold"] if spec["op"] == ">" else
                           value < spec["threshold"])  # fmt: skip
    return rows, calls, seconds


def chain_metrics(
    calls: dict[str, Any], seconds: dict[str, Any], parallelism: int
) -> dict[str, Any]:
    """``run_metrics`` from the accumulators, after the action ran."""
    counted = {name: acc.value for name, acc in calls.items()}
    # Order of evaluation, from the counts: all at once when every UDF saw every row.
    evaluated = None
    if len(set(counted.values())) > 1:
        evaluated = sorted(counted, key=lambda n: -counted[n])
    return run_metrics(
        counted, {name: acc.value for name, acc in seconds.items()}, evaluated, parallelism
    )


@implements("udf_filter", "spark", "df")
def run_df(ctx: RunContext) -> list[int]:
    """``read.csv`` -> one ``filter`` per UDF in the written order -> ids."""
    engine: Any = ctx.engine
    spark = engine.spark
    if ctx.rules is True:
        # Measured annotations (the stored profile), below the name-suffix convention.
        costs.apply(spark, ctx.prepared.get("udfs", {}))
    uris = [p.resolve().as_uri() for p in ctx.data.inputs]
    # The history stays text: each UDF parses what it needs (the cheap one only the head).
    rows = spark.read.csv(uris, schema="id LONG, history STRING")
    rows, calls, seconds = apply_chain(spark, rows, filter_specs(ctx.params))
    result = rows.select("id")
    ids = sorted(row["id"] for row in result.collect())
    # File splits give at least one partition per core (spark.sql.files.minPartitionNum).
    ctx.metrics["udf"] = chain_metrics(calls, seconds, master_cores(engine.options.spark_master))
    ctx.metrics["plan"] = executed_plan(result)
    return ids


def prewarm(ctx: RunContext) -> None:
    """Untimed warm-up: the run's own filter chain on 64 made-up rows, in the run's rules mode.

    The first Python UDF query of a session makes its workers import pyarrow (about 3 s), and
    every further eval node per task needs a worker of its own (about 1 s each): with rules
    on, a chain of n filters has n eval nodes. Running the same plan shape once forks and
    warms exactly the workers the timed query will use. Engine start-up, not workload.
    """
    from pyspark.sql import functions as F

    engine: Any = ctx.engine
    spark = getattr(engine, "spark", None)
    if spark is None:
        return
    if ctx.rules is True:
        costs.apply(spark, ctx.prepared.get("udfs", {}))
    specs = filter_specs(ctx.params) if ctx.data.workload == "udf_filter" else []
    tiny = spark.range(0, 64, 1, max(engine.partitions, 1)).select(
        "id", F.lit(" ".join(str(i % 7) for i in range(16))).alias("history")
    )
    if not specs:  # another workload's warm-up: one plain UDF query
        specs = [{"name": "bdbench_prewarm", "kind": "spin", "salt": 1, "units": 1,
                  "op": "<", "threshold": 10000}]  # fmt: skip
    rows, _, _ = apply_chain(spark, tiny, specs)
    rows.select("id").collect()
