"""The metric registry: every figure a run records, declared once with its unit, type, meaning
and direction (pyperf's metadata registry is the model).

Modules that write a metric and the reports and ``compare`` that read it agree through these
declarations instead of each knowing keys, units and which way is better. A workload's own
figures are declared by the workload package with ``declare``; the conformance test fails on
any recorded metric that nobody declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["float", "int", "str", "bool", "dict", "list"]


@dataclass(frozen=True)
class Metric:
    """One declared figure of a run."""

    name: str
    #: Unit of the value (``s``, ``bytes``, ``items/s`` ...; ``""`` for a count or text).
    unit: str
    kind: Kind
    #: One line: what the figure means.
    meaning: str
    #: True: lower is better; False: higher is better; None: not a performance figure.
    lower_is_better: bool | None = None
    #: A top-level field of the record (``wall_s`` ...), not a key of its ``metrics``.
    field: bool = False


_METRICS: dict[str, Metric] = {}


def declare(
    name: str,
    unit: str,
    kind: Kind,
    meaning: str,
    lower_is_better: bool | None = None,
    field: bool = False,
) -> Metric:
    """Declare a metric; declaring the same name twice differently is an error."""
    metric = Metric(name, unit, kind, meaning, lower_is_better, field)
    existing = _METRICS.get(name)
    if existing is not None and existing != metric:
        raise ValueError(f"metric {name!r} declared twice, differently")
    _METRICS[name] = metric
    return metric


def get(name: str) -> Metric:
    """The declaration of ``name``; KeyError names an undeclared metric."""
    try:
        return _METRICS[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not declared (harness.metrics.declare)") from None


def is_declared(name: str) -> bool:
    """Whether ``name`` is declared."""
    return name in _METRICS


def declared() -> dict[str, Metric]:
    """Every declaration, by name."""
    return dict(_METRICS)


def undeclared(metrics: dict[str, object]) -> list[str]:
    """The keys of a record's ``metrics`` that nobody declared."""
    return sorted(k for k in metrics if k not in _METRICS)


# The record's own measured fields (compared by ``bdbench compare``).
WALL = declare("wall_s", "s", "float", "wall time of the timed region", True, field=True)
CPU = declare(
    "cpu_s", "s", "float", "user+system CPU of the whole process tree in the region", True, True
)
PEAK_RSS = declare(
    "peak_rss_bytes", "bytes", "int", "peak RSS of the whole process tree in the region", True, True
)
STARTUP = declare("startup_s", "s", "float", "engine start-up and warm-up, untimed", True, True)

# Written by the harness for every run.
declare("items", "", "int", "input items the run processed (unit in 'unit')")
declare("unit", "", "str", "what an item is (words, rows, points, events)")
ITEMS_PER_S = declare("items_per_s", "items/s", "float", "throughput: items over busy time", False)
declare("prewarm_s", "s", "float", "the implementation's untimed warm-up", True)
declare("settle_s", "s", "float", "wait for the tree to go idle after start-up", True)
declare(
    "engine_shared_after",
    "",
    "int",
    "cells a shared engine served before this one (--share-engines)",
)
declare("cpu_s_sampled", "s", "float", "CPU of the tree seen by the probe's samples", True)
declare("cpu_s_rusage", "s", "float", "CPU by getrusage (self and reaped children)", True)
declare("peak_procs", "", "int", "most processes seen at once in the run's tree")
declare(
    "cluster_procs",
    "",
    "int",
    "most cluster processes (executors, task containers) counted with the run's tree at once",
)
declare("probe_samples", "", "int", "samples the process-tree probe took")
declare(
    "others_cpu_share",
    "",
    "float",
    "share of all cores other processes used while the run was timed (a busy machine)",
)
declare(
    "others_window_s",
    "s",
    "float",
    "the window others_cpu_share was judged over: the timed region, or a wider one ending with "
    "it when the region was shorter than 0.5 s",
)
declare(
    "busy_too_short",
    "",
    "bool",
    "the timed region was too short to judge whether other processes used the CPUs",
)
declare(
    "cluster_daemon_cpu_s",
    "s",
    "float",
    "CPU the local cluster's daemons used while the run was timed (apart from the run's own)",
)
declare("steal_share", "", "float", "share of all cores the hypervisor stole while timed")
declare("load1", "", "float", "1-minute load average as the timed region began")
declare("probe_cpu_s", "s", "float", "CPU the probe itself used")
declare("leftover_processes_killed", "", "int", "processes of the run still alive after it")
declare("traceback", "", "str", "the end of a failed run's traceback")
declare(
    "stop",
    "",
    "str",
    "on a cell's last record: why its measuring stopped (harness.stopping: converged, "
    "time-budget, max-values, fixed, failed)",
)
declare("memory_limit_by", "", "str", "what enforced --memory-limit: cgroup v2, cgroup v1, probe")
declare("oom_kills", "", "int", "processes the kernel's OOM killer killed during the run")
CHECK_METHOD = declare(
    "check_method", "", "str", "'quality' when judged by answer quality, not value by value"
)
declare("prepared", "", "dict", "the workload's untimed preparation (e.g. a UDF profile)")

# Engines' own figures (Engine.run_metrics).
declare("jobs", "", "list", "each MapReduce job: wall time submit to finish, its counters")

# Iterative workloads (logistic regression, k-means): per-iteration timings.
declare("iteration_s", "s", "list", "wall time of each iteration, in order")
FIRST_ITERATION = declare(
    "first_iteration_s", "s", "float", "the first (cold) iteration's wall time", True
)
LATER_ITERATIONS = declare(
    "later_iterations_median_s", "s", "float", "median wall time of the later iterations", True
)
declare("mllib_iterations", "", "int", "iterations the engine's own ML library ran")

# Fed (streaming) runs: they last as long as their feed.
BUSY = declare("busy_s", "s", "float", "summed micro-batch durations (time spent processing)", True)
declare("batches", "", "int", "micro-batches processed")
declare("batch_s", "s", "list", "duration of each micro-batch")
BATCH_MEDIAN = declare("batch_median_s", "s", "float", "median micro-batch duration", True)
LATENCY = declare(
    "latency_s", "s", "dict", "latency per window update by percentile (p50 p95 p99 max)", True
)
declare("batch_latency_s", "s", "list", "latency of each micro-batch's updates")
declare("offered_rate", "items/s", "float", "rate the feeder offered")
declare("arrival_s", "s", "list", "when each input file arrived")
declare("feed_lag_max_s", "s", "float", "how far the feeder fell behind its schedule", True)
declare("window_updates", "", "int", "window results emitted")

# UDF scenarios: per-UDF calls and time, the executed plan.
UDF = declare("udf", "", "dict", "per-UDF calls, seconds and the work of the optimal order")
declare("plan", "", "str", "the executed physical plan")

# Fault runs (issue 26): progress reported as iterations end, and what recovery cost.
declare(
    "partitions_parsed",
    "",
    "list",
    "input partitions parsed in each iteration (after the first: recomputed from lineage)",
)
declare("iterations_reported", "", "int", "iterations the call reported as they ended")
declare(
    "recovery",
    "",
    "dict",
    "the engine's own account of lost workers: failed and killed tasks, lost executors",
)
declare(
    "slowdown_s",
    "s",
    "float",
    "a fault run's wall time minus the median of its controls' (same cell, same batch)",
    True,
)
declare("slowdown_pct", "%", "float", "slowdown_s over the controls' median wall time", True)
declare(
    "slowdown",
    "",
    "dict",
    "a fault run against its controls: per-iteration differences, the lost iteration's",
)
