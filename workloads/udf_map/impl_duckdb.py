"""UDF map chain on DuckDB: ``damage`` and ``severity`` registered as vectorised Arrow
functions, chained in SQL the way the workflow chains them.

``severity`` takes the column ``a`` that ``damage`` made (a subquery, as ``withColumn`` chains
them). DuckDB's optimizer could inline ``a`` into ``severity(damage(history))``; its
common-subexpression elimination keeps one ``damage`` per row all the same, since a Python UDF
is declared consistent (no side effects): measured, ``damage`` runs exactly once per row,
which the recorded calls show (``damage_calls_per_row``).
"""

from __future__ import annotations

from typing import Any

from harness.registry import RunContext, implements
from workloads._duckdb import HISTORY_CSV, Counts, explain, files, session, threads, udf_of
from workloads.udf_map import DAMAGE, SEVERITY, Row, run_metrics, udfs


def severity(column: Any) -> Any:
    """Row-wise ``udfs.severity`` over an Arrow column of damages (never negative, so the
    truncation is ``int``'s)."""
    import numpy as np
    import pyarrow as pa

    damage = column.to_numpy()
    return pa.array(np.minimum(udfs.MAX_BAND, (damage * udfs.BANDS_PER_UNIT).astype(np.int32)))


@implements("udf_map", "duckdb")
def run(ctx: RunContext) -> list[Row]:
    """``read_csv`` -> ``damage(history) AS a`` -> ``severity(a) AS b`` -> rows by id."""
    counts = Counts([DAMAGE, SEVERITY])
    damage = udf_of({"kind": "fatigue", "param": ctx.params["p"]})
    sql = (
        f"SELECT id, a, {SEVERITY}(a) AS b FROM "
        f"(SELECT id, {DAMAGE}(history) AS a FROM {HISTORY_CSV}) ORDER BY id"
    )
    params = [files(ctx)]
    with session(ctx) as db:
        db.function(DAMAGE, counts.counted(DAMAGE, damage), ["VARCHAR"], "DOUBLE")
        db.function(SEVERITY, counts.counted(SEVERITY, severity), ["DOUBLE"], "INTEGER")
        table = db.con.sql(sql, params=params).to_arrow_table()
        plan = explain(db.con, sql, params)
    columns = [table.column(name).to_pylist() for name in ("id", "a", "b")]
    rows = [list(row) for row in zip(*columns, strict=True)]
    ctx.metrics["udf"] = run_metrics(counts.calls, counts.seconds, len(rows), threads(ctx))
    ctx.metrics["plan"] = plan
    return rows
