"""The probe that measures ``F``, the fixed cost one extra Python eval node adds to a query.

Each eval node of a query gives every task its own Python worker, Arrow stream and writer
thread; that costs the same whatever reaches the node (about 0.05-0.1 s per query on this
2-core machine). The probe runs the same query twice over ``ROWS`` rows: four trivial UDF
filters in one node (rules off: plain Spark), and the same four in four nodes (our split, with
the node cost set to 0). Each UDF passes 99.9% of rows, so both plans call the UDFs about
equally often, and ``F = (split wall - one-node wall) / 3``: medians of ``REPEATS``
interleaved runs, after one untimed run of each plan (it forks the extra workers).

The result is stored per Spark version, master, UDF evaluation (Arrow or not) and
parallelism in ``<cache>/udf-node-cost.json`` and put into each session as
``spark.bdbench.udf.measured.nodeCost``. It runs untimed, as part of a session's warm-up.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from harness.spark_rules import RULES_ENABLED_KEY, SPLIT_ENABLED_KEY, costs
from harness.tools import cache_root

#: Rows of the probe query.
ROWS = 20_000
#: UDF filters in the probe (the split plan has this many nodes, plain Spark one).
NODES = 4
#: Timed runs per plan.
REPEATS = 5
ARROW_KEY = "spark.sql.execution.pythonUDF.arrow.enabled"
_MEASURED: dict[str, float] = {}


def _cache_file() -> Path:
    return cache_root() / "udf-node-cost.json"


def probe_key(spark: Any) -> str:
    """What the node cost depends on: Spark version, master, Arrow or not, parallelism."""
    sc = spark.sparkContext
    arrow = spark.conf.get(ARROW_KEY, "true")
    return f"spark {spark.version} | {sc.master} | arrow={arrow} | parallelism={sc.defaultParallelism}"


def measure(spark: Any, rows: int = ROWS, repeats: int = REPEATS) -> dict[str, float]:
    """Measure the node cost now (seconds) on ``spark``, whose conf is restored afterwards."""
    from pyspark.sql import functions as F

    partitions = spark.sparkContext.defaultParallelism
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

    def run(split: bool) -> float:
        spark.conf.set(RULES_ENABLED_KEY, "true" if split else "false")
        df = spark.range(0, rows, 1, partitions)
        for u in udfs:
            df = df.filter(u("id"))
        began = time.perf_counter()
        df.agg(F.count("*")).collect()
        return time.perf_counter() - began

    try:
        for key, value in overrides.items():
            spark.conf.set(key, value)
        run(False), run(True)  # untimed: workers forked, code generated
        walls: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(repeats):
            for split in (False, True):
                walls[split].append(run(split))
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
    one, split = statistics.median(walls[False]), statistics.median(walls[True])
    return {
        "node_cost": max(split - one, 0.0) / (NODES - 1),
        "one_node_s": one,
        "split_s": split,
        "rows": float(rows),
        "measured_at": time.time(),
    }


def node_cost(spark: Any, refresh: bool = False) -> float:
    """The node cost for this session: stored, else measured now and stored."""
    key = probe_key(spark)
    if not refresh and key in _MEASURED:
        return _MEASURED[key]
    path = _cache_file()
    stored: dict[str, Any] = {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}  # none yet, or unreadable: measure again
    entry = stored.get(key) if isinstance(stored, dict) and not refresh else None
    if not isinstance(entry, dict) or not isinstance(entry.get("node_cost"), int | float):
        entry = measure(spark)
        stored = stored if isinstance(stored, dict) else {}
        stored[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        tmp.replace(path)
    _MEASURED[key] = float(entry["node_cost"])
    return _MEASURED[key]


def apply(spark: Any, refresh: bool = False) -> float:
    """Put the (stored or measured) node cost into ``spark``'s conf; returns it."""
    value = node_cost(spark, refresh)
    spark.conf.set(costs.MEASURED_NODE_COST_KEY, repr(value))
    return value
