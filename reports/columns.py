"""The results table's columns, once: the CLI's table after a run, the HTML report and
summary.md all render these, so their headers and values cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness import metrics
from reports.stats import (
    PACED_NOTE_SHORT,
    CellSummary,
    fmt_metric,
    fmt_relative,
    fmt_seconds,
    runs_label,
)


@dataclass(frozen=True)
class Column:
    """One column: its key, its header and its value's text for a cell; its hover text in
    HTML (None: none)."""

    key: str
    header: str
    text: Callable[[CellSummary], str]
    title: Callable[[CellSummary], str | None] = lambda s: None


def _interval(s: CellSummary) -> str | None:
    if s.wall_ci is None:
        return None
    low, high, coverage = s.wall_ci
    return f"median interval: {fmt_seconds(low)} to {fmt_seconds(high)} ({coverage:.0%})"


def _iqr(s: CellSummary) -> str:
    if s.wall_q1 is None or s.wall_q3 is None:
        return "-"
    return f"{fmt_seconds(s.wall_q1)} to {fmt_seconds(s.wall_q3)}"


def status_text(s: CellSummary) -> str:
    """``ok``, or the status with its reason; what a fed cell's figures mean; a stop failure."""
    text = s.status if not s.reason else f"{s.status}: {s.reason}"
    if s.paced and s.status == "ok":
        text = f"ok ({PACED_NOTE_SHORT})"
    return f"{text}; {s.stop_failures}" if s.stop_failures else text


def _first_call(s: CellSummary) -> str | None:
    if s.first_call_median is None:
        return None
    return f"first call of a process (a warm-up, cold): median {fmt_seconds(s.first_call_median)}"


#: The columns, in order.
COLUMNS: tuple[Column, ...] = (
    Column("label", "engine/variant", lambda s: s.label),
    Column("rules", "rules", lambda s: s.rules.label or "-"),
    Column("scale", "scale", lambda s: s.scale_label),
    Column("runs", "values ok (+warm-ups)", runs_label, _first_call),
    Column("wall", "median wall", lambda s: fmt_metric(metrics.WALL, s.wall_median), _interval),
    Column("min", "min wall", lambda s: fmt_metric(metrics.WALL, s.wall_min)),
    Column("iqr", "IQR", _iqr),
    Column("cpu", "CPU", lambda s: fmt_metric(metrics.CPU, s.cpu_median)),
    Column("rss", "peak RSS", lambda s: fmt_metric(metrics.PEAK_RSS, s.rss_median)),
    Column("startup", "start-up", lambda s: fmt_metric(metrics.STARTUP, s.startup_median)),
    Column(
        "throughput",
        "throughput",
        lambda s: fmt_metric(metrics.ITEMS_PER_S, s.throughput_median, s.unit),
    ),
    Column(
        "relative",
        "relative",
        lambda s: fmt_relative(s.relative),
        lambda s: f"against {s.baseline}" if s.baseline else None,
    ),
    Column(
        "check",
        "check",
        lambda s: s.check + (" (by quality)" if s.quality_check else ""),
        lambda s: s.quality_check,
    ),
    Column("status", "status", status_text),
)
