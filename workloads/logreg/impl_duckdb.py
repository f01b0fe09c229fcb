"""Logistic regression on DuckDB: the points loaded into a table once, then each iteration one
SQL aggregation over it (the loss and the gradient's sums at the current weights, passed as
query parameters), the update done on the few sums in Python."""

from __future__ import annotations

import time
from typing import Any

from harness.registry import RunContext, implements
from workloads._duckdb import csv_header, files, ident, literal, session
from workloads._iterative import iteration_metrics


def load_sql(names: list[str], label: str) -> str:
    """Read every input file into the temporary table ``points`` (``y``, ``x0`` ...), every
    column a DOUBLE, as ``read_csv`` parses it on every thread."""
    features = [n for n in names if n != label]
    columns = ", ".join(f"{literal(n)}: 'DOUBLE'" for n in names)
    select = ", ".join([f"{ident(label)} AS y", *(f"{ident(n)} AS x{i}"
                                                     for i, n in enumerate(features))])  # fmt: skip
    return (
        f"CREATE TEMP TABLE points AS SELECT {select} FROM read_csv(?, header = true, "
        f"auto_detect = false, delim = ',', columns = {{{columns}}})"
    )


def iteration_sql(d: int) -> str:
    """One pass over ``points`` at the weights ``$1`` (intercept) .. ``$(d+1)``: the row count,
    the summed log-loss ``log(1 + exp(z)) - y z`` (as ``max(z, 0) + log(1 + exp(-|z|))``, which
    never overflows) and the sums of ``p - y`` and ``(p - y) x_j`` with ``p = sigmoid(z)`` (as
    ``(1 + tanh(z / 2)) / 2``, which never overflows either)."""
    z = " + ".join(["$1", *(f"${j + 2} * x{j}" for j in range(d))])
    xs = "".join(f", x{j}" for j in range(d))
    sums = "".join(f", sum(r * x{j})" for j in range(d))
    return (
        "SELECT count(*), sum(greatest(z, 0) + ln(1 + exp(-abs(z))) - y * z), sum(r)"
        f"{sums} FROM (SELECT z, y{xs}, 0.5 * (1 + tanh(0.5 * z)) - y AS r FROM "
        f"(SELECT y{xs}, {z} AS z FROM points))"
    )


@implements("logreg", "duckdb", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """``read_csv`` into a temporary table, then per iteration one aggregation at the weights
    (query parameters) and the update ``w -= rate * gradient / n``."""
    names = csv_header(ctx.data.inputs[0])
    d = len(names) - 1
    rate = float(ctx.params["learning_rate"])
    w = [0.0] * (d + 1)  # the intercept first
    losses, times = [], []
    sql = iteration_sql(d)
    with session(ctx) as db:
        db.con.execute(load_sql(names, ctx.params["label"]), [files(ctx)])
        for _ in range(int(ctx.params["iterations"])):
            began = time.perf_counter()
            (row,) = db.con.execute(sql, w).fetchall()
            n, loss, gradient = int(row[0]), float(row[1]), [float(g) for g in row[2:]]
            losses.append(loss / n)
            w = [wj - rate * gj / n for wj, gj in zip(w, gradient, strict=True)]
            times.append(time.perf_counter() - began)
            ctx.iteration_done(len(times), times[-1])
    ctx.metrics.update(iteration_metrics(times))
    return {"weights": w, "loss": losses}
