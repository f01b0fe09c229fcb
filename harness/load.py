"""Is the machine quiet? What else used the CPUs while a run was timed (pyperf's system check
is the model: measure on a quiet machine, and say so when it was not).

For each run the probe reads the machine's own CPU counters (``/proc/stat`` through psutil) at
both edges of the timed region. The machine's busy CPU seconds minus the run's own (its whole
process tree) is what other processes used: ``others_cpu_share`` is that as a share of every
core over the region (0.5 on 2 cores = one core busy elsewhere the whole time). CPU steal (a
hypervisor giving our cores to another guest) is ``steal_share`` where the kernel reports it.
``load1`` is the 1-minute load average as the region began.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
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


def window_figures(start: SystemCpu, end: SystemCpu, run_cpu_s: float) -> dict[str, float]:
    """``others_cpu_share`` (and ``steal_share`` where reported) over one timed region."""
    capacity = (end.at - start.at) * cores()
    if capacity <= 0:
        return {}
    others = max(0.0, (end.busy - start.busy) - run_cpu_s)
    out = {"others_cpu_share": min(1.0, others / capacity)}
    if start.steal is not None and end.steal is not None:
        out["steal_share"] = max(0.0, end.steal - start.steal) / capacity
    return out


def busy_reason(metrics: dict[str, Any]) -> str | None:
    """Why a run's machine was not quiet, from its metrics (None when it was, or unknown)."""
    others = metrics.get("others_cpu_share")
    steal = metrics.get("steal_share")
    reasons = []
    if isinstance(others, int | float) and others > BUSY_OTHERS_SHARE:
        reasons.append(f"other processes used {others:.0%} of the CPUs")
    if isinstance(steal, int | float) and steal > BUSY_STEAL_SHARE:
        reasons.append(f"the hypervisor stole {steal:.0%} of the CPUs")
    return "; ".join(reasons) or None


def snapshot(exclude: set[int] | None = None, interval: float = 0.25) -> dict[str, Any]:
    """The machine at batch start: load averages, cores, and the processes then using more
    than ``BUSY_PROCESS_CPU`` of a core (sampled over ``interval`` seconds)."""
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
    busy = []
    for proc in procs:
        try:
            share = proc.cpu_percent(None) / 100
            cmd = " ".join(proc.cmdline()[:3]) or proc.info["name"]
        except psutil.Error:
            continue
        if share > BUSY_PROCESS_CPU:
            busy.append({"pid": proc.pid, "cpu_share": round(share, 2), "command": cmd[:120]})
    busy.sort(key=lambda p: -p["cpu_share"])
    return {
        "load_avg": [round(x, 2) for x in psutil.getloadavg()],
        "cores": cores(),
        "busy_processes": busy[:10],
    }
