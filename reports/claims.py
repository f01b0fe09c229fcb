"""Published claims, re-checked: each claim with its source, the ratio measured in these
results and a verdict: holds, does not hold here, or not measured (with why).

Only measured runs count: not warm-ups, status ok, answer not failed. Where the results
hold a point at several sizes (a ladder, ``bdbench scale``), each verdict is given at the
largest size measured, where the work and not the fixed costs shows; the ladder's sizes
follow in a table, with the cost lines (``harness.fits``) that say how the ratio moves with
the size and where one machine would stop beating the cluster.

Cells are picked by what their engines declare (``harness.engines.Role``), never by their
names: its placement (one machine, a simulation, a cluster), whether it may serve as the
single-node baseline, and the system it is, matched against the systems a claim's paper
compared (``reports.published``). Rows on a one-machine stand-in (a simulation, or a cluster
engine in local mode) are listed separately and say so, since their figures are not a
cluster's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness import fits
from harness.engines import Placement
from harness.results import RunRecord
from reports.iterations import IterationRow, fmt_times, iteration_rows
from reports.published import (
    COST,
    COST_CHECK,
    FAULT_CHECK,
    FIRST_CHECK,
    ITERATIONS_CLAIM,
    LOCAL_MODE,
    MAPREDUCE_SYSTEM,
    PAPER_BYTES_PER_CORE,
    PAPER_FAULT,
    PAPER_FAULT_ITERATIONS,
    PAPER_ITERATIONS,
    RDD_SYSTEM,
    RECOVERY_CLAIM,
    SIMULATED,
    WARM_CHECK,
    WARM_SPEEDUP,
    Claim,
)
from reports.recovery import RecoveryRow
from reports.stats import CellSummary, fmt_bytes, fmt_seconds, is_single_node, summarize
from reports.udf import params_label, workload_defaults

#: The three verdicts.
HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"
NOT_MEASURED = "not measured"

__all__ = [
    "COST",
    "DOES_NOT_HOLD",
    "HOLDS",
    "ITERATIONS_CLAIM",
    "LOCAL_MODE",
    "NOT_MEASURED",
    "RECOVERY_CLAIM",
    "SIMULATED",
    "Claim",
    "ClaimReport",
    "LadderRow",
    "Verdict",
    "check_claims",
]


@dataclass
class Verdict:
    """One check of a claim at one workload, scale and parameter point."""

    claim: str
    check: str
    workload: str
    scale: str
    params: str
    verdict: str
    #: The measured ratio the verdict rests on (None when not measured).
    ratio: float | None = None
    #: Labels (with where they ran) of the cells compared: numerator, denominator.
    cells: list[str] = field(default_factory=list)
    #: What the row rests on: a cluster, one machine, a simulation.
    basis: str = ""
    #: Built on a one-machine stand-in, not a cluster: shown apart.
    apart: bool = False
    #: The figures and the criterion, or why the claim was not measured.
    why: str = ""
    #: The data's size at this point in the workload's unit (None: unknown).
    rows: int | None = None


@dataclass
class LadderRow:
    """One size of a ladder: a MapReduce iteration against the RDD system's first and warm
    ones."""

    params: str
    scale: str
    rows: int | None
    input_bytes: int | None
    #: Input bytes per core of this machine (the paper had about 370 MB per core).
    per_core_bytes: float | None
    mapreduce: str
    mapreduce_s: float
    rdd: str
    first_s: float
    later_s: float
    #: MapReduce iteration over the warm RDD one (the paper: 127 / 6 = 21x).
    ratio: float
    #: Built on a simulated MapReduce, not a cluster: shown apart.
    apart: bool = False


@dataclass
class ClaimReport:
    """A claim with its verdicts, and what a ladder of sizes adds to it."""

    claim: Claim
    verdicts: list[Verdict] = field(default_factory=list)
    #: The claim at each size of a ladder (the iterations claim).
    ladder: list[LadderRow] = field(default_factory=list)
    #: What the fitted cost lines say: the ratio's trend, where the claim stops holding.
    notes: list[str] = field(default_factory=list)

    @property
    def main(self) -> list[Verdict]:
        """Rows on a cluster (or the RDD system itself, for its own iterations)."""
        return [v for v in self.verdicts if not v.apart]

    @property
    def apart(self) -> list[Verdict]:
        """Rows on a one-machine stand-in, shown apart."""
        return [v for v in self.verdicts if v.apart]


def check_claims(
    records: list[RunRecord],
    environments: dict[str, dict[str, Any]] | None = None,
    recovery: list[RecoveryRow] | None = None,
) -> list[ClaimReport]:
    """Every claim with its verdicts on ``records`` (at each point's largest size), and the
    ladder's sizes and trends where there are several; ``environments`` give the cores;
    ``recovery`` (the Recovery section's rows) the fault claim's."""
    measured = [r for r in records if not r.is_warmup and r.status == "ok" and r.check != "fail"]
    cores = max(
        (int(e["cpu_count_logical"]) for e in (environments or {}).values()
         if e.get("cpu_count_logical")),
        default=None,
    )  # fmt: skip
    rows = iteration_rows(measured)
    summaries = summarize(measured)
    ladder, notes = iteration_ladder(rows, cores)
    return [
        ClaimReport(ITERATIONS_CLAIM, at_largest(iteration_verdicts(rows)), ladder, notes),
        ClaimReport(COST, at_largest(cost_verdicts(summaries)), notes=cost_lines(summaries, cores)),
        ClaimReport(RECOVERY_CLAIM, recovery_verdicts(recovery or [])),
    ]


def recovery_verdicts(rows: list[RecoveryRow]) -> list[Verdict]:
    """The fault claim per cell and plan: the slowdown of the fault runs against their
    controls, for the RDD system on a cluster at the paper's 10 iterations; the MapReduce
    system, other iteration counts and one-machine stand-ins apart."""
    verdicts = []
    for row in rows:
        if row.system not in (RDD_SYSTEM, MAPREDUCE_SYSTEM):
            continue
        paper_point = row.iterations_param == PAPER_FAULT_ITERATIONS
        main = row.system == RDD_SYSTEM and row.on_cluster and paper_point
        basis = "a cluster" if row.on_cluster else "one machine"
        verdict = Verdict(
            RECOVERY_CLAIM.id,
            FAULT_CHECK if row.system == RDD_SYSTEM else f"the same, {MAPREDUCE_SYSTEM}",
            row.workload,
            row.scale,
            row.params_text(),
            NOT_MEASURED,
            cells=[f"{row.label} with {row.plan}", f"{row.label} (control)"],
            basis=basis,
            apart=not main,
        )
        paper_s, paper_pct = PAPER_FAULT
        versus = (
            f"vs the paper's {paper_s:g} s / {paper_pct:g}% (1 of 20 nodes); lost: {row.lost_share}"
        )
        if not paper_point:
            versus += f"; not the paper's {PAPER_FAULT_ITERATIONS} iterations"
        if row.control_s is None:
            verdict.why = f"no control run recovered ({len(row.control_walls)} controls)"
        elif row.fault_s is None or row.passed == 0:
            verdict.verdict = DOES_NOT_HOLD
            first = row.failures[0] if row.failures else "no fault run passed its check"
            verdict.why = f"no fault run recovered: {first}"
        else:
            slow, pct = row.slowdown_s or 0.0, row.slowdown_pct or 0.0
            verdict.ratio = row.fault_s / row.control_s
            verdict.verdict = HOLDS if pct <= paper_pct else DOES_NOT_HOLD
            verdict.why = (
                f"{fmt_seconds(row.fault_s)} with the fault vs {fmt_seconds(row.control_s)} "
                f"without (medians of {len(row.fault_walls)} and {len(row.control_walls)}): "
                f"{slow:+.2f} s, {pct:+.0f}% {versus}; answer checks {row.passed}/{row.faults} "
                "passed"
            )
        verdicts.append(verdict)
    if not any(not v.apart for v in verdicts):
        verdicts.insert(
            0,
            Verdict(
                RECOVERY_CLAIM.id, FAULT_CHECK, "logreg", "-", "-", NOT_MEASURED,
                why=f"no fault runs of a cell that declares itself {RDD_SYSTEM} on a cluster at "
                f"iterations={PAPER_FAULT_ITERATIONS} with their controls (bdbench run --inject)",
            ),
        )  # fmt: skip
    return verdicts


def at_largest(verdicts: list[Verdict]) -> list[Verdict]:
    """Each check of the same cells at the same parameters once: at its largest size (where
    the work shows, not only fixed costs); a "not measured" only where no size measured it."""
    best: dict[tuple[Any, ...], Verdict] = {}
    for v in verdicts:
        key = (v.claim, v.check, v.workload, v.params, v.basis, tuple(v.cells), v.apart)
        if key not in best or (v.rows or 0) > (best[key].rows or 0):
            best[key] = v
    measured = {
        (v.check, v.workload, v.params, v.apart) for v in best.values() if v.ratio is not None
    }
    return [
        v
        for v in best.values()
        if v.ratio is not None or (v.check, v.workload, v.params, v.apart) not in measured
    ]


def _of_system(rows: list[IterationRow], system: str, placement: Placement) -> list[IterationRow]:
    """The cells of ``system`` at ``placement``, one per place (where it ran): the first-seen
    stands for it (rules off comes first, and the rules have nothing to act on in the
    iterative workloads)."""
    found: dict[str, IterationRow] = {}
    for r in rows:
        if r.role.system == system and r.role.placement is placement:
            found.setdefault(r.where, r)
    return list(found.values())


def _mapreduce_iteration(row: IterationRow) -> float:
    # Every MapReduce iteration is a whole job that re-reads its input: the first is like the
    # others, and the only one when a single iteration ran.
    return row.later_s or row.first_s


def _rdd_cells(cells: list[IterationRow]) -> tuple[list[IterationRow], str]:
    """The RDD system's cells with a warm iteration: on a cluster where there are some, else
    on one machine; and the basis they give, with why one machine stood in."""
    on_cluster = [r for r in _of_system(cells, RDD_SYSTEM, Placement.CLUSTER) if r.later_s]
    if on_cluster:
        return on_cluster, f"{RDD_SYSTEM} on a cluster"
    local = [r for r in _of_system(cells, RDD_SYSTEM, Placement.SINGLE) if r.later_s]
    return local, f"{RDD_SYSTEM} on one machine: no {RDD_SYSTEM} cell on a cluster at this point"


def _why_local(which: str) -> str:
    """Why one machine stood in (``; no ... cell on a cluster...``), else ""."""
    reason = which.partition(":")[2].strip()
    return f"; {reason}" if reason else ""


def _warm_row(
    point: tuple[str, str], mapreduce: IterationRow, rdd: IterationRow, basis: str, which: str
) -> Verdict:
    """The warm-iteration check of one MapReduce cell against one RDD cell."""
    assert rdd.later_s
    iteration = _mapreduce_iteration(mapreduce)
    ratio = iteration / rdd.later_s
    holds = ratio >= WARM_SPEEDUP
    why = (
        f"{fmt_seconds(iteration)} / {fmt_seconds(rdd.later_s)} = {fmt_times(ratio)}, "
        f"{'≥' if holds else '<'} {WARM_SPEEDUP:g}x{_why_local(which)}"
    )
    return Verdict(
        ITERATIONS_CLAIM.id,
        WARM_CHECK,
        "logreg",
        *point,
        HOLDS if holds else DOES_NOT_HOLD,
        ratio=ratio,
        cells=[mapreduce.label, rdd.label],
        basis=basis,
        apart=basis == SIMULATED,
        why=why,
    )


def _first_row(point: tuple[str, str], rdd: IterationRow, which: str) -> Verdict:
    """The first-iteration check of one RDD cell."""
    assert rdd.later_s
    ratio = rdd.first_s / rdd.later_s
    holds = ratio > 1
    why = (
        f"{fmt_seconds(rdd.first_s)} / {fmt_seconds(rdd.later_s)} = {fmt_times(ratio)}, "
        f"{'>' if holds else '≤'} 1{_why_local(which)}"
    )
    return Verdict(
        ITERATIONS_CLAIM.id,
        FIRST_CHECK,
        "logreg",
        *point,
        HOLDS if holds else DOES_NOT_HOLD,
        ratio=ratio,
        cells=[f"{rdd.label} first", f"{rdd.label} later"],
        basis=which.partition(":")[0],
        why=why,
    )


def iteration_verdicts(rows: list[IterationRow]) -> list[Verdict]:
    """Claim A on the iteration rows: a warm RDD iteration vs a MapReduce one, the RDD
    system's first iteration vs its later ones."""
    points: dict[tuple[str, str], list[IterationRow]] = defaultdict(list)
    for r in rows:
        if r.workload == "logreg":
            points[(r.scale, r.params)].append(r)
    verdicts = []
    for point, cells in points.items():
        found = _iteration_point(point, cells)
        for v in found:
            v.rows = cells[0].rows
        verdicts += found
    if not points:
        why = "no successful logreg run with per-iteration times in these results"
        return [
            Verdict(ITERATIONS_CLAIM.id, check, "logreg", "-", "-", NOT_MEASURED, why=why)
            for check in (WARM_CHECK, FIRST_CHECK)
        ]
    return verdicts


def _iteration_point(point: tuple[str, str], cells: list[IterationRow]) -> list[Verdict]:
    """Claim A at one size and parameter point."""
    verdicts: list[Verdict] = []

    def missing(check: str, why: str) -> Verdict:
        return Verdict(ITERATIONS_CLAIM.id, check, "logreg", *point, NOT_MEASURED, why=why)

    rdds, which = _rdd_cells(cells)
    if not rdds:
        why = f"no {RDD_SYSTEM} cell with a warm (later) iteration at this point"
        return [missing(WARM_CHECK, why), missing(FIRST_CHECK, why)]
    mapreduces = _of_system(cells, MAPREDUCE_SYSTEM, Placement.CLUSTER)
    if not mapreduces:
        why = f"no {MAPREDUCE_SYSTEM} cell on a cluster at this point in these results"
        verdicts.append(missing(WARM_CHECK, why))
    basis = f"{MAPREDUCE_SYSTEM} on a cluster vs {which.partition(':')[0]}"
    verdicts += [_warm_row(point, m, r, basis, which) for m in mapreduces for r in rdds]
    verdicts += [_first_row(point, r, which) for r in rdds]
    simulations = _of_system(cells, MAPREDUCE_SYSTEM, Placement.SIMULATED)
    verdicts += [_warm_row(point, m, r, SIMULATED, which) for m in simulations for r in rdds]
    return verdicts


def _kind(s: CellSummary) -> str | None:
    """Which side of the COST comparison a cell is on, if any: one machine (a single-node
    baseline candidate whose check passed), the cluster, or a stand-in shown apart."""
    if is_single_node(s):
        return "one" if s.check == "pass" else None
    if s.role.placement is Placement.CLUSTER:
        return "cluster"
    return "local" if s.role.placement is Placement.SINGLE else "simulated"


def _fastest(cells: list[CellSummary]) -> CellSummary | None:
    timed = [c for c in cells if c.wall_median is not None]
    return min(timed, key=lambda c: c.wall_median or 0.0) if timed else None


def _cost_row(
    point: tuple[str, str, str], one: CellSummary, other: CellSummary, basis: str, apart: bool
) -> Verdict:
    assert one.wall_median and other.wall_median is not None
    ratio = other.wall_median / one.wall_median
    holds = ratio > 1
    why = (
        f"{fmt_seconds(other.wall_median)} / {fmt_seconds(one.wall_median)} = "
        f"{fmt_times(ratio)}, "
        f"{'> 1: one machine faster' if holds else '≤ 1: one machine not faster'}"
    )
    workload, scale, params = point
    return Verdict(
        COST.id,
        COST_CHECK,
        workload,
        scale,
        params_label(json.loads(params), workload_defaults(workload)),
        HOLDS if holds else DOES_NOT_HOLD,
        ratio=ratio,
        cells=[other.label, one.label],
        basis=basis,
        apart=apart,
        why=why,
    )


#: Said when a side of COST is missing.
NO_ONE = "no single-node cell with a passing check"
NO_CLUSTER = "no cell on a cluster"


def cost_verdicts(summaries: list[CellSummary]) -> list[Verdict]:
    """Claim B on the cell summaries: the fastest cluster cell vs the fastest single-node
    cell at each point."""
    points: dict[tuple[str, str, str], dict[str, list[CellSummary]]] = defaultdict(
        lambda: defaultdict(list)
    )
    sizes: dict[tuple[str, str, str], int | None] = {}
    for s in summaries:
        kind = _kind(s)
        # A fed cell's wall is its feed's schedule, not how fast it computes.
        if kind is None or s.paced or s.wall_median is None:
            continue
        points[(s.workload, s.scale_label, s.params)][kind].append(s)
        sizes[(s.workload, s.scale_label, s.params)] = s.rows
    any_one = any(p["one"] for p in points.values())
    any_cluster = any(p["cluster"] for p in points.values())
    verdicts = []
    if not (any_one and any_cluster):
        missing = [
            text
            for text, absent in ((f"{NO_ONE}", not any_one), (NO_CLUSTER, not any_cluster))
            if absent
        ]
        why = " and ".join(missing) + " in these results"
        verdicts.append(Verdict(COST.id, COST_CHECK, "-", "-", "-", NOT_MEASURED, why=why))
    for point, kinds in points.items():
        first = len(verdicts)
        _cost_point(verdicts, point, kinds, any_one and any_cluster)
        for v in verdicts[first:]:
            v.rows = sizes[point]
    return verdicts


def _cost_point(
    verdicts: list[Verdict],
    point: tuple[str, str, str],
    kinds: dict[str, list[CellSummary]],
    both: bool,
) -> None:
    """Claim B's rows at one workload, size and parameter point, appended to ``verdicts``."""
    one = _fastest(kinds["one"])
    cluster = _fastest(kinds["cluster"])
    if one and cluster:
        basis = f"{cluster.role.system or 'an engine'} on a cluster"
        verdicts.append(_cost_row(point, one, cluster, basis, apart=False))
    elif both and (one or cluster):
        workload, scale, params = point
        why = f"{NO_CLUSTER if one else NO_ONE} at this point"
        label = params_label(json.loads(params), workload_defaults(workload))
        verdicts.append(Verdict(COST.id, COST_CHECK, workload, scale, label, NOT_MEASURED, why=why))
    if one is None:
        return
    for kind, basis in (("local", LOCAL_MODE), ("simulated", SIMULATED)):
        other = _fastest(kinds[kind])
        if other is not None:
            verdicts.append(_cost_row(point, one, other, basis, apart=True))


def _per_million(fit: fits.LineFit) -> str:
    return f"{fmt_seconds(fit.fixed)} + {fmt_seconds(fit.per_million)} per million"


def iteration_ladder(
    rows: list[IterationRow], cores: int | None
) -> tuple[list[LadderRow], list[str]]:
    """Claim A at every size of logreg's ladders (a MapReduce iteration over the RDD
    system's warm one), and what the lines fitted to them say: the ratio's trend and its value
    at the paper's data per core on ``cores`` cores."""
    table: list[LadderRow] = []
    notes: list[str] = []
    by_params: dict[str, list[IterationRow]] = defaultdict(list)
    for r in rows:
        if r.workload == "logreg" and r.rows:
            by_params[r.params].append(r)
    for params, cells in by_params.items():
        if len({r.rows for r in cells}) < 2:
            continue  # one size: its verdict says it all
        rdds = [r for r in cells if r.role.system == RDD_SYSTEM and r.later_s]
        rdds = [r for r in rdds if r.role.placement is Placement.CLUSTER] or [
            r for r in rdds if r.role.placement is Placement.SINGLE
        ]
        mapreduces = [
            r
            for r in cells
            if r.role.system == MAPREDUCE_SYSTEM
            and r.role.placement in (Placement.CLUSTER, Placement.SIMULATED)
        ]
        for mr_label in dict.fromkeys(r.label for r in mapreduces):
            mr_at = {r.rows: r for r in mapreduces if r.label == mr_label}
            for rdd_label in dict.fromkeys(r.label for r in rdds):
                rdd_at = {r.rows: r for r in rdds if r.label == rdd_label}
                both = sorted(n for n in set(mr_at) & set(rdd_at) if n)
                added = [_ladder_row(params, mr_at[n], rdd_at[n], cores) for n in both]
                table += added
                if len(added) >= 2:
                    notes.append(_iteration_trend(added, cores))
    return table, notes


def _ladder_row(
    params: str, mapreduce: IterationRow, rdd: IterationRow, cores: int | None
) -> LadderRow:
    assert rdd.later_s
    iteration = _mapreduce_iteration(mapreduce)
    return LadderRow(
        params=params,
        scale=rdd.scale,
        rows=rdd.rows,
        input_bytes=rdd.input_bytes,
        per_core_bytes=rdd.input_bytes / cores if rdd.input_bytes and cores else None,
        mapreduce=mapreduce.label,
        mapreduce_s=iteration,
        rdd=rdd.label,
        first_s=rdd.first_s,
        later_s=rdd.later_s,
        ratio=iteration / rdd.later_s,
        apart=mapreduce.role.placement is Placement.SIMULATED,
    )


def _iteration_trend(ladder: list[LadderRow], cores: int | None) -> str:
    """One sentence: the lines of a MapReduce and a warm RDD iteration, how their ratio
    moves over the sizes, where it tends, and its value at the paper's data per core."""
    first, last = ladder[0], ladder[-1]
    sizes = [float(r.rows or 0) for r in ladder]
    mapreduce = fits.fit_line(sizes, [r.mapreduce_s for r in ladder])
    rdd = fits.fit_line(sizes, [r.later_s for r in ladder])
    text = (
        f"{first.mapreduce} / {first.rdd}: the ratio goes from {fmt_times(first.ratio)} at "
        f"{first.rows:,} points to {fmt_times(last.ratio)} at {last.rows:,}"
    )
    if mapreduce is None or rdd is None:
        return text
    text += (
        f"; fitted, a MapReduce iteration takes {_per_million(mapreduce)} points and a warm "
        f"RDD one {_per_million(rdd)}"
    )
    if rdd.per_unit > 0:
        text += (
            f", so for large inputs the ratio tends to the slopes' "
            f"{fmt_times(mapreduce.per_unit / rdd.per_unit)}"
        )
    else:
        text += ", with no measurable cost per point for the RDD system over these sizes"
    per_row = [r.input_bytes / r.rows for r in ladder if r.input_bytes and r.rows]
    if cores and per_row:
        rows = PAPER_BYTES_PER_CORE * cores / (sum(per_row) / len(per_row))
        at = mapreduce.predict(rows) / rdd.predict(rows)
        where = (
            "inside the ladder"
            if rows <= sizes[-1]
            else f"extrapolated, {rows / sizes[-1]:.1f}x beyond the largest size"
        )
        mr_paper, _, warm = PAPER_ITERATIONS
        text += (
            f"; at the paper's {fmt_bytes(PAPER_BYTES_PER_CORE)} per core on this machine's "
            f"{cores} cores ({rows:,.0f} points) the lines give "
            f"{fmt_seconds(mapreduce.predict(rows))} / {fmt_seconds(rdd.predict(rows))} = "
            f"{fmt_times(at)} ({where}; the paper: {mr_paper:g} s / {warm:g} s = "
            f"{fmt_times(mr_paper / warm)})"
        )
    return text


def cost_lines(summaries: list[CellSummary], cores: int | None) -> list[str]:
    """Where COST's "one machine beats the cluster" would stop holding: per workload and
    parameter point measured at two sizes or more, the size at which one machine's line
    (the fastest single-node cell) crosses the cheapest cluster line."""
    groups: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    kinds: dict[str, str] = {}
    for s in summaries:
        kind = _kind(s)
        if kind not in ("one", "cluster") or s.paced or not s.wall_median or not s.rows:
            continue
        groups[(s.workload, s.params)][s.label][s.rows] = s.wall_median
        kinds[s.label] = kind
    on = f" on this machine's {cores} cores" if cores else ""
    lines = []
    for (workload, params), cells in groups.items():
        lines_of = {
            label: line
            for label, at in cells.items()
            if (line := fits.fit_line(list(at), list(at.values()))) is not None
        }
        # One machine is its fastest single-node cell at the largest size they share.
        ones = sorted(
            (label for label in lines_of if kinds[label] == "one"),
            key=lambda label: lines_of[label].predict(max(cells[label])),
        )
        clusters = [label for label in lines_of if kinds[label] == "cluster"]
        if not ones or not clusters:
            continue
        one = lines_of[ones[0]]
        point = params_label(json.loads(params), workload_defaults(workload))
        head = f"{workload}" + (f" [{point}]" if point else "")
        found = []
        for label in clusters:
            sizes = sorted(set(cells[ones[0]]) & set(cells[label]))
            cross = fits.crossover(one, lines_of[label], sizes or ())
            if cross.kind != "never" and cross.cheaper_after == "other" and cross.rows:
                found.append((cross.rows, label, cross))
        if not found:
            lines.append(
                f"{head}: {ones[0]}'s cost line stays below every cluster line for every size "
                f"(they do not cross for n > 0): one machine keeps winning{on}"
            )
            continue
        rows, label, cross = min(found)
        beyond = (
            "inside the ladder"
            if cross.kind == "measured"
            else f"extrapolated, {cross.factor or 0:.1f}x the largest size measured"
        )
        lines.append(
            f"{head}: {ones[0]} stays faster than the cheapest cluster line ({label}) up to "
            f"{rows:,.0f} rows ({beyond}); above that the cluster would win{on}"
        )
    return lines
