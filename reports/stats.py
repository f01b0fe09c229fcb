"""Per-cell summaries of results: robust statistics, check status, relative speed."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import metrics
from harness.engines import Placement, Role
from harness.errors import UserError
from harness.results import RunRecord
from harness.rules import RulesMode
from harness.stopping import median_ci
from reports.data import cell_key, display_label, record_role, record_rows

#: Shown for a value that does not exist (no successful run).
MISSING = "-"


@dataclass
class CellSummary:
    """Everything a report shows about one cell (one workload x engine x variant x rules x
    scale)."""

    workload: str
    engine: str
    variant: str
    rules: RulesMode
    scale: str
    factor: float
    params: str
    label: str
    status: str
    reason: str | None = None
    n_ok: int = 0
    n_measured: int = 0
    n_warmup: int = 0
    #: Worker processes that measured the cell, and why its measuring stopped
    #: (``harness.stopping``: converged, time-budget, max-values, fixed, failed).
    n_processes: int = 0
    stop: str | None = None
    #: Median wall of the warm-ups that were a process's first call (cold), apart from values.
    first_call_median: float | None = None
    wall: list[float] = field(default_factory=list)
    wall_median: float | None = None
    wall_min: float | None = None
    wall_q1: float | None = None
    wall_q3: float | None = None
    wall_ci: tuple[float, float, float] | None = None
    cpu_median: float | None = None
    rss_median: float | None = None
    startup_median: float | None = None
    throughput_median: float | None = None
    unit: str = "items"
    input_bytes: int | None = None
    items: int | None = None
    check: str = "na"
    relative: float | None = None
    note: str | None = None
    #: Where the cell ran (a cluster), as its records say; "" in the run's own processes.
    where: str = ""
    #: Runs whose engine failed to stop afterwards (their figures stand), with the first error.
    stop_failures: str | None = None
    #: The check's detail when the cell's answers were judged by quality (a different
    #: algorithm, e.g. an engine's ML library), not value by value.
    quality_check: str | None = None
    #: A fed (streaming) cell: its wall is the feed's schedule, so its throughput is over the
    #: time it spent processing (``busy_s``) and it has no Relative.
    paced: bool = False
    #: The data's size in the workload's unit (None: unknown, e.g. a user's input).
    rows: int | None = None
    #: What the cell's engine variant is (placement, nodes, cores, baseline candidate).
    role: Role = field(default_factory=lambda: Role(Placement.SINGLE, cores=None))
    #: The label of the cell its ``relative`` is against (None: no baseline at its point).
    baseline: str | None = None

    @property
    def point(self) -> tuple[str, str, float, str]:
        """Workload, scale, factor and parameters: the cells of one point are comparable."""
        return (self.workload, self.scale, self.factor, self.params)

    @property
    def scale_label(self) -> str:
        """Scale with its factor, e.g. ``small`` or ``small x2``."""
        return self.scale if self.factor == 1 else f"{self.scale} x{self.factor:g}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def runs_label(s: CellSummary) -> str:
    """``ok/measured (+warm-ups)``, the processes and why the cell stopped, e.g.
    ``9/9 (+2) in 2 processes, converged``."""
    text = f"{s.n_ok}/{s.n_measured} (+{s.n_warmup})"
    if s.n_processes > 1 or s.stop:
        text += f" in {s.n_processes} process{'es' if s.n_processes != 1 else ''}"
    return f"{text}, {s.stop}" if s.stop else text


def _status(measured: list[RunRecord], skipped: list[RunRecord]) -> tuple[str, str | None]:
    problems = [r for r in measured if r.status != "ok"]
    if skipped and not measured:
        return "skipped", skipped[0].error
    if not problems:
        return "ok", None
    first = problems[0]
    if len(problems) == len(measured):
        return first.status, first.error
    return "partial", f"{len(problems)} of {len(measured)} runs {first.status}: {first.error}"


def summarize(
    records: list[RunRecord],
    environments: Mapping[str, Mapping[str, Any]] | None = None,
    baseline: str | None = None,
) -> list[CellSummary]:
    """One summary per cell, in first-seen order; warm-ups are counted, never measured.
    ``environments`` (batch id -> env file) give each cell its engine's note; ``baseline``
    (a cell label) is the cell every other is compared with, instead of the fastest
    single-node one."""
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for record in records:
        groups[cell_key(record)].append(record)
    summaries = [_summarize_cell(group, environments or {}) for group in groups.values()]
    _add_relative(summaries, baseline)
    return summaries


def engine_note(record: RunRecord, environments: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The note the batch's environment recorded for the record's engine variant (e.g. that
    it only simulates the real system)."""
    engines = environments.get(record.batch_id, {}).get("engines") or {}
    notes = (engines.get(record.engine) or {}).get("notes") or {}
    note = notes.get(record.variant)
    return str(note) if note else None


def _stop_failures(group: list[RunRecord]) -> str | None:
    """``engine failed to stop after N of M runs: <first error>``, or None."""
    failed = [r for r in group if r.stop_error]
    if not failed:
        return None
    return f"engine failed to stop after {len(failed)} of {len(group)} runs: {failed[0].stop_error}"


def _summarize_cell(
    group: list[RunRecord], environments: Mapping[str, Mapping[str, Any]]
) -> CellSummary:
    first = group[0]
    # A failed warm-up counts as a failed run: a failed call ends its cell, so a cell that
    # failed on its first call (its start-up) has no other record to say so.
    measured = [
        r
        for r in group
        if (not r.is_warmup and r.status != "skipped") or r.status in ("failed", "timeout")
    ]
    skipped = [r for r in group if r.status == "skipped"]
    ok = [r for r in measured if r.status == "ok" and r.wall_s is not None]
    status, reason = _status(measured, skipped)
    walls = [float(r.wall_s) for r in ok if r.wall_s is not None]
    summary = CellSummary(
        workload=first.workload,
        engine=first.engine,
        variant=first.variant,
        rules=first.rules,
        scale=first.scale,
        factor=first.factor,
        params=cell_key(first)[3],
        label=display_label(first.cell, first.where),
        where=first.where,
        status=status,
        reason=reason,
        n_ok=len(ok),
        n_measured=len(measured),
        n_warmup=sum(1 for r in group if r.is_warmup),
        n_processes=len({(r.batch_id, r.process) for r in group if r.status != "skipped"}),
        stop=next((str(r.metrics["stop"]) for r in reversed(group) if "stop" in r.metrics), None),
        first_call_median=_median(
            [r.wall_s for r in group if r.is_warmup and r.call == 0 and r.wall_s is not None]
        ),
        wall=walls,
        input_bytes=first.input.get("bytes") if first.input else None,
        rows=record_rows(first),
        role=record_role(first),
        note=next(filter(None, (engine_note(r, environments) for r in group)), None),
        stop_failures=_stop_failures(group),
    )
    if walls:
        summary.wall_median = statistics.median(walls)
        summary.wall_min = min(walls)
        if len(walls) >= 2:
            quartiles = statistics.quantiles(walls, n=4, method="inclusive")
            summary.wall_q1, summary.wall_q3 = quartiles[0], quartiles[2]
        summary.wall_ci = median_ci(walls)
    summary.cpu_median = _median([r.cpu_s for r in ok if r.cpu_s is not None])
    rss = [float(r.peak_rss_bytes) for r in ok if r.peak_rss_bytes is not None]
    summary.rss_median = _median(rss)
    summary.startup_median = _median([r.startup_s for r in ok if r.startup_s is not None])
    summary.paced = any(metrics.BUSY.name in r.metrics for r in ok)
    rates = [
        float(r.metrics[metrics.ITEMS_PER_S.name])
        for r in ok
        if r.metrics.get(metrics.ITEMS_PER_S.name)
    ]
    summary.throughput_median = _median(rates)
    summary.unit = next((str(r.metrics["unit"]) for r in ok if r.metrics.get("unit")), "items")
    summary.items = next((int(r.metrics["items"]) for r in ok if "items" in r.metrics), None)
    checks = {r.check for r in measured}
    summary.quality_check = next(
        (r.check_detail for r in measured if r.metrics.get(metrics.CHECK_METHOD.name) == "quality"),
        None,
    )
    summary.check = "fail" if "fail" in checks else ("pass" if checks == {"pass"} else "na")
    return summary


def is_single_node(s: CellSummary) -> bool:
    """A single-node baseline candidate: an engine built for one machine, on this machine."""
    return s.role.baseline and s.role.placement is Placement.SINGLE


def _timed(s: CellSummary) -> bool:
    return s.wall_median is not None and not s.paced and s.check != "fail"


def baselines(
    summaries: list[CellSummary], chosen: str | None = None
) -> dict[tuple[str, str, float, str], CellSummary]:
    """Per point (workload, scale, factor, parameters): the cell the others are compared
    with: the fastest single-node cell whose check passed, or the ``chosen`` label's cell
    (a UserError when no cell has that label)."""
    if chosen is not None:
        known = {s.label for s in summaries} | {s.label.split(" ")[0] for s in summaries}
        if chosen not in known:
            raise UserError(
                f"--baseline {chosen!r}: no such cell in these results "
                f"(cells: {', '.join(sorted({s.label for s in summaries}))})"
            )
    found: dict[tuple[str, str, float, str], CellSummary] = {}
    for s in summaries:
        if not _timed(s):
            continue
        if chosen is not None:
            if chosen not in (s.label, s.label.split(" ")[0]):
                continue
        elif not (is_single_node(s) and s.check == "pass"):
            continue
        best = found.get(s.point)
        if best is None or (s.wall_median or 0.0) < (best.wall_median or 0.0):
            found[s.point] = s
    return found


def _add_relative(summaries: list[CellSummary], chosen: str | None) -> None:
    """Relative, as engines' own ``Benchmark`` tables show it: baseline median / this median
    (higher is faster), against each point's baseline (``baselines``)."""
    base = baselines(summaries, chosen)
    for s in summaries:
        ref = base.get(s.point)
        if ref is not None and ref.wall_median and s.wall_median and not s.paced:
            s.relative = ref.wall_median / s.wall_median
            s.baseline = ref.label


#: Said of a fed cell in the status column.
PACED_NOTE_SHORT = "fed: throughput over busy time, no relative"
#: Said under a table with fed (streaming) cells.
PACED_NOTE = (
    "fed cells (a stream fed at the offered rate) last as long as their feed: their throughput "
    "is events / the time spent processing (summed micro-batch durations), and they have no "
    "Relative; their latency table is the comparison"
)


def fmt_seconds(value: float | None) -> str:
    """Seconds with sensible precision (ms below one second)."""
    if value is None:
        return MISSING
    # Decided on the rounded value: 0.99996 s is "1 s", never "1e+03 ms".
    if float(f"{value:.3g}") < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def fmt_bytes(value: float | None) -> str:
    """Bytes as MiB or GiB."""
    if value is None:
        return MISSING
    if value >= 2**30:
        return f"{value / 2**30:.2f} GiB"
    return f"{value / 2**20:,.0f} MiB"


def fmt_rate(value: float | None, unit: str) -> str:
    """Throughput, e.g. ``1.2M words/s``."""
    if value is None:
        return MISSING
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix} {unit}/s"
    return f"{value:.3g} {unit}/s"


def fmt_metric(metric: metrics.Metric, value: float | None, unit: str = "items") -> str:
    """A value in its declared unit (seconds, bytes, a rate of ``unit``, or a plain number)."""
    if metric.unit == "s":
        return fmt_seconds(value)
    if metric.unit == "bytes":
        return fmt_bytes(value)
    if metric.unit == "items/s":
        return fmt_rate(value, unit)
    return MISSING if value is None else f"{value:.4g}"


def fmt_relative(value: float | None) -> str:
    """Relative speed as ``Benchmark`` tables show it, e.g. ``0.25X``."""
    if value is None:
        return MISSING
    return f"{value:.2f}X" if value >= 0.1 else f"{value:.2g}X"
