"""``bdbench scale``: a size ladder through the ordinary runner, its skips, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from harness import datasets
from harness.results import RunRecord, load_records


def _records(folder: Path) -> list[RunRecord]:
    (path,) = folder.glob("*.jsonl")
    return load_records(path)


def _env(folder: Path) -> dict[str, object]:
    (path,) = folder.glob("*.env.json")
    return json.loads(path.read_text())


def test_a_ladder_runs_every_size_smallest_first_and_records_rows(tmp_path: Path) -> None:
    out = run_cli(
        "scale", "-w", "wordcount,kmeans", "-e", "numpy", "--scale", "tiny",
        "--factor", "4,1,2", "--repeats", "2", "--results", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    records = _records(tmp_path)
    measured = [r for r in records if not r.is_warmup]
    assert {r.status for r in records} == {"ok"}
    sizes = {
        (r.workload, r.factor, r.rows) for r in measured
    }  # every record says its size, rows and factor both
    assert sizes == {
        ("wordcount", 1.0, 20_000),
        ("wordcount", 2.0, 40_000),
        ("wordcount", 4.0, 80_000),
        ("kmeans", 1.0, 2_000),
        ("kmeans", 2.0, 4_000),
        ("kmeans", 4.0, 8_000),
    }
    for key in sizes:
        assert sum((r.workload, r.factor, r.rows) == key for r in measured) == 2
    # Smallest first, each size for every workload before the next size.
    order = list(dict.fromkeys(r.factor for r in records))
    assert order == [1.0, 2.0, 4.0]
    env = _env(tmp_path)
    assert env["ladder"] == {"factors": [1.0, 2.0, 4.0], "max_call_s": 180.0}


def test_explicit_rows_and_a_resumed_ladder(tmp_path: Path) -> None:
    out = run_cli(
        "scale", "-w", "wordcount", "-e", "numpy", "--scale", "tiny", "--rows", "10000,30_000",
        "--repeats", "1", "--results", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    records = _records(tmp_path)
    assert sorted({r.rows for r in records}) == [10_000, 30_000]
    assert sorted({r.factor for r in records}) == [0.5, 1.5]
    # A resumed ladder finds every size finished and runs nothing more.
    (path,) = tmp_path.glob("*.jsonl")
    again = run_cli("scale", "--resume", str(path), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert len(load_records(path)) == len(records)


def test_a_size_predicted_over_max_call_is_skipped_without_making_its_data(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    out = run_cli(
        "scale", "-w", "wordcount", "-e", "numpy", "--scale", "tiny", "--factor", "1,2,400",
        "--max-call", "0.05", "--repeats", "1", "--warmups", "0", "--data-dir", str(data_dir),
        "--results", str(tmp_path / "r"), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    records = _records(tmp_path / "r")
    top = [r for r in records if r.factor == 400]
    assert [r.status for r in top] == ["skipped"]
    assert top[0].rows == 8_000_000
    assert "rows from the cost line of its 2 smaller sizes, over --max-call 0.05 s" in (
        top[0].error or ""
    )
    assert not list((data_dir / "wordcount").glob("tiny-x400-*"))


@pytest.mark.slow
def test_the_memory_wall_a_numpy_run_dies_at_and_the_larger_sizes_skipped(
    tmp_path: Path,
) -> None:
    """A real numpy run killed by its memory cgroup part-way up the ladder."""
    out = run_cli(
        "scale", "-w", "logreg", "-e", "numpy", "--scale", "tiny", "--factor", "1,256,512",
        "--memory-limit", "160M", "--repeats", "1", "--warmups", "0",
        "--results", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # a failed run
    by_factor = {r.factor: r for r in _records(tmp_path)}
    assert by_factor[1.0].status == "ok"
    died = by_factor[256.0]
    assert died.status == "failed"
    assert died.error is not None and died.error.startswith(
        ("killed by the OOM killer", "killed by bdbench at ")
    )
    assert died.memory_limit_bytes == 160 << 20
    skipped = by_factor[512.0]
    assert skipped.status == "skipped"
    assert skipped.error == (
        "out of memory at 512,000 rows under 160M (a smaller size of this ladder); "
        "larger sizes not run"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--factor", "4"], "a ladder needs at least two different sizes (got 4)"),
        (["--rows", "5,5"], "a ladder needs at least two different sizes (got 5, 5)"),
        (["--factor", "1,x"], "argument --factor/--factors: not a number: 'x'"),
        (["--factor", "1,-4"], "must be a positive number: '-4'"),
        (["--rows", "1.5,3"], "not a whole number of rows above 0: '1.5'"),
        (["--factor", "1,4", "--rows", "5,6"], "--rows or --factor, not both"),
        (["--input", "README.md"], "a ladder generates its data at each size"),
        (["--max-call", "soon"], "argument --max-call: not a number: 'soon'"),
    ],
)
def test_bad_ladders_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = run_cli(
        "scale", "-w", "wordcount", "-e", "numpy", "--scale", "tiny", *args,
        "--results", str(tmp_path / "r"),
    )  # fmt: skip
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_run_takes_several_factors_but_not_with_an_input(tmp_path: Path) -> None:
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "--scale", "tiny", "--factor", "1,4",
        "--input", "README.md", "--results", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 2
    assert "--input is one size; several sizes need generated data" in out.stderr


def test_scale_size_of_explicit_rows_round_trips() -> None:
    from harness import registry

    workload = registry.get_workload("logreg")
    for rows in (1, 3_700_000, 1_234_567, 12_800_001):
        factor = rows / workload.scale_sizes["small"]
        assert datasets.scale_size(workload, "small", factor) == rows


@pytest.mark.slow
def test_a_tiny_ladder_on_numpy_and_spark_end_to_end_with_its_fits(tmp_path: Path) -> None:
    """A real 3-size ladder: records, the report's scaling.json, and --predict."""
    results, report = tmp_path / "r", tmp_path / "report"
    out = run_cli(
        "scale", "-w", "logreg", "-e", "numpy,spark/rdd", "--rules", "off", "--scale", "tiny",
        "--factor", "1,4,16", "--repeats", "2", "--results", str(results),
        "--report", str(report), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert {r.status for r in _records(results)} == {"ok"}
    fitted = json.loads((report / "scaling.json").read_text())["logreg"]
    assert set(fitted) == {"numpy/default", "spark/rdd"}
    for cell in fitted.values():
        assert cell["sizes"] == [2_000, 8_000, 32_000]
        assert cell["fixed_s"] >= 0 and cell["per_million_s"] >= 0
        assert cell["fixed_s"] + cell["per_million_s"] > 0
        assert isinstance(cell["held_out_error"], float)
        assert cell["memory"]["per_million_bytes"] is not None
        assert cell["first_iteration"] is not None and cell["later_iterations"] is not None
        assert cell["oom_at_rows"] is None
        (cross,) = cell["crossovers"]
        assert cross["kind"] in ("measured", "extrapolated", "never")
    assert "Scaling" in (report / "index.html").read_text()
    assert "| numpy/default |" in (report / "summary.md").read_text()
    predicted = run_cli("scale", "--predict", "1e6", "--results", str(results))
    assert predicted.returncode == 0, predicted.stderr
    assert "logreg at 1,000,000 points" in predicted.stdout
    assert "numpy/default" in predicted.stdout and "spark/rdd" in predicted.stdout


def test_predict_without_two_sizes_is_one_line(tmp_path: Path) -> None:
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "--scale", "tiny", "--repeats", "1",
        "--results", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    predicted = run_cli("scale", "--predict", "1e6", "--results", str(tmp_path))
    assert predicted.returncode == 2
    assert predicted.stderr.strip().endswith("was measured at two sizes or more")
    bad = run_cli("scale", "--predict", "many", "--results", str(tmp_path))
    assert bad.returncode == 2 and "not a number of rows: 'many'" in bad.stderr


def test_the_ladders_own_defaults_and_runs_unchanged() -> None:
    from harness.cli import build_parser

    ladder = build_parser().parse_args(["scale"])
    assert (ladder.rules, ladder.timeout, ladder.max_call) == ("off", 600.0, 180.0)
    assert build_parser().parse_args(["scale", "--rules", "both"]).rules == "both"
    run = build_parser().parse_args(["run"])
    assert (run.rules, run.timeout) == ("auto", 1800.0)
