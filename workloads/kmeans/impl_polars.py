"""k-means on Polars: Lloyd's algorithm, each iteration one query: the assignment as
expressions (squared distances to every centroid, the nearest by the lowest index among equal
ones) and one ``group_by`` summing count, squared distance and coordinates per centroid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads._polars import csv_header, engine, held, scan_float_csv

if TYPE_CHECKING:
    import polars as pl

    from harness.engines.polars_engine import PolarsEngine


def first_distinct(
    polars: PolarsEngine, points: pl.LazyFrame, columns: list[str], k: int
) -> list[list[float]]:
    """The first ``k`` distinct points in input order (the documented initialisation), from a
    growing head of the input: real data has its first ``k`` points distinct."""
    import polars as pl

    # Points equal coordinate by coordinate are one point: -0.0 is 0.0 in the key.
    keys = [pl.when(pl.col(c) == 0.0).then(0.0).otherwise(pl.col(c)).alias(f"__key{i}")
            for i, c in enumerate(columns)]  # fmt: skip
    wanted = 4 * k
    while True:
        head = polars.collect(points.head(wanted))
        distinct = (
            head.with_columns(keys)
            .unique(subset=[f"__key{i}" for i in range(len(columns))], keep="first",
                    maintain_order=True)
            .head(k)
            .select(columns)
        )  # fmt: skip
        if distinct.height >= k or head.height < wanted:
            # The reference rejects an input with fewer than k distinct points first.
            return [list(map(float, row)) for row in distinct.rows()]
        wanted *= 4


def sums(columns: list[str]) -> list[pl.Expr]:
    """Per centroid (grouped by ``__label``), the sums of its points: the count, the squared
    distances to it (the iteration's inertia) and each coordinate."""
    import polars as pl

    return [
        pl.len().alias("n"),
        pl.col("__best").sum().alias("inertia"),
        *(pl.col(c).sum().alias(f"s{i}") for i, c in enumerate(columns)),
    ]


def labelled(points: pl.LazyFrame, columns: list[str], centroids: list[list[float]]
             ) -> pl.LazyFrame:  # fmt: skip
    """``points`` with ``__best``, the squared distance to the nearest centroid, and
    ``__label``, its index (the lowest of the equally near ones, as the reference's strict
    comparison gives it)."""
    import polars as pl

    distances = []
    for j, centroid in enumerate(centroids):
        # Summed over the coordinates in order, like the reference's, so a point's
        # distances never depend on the other points.
        total: pl.Expr | None = None
        for name, value in zip(columns, centroid, strict=True):
            diff = pl.col(name) - value
            total = diff * diff if total is None else total + diff * diff
        assert total is not None
        distances.append(total.alias(f"__d{j}"))
    # Names no input column has ("__" first).
    names = [f"__d{j}" for j in range(len(centroids))]
    frame = points.with_columns(distances).with_columns(pl.min_horizontal(names).alias("__best"))
    label: Any = pl.lit(len(centroids) - 1)
    for j in reversed(range(len(centroids) - 1)):
        label = pl.when(pl.col(names[j]) == pl.col("__best")).then(j).otherwise(label)
    return frame.with_columns(label.alias("__label"))


@implements("kmeans", "polars", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """The point columns read once (``held``: in memory for ``lazy``; streamed into an Arrow
    IPC file that every iteration re-scans for ``streaming``); the first ``k`` distinct
    points from its head; then per iteration one query (distances, nearest centroid and
    ``group_by(__label)`` sums) and the update of the centroids on the driver
    (``workloads.kmeans.update``: a centroid without points stays where it was)."""
    from workloads.kmeans import column_names, lloyd

    polars = engine(ctx)
    paths = list(ctx.data.inputs)
    columns = column_names(ctx.params["columns"]) or csv_header(paths[0])
    points = held(ctx, scan_float_csv(paths, columns), "points")
    centroids = first_distinct(polars, points, columns, int(ctx.params["k"]))

    def query(step: int, centroids: list[list[float]]) -> dict[int, list[float]]:
        grouped = labelled(points, columns, centroids).group_by("__label").agg(sums(columns))
        return {int(row[0]): [float(v) for v in row[1:]] for row in polars.collect(grouped).rows()}

    return lloyd(ctx, centroids, query)
