"""Our Spark UDF rules, measured: the paper's example and the cost x selectivity sweep.

One local Spark session (``local[2]``) with our rules loaded; each query runs with the rules
off, on, and as the paper's reorder-only control (split off, paper rule on), switched at
runtime, alternating, ``--repeats`` times each. Session start-up, data generation and the
reference are outside every timed query. Per point it prints:

* UDF calls with the rules off and on, and whether, with the rules on, each UDF was called
  exactly once per row reaching its eval node (the rows that passed every UDF of the nodes
  below; the target: on every point), and the grouping into nodes the rules chose;
* achieved speedup (median wall off / on) and the ideal speedup: rules-off wall over the
  wall of the cheapest order priced with in-situ per-row costs (each UDF's own query over all
  rows minus the same query without it, so a UDF's cost includes what Spark pays to call it
  in its own eval node) and the exact pass counts of every subset of filters. Target:
  achieved >= 0.9 x ideal where ideal >= 2. Also printed: ``free``, the report's UDF-body
  model (rules-off wall minus the UDF time the cheapest order saves, over 2 workers);
* the planner's prediction: the walls its cost model gives Spark's plan and its own (the
  fixed part measured, node and call costs from the probe, the UDFs' profiled costs), the
  predicted speedup next to the achieved one, and whether the JVM chose the plan the Python
  mirror of the planner chose.

The sweep runs the workload's own UDF chain (``workloads._udf.spark.apply_chain``)
over ``spark.range(N)``: the spin UDFs read only the row id, and ``N`` is sized so that the
rules-off query takes about ``--target-seconds``. Rules on orders by measured annotations
(per-call cost profiled in Python on a sample; selectivity from the exact pass counts).

``--scale medium`` sizes every query 10 times larger (the paper example reads the ``medium``
histories) and runs a reduced grid (``MEDIUM_GRID``).

    python -m benchmarks.udf_sweep [--quick] [--scale small|medium] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets, registry
from harness.engines.spark_engine import SparkEngine, SparkOptions, local_uri
from harness.rules import RulesMode
from harness.spark_rules import (
    BARRIER_ENABLED_KEY,
    PAPER_ENABLED_KEY,
    RULES_ENABLED_KEY,
    SPLIT_ENABLED_KEY,
    costs,
    planner,
    probe,
)
from workloads import udf_filter as uf
from workloads._udf import spark as udf_spark
from workloads._udf import udfs, vectorised
from workloads._udf.spark import plan_groups
from workloads.udf_filter import impl_spark

CORES = 2
MODES = ("off", "on", "paper")
GRID: dict[str, list[Any]] = {
    "cost_ratio": [1, 3, 10, 30, 100],
    "selectivity": [0.01, 0.1, 0.5, 0.9],
    "filters": [2, 3, 4],
    "order": ["expensive_first", "cheap_first"],
}
MEDIUM_GRID: dict[str, list[Any]] = {
    "cost_ratio": [10, 100],
    "selectivity": [0.01, 0.9],
    "filters": [2, 4],
    "order": ["expensive_first"],
}
#: Rows of a sweep query relative to ``small`` (target seconds and row cap).
SCALE_FACTOR = {"small": 1, "medium": 10}
#: Achieved speedups below this count as "slower than rules off" (the target: none).
SLOWER = 0.97
QUICK_GRID: dict[str, list[Any]] = {
    "cost_ratio": [1, 30],
    "selectivity": [0.01, 0.5],
    "filters": [2, 4],
    "order": ["expensive_first"],
}


def set_mode(spark: Any, mode: str) -> None:
    """Rules off, on (split + barrier), or the paper control (only the paper's reorder)."""
    spark.conf.set(RULES_ENABLED_KEY, "false" if mode == "off" else "true")
    spark.conf.set(SPLIT_ENABLED_KEY, "true" if mode == "on" else "false")
    spark.conf.set(BARRIER_ENABLED_KEY, "true" if mode == "on" else "false")
    spark.conf.set(PAPER_ENABLED_KEY, "true" if mode == "paper" else "false")


def exact_counts(specs: list[dict[str, Any]], n: int) -> tuple[list[int], dict[str, int]]:
    """Ids passing every filter and the rows passing each subset (numpy twins, exact)."""
    ids = np.arange(n, dtype=np.int64)
    empty = np.zeros((n, 0), dtype=np.int64)
    masks = {s["name"]: vectorised.passes(s, vectorised.values(s, ids, empty)) for s in specs}
    passing = {}
    names = [s["name"] for s in specs]
    for size in range(len(names) + 1):
        for subset in itertools.combinations(names, size):
            keep = np.ones(n, dtype=bool)
            for name in subset:
                keep &= masks[name]
            passing[",".join(sorted(subset))] = int(keep.sum())
    everything = np.ones(n, dtype=bool)
    for mask in masks.values():
        everything &= mask
    return ids[everything].tolist(), passing


def unit_cost_s(samples: int = 2000) -> float:
    """Seconds per spin unit per row in plain Python (a 1-unit spin, best of 3)."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for i in range(samples):
            udfs.spin(i, 7919, 1)
        best = min(best, (time.perf_counter() - began) / samples)
    return best


def run_query(spark: Any, build: Any, mode: str) -> dict[str, Any]:
    """One timed query in ``mode``: wall, ids, calls, seconds inside UDFs, executed plan."""
    set_mode(spark, mode)
    df, calls, seconds = build()
    began = time.perf_counter()
    ids = sorted(row[0] for row in df.collect())
    wall = time.perf_counter() - began
    return {
        "wall": wall,
        "ids": ids,
        "calls": {k: a.value for k, a in calls.items()},
        "seconds": {k: a.value for k, a in seconds.items()},
        "plan": udf_spark.executed_plan(df),
    }


def calibrate(spark: Any, base: Any, specs: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """In-situ per-row cost of each UDF as Spark runs it: the wall of a query filtering with
    that UDF alone (one eval node, every row) minus the wall of the same query without it,
    per row. Both end in a count, so neither pays for collecting rows; one untimed round first."""
    from pyspark.sql import functions as F

    set_mode(spark, "off")
    rows = base.count()

    def timed(df: Any) -> float:
        df.agg(F.count("*")).collect()  # untimed: code generation, worker start
        walls = []
        for _ in range(repeats):
            began = time.perf_counter()
            df.agg(F.count("*")).collect()
            walls.append(time.perf_counter() - began)
        return statistics.median(walls)

    # The fixed part must read every column the UDFs read: a count alone would prune them.
    t0 = timed(base.select(F.hash(*base.columns).alias("h")))
    per_row = {}
    for spec in specs:
        df, _, _ = udf_spark.apply_chain(spark, base, [spec])
        per_row[spec["name"]] = max(timed(df) - t0, 0.0) / rows
    return {"t0": t0, "per_row": per_row, "rows": rows}


def measure(spark: Any, build: Any, repeats: int, modes: tuple[str, ...]) -> dict[str, list[Any]]:
    """Each mode ``repeats`` times, interleaved (off, on, paper, off, ...), after one untimed
    round: the first query of a plan shape pays for code generation and for forking the
    extra Python workers that each additional eval node needs."""
    for mode in modes:
        run_query(spark, build, mode)
    runs: dict[str, list[Any]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            runs[mode].append(run_query(spark, build, mode))
    return runs


def model_plans(spark: Any, specs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """What the planner's model says, from the session's conf (as the rules read it): the
    plan it picks, its cost and the cost of Spark's single node, in seconds beyond the
    query's fixed part."""
    conf = {k: v for k, v in spark.conf.getAll.items() if k.startswith(costs.PREFIX)}
    steps = [costs.step(s["name"], conf) for s in specs]
    per_worker, f = rows / CORES, costs.node_cost(conf)
    best = planner.best_plan(steps, per_worker, f)
    single = planner.plan_cost([[s.name for s in steps]], steps, per_worker, f)
    chosen = best if len(best.groups) > 1 and best.cost < single else None
    return {
        "groups": [list(g) for g in chosen.groups] if chosen else [[s["name"] for s in specs]],
        "cost_on": chosen.cost if chosen else single,
        "cost_off": single,
        "node_cost": f,
        "call_cost": costs.call_cost(conf),
    }


def exact_per_node(calls: dict[str, int], groups: list[list[str]], passing: dict[str, int]
                   ) -> bool:  # fmt: skip
    """Each UDF called exactly once per row reaching its node (passing every node below);
    the workload's check, which leaves a single node unchecked: there, once per input row."""
    exact = uf.survivor_calls_exact({"grouping": groups, "calls": calls}, passing)
    return all(c == passing[""] for c in calls.values()) if exact is None else exact


def summarise(specs: list[dict[str, Any]], runs: dict[str, list[Any]], expected_ids: list[int],
              passing: dict[str, int], calib: dict[str, Any], model: dict[str, Any]
              ) -> dict[str, Any]:  # fmt: skip
    """Calls, exactness, achieved and ideal speedups of one point.

    ``ideal`` prices every order with the in-situ per-row costs (``calibrate``): the fixed
    part of the query plus, per UDF, its cost times the rows that reach it; the cheapest order
    (brute force, exact pass counts) gives the ideal wall. ``ideal_free`` is the report's
    definition: the off wall minus the UDF-body time the cheapest order would save.
    """
    off, on = runs["off"], runs["on"]
    wall_off = statistics.median(r["wall"] for r in off)
    wall_on = statistics.median(r["wall"] for r in on)
    calls_off, calls_on = off[0]["calls"], on[0]["calls"]
    _, insitu_calls = uf.optimal_calls(specs, passing, calib["per_row"])
    ideal_wall = calib["t0"] + sum(insitu_calls[n] * calib["per_row"][n] for n in insitu_calls)
    work_off = statistics.median(sum(r["seconds"].values()) for r in off)
    per_call = {
        n: statistics.median(r["seconds"][n] for r in off) / max(calls_off[n], 1) for n in calls_off
    }
    _, body_calls = uf.optimal_calls(specs, passing, per_call)
    optimal_work = sum(body_calls[n] * per_call[n] for n in body_calls)
    free_wall = wall_off - max(work_off - optimal_work, 0.0) / CORES
    names = [s["name"] for s in specs]
    groups_on = plan_groups(on[0]["plan"], names)
    exact = all(exact_per_node(r["calls"], plan_groups(r["plan"], names), passing) for r in on)
    predicted_off = calib["t0"] + model["cost_off"]
    predicted_on = calib["t0"] + model["cost_on"]
    same_rows = all(r["ids"] == expected_ids for mode in runs for r in runs[mode])
    ideal = wall_off / ideal_wall if ideal_wall > 0 else None
    out: dict[str, Any] = {
        "wall_off": wall_off,
        "wall_on": wall_on,
        "achieved": wall_off / wall_on,
        "ideal": ideal,
        "efficiency": (wall_off / wall_on) / ideal if ideal else None,
        "ideal_free": wall_off / free_wall if free_wall > 0 else None,
        "calibration": calib,
        "calls_off": calls_off,
        "calls_on": calls_on,
        "optimal_calls": insitu_calls,
        "on_calls_are_survivors": exact,
        "same_rows": same_rows,
        "groups_on": groups_on,
        "model": model,
        "model_plan_is_jvm_plan": [sorted(g) for g in groups_on]
        == [sorted(g) for g in model["groups"]],
        "predicted_off": predicted_off,
        "predicted_on": predicted_on,
        "predicted": predicted_off / predicted_on,
    }
    if "paper" in runs:
        out["wall_paper"] = statistics.median(r["wall"] for r in runs["paper"])
        out["calls_paper"] = runs["paper"][0]["calls"]
    return out


def paper_example(spark: Any, data: datasets.Dataset, repeats: int) -> dict[str, Any]:
    """The paper's SQL workflow on the sweep scale's histories, with registered UDFs; the
    planner knows the input's row count (as from a profile) and the names' costs."""
    params = dict(uf.DEFAULT_PARAMS)
    specs = uf.filter_specs(params)
    expected = datasets.reference_answer(registry.get_workload("udf_filter"), data, params)
    rows_conf = costs.measured_conf({s["name"]: {"rows": expected["rows"]} for s in specs})
    for key, value in rows_conf.items():
        spark.conf.set(key, value)
    uris = [local_uri(p) for p in data.inputs]

    def build() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        sc = spark.sparkContext
        calls = {s["name"]: sc.accumulator(0) for s in specs}
        seconds = {s["name"]: sc.accumulator(0.0) for s in specs}
        for spec in specs:
            func, _ = udf_spark.filter_udf(spec, calls[spec["name"]], seconds[spec["name"]])
            spark.udf.register(spec["name"], func)
        spark.read.csv(uris, schema="id LONG, history STRING").createOrReplaceTempView("h")
        df = (
            spark.table("h")
            .filter(f"udfA_99(history, {params['p']}) > 0.7")
            .filter(f"udfB_10(history, {params['q']}) > 0")
            .select("id")
        )
        return df, calls, seconds

    runs = measure(spark, build, repeats, MODES)
    calib = calibrate(spark, spark.read.csv(uris, schema="id LONG, history STRING"), specs, repeats)
    model = model_plans(spark, specs, expected["rows"])
    result = summarise(specs, runs, expected["ids"], expected["passing"], calib, model)
    for key in rows_conf:
        spark.conf.unset(key)
    plan = runs["on"][0]["plan"]
    # executedPlan prints top-down: the node evaluating udfB_10 sits below (after) udfA_99's.
    result["on_evaluates_udfB_first"] = plan.index("udfA_99") < plan.index("udfB_10")
    result["plan_on"] = plan
    result["plan_off"] = runs["off"][0]["plan"]
    result["rows"] = expected["rows"]
    return result


def sweep(spark: Any, grid: dict[str, list[Any]], repeats: int, target_s: float,
          unit_s: float, out: list[dict[str, Any]], factor: int = 1) -> None:  # fmt: skip
    """Every grid point, printed as it is measured."""
    header = (f"{'ratio':>5} {'sel':>5} {'n':>2} {'order':<15} {'rows':>7} {'off':>7} {'on':>7} "
              f"{'achieved':>8} {'ideal':>6} {'eff':>5} {'pred':>6} {'free':>6} exact rows "
              "nodes  expensive calls off->on")  # fmt: skip
    print(header, flush=True)
    for ratio, sel, n, order in itertools.product(*(grid[k] for k in GRID)):
        params = {**uf.DEFAULT_PARAMS, "scenario": "sweep", "cost_ratio": ratio,
                  "selectivity": sel, "filters": n, "order": order}  # fmt: skip
        specs = uf.filter_specs(params)
        units = sum(int(s["units"]) for s in specs)
        per_row = units * unit_s + n * 1.5e-6  # plus a UDF call's own overhead
        rows = int(min(400_000 * factor, max(5_000, target_s * factor * CORES / per_row)))
        expected_ids, passing = exact_counts(specs, rows)
        profile = {
            s["name"]: {"cost": int(s["units"]) * unit_s,
                        "selectivity": passing[s["name"]] / rows}
            for s in specs
        }  # fmt: skip
        for key, value in costs.measured_conf(profile).items():
            spark.conf.set(key, value)

        def build(specs: list[dict[str, Any]] = specs, rows: int = rows) -> Any:
            base = spark.range(0, rows, 1, CORES)
            return udf_spark.apply_chain(spark, base, specs)

        # The paper control calls every UDF on every row like off (shown on the paper example).
        runs = measure(spark, lambda b=build: _select_id(b()), repeats, ("off", "on"))
        calib = calibrate(spark, spark.range(0, rows, 1, CORES), specs, repeats)
        model = model_plans(spark, specs, rows)
        point = {"params": params, "rows": rows,
                 **summarise(specs, runs, expected_ids, passing, calib, model)}  # fmt: skip
        out.append(point)
        expensive = max(specs, key=lambda s: int(s["units"]))["name"]
        eff = point["efficiency"]
        print(
            f"{ratio:>5} {sel:>5} {n:>2} {order:<15} {rows:>7} {point['wall_off']:>7.2f} "
            f"{point['wall_on']:>7.2f} {point['achieved']:>7.2f}x "
            f"{point['ideal'] or 0:>5.2f}x {eff if eff is not None else 0:>5.2f} "
            f"{point['predicted']:>5.2f}x {point['ideal_free'] or 0:>5.2f}x "
            f"{'yes' if point['on_calls_are_survivors'] else 'NO':>5} "
            f"{'yes' if point['same_rows'] else 'NO':>4} "
            f"{_nodes(point['groups_on'])}{'' if point['model_plan_is_jvm_plan'] else '!'}  "
            f"{point['calls_off'][expensive]}->{point['calls_on'][expensive]}",
            flush=True,
        )
        for key in costs.measured_conf(profile):
            spark.conf.unset(key)


def _nodes(groups: list[list[str]]) -> str:
    """Eval nodes bottom-up as UDF indices: ``0|21`` is spin0 alone, then spin2 with spin1."""
    return "|".join("".join(n.removeprefix("spin") for n in g) for g in groups)


def _select_id(built: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    df, calls, seconds = built
    return df.select("id"), calls, seconds


def verdict(points: list[dict[str, Any]]) -> None:
    """The targets over the whole sweep, and its best and worst points."""
    exact = sum(p["on_calls_are_survivors"] for p in points)
    rows = sum(p["same_rows"] for p in points)
    agree = sum(p["model_plan_is_jvm_plan"] for p in points)
    print(f"\nrules on: every UDF called once per row reaching its node on {exact}/{len(points)} "
          f"points; identical rows in every mode on {rows}/{len(points)}; the JVM chose the "
          f"Python planner's plan on {agree}/{len(points)}")  # fmt: skip
    slow = [p for p in points if p["achieved"] < SLOWER]
    low = min(points, key=lambda p: p["achieved"])
    print(f"slower than rules off by more than {1 - SLOWER:.0%}: {len(slow)} points; lowest "
          f"achieved {low['achieved']:.3f}x ({_where(low)})")  # fmt: skip
    errors = sorted(p["achieved"] / p["predicted"] for p in points)
    print(f"achieved / predicted speedup: min {errors[0]:.2f}, median "
          f"{statistics.median(errors):.2f}, max {errors[-1]:.2f}")  # fmt: skip
    big = [p for p in points if p["ideal"] and p["ideal"] >= 2]
    if big:
        effs = sorted(p["efficiency"] for p in big)
        good = sum(e >= 0.9 for e in effs)
        mid = statistics.median(effs)
        print(f"ideal >= 2x on {len(big)} points: achieved >= 0.9 x ideal on {good}; "
              f"achieved/ideal min {effs[0]:.2f}, median {mid:.2f}")  # fmt: skip
    split = [p for p in points if len(p["groups_on"]) > 1]
    print(f"plans: {len(split)} of {len(points)} points split, "
          f"{sum(any(len(g) > 1 for g in p['groups_on']) for p in split)} of them with a node "
          "shared by several UDFs")  # fmt: skip
    best = max(points, key=lambda p: p["achieved"])
    worst = min(points, key=lambda p: p["achieved"])
    for name, p in (("best", best), ("worst", worst)):
        q = p["params"]
        print(f"{name}: ratio {q['cost_ratio']} sel {q['selectivity']} filters {q['filters']} "
              f"{q['order']}: off {p['wall_off']:.2f} s, on {p['wall_on']:.2f} s, "
              f"achieved {p['achieved']:.2f}x, ideal {p['ideal'] or 0:.2f}x "
              f"(UDF-body model {p['ideal_free'] or 0:.2f}x), "
              f"calls off {p['calls_off']} on {p['calls_on']}")  # fmt: skip


def _where(p: dict[str, Any]) -> str:
    q = p["params"]
    return f"ratio {q['cost_ratio']} sel {q['selectivity']} filters {q['filters']} {q['order']}"


def main() -> None:
    """Start one session, run the paper example and the sweep, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 8-point grid, 1 repeat")
    parser.add_argument("--scale", choices=sorted(SCALE_FACTOR), default="small",
                        help="query sizes; medium runs the reduced grid")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target-seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path(".bdbench/udf_sweep.json"))
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    grid = QUICK_GRID if args.quick else MEDIUM_GRID if args.scale == "medium" else GRID
    factor = SCALE_FACTOR[args.scale]
    started = time.perf_counter()

    data = datasets.generated(registry.get_workload("udf_filter"), args.scale)
    engine = SparkEngine(SparkOptions(master=f"local[{CORES}]", driver_memory="2g"))
    scratch = Path(tempfile.mkdtemp(prefix="bdbench-udf-sweep-"))
    results: dict[str, Any] = {"repeats": repeats, "cores": CORES, "scale": args.scale}
    try:
        engine.start("df", True, data, scratch)
        spark = engine.spark
        assert spark is not None
        params = dict(uf.DEFAULT_PARAMS)
        impl_spark.prewarm(
            registry.RunContext(engine, "df", data, params, scratch, rules=RulesMode.ON)
        )
        unit_s = unit_cost_s()
        results["unit_cost_s"] = unit_s
        print(f"spin unit: {unit_s * 1e6:.2f} us per row in Python", flush=True)
        # The sweep's queries run CORES tasks on CORES workers: the probe's do the same.
        spark.conf.set(costs.PARALLELISM_KEY, str(CORES))
        found = probe.apply(spark, refresh=True, partitions=CORES)
        results["probe"] = found
        print(f"probe: node cost F {found['node_cost'] * 1e3:.1f} ms per query, call cost "
              f"{found['call_cost'] * 1e6:.2f} us per row per UDF (one node "
              f"{found['one_node_s']:.3f} s, {probe.NODES} nodes {found['split_s']:.3f} s, "
              f"no UDF {found['no_udf_s']:.3f} s)", flush=True)  # fmt: skip

        paper = paper_example(spark, data, repeats)
        results["paper"] = paper
        print(f"\npaper example ({paper['rows']} rows, {args.scale}): "
              f"off {paper['wall_off']:.2f} s, on {paper['wall_on']:.2f} s, "
              f"paper control {paper['wall_paper']:.2f} s; achieved {paper['achieved']:.2f}x, "
              f"ideal {paper['ideal'] or 0:.2f}x, predicted {paper['predicted']:.2f}x "
              f"(UDF-body model {paper['ideal_free'] or 0:.2f}x); nodes "
              f"{paper['groups_on']}")  # fmt: skip
        print(f"  calls off {paper['calls_off']}, on {paper['calls_on']}, "
              f"paper control {paper['calls_paper']}; on = survivors: "
              f"{paper['on_calls_are_survivors']}; udfB_10 first: "
              f"{paper['on_evaluates_udfB_first']}; same rows: {paper['same_rows']}\n")  # fmt: skip

        points: list[dict[str, Any]] = []
        results["sweep"] = points
        sweep(spark, grid, repeats, args.target_seconds, unit_s, points, factor)
        verdict(points)
        results["wall_s"] = time.perf_counter() - started
        print(f"sweep wall time: {results['wall_s'] / 60:.1f} min")
    finally:
        engine.stop()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str))
        print(f"\nsaved: {args.out}")


if __name__ == "__main__":
    main()
