"""Warnings for results measured on a busy machine (other processes, CPU steal, high load)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness import load
from reports.data import display_label


def busy_warnings(records: list[Any], environments: dict[str, dict[str, Any]]) -> list[str]:
    """One line per reason to distrust these figures: batches that started on a loaded
    machine, and measured runs timed while other processes used the CPUs (a run too short
    to judge is counted as such, never called busy)."""
    lines = []
    for batch_id, env in environments.items():
        snap = env.get("load") or {}
        avg, cores = snap.get("load_avg") or [], snap.get("cores")
        busy = snap.get("busy_processes") or []
        # Only processes seen busy as the batch began count: the load average trails the
        # last minute, bdbench's own data generation and earlier batches included.
        if busy:
            names = ", ".join(f"{p['command']} ({p['cpu_share']:.0%})" for p in busy[:3])
            lines.append(
                f"batch {batch_id} started at load {avg[0] if avg else '?'} on {cores} cores"
                f"; busy: {names}"
            )
    measured = _measured(records)
    hit = [(r, load.busy_reason(r.metrics, r.wall_s)) for r in measured]
    hit = [(r, why) for r, why in hit if why]
    if hit:
        worst = max(hit, key=lambda item: item[0].metrics.get("others_cpu_share") or 0.0)
        cells = Counter(display_label(r.cell, r.where) for r, _ in hit)
        where = ", ".join(f"{label} ({n})" for label, n in cells.most_common(5))
        short = len(_too_short(measured))
        lines.append(
            f"{len(hit)} of {len(measured)} measured runs were timed on a busy machine "
            f"(worst: {worst[1]}, in {display_label(worst[0].cell, worst[0].where)} on "
            f"{worst[0].workload}); by cell: {where}"
            + (f"; {short} were too short to judge" if short else "")
            + ". Their figures are less reliable: rerun on a quiet machine"
        )
    return lines


def too_short_note(records: list[Any]) -> str | None:
    """How many measured runs were too short to judge whether the machine was busy (None:
    every one was judged)."""
    measured = _measured(records)
    short = _too_short(measured)
    if not short:
        return None
    return (
        f"{len(short)} of {len(measured)} measured runs were too short to judge whether the "
        f"machine was busy (a region under {load.JUDGE_MIN_S:g} s with no probe sample "
        f"{load.JUDGE_MIN_S:g} s before its end)"
    )


def _measured(records: list[Any]) -> list[Any]:
    return [r for r in records if not r.is_warmup and r.status == "ok"]


def _too_short(measured: list[Any]) -> list[Any]:
    return [r for r in measured if load.too_short_to_judge(r.metrics, r.wall_s)]
