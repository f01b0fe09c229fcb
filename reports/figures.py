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

    from reports.stats import CellSummary

#: Use a log axis when the largest value is this many times the smallest.
LOG_SCALE_SPREAD = 20.0


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


def _scaling(summaries: list[CellSummary], workload: str) -> Chart | None:
    import matplotlib.pyplot as plt
    import numpy as np

    series: dict[str, list[tuple[float, float]]] = {}
    for s in summaries:
        if s.wall_median and s.input_bytes:
            series.setdefault(s.label, []).append((float(s.input_bytes), s.wall_median))
    series = {k: sorted(set(v)) for k, v in series.items() if len({x for x, _ in v}) >= 2}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in series.items():
        x = np.array([p[0] for p in points])
        y = np.array([p[1] for p in points])
        slope, intercept = np.polyfit(np.log10(x), np.log10(y), 1)
        line = ax.plot(x, y, "o", label=f"{label}: slope {slope:.2f}")[0]
        xs = np.geomspace(x.min(), x.max(), 20)
        ax.plot(xs, 10 ** (intercept + slope * np.log10(xs)), "--", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input size (bytes, log)")
    ax.set_ylabel("median wall time (s, log)")
    title = f"{workload}: scaling (log-log, fitted slope; 1 = linear)"
    ax.set_title(title)
    ax.legend(fontsize="small")
    alt = (
        title
        + "; "
        + ", ".join(f"{label} over {len(points)} sizes" for label, points in series.items())
    )
    return Chart(title, alt, _encode(fig))


#: Legend of the rules modes (numpy/mrjob "on" = UDF filters in ranked order).
RULES_LABELS = {False: "rules off", True: "rules on", "paper": "paper reorder"}


def _rules_pairs(runs: pd.DataFrame, workload: str) -> Chart | None:
    import matplotlib.pyplot as plt

    spark = runs[runs["rules"].notna()]
    spark = spark.assign(rules_label=spark["rules"].map(RULES_LABELS.get))
    pairs = spark.groupby(["engine", "variant", "scale_label"])["rules_label"].nunique()
    paired = pairs[pairs >= 2].reset_index()
    if paired.empty:
        return None
    keep = spark.merge(paired[["engine", "variant", "scale_label"]])
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
    scaling = _scaling(summaries, workload)
    if scaling is not None:
        charts.append(scaling)
    rules = _rules_pairs(ok, workload)
    if rules is not None:
        charts.append(rules)
    return charts
