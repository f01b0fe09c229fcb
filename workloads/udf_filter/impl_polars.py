"""UDF filters on Polars: the workload's vectorised Python UDFs as ``map_batches`` filters of a
lazy query, ordered by Polars' own optimizer (rules off) or in our ranked order (rules on).

What Polars does with them (measured by the exact rows each UDF is called on, and read from
its optimized plan, ``LazyFrame.explain()``):

* Elementwise ``map_batches`` filters (``is_elementwise=True``, what the docs recommend for
  row-wise functions, and what lets the streaming engine call them on batches) are pushed
  down by predicate pushdown: chained ``.filter(a).filter(b)`` become ONE predicate
  ``a & b``, exactly as ``.filter(a & b)`` is written, in the written order. A predicate is
  evaluated whole: Polars' ``&`` (and ``pl.when`` chains) do not short-circuit, so every UDF
  is called on every row, whatever its cost. The only reordering is by dependency: a
  predicate on scan columns alone goes into the scan (``SELECTION``) and runs before one on a
  computed column; no cost enters the choice.
* Non-elementwise ``map_batches`` (the default) block the pushdown: chained filters then stay
  apart and short-circuit, but the streaming engine must then hand each UDF the whole column
  (not out of core), and in one predicate it evaluated them last to first.
"""

from __future__ import annotations

from harness.registry import RunContext, implements
from harness.rules import RulesMode
from workloads._polars import engine
from workloads._udf.polars_udfs import (
    UdfCalls,
    histories,
    metrics_order,
    passes,
    plan_steps,
    spec_values,
    udf,
)
from workloads.udf_filter import evaluation_order, filter_specs, run_metrics


@implements("udf_filter", "polars")
def run(ctx: RunContext) -> list[int]:
    """``scan_csv`` -> one ``.filter(udf(column) <op> threshold)`` per UDF, chained as the
    paper's workflow writes them -> the sorted ids.

    Rules off: the written order with Polars' default optimizations, which merge the chain
    into one predicate evaluated on every row. Rules on: the ranked order, with predicate
    pushdown switched off for this query (``QueryOptFlags(predicate_pushdown=False)``) so
    the filters stay separate plan nodes: each UDF only sees the rows that passed the ones
    before. The UDFs' call counts are exact (rows per call, summed); the optimized plan and
    the steps read from it are recorded.
    """
    import polars as pl

    polars = engine(ctx)
    specs = filter_specs(ctx.params)
    imposed = ctx.rules is RulesMode.ON
    order = evaluation_order(specs, ctx.rules, ctx.prepared)
    calls = UdfCalls()
    rows = histories(ctx.data)
    for spec in order:
        column, values = spec_values(spec)
        rows = rows.filter(passes(spec, udf(spec["name"], column, values, calls)))
    query = rows.select("id").sort("id")
    flags = pl.QueryOptFlags(predicate_pushdown=False) if imposed else pl.QueryOptFlags()
    plan = query.explain(optimizations=flags, engine=polars.collect_engine)
    ids: list[int] = polars.collect(query, flags)["id"].to_list()
    steps = plan_steps(plan, [s["name"] for s in specs])
    ctx.metrics["udf"] = run_metrics(
        calls.rows, calls.seconds, metrics_order(steps), max(1, calls.parallelism), steps
    )
    ctx.metrics["plan"] = plan
    return ids
