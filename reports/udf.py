"""What the UDF workloads add to a report: achieved vs ideal speedup of each optimizer mode.

For every engine cell measured with the rules off and on (and the paper's control), per
scale and parameter point:

* achieved = median wall (rules off) / median wall (mode);
* ideal = median wall (rules off) / median ideal wall, where a run's ideal wall is its wall
  minus the UDF work the optimal order would have saved: ``(udf_work_s - optimal_work_s) /
  parallelism``. UDF work is the time measured inside the UDFs in that very run, and the
  optimal order is the cheapest of all orders given those per-call costs and the exact pass
  counts of every subset of filters (brute force). Everything else the engine does (reading,
  serialising rows to Python workers, scheduling) is kept, so ideal is what a perfect
  reordering with no overhead of its own would reach on that engine.

Each mode also shows how it grouped the UDFs (an engine's eval nodes, bottom-up, from its
executed plan, where it records them) and whether every UDF was called once per row reaching
its step.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness import metrics
from harness.results import RunRecord
from harness.rules import RulesMode


@dataclass
class UdfSpeedup:
    """One engine cell at one scale and parameter point: a mode compared with rules off."""

    workload: str
    label: str
    scale: str
    params: str
    mode: str
    n_off: int
    n_mode: int
    wall_off: float
    wall_mode: float
    achieved: float
    ideal: float | None
    calls_off: dict[str, int]
    calls_mode: dict[str, int]
    survivors_exact: bool | None
    #: The mode's eval nodes, bottom-up (``udfB_10 | udfA_99``); None when not recorded.
    nodes: str | None = None

    @property
    def efficiency(self) -> float | None:
        """Achieved / ideal (1 = as good as a perfect reordering)."""
        if self.ideal is None or self.ideal <= 0:
            return None
        return self.achieved / self.ideal


def _ideal_wall(record: RunRecord) -> float | None:
    udf = record.metrics.get(metrics.UDF.name) or {}
    try:
        saved = (float(udf["udf_work_s"]) - float(udf["optimal_work_s"])) / int(udf["parallelism"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if record.wall_s is None:
        return None
    ideal = float(record.wall_s) - max(saved, 0.0)
    return ideal if ideal > 0 else None


def params_label(params: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The parameters that differ from the workload's defaults, ``k=v`` joined by spaces."""
    diff = {k: v for k, v in sorted(params.items()) if defaults.get(k) != v}
    return " ".join(f"{k}={v}" for k, v in diff.items()) or "defaults"


def workload_defaults(workload: str) -> dict[str, Any]:
    """The registered workload's default parameters (empty when it is not registered)."""
    from harness import registry
    from harness.errors import UserError

    try:
        return dict(registry.get_workload(workload).params)
    except UserError:
        return {}


def nodes_label(records: list[RunRecord]) -> str | None:
    """The most frequent grouping of the runs' UDFs into steps, bottom-up (``a | b c``)."""
    seen = [r.metrics[metrics.UDF.name].get("grouping") for r in records]
    labels = [" | ".join(" ".join(g) for g in grouping) for grouping in seen if grouping]
    return max(sorted(set(labels)), key=labels.count) if labels else None


def _median_calls(records: list[RunRecord]) -> dict[str, int]:
    names = dict.fromkeys(n for r in records for n in r.metrics[metrics.UDF.name].get("calls", {}))
    return {
        n: int(statistics.median(r.metrics[metrics.UDF.name]["calls"].get(n, 0) for r in records))
        for n in names
    }


def udf_speedups(records: list[RunRecord]) -> list[UdfSpeedup]:
    """Achieved and ideal speedups of every mode over rules off, where both were measured."""
    groups: dict[tuple[Any, ...], dict[str, list[RunRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in records:
        if r.is_warmup or r.status != "ok" or r.wall_s is None or r.rules is RulesMode.NONE:
            continue
        if not isinstance(r.metrics.get(metrics.UDF.name), dict):
            continue
        key = (r.workload, r.engine, r.variant, r.scale, r.factor,
               json.dumps(r.params, sort_keys=True, default=str))  # fmt: skip
        groups[key][r.rules.label].append(r)
    rows = []
    for (workload, engine, variant, scale, factor, params), by_mode in groups.items():
        off = by_mode.get("off")
        if not off:
            continue
        wall_off = statistics.median(float(r.wall_s or 0) for r in off)
        ideal_walls = [w for w in (_ideal_wall(r) for r in off) if w is not None]
        ideal = wall_off / statistics.median(ideal_walls) if ideal_walls else None
        for mode in ("on", "paper"):
            runs = by_mode.get(mode)
            if not runs:
                continue
            wall_mode = statistics.median(float(r.wall_s or 0) for r in runs)
            exact = [r.metrics[metrics.UDF.name].get("survivor_calls_exact") for r in runs]
            rows.append(
                UdfSpeedup(
                    workload=workload,
                    label=f"{engine}/{variant}",
                    scale=scale if factor == 1 else f"{scale} x{factor:g}",
                    params=params_label(json.loads(params), workload_defaults(workload)),
                    mode=mode,
                    n_off=len(off),
                    n_mode=len(runs),
                    wall_off=wall_off,
                    wall_mode=wall_mode,
                    achieved=wall_off / wall_mode if wall_mode > 0 else float("nan"),
                    ideal=ideal,
                    calls_off=_median_calls(off),
                    calls_mode=_median_calls(runs),
                    survivors_exact=None if None in exact else all(exact),
                    nodes=nodes_label(runs),
                )
            )
    return rows


def fmt_calls(before: dict[str, int], after: dict[str, int]) -> str:
    """``udfA_99 30000 -> 3414, udfB_10 30000 -> 30000``."""
    return ", ".join(f"{n} {before.get(n, 0)} → {after.get(n, 0)}" for n in before)


def fmt_ratio(value: float | None) -> str:
    """``2.31x`` or a dash."""
    return "-" if value is None else f"{value:.2f}x"
