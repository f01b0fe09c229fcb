"""UDF map chain on Polars: ``damage`` and ``severity`` as elementwise ``map_batches``
columns of a lazy query, the second on the first's column, so ``damage`` runs once per row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.registry import RunContext, implements
from workloads._polars import engine
from workloads._udf.polars_udfs import UdfCalls, histories, numpy_udf
from workloads.udf_map import DAMAGE, SEVERITY, Row, run_metrics, udfs

if TYPE_CHECKING:
    import numpy as np


def severity(damage: np.ndarray) -> np.ndarray:
    """Row-wise ``udfs.severity`` (damage is never negative, so truncation is ``int``'s)."""
    import numpy as np

    return np.minimum(udfs.MAX_BAND, (damage * udfs.BANDS_PER_UNIT).astype(np.int64))


@implements("udf_map", "polars")
def run(ctx: RunContext) -> list[Row]:
    """``scan_csv`` -> ``with_columns(a=damage(temps))`` -> ``with_columns(b=severity(a))``
    -> rows sorted by id. Polars computes ``a`` once per row and gives ``severity`` that
    column (the calls say so: ``damage_calls_per_row`` is 1); nothing needs constraining."""
    import polars as pl

    from workloads._udf import vectorised

    polars = engine(ctx)
    p = float(ctx.params["p"])
    calls = UdfCalls()
    damage = calls.counted(DAMAGE, numpy_udf(lambda temps: vectorised.fatigue_damage(temps, p)))
    band = calls.counted(SEVERITY, numpy_udf(severity, pl.Int64))
    query = (
        histories(ctx.data)
        .with_columns(
            pl.col("temps").map_batches(damage, return_dtype=pl.Float64, is_elementwise=True)
            .alias("a")
        )
        .with_columns(
            pl.col("a").map_batches(band, return_dtype=pl.Int64, is_elementwise=True)
            .alias("b")
        )
        .select("id", "a", "b")
        .sort("id")
    )  # fmt: skip
    result = polars.collect(query)
    n = result.height
    ctx.metrics["udf"] = run_metrics(calls.rows, calls.seconds, n, max(1, calls.parallelism))
    return [list(row) for row in result.rows()]
