"""UDF map chain: every engine equals the reference; constrained damage runs once per row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import run_cli
from harness import datasets, registry
from harness.engines.mrjob_engine import MrjobEngine
from harness.errors import UserError
from harness.registry import RunContext
from harness.rules import RulesMode
from harness.spark_rules import RULES_ENABLED_KEY, costs
from workloads._udf import udfs as shared_udfs
from workloads._udf import vectorised
from workloads._udf.data import read_rows
from workloads.udf_map import UDF_MAP, udfs

Tiny = tuple[datasets.Dataset, list[list[Any]]]


@pytest.fixture(scope="module")
def tiny(isolated_env: Path) -> Tiny:
    """The generated tiny dataset and its reference answer."""
    data = datasets.generated(UDF_MAP, "tiny")
    return data, datasets.reference_answer(UDF_MAP, data, dict(UDF_MAP.params))


def _ctx(engine: Any, variant: str, data: datasets.Dataset, scratch: Path,
         rules: RulesMode = RulesMode.NONE) -> RunContext:  # fmt: skip
    return RunContext(engine, variant, data, dict(UDF_MAP.params), scratch, rules=rules)


def test_severity_bands() -> None:
    assert udfs.severity(None) is None
    assert [udfs.severity(x) for x in (0.0, 0.249, 0.25, 1.0, 2.249, 2.25, 1e6)] == [
        0, 0, 1, 4, 8, 9, 9
    ]  # fmt: skip


def test_reference_shape(tiny: Tiny) -> None:
    data, expected = tiny
    assert [r[0] for r in expected] == list(range(1000))
    assert all(isinstance(a, float) and b == udfs.severity(a) for _, a, b in expected)
    # the data spread over the bands: the chain's second column is not constant
    assert len({b for _, _, b in expected}) >= 5
    _, histories = read_rows(list(data.inputs), 3)
    assert [shared_udfs.fatigue_damage(h, 600) for h in histories] == [r[1] for r in expected[:3]]


def test_vectorised_twins_equal_python(tiny: Tiny) -> None:
    from workloads._udf.data import load
    from workloads.udf_map.impl_numpy import severity

    data, _ = tiny
    _, temps = load(data.inputs)
    a = vectorised.fatigue_damage(temps, 600).tolist()
    assert a == [shared_udfs.fatigue_damage(" ".join(map(str, t)), 600) for t in temps.tolist()]
    probes = [0.0, 0.1, 0.249, 0.25, 0.5, 2.249, 2.25, 3.0, 1e6, *a]
    assert severity(np.array(probes)).tolist() == [udfs.severity(x) for x in probes]


def test_check_and_digest() -> None:
    want = [[0, 0.5, 2], [1, 3.0, 9]]
    assert UDF_MAP.check([[0, 0.5, 2], [1, 3.0, 9]], want).passed
    wrong = UDF_MAP.check([[0, 0.5, 2], [1, 3.0000000000000004, 9]], want)
    assert not wrong.passed and "1 rows differ" in wrong.detail
    assert not UDF_MAP.check([[0, 0.5, 2]], want).passed
    assert not UDF_MAP.check({"rows": want}, want).passed
    assert not UDF_MAP.check([[0, 0.5]], want).passed
    numpy_typed = [(np.int64(0), np.float64(0.5), np.int64(2)), (1, 3.0, 9)]
    assert UDF_MAP.digest(numpy_typed) == UDF_MAP.digest(want)
    assert UDF_MAP.digest([[0, 0.5, 2], [1, 3.0, 8]]) != UDF_MAP.digest(want)
    assert UDF_MAP.from_json(json.loads(json.dumps(UDF_MAP.to_json(numpy_typed)))) == want


@pytest.mark.parametrize("p", [0, 0.5, -3, True, "600"])
def test_bad_p_is_refused(p: Any) -> None:
    assert UDF_MAP.check_params is not None
    with pytest.raises(UserError, match="udf_map: p"):
        UDF_MAP.check_params({"p": p})


def test_numpy_equals_reference(tiny: Tiny, tmp_path: Path) -> None:
    from workloads.udf_map import impl_numpy

    data, expected = tiny
    ctx = _ctx(None, "default", data, tmp_path)
    answer = impl_numpy.run(ctx)
    assert answer == expected
    assert UDF_MAP.digest(answer) == UDF_MAP.digest(expected)
    assert ctx.metrics["udf"]["calls"] == {"damage": 1000, "severity": 1000}
    assert ctx.metrics["udf"]["damage_calls_per_row"] == 1.0


def test_mrjob_inline_equals_reference(tiny: Tiny, tmp_path: Path) -> None:
    from workloads.udf_map import impl_mrjob

    data, expected = tiny
    engine = MrjobEngine()
    engine.start("inline", RulesMode.NONE, data, tmp_path)
    ctx = _ctx(engine, "inline", data, tmp_path)
    assert impl_mrjob.run(ctx) == expected
    udf = ctx.metrics["udf"]
    assert udf["calls"] == {"damage": 1000, "severity": 1000}
    assert udf["rows"] == 1000 and udf["damage_calls_per_row"] == 1.0


@contextmanager
def rules(spark: Any, on: bool) -> Iterator[None]:
    """Our rules on or off for a block; the shared session's resting state restored after."""
    if on and "bdbench" not in spark.conf.get("spark.sql.extensions", ""):
        pytest.skip("the rules jar could not be built here (no javac?)")
    spark.conf.set(RULES_ENABLED_KEY, str(on).lower())
    try:
        yield
    finally:
        spark.conf.unset(costs.conf_key("constrained", "damage"))  # set by the implementation
        spark.conf.set(RULES_ENABLED_KEY, "false")


@pytest.mark.parametrize("on", [False, True], ids=["rules_off", "rules_on"])
def test_spark_equals_reference_and_counts_damage_calls(
    tiny: Tiny, spark_engine: Any, on: bool, tmp_path: Path
) -> None:
    from workloads.udf_map import impl_spark

    data, expected = tiny
    ctx = _ctx(spark_engine, "df", data, tmp_path, rules=RulesMode.ON if on else RulesMode.OFF)
    with rules(spark_engine.spark, on):
        answer = impl_spark.run_df(ctx)
    assert answer == expected
    assert UDF_MAP.digest(answer) == UDF_MAP.digest(expected)
    udf = ctx.metrics["udf"]
    n = len(expected)
    # plain Spark computes damage alone and again inside severity(damage(...)); the barrier once
    assert udf["calls"] == {"damage": n if on else 2 * n, "severity": n}
    assert udf["rows"] == n and udf["damage_calls_per_row"] == (1.0 if on else 2.0)
    assert set(udf["udf_seconds"]) == {"damage", "severity"}
    assert ctx.metrics["plan"].count("EvalPython") == (2 if on else 1)


def test_cli_run_on_numpy(tmp_path: Path) -> None:
    results = tmp_path / "results"
    out = run_cli(
        "run", "-w", "udf_map", "-s", "tiny", "-r", "1", "--warmups", "0", "-e", "numpy",
        "--results", str(results),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = results.glob("*.jsonl")
    (record,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert (record["workload"], record["status"], record["check"]) == ("udf_map", "ok", "pass")
    assert record["params"] == {"p": 600}
    assert record["metrics"]["udf"]["calls"] == {"damage": 1000, "severity": 1000}


def test_spark_prewarm_leaves_the_session_clean(
    tiny: Tiny, spark_engine: Any, tmp_path: Path
) -> None:
    """The chained warm-up query runs (rules on) and leaves no annotation behind."""
    data, _ = tiny
    spark = spark_engine.spark
    impl = registry.find_impl("udf_map", "spark", "df")
    assert impl is not None and impl.prewarm is not None
    with rules(spark, True):
        impl.prewarm(_ctx(spark_engine, "df", data, tmp_path, rules=RulesMode.ON))
        key = costs.conf_key("constrained", "bdbench_prewarm_a")
        assert spark.conf.get(key, None) is None
