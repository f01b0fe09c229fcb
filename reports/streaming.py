"""What streaming workloads add to a report: latency per window update and micro-batches.

For every cell whose runs record ``latency_s`` (the end-to-end latency of every window
update: the time the updated count was committed minus the arrival of the file its batch
read, which holds the window's latest event), over its measured successful runs: the medians
of the runs' p50, p95, p99 and max latency (each run's own percentile, then the median over
runs), of their median micro-batch time and of their batch count, and the offered rate.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness import metrics
from harness.results import RunRecord
from reports.data import cell_key, display_label

PERCENTILES = ("p50", "p95", "p99", "max")


@dataclass
class StreamingRow:
    """One engine cell's streaming figures (medians over runs)."""

    workload: str
    label: str
    scale: str
    runs: int
    offered_rate: float | None
    batches: int | None
    batch_median_s: float | None
    latency: dict[str, float | None]
    window_updates: int | None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def streaming_rows(records: list[RunRecord]) -> list[StreamingRow]:
    """Streaming figures of every cell that records latencies, in first-seen order."""
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for r in records:
        if (
            r.is_warmup
            or r.status != "ok"
            or not isinstance(r.metrics.get(metrics.LATENCY.name), dict)
        ):
            continue
        groups[cell_key(r)].append(r)
    rows = []
    for (cell, scale, factor, _, where), runs in groups.items():

        def med(key: str, runs: list[RunRecord] = runs) -> float | None:
            return _median([float(r.metrics[key]) for r in runs if r.metrics.get(key) is not None])

        latency = {
            p: _median(
                [
                    float(r.metrics[metrics.LATENCY.name][p])
                    for r in runs
                    if r.metrics[metrics.LATENCY.name].get(p) is not None
                ]
            )
            for p in PERCENTILES
        }
        batches, updates = med("batches"), med("window_updates")
        rows.append(
            StreamingRow(
                workload=cell.workload,
                label=display_label(cell, where),
                scale=scale if factor == 1 else f"{scale} x{factor:g}",
                runs=len(runs),
                offered_rate=med("offered_rate"),
                batches=None if batches is None else int(batches),
                batch_median_s=med(metrics.BATCH_MEDIAN.name),
                latency=latency,
                window_updates=None if updates is None else int(updates),
            )
        )
    return rows
