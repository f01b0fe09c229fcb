"""Scaling over a size ladder: each cell's fitted cost lines, where cells overtake each other,
one machine's memory wall, a decision table per workload, ``scaling.json``, and predictions
at a size that was not run (``bdbench scale --predict ROWS``).

Reads records only. A cell here is a workload x engine x variant x rules cell at one
parameter point and one place (``where``: a cluster cell is never mixed with the same cell run
locally), across its sizes. A size is the data's size in the workload's own unit (points,
words, rows: what ``Workload.scale_sizes`` counts): ``RunRecord.rows``, or for older records
``scale_sizes[scale] x factor`` when the workload is registered here (records whose size is
unknown, e.g. a user's own input, are left out).

Only measured runs count for the lines (no warm-ups, status ok, answer not failed): per size
the median wall time with its spread, and the median peak RSS. Lines are fitted on those
medians by ``harness.fits`` (``y = a + b n``, robust relative residuals): wall time, the
first and the later iterations of iterative workloads, and peak memory. A run killed for
memory (``harness.memlimit.out_of_memory``: the kernel's OOM killer, or bdbench enforcing
``--memory-limit``) marks the cell's memory wall; the memory line solved for the limit
predicts it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness import fits, memlimit, metrics
from harness.cells import Cell
from harness.errors import UserError
from harness.fits import CrossKind, LineFit
from harness.results import RunRecord
from reports.data import Results, display_label, record_rows
from reports.iterations import fmt_times
from reports.markdown import md_text
from reports.stats import MISSING, fmt_bytes, fmt_seconds
from reports.udf import params_label, workload_defaults

if TYPE_CHECKING:
    from harness.registry import Workload
    from reports.figures import Chart

#: A cell's default prediction in ``scaling.json`` is at this many times its largest
#: measured size; the decision table looks as far beyond the largest size of its cells.
PREDICT_FACTOR = 4.0
#: Said in ``scaling.json`` beside each default prediction.
PREDICT_BASIS = f"{PREDICT_FACTOR:g}x the cell's largest measured size"
#: The size unit of a workload that is not registered here.
DEFAULT_UNIT = "rows"

#: Said at the head of the Scaling section (HTML and Markdown alike).
SCALING_INTRO = (
    "The same cells run at several sizes. Per size, the median wall time over the measured "
    "runs (no warm-ups, status ok, answer not failed) with its spread; per cell, the line "
    "wall = a + b n fitted over those medians (least squares on relative residuals, robust to "
    "one noisy size): a is the fixed cost, b the cost per million of the workload's unit. "
    "Fit error: root mean square of the relative residuals. Held-out error: fitted again "
    "without the largest size, how far (signed) that line's prediction of the largest size is "
    "from what was measured (needs three sizes). Cells at one size only get no line. A cell "
    "run on a cluster is never pooled with the same cell run locally."
)
#: Said under each decision table.
DECISION_NOTE = (
    "From the fitted lines, from the smallest measured size to "
    f"{PREDICT_FACTOR:g}x the largest: the cheapest cell in each size band, the runner-up and "
    "how many times the runner-up's wall is the fastest's at the band's ends. A cell is out "
    "of the running from its memory wall on: the first size that ran out of memory, or where "
    "its memory line reaches its memory limit (a prediction below a size it ran is ignored)."
)

Basis = Literal["measured", "predicted"]


def _workload(name: str) -> Workload | None:
    from harness import registry

    try:
        return registry.get_workload(name)
    except UserError:
        return None


def size_unit(workload: str) -> str:
    """What a workload's sizes count (``words``, ``points``), ``rows`` when not registered."""
    spec = _workload(workload)
    if spec is None:
        return DEFAULT_UNIT
    return spec.size_unit or spec.unit or DEFAULT_UNIT


def is_measured(record: RunRecord) -> bool:
    """Whether a record counts for the lines: measured, ok, answer not failed, timed."""
    return (
        not record.is_warmup
        and record.status == "ok"
        and record.check != "fail"
        and record.wall_s is not None
    )


# ---------------------------------------------------------------------------- formatting


def fmt_rows(value: float | None) -> str:
    """A size with thousands separators: exact when whole (a measured size), three
    significant digits when fitted (``2,870,000``); a dash for None."""
    if value is None or not math.isfinite(value):
        return MISSING
    if float(value).is_integer():
        return f"{int(value):,}"
    digits = 2 - math.floor(math.log10(abs(value))) if value else 0
    return f"{round(value, min(digits, 0)):,.0f}"


def fmt_error(value: float | None) -> str:
    """A fit error as a percentage, ``3.2%``."""
    return MISSING if value is None else f"{value:.1%}"


def fmt_signed(value: float | None) -> str:
    """A held-out error as a signed percentage, ``+4.1%`` (over), ``-2.0%`` (under)."""
    return MISSING if value is None else f"{value:+.1%}"


def fmt_factor(value: float) -> str:
    """How many times a size is another, ``1.22x``, ``204x``, ``1,250x``."""
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def fmt_limit(value: int | None) -> str:
    """A memory limit in the binary unit it was most likely given in: ``1 GiB``, ``768 MiB``."""
    if value is None:
        return MISSING
    for factor, unit in ((2**30, "GiB"), (2**20, "MiB")):
        if value % factor == 0:
            return f"{value // factor:,} {unit}"
    return fmt_bytes(value)


def fmt_line(fit: LineFit | None, unit: str) -> str:
    """A wall-time line as ``a + b per million <unit>``."""
    if fit is None:
        return MISSING
    return f"{fmt_seconds(fit.fixed)} + {fmt_seconds(fit.per_million)} per million {unit}"


# ------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class SizePoint:
    """One measured size of a cell: medians and spread over its measured runs."""

    rows: int
    runs: int
    wall_median: float
    wall_min: float
    wall_max: float
    #: Quartiles of the wall times (None with a single run).
    wall_q1: float | None
    wall_q3: float | None
    rss_median: float | None
    #: Iterative workloads: median first (cold) iteration and median of the later ones.
    first_median: float | None = None
    later_median: float | None = None


@dataclass(frozen=True)
class CrossoverRow:
    """Where one cell's wall-time line meets another's (labels, not objects: JSON-ready)."""

    other: str
    kind: CrossKind
    #: The size where both lines are equal (None: ``never``).
    rows: float | None
    #: ``rows`` over the largest size both were measured at.
    factor: float | None
    #: The label of the cell that is cheaper above ``rows`` (``never``: everywhere); None
    #: when the lines are the same.
    cheaper_after: str | None
    #: Whether ``rows`` is at or past either cell's memory wall (the crossing never happens
    #: on this machine).
    beyond_memory_wall: bool = False


@dataclass
class ScalingCell:
    """One cell (at one parameter point and place) across its sizes, with its fitted lines."""

    workload: str
    cell: Cell
    #: Parameters as JSON (``reports.data.cell_key``'s form).
    params: str
    where: str
    label: str
    unit: str
    points: list[SizePoint]
    wall: LineFit | None = None
    first: LineFit | None = None
    later: LineFit | None = None
    memory: LineFit | None = None
    memory_limit_bytes: int | None = None
    #: The first size where a run ran out of memory.
    oom_at_rows: int | None = None
    #: Where the memory line reaches ``memory_limit_bytes``.
    oom_predicted_rows: float | None = None
    #: The first size where a run timed out.
    timeout_at_rows: int | None = None
    #: Sizes with only skipped records (e.g. the runner skips the sizes after an OOM).
    skipped_rows: list[int] = field(default_factory=list)
    #: Sizes with no measured run for another reason (a crash, a wrong answer), first error.
    failed_rows: dict[int, str] = field(default_factory=dict)
    crossovers: list[CrossoverRow] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        """The measured sizes, smallest first."""
        return [p.rows for p in self.points]

    @property
    def largest_ok(self) -> int | None:
        """The largest measured size (None: no successful run)."""
        return self.points[-1].rows if self.points else None

    @property
    def memory_wall(self) -> tuple[float, Basis] | None:
        """Where the cell is out of the running on this machine: the first size that ran
        out of memory (measured), else where its memory line reaches its limit (predicted;
        ignored at or below a size it ran)."""
        if self.oom_at_rows is not None:
            return float(self.oom_at_rows), "measured"
        predicted = self.oom_predicted_rows
        if predicted is not None and predicted > (self.largest_ok or 0):
            return predicted, "predicted"
        return None

    @property
    def note(self) -> str | None:
        """Why the cell has no wall-time line (None when it has one)."""
        if self.wall is not None:
            return None
        if not self.points:
            return "no successful measured run: no line"
        if len(self.points) == 1:
            return f"one size only ({fmt_rows(self.points[0].rows)} {self.unit}): no line"
        return "no line: a median is not a positive time"


@dataclass(frozen=True)
class DecisionBand:
    """One size band of a decision table: the fastest cell in it and by how much."""

    low: float
    high: float
    #: Inside the measured sizes (False: the lines are extrapolated there).
    measured: bool
    fastest: str | None
    runner_up: str | None
    #: Runner-up's fitted wall over the fastest's, at the band's low and high ends.
    ratio_low: float | None
    ratio_high: float | None
    #: Cells out of the running in the band (past their memory wall), with why.
    out: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecisionTable:
    """The decision table of one workload at one parameter point."""

    params: str
    params_label: str
    bands: list[DecisionBand]


@dataclass(frozen=True)
class Table:
    """A table of texts, rendered alike as HTML (escaped) and Markdown (``md_text``)."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    note: str = ""
    #: Columns aligned left (labels and sentences); the others hold numbers.
    left: tuple[int, ...] = (0,)


@dataclass
class WorkloadScaling:
    """Everything the Scaling section shows for one workload."""

    name: str
    unit: str
    cells: list[ScalingCell]
    decisions: list[DecisionTable] = field(default_factory=list)
    #: Parameter points (JSON -> label) when there is more than one.
    params: dict[str, str] = field(default_factory=dict)
    #: The log-log figure (set by the HTML report; None elsewhere).
    chart: Chart | None = None

    @property
    def fitted(self) -> bool:
        """Whether at least one cell has a line (ran at two sizes or more)."""
        return any(c.wall is not None for c in self.cells)

    @property
    def tables(self) -> list[Table]:
        """The section's tables: per-size medians, lines, crossovers, decisions."""
        tables = [size_table(self), fit_table(self)]
        crossing = crossover_table(self)
        if crossing.rows:
            tables.append(crossing)
        tables += decision_tables(self)
        return tables

    @property
    def memory_walls(self) -> list[str]:
        """One sentence per cell that ran under a memory limit or ran out of memory."""
        return [s for c in self.cells if (s := memory_wall_sentence(c)) is not None]


# ------------------------------------------------------------------------------ building


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _point(rows: int, runs: list[RunRecord]) -> SizePoint:
    walls = sorted(float(r.wall_s) for r in runs if r.wall_s is not None)
    q1 = q3 = None
    if len(walls) >= 2:
        quartiles = statistics.quantiles(walls, n=4, method="inclusive")
        q1, q3 = quartiles[0], quartiles[2]

    def metric(name: str) -> float | None:
        return _median([float(r.metrics[name]) for r in runs if r.metrics.get(name) is not None])

    return SizePoint(
        rows=rows,
        runs=len(walls),
        wall_median=statistics.median(walls),
        wall_min=walls[0],
        wall_max=walls[-1],
        wall_q1=q1,
        wall_q3=q3,
        rss_median=_median([float(r.peak_rss_bytes) for r in runs if r.peak_rss_bytes]),
        first_median=metric(metrics.FIRST_ITERATION.name),
        later_median=metric(metrics.LATER_ITERATIONS.name),
    )


def _fit(points: list[SizePoint], value: str) -> LineFit | None:
    pairs = [(p.rows, getattr(p, value)) for p in points if getattr(p, value) is not None]
    if len(pairs) < 2:
        return None
    return fits.fit_line([n for n, _ in pairs], [v for _, v in pairs])


def _limit(group: list[tuple[int, RunRecord]], oom: RunRecord | None) -> int | None:
    if oom is not None and oom.memory_limit_bytes:
        return oom.memory_limit_bytes
    limits = Counter(r.memory_limit_bytes for _, r in group if r.memory_limit_bytes)
    return limits.most_common(1)[0][0] if limits else None


def _scaling_cell(group: list[tuple[int, RunRecord]], unit: str) -> ScalingCell:
    first = group[0][1]
    by_size: dict[int, list[RunRecord]] = defaultdict(list)
    for n, r in group:
        if is_measured(r):
            by_size[n].append(r)
    points = [_point(n, by_size[n]) for n in sorted(by_size)]
    # A failed warm-up is a failed run too: a cell whose first call ran out of memory has
    # no other record to say so.
    ooms = sorted(
        ((n, r) for n, r in group if r.status != "ok" and memlimit.out_of_memory(r.error)),
        key=lambda item: item[0],
    )
    oom = ooms[0] if ooms else None
    timeouts = [n for n, r in group if r.status == "timeout"]
    tried = {n for n, r in group if r.status != "skipped"}
    failed: dict[int, str] = {}
    for n, r in sorted(group, key=lambda item: item[0]):
        if n not in by_size and r.status in ("failed", "timeout") and n not in failed:
            failed[n] = str(r.error or r.status)
        elif n not in by_size and r.status == "ok" and r.check == "fail" and n not in failed:
            failed[n] = "wrong answer"
    cell = ScalingCell(
        workload=first.workload,
        cell=Cell.of(first),
        params=json.dumps(first.params, sort_keys=True, default=str),
        where=first.where,
        label=display_label(Cell.of(first), first.where),
        unit=unit,
        points=points,
        wall=_fit(points, "wall_median"),
        first=_fit(points, "first_median"),
        later=_fit(points, "later_median"),
        memory=_fit(points, "rss_median"),
        memory_limit_bytes=_limit(group, oom[1] if oom else None),
        oom_at_rows=oom[0] if oom else None,
        timeout_at_rows=min(timeouts) if timeouts else None,
        skipped_rows=sorted({n for n, r in group if r.status == "skipped"} - tried),
        failed_rows=failed,
    )
    if cell.memory is not None and cell.memory_limit_bytes:
        cell.oom_predicted_rows = fits.solve_for(cell.memory, cell.memory_limit_bytes)
    return cell


def scaling_cells(records: Iterable[RunRecord]) -> list[ScalingCell]:
    """Every cell (workload x engine x variant x rules x parameters x place) whose records
    have a known size, with its per-size medians, lines and memory wall, in first-seen order
    (labels unique within a workload; crossovers are filled by ``scaling_workloads``)."""
    groups: dict[tuple[Any, ...], list[tuple[int, RunRecord]]] = {}
    for record in records:
        rows = record_rows(record)
        if rows is None:
            continue
        params = json.dumps(record.params, sort_keys=True, default=str)
        groups.setdefault((Cell.of(record).key, params, record.where), []).append((rows, record))
    units: dict[str, str] = {}
    cells = []
    for group in groups.values():
        if all(r.status == "skipped" for _, r in group):
            continue  # never ran here (e.g. no cluster up): no point on any line
        name = group[0][1].workload
        unit = units.setdefault(name, size_unit(name))
        cells.append(_scaling_cell(group, unit))
    _label(cells)
    return cells


def _label(cells: list[ScalingCell]) -> None:
    """Parameters in the label where a workload has several points; rules where two cells
    would still share a label (rules None and off both have no suffix)."""
    points: dict[str, set[str]] = defaultdict(set)
    for c in cells:
        points[c.workload].add(c.params)
    for c in cells:
        if len(points[c.workload]) > 1:
            shown = params_label(json.loads(c.params), workload_defaults(c.workload))
            c.label = f"{c.label} [{shown}]"
    seen: Counter[tuple[str, str]] = Counter((c.workload, c.label) for c in cells)
    for c in cells:
        if seen[(c.workload, c.label)] > 1:
            c.label = f"{c.label} (rules {c.cell.rules.label})"


def _crossovers(cells: list[ScalingCell]) -> None:
    for one in cells:
        one.crossovers = []
        for other in cells:
            if other is one or one.wall is None or other.wall is None:
                continue
            found = fits.crossover(one.wall, other.wall, rtol=fits.FITTED_SLOPE_RTOL)
            cheaper = {"one": one.label, "other": other.label, None: None}[found.cheaper_after]
            walls = [w[0] for w in (one.memory_wall, other.memory_wall) if w is not None]
            beyond = found.rows is not None and any(found.rows >= w for w in walls)
            one.crossovers.append(
                CrossoverRow(other.label, found.kind, found.rows, found.factor, cheaper, beyond)
            )


def _ranked(cells: list[ScalingCell], n: float) -> list[ScalingCell]:
    running = [c for c in cells if (w := c.memory_wall) is None or n < w[0]]
    return sorted(running, key=lambda c: c.wall.predict(n) if c.wall else math.inf)


def _ratio(fastest: ScalingCell, runner: ScalingCell | None, n: float) -> float | None:
    if runner is None or fastest.wall is None or runner.wall is None:
        return None
    base = fastest.wall.predict(n)
    # At a band's edge the two may be equal: rounding must not make the runner-up faster.
    return max(1.0, runner.wall.predict(n) / base) if base > 0 else None


def _decision(cells: list[ScalingCell], params: str, label: str) -> DecisionTable | None:
    fitted = [c for c in cells if c.wall is not None]
    if len(fitted) < 2:
        return None
    low = float(min(c.sizes[0] for c in fitted))
    top = float(max(c.sizes[-1] for c in fitted))
    high = top * PREDICT_FACTOR
    cuts = {low, top, high}
    for c in fitted:
        cuts.update(x.rows for x in c.crossovers if x.rows is not None)
        if (wall := c.memory_wall) is not None:
            cuts.add(wall[0])
    edges = sorted(x for x in cuts if low <= x <= high)
    bands: list[DecisionBand] = []
    for a, b in itertools.pairwise(edges):
        middle = math.sqrt(a * b)
        ranked = _ranked(fitted, middle)
        out = tuple(
            f"{c.label} ({'out of memory' if w[1] == 'measured' else 'predicted out of memory'}"
            f" from {fmt_rows(w[0])})"
            for c in fitted
            if (w := c.memory_wall) is not None and middle >= w[0]
        )
        fastest = ranked[0] if ranked else None
        runner = ranked[1] if len(ranked) > 1 else None
        ratios = [r for n in (a, b) if fastest and (r := _ratio(fastest, runner, n)) is not None]
        band = DecisionBand(
            low=a,
            high=b,
            measured=b <= top,
            fastest=fastest.label if fastest else None,
            runner_up=runner.label if runner else None,
            ratio_low=min(ratios) if ratios else None,
            ratio_high=max(ratios) if ratios else None,
            out=out,
        )
        last = bands[-1] if bands else None
        same = ("fastest", "runner_up", "measured", "out")
        if last is not None and all(getattr(last, k) == getattr(band, k) for k in same):
            merged = [r for r in (last.ratio_low, last.ratio_high, *ratios) if r is not None]
            bands[-1] = dataclasses.replace(
                last,
                high=b,
                ratio_low=min(merged) if merged else None,
                ratio_high=max(merged) if merged else None,
            )
        else:
            bands.append(band)
    return DecisionTable(params, label, bands)


def scaling_workloads(records: Iterable[RunRecord]) -> list[WorkloadScaling]:
    """Per workload (first-seen order): its cells across sizes, their lines, crossovers
    between cells of the same parameter point, memory walls and decision tables."""
    by_workload: dict[str, list[ScalingCell]] = {}
    for c in scaling_cells(records):
        by_workload.setdefault(c.workload, []).append(c)
    out = []
    for name, cells in by_workload.items():
        points = list(dict.fromkeys(c.params for c in cells))
        defaults = workload_defaults(name)
        labels = {p: params_label(json.loads(p), defaults) for p in points}
        scaling = WorkloadScaling(name, cells[0].unit, cells)
        if len(points) > 1:
            scaling.params = labels
        for point in points:
            mine = [c for c in cells if c.params == point]
            _crossovers(mine)
            table = _decision(mine, point, labels[point])
            if table is not None:
                scaling.decisions.append(table)
        out.append(scaling)
    return out


def _records(results: Results | Iterable[RunRecord]) -> list[RunRecord]:
    return list(results.records if isinstance(results, Results) else results)


# -------------------------------------------------------------------------------- tables


def _sizes_text(cell: ScalingCell) -> str:
    if not cell.points:
        return "0"
    if len(cell.points) == 1:
        return f"1 ({fmt_rows(cell.sizes[0])})"
    return f"{len(cell.points)} ({fmt_rows(cell.sizes[0])} to {fmt_rows(cell.sizes[-1])})"


def size_table(scaling: WorkloadScaling) -> Table:
    """Per cell and size: runs, median wall, its spread and the median peak RSS."""
    iterative = any(p.first_median is not None for c in scaling.cells for p in c.points)
    header: tuple[str, ...] = (
        "cell",
        scaling.unit,
        "runs",
        "median wall",
        "min to max",
        "quartiles",
        "peak RSS",
    )
    if iterative:
        header += ("first iteration", "later iterations")
    rows: list[tuple[str, ...]] = []
    blank = [MISSING] * (len(header) - 4)
    for c in scaling.cells:
        mine: list[tuple[int, tuple[str, ...]]] = []
        for p in c.points:
            quartiles = (
                MISSING
                if p.wall_q1 is None
                else f"{fmt_seconds(p.wall_q1)} to {fmt_seconds(p.wall_q3)}"
            )
            row: tuple[str, ...] = (
                c.label,
                fmt_rows(p.rows),
                str(p.runs),
                fmt_seconds(p.wall_median),
                f"{fmt_seconds(p.wall_min)} to {fmt_seconds(p.wall_max)}",
                quartiles,
                fmt_bytes(p.rss_median),
            )
            if iterative:
                row += (fmt_seconds(p.first_median), fmt_seconds(p.later_median))
            mine.append((p.rows, row))
        for n in c.skipped_rows:
            mine.append((n, (c.label, fmt_rows(n), "0", "skipped", *blank)))
        for n, error in c.failed_rows.items():
            state = "out of memory" if memlimit.out_of_memory(error) else error
            mine.append((n, (c.label, fmt_rows(n), "0", state, *blank)))
        rows += [row for _, row in sorted(mine, key=lambda item: item[0])]
    return Table(
        "Measured sizes (medians over the measured runs)",
        header,
        rows,
        left=(0, 3) if any(not c.points or c.failed_rows for c in scaling.cells) else (0,),
    )


def fit_table(scaling: WorkloadScaling) -> Table:
    """Per cell: the fitted wall line (a, b per million), its errors, the iteration and
    memory lines, or why it has none."""
    unit = scaling.unit
    iterative = any(c.first is not None or c.later is not None for c in scaling.cells)
    header: tuple[str, ...] = (
        "cell",
        "sizes",
        "fixed a",
        f"b per million {unit}",
        "fit error",
        "held-out error",
    )
    if iterative:
        header += ("first iteration", "later iterations")
    header += ("peak memory c", f"d per million {unit}", "note")
    rows: list[tuple[str, ...]] = []
    for c in scaling.cells:
        wall = c.wall
        row: tuple[str, ...] = (
            c.label,
            _sizes_text(c),
            fmt_seconds(wall.fixed) if wall else MISSING,
            fmt_seconds(wall.per_million) if wall else MISSING,
            fmt_error(wall.fit_error) if wall else MISSING,
            fmt_signed(wall.held_out_error) if wall else MISSING,
        )
        if iterative:
            row += (fmt_line(c.first, unit), fmt_line(c.later, unit))
        mem = c.memory
        row += (
            fmt_bytes(mem.fixed) if mem else MISSING,
            fmt_bytes(mem.per_million) if mem else MISSING,
            c.note or "",
        )
        rows.append(row)
    return Table(
        f"Fitted cost lines: wall = a + b n (n in {unit}), peak memory = c + d n",
        header,
        rows,
        left=(0, len(header) - 1),
    )


def _cheaper_text(x: CrossoverRow) -> str:
    if x.cheaper_after is None:
        return "the same line"
    return x.cheaper_after + (" at every size" if x.kind == "never" else "")


def crossover_table(scaling: WorkloadScaling) -> Table:
    """Each pair of cells with lines (same parameters) once: where one overtakes the other."""
    rows: list[tuple[str, ...]] = []
    done: set[frozenset[str]] = set()
    for c in scaling.cells:
        for x in c.crossovers:
            pair = frozenset((c.label, x.other))
            if pair in done:
                continue
            done.add(pair)
            if x.kind == "measured":
                where = "inside the measured sizes"
            elif x.factor is None:
                where = MISSING
            elif x.factor < 1:
                where = "below the measured sizes"
            else:
                where = f"{fmt_factor(x.factor)} the largest measured size"
            rows.append(
                (
                    c.label,
                    x.other,
                    x.kind,
                    fmt_rows(x.rows),
                    where,
                    _cheaper_text(x),
                    "past a memory wall: not on this machine" if x.beyond_memory_wall else "",
                )
            )
    header = (
        "cell",
        "other",
        "crossover",
        f"at ({scaling.unit})",
        "where",
        "cheaper above",
        "note",
    )
    note = (
        "measured: inside the sizes both cells ran; extrapolated: outside them (the lines "
        "extended); never: the lines do not cross at any positive size."
    )
    return Table("Crossovers", header, rows, note, left=(0, 1, 2, 5, 6))


def _band_text(band: DecisionBand) -> str:
    return f"{fmt_rows(band.low)} to {fmt_rows(band.high)}"


def _by_text(band: DecisionBand) -> str:
    low, high = band.ratio_low, band.ratio_high
    if low is None or high is None:
        return MISSING
    if fmt_times(low) == fmt_times(high):
        return fmt_times(low)
    return f"{fmt_times(low)} to {fmt_times(high)}"


def decision_tables(scaling: WorkloadScaling) -> list[Table]:
    """One decision table per parameter point with two cells or more that have lines."""
    tables = []
    for d in scaling.decisions:
        title = "Decision table: the fastest cell per size band on this machine"
        if scaling.params:
            title += f" ({d.params_label})"
        rows: list[tuple[str, ...]] = [
            (
                _band_text(b),
                "measured" if b.measured else "extrapolated",
                b.fastest or "none (every cell past its memory wall)",
                b.runner_up or MISSING,
                _by_text(b),
                "; ".join(b.out),
            )
            for b in d.bands
        ]
        header = (scaling.unit, "range", "fastest", "runner-up", "runner-up / fastest", "out")
        tables.append(Table(title, header, rows, DECISION_NOTE, left=(0, 1, 2, 3, 5)))
    return tables


#: A memory line that reaches the limit only beyond this many times the largest size that
#: ran is called flat rather than given an absurd size.
FLAT_BEYOND = 1000


def memory_wall_sentence(cell: ScalingCell) -> str | None:
    """One machine's wall for a cell that ran under a memory limit or ran out of memory,
    e.g. ``<engine>/<variant>: out of memory from 3,200,000 rows under 1 GiB; predicted
    2,900,000`` (None for a cell with neither)."""
    limit = cell.memory_limit_bytes
    if limit is None and cell.oom_at_rows is None:
        return None
    under = f"under {fmt_limit(limit)}" if limit else "in this machine's memory"
    predicted = cell.oom_predicted_rows
    if cell.oom_at_rows is not None:
        text = f"{cell.label}: out of memory from {fmt_rows(cell.oom_at_rows)} {cell.unit} {under}"
        if predicted is not None:
            text += f"; predicted {fmt_rows(predicted)}"
        elif limit and cell.memory is None:
            text += "; no memory line to predict it (fewer than two sizes ran)"
        elif limit:
            text += "; its memory line never reaches the limit"
    elif cell.largest_ok is None:
        return f"{cell.label}: no successful run {under}"
    else:
        text = (
            f"{cell.label}: no out-of-memory failure up to {fmt_rows(cell.largest_ok)} "
            f"{cell.unit} {under}"
        )
        if predicted is not None and predicted > FLAT_BEYOND * cell.largest_ok:
            # A line that reaches the limit only this far out is flat: no wall in sight.
            text += (
                f"; its memory line is nearly flat (it would reach the limit only beyond "
                f"{FLAT_BEYOND:,}x that size)"
            )
        elif predicted is not None and predicted > cell.largest_ok:
            text += f"; predicted out of memory from {fmt_rows(predicted)}"
        elif predicted is not None:
            # Summed RSS counts pages shared between processes (e.g. MapReduce task processes)
            # once per process; the cgroup counts them once.
            text += (
                f"; its memory line (summed RSS) reaches the limit at {fmt_rows(predicted)}, "
                "below sizes it ran: it overstates this cell's memory"
            )
    if cell.skipped_rows:
        larger = len(cell.skipped_rows)
        text += f" ({larger} larger size{'s' if larger != 1 else ''} not run)"
    return text


def scaling_markdown(workloads: Sequence[WorkloadScaling]) -> list[str]:
    """The Scaling section in Markdown (every text from results through ``md_text``)."""
    shown = [w for w in workloads if w.fitted]
    if not shown:
        return []
    lines = ["", "## Scaling", "", SCALING_INTRO]
    for w in shown:
        lines += ["", f"### {md_text(w.name)}: scaling"]
        for table in w.tables:
            lines += ["", f"#### {md_text(table.title)}", ""]
            lines.append("| " + " | ".join(md_text(h) for h in table.header) + " |")
            lines.append("|" + "---|" * len(table.header))
            for row in table.rows:
                lines.append("| " + " | ".join(md_text(c) for c in row) + " |")
            if table.note:
                lines += ["", md_text(table.note)]
        if w.memory_walls:
            lines += ["", "#### One machine's memory wall", ""]
            lines += [f"- {md_text(s)}" for s in w.memory_walls]
    return lines


# ---------------------------------------------------------------------------------- JSON


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)


def _fit_json(fit: LineFit | None) -> dict[str, Any] | None:
    if fit is None:
        return None
    return {
        "fixed_s": fit.fixed,
        "per_million_s": fit.per_million,
        "fit_error": fit.fit_error,
        "held_out_error": fit.held_out_error,
    }


def _cell_json(c: ScalingCell) -> dict[str, Any]:
    wall = c.wall
    largest = c.largest_ok
    target = round(largest * PREDICT_FACTOR) if largest is not None else None
    memory_wall = c.memory_wall
    mem = c.memory
    return {
        "engine": c.cell.engine,
        "variant": c.cell.variant,
        "rules": c.cell.rules.to_json(),
        "params": json.loads(c.params),
        "where": c.where,
        "unit": c.unit,
        "sizes": c.sizes,
        "medians": [
            {
                "rows": p.rows,
                "runs": p.runs,
                "wall_s": p.wall_median,
                "wall_min_s": p.wall_min,
                "wall_max_s": p.wall_max,
                "wall_q1_s": p.wall_q1,
                "wall_q3_s": p.wall_q3,
                "peak_rss_bytes": p.rss_median,
                "first_iteration_s": p.first_median,
                "later_iterations_s": p.later_median,
            }
            for p in c.points
        ],
        "fixed_s": wall.fixed if wall else None,
        "per_million_s": wall.per_million if wall else None,
        "fit_error": wall.fit_error if wall else None,
        "held_out_error": wall.held_out_error if wall else None,
        "note": c.note,
        "predict": {
            "rows": target if wall else None,
            "wall_s": wall.predict(target) if wall and target is not None else None,
            "basis": PREDICT_BASIS,
            "beyond_memory_wall": bool(
                wall and target is not None and memory_wall and target >= memory_wall[0]
            ),
        },
        "first_iteration": _fit_json(c.first),
        "later_iterations": _fit_json(c.later),
        "memory": {
            "fixed_bytes": mem.fixed if mem else None,
            "per_million_bytes": mem.per_million if mem else None,
            "fit_error": mem.fit_error if mem else None,
            "held_out_error": mem.held_out_error if mem else None,
        },
        "memory_limit_bytes": c.memory_limit_bytes,
        "oom_at_rows": c.oom_at_rows,
        "oom_predicted_rows": _round(c.oom_predicted_rows),
        "memory_wall": (
            None
            if memory_wall is None
            else {"rows": _round(memory_wall[0]), "basis": memory_wall[1]}
        ),
        "timeout_at_rows": c.timeout_at_rows,
        "skipped_rows": c.skipped_rows,
        "crossovers": [
            {
                "other": x.other,
                "rows": _round(x.rows),
                "kind": x.kind,
                "factor": x.factor,
                "cheaper_after": x.cheaper_after,
                "beyond_memory_wall": x.beyond_memory_wall,
            }
            for x in c.crossovers
        ],
    }


def scaling_json(workloads: Sequence[WorkloadScaling]) -> dict[str, dict[str, Any]]:
    """``{workload: {cell label: {...}}}`` as ``scaling.json`` holds it: sizes, medians, the
    wall line (``fixed_s``, ``per_million_s``, errors), a default prediction, iteration and
    memory lines, the memory wall and the crossovers."""
    return {w.name: {c.label: _cell_json(c) for c in w.cells} for w in workloads}


def scaling_json_text(workloads: Sequence[WorkloadScaling]) -> str:
    """``scaling_json`` as the text of ``scaling.json``."""
    return json.dumps(scaling_json(workloads), indent=1, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class Prediction:
    """One cell's predicted wall time at a size, from its fitted line."""

    workload: str
    label: str
    unit: str
    rows: int
    #: None: the cell has no line (say why in ``note``).
    wall_s: float | None
    fit_error: float | None
    held_out_error: float | None
    sizes: tuple[int, ...]
    #: Predicted peak RSS from the memory line, and the limit the runs had.
    peak_rss_bytes: float | None
    memory_limit_bytes: int | None
    #: The cell's memory wall (``ScalingCell.memory_wall``) and whether ``rows`` is past it.
    memory_wall_rows: float | None
    memory_wall_basis: Basis | None
    beyond_memory_wall: bool
    note: str

    def to_json(self) -> dict[str, Any]:
        """The prediction as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _where(sizes: Sequence[int], rows: int) -> str:
    if rows < sizes[0]:
        return f"below the smallest measured size ({fmt_rows(sizes[0])})"
    if rows > sizes[-1]:
        return (
            f"extrapolated, {fmt_factor(rows / sizes[-1])} the largest measured size "
            f"({fmt_rows(sizes[-1])})"
        )
    return "inside the measured sizes"


def predict(
    results: Results | Iterable[RunRecord],
    rows: int,
    workload: str | Sequence[str] | None = None,
) -> list[Prediction]:
    """Each cell's predicted wall time at ``rows`` (the workload's own unit) from its fitted
    line, with the line's errors and whether ``rows`` is past the cell's memory wall; cells
    without a line are listed with why. ``workload``: a name or names (None or empty: every
    workload)."""
    if rows <= 0:
        raise UserError(f"a size to predict must be a positive number of rows, got {rows}")
    names = {workload} if isinstance(workload, str) else set(workload or ())
    out = []
    for w in scaling_workloads(_records(results)):
        if names and w.name not in names:
            continue
        for c in w.cells:
            wall, mem, limit = c.wall, c.memory, c.memory_wall
            beyond = limit is not None and rows >= limit[0]
            note = c.note or _where(c.sizes, rows)
            out.append(
                Prediction(
                    workload=w.name,
                    label=c.label,
                    unit=c.unit,
                    rows=rows,
                    wall_s=wall.predict(rows) if wall else None,
                    fit_error=wall.fit_error if wall else None,
                    held_out_error=wall.held_out_error if wall else None,
                    sizes=tuple(c.sizes),
                    peak_rss_bytes=mem.predict(rows) if mem else None,
                    memory_limit_bytes=c.memory_limit_bytes,
                    memory_wall_rows=limit[0] if limit else None,
                    memory_wall_basis=limit[1] if limit else None,
                    beyond_memory_wall=beyond,
                    note=note,
                )
            )
    return out


def _memory_text(p: Prediction) -> str:
    if p.beyond_memory_wall and p.memory_wall_rows is not None:
        what = "out of memory" if p.memory_wall_basis == "measured" else "predicted out of memory"
        under = f" under {fmt_limit(p.memory_limit_bytes)}" if p.memory_limit_bytes else ""
        return f"PAST ITS MEMORY WALL ({what} from {fmt_rows(p.memory_wall_rows)}{under})"
    if p.peak_rss_bytes is not None:
        limit = f" of {fmt_limit(p.memory_limit_bytes)}" if p.memory_limit_bytes else ""
        return f"peak {fmt_bytes(p.peak_rss_bytes)}{limit}"
    return MISSING


#: Header of ``format_predictions``' table.
PREDICTION_HEADER = ("cell", "predicted wall", "held-out error", "fit error", "sizes", "memory")


def format_predictions(predictions: Sequence[Prediction]) -> list[str]:
    """``predict``'s result as the lines of a plain-text table per workload (for the
    terminal, to be joined with newlines), each cell's note under it; no lines when no cell
    has a line to predict from (none ran at two sizes)."""
    if not any(p.wall_s is not None for p in predictions):
        return []
    blocks: list[list[str]] = []
    for name in dict.fromkeys(p.workload for p in predictions):
        mine = [p for p in predictions if p.workload == name]
        first = mine[0]
        rows = [PREDICTION_HEADER]
        notes = []
        for p in mine:
            sizes = (
                f"{len(p.sizes)} ({fmt_rows(p.sizes[0])} to {fmt_rows(p.sizes[-1])})"
                if len(p.sizes) > 1
                else str(len(p.sizes))
            )
            rows.append(
                (
                    p.label,
                    fmt_seconds(p.wall_s),
                    fmt_signed(p.held_out_error),
                    fmt_error(p.fit_error),
                    sizes,
                    _memory_text(p),
                )
            )
            notes.append(f"  {p.label}: {p.note}")
        widths = [max(len(r[i]) for r in rows) for i in range(len(PREDICTION_HEADER))]
        lines = [
            f"{name} at {fmt_rows(first.rows)} {first.unit} "
            "(fitted line wall = a + b n over per-size medians):"
        ]
        for r in rows:
            cells = (t.ljust(w) for t, w in zip(r, widths, strict=True))
            lines.append(("  " + "  ".join(cells)).rstrip())
        blocks.append([*lines, *notes])
    return [line for i, block in enumerate(blocks) for line in ([""] if i else []) + block]
