"""Our Catalyst rules on a real Spark session: plan shape, exact UDF call counts, same rows."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd  # module level: pandas_udf resolves the string type hints here
import pytest

from harness.spark_rules import (
    PAPER_ENABLED_KEY,
    RULES_ENABLED_KEY,
    SPLIT_ENABLED_KEY,
    costs,
    planner,
)
from workloads._udf.spark import plan_groups

N = 4_000  # rows; x = (id % 100) / 100, so "x < 0.1" keeps 10%


@pytest.fixture
def spark(spark_engine: Any) -> Any:
    """The shared session, when it was started with our rules loaded."""
    session = spark_engine.spark
    if "bdbench" not in session.conf.get("spark.sql.extensions", ""):
        pytest.skip("the rules jar could not be built here (no javac?)")
    return session


@contextmanager
def rules(
    spark: Any, on: bool, arrow: bool = True, conf: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Rules on/off, Arrow UDF evaluation on/off and extra conf entries for a block. Unless
    ``conf`` says otherwise, eval nodes and UDF calls cost nothing fixed, so the planner gives
    every selective UDF its own node (the split's mechanics, tested here)."""
    conf = {costs.NODE_COST_KEY: "0", costs.CALL_COST_KEY: "0", **(conf or {})}
    spark.conf.set(RULES_ENABLED_KEY, "true" if on else "false")
    spark.conf.set("spark.sql.execution.pythonUDF.arrow.enabled", "true" if arrow else "false")
    for key, value in (conf or {}).items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        spark.conf.set(RULES_ENABLED_KEY, "false")
        spark.conf.unset("spark.sql.execution.pythonUDF.arrow.enabled")
        for key in conf or {}:
            spark.conf.unset(key)


def _udfs(spark: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """udfA_99 (expensive, passes ~30%), udfB_10 (cheap, passes 10%), udfC_5 (passes 50%)."""
    from pyspark.sql.functions import udf

    sc = spark.sparkContext
    calls = {name: sc.accumulator(0) for name in ("udfA_99", "udfB_10", "udfC_5")}
    a, b, c = calls["udfA_99"], calls["udfB_10"], calls["udfC_5"]

    @udf("double")
    def udfA_99(x: float | None, p: float) -> float | None:
        a.add(1)
        return None if x is None else ((x * 7919 * 100) % 100) / 100 + p * 0

    @udf("double")
    def udfB_10(x: float | None, q: float) -> float:
        b.add(1)
        return 1.0 if x is not None and x < 0.1 * q else -1.0

    @udf("double")
    def udfC_5(x: float | None) -> float:
        c.add(1)
        return 1.0 if x is not None and round(x * 100) % 2 == 0 else -1.0

    return {"udfA_99": udfA_99, "udfB_10": udfB_10, "udfC_5": udfC_5}, calls


def _pandas_udfs(spark: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """pandas_udf twins of udfA_99 and udfB_10; the counters add the rows each batch holds."""
    from pyspark.sql.functions import pandas_udf

    sc = spark.sparkContext
    calls = {name: sc.accumulator(0) for name in ("pudfA_99", "pudfB_10")}
    a, b = calls["pudfA_99"], calls["pudfB_10"]

    @pandas_udf("double")
    def pudfA_99(x: pd.Series, p: pd.Series) -> pd.Series:
        a.add(len(x))
        return ((x * 7919 * 100) % 100) / 100 + p * 0

    @pandas_udf("double")
    def pudfB_10(x: pd.Series, q: pd.Series) -> pd.Series:
        b.add(len(x))
        return (x < 0.1 * q).astype("float64") * 2 - 1

    return {"pudfA_99": pudfA_99, "pudfB_10": pudfB_10}, calls


def _data(spark: Any, nulls: bool = False, n: int = N) -> Any:
    x = "CAST(id % 100 AS DOUBLE) / 100"
    x = f"IF(id % 50 = 7, NULL, {x})" if nulls else x
    return spark.range(n).selectExpr("id", f"{x} AS x", "DOUBLE(0.5) AS p", "DOUBLE(1.0) AS q")


def _executed(df: Any) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


def _run(
    spark: Any,
    on: bool,
    build: Any,
    arrow: bool = True,
    conf: Mapping[str, str] | None = None,
    make: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]] = _udfs,
) -> tuple[list[Any], dict[str, int], str]:
    with rules(spark, on, arrow, conf):
        udfs, calls = make(spark)  # a UDF's eval type (Arrow or not) is fixed when it is made
        df = build(_data(spark), udfs)
        rows = sorted(df.collect())
        plan = _executed(df)
    return rows, {k: v.value for k, v in calls.items()}, plan


def a_then_b(df: Any, u: dict[str, Any]) -> Any:
    """The paper's workflow as written: expensive filter first."""
    return df.filter(u["udfA_99"]("x", "p") > 0.7).filter(u["udfB_10"]("x", "q") > 0)


def b_then_a(df: Any, u: dict[str, Any]) -> Any:
    """The same filters in the other written order."""
    return df.filter(u["udfB_10"]("x", "q") > 0).filter(u["udfA_99"]("x", "p") > 0.7)


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "batch"])
@pytest.mark.parametrize("query", [a_then_b, b_then_a])
def test_expensive_udf_sees_only_survivors(spark: Any, query: Any, arrow: bool) -> None:
    off_rows, off_calls, off_plan = _run(spark, False, query, arrow)
    on_rows, on_calls, on_plan = _run(spark, True, query, arrow)
    survivors_of_b = N // 10
    assert off_calls["udfA_99"] == N and off_calls["udfB_10"] == N
    assert on_calls["udfB_10"] == N
    assert on_calls["udfA_99"] == survivors_of_b  # exactly the rows that passed udfB_10
    assert on_rows == off_rows and len(on_rows) > 0
    node = "ArrowEvalPython" if arrow else "BatchEvalPython"
    assert off_plan.count(node) == 1  # plain Spark: both UDFs in one eval node
    assert on_plan.count(node) == 2
    # executedPlan prints top-down: udfA_99's node sits above (after) udfB_10's filter
    assert on_plan.index(f"{node} [udfA_99") < on_plan.index(f"{node} [udfB_10")


def test_the_papers_sql_example(spark: Any) -> None:
    udfs, calls = _udfs(spark)
    spark.udf.register("udfA_99", udfs["udfA_99"])
    spark.udf.register("udfB_10", udfs["udfB_10"])
    with rules(spark, True):
        df = _data(spark).filter("udfA_99(x, p) > 0.7").filter("udfB_10(x, q) > 0")
        count = df.count()
        plan = _executed(df)
    assert calls["udfB_10"].value == N and calls["udfA_99"].value == N // 10
    assert count > 0
    assert plan.index("udfA_99") < plan.index("udfB_10")


def test_three_predicates_in_rank_order_with_a_plain_column(spark: Any) -> None:
    def three(df: Any, u: dict[str, Any]) -> Any:
        return (
            df.filter(u["udfA_99"]("x", "p") > 0.7)
            .filter(u["udfC_5"]("x") > 0)
            .filter("id % 2 = 0")
            .filter(u["udfB_10"]("x", "q") > 0)
        )

    off_rows, off_calls, _ = _run(spark, False, three)
    on_rows, on_calls, _ = _run(spark, True, three)
    assert on_rows == off_rows
    # the plain column goes first (half the rows), then C (cost 5), then B (10), then A (99)
    assert on_calls["udfC_5"] == N // 2
    after_c = sum(1 for i in range(N) if i % 2 == 0 and (i % 100) % 2 == 0)
    assert on_calls["udfB_10"] == after_c
    after_b = sum(1 for i in range(N) if i % 2 == 0 and (i % 100) % 2 == 0 and (i % 100) < 10)
    assert on_calls["udfA_99"] == after_b
    assert off_calls["udfA_99"] == off_calls["udfB_10"]


def test_runtime_annotations_override_the_name_suffix(spark: Any) -> None:
    spark.conf.set("spark.bdbench.udf.cost.udfB_10", "1000")  # now B is the expensive one
    try:
        _, calls, _ = _run(spark, True, a_then_b)
    finally:
        spark.conf.unset("spark.bdbench.udf.cost.udfB_10")
    assert calls["udfA_99"] == N
    assert calls["udfB_10"] < N


def test_nulls_give_identical_rows(spark: Any) -> None:
    def query(df: Any, u: dict[str, Any]) -> Any:
        return a_then_b(_data(spark, nulls=True), u)

    off_rows, _, _ = _run(spark, False, query)
    on_rows, on_calls, _ = _run(spark, True, query)
    assert on_rows == off_rows and on_calls["udfA_99"] < N


def test_a_failing_udf_still_fails_the_query(spark: Any) -> None:
    from pyspark.sql.functions import udf

    @udf("double")
    def udfA_99(x: float) -> float:
        if x == 0.05:  # a row that also passes udfB_10: the error must surface with rules on
            raise ValueError("bad row")
        return 1.0

    udfs, _ = _udfs(spark)
    for on in (False, True):
        with rules(spark, on):
            df = _data(spark).filter(udfA_99("x") > 0.7).filter(udfs["udfB_10"]("x", "q") > 0)
            with pytest.raises(Exception, match="bad row"):
                df.collect()


def test_plans_without_python_udfs_are_untouched(spark: Any) -> None:
    def plan(on: bool) -> str:
        with rules(spark, on):
            df = spark.range(1000).filter("id % 3 = 0").selectExpr("id * 2 AS y").filter("y > 10")
            return re.sub(r"#\d+", "#", _executed(df))

    assert plan(True) == plan(False)


def test_paper_control_changes_no_call_counts(spark: Any) -> None:
    """The paper's reorder, emulated in this session, is a negative control."""
    paper = {SPLIT_ENABLED_KEY: "false", PAPER_ENABLED_KEY: "true"}
    off_rows, off_calls, off_plan = _run(spark, False, a_then_b)
    on_rows, on_calls, on_plan = _run(spark, True, a_then_b, conf=paper)
    assert on_calls == off_calls == {"udfA_99": N, "udfB_10": N, "udfC_5": 0}
    assert on_rows == off_rows
    # the rule did act: the cheaper udfB_10 now comes first, but in the same single eval node
    assert on_plan.count("ArrowEvalPython") == 1
    assert off_plan.index("udfA_99") < off_plan.index("udfB_10")
    assert on_plan.index("udfB_10") < on_plan.index("udfA_99")


def test_split_switch_off_gives_plain_spark(spark: Any) -> None:
    off_rows, off_calls, off_plan = _run(spark, False, a_then_b)
    on_rows, on_calls, on_plan = _run(spark, True, a_then_b, conf={SPLIT_ENABLED_KEY: "false"})
    assert on_calls == off_calls and on_calls["udfA_99"] == N
    assert on_rows == off_rows
    # the paper rule is off unless asked for: the plan is plain Spark's
    assert re.sub(r"#\d+", "#", on_plan) == re.sub(r"#\d+", "#", off_plan)


def test_pandas_udf_predicates_are_split(spark: Any) -> None:
    def query(df: Any, u: dict[str, Any]) -> Any:
        return df.filter(u["pudfA_99"]("x", "p") > 0.7).filter(u["pudfB_10"]("x", "q") > 0)

    off_rows, off_calls, _ = _run(spark, False, query, make=_pandas_udfs)
    on_rows, on_calls, on_plan = _run(spark, True, query, make=_pandas_udfs)
    assert off_calls == {"pudfA_99": N, "pudfB_10": N}
    assert on_calls == {"pudfA_99": N // 10, "pudfB_10": N}  # rows seen, not batches
    assert on_rows == off_rows and len(on_rows) > 0
    assert on_plan.count("ArrowEvalPython") == 2


# Four predicates on id: declared (cost, selectivity) and the predicate itself. The selectivities
# are the true ones; the cheapest order is neither the written, the cost nor the selectivity order.
FOUR: dict[str, tuple[float, float, Callable[[int], bool]]] = {
    "fifth": (10.0, 1 / 5, lambda i: i % 5 == 0),
    "even": (4.0, 1 / 2, lambda i: i % 2 == 0),
    "not_seventh": (1.0, 6 / 7, lambda i: i % 7 != 0),
    "not_third": (2.0, 2 / 3, lambda i: i % 3 != 0),
}


def _expected_cost(order: tuple[costs.Annotation, ...]) -> float:
    total, surviving = 0.0, 1.0
    for a in order:
        assert a.cost is not None and a.selectivity is not None
        total += surviving * a.cost
        surviving *= a.selectivity
    return total


def _four_udfs(spark: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from pyspark.sql.functions import udf

    calls = {name: spark.sparkContext.accumulator(0) for name in FOUR}
    udfs = {}
    for name, (_, _, pred) in FOUR.items():

        def fn(i: int, acc: Any = calls[name], pred: Callable[[int], bool] = pred) -> bool:
            acc.add(1)
            return pred(i)

        fn.__name__ = name  # the UDF's name, which the annotations are keyed by
        udfs[name] = udf(fn, "boolean")
    return udfs, calls


def test_four_predicates_run_in_the_brute_force_cheapest_order(spark: Any) -> None:
    conf = {costs.conf_key("cost", name): str(c) for name, (c, _, _) in FOUR.items()}
    conf |= {costs.conf_key("selectivity", name): str(s) for name, (_, s, _) in FOUR.items()}
    notes = {name: costs.resolve(name, conf) for name in FOUR}
    best = min(
        itertools.permutations(FOUR), key=lambda o: _expected_cost(tuple(notes[n] for n in o))
    )
    assert list(best) == sorted(FOUR, key=lambda n: costs.rank(notes[n]))
    by_cost = sorted(FOUR, key=lambda n: FOUR[n][0])
    by_selectivity = sorted(FOUR, key=lambda n: FOUR[n][1])
    assert list(best) not in (list(FOUR), by_cost, by_selectivity)

    def query(df: Any, u: dict[str, Any]) -> Any:
        for name in FOUR:  # written order
            df = df.filter(u[name]("id"))
        return df

    rows, calls, _ = _run(spark, True, query, conf=conf, make=_four_udfs)
    survivors = list(range(N))
    for name in best:  # each UDF sees exactly the rows that passed the ones before it
        assert calls[name] == len(survivors), name
        survivors = [i for i in survivors if FOUR[name][2](i)]
    assert [r["id"] for r in rows] == survivors


def test_empty_input_gives_empty_result(spark: Any) -> None:
    with rules(spark, True):
        udfs, calls = _udfs(spark)
        df = a_then_b(_data(spark, n=0), udfs)
        rows = df.collect()
        plan = _executed(df)
    assert rows == []
    assert all(c.value == 0 for c in calls.values())
    # Catalyst knows there are no rows: a split saves nothing, so Spark's single node stays
    assert plan.count("ArrowEvalPython") == 1


def _four_conf(node_cost: float) -> dict[str, str]:
    conf = {costs.conf_key("cost", name): str(c) for name, (c, _, _) in FOUR.items()}
    conf |= {costs.conf_key("selectivity", name): str(s) for name, (_, s, _) in FOUR.items()}
    return conf | {costs.NODE_COST_KEY: str(node_cost), costs.PARALLELISM_KEY: "2",
                   costs.CALL_COST_KEY: "0"}  # fmt: skip


@pytest.mark.parametrize("node_cost", [0.0, 0.002, 0.005, 0.02])
def test_jvm_groups_udfs_as_the_python_planner_does(spark: Any, node_cost: float) -> None:
    """The JVM's eval nodes equal the Python planner's choice (tested against brute force in
    test_udf_planner): one node per UDF, a shared node, two nodes of UDFs that are not rank
    neighbours, plain Spark's single node; rows from Catalyst (``range`` knows its count);
    and every UDF is called once per row reaching its node."""
    conf = _four_conf(node_cost)
    steps = [costs.step(name, conf) for name in FOUR]
    want = planner.choose(steps, N / 2, node_cost).groups

    def query(df: Any, u: dict[str, Any]) -> Any:
        df = spark.range(N)  # Range: Catalyst knows the row count
        for name in FOUR:
            df = df.filter(u[name]("id"))
        return df

    rows, calls, plan = _run(spark, True, query, conf=conf, make=_four_udfs)
    got = plan_groups(plan, list(FOUR))
    assert [sorted(g) for g in got] == [sorted(g) for g in want]
    survivors = list(range(N))
    for group in got:
        for name in group:
            assert calls[name] == len(survivors), name
        survivors = [i for i in survivors if all(FOUR[n][2](i) for n in group)]
    assert [r["id"] for r in rows] == survivors


def test_the_planner_shapes_cover_every_case() -> None:
    """The node costs above give four different plan shapes."""
    shapes = set()
    for node_cost in (0.0, 0.002, 0.005, 0.02):
        conf = _four_conf(node_cost)
        steps = [costs.step(name, conf) for name in FOUR]
        shapes.add(tuple(len(g) for g in planner.choose(steps, N / 2, node_cost).groups))
    assert shapes == {(1, 1, 1, 1), (2, 1, 1), (2, 2), (4,)}


def test_rows_from_the_profile_when_catalyst_has_none(spark: Any, tmp_path: Path) -> None:
    """Without a row count from Catalyst the profile's rows decide, else the default."""
    spark.range(N).write.parquet(str(tmp_path / "ids"))
    x = "CAST(id % 100 AS DOUBLE) / 100"
    files = spark.read.parquet(str(tmp_path / "ids")).selectExpr(
        "id", f"{x} AS x", "DOUBLE(0.5) AS p", "DOUBLE(1.0) AS q"
    )
    conf = {costs.NODE_COST_KEY: "0.5", costs.PARALLELISM_KEY: "2", costs.CALL_COST_KEY: "0",
            costs.conf_key("selectivity", "udfB_10"): "0.1"}  # fmt: skip

    def query(df: Any, u: dict[str, Any]) -> Any:
        return a_then_b(files, u)  # a file source: Catalyst knows its size, not its rows

    # the default million rows: udfA_99 on 500k rows per worker costs far more than F
    _, calls, _ = _run(spark, True, query, conf=conf)
    assert calls["udfA_99"] == N // 10
    # profiled 4000 rows: one node costs F + 2000 x 109 us = 0.72 s, the split
    # 2F + 2000 x (10 + 0.1 x 99) us = 1.04 s: Spark's plan stays
    profiled = {f"spark.bdbench.udf.measured.rows.{n}": str(N) for n in ("udfA_99", "udfB_10")}
    _, calls, _ = _run(spark, True, query, conf=conf | profiled)
    assert calls["udfA_99"] == N and calls["udfB_10"] == N


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("spark.bdbench.udf.cost.udfA_99", "-3", "UDF 'udfA_99': {key} = -3.0 is a negative cost"),
        ("spark.bdbench.udf.selectivity.udfB_10", "1.2",
         "UDF 'udfB_10': {key} = 1.2 is not a selectivity in [0, 1]"),
        ("spark.bdbench.udf.measured.cost.udfB_10", "fast",
         "UDF 'udfB_10': {key} = 'fast' is not a number"),
        ("spark.bdbench.udf.nodeCost", "soon", "node cost: {key} = 'soon' is not a number"),
    ],
)  # fmt: skip
def test_bad_annotations_fail_planning_with_one_clear_message(
    spark: Any, key: str, value: str, message: str
) -> None:
    from pyspark.errors import IllegalArgumentException

    udfs, _ = _udfs(spark)
    with rules(spark, True, conf={key: value}):
        df = a_then_b(_data(spark), udfs)
        with pytest.raises(IllegalArgumentException) as caught:
            df.collect()
    first = str(caught.value).strip().splitlines()[0]
    assert first.endswith("bdbench rules: " + message.format(key=key))
    # the same message as the Python mirror's, where it reads the key
    if "nodeCost" not in key:
        with pytest.raises(costs.AnnotationError) as py:
            costs.resolve(key.rsplit(".", 1)[1], {key: value})
        assert str(py.value) == "bdbench rules: " + message.format(key=key)


def test_probe_measures_stores_and_reuses_the_node_cost(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe leaves the session's conf as it found it, stores its figures, reads them back
    (no second measurement) and puts them into the conf the rules read."""
    from harness.spark_rules import probe

    monkeypatch.setenv("BDBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(probe, "_MEASURED", {})
    keys = (RULES_ENABLED_KEY, SPLIT_ENABLED_KEY, costs.NODE_COST_KEY, costs.PARALLELISM_KEY)
    before = {k: spark.conf.get(k, None) for k in keys}
    try:
        found = probe.figures(spark, partitions=2)
        assert {k: spark.conf.get(k, None) for k in keys} == before
        assert found["node_cost"] >= 0 and found["call_cost"] >= 0
        assert found["split_s"] > 0 and found["one_node_s"] > 0
        stored = json.loads((tmp_path / "udf-node-cost.json").read_text())
        (entry,) = stored.values()
        assert entry["node_cost"] == found["node_cost"]

        def no_measuring(*args: Any, **kw: Any) -> dict[str, float]:
            raise AssertionError("measured again")

        monkeypatch.setattr(probe, "_MEASURED", {})  # a new process: only the file is left
        monkeypatch.setattr(probe, "measure", no_measuring)
        applied = probe.apply(spark, partitions=2)
        assert applied["node_cost"] == found["node_cost"]
        assert float(spark.conf.get(costs.MEASURED_NODE_COST_KEY)) == found["node_cost"]
        assert float(spark.conf.get(costs.MEASURED_CALL_COST_KEY)) == found["call_cost"]
    finally:
        for key in (costs.MEASURED_NODE_COST_KEY, costs.MEASURED_CALL_COST_KEY,
                    costs.PARALLELISM_KEY):  # fmt: skip
            spark.conf.unset(key)
