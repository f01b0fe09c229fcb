"""Is the machine quiet? What else used the CPUs while a run was timed (pyperf's system check
is the model: measure on a quiet machine, and say so when it was not).

The probe keeps marks: at each of its snapshots, the machine's own CPU counters (``/proc/stat``
through psutil), the CPU of every process of the run's tree, the measuring harness's own (the
runner process, and its idle workers kept for later cells) and the local cluster's daemons'
(each process's with the children it reaped: many live and die between two samples). Over a
window between two marks, the machine's busy CPU seconds less all of those is what other
processes used: ``others_cpu_share`` is that as a share of every core over the window (0.5 on 2
cores = one core busy elsewhere the whole time). The kernel counts CPU in ticks (10 ms at
USER_HZ 100), so a window of a few ms cannot be judged: a region shorter than ``JUDGE_MIN_S``
is judged over a window widened back to the newest mark at least that long before its end, or
is too short to judge. CPU steal (a hypervisor giving our cores to another guest) is
``steal_share`` where the kernel reports it. ``load1`` is the 1-minute load average as the
region began.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

#: A run is on a busy machine when other processes used more than this share of all cores
#: while it was timed (on 2 cores: a fifth of a core for the whole region, about what a
#: busy browser tab or an IDE indexing takes).
BUSY_OTHERS_SHARE = 0.10
#: ... or when the hypervisor took more than this share of the cores.
BUSY_STEAL_SHARE = 0.05
#: Processes at batch start using more than this share of one core are listed in the env file.
BUSY_PROCESS_CPU = 0.05
#: The shortest window busyness is judged over: the counters tick every 10 ms, so over 0.5 s on
#: 2 cores one tick misplaced is 1% of the capacity, well under ``BUSY_OTHERS_SHARE``.
JUDGE_MIN_S = 0.5

#: A process, told apart from a later one reusing its pid: (pid, create time).
ProcKey = tuple[int, float]


@dataclass(frozen=True)
class SystemCpu:
    """The machine's CPU seconds (all cores summed) at one moment."""

    busy: float
    steal: float | None
    at: float

    @classmethod
    def now(cls) -> SystemCpu:
        """Read the counters."""
        t = psutil.cpu_times()
        # Linux counts guest time inside user; steal is not ours to use, so it is apart.
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        return cls(busy, getattr(t, "steal", None), time.monotonic())


def cores() -> int:
    """Cores the kernel schedules on (the counters cover all of them)."""
    return psutil.cpu_count() or 1


@dataclass(frozen=True)
class Mark:
    """The CPU counters at one moment: the machine's, each process of the run's tree, the
    measuring harness's own, each of the cluster's daemons, each of bdbench's idle workers
    (CPU seconds; a process's with the CPU of the children it reaped)."""

    system: SystemCpu
    tree: dict[ProcKey, float]
    harness: float
    daemons: dict[ProcKey, float] = field(default_factory=dict)
    idle: dict[ProcKey, float] = field(default_factory=dict)
    #: For each process whose figure includes the CPU of the children it reaped: its parent's
    #: pid, and that part of its figure.
    reaped: dict[ProcKey, tuple[int, float]] = field(default_factory=dict)
    #: The first mark of its probe: the processes it lists were found running, not born since
    #: the mark before (a shared worker, the daemons), so their CPU so far is not a window's.
    fresh: bool = False

    @property
    def at(self) -> float:
        """When the mark was taken (monotonic seconds)."""
        return self.system.at


def harness_cpu() -> float:
    """User+system CPU of this process, all threads (counted in ticks, like ``/proc/stat``)."""
    t = os.times()
    return t.user + t.system


def reaped_cpu() -> float:
    """User+system CPU of this process's children that it reaped (waited for)."""
    t = os.times()
    return t.children_user + t.children_system


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds spent over one window between two marks, by whom."""

    seconds: float
    busy_s: float
    steal_s: float | None
    #: The run's tree.
    tree_s: float
    #: Every process of bdbench's: the run's tree, the idle workers, the cluster's daemons
    #: (one count: a process can pass from one to another, e.g. a worker parked for later).
    ours_s: float
    harness_s: float
    #: The cluster's daemons alone, without the children they reaped (the run's containers).
    daemons_s: float


def _spent(
    marks: Sequence[Mark], part: Callable[[Mark], dict[ProcKey, float]], reaped: bool = True
) -> float:
    """CPU of one party's processes from the first mark to the last: each process's newest
    figure less its first one (from 0 for one born inside, from where a fresh mark found it
    running; one that ended inside counts up to the last mark that saw it). A process that
    ended inside and whose parent was seen after it is counted twice when the parent reaped
    it (its whole figure went into the parent's reaped part): as much as the parent's reaped
    part grew is taken off once (none when the parent lets the kernel reap its children).
    ``reaped=False``: the processes' own CPU only."""
    base: dict[ProcKey, tuple[float, float]] = {}
    newest: dict[ProcKey, tuple[float, float]] = {}
    seen: dict[ProcKey, int] = {}
    by_pid: dict[int, ProcKey] = {}
    parents: dict[ProcKey, int] = {}
    for i, mark in enumerate(marks):
        for key, cpu in part(mark).items():
            parent, grown = mark.reaped.get(key, (0, 0.0))
            if not reaped:
                cpu, grown = cpu - grown, 0.0
            if key not in base:
                base[key] = (cpu, grown) if i == 0 or mark.fresh else (0.0, 0.0)
            newest[key] = (cpu, grown)
            seen[key], by_pid[key[0]], parents[key] = i, key, parent
    total = sum(max(0.0, newest[key][0] - first[0]) for key, first in base.items())
    grew = {key: max(0.0, newest[key][1] - first[1]) for key, first in base.items()}
    for key in base:
        reaper = by_pid.get(parents[key])
        if reaper is not None and seen[reaper] > seen[key]:
            twice = min(newest[key][0], grew[reaper])
            total -= twice
            grew[reaper] -= twice
    return total


def cpu_window(marks: Sequence[Mark]) -> CpuWindow:
    """Who spent what from the first of ``marks`` to the last (in time order)."""
    first, last = marks[0], marks[-1]
    steal = None
    if first.system.steal is not None and last.system.steal is not None:
        steal = max(0.0, last.system.steal - first.system.steal)
    return CpuWindow(
        seconds=last.at - first.at,
        busy_s=max(0.0, last.system.busy - first.system.busy),
        steal_s=steal,
        tree_s=_spent(marks, lambda m: m.tree),
        ours_s=_spent(marks, lambda m: {**m.daemons, **m.idle, **m.tree}),
        harness_s=max(0.0, last.harness - first.harness),
        daemons_s=_spent(marks, lambda m: m.daemons, reaped=False),
    )


def between(marks: Sequence[Mark], first: Mark, last: Mark) -> list[Mark]:
    """``first``, the marks after it up to ``last``, and ``last``, in time order."""
    inside = [m for m in marks if first.at < m.at < last.at]
    return [first, *sorted(inside, key=lambda m: m.at), last]


def judged_window(marks: Sequence[Mark], start: Mark, end: Mark) -> CpuWindow | None:
    """The window a timed region from ``start`` to ``end`` is judged over: its own edges when
    it lasts ``JUDGE_MIN_S`` or more; else widened back to the newest of ``marks`` at least
    ``JUDGE_MIN_S`` before its end. None when there is no such mark: too short to judge."""
    first = start
    if end.at - start.at < JUDGE_MIN_S:
        older = [m for m in marks if m.at <= end.at - JUDGE_MIN_S]
        if not older:
            return None
        first = max(older, key=lambda m: m.at)
    return cpu_window(between(marks, first, end))


def window_figures(window: CpuWindow, run_cpu_s: float = 0.0) -> dict[str, float]:
    """``others_cpu_share``, ``others_window_s`` (and ``steal_share`` where reported) over the
    window a region is judged over; ``run_cpu_s``: the run's CPU over its region, when another
    count of it (getrusage) is larger than the probe's samples."""
    capacity = window.seconds * cores()
    if capacity <= 0:
        return {}
    # getrusage may have seen more of the run's tree than the samples (children reaped unseen).
    own = window.ours_s + max(0.0, run_cpu_s - window.tree_s) + window.harness_s
    others = max(0.0, window.busy_s - own)
    out = {
        "others_cpu_share": min(1.0, others / capacity),
        "others_window_s": round(window.seconds, 3),
    }
    if window.steal_s is not None:
        out["steal_share"] = window.steal_s / capacity
    return out


def too_short_to_judge(metrics: dict[str, Any], wall_s: float | None = None) -> bool:
    """Whether a run's region was too short to judge whether the machine was busy: the probe
    said so, or (a record from before windows were widened) it was judged over its own edges
    and lasted under ``JUDGE_MIN_S``."""
    if metrics.get("busy_too_short"):
        return True
    return (
        "others_cpu_share" in metrics
        and "others_window_s" not in metrics
        and wall_s is not None
        and wall_s < JUDGE_MIN_S
    )


def busy_reason(metrics: dict[str, Any], wall_s: float | None = None) -> str | None:
    """Why a run's machine was not quiet, from its metrics (None when it was, or unknown: a
    region too short to judge is never called busy)."""
    if too_short_to_judge(metrics, wall_s):
        return None
    others = metrics.get("others_cpu_share")
    steal = metrics.get("steal_share")
    reasons = []
    if isinstance(others, int | float) and others > BUSY_OTHERS_SHARE:
        reasons.append(f"other processes used {others:.0%} of the CPUs")
    if isinstance(steal, int | float) and steal > BUSY_STEAL_SHARE:
        reasons.append(f"the hypervisor stole {steal:.0%} of the CPUs")
    return "; ".join(reasons) or None


def snapshot(
    exclude: set[int] | None = None,
    interval: float = JUDGE_MIN_S,
    daemons: Sequence[int] = (),
) -> dict[str, Any]:
    """The machine at batch start: load averages, cores, and the processes then using more
    than ``BUSY_PROCESS_CPU`` of a core (sampled over ``interval`` seconds); the cluster
    ``daemons`` the batch runs on are listed apart (``cluster_daemons``), never as busy."""
    exclude = (exclude or set()) | {os.getpid()}
    procs = []
    for proc in psutil.process_iter(["name"]):
        if proc.pid in exclude:
            continue
        try:
            proc.cpu_percent(None)
            procs.append(proc)
        except psutil.Error:
            continue
    time.sleep(interval)
    busy, cluster = [], []
    for proc in procs:
        try:
            share = proc.cpu_percent(None) / 100
            cmd = " ".join(proc.cmdline()[:3]) or proc.info["name"]
        except psutil.Error:
            continue
        entry = {"pid": proc.pid, "cpu_share": round(share, 2), "command": cmd[:120]}
        if proc.pid in daemons:
            cluster.append(entry)
        elif share > BUSY_PROCESS_CPU:
            busy.append(entry)
    busy.sort(key=lambda p: -p["cpu_share"])
    out: dict[str, Any] = {
        "load_avg": [round(x, 2) for x in psutil.getloadavg()],
        "cores": cores(),
        "busy_processes": busy[:10],
    }
    if daemons:
        out["cluster_daemons"] = sorted(cluster, key=lambda p: -p["cpu_share"])
    return out
