"""Shared by every workload's Polars implementation: the started engine, the per-variant data
path of the iterative workloads, and the float CSV scan they read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.engines.polars_engine import PolarsEngine

if TYPE_CHECKING:
    import polars as pl

    from harness.registry import RunContext


def engine(ctx: RunContext) -> PolarsEngine:
    """The run's started Polars engine; TypeError on another engine."""
    return ctx.engine_as(PolarsEngine)


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's header row (read by Polars, nothing inferred)."""
    import polars as pl

    return pl.scan_csv(path, infer_schema=False, glob=False).collect_schema().names()


def scan_float_csv(paths: Sequence[Path], columns: Sequence[str]) -> pl.LazyFrame:
    """The ``columns`` of CSV files with a header row, as Float64, lazily: the other columns
    are neither typed nor parsed (projection pushdown skips them). The workload's reference
    has validated the input (finite numbers, the same header in every file)."""
    import polars as pl

    return pl.scan_csv(
        [str(p) for p in paths],
        infer_schema=False,
        glob=False,  # a file's name is no pattern (user files may have brackets in theirs)
        schema_overrides={c: pl.Float64 for c in columns},
    ).select(list(columns))


def held(ctx: RunContext, frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """The input of an iterative workload, read once at the start of the timed region, as
    the source every iteration's query scans.

    ``lazy``: collected into memory once; each iteration is a query on that frame.
    ``streaming``: never held: the CSV is streamed once into an uncompressed Arrow IPC file
    in the run's scratch folder (``sink_ipc``, constant memory), and each iteration
    re-scans that file with the streaming engine. An iteration then reads binary columns
    instead of parsing the CSV text again (parsing is most of a scan's cost), and memory
    holds a few batches whatever the input's size: the out-of-core way.
    """
    import polars as pl

    polars = engine(ctx)
    if not polars.streaming:
        collected: pl.DataFrame = polars.collect(frame)
        return collected.lazy()
    path = ctx.scratch / f"{name}.arrow"
    frame.sink_ipc(path, engine="streaming")
    scanned: pl.LazyFrame = pl.scan_ipc(path, glob=False)
    return scanned
