"""The Spark side of the UDF workloads: Python UDFs that count their calls and the time inside
them (accumulators, exact, summed over the Python workers), a chain of UDF filters, the
executed plan, and the untimed warm-up of a session's Python workers.

Imports pyspark only inside functions, like every implementation module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.engines.spark_engine import SparkEngine
from harness.registry import RunContext
from harness.rules import RulesMode
from harness.spark_rules import costs, probe
from workloads._udf import udfs
from workloads._udf.udfs import Spec

#: Longest executed-plan text kept in a record.
PLAN_CHARS = 6000
#: The filter of a warm-up that only needs one plain Python UDF query (passes every row).
ONE_UDF: Spec = {"name": "bdbench_prewarm", "kind": "spin", "salt": 1, "units": 1,
                 "op": "<", "threshold": 10000}  # fmt: skip


def counted_udf(name: str, fn: Callable[..., Any], return_type: str, calls: Any, seconds: Any
                ) -> Any:  # fmt: skip
    """A Spark UDF called ``name`` (what Catalyst and the annotations see) that counts its
    calls and the time inside it."""
    from pyspark.sql.functions import udf

    def wrapper(*values: Any) -> Any:
        began = time.perf_counter()
        result = fn(*values)
        seconds.add(time.perf_counter() - began)
        calls.add(1)
        return result

    # Catalyst sees the Python function's name: the paper's annotations live in it.
    wrapper.__name__ = wrapper.__qualname__ = name
    return udf(wrapper, return_type)


def filter_udf(spec: Spec, calls: Any, seconds: Any) -> tuple[Any, tuple[str, ...]]:
    """The counted Spark UDF of a filter (named like it) and the columns it takes."""
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
    return counted_udf(spec["name"], fn, "double", calls, seconds), args


def annotate(spark: Any, profiles: Mapping[str, Mapping[str, float]]) -> None:
    """Give the rules their inputs: declared and measured UDF annotations, and the probe's
    node and call costs (measured once per machine and Spark set-up, then stored)."""
    costs.apply(spark, profiles)
    probe.apply(spark)


_EVAL_NODE = re.compile(r"(?:Arrow|Batch)EvalPython \[(.*?)\], \[")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")


def plan_groups(plan: str, names: Sequence[str]) -> list[list[str]]:
    """The UDFs among ``names`` each Python eval node of an executed plan evaluates,
    bottom-up (the plan text lists nodes top-down)."""
    groups = []
    for node in _EVAL_NODE.finditer(plan):
        called = [n for n in _CALL.findall(node.group(1)) if n in names]
        if called:
            groups.append(list(dict.fromkeys(called)))
    return groups[::-1]


def executed_plan(df: Any) -> str:
    """The executed physical plan of a DataFrame (final adaptive plan after an action)."""
    return str(df._jdf.queryExecution().executedPlan().toString())[:PLAN_CHARS]


def apply_chain(
    spark: Any, rows: Any, specs: Sequence[Spec]
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
        func, args = filter_udf(spec, calls[spec["name"]], seconds[spec["name"]])
        columns = [F.lit(spec["param"]) if a == "param" else F.col(a) for a in args]
        value = func(*columns)
        rows = rows.filter(value > spec["threshold"] if spec["op"] == ">" else
                           value < spec["threshold"])  # fmt: skip
    return rows, calls, seconds


def warm_filters(ctx: RunContext, specs: Sequence[Spec]) -> None:
    """Untimed warm-up: a chain of UDF filters on 64 made-up rows, in the run's rules mode.

    The first Python UDF query of a session makes its workers import pyarrow (about 3 s), and
    every further eval node per task needs a worker of its own (about 1 s each): with rules
    on, a chain of n filters has n eval nodes. Running the timed query's plan shape once forks
    and warms exactly the workers it will use. Engine start-up, not workload.
    """
    from pyspark.sql import functions as F

    engine = ctx.engine_as(SparkEngine)
    spark = engine.spark
    if spark is None:
        return
    if ctx.rules is RulesMode.ON:
        annotate(spark, ctx.prepared.get("udfs", {}))
    tiny = spark.range(0, 64, 1, max(engine.partitions, 1)).select(
        "id", F.lit(" ".join(str(i % 7) for i in range(16))).alias("history")
    )
    rows, _, _ = apply_chain(spark, tiny, specs)
    rows.select("id").collect()
