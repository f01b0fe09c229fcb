"""``bdbench compare BASE NEW``: pair cells, test every slowdown over repeats, exit 1 on regression.

A cell's wall time regresses only when NEW's median is more than ``threshold`` times BASE's
*and* a one-sided Mann-Whitney U test over the measured repeats says NEW is slower at level
``alpha``. The ratio guards against flagging tiny but real differences; the test guards against
flagging noise. Why Mann-Whitney and not a bootstrap CI of the ratio:

- it is exact at the repeat counts we run (10 per cell by default): under "same code" its
  false-positive rate is at most ``alpha`` whatever the shape of the noise, and wall times are
  skewed and prone to outliers (a noisy neighbour, a GC pause), so normal-theory tests do not fit;
- a percentile bootstrap from 5 values has only 126 distinct resamples per side and is known to
  under-cover at such sizes, i.e. more false alarms than ``alpha`` promises (measured on this
  machine's runs, it also caught fewer planted slowdowns than this test);
- it says plainly when there are too few repeats: with n and m repeats the smallest attainable
  one-sided p-value is 1 / C(n + m, n) (5 vs 5: 0.004; 3 vs 3: 0.05; 2 vs 2: 0.17). When that
  is above ``alpha`` the cell is "not enough repeats" and its timing is never flagged.

``benchmarks/compare_power.py`` measures the resulting false-positive and detection rates on
real runs. Peak memory gets the same treatment with ``memory_threshold``. A check that went
from pass to fail and a cell that ran ok in BASE but failed or timed out in NEW are regressions
whatever the timings say. Improvements (faster than ``1 / threshold``, significant) are reported
but never fail the run.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness import metrics
from harness.errors import UserError
from harness.results import RunRecord
from reports.data import Results, cell_key, display_label, load_results
from reports.markdown import md_text

DEFAULT_THRESHOLD = 1.10
DEFAULT_ALPHA = 0.05
DEFAULT_MEMORY_THRESHOLD = 1.20

# Verdicts of one metric (wall time or peak memory) of a paired cell.
REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no change"
NOT_SIGNIFICANT = "not significant"
NOT_ENOUGH = "not enough repeats"
NO_DATA = "no ok runs"
# Cell-level flags; every one of them fails the comparison.
MEMORY_REGRESSION = "memory regression"
CHECK_FAIL = "check fail"
FAILED_IN_NEW = "failed in new"
# Cells present on one side only (listed, never a regression).
ONLY_IN_BASE = "only in base"
ONLY_IN_NEW = "only in new"

#: Timing verdicts left out of the verdict text when a flag or note already says more.
QUIET = (NO_CHANGE, NO_DATA)
#: Above this many distinct splits of the pooled repeats, tied samples use the normal
#: approximation with tie correction instead of enumerating every split.
EXACT_SPLITS_LIMIT = 20_000
#: Floating-point slack for ``p <= alpha`` (3 vs 3 repeats reach exactly p = 0.05).
_P_EPS = 1e-9


@dataclass
class SideStats:
    """The measured (non-warm-up) runs of one cell on one side, BASE or NEW."""

    runs: int = 0
    ok: int = 0
    #: Runs whose status is failed or timeout (a wrong answer included).
    failed: int = 0
    skipped: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    #: Failed/timed-out runs that are not answer-check failures, with their first error.
    crashes: int = 0
    crash_status: str | None = None
    crash_error: str | None = None
    wall_s: list[float] = field(default_factory=list)
    peak_rss_bytes: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, records: Sequence[RunRecord]) -> SideStats:
        """Summarise the measured runs of one cell."""
        side = cls()
        for record in records:
            side.runs += 1
            if record.check == "pass":
                side.checks_passed += 1
            elif record.check == "fail":
                side.checks_failed += 1
            if record.status == "ok":
                side.ok += 1
                # Timings only from ok runs: a crash's wall time measures the crash.
                if record.wall_s is not None:
                    side.wall_s.append(float(record.wall_s))
                if record.peak_rss_bytes is not None:
                    side.peak_rss_bytes.append(float(record.peak_rss_bytes))
            elif record.status == "skipped":
                side.skipped += 1
            else:
                side.failed += 1
                if record.check != "fail":
                    side.crashes += 1
                    if side.crash_status is None:
                        side.crash_status = record.status
                        side.crash_error = record.error
        return side

    @property
    def all_ok(self) -> bool:
        """Ran, and no measured run failed or timed out."""
        return self.ok > 0 and self.failed == 0


@dataclass(frozen=True)
class MetricComparison:
    """Ratio of medians (NEW / BASE) of one metric and the one-sided test in its direction."""

    base_median: float | None
    new_median: float | None
    ratio: float | None
    #: One-sided Mann-Whitney U p-value: "NEW is larger" when ratio > 1, else "NEW is smaller".
    p_value: float | None
    verdict: str


@dataclass
class CellComparison:
    """Everything ``bdbench compare`` says about one cell."""

    key: tuple[Any, ...]
    label: str
    side: Literal["both", "base", "new"]
    base: SideStats | None
    new: SideStats | None
    time: MetricComparison | None = None
    memory: MetricComparison | None = None
    #: Reasons this cell fails the comparison (empty = it does not).
    flags: list[str] = field(default_factory=list)
    #: Informational findings that never fail the run (improvement, fixed in new ...).
    notes: list[str] = field(default_factory=list)
    #: A short explanation for a failure flag (the first error of NEW), for display.
    detail: str | None = None

    @property
    def regression(self) -> bool:
        """Whether this cell fails the comparison."""
        return bool(self.flags)

    @property
    def improvement(self) -> bool:
        """Significantly faster than ``1 / threshold`` and no regression."""
        return not self.flags and self.time is not None and self.time.verdict == IMPROVEMENT

    @property
    def verdict(self) -> str:
        """One display string: the failure flags first, then what the timing says."""
        if self.side == "base":
            return ONLY_IN_BASE
        if self.side == "new":
            return ONLY_IN_NEW
        parts = [*self.flags, *self.notes]
        timing = self.time.verdict if self.time is not None else NO_DATA
        if timing not in (REGRESSION, IMPROVEMENT) and (not parts or timing not in QUIET):
            parts.append(f"time {timing}" if parts and timing == NOT_SIGNIFICANT else timing)
        return ", ".join(dict.fromkeys(parts))


def min_p_value(n_base: int, n_new: int) -> float:
    """Smallest one-sided Mann-Whitney p-value attainable with these repeat counts."""
    if n_base < 1 or n_new < 1:
        return 1.0
    return 1.0 / math.comb(n_base + n_new, n_base)


def one_sided_p(new: Sequence[float], base: Sequence[float], larger: bool) -> float:
    """p-value of Mann-Whitney U for "NEW is larger" (``larger``) or "NEW is smaller"."""
    if len(set(new) | set(base)) == 1:
        return 1.0  # every value equal: no evidence either way (scipy would return nan)
    from scipy.stats import PermutationMethod, mannwhitneyu

    n, m = len(new), len(base)
    method: Any = "auto"  # exact for small untied samples, normal approximation for big ones
    if len(set(new) | set(base)) < n + m and math.comb(n + m, n) <= EXACT_SPLITS_LIMIT:
        # Ties (common in peak RSS): scipy's "exact" ignores them and the normal approximation
        # is anti-conservative at 5 repeats; enumerating every split is exact and cheap.
        method = PermutationMethod(n_resamples=math.inf)
    alternative = "greater" if larger else "less"
    result = mannwhitneyu(new, base, alternative=alternative, method=method)
    return float(result.pvalue)


def compare_metric(
    base: Sequence[float],
    new: Sequence[float],
    threshold: float,
    alpha: float,
    metric: metrics.Metric = metrics.WALL,
) -> MetricComparison:
    """Compare one metric of one cell: ratio of medians against ``threshold``, test at ``alpha``.

    The ratio is worse-over-better in the metric's declared direction: above 1 is worse."""
    if not base or not new:
        return MetricComparison(
            statistics.median(base) if base else None,
            statistics.median(new) if new else None,
            None,
            None,
            NO_DATA,
        )
    base_median = statistics.median(base)
    new_median = statistics.median(new)
    worse, better = (new_median, base_median)
    if metric.lower_is_better is False:  # e.g. throughput: a drop is the regression
        worse, better = better, worse
    if better > 0:
        ratio = worse / better
    else:
        ratio = 1.0 if worse == better else math.inf
    larger = (ratio > 1) == (metric.lower_is_better is not False)
    p_value = one_sided_p(new, base, larger=larger)
    significant = p_value <= alpha + _P_EPS
    if min_p_value(len(base), len(new)) > alpha + _P_EPS:
        verdict = NOT_ENOUGH
    elif ratio > threshold:
        verdict = REGRESSION if significant else NOT_SIGNIFICANT
    elif ratio < 1 / threshold:
        verdict = IMPROVEMENT if significant else NOT_SIGNIFICANT
    else:
        # Within the threshold band: a real but small change is not worth failing CI for.
        verdict = NO_CHANGE
    return MetricComparison(base_median, new_median, ratio, p_value, verdict)


def cell_label(record: RunRecord, with_params: bool = False) -> str:
    """Display label of a record's cell, e.g. ``wordcount <engine>/df+rules small``."""
    label = f"{record.workload} {display_label(record.cell, record.where)} {record.scale}"
    if record.factor != 1:
        label += f" x{record.factor:g}"
    if with_params and record.params:
        label += " " + ",".join(f"{k}={v}" for k, v in sorted(record.params.items()))
    return label


def _group(records: Sequence[RunRecord]) -> dict[tuple[Any, ...], list[RunRecord]]:
    cells: dict[tuple[Any, ...], list[RunRecord]] = {}
    for record in records:
        # A failed warm-up counts: a failed call ends its cell, so a cell that failed on its
        # first call (its start-up) has no other record to say so.
        if not record.is_warmup or record.status in ("failed", "timeout"):
            cells.setdefault(cell_key(record), []).append(record)
    return cells


def _labels(
    base: dict[tuple[Any, ...], list[RunRecord]], new: dict[tuple[Any, ...], list[RunRecord]]
) -> dict[tuple[Any, ...], str]:
    first = {key: runs[0] for key, runs in {**new, **base}.items()}
    short = {key: cell_label(record) for key, record in first.items()}
    counts: dict[str, int] = {}
    for text in short.values():
        counts[text] = counts.get(text, 0) + 1
    # Parameters only where two cells would otherwise look the same: labels stay short.
    return {
        key: cell_label(first[key], with_params=counts[text] > 1) for key, text in short.items()
    }


def _schema_versions(records: Sequence[RunRecord]) -> set[int]:
    return {record.schema_version for record in records}


def _few(labels: list[str], limit: int = 3) -> str:
    if not labels:
        return "none"
    shown = ", ".join(labels[:limit])
    more = len(labels) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def compare_results(
    base: Results,
    new: Results,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    memory_threshold: float = DEFAULT_MEMORY_THRESHOLD,
) -> list[CellComparison]:
    """Pair the cells of BASE and NEW and judge each; UserError when none are in common."""
    if threshold < 1 or memory_threshold < 1:
        raise UserError(
            f"thresholds are slowdown ratios and must be at least 1 "
            f"(got threshold {threshold:g}, memory threshold {memory_threshold:g})"
        )
    if not 0 < alpha < 1:
        raise UserError(f"alpha must be between 0 and 1, got {alpha:g}")
    base_versions, new_versions = _schema_versions(base.records), _schema_versions(new.records)
    if base_versions != new_versions:
        raise UserError(
            f"schema versions differ: BASE has {sorted(base_versions)}, "
            f"NEW has {sorted(new_versions)}; compare results of the same schema"
        )
    base_cells, new_cells = _group(base.records), _group(new.records)
    labels = _labels(base_cells, new_cells)
    if not set(base_cells) & set(new_cells):
        raise UserError(
            "no cells in common between BASE and NEW: "
            f"BASE has {len(base_cells)} ({_few([labels[k] for k in base_cells])}); "
            f"NEW has {len(new_cells)} ({_few([labels[k] for k in new_cells])})"
        )
    out: list[CellComparison] = []
    for key in dict.fromkeys([*base_cells, *new_cells]):
        if key not in new_cells:
            out.append(
                CellComparison(key, labels[key], "base", SideStats.of(base_cells[key]), None)
            )
        elif key not in base_cells:
            out.append(CellComparison(key, labels[key], "new", None, SideStats.of(new_cells[key])))
        else:
            out.append(
                _compare_cell(
                    key,
                    labels[key],
                    SideStats.of(base_cells[key]),
                    SideStats.of(new_cells[key]),
                    threshold,
                    alpha,
                    memory_threshold,
                )
            )
    return out


def _compare_cell(
    key: tuple[Any, ...],
    label: str,
    base: SideStats,
    new: SideStats,
    threshold: float,
    alpha: float,
    memory_threshold: float,
) -> CellComparison:
    cell = CellComparison(key, label, "both", base, new)
    cell.time = compare_metric(base.wall_s, new.wall_s, threshold, alpha, metrics.WALL)
    cell.memory = compare_metric(
        base.peak_rss_bytes, new.peak_rss_bytes, memory_threshold, alpha, metrics.PEAK_RSS
    )
    if cell.time.verdict == REGRESSION:
        cell.flags.append(REGRESSION)
    elif cell.time.verdict == IMPROVEMENT:
        cell.notes.append(IMPROVEMENT)
    if cell.memory.verdict == REGRESSION:
        cell.flags.append(MEMORY_REGRESSION)
    elif cell.memory.verdict == IMPROVEMENT:
        cell.notes.append("less memory")
    if base.checks_passed and not base.checks_failed and new.checks_failed:
        cell.flags.append(CHECK_FAIL)
        cell.detail = f"{new.checks_failed}/{new.runs} answers wrong"
    if base.all_ok and new.crashes:
        cell.flags.append(FAILED_IN_NEW)
        cell.detail = f"{new.crashes}/{new.runs} {new.crash_status}: {new.crash_error}"
    elif base.failed and not base.ok and new.all_ok:
        cell.notes.append("fixed in new")
    elif base.failed and new.failed and not base.all_ok:
        cell.notes.append("failing in both")
    if base.ok and not new.runs - new.skipped:
        cell.notes.append("skipped in new")  # cannot run here (no Java ...): not the code's fault
    return cell


_KIND_WORDS = {REGRESSION: "slower", MEMORY_REGRESSION: "more memory"}


def summary_line(
    cells: Sequence[CellComparison], threshold: float, alpha: float, memory_threshold: float
) -> str:
    """The one-line verdict: how many paired cells regressed (and why), improved, were left out."""
    paired = [c for c in cells if c.side == "both"]
    bad = [c for c in paired if c.regression]
    kinds: dict[str, int] = {}
    for cell in bad:
        for flag in cell.flags:
            kinds[flag] = kinds.get(flag, 0) + 1
    parts = []
    if bad:
        why = ", ".join(f"{n} {_KIND_WORDS.get(kind, kind)}" for kind, n in kinds.items())
        parts.append(f"REGRESSION: {len(bad)} of {len(paired)} paired cells regressed ({why})")
    else:
        parts.append(f"OK: no regression in {len(paired)} paired cells")
    improved = sum(c.improvement for c in paired)
    if improved:
        parts.append(f"{improved} improved")
    too_few = sum(c.time is not None and c.time.verdict == NOT_ENOUGH for c in paired)
    if too_few:
        parts.append(f"{too_few} with not enough repeats to test")
    only_base = sum(c.side == "base" for c in cells)
    only_new = sum(c.side == "new" for c in cells)
    if only_base or only_new:
        parts.append(f"{only_base} only in base, {only_new} only in new")
    settings = f"threshold x{threshold:g}, alpha {alpha:g}, memory threshold x{memory_threshold:g}"
    return "; ".join(parts) + f" ({settings})"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:#.3g} s"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3f}x"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _repeats(cell: CellComparison) -> str:
    base = f"{cell.base.ok}/{cell.base.runs}" if cell.base else "-"
    new = f"{cell.new.ok}/{cell.new.runs}" if cell.new else "-"
    return f"{base} vs {new}"


#: Column headers of the comparison table (rich and Markdown).
COLUMNS = (
    "cell",
    "ok runs",
    "base median",
    "new median",
    "ratio",
    "p",
    "peak RSS ratio",
    "verdict",
)


def table_rows(cells: Sequence[CellComparison]) -> list[list[str]]:
    """The comparison as rows of display strings (same columns as ``COLUMNS``)."""
    rows = []
    for cell in cells:
        time = cell.time
        verdict = cell.verdict
        if cell.detail:
            detail = cell.detail if len(cell.detail) <= 80 else cell.detail[:79] + "…"
            verdict += f" ({detail})"
        base_median = time.base_median if time else (_side_median(cell.base))
        new_median = time.new_median if time else (_side_median(cell.new))
        rows.append(
            [
                cell.label,
                _repeats(cell),
                _seconds(base_median),
                _seconds(new_median),
                _ratio(time.ratio if time else None),
                _p(time.p_value if time else None),
                _ratio(cell.memory.ratio if cell.memory else None),
                verdict,
            ]
        )
    return rows


def _side_median(side: SideStats | None) -> float | None:
    return statistics.median(side.wall_s) if side and side.wall_s else None


def render_markdown(cells: Sequence[CellComparison], summary: str) -> str:
    """A GitHub-flavoured Markdown table plus the verdict line (for ``$GITHUB_STEP_SUMMARY``)."""
    lines = [
        "### bdbench compare",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---"]) + "|",
    ]
    for row in table_rows(cells):
        lines.append("| " + " | ".join(md_text(value) for value in row) + " |")
    lines += ["", f"**{md_text(summary)}**"]
    return "\n".join(lines)


def _style(cell: CellComparison) -> str:
    if cell.regression:
        return "bold red"
    if cell.improvement:
        return "green"
    if cell.side != "both":
        return "yellow"
    return ""


def print_table(cells: Sequence[CellComparison], summary: str, title: str) -> None:
    """Print the comparison as a rich table and the verdict line to stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    for name in COLUMNS:
        right = name not in ("cell", "verdict")
        table.add_column(
            name, justify="right" if right else "left", overflow="fold", no_wrap=name == "cell"
        )
    for cell, row in zip(cells, table_rows(cells), strict=True):
        # Text, not markup: labels and errors may contain "[...]".
        texts = [Text(value) for value in row]
        texts[-1].stylize(_style(cell))
        table.add_row(*texts)
    console = Console(width=max(140, Console().width))
    console.print(table)
    style = "bold red" if summary.startswith("REGRESSION") else "bold green"
    console.print(Text(summary, style=style), soft_wrap=True)


def run_compare(
    base: Path,
    new: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    memory_threshold: float = DEFAULT_MEMORY_THRESHOLD,
    markdown: bool = False,
) -> int:
    """Compare BASE with NEW, print the table and verdict; 1 when anything regressed, else 0."""
    base_results = load_results([base])
    new_results = load_results([new])
    left_out = len(base_results.fault_records) + len(new_results.fault_records)
    if left_out:
        # A run a fault plan acted on is no measure of the cell's speed.
        print(
            f"note: {left_out} fault-injection run(s) left out (the report's Recovery section "
            "shows them)",
            file=sys.stderr,
        )
    cells = compare_results(base_results, new_results, threshold, alpha, memory_threshold)
    summary = summary_line(cells, threshold, alpha, memory_threshold)
    if markdown:
        print(render_markdown(cells, summary))
    else:
        print_table(cells, summary, title=f"bdbench compare: {base} (base) vs {new} (new)")
    return 1 if any(cell.regression for cell in cells) else 0
