"""The constrained-UDF barrier on a real Spark session: a constrained map UDF runs once per row."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd  # module level: pandas_udf resolves the string type hints here
import pytest

from harness.spark_rules import BARRIER_ENABLED_KEY, RULES_ENABLED_KEY, costs

N = 3_000  # rows; x is NULL on every 50th row
ARROW = "spark.sql.execution.pythonUDF.arrow.enabled"
KINDS = ["arrow", "batch", "pandas"]
NODE = {"arrow": "ArrowEvalPython", "batch": "BatchEvalPython", "pandas": "ArrowEvalPython"}


@pytest.fixture
def spark(spark_engine: Any) -> Any:
    """The shared session, when it was started with our rules loaded."""
    session = spark_engine.spark
    if "bdbench" not in session.conf.get("spark.sql.extensions", ""):
        pytest.skip("the rules jar could not be built here (no javac?)")
    return session


@contextmanager
def settings(spark: Any, on: bool, kind: str, conf: Mapping[str, str]) -> Iterator[None]:
    """Rules on/off, Arrow on/off and extra conf entries for the duration of a block."""
    entries = {RULES_ENABLED_KEY: str(on).lower(), ARROW: str(kind != "batch").lower(), **conf}
    for key, value in entries.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key in entries:
            spark.conf.unset(key)
        spark.conf.set(RULES_ENABLED_KEY, "false")  # the shared session's resting state


def _chain(spark: Any, kind: str) -> tuple[Any, dict[str, Any]]:
    """``withColumn("a", f(x)).withColumn("b", g(a))`` with call counters (rows seen)."""
    from pyspark.sql.functions import pandas_udf, udf

    sc = spark.sparkContext
    calls = {"f": sc.accumulator(0), "g": sc.accumulator(0)}
    fc, gc = calls["f"], calls["g"]
    if kind == "pandas":

        @pandas_udf("double")
        def f(x: pd.Series) -> pd.Series:
            fc.add(len(x))
            return x * 2 + 1

        @pandas_udf("double")
        def g(a: pd.Series) -> pd.Series:
            gc.add(len(a))
            return a.fillna(-1.0) + 0.5

    else:

        @udf("double")
        def f(x: float | None) -> float | None:
            fc.add(1)
            return None if x is None else x * 2 + 1

        @udf("double")
        def g(a: float | None) -> float:
            gc.add(1)
            return -1.0 if a is None else a + 0.5

    x = "IF(id % 50 = 7, NULL, CAST(id % 100 AS DOUBLE) / 100)"
    df = spark.range(N).selectExpr("id", f"{x} AS x")
    return df.withColumn("a", f("x")).withColumn("b", g("a")), calls


def _executed(df: Any) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


def _run(
    spark: Any, on: bool, kind: str = "arrow", conf: Mapping[str, str] | None = None
) -> tuple[list[Any], dict[str, int], str]:
    """Rows, UDF calls and executed plan of the chain (UDFs made inside the block)."""
    with settings(spark, on, kind, conf or {}):
        df, calls = _chain(spark, kind)
        rows = sorted(df.collect(), key=lambda r: r["id"])
        plan = _executed(df)
    return rows, {k: v.value for k, v in calls.items()}, plan


CONSTRAINED_F = {costs.conf_key("constrained", "f"): "true"}


@pytest.mark.parametrize("kind", KINDS)
def test_constrained_udf_runs_once_per_row(spark: Any, kind: str) -> None:
    off_rows, off_calls, off_plan = _run(spark, False, kind, CONSTRAINED_F)
    on_rows, on_calls, on_plan = _run(spark, True, kind, CONSTRAINED_F)
    assert off_calls == {"f": 2 * N, "g": N}  # plain Spark: f alone and again inside g(f(x))
    assert on_calls == {"f": N, "g": N}
    assert on_rows == off_rows and len(on_rows) == N
    assert any(r["x"] is None for r in on_rows)  # the null input row went through both UDFs
    node = NODE[kind]
    assert off_plan.count(node) == 1 and on_plan.count(node) == 2
    # the upper node feeds f's materialised result to g instead of calling f again
    assert re.search(r"g\(pythonUDF\d+#\d+\)", on_plan)
    assert not re.search(r"g\(f\(", on_plan)


def test_unconstrained_chain_is_untouched(spark: Any) -> None:
    _, off_calls, off_plan = _run(spark, False)
    on_rows, on_calls, on_plan = _run(spark, True)
    assert on_calls == off_calls == {"f": 2 * N, "g": N}
    assert re.sub(r"#\d+", "#", on_plan) == re.sub(r"#\d+", "#", off_plan)
    assert len(on_rows) == N


def test_barrier_switch_turns_it_off(spark: Any) -> None:
    _, calls, plan = _run(spark, True, conf={**CONSTRAINED_F, BARRIER_ENABLED_KEY: "false"})
    assert calls == {"f": 2 * N, "g": N}
    assert plan.count("ArrowEvalPython") == 1


def test_declared_constraint_and_conf_override(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``@costed(constrained=True)`` reaches the JVM; a conf ``false`` beats it."""
    monkeypatch.setattr(costs, "_DECLARED", {})  # keep the module's registry as it was
    monkeypatch.setattr(costs, "_DECLARED_CONSTRAINED", set())

    @costs.costed(cost=5, constrained=True)
    def f(x: float) -> float:
        return x

    # f's declared cost (5 us over 1500 rows per worker) is below the default node cost:
    # a free node makes the barrier pay, so it acts on the declaration
    declared = {**costs.declared_conf(), costs.NODE_COST_KEY: "0"}
    assert declared[costs.conf_key("constrained", "f", "declared")] == "true"
    _, calls, _ = _run(spark, True, conf=declared)
    assert calls["f"] == N
    overridden = {**declared, costs.conf_key("constrained", "f"): "false"}
    _, calls, _ = _run(spark, True, conf=overridden)
    assert calls["f"] == 2 * N


def test_a_filter_on_the_chain_keeps_the_constraint(spark: Any) -> None:
    """A filter over both columns is not split apart from the chain: the constraint wins."""

    def run(on: bool, conf: Mapping[str, str] = CONSTRAINED_F) -> tuple[list[Any], dict[str, int]]:
        with settings(spark, on, "arrow", conf):
            df, calls = _chain(spark, "arrow")
            rows = sorted(df.filter("a > 1.5 AND b > 2.5").collect(), key=lambda r: r["id"])
        return rows, {k: v.value for k, v in calls.items()}

    off_rows, off_calls = run(False)
    on_rows, on_calls = run(True)
    s = len(on_rows)
    assert on_rows == off_rows and 0 < s < N
    # Spark pushes the filter below the projection and computes the projection again above it,
    # on the s surviving rows: two eval nodes, each now calling f once per row it sees.
    assert off_calls == {"f": 2 * N + 2 * s, "g": N + s}
    assert on_calls == {"f": N + s, "g": N + s}
    # without the barrier the filter split acts: f(x) > 1.5 first, so g(f(x)) runs only on its
    # s1 survivors, where f runs again; above, f runs twice on the s final rows
    s1 = sum(1 for i in range(N) if i % 50 != 7 and (i % 100) / 100 * 2 + 1 > 1.5)
    free_nodes = {costs.NODE_COST_KEY: "0", costs.CALL_COST_KEY: "0"}  # the split's mechanics
    split_rows, split_calls = run(
        True, {**CONSTRAINED_F, BARRIER_ENABLED_KEY: "false", **free_nodes}
    )
    assert split_rows == off_rows
    assert split_calls == {"f": N + s1 + 2 * s, "g": s1 + s}


@pytest.mark.parametrize(
    ("cost_units", "node_cost", "barrier"),
    [
        ("1", "0.05", False),  # f's second call: 1500 rows per worker x 2 us = 3 ms < 50 ms
        ("1000", "0.05", True),  # 1500 x 1.001 ms = 1.5 s > 50 ms
        ("1", "0", True),  # a free node always pays
    ],
)
def test_barrier_only_when_the_repeated_call_costs_more_than_a_node(
    spark: Any, cost_units: str, node_cost: str, barrier: bool
) -> None:
    """With a cost annotation the barrier weighs f's repeated calls against the node it adds
    (the planner's node cost); without one it always acts (tested above)."""
    conf = {
        **CONSTRAINED_F,
        costs.conf_key("cost", "f"): cost_units,
        costs.NODE_COST_KEY: node_cost,
        costs.PARALLELISM_KEY: "2",
    }
    rows, calls, plan = _run(spark, True, conf=conf)
    assert calls == {"f": N if barrier else 2 * N, "g": N}
    assert plan.count("ArrowEvalPython") == (2 if barrier else 1)
    assert len(rows) == N
