"""logreg: the documented gradient descent, numpy against the reference, bad CSV input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import run_cli
from harness import datasets, registry
from harness.engines.numpy_engine import NumpyEngine
from harness.errors import UserError
from harness.registry import RunContext
from harness.rules import RulesMode
from workloads import logreg


@pytest.fixture(scope="module")
def tiny(isolated_env: Path) -> datasets.Dataset:
    """The generated tiny logreg dataset."""
    return datasets.generated(registry.get_workload("logreg"), "tiny")


def test_two_points_by_hand(tmp_path: Path) -> None:
    csv = tmp_path / "two.csv"
    csv.write_text("label,x\n1,2\n0,-2\n")
    y, x = logreg.load([csv], "label")
    got = logreg.train(y, x, iterations=2, rate=1.0)
    # Iteration 1 at w = 0: loss log 2, residuals p - y = (-1/2, 1/2): the bias gradient is 0,
    # the x gradient (-1/2 * 2 + 1/2 * -2) / 2 = -1, so w = (0, 1).
    assert got["loss"][0] == pytest.approx(math.log(2))
    # Iteration 2: z = (2, -2), loss log(1 + e^-2); with s = sigmoid(2) the x gradient is
    # 2s - 2, so w_x = 1 - (2s - 2) = 3 - 2s.
    s = 1 / (1 + math.exp(-2.0))
    assert got["loss"][1] == pytest.approx(math.log(1 + math.exp(-2.0)))
    assert got["weights"][0] == pytest.approx(0.0, abs=1e-15)
    assert got["weights"][1] == pytest.approx(3 - 2 * s, rel=1e-12)


def test_numpy_equals_reference_and_times_iterations(
    tiny: datasets.Dataset, tmp_path: Path
) -> None:
    from workloads.logreg import impl_numpy

    workload = registry.get_workload("logreg")
    params = dict(workload.params)
    expected = datasets.reference_answer(workload, tiny, params)
    ctx = RunContext(NumpyEngine(), "default", tiny, params, tmp_path)
    answer = impl_numpy.run(ctx)
    assert workload.check(answer, expected).passed
    assert workload.digest(answer) == workload.digest(expected)
    assert expected["loss"][-1] < expected["loss"][0]  # it learns
    times = ctx.metrics["iteration_s"]
    assert len(times) == params["iterations"] and ctx.metrics["first_iteration_s"] == times[0]
    assert all(t > 0 for t in times)


def test_check_can_fail() -> None:
    expected = {"weights": [0.1, 0.2], "loss": [0.69, 0.5], "points": 2}
    assert logreg.check({"weights": [0.1, 0.2 * (1 + 1e-9)], "loss": [0.69, 0.5]}, expected).passed
    verdict = logreg.check({"weights": [0.1, 0.2001], "loss": [0.69, 0.5]}, expected)
    assert not verdict.passed and "weights[1]" in verdict.detail
    assert not logreg.check({"weights": [0.1]}, expected).passed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y,x\n1,2\n0,3\n", "no label column 'label'"),
        ("label,x\n1,2\n0,abc\n", "row 3 column 'x' is not a finite number: 'abc'"),
        ("label,x\n1,2\n0,\n", "row 3 column 'x' is not a finite number"),
        ("label,x\n1,2\n1,3\n", "single class"),
        ("label,x\n1,2\n2,3\n", "must be 0 or 1"),
        ("label,x\n", "no rows"),
        ("", "cannot parse"),
    ],
)
def test_bad_csv_is_one_clear_error(text: str, message: str, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(UserError, match=message):
        logreg.load([csv], "label")
    out = run_cli(
        "run", "-w", "logreg", "-e", "numpy", "--input", str(csv), "-r", "1",
        "--results", str(tmp_path / "res"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert message.split(":")[0] in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "res").glob("*.jsonl"))


def test_cli_run_on_user_csv_with_other_label(tmp_path: Path) -> None:
    csv = tmp_path / "mine.csv"
    csv.write_text("a,b,cls\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(50)))
    out = run_cli(
        "run", "-w", "logreg", "-e", "numpy", "--input", str(csv), "-r", "1", "--warmups", "0",
        "--param", "label=cls", "--param", "iterations=5", "--no-progress",
        "--results", str(tmp_path / "res"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (record,) = [json.loads(line) for f in (tmp_path / "res").glob("*.jsonl") for line in f.open()]
    assert record["check"] == "pass" and record["metrics"]["items"] == 50 * 5
    assert sum(record["metrics"]["iteration_s"]) <= record["wall_s"]


def test_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="iterations"):
        logreg.check_params({**logreg.DEFAULT_PARAMS, "iterations": 0})
    out = run_cli("run", "-w", "logreg", "-e", "numpy", "--param", "learning_rate=-1",
                  "--results", str(tmp_path))  # fmt: skip
    assert out.returncode == 2 and "learning_rate" in out.stderr


def _expected(data: datasets.Dataset) -> tuple[registry.Workload, dict[str, Any], Any]:
    workload = registry.get_workload("logreg")
    params = dict(workload.params)
    return workload, params, datasets.reference_answer(workload, data, params)


@pytest.mark.parametrize(("variant", "iterations"), [("inline", 3), ("local", 2)])
def test_mrjob_one_job_per_iteration(
    variant: str, iterations: int, tiny: datasets.Dataset, tmp_path: Path
) -> None:
    from harness.engines.mrjob_engine import MrjobEngine
    from workloads.logreg import impl_mrjob

    workload, params, expected = _expected(tiny)
    params["iterations"] = iterations  # one job each
    expected = datasets.reference_answer(workload, tiny, params)
    engine = MrjobEngine()
    engine.start(variant, RulesMode.NONE, tiny, tmp_path)
    ctx = RunContext(engine, variant, tiny, params, tmp_path)
    assert workload.check(impl_mrjob.run(ctx), expected).passed
    assert len(ctx.metrics["iteration_s"]) == iterations
    assert len(list(tmp_path.glob("iteration-*"))) == iterations


def test_spark_rdd_and_mllib(tiny: datasets.Dataset, spark_engine: Any, tmp_path: Path) -> None:
    from workloads.logreg import impl_spark

    workload, params, expected = _expected(tiny)
    ctx = RunContext(spark_engine, "rdd", tiny, params, tmp_path)
    verdict = workload.check(impl_spark.run_rdd(ctx), expected)
    assert verdict.passed, verdict.detail
    times = ctx.metrics["iteration_s"]
    assert len(times) == params["iterations"] and times[0] == ctx.metrics["first_iteration_s"]
    ml = impl_spark.run_mllib(RunContext(spark_engine, "df", tiny, params, tmp_path))
    verdict = workload.check(ml, expected)
    assert verdict.passed and "quality check" in verdict.detail
    assert ml["final_loss"] <= expected["loss"][-1] + logreg.LOSS_MARGIN


def test_quality_check_can_fail() -> None:
    expected = {"weights": [0.0], "loss": [0.5, 0.4], "accuracy": 0.8, "points": 10}
    good = {"model": "mllib", "weights": [1.0], "loss": [0.39], "final_loss": 0.39,
            "accuracy": 0.8}  # fmt: skip
    assert logreg.check(good, expected).passed
    assert not logreg.check({**good, "final_loss": 0.42}, expected).passed
    assert not logreg.check({**good, "accuracy": 0.7}, expected).passed


@pytest.mark.parametrize(("workers", "block"), [(2, 7), (3, 64), (8, 1_000_000)])
def test_numpy_threads_and_blocks_agree_with_one_block(workers: int, block: int) -> None:
    from workloads.logreg.impl_numpy import train

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)) * [1.0, 10.0, 0.1, 50.0]  # large |z|: exp(-|z|) underflows
    y = (rng.random(300) < 0.5).astype(np.float64)
    plain, _ = train(y, x, iterations=5, rate=0.5, workers=1, block=len(y))
    got, times = train(y, x, iterations=5, rate=0.5, workers=workers, block=block)
    assert np.allclose(got["weights"], plain["weights"], rtol=1e-12, atol=1e-15)
    assert np.allclose(got["loss"], plain["loss"], rtol=1e-12, atol=0)
    expected = logreg.train(y, x, iterations=5, rate=0.5)
    assert logreg.check({**got, "points": 300}, expected).passed and len(times) == 5


def test_numpy_fewer_rows_than_threads() -> None:
    from workloads._iterative import spans
    from workloads.logreg.impl_numpy import train

    assert spans(2, 4, 8) == [[(0, 1)], [(1, 2)]]
    assert spans(10, 2, 3) == [[(0, 3), (3, 5)], [(5, 8), (8, 10)]]
    y, x = np.array([1.0, 0.0]), np.array([[2.0], [-2.0]])
    got, _ = train(y, x, iterations=2, rate=1.0, workers=4, block=1)
    s = 1 / (1 + math.exp(-2.0))
    assert got["loss"] == pytest.approx([math.log(2), math.log(1 + math.exp(-2.0))])
    assert got["weights"][1] == pytest.approx(3 - 2 * s, rel=1e-12)


def test_blas_threads_restores_the_count() -> None:
    from workloads._iterative import _openblas, blas_threads

    functions = _openblas()
    if functions is None:
        pytest.skip("numpy does not use OpenBLAS here")
    before = functions[1]()
    with blas_threads(1):
        assert functions[1]() == 1
    assert functions[1]() == before


def test_blocks_are_even_and_a_multiple_of_the_threads() -> None:
    from workloads._iterative import blocks

    assert blocks(10, 3, 2) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert blocks(10, 100, 1) == [(0, 10)]
    assert blocks(2, 8, 4) == [(0, 1), (1, 2)]  # never an empty block
    assert {b - a for a, b in blocks(200_000, 1 << 15, 2)} == {25_000}


@pytest.mark.parametrize("helpers", [0, 1, 3])
def test_share_runs_every_item_once(helpers: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from workloads._iterative import share

    done: list[tuple[int, int]] = []
    with ThreadPoolExecutor(max(1, helpers)) as pool:
        for _ in range(20):  # helpers that start late are cancelled, not left to run later
            done.clear()
            share(pool if helpers else None, helpers, lambda i, k: done.append((i, k)), 9)
            assert sorted(i for i, _ in done) == list(range(9))
            assert {k for _, k in done} <= set(range(helpers + 1))


def test_one_cpu_each_holds_and_restores_the_affinity() -> None:
    import os
    from concurrent.futures import ThreadPoolExecutor

    from workloads._iterative import one_cpu_each

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and 2 CPUs")
    before = os.sched_getaffinity(0)
    with one_cpu_each(2) as hold:
        assert len(os.sched_getaffinity(0)) == 1
        with ThreadPoolExecutor(1, initializer=hold) as pool:
            theirs = pool.submit(os.sched_getaffinity, 0).result()
        assert len(theirs) == 1 and theirs != os.sched_getaffinity(0)
    assert os.sched_getaffinity(0) == before
