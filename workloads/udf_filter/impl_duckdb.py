"""UDF filters on DuckDB: the Python UDFs registered as vectorised Arrow functions, in SQL.

What DuckDB does with them (measured; see tests/test_duckdb.py): its optimizer's filter
reordering (``ExpressionHeuristics``: a static cost per expression kind, 1000 for any
function it does not know) and its run-time reordering of ``AND`` (the adaptive filter, which
tries swapping neighbouring conjuncts and keeps a swap that made vectors faster) both leave a
conjunction alone when it holds a Python UDF: DuckDB evaluates the conjuncts in the written
order. It does short-circuit: per vector of 2048 rows, each conjunct is evaluated only on the
rows that passed the ones before it, so a written cheap-first order is cheap and a written
expensive-first order is not. Rules off therefore measure DuckDB as written; rules on impose
our ranked order with nested ``CASE WHEN f1 THEN (CASE WHEN f2 ...) ELSE false END``, which
neither reordering touches and which evaluates each branch only on the rows that reached it.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.registry import RunContext, implements
from harness.rules import RulesMode
from workloads._duckdb import (
    HISTORY_CSV,
    UDF_COLUMNS,
    Counts,
    explain,
    files,
    number,
    plan_order,
    session,
    threads,
    udf_of,
)
from workloads._udf.udfs import Spec
from workloads.udf_filter import evaluation_order, filter_specs, run_metrics


def predicate(spec: Spec) -> str:
    """One filter as SQL: the UDF on its column against the threshold (a NULL never passes)."""
    column, _ = UDF_COLUMNS[spec["kind"]]
    op = ">" if spec["op"] == ">" else "<"
    return f"({spec['name']}({column}) {op} {number(spec['threshold'])})"


def written(specs: Sequence[Spec]) -> str:
    """The filters as one ``AND``, in the given order: DuckDB's optimizer may reorder it."""
    return " AND ".join(predicate(s) for s in specs)


def ranked(specs: Sequence[Spec]) -> str:
    """The filters as nested ``CASE``: each evaluated only on the rows that passed every one
    before it, in exactly this order (no optimizer reorders the branches of a CASE)."""
    text = predicate(specs[-1])
    for spec in reversed(specs[:-1]):
        text = f"CASE WHEN {predicate(spec)} THEN {text} ELSE false END"
    return text


@implements("udf_filter", "duckdb")
def run(ctx: RunContext) -> list[int]:
    """``read_csv`` -> ``WHERE`` the Arrow UDFs (written order as one ``AND`` with rules off,
    our ranked order as nested ``CASE`` with rules on) -> ids, the plan's order recorded."""
    specs = filter_specs(ctx.params)
    names = [s["name"] for s in specs]
    counts = Counts(names)
    if ctx.rules is RulesMode.ON:
        where = ranked(evaluation_order(specs, ctx.rules, ctx.prepared))
    else:
        where = written(specs)
    sql = f"SELECT id FROM {HISTORY_CSV} WHERE {where} ORDER BY id"
    params = [files(ctx)]
    with session(ctx) as db:
        for spec in specs:
            column_type = UDF_COLUMNS[spec["kind"]][1]
            fn = counts.counted(spec["name"], udf_of(spec))
            db.function(spec["name"], fn, [column_type], "DOUBLE")
        ids = db.con.sql(sql, params=params).to_arrow_table().column("id").to_pylist()
        order = plan_order(db.con, sql, names, params)
        plan = explain(db.con, sql, params)
    ctx.metrics["udf"] = run_metrics(counts.calls, counts.seconds, order, threads(ctx))
    ctx.metrics["plan"] = plan
    return ids
