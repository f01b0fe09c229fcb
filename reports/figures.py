"""Seaborn/matplotlib figures for the report, returned as embeddable PNG data URIs."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from reports.recovery import RecoveryRow
    from reports.scaling import WorkloadScaling
    from reports.stats import CellSummary

#: Use a log axis when the largest value is this many times the smallest.
LOG_SCALE_SPREAD = 20.0
#: The scaling chart's x axis reaches this many times beyond the sizes, and a fitted line
#: is drawn (dashed) this far beyond the largest size of its cell.
SCALING_MARGIN = 1.5


@dataclass(frozen=True)
class Chart:
    """One rendered figure: title, alt text and a ``data:image/png;base64`` URI."""

    title: str
    alt: str
    uri: str


def _setup() -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display; figures are rendered to PNG bytes only
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")


def _encode(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _wide(values: pd.Series) -> bool:
    positive = values[values > 0]
    return bool(len(positive)) and positive.max() / positive.min() >= LOG_SCALE_SPREAD


def _bars_and_dots(ax: Axes, data: pd.DataFrame, x: str, y: str, **kw: Any) -> None:
    """Median bars with every measured repeat as a black dot on top."""
    import seaborn as sns

    sns.barplot(data=data, x=x, y=y, estimator="median", errorbar=None, alpha=0.55, ax=ax, **kw)
    # Black dots whether or not the repeats are split by a hue.
    dots = {"palette": "dark:black"} if kw.get("hue") else {"color": "black"}
    sns.stripplot(
        data=data, x=x, y=y, dodge=bool(kw.get("hue")), size=4, legend=False, ax=ax, **dots, **kw
    )


def _by_engine(runs: pd.DataFrame, column: str, ylabel: str, title: str, scale: float) -> Chart:
    import matplotlib.pyplot as plt

    data = runs.assign(value=runs[column] / scale)
    order = list(dict.fromkeys(data["label"]))
    hue = "scale_label" if data["scale_label"].nunique() > 1 else None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(order) + 2), 4.2))
    _bars_and_dots(ax, data, x="label", y="value", hue=hue, order=order)
    log = _wide(data["value"])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("")
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    alt = f"{title}: bars are medians, dots are measured repeats" + (", log scale" if log else "")
    return Chart(title, alt, _encode(fig))


def scaling_chart(scaling: WorkloadScaling) -> Chart | None:
    """Wall time against size on log-log axes: each cell's medians with their spread (min to
    max) as error bars, its fitted line ``a + b n`` over its sizes (dashed a bit beyond, up
    to its memory wall), crossovers of the lines as diamonds, and each memory wall (an x at
    the size that ran out of memory, a dash-dotted line where the memory line predicts it).
    None when no cell has a line."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns
    from matplotlib.lines import Line2D

    from reports.scaling import fmt_rows, fmt_signed

    cells = [c for c in scaling.cells if c.points or c.oom_at_rows]
    if not any(c.wall is not None for c in cells):
        return None
    _setup()
    sizes = [float(n) for c in cells for n in [*c.sizes, c.oom_at_rows or 0] if n]
    low, high = min(sizes) / SCALING_MARGIN, max(sizes) * SCALING_MARGIN
    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    palette = sns.color_palette(n_colors=len(cells))
    colors = dict(zip((c.label for c in cells), palette, strict=True))
    extra: dict[str, Line2D] = {}
    for c in cells:
        color = colors[c.label]
        fit = c.wall
        label = c.label
        if fit is not None:
            held = fit.held_out_error
            label += f" (held-out {fmt_signed(held)})" if held is not None else ""
        if c.points:
            x = np.array([p.rows for p in c.points], dtype=float)
            y = np.array([p.wall_median for p in c.points])
            spread = np.array(
                [[p.wall_median - p.wall_min for p in c.points],
                 [p.wall_max - p.wall_median for p in c.points]]
            )  # fmt: skip
            ax.errorbar(x, y, yerr=spread, fmt="o", color=color, capsize=3, label=label)
        wall = c.memory_wall
        if fit is not None:
            xs = np.geomspace(c.sizes[0], c.sizes[-1], 60)
            ax.plot(xs, [fit.predict(float(n)) for n in xs], "-", color=color, lw=1.6)
            end = c.sizes[-1] * SCALING_MARGIN
            if wall is not None:
                end = min(end, wall[0])
            if end > c.sizes[-1]:
                xs = np.geomspace(c.sizes[-1], end, 30)
                ax.plot(xs, [fit.predict(float(n)) for n in xs], "--", color=color, lw=1.2)
        if c.oom_at_rows is not None:
            at = float(c.oom_at_rows)
            top = fit.predict(at) if fit is not None else max(p.wall_max for p in c.points or [])
            ax.axvline(at, color=color, ls=":", lw=1.2)
            ax.plot([at], [top], marker="X", color=color, ms=11, mec="black", ls="none")
            extra["oom"] = Line2D([], [], marker="X", color="grey", mec="black", ms=9, ls=":",
                                  label="ran out of memory")  # fmt: skip
        elif wall is not None and low <= wall[0] <= high:
            ax.axvline(wall[0], color=color, ls="-.", lw=1.0)
            extra["predicted"] = Line2D([], [], color="grey", ls="-.",
                                        label="predicted memory wall")  # fmt: skip
    done: set[frozenset[str]] = set()
    for c in cells:
        for cross in c.crossovers:
            pair = frozenset((c.label, cross.other))
            where = cross.rows
            if where is None or pair in done or cross.beyond_memory_wall or c.wall is None:
                continue
            if not low <= where <= high:
                continue
            done.add(pair)
            ax.plot([where], [c.wall.predict(where)], marker="D", ms=8, mfc="none", mec="black",
                    mew=1.5, ls="none")  # fmt: skip
            extra["cross"] = Line2D([], [], marker="D", mfc="none", mec="black", ls="none",
                                    label="lines cross")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_xlabel(f"size ({scaling.unit}, log)")
    ax.set_ylabel("median wall time (s, log)")
    title = f"{scaling.name}: scaling (log-log), wall time against {scaling.unit}"
    ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    # Beside the axes: inside, it would hide the lines of a ladder with many cells.
    ax.legend(
        handles=[*handles, *extra.values()],
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    described = ", ".join(
        f"{c.label} over {len(c.points)} size{'s' if len(c.points) != 1 else ''}"
        + (f", out of memory at {fmt_rows(c.oom_at_rows)}" if c.oom_at_rows else "")
        for c in cells
    )
    alt = f"{title}; dots are medians with min-max bars, lines the fitted a + b n; {described}"
    return Chart(title, alt, _encode(fig))


#: Legend of the rules modes ("on" without an optimizer of its own = UDF filters in ranked order).
RULES_LABELS = {False: "rules off", True: "rules on", "paper": "paper reorder"}


def _rules_pairs(runs: pd.DataFrame, workload: str) -> Chart | None:
    import matplotlib.pyplot as plt

    ruled = runs[runs["rules"].notna()]
    ruled = ruled.assign(rules_label=ruled["rules"].map(RULES_LABELS.get))
    pairs = ruled.groupby(["engine", "variant", "scale_label"])["rules_label"].nunique()
    paired = pairs[pairs >= 2].reset_index()
    if paired.empty:
        return None
    keep = ruled.merge(paired[["engine", "variant", "scale_label"]])
    keep = keep.assign(cell=keep["engine"] + "/" + keep["variant"] + " " + keep["scale_label"])
    order = [v for v in RULES_LABELS.values() if v in set(keep["rules_label"])]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * keep["cell"].nunique() + 2), 4.2))
    _bars_and_dots(ax, keep, x="cell", y="wall_s", hue="rules_label", hue_order=order)
    ax.set_xlabel("")
    ax.set_ylabel("wall time (s)")
    title = f"{workload}: with and without our optimizer rules"
    ax.set_title(title)
    return Chart(title, title + ": medians side by side, dots are repeats", _encode(fig))


def workload_charts(runs: pd.DataFrame, summaries: list[CellSummary], workload: str) -> list[Chart]:
    """The figures of one workload from its measured, successful runs."""
    _setup()
    charts: list[Chart] = []
    ok = runs[(runs["status"] == "ok") & (~runs["is_warmup"])]
    if ok.empty:
        return charts
    charts.append(
        _by_engine(ok, "wall_s", "wall time (s)", f"{workload}: wall time by engine", 1.0)
    )
    rss = ok[ok["peak_rss_bytes"].notna()]
    if not rss.empty:
        charts.append(
            _by_engine(
                rss,
                "peak_rss_bytes",
                "peak RSS of the process tree (MiB)",
                f"{workload}: peak memory by engine",
                float(2**20),
            )
        )
    rules = _rules_pairs(ok, workload)
    if rules is not None:
        charts.append(rules)
    return charts


def recovery_chart(row: RecoveryRow) -> Chart | None:
    """Per-iteration wall times of one cell under a fault plan: the controls' medians beside
    the fault runs', a dashed line where the worker was lost. None without iterations."""
    import matplotlib.pyplot as plt
    import numpy as np

    n = min(len(row.control_iterations), len(row.fault_iterations))
    if n == 0:
        return None
    _setup()
    x = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * n + 3), 3.8))
    width = 0.4
    ax.bar(x - width / 2, row.control_iterations[:n], width, label="control (median)")
    ax.bar(x + width / 2, row.fault_iterations[:n], width, label="fault run (median)")
    if row.lost_iteration is not None and 1 <= row.lost_iteration <= n:
        ax.axvline(row.lost_iteration - 0.5, color="black", ls="--", lw=1.2, label=row.marker)
    ax.set_xticks(x)
    ax.set_xlabel("iteration")
    ax.set_ylabel("wall time (s)")
    title = f"{row.workload}: {row.label}, {row.plan}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    alt = f"{title}: each iteration's median wall time, controls beside fault runs" + (
        f"; {row.marker}" if row.marker else ""
    )
    return Chart(title, alt, _encode(fig))
