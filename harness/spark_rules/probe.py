"""The probe that measures ``F``, the fixed cost one extra Python eval node adds to a query.

Each eval node of a query gives every task its own Python worker, Arrow stream and writer
thread; that costs the same whatever reaches the node (about 0.05-0.1 s per query on this
2-core machine). The probe runs the same query twice over ``ROWS`` rows: four trivial UDF
filters in one node (rules off: plain Spark), and the same four in four nodes (our split, with
the node cost set to 0). Each UDF passes 99.9% of rows, so both plans call the UDFs about
equally often, and ``F = (split wall - one-node wall) / 3``. A third query reads the same
rows without any UDF; the rest of the one-node wall, per UDF and row per worker, is the call
cost every UDF pays per row in a node (the row's trip to Python and back). Medians of
``REPEATS`` interleaved runs, after one untimed run of each plan (it forks the workers).

The probe's queries have as many tasks as the session's default parallelism (a query's), and
the call cost divides the UDF time by the workers running at once (``workers``: the
master's cores, or ``spark.bdbench.udf.parallelism``), as the planner does. The result is
stored per Spark version, master, Arrow setting, tasks and workers in
``<cache>/udf-node-cost.json`` and put into each session as
``spark.bdbench.udf.measured.nodeCost`` and ``...measured.callCost``, with the workers as
``spark.bdbench.udf.parallelism`` when that is not set. It runs untimed, in a session's
warm-up.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from harness.engines.spark_engine import master_cores
from harness.spark_rules import RULES_ENABLED_KEY, SPLIT_ENABLED_KEY, costs
from harness.tools import cache_root

#: Rows of the probe query.
ROWS = 20_000
#: UDF filters in the probe (the split plan has this many nodes, plain Spark one).
NODES = 4
#: Timed runs per plan.
REPEATS = 5
ARROW_KEY = "spark.sql.execution.pythonUDF.arrow.enabled"
_MEASURED: dict[str, dict[str, float]] = {}


def _cache_file() -> Path:
    return cache_root() / "udf-node-cost.json"


def workers(spark: Any) -> int:
    """Python workers evaluating a node's rows at once: ``spark.bdbench.udf.parallelism``
    when set, else the master's cores, at most the default parallelism (tasks per stage)."""
    sc = spark.sparkContext
    raw = spark.conf.get(costs.PARALLELISM_KEY, None)
    if raw:
        return max(1, int(float(raw)))
    return max(1, min(sc.defaultParallelism, master_cores(sc.master)))


def probe_key(spark: Any, partitions: int) -> str:
    """What the figures depend on: Spark version, master, Arrow or not, tasks, workers."""
    sc = spark.sparkContext
    arrow = spark.conf.get(ARROW_KEY, "true")
    return (
        f"spark {spark.version} | {sc.master} | arrow={arrow} | partitions={partitions} | "
        f"workers={workers(spark)}"
    )


def measure(spark: Any, partitions: int | None = None, rows: int = ROWS,
            repeats: int = REPEATS) -> dict[str, float]:  # fmt: skip
    """Measure the node and call costs now on ``spark`` (its conf is restored afterwards),
    with ``partitions`` tasks per query (default: the default parallelism, as a query has)."""
    from pyspark.sql import functions as F

    partitions = partitions or spark.sparkContext.defaultParallelism
    concurrent = min(partitions, workers(spark))
    names = [f"bdbench_probe{i}" for i in range(NODES)]
    udfs = []
    for i, name in enumerate(names):

        def keep(row_id: int, i: int = i) -> bool:
            return row_id % 1000 != i

        keep.__name__ = keep.__qualname__ = name
        udfs.append(F.udf(keep, "boolean"))
    overrides = {costs.NODE_COST_KEY: "0", SPLIT_ENABLED_KEY: "true"}
    overrides |= {costs.conf_key("selectivity", n): "0.999" for n in names}
    saved = {k: spark.conf.get(k, None) for k in [*overrides, RULES_ENABLED_KEY]}

    def run(split: bool | None) -> float:
        """One query: no UDF (None), one node (False) or one node per UDF (True)."""
        spark.conf.set(RULES_ENABLED_KEY, "true" if split else "false")
        df = spark.range(0, rows, 1, partitions)
        if split is None:  # the same rows through the JVM alone
            df = df.filter(F.col("id") % 1000 != NODES)
        for u in udfs if split is not None else []:
            df = df.filter(u("id"))
        began = time.perf_counter()
        df.agg(F.count("*")).collect()
        return time.perf_counter() - began

    try:
        for key, value in overrides.items():
            spark.conf.set(key, value)
        modes: tuple[bool | None, ...] = (None, False, True)
        for mode in modes:  # untimed: workers forked, code generated
            run(mode)
        walls: dict[bool | None, list[float]] = {m: [] for m in modes}
        for _ in range(repeats):
            for mode in modes:
                walls[mode].append(run(mode))
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
    none, one, many = (statistics.median(walls[m]) for m in (None, False, True))
    node = max(many - one, 0.0) / (NODES - 1)
    return {
        "node_cost": node,
        # the UDF calls of the one-node query, spread over the workers running at once
        "call_cost": max(one - none - node, 0.0) * concurrent / (NODES * rows),
        "no_udf_s": none,
        "one_node_s": one,
        "split_s": many,
        "rows": float(rows),
        "measured_at": time.time(),
    }


def figures(spark: Any, refresh: bool = False, partitions: int | None = None
            ) -> dict[str, float]:  # fmt: skip
    """The probe's figures for this session: stored, else measured now and stored."""
    partitions = partitions or spark.sparkContext.defaultParallelism
    key = probe_key(spark, partitions)
    if not refresh and key in _MEASURED:
        return _MEASURED[key]
    path = _cache_file()
    stored: dict[str, Any] = {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}  # none yet, or unreadable: measure again
    entry = stored.get(key) if isinstance(stored, dict) and not refresh else None
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(k), int | float) for k in ("node_cost", "call_cost")
    ):
        entry = measure(spark, partitions)
        stored = stored if isinstance(stored, dict) else {}
        stored[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        tmp.replace(path)
    _MEASURED[key] = {k: float(v) for k, v in entry.items()}
    return _MEASURED[key]


def apply(spark: Any, refresh: bool = False, partitions: int | None = None
          ) -> dict[str, float]:  # fmt: skip
    """Put the (stored or measured) node and call costs, and the workers they assume, into
    ``spark``'s conf (the parallelism only when not set already)."""
    found = figures(spark, refresh, partitions)
    spark.conf.set(costs.MEASURED_NODE_COST_KEY, repr(found["node_cost"]))
    spark.conf.set(costs.MEASURED_CALL_COST_KEY, repr(found["call_cost"]))
    if not spark.conf.get(costs.PARALLELISM_KEY, None):
        spark.conf.set(costs.PARALLELISM_KEY, str(workers(spark)))
    return found
