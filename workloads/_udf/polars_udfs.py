"""The UDF workloads on Polars: the histories as a lazy frame, the workloads' vectorised
Python UDFs (``workloads._udf.vectorised``) as ``map_batches`` expressions that count the rows
they are called on, and where they sit in Polars' optimized plan."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workloads._udf.data import HISTORY

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from harness.datasets import Dataset
    from workloads._udf.udfs import Spec


def histories(data: Dataset) -> pl.LazyFrame:
    """The input rows as ``id`` (Int64) and ``temps`` (the history parsed by expressions into
    a fixed-size Int64 array, which a UDF gets as a rows x samples NumPy array, no copy)."""
    import polars as pl

    width = int(data.meta.get("history", HISTORY))
    return (
        pl.scan_csv(
            [str(p) for p in data.inputs],
            has_header=False,
            schema={"id": pl.Int64, "history": pl.String},
            quote_char=None,
            glob=False,
        )
        .with_columns(
            pl.col("history")
            .str.split(" ")
            .cast(pl.List(pl.Int64))
            .list.to_array(width)
            .alias("temps")
        )
        .drop("history")
    )


class UdfCalls:
    """Per UDF, the rows it was called on and the seconds spent in it (summed over calls and
    threads: the streaming engine calls UDFs on batches from several threads), and the most
    calls that were running at once."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.parallelism = 0
        self._running = 0
        self._lock = threading.Lock()

    def counted(self, name: str, func: Callable[[pl.Series], pl.Series]
                ) -> Callable[[pl.Series], pl.Series]:  # fmt: skip
        """``func`` counting its rows and time under ``name``."""
        self.rows[name] = 0
        self.seconds[name] = 0.0

        def call(batch: pl.Series) -> pl.Series:
            with self._lock:
                self._running += 1
                self.parallelism = max(self.parallelism, self._running)
            began = time.perf_counter()
            try:
                return func(batch)
            finally:
                spent = time.perf_counter() - began
                with self._lock:
                    self._running -= 1
                    self.rows[name] += len(batch)
                    self.seconds[name] += spent

        return call


def numpy_udf(
    values: Callable[[np.ndarray], np.ndarray], dtype: Any = None
) -> Callable[[pl.Series], pl.Series]:
    """A vectorised UDF on NumPy arrays as a ``map_batches`` function: the batch as an
    array (a 2-D one for ``temps``), the values back as a series of ``dtype`` (Float64)."""
    import polars as pl

    out = pl.Float64 if dtype is None else dtype

    def call(batch: pl.Series) -> pl.Series:
        if len(batch) == 0:  # NumPy's reductions have nothing to reduce
            return pl.Series(batch.name, [], dtype=out)
        return pl.Series(batch.name, values(batch.to_numpy()), dtype=out)

    return call


def spec_values(spec: Spec) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """The input column of a filter's UDF and its vectorised function (``vectorised.values``
    of the row ids or the histories, whichever the UDF reads)."""
    from workloads._udf import vectorised

    kind = spec["kind"]
    if kind == "spin":
        salt, units = int(spec["salt"]), int(spec["units"])
        return "id", lambda ids: vectorised.spin(ids, salt, units)
    if kind == "fatigue":
        p = float(spec["param"])
        return "temps", lambda temps: vectorised.fatigue_damage(temps, p)
    if kind == "transient":
        q = float(spec["param"])
        return "temps", lambda temps: vectorised.transient_start(temps, q)
    raise ValueError(f"unknown UDF kind {kind!r}")


def udf(name: str, column: str, values: Callable[[np.ndarray], np.ndarray], calls: UdfCalls
        ) -> pl.Expr:  # fmt: skip
    """The UDF ``name`` on ``column`` as an elementwise ``map_batches`` expression (Polars
    may then call it on batches, and the streaming engine does); its input is aliased to
    ``name`` so that the optimized plan names it (``col("id").alias("spin0").python_udf()``)."""
    import polars as pl

    return (
        pl.col(column)
        .alias(name)
        .map_batches(calls.counted(name, numpy_udf(values)), return_dtype=pl.Float64,
                     is_elementwise=True)
    )  # fmt: skip


def passes(spec: Spec, value: pl.Expr) -> pl.Expr:
    """The filter's predicate on its UDF's value (``udfs.passes``: a null never passes)."""
    threshold = float(spec["threshold"])
    return value > threshold if spec["op"] == ">" else value < threshold


def plan_steps(plan: str, names: list[str]) -> list[list[str]]:
    """The UDFs of an optimized plan (``LazyFrame.explain()``), step by step in the order they
    run: a plan line holding several (one predicate, ``FILTER`` or a scan's ``SELECTION``)
    evaluates them together on the same rows; lines are read bottom-up, as the data flows."""
    pattern = re.compile(r'\.alias\("(' + "|".join(map(re.escape, names)) + r')"\)\.python_udf')
    steps = []
    for line in reversed(plan.splitlines()):
        found = pattern.findall(line)
        if found:
            steps.append(list(dict.fromkeys(found)))
    return steps


def metrics_order(steps: list[list[str]]) -> list[str] | None:
    """``run_metrics``'s evaluated order from the plan's steps (as Spark's eval nodes give
    it): every UDF in step order, or None (all at once) when there is a single step."""
    return [name for step in steps for name in step] if len(steps) > 1 else None
