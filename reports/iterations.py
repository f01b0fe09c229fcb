"""What iterative workloads add to a report: cold vs warm iteration times per engine cell.

For every cell whose runs record per-iteration times (``first_iteration_s``,
``later_iterations_median_s``), over its measured successful runs:

* first = median of the runs' first-iteration times (cold: an engine that caches its input
  also reads it and fills its cache then);
* later = median of the runs' medians of the later iterations (warm);
* cold / warm = first / later;
* x baseline = later / the later of the fastest single-node cell (an engine built for one
  machine, ``Role.baseline``) at the same scale and parameters.

Then, per scale and parameter point, the ratios the HotCloud 2010 paper's argument is about, between
the cells that declare themselves its systems (``Role.system``): a warm RDD iteration over a
simulated MapReduce iteration, and the single-node baseline's over both.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import metrics
from harness.engines import Placement, Role
from harness.results import RunRecord
from reports.data import cell_key, display_label, record_role, record_rows
from reports.published import MAPREDUCE_SYSTEM, RDD_SYSTEM
from reports.udf import params_label, workload_defaults


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
    #: Later / the later of the fastest single-node cell at its point, and that cell's label.
    vs_baseline: float | None = None
    baseline: str | None = None
    #: What the cell's engine variant declares (placement, baseline, system).
    role: Role = field(default_factory=lambda: Role(Placement.SINGLE, cores=None))
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
                role=record_role(runs[0]),
            )
        )
    base: dict[tuple[str, str, str], IterationRow] = {}
    for row in rows:
        point = (row.workload, row.scale, row.params)
        if is_baseline(row) and row.later_s:
            best = base.get(point)
            if best is None or row.later_s < (best.later_s or 0.0):
                base[point] = row
    for row in rows:
        ref = base.get((row.workload, row.scale, row.params))
        if ref is not None and ref.later_s and row.later_s:
            row.vs_baseline, row.baseline = row.later_s / ref.later_s, ref.label
    return rows


def is_baseline(row: IterationRow) -> bool:
    """A single-node baseline candidate (an engine built for one machine, on it)."""
    return row.role.baseline and row.role.placement is Placement.SINGLE


def is_rdd(row: IterationRow) -> bool:
    """A cell of the paper's in-memory system (RDDs cached across iterations)."""
    return row.role.system == RDD_SYSTEM


def is_simulated_mapreduce(row: IterationRow) -> bool:
    """A cell of the paper's MapReduce system, simulated on this machine."""
    return row.role.system == MAPREDUCE_SYSTEM and row.role.placement is Placement.SIMULATED


#: (numerator, denominator, what the ratio says) for the per-point ratio lines, the cells
#: picked by what they declare.
COMPARISONS = (
    (is_rdd, is_simulated_mapreduce, f"warm {RDD_SYSTEM} iteration / simulated "
     f"{MAPREDUCE_SYSTEM} iteration"),
    (is_baseline, is_rdd, f"single-node iteration / warm {RDD_SYSTEM} iteration"),
    (is_baseline, is_simulated_mapreduce, f"single-node iteration / simulated "
     f"{MAPREDUCE_SYSTEM} iteration"),
)  # fmt: skip


def iteration_ratios(rows: list[IterationRow]) -> list[IterationRatio]:
    """The ``COMPARISONS`` wherever both cells were measured (rules off preferred: the
    iterative cells have no UDF for our rules to act on)."""
    by_point: dict[tuple[str, str, str], list[IterationRow]] = defaultdict(list)
    for r in rows:
        if r.later_s:
            by_point[(r.workload, r.scale, r.params)].append(r)
    ratios = []
    for (workload, scale, params), cells in by_point.items():
        for top, bottom, what in COMPARISONS:
            a, b = _pick(cells, top), _pick(cells, bottom)
            if a is None or b is None or not a.later_s or not b.later_s:
                continue
            ratio = a.later_s / b.later_s
            ratios.append(IterationRatio(workload, scale, params, what, ratio, [a.label, b.label]))
    return ratios


def _pick(cells: list[IterationRow], which: Callable[[IterationRow], bool]) -> IterationRow | None:
    """The baseline: the fastest; any other kind: its first-seen cell (rules off comes first,
    and the rules have nothing to act on in the iterative workloads)."""
    found = [r for r in cells if which(r)]
    if not found:
        return None
    return min(found, key=lambda r: r.later_s or 0.0) if which is is_baseline else found[0]


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
