"""kmeans: Lloyd's algorithm by hand, numpy against the reference, bad CSV input."""

from __future__ import annotations

import json
import time
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
from workloads import kmeans


@pytest.fixture(scope="module")
def tiny(isolated_env: Path) -> datasets.Dataset:
    """The generated tiny kmeans dataset."""
    return datasets.generated(registry.get_workload("kmeans"), "tiny")


def _numpy_run(data: datasets.Dataset, params: dict, scratch: Path) -> tuple[dict, RunContext]:
    from workloads.kmeans import impl_numpy

    ctx = RunContext(NumpyEngine(), "default", data, params, scratch)
    return impl_numpy.run(ctx), ctx


def _user_data(csv: Path) -> datasets.Dataset:
    return datasets.Dataset("kmeans", "input", 1.0, None, csv.parent, (csv,), {})


def test_two_iterations_by_hand(tmp_path: Path) -> None:
    csv = tmp_path / "five.csv"
    # The first two distinct points are (0, 0) and (1, 0): the repeated (0, 0) is skipped.
    csv.write_text("x,y\n0,0\n0,0\n1,0\n10,0\n11,0\n")
    x, initial = kmeans.load([csv], "", 2)
    assert initial.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    got = kmeans.train(x, initial, iterations=2, tolerance=0.0)
    # Iteration 1: {0, 0} -> c0, {1, 10, 11} -> c1; inertia 0 + 0 + 0 + 81 + 100 = 181;
    # c0 stays at 0, c1 moves to 22 / 3.
    # Iteration 2: 1 is nearer 0 (1 < (19/3)^2): {0, 0, 1} -> c0, {10, 11} -> c1;
    # inertia (8/3)^2 + (11/3)^2 = 185 / 9 (the 1 costs 1); c0 = 1/3, c1 = 10.5.
    assert got["inertia"] == pytest.approx([181.0, 1 + 185 / 9], rel=1e-12)
    assert np.allclose(got["centroids"], [[1 / 3, 0.0], [10.5, 0.0]], rtol=1e-12, atol=0)


def test_numpy_agrees_by_hand_and_ties_go_to_the_lowest_index(tmp_path: Path) -> None:
    csv = tmp_path / "tie.csv"
    # The point 1 lies exactly between the centroids 0 and 2: it goes to centroid 0.
    csv.write_text("v\n0\n2\n1\n")
    data = _user_data(csv)
    params = {**kmeans.DEFAULT_PARAMS, "k": 2, "iterations": 1}
    expected = kmeans.reference(data, params)
    assert expected["centroids"] == [[0.5], [2.0]] and expected["inertia"] == [1.0]
    answer, _ = _numpy_run(data, params, tmp_path)
    assert answer["centroids"] == [[0.5], [2.0]] and answer["inertia"] == [1.0]


def test_empty_cluster_keeps_its_place(tmp_path: Path) -> None:
    csv = tmp_path / "empty.csv"
    csv.write_text("v\n9\n1\n9\n10\n4\n5\n")
    data = _user_data(csv)
    params = {**kmeans.DEFAULT_PARAMS, "k": 3, "iterations": 2}
    expected = kmeans.reference(data, params)
    # Start (9, 1, 10). Iteration 1: 5 is 4 from both 9 and 1, the tie goes to c0:
    # {9, 9, 5} {1, 4} {10}, inertia 9 + 16 = 25; c = (23/3, 2.5, 10).
    # Iteration 2: 9 is nearer 10 (1 < 4/3) and 5 nearer 2.5 (2.5 < 8/3): c0 has no point
    # and stays at 23/3; {1, 4, 5} {9, 9, 10}, inertia 2.25 + 2.25 + 6.25 + 1 + 1 = 12.75.
    assert expected["inertia"] == pytest.approx([25.0, 12.75], rel=1e-12)
    assert np.allclose(expected["centroids"], [[23 / 3], [10 / 3], [28 / 3]], rtol=1e-12, atol=0)
    answer, ctx = _numpy_run(data, params, tmp_path)
    assert np.allclose(answer["centroids"], expected["centroids"], rtol=1e-12, atol=0)
    assert answer["inertia"] == pytest.approx(expected["inertia"], rel=1e-12)
    assert len(ctx.metrics["iteration_s"]) == 2


def test_numpy_equals_reference_and_times_iterations(
    tiny: datasets.Dataset, tmp_path: Path
) -> None:
    workload = registry.get_workload("kmeans")
    params = dict(workload.params)
    expected = datasets.reference_answer(workload, tiny, params)
    answer, ctx = _numpy_run(tiny, params, tmp_path)
    verdict = workload.check(answer, expected)
    assert verdict.passed, verdict.detail
    assert workload.digest(answer) == workload.digest(expected)
    assert expected["points"] == 2_000 and len(expected["centroids"]) == 8
    assert expected["inertia"][-1] < expected["inertia"][0]  # it clusters
    times = ctx.metrics["iteration_s"]
    assert len(times) == params["iterations"] and ctx.metrics["first_iteration_s"] == times[0]
    assert all(t > 0 for t in times)


def test_tolerance_stops_early(tiny: datasets.Dataset, tmp_path: Path) -> None:
    params = {**kmeans.DEFAULT_PARAMS, "iterations": 200, "tolerance": 1e-3}
    expected = kmeans.reference(tiny, params)
    assert 1 < len(expected["inertia"]) < 200
    answer, _ = _numpy_run(tiny, params, tmp_path)
    assert kmeans.check(answer, expected).passed


def test_ties_between_centroids_agree_with_the_reference() -> None:
    from workloads.kmeans.impl_numpy import _labels

    # Points on a decimal grid, centroids on the same grid: many exact ties, which the
    # expanded distance formula alone breaks by rounding (checked first, so the test bites).
    rng = np.random.default_rng(0)
    x = 40.7 + 0.07 * rng.integers(0, 9, size=(4000, 2))
    initial = kmeans.initial_centroids(x, 6)
    want = kmeans.assign(x, initial)[0]
    shift = initial[0]
    xs, cs = x - shift, initial - shift
    expanded = (xs * xs).sum(1)[:, None] - 2 * xs @ cs.T + (cs * cs).sum(1)
    assert (expanded.argmin(axis=1) != want).any()
    got = _labels(x, xs, np.einsum("ij,ij->i", xs, xs), initial, shift)
    assert got.tolist() == want.tolist()


def test_check_can_fail() -> None:
    expected = {"centroids": [[1.0, 2.0], [3.0, 4.0]], "inertia": [10.0, 5.0], "points": 4}
    close = {"centroids": [[1.0, 2.0 * (1 + 1e-9)], [3.0, 4.0]], "inertia": [10.0, 5.0]}
    assert kmeans.check(close, expected).passed
    verdict = kmeans.check({**close, "centroids": [[1.0, 2.0], [3.0, 4.001]]}, expected)
    assert not verdict.passed and "centroids[1][1]" in verdict.detail
    verdict = kmeans.check({**close, "inertia": [10.0, 5.1]}, expected)
    assert not verdict.passed and "inertia[1]" in verdict.detail
    assert not kmeans.check({**close, "inertia": [10.0]}, expected).passed
    assert not kmeans.check({**close, "centroids": [[1.0, 2.0]]}, expected).passed
    assert not kmeans.check({**close, "centroids": [[1.0], [3.0]]}, expected).passed
    assert not kmeans.check({"centroids": []}, expected).passed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n1,2\n0,3\n", "has no column 'lat'"),
        ("lat,lon\n1,2\n0,abc\n", "row 3 column 'lon' is not a finite number: 'abc'"),
        ("lat,lon\n1,2\n0,\n", "row 3 column 'lon' is not a finite number"),
        ("lat,lon\n1,2\nnan,3\n", "row 3 column 'lat' is not a finite number"),
        ("lat,lon\n", "no rows"),
        ("", "cannot parse"),
        ("lat,lon\n0,2\n0,2\n-0,2\n", "larger than the number of distinct points"),
    ],
)
def test_bad_csv_is_one_clear_error(text: str, message: str, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(UserError, match=message):
        kmeans.load([csv], "lat+lon", 2)
    out = run_cli(
        "run", "-w", "kmeans", "-e", "numpy", "--input", str(csv), "-r", "1",
        "--param", "columns=lat+lon", "--param", "k=2",
        "--results", str(tmp_path / "res"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert message.split(":")[0] in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "res").glob("*.jsonl"))


def test_k_larger_than_distinct_points(tmp_path: Path) -> None:
    csv = tmp_path / "few.csv"
    csv.write_text("v\n1\n1\n2\n-0.0\n0\n")
    assert kmeans.initial_centroids(kmeans.load_points([csv], ""), 3).tolist() == [[1], [2], [0]]
    with pytest.raises(UserError, match=r"k = 4 larger than the number of distinct points \(3\)"):
        kmeans.load([csv], "", 4)


def test_cli_run_on_user_csv_with_columns(tmp_path: Path) -> None:
    csv = tmp_path / "mine.csv"
    rows = "".join(f"2014-04-01,{40.7 + (i % 7) / 100},{-74 + (i * 3 % 11) / 100},B{i % 3}\n"
                   for i in range(60))  # fmt: skip
    csv.write_text("Date,Lat,Lon,Base\n" + rows)
    out = run_cli(
        "run", "-w", "kmeans", "-e", "numpy", "--input", str(csv), "-r", "1", "--warmups", "0",
        "--param", "columns=Lat+Lon", "--param", "k=3", "--param", "iterations=4",
        "--no-progress", "--results", str(tmp_path / "res"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (record,) = [json.loads(line) for f in (tmp_path / "res").glob("*.jsonl") for line in f.open()]
    assert record["check"] == "pass" and record["metrics"]["items"] == 60 * 4
    assert record["params"]["columns"] == "Lat+Lon"
    assert sum(record["metrics"]["iteration_s"]) <= record["wall_s"]


def test_bad_parameters(tmp_path: Path) -> None:
    cases = [({"k": 0}, "k must"), ({"tolerance": -1.0}, "tolerance"),
             ({"columns": "a+a"}, "twice"), ({"iterations": 0}, "iterations")]  # fmt: skip
    for bad, word in cases:
        with pytest.raises(UserError, match=word):
            kmeans.check_params({**kmeans.DEFAULT_PARAMS, **bad})
    out = run_cli("run", "-w", "kmeans", "-e", "numpy", "--param", "k=-1",
                  "--results", str(tmp_path))  # fmt: skip
    assert out.returncode == 2 and "k must" in out.stderr


EMPTY_CLUSTER = "v\n9\n1\n9\n10\n4\n5\n"  # c0 loses every point in iteration 2 (see above)


def _mrjob(variant: str, data: datasets.Dataset, params: dict, tmp_path: Path) -> tuple:
    from harness.engines.mrjob_engine import MrjobEngine
    from workloads.kmeans import impl_mrjob

    engine = MrjobEngine()
    engine.start(variant, RulesMode.NONE, data, tmp_path)
    ctx = RunContext(engine, variant, data, params, tmp_path)
    return impl_mrjob.run(ctx), ctx


def test_mrjob_inline_one_job_per_iteration(tiny: datasets.Dataset, tmp_path: Path) -> None:
    params = {**kmeans.DEFAULT_PARAMS, "iterations": 3}
    expected = kmeans.reference(tiny, params)
    began = time.perf_counter()
    answer, ctx = _mrjob("inline", tiny, params, tmp_path)
    wall = time.perf_counter() - began
    verdict = kmeans.check(answer, expected)
    assert verdict.passed, verdict.detail
    assert len(ctx.metrics["iteration_s"]) == 3 and sum(ctx.metrics["iteration_s"]) <= wall
    assert sorted(p.name for p in tmp_path.glob("iteration-*")) == [
        "iteration-0", "iteration-1", "iteration-2"
    ]  # fmt: skip


@pytest.mark.parametrize("variant", ["inline", "local"])
def test_mrjob_empty_cluster_and_ties(variant: str, tmp_path: Path) -> None:
    csv = tmp_path / "empty.csv"
    csv.write_text(EMPTY_CLUSTER)
    data = _user_data(csv)
    params = {**kmeans.DEFAULT_PARAMS, "k": 3, "iterations": 2}
    expected = kmeans.reference(data, params)
    answer, _ = _mrjob(variant, data, params, tmp_path / "scratch")
    # Exact: the same sums of the same few numbers (the tie in iteration 1 too).
    assert np.allclose(answer["centroids"], expected["centroids"], rtol=1e-15, atol=0)
    assert answer["inertia"] == pytest.approx([25.0, 12.75], rel=1e-15)
    assert answer["points"] == 6


def test_mrjob_and_spark_read_the_columns_by_name(spark_engine: Any, tmp_path: Path) -> None:
    from workloads.kmeans import impl_spark

    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,y,x\n1,0,0\n2,0,1\n3,5,5\n")
    second.write_text("id,y,x\n4,6,5\n5,0.5,0\n")
    data = datasets.Dataset("kmeans", "input", 1.0, None, tmp_path, (first, second), {})
    params = {**kmeans.DEFAULT_PARAMS, "k": 2, "iterations": 3, "columns": "x+y"}
    expected = kmeans.reference(data, params)
    assert expected["points"] == 5
    answer, _ = _mrjob("inline", data, params, tmp_path / "mr")
    assert kmeans.check(answer, expected).passed
    ctx = RunContext(spark_engine, "rdd", data, params, tmp_path / "sp")
    assert kmeans.check(impl_spark.run_rdd(ctx), expected).passed


def test_files_with_other_headers_are_rejected(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("lat,lon\n1,2\n")
    second.write_text("lon,lat\n2,1\n")
    with pytest.raises(UserError, match=r"b\.csv has other columns than a\.csv"):
        kmeans.load_points([first, second], "lat+lon")


def test_spark_rdd_and_mllib(tiny: datasets.Dataset, spark_engine: Any, tmp_path: Path) -> None:
    from workloads.kmeans import impl_spark

    params = dict(kmeans.DEFAULT_PARAMS)
    expected = kmeans.reference(tiny, params)
    ctx = RunContext(spark_engine, "rdd", tiny, params, tmp_path)
    began = time.perf_counter()
    verdict = kmeans.check(impl_spark.run_rdd(ctx), expected)
    wall = time.perf_counter() - began
    assert verdict.passed, verdict.detail
    times = ctx.metrics["iteration_s"]
    assert len(times) == params["iterations"] and times[0] == ctx.metrics["first_iteration_s"]
    assert sum(times) <= wall and ctx.metrics["later_iterations_median_s"] in sorted(times[1:])[4:6]
    ml = impl_spark.run_mllib(RunContext(spark_engine, "df", tiny, params, tmp_path))
    verdict = kmeans.check(ml, expected)
    assert verdict.passed and verdict.by_quality and "quality check" in verdict.detail
    assert len(ml["centroids"]) == params["k"] and ml["points"] == expected["points"]


def test_spark_rdd_empty_cluster_and_early_stop(
    tiny: datasets.Dataset, spark_engine: Any, tmp_path: Path
) -> None:
    from workloads.kmeans import impl_spark

    csv = tmp_path / "empty.csv"
    csv.write_text(EMPTY_CLUSTER)
    data = _user_data(csv)
    params = {**kmeans.DEFAULT_PARAMS, "k": 3, "iterations": 2}
    answer = impl_spark.run_rdd(RunContext(spark_engine, "rdd", data, params, tmp_path))
    assert answer["inertia"] == pytest.approx([25.0, 12.75], rel=1e-15)
    assert np.allclose(answer["centroids"], [[23 / 3], [10 / 3], [28 / 3]], rtol=1e-15, atol=0)
    params = {**kmeans.DEFAULT_PARAMS, "iterations": 200, "tolerance": 1e-3}
    expected = kmeans.reference(tiny, params)
    answer = impl_spark.run_rdd(RunContext(spark_engine, "rdd", tiny, params, tmp_path))
    assert kmeans.check(answer, expected).passed and len(answer["inertia"]) < 200


def test_quality_check_can_fail() -> None:
    expected = {"centroids": [[0.0, 0.0], [1.0, 1.0]], "inertia": [12.0, 10.0], "points": 9}
    good = {"model": "mllib", "centroids": [[0.1, 0.0], [1.0, 0.9]], "inertia": [10.4],
            "final_inertia": 10.4}  # fmt: skip
    verdict = kmeans.check(good, expected)
    assert verdict.passed and verdict.by_quality
    assert not kmeans.check({**good, "final_inertia": 10.0 * (1 + kmeans.INERTIA_MARGIN) + 0.01},
                            expected).passed  # fmt: skip
    assert not kmeans.check({**good, "centroids": [[0.1, 0.0]]}, expected).passed


def test_spark_ml_throughput_counts_its_own_iterations() -> None:
    workload = registry.get_workload("kmeans")
    expected = {"centroids": [[0.0]], "inertia": [3.0, 2.0], "points": 100}
    assert workload.items(expected) == 200
    assert workload.finish_metrics is not None
    metrics: dict[str, Any] = {"mllib_iterations": 7}
    workload.finish_metrics(metrics, expected, kmeans.DEFAULT_PARAMS, None)
    assert metrics["items"] == 700
    metrics = {"iteration_s": [0.1, 0.1]}  # the documented algorithm: the reference's count
    workload.finish_metrics(metrics, expected, kmeans.DEFAULT_PARAMS, None)
    assert "items" not in metrics


@pytest.mark.parametrize(("workers", "block"), [(2, 5), (3, 64), (8, 1_000_000)])
def test_numpy_threads_and_blocks_agree_with_one_block(workers: int, block: int) -> None:
    from workloads.kmeans.impl_numpy import train

    rng = np.random.default_rng(2)
    x = 40.7 + 0.07 * rng.integers(0, 9, size=(500, 2)) + rng.normal(size=(500, 2)) * 1e-3
    initial = kmeans.initial_centroids(x, 5)
    plain, _ = train(x, initial, 4, 0.0, workers=1, block=len(x))
    got, times = train(x, initial, 4, 0.0, workers=workers, block=block)
    assert np.allclose(got["centroids"], plain["centroids"], rtol=1e-13, atol=0)
    assert np.allclose(got["inertia"], plain["inertia"], rtol=1e-12, atol=0)
    assert kmeans.check(got, kmeans.train(x, initial, 4, 0.0)).passed and len(times) == 4


def test_numpy_fewer_points_than_threads() -> None:
    from workloads.kmeans.impl_numpy import train

    x = np.array([[0.0], [2.0], [1.0]])
    got, _ = train(x, x[:2], 1, 0.0, workers=8, block=1)
    assert got["centroids"] == [[0.5], [2.0]] and got["inertia"] == [1.0]


def test_inertia_from_direct_differences_when_the_bound_is_loose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workloads.kmeans import impl_numpy

    calls = []
    direct = impl_numpy._Points.direct_inertia

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        direct(self, *args, **kwargs)

    monkeypatch.setattr(impl_numpy._Points, "direct_inertia", counted)

    # Far-apart tight clusters: the expanded distances' rounding bound (reach^2) is far above
    # the inertia's 1e-9, so the engine must take the reference's differences.
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=(200, 2)) * 1e-4 + c for c in ([0, 0], [1e5, 0])])
    initial = x[[0, 200]]
    expected = kmeans.train(x, initial, 3, 0.0)
    got, _ = impl_numpy.train(x, initial, 3, 0.0, workers=2, block=64)
    assert len(calls) == 3 * len(impl_numpy.blocks(len(x), 64, 2))  # every block, every iteration
    assert np.allclose(got["inertia"], expected["inertia"], rtol=1e-9, atol=0)
    assert kmeans.check(got, expected).passed
