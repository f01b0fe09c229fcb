"""Logistic regression on Polars: full-batch gradient descent, each iteration one aggregation
query over the points (the loss and every gradient sum in one ``select``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads._iterative import iteration_metrics
from workloads._polars import csv_header, engine, held, scan_float_csv

if TYPE_CHECKING:
    import polars as pl


def iteration(points: pl.LazyFrame, features: list[str], label: str, w: list[float]
              ) -> pl.LazyFrame:  # fmt: skip
    """One iteration's sums at the weights ``w`` (intercept first), as one query: the rows,
    the summed log-loss ``log(1 + exp(z)) - y z``, and ``sum(p - y)``, ``sum((p - y) x_j)``,
    where ``z = w0 + sum_j w_j x_j`` and ``p = sigmoid(z)``.

    ``z``, then the loss and ``p - y``, are columns of their own, each computed once per
    row: left to common subexpression elimination inside one ``select``, the streaming
    engine computed ``z`` again for every sum (measured at small: 3 to 6 times slower)."""
    import polars as pl

    z = pl.lit(w[0])
    for name, weight in zip(features, w[1:], strict=True):
        z = z + pl.col(name) * weight
    # Names no input column has ("__" first): the features keep theirs.
    y, zc, r = pl.col(label), pl.col("__z"), pl.col("__r")
    return (
        points.with_columns(z.alias("__z"))
        .with_columns(
            # log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
            (pl.max_horizontal(zc, 0.0) + (-zc.abs()).exp().log1p() - y * zc).alias("__loss"),
            # sigmoid(z) = (1 + tanh(z / 2)) / 2 never overflows either.
            (0.5 * (1.0 + (0.5 * zc).tanh()) - y).alias("__r"),
        )
        .select(
            pl.len().alias("n"),
            pl.col("__loss").sum(),
            r.sum().alias("g0"),
            *((r * pl.col(name)).sum().alias(f"g{j + 1}")
              for j, name in enumerate(features)),
        )
    )  # fmt: skip


@implements("logreg", "polars", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """The points read once (``held``: in memory for ``lazy``; streamed into an Arrow IPC
    file that every iteration re-scans for ``streaming``), then per iteration one query
    (``iteration``: the loss and the gradient's sums at the current weights in one
    ``select``), and the update ``w <- w - rate * gradient / n`` on the driver, in the
    reference's order.
    """
    polars = engine(ctx)
    label = ctx.params["label"]
    paths = list(ctx.data.inputs)
    columns = csv_header(paths[0])
    features = [c for c in columns if c != label]
    points = held(ctx, scan_float_csv(paths, [label, *features]), "points")
    rate = float(ctx.params["learning_rate"])
    w = [0.0] * (len(features) + 1)
    losses: list[float] = []
    times: list[float] = []
    for _ in range(int(ctx.params["iterations"])):
        began = time.perf_counter()
        (sums,) = polars.collect(iteration(points, features, label, w)).rows()
        n = int(sums[0])
        losses.append(float(sums[1]) / n)
        w = [wj - rate * float(g) / n for wj, g in zip(w, sums[2:], strict=True)]
        times.append(time.perf_counter() - began)
        ctx.iteration_done(len(times), times[-1])
    ctx.metrics.update(iteration_metrics(times))
    return {"weights": w, "loss": losses}
