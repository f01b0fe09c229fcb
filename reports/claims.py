"""Published claims, re-checked: each claim with its source, the ratio measured in these
results and a verdict: holds, does not hold here, or not measured (with why).

Only measured runs count: not warm-ups, status ok, answer not failed. Where the results
hold a point at several sizes (a ladder, ``bdbench scale``), each verdict is given at the
largest size measured, where the work and not the fixed costs shows; the ladder's sizes
follow in a table, with the cost lines (``harness.fits``) that say how the ratio moves with
the size and where one machine would stop beating the cluster. Real Hadoop
(``mrjob/hadoop``) and Spark on a cluster are kept apart from one-machine stand-ins: rows built
on ``mrjob/local`` (a simulation of Hadoop Streaming on this machine) or, for COST, on Spark
local mode are listed separately and say so, since their figures are not a cluster's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from harness import fits
from harness.results import RunRecord
from reports.iterations import IterationRow, fmt_times, iteration_rows
from reports.stats import CellSummary, fmt_bytes, fmt_seconds, summarize
from reports.udf import params_label, workload_defaults

#: The three verdicts.
HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"
NOT_MEASURED = "not measured"

#: What a row compared against, when it is not a real cluster.
SIMULATED = "simulated Hadoop (mrjob local), not real Hadoop"
SPARK_LOCAL = "Spark local mode (one machine), not a cluster"
#: ``where`` of mrjob/local records: on this machine, not a cluster.
SIMULATED_WHERE = "(simulated)"

#: A warm Spark iteration must be at least this many times faster than a MapReduce one.
WARM_SPEEDUP = 10.0
#: The paper's input per core: 29 GB on 20 nodes of 4 cores (about 370 MB).
PAPER_BYTES_PER_CORE = 29e9 / 80
#: The paper's iteration times (s): Hadoop, Spark's first, Spark's later ones.
PAPER_ITERATIONS = (127.0, 174.0, 6.0)

#: What each row checks.
WARM_CHECK = "warm Spark iteration vs Hadoop MapReduce iteration"
FIRST_CHECK = "first Spark iteration slower than the later ones"
COST_CHECK = "one machine (numpy/default) vs the cluster"


@dataclass(frozen=True)
class Claim:
    """A published claim: what it says, where, the paper's figures, how it is checked here."""

    id: str
    statement: str
    source: str
    #: The paper's own figures.
    paper: str
    #: What is measured in these results.
    measured: str
    #: The verdict rules, as the report states them.
    rules: tuple[str, ...]


#: Claim A (Spark, HotCloud 2010).
SPARK_ITERATIONS = Claim(
    id="spark-logreg",
    statement="Logistic regression: a warm Spark iteration is about 10x faster than a Hadoop "
    "MapReduce iteration; the first Spark iteration is slower",
    source='M. Zaharia, M. Chowdhury, M. J. Franklin, S. Shenker, I. Stoica, "Spark: Cluster '
    'Computing with Working Sets", HotCloud 2010, section 5 and figure 2',
    paper="127 s per Hadoop iteration; Spark 174 s for the first iteration and 6 s for each "
    "later one (29 GB on 20 EC2 m1.xlarge nodes), so a warm iteration 127/6 = 21x faster",
    measured="logreg: the median of later iterations of mrjob/hadoop (real Hadoop) and of "
    "spark/rdd (Spark on a cluster when these results have one, else Spark local mode, as "
    "the row says), and spark/rdd's first iteration; medians over the measured runs",
    rules=(
        f"{WARM_CHECK}: holds when mrjob/hadoop's iteration / spark/rdd's warm iteration "
        f"≥ {WARM_SPEEDUP:g}x (the paper: 127 s / 6 s = 21x); does not hold here below that; "
        "not measured without both cells",
        f"{FIRST_CHECK}: holds when spark/rdd's first iteration / its warm iteration > 1 "
        "(the paper: 174 s / 6 s = 29x); does not hold here otherwise",
        "the same warm-iteration ratio with mrjob/local in place of mrjob/hadoop is shown "
        f"apart: {SIMULATED}",
    ),
)

#: Claim B (COST, HotOS 2015).
COST = Claim(
    id="cost",
    statement="One machine beats the cluster at small scale",
    source='F. McSherry, M. Isard, D. G. Murray, "Scalability! But at what COST?", HotOS 2015',
    paper="single-threaded implementations on a laptop outperform published distributed "
    "systems (graph processing), many of them in every configuration reported",
    measured="per workload, scale and parameter point: the median wall time of the fastest "
    "cell on a cluster (mrjob/hadoop, or Spark on a cluster; any variant and rules mode) "
    "and of the fastest numpy/default cell (one process on this machine)",
    rules=(
        f"{COST_CHECK}: holds when the fastest cluster cell's median wall / numpy/default's "
        "median wall > 1 (NumPy faster); does not hold here otherwise; not measured without "
        "both at the same point; fed streaming cells are left out (their wall is the feed's)",
        f"the same ratio against Spark local mode and against mrjob/local is shown apart: "
        f"{SPARK_LOCAL}; {SIMULATED}",
    ),
)


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
    #: What the row rests on: real Hadoop, a cluster, Spark local mode, the simulation.
    basis: str = ""
    #: Built on a one-machine stand-in, not a cluster: shown apart.
    apart: bool = False
    #: The figures and the criterion, or why the claim was not measured.
    why: str = ""
    #: The data's size at this point in the workload's unit (None: unknown).
    rows: int | None = None


@dataclass
class LadderRow:
    """One size of a ladder: a MapReduce iteration against Spark's first and warm ones."""

    params: str
    scale: str
    rows: int | None
    input_bytes: int | None
    #: Input bytes per core of this machine (the paper had about 370 MB per core).
    per_core_bytes: float | None
    mapreduce: str
    mapreduce_s: float
    spark: str
    first_s: float
    later_s: float
    #: MapReduce iteration over Spark's warm one (the paper: 127 / 6 = 21x).
    ratio: float
    #: Built on the Hadoop simulation (mrjob local), not real Hadoop: shown apart.
    apart: bool = False


@dataclass
class ClaimReport:
    """A claim with its verdicts, and what a ladder of sizes adds to it."""

    claim: Claim
    verdicts: list[Verdict] = field(default_factory=list)
    #: The claim at each size of a ladder (the Spark iterations claim).
    ladder: list[LadderRow] = field(default_factory=list)
    #: What the fitted cost lines say: the ratio's trend, where the claim stops holding.
    notes: list[str] = field(default_factory=list)

    @property
    def main(self) -> list[Verdict]:
        """Rows on real Hadoop or a cluster (or Spark itself, for its own iterations)."""
        return [v for v in self.verdicts if not v.apart]

    @property
    def apart(self) -> list[Verdict]:
        """Rows on a one-machine stand-in, shown apart."""
        return [v for v in self.verdicts if v.apart]


def check_claims(
    records: list[RunRecord], environments: dict[str, dict[str, Any]] | None = None
) -> list[ClaimReport]:
    """Every claim with its verdicts on ``records`` (at each point's largest size), and the
    ladder's sizes and trends where there are several; ``environments`` give the cores."""
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
        ClaimReport(SPARK_ITERATIONS, at_largest(spark_iteration_verdicts(rows)), ladder, notes),
        ClaimReport(COST, at_largest(cost_verdicts(summaries)), notes=cost_lines(summaries, cores)),
    ]


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


def on_cluster(where: str) -> bool:
    """Whether a cell ran on a cluster (real Hadoop, Spark on a cluster), not this machine."""
    return bool(where) and where != SIMULATED_WHERE


def _one_per_place(rows: list[IterationRow], engine: str, variant: str) -> list[IterationRow]:
    # The first-seen cell of a place stands for it (rules off comes first, and the rules have
    # nothing to act on in the iterative workloads).
    found: dict[str, IterationRow] = {}
    for r in rows:
        if (r.engine, r.variant) == (engine, variant):
            found.setdefault(r.where, r)
    return list(found.values())


def _mapreduce_iteration(row: IterationRow) -> float:
    # Every MapReduce iteration is a whole job that re-reads its input: the first is like the
    # others, and the only one when a single iteration ran.
    return row.later_s or row.first_s


def _why_local(which: str) -> str:
    """Why Spark local mode stood in (``; no spark/rdd cell on a cluster...``), else ""."""
    reason = which.partition(":")[2].strip()
    return f"; {reason}" if reason else ""


def _warm_row(
    point: tuple[str, str], mapreduce: IterationRow, spark: IterationRow, basis: str, which: str
) -> Verdict:
    """The warm-iteration check of one MapReduce cell against one Spark cell."""
    assert spark.later_s
    iteration = _mapreduce_iteration(mapreduce)
    ratio = iteration / spark.later_s
    holds = ratio >= WARM_SPEEDUP
    why = (
        f"{fmt_seconds(iteration)} / {fmt_seconds(spark.later_s)} = {fmt_times(ratio)}, "
        f"{'≥' if holds else '<'} {WARM_SPEEDUP:g}x{_why_local(which)}"
    )
    return Verdict(
        SPARK_ITERATIONS.id,
        WARM_CHECK,
        "logreg",
        *point,
        HOLDS if holds else DOES_NOT_HOLD,
        ratio=ratio,
        cells=[mapreduce.label, spark.label],
        basis=basis,
        apart=basis == SIMULATED,
        why=why,
    )


def _first_row(point: tuple[str, str], spark: IterationRow, which: str) -> Verdict:
    """The first-iteration check of one Spark cell."""
    assert spark.later_s
    ratio = spark.first_s / spark.later_s
    holds = ratio > 1
    why = (
        f"{fmt_seconds(spark.first_s)} / {fmt_seconds(spark.later_s)} = {fmt_times(ratio)}, "
        f"{'>' if holds else '≤'} 1{_why_local(which)}"
    )
    return Verdict(
        SPARK_ITERATIONS.id,
        FIRST_CHECK,
        "logreg",
        *point,
        HOLDS if holds else DOES_NOT_HOLD,
        ratio=ratio,
        cells=[f"{spark.label} first", f"{spark.label} later"],
        basis=which.partition(":")[0],
        why=why,
    )


def spark_iteration_verdicts(rows: list[IterationRow]) -> list[Verdict]:
    """Claim A on the iteration rows: warm Spark vs MapReduce, Spark's first vs later."""
    points: dict[tuple[str, str], list[IterationRow]] = defaultdict(list)
    for r in rows:
        if r.workload == "logreg":
            points[(r.scale, r.params)].append(r)
    verdicts = []
    for point, cells in points.items():
        found = _spark_iteration_point(point, cells)
        for v in found:
            v.rows = cells[0].rows
        verdicts += found
    if not points:
        why = "no successful logreg run with per-iteration times in these results"
        return [
            Verdict(SPARK_ITERATIONS.id, check, "logreg", "-", "-", NOT_MEASURED, why=why)
            for check in (WARM_CHECK, FIRST_CHECK)
        ]
    return verdicts


def _spark_iteration_point(point: tuple[str, str], cells: list[IterationRow]) -> list[Verdict]:
    """Claim A at one size and parameter point."""
    verdicts: list[Verdict] = []

    def missing(check: str, why: str) -> Verdict:
        return Verdict(SPARK_ITERATIONS.id, check, "logreg", *point, NOT_MEASURED, why=why)

    sparks = [r for r in _one_per_place(cells, "spark", "rdd") if r.later_s]
    if any(r.where.startswith("on ") for r in sparks):
        sparks = [r for r in sparks if r.where.startswith("on ")]
        which = "Spark on a cluster"
    else:
        sparks = [r for r in sparks if not r.where]
        which = "Spark local mode: no spark/rdd cell on a cluster at this point"
    if not sparks:
        why = "no spark/rdd cell with a warm (later) iteration at this point"
        return [missing(WARM_CHECK, why), missing(FIRST_CHECK, why)]
    hadoops = _one_per_place(cells, "mrjob", "hadoop")
    if not hadoops:
        why = "no mrjob/hadoop cell (real Hadoop) at this point in these results"
        verdicts.append(missing(WARM_CHECK, why))
    basis = f"real Hadoop vs {which.partition(':')[0]}"
    verdicts += [_warm_row(point, h, s, basis, which) for h in hadoops for s in sparks]
    verdicts += [_first_row(point, s, which) for s in sparks]
    simulations = _one_per_place(cells, "mrjob", "local")
    verdicts += [_warm_row(point, m, s, SIMULATED, which) for m in simulations for s in sparks]
    return verdicts


def _kind(s: CellSummary) -> str | None:
    """Which side of the COST comparison a cell is on, if any."""
    if (s.engine, s.variant) == ("numpy", "default"):
        return "numpy"
    # mrjob/hadoop always runs on Hadoop, whatever label its records carry.
    if on_cluster(s.where) or (s.engine, s.variant) == ("mrjob", "hadoop"):
        return "cluster"
    if s.engine == "spark" and not s.where:
        return "spark-local"
    if (s.engine, s.variant) == ("mrjob", "local"):
        return "simulated"
    return None


def _fastest(cells: list[CellSummary]) -> CellSummary | None:
    timed = [c for c in cells if c.wall_median is not None]
    return min(timed, key=lambda c: c.wall_median or 0.0) if timed else None


def _cost_row(
    point: tuple[str, str, str], numpy: CellSummary, other: CellSummary, basis: str, apart: bool
) -> Verdict:
    assert numpy.wall_median and other.wall_median is not None
    ratio = other.wall_median / numpy.wall_median
    holds = ratio > 1
    why = (
        f"{fmt_seconds(other.wall_median)} / {fmt_seconds(numpy.wall_median)} = "
        f"{fmt_times(ratio)}, {'> 1: NumPy faster' if holds else '≤ 1: NumPy not faster'}"
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
        cells=[other.label, numpy.label],
        basis=basis,
        apart=apart,
        why=why,
    )


def cost_verdicts(summaries: list[CellSummary]) -> list[Verdict]:
    """Claim B on the cell summaries: the fastest cluster cell vs NumPy at each point."""
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
    any_numpy = any(p["numpy"] for p in points.values())
    any_cluster = any(p["cluster"] for p in points.values())
    verdicts = []
    if not (any_numpy and any_cluster):
        missing = [
            text
            for text, absent in (
                ("no numpy/default run", not any_numpy),
                ("no cell on a cluster (mrjob/hadoop or Spark on a cluster)", not any_cluster),
            )
            if absent
        ]
        why = " and ".join(missing) + " in these results"
        verdicts.append(Verdict(COST.id, COST_CHECK, "-", "-", "-", NOT_MEASURED, why=why))
    for point, kinds in points.items():
        first = len(verdicts)
        _cost_point(verdicts, point, kinds, any_numpy and any_cluster)
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
    numpy = _fastest(kinds["numpy"])
    cluster = _fastest(kinds["cluster"])
    if numpy and cluster:
        basis = "real Hadoop" if cluster.engine == "mrjob" else "Spark on a cluster"
        verdicts.append(_cost_row(point, numpy, cluster, basis, apart=False))
    elif both and (numpy or cluster):
        workload, scale, params = point
        why = (
            "no cell on a cluster (mrjob/hadoop or Spark on a cluster) at this point"
            if numpy
            else "no numpy/default run at this point"
        )
        label = params_label(json.loads(params), workload_defaults(workload))
        verdicts.append(Verdict(COST.id, COST_CHECK, workload, scale, label, NOT_MEASURED, why=why))
    if numpy is None:
        return
    for kind, basis in (("spark-local", SPARK_LOCAL), ("simulated", SIMULATED)):
        other = _fastest(kinds[kind])
        if other is not None:
            verdicts.append(_cost_row(point, numpy, other, basis, apart=True))


def _per_million(fit: fits.LineFit) -> str:
    return f"{fmt_seconds(fit.fixed)} + {fmt_seconds(fit.per_million)} per million"


def iteration_ladder(
    rows: list[IterationRow], cores: int | None
) -> tuple[list[LadderRow], list[str]]:
    """Claim A at every size of logreg's ladders (a MapReduce iteration over Spark's warm
    one), and what the lines fitted to them say: the ratio's trend and its value at the
    paper's data per core on ``cores`` cores."""
    table: list[LadderRow] = []
    notes: list[str] = []
    by_params: dict[str, list[IterationRow]] = defaultdict(list)
    for r in rows:
        if r.workload == "logreg" and r.rows:
            by_params[r.params].append(r)
    for params, cells in by_params.items():
        if len({r.rows for r in cells}) < 2:
            continue  # one size: its verdict says it all
        sparks = [r for r in cells if (r.engine, r.variant) == ("spark", "rdd") and r.later_s]
        sparks = [r for r in sparks if r.where.startswith("on ")] or [
            r for r in sparks if not r.where
        ]
        mapreduces = [r for r in cells if r.engine == "mrjob" and r.variant in ("hadoop", "local")]
        for mr_label in dict.fromkeys(r.label for r in mapreduces):
            mr_at = {r.rows: r for r in mapreduces if r.label == mr_label}
            for spark_label in dict.fromkeys(r.label for r in sparks):
                sp_at = {r.rows: r for r in sparks if r.label == spark_label}
                both = sorted(n for n in set(mr_at) & set(sp_at) if n)
                added = [_ladder_row(params, mr_at[n], sp_at[n], cores) for n in both]
                table += added
                if len(added) >= 2:
                    notes.append(_iteration_trend(added, cores))
    return table, notes


def _ladder_row(
    params: str, mapreduce: IterationRow, spark: IterationRow, cores: int | None
) -> LadderRow:
    assert spark.later_s
    iteration = _mapreduce_iteration(mapreduce)
    return LadderRow(
        params=params,
        scale=spark.scale,
        rows=spark.rows,
        input_bytes=spark.input_bytes,
        per_core_bytes=spark.input_bytes / cores if spark.input_bytes and cores else None,
        mapreduce=mapreduce.label,
        mapreduce_s=iteration,
        spark=spark.label,
        first_s=spark.first_s,
        later_s=spark.later_s,
        ratio=iteration / spark.later_s,
        apart=mapreduce.variant == "local",
    )


def _iteration_trend(ladder: list[LadderRow], cores: int | None) -> str:
    """One sentence: the lines of a MapReduce and a warm Spark iteration, how their ratio
    moves over the sizes, where it tends, and its value at the paper's data per core."""
    first, last = ladder[0], ladder[-1]
    sizes = [float(r.rows or 0) for r in ladder]
    mapreduce = fits.fit_line(sizes, [r.mapreduce_s for r in ladder])
    spark = fits.fit_line(sizes, [r.later_s for r in ladder])
    text = (
        f"{first.mapreduce} / {first.spark}: the ratio goes from {fmt_times(first.ratio)} at "
        f"{first.rows:,} points to {fmt_times(last.ratio)} at {last.rows:,}"
    )
    if mapreduce is None or spark is None:
        return text
    text += (
        f"; fitted, a MapReduce iteration takes {_per_million(mapreduce)} points and a warm "
        f"Spark one {_per_million(spark)}"
    )
    if spark.per_unit > 0:
        text += (
            f", so for large inputs the ratio tends to the slopes' "
            f"{fmt_times(mapreduce.per_unit / spark.per_unit)}"
        )
    else:
        text += ", with no measurable cost per point for Spark over these sizes"
    per_row = [r.input_bytes / r.rows for r in ladder if r.input_bytes and r.rows]
    if cores and per_row:
        rows = PAPER_BYTES_PER_CORE * cores / (sum(per_row) / len(per_row))
        at = mapreduce.predict(rows) / spark.predict(rows)
        where = (
            "inside the ladder"
            if rows <= sizes[-1]
            else f"extrapolated, {rows / sizes[-1]:.1f}x beyond the largest size"
        )
        hadoop, _, warm = PAPER_ITERATIONS
        text += (
            f"; at the paper's {fmt_bytes(PAPER_BYTES_PER_CORE)} per core on this machine's "
            f"{cores} cores ({rows:,.0f} points) the lines give "
            f"{fmt_seconds(mapreduce.predict(rows))} / {fmt_seconds(spark.predict(rows))} = "
            f"{fmt_times(at)} ({where}; the paper: {hadoop:g} s / {warm:g} s = "
            f"{fmt_times(hadoop / warm)})"
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
        if kind not in ("numpy", "cluster") or s.paced or not s.wall_median or not s.rows:
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
        ones = [label for label in lines_of if kinds[label] == "numpy"]
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
