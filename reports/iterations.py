"""What iterative workloads add to a report: cold vs warm iteration times per engine cell.

For every cell whose runs record per-iteration times (``first_iteration_s``,
``later_iterations_median_s``), over its measured successful runs:

* first = median of the runs' first-iteration times (cold: Spark also reads the input and
  fills its cache then);
* later = median of the runs' medians of the later iterations (warm);
* cold / warm = first / later;
* x numpy = later / the numpy cell's later at the same scale and parameters (how many times
  slower a warm iteration is than NumPy's).

Then, per scale and parameter point, the ratios the Spark-vs-MapReduce argument is about: a
warm Spark RDD iteration over an mrjob ``local`` iteration, and NumPy's over both.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness import metrics
from harness.results import RunRecord
from reports.data import cell_key, display_label, record_rows
from reports.udf import params_label, workload_defaults

#: The baseline of the ``x numpy`` column.
BASELINE = ("numpy", "default")
#: (numerator cell, denominator cell, what the ratio says) for the per-point ratio lines.
COMPARISONS = (
    (("spark", "rdd"), ("mrjob", "local"), "warm Spark RDD iteration / mrjob local iteration"),
    (("numpy", "default"), ("spark", "rdd"), "NumPy iteration / warm Spark RDD iteration"),
    (("numpy", "default"), ("mrjob", "local"), "NumPy iteration / mrjob local iteration"),
)


@dataclass
class IterationRow:
    """One engine cell's cold and warm iteration times."""

    workload: str
    engine: str
    variant: str
    label: str
    scale: str
    params: str
    runs: int
    iterations: int
    first_s: float
    later_s: float | None
    vs_numpy: float | None = None
    #: Where the cell ran (a cluster), as its records say; "" in the run's own processes.
    where: str = ""
    #: The data's size in the workload's unit and its input bytes (None: unknown).
    rows: int | None = None
    input_bytes: int | None = None

    @property
    def cold_warm(self) -> float | None:
        """First iteration over the median later one."""
        return self.first_s / self.later_s if self.later_s else None


@dataclass
class IterationRatio:
    """One of ``COMPARISONS`` at one scale and parameter point."""

    workload: str
    scale: str
    params: str
    what: str
    ratio: float
    #: Labels of the two cells compared.
    cells: list[str] = field(default_factory=list)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def iteration_rows(records: list[RunRecord]) -> list[IterationRow]:
    """Cold/warm iteration times of every cell that records them, in first-seen order."""
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.is_warmup or r.status != "ok" or r.metrics.get(metrics.FIRST_ITERATION.name) is None:
            continue
        groups[cell_key(r)].append(r)
    rows = []
    for (cell, scale, factor, params, where), runs in groups.items():
        workload = cell.workload
        first = _median([float(r.metrics[metrics.FIRST_ITERATION.name]) for r in runs])
        later = _median(
            [
                float(r.metrics[metrics.LATER_ITERATIONS.name])
                for r in runs
                if r.metrics.get(metrics.LATER_ITERATIONS.name) is not None
            ]
        )
        counts = [len(r.metrics.get("iteration_s") or []) for r in runs]
        rows.append(
            IterationRow(
                workload=workload,
                engine=cell.engine,
                variant=cell.variant,
                label=display_label(cell, where),
                scale=scale if factor == 1 else f"{scale} x{factor:g}",
                params=params_label(json.loads(params), workload_defaults(workload)),
                runs=len(runs),
                iterations=int(statistics.median(counts)),
                first_s=float(first or 0.0),
                later_s=later,
                where=where,
                rows=record_rows(runs[0]),
                input_bytes=(runs[0].input or {}).get("bytes"),
            )
        )
    base = {
        (row.workload, row.scale, row.params): row.later_s
        for row in rows
        if (row.engine, row.variant) == BASELINE and row.later_s
    }
    for row in rows:
        ref = base.get((row.workload, row.scale, row.params))
        if ref and row.later_s:
            row.vs_numpy = row.later_s / ref
    return rows


def iteration_ratios(rows: list[IterationRow]) -> list[IterationRatio]:
    """The ``COMPARISONS`` wherever both cells were measured (rules off preferred: the
    iterative cells have no UDF for our rules to act on)."""
    by_point: dict[tuple[str, str, str], dict[tuple[str, str], IterationRow]] = defaultdict(dict)
    for r in rows:
        point = by_point[(r.workload, r.scale, r.params)]
        # The first-seen cell of an engine/variant (rules off comes first) stands for it.
        point.setdefault((r.engine, r.variant), r)
    ratios = []
    for (workload, scale, params), cells in by_point.items():
        for top, bottom, what in COMPARISONS:
            a, b = cells.get(top), cells.get(bottom)
            if a is None or b is None or not a.later_s or not b.later_s:
                continue
            ratio = a.later_s / b.later_s
            ratios.append(IterationRatio(workload, scale, params, what, ratio, [a.label, b.label]))
    return ratios


def fmt_times(value: float | None) -> str:
    """A ratio with three significant digits: ``1.83x``, ``1,260x``; below 1 with its
    inverse, ``0.0128x (1/78.1)``; or a dash."""
    if value is None or value <= 0:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}x"
    if value < 1:
        inverse = 1 / value
        shown = f"{inverse:,.0f}" if inverse >= 1000 else f"{inverse:.3g}"
        return f"{value:.3g}x (1/{shown})"
    return f"{value:.3g}x"
