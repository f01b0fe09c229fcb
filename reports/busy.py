"""Warnings for results measured on a busy machine (other processes, CPU steal, high load)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness import load
from reports.data import display_label


def busy_warnings(records: list[Any], environments: dict[str, dict[str, Any]]) -> list[str]:
    """One line per reason to distrust these figures: batches that started on a loaded
    machine, and measured runs timed while other processes used the CPUs."""
    lines = []
    for batch_id, env in environments.items():
        snap = env.get("load") or {}
        avg, cores = snap.get("load_avg") or [], snap.get("cores")
        busy = snap.get("busy_processes") or []
        if (avg and cores and avg[0] >= cores) or busy:
            names = ", ".join(f"{p['command']} ({p['cpu_share']:.0%})" for p in busy[:3])
            lines.append(
                f"batch {batch_id} started at load {avg[0] if avg else '?'} on {cores} cores"
                + (f"; busy: {names}" if names else "")
            )
    measured = [r for r in records if not r.is_warmup and r.status == "ok"]
    hit = [(r, load.busy_reason(r.metrics)) for r in measured]
    hit = [(r, why) for r, why in hit if why]
    if hit:
        worst = max(hit, key=lambda item: item[0].metrics.get("others_cpu_share") or 0.0)
        cells = Counter(display_label(r.cell, r.where) for r, _ in hit)
        where = ", ".join(f"{label} ({n})" for label, n in cells.most_common(5))
        lines.append(
            f"{len(hit)} of {len(measured)} measured runs were timed on a busy machine "
            f"(worst: {worst[1]}, in {display_label(worst[0].cell, worst[0].where)} on "
            f"{worst[0].workload}); by cell: {where}. Their figures are less reliable: "
            "rerun on a quiet machine"
        )
    return lines
