"""A loaded machine is visible: what else used the CPUs while each run was timed, the load at
batch start, and warnings in the run summary and the report (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from harness import load
from harness.results import ResultsWriter, RunRecord, load_records
from harness.rules import RulesMode
from plugin_workloads import BURN


def test_others_share_is_the_machine_busy_time_less_the_runs() -> None:
    cores = load.cores()
    start = load.Mark(load.SystemCpu(busy=100.0, steal=5.0, at=10.0), {}, 0.0)
    end = load.Mark(
        load.SystemCpu(busy=100.0 + 2.0 * cores, steal=5.0 + 0.1 * cores, at=12.0), {}, 0.0
    )
    # 2 s on every core busy, the run used 1 CPU second of it: others used the rest.
    figures = load.window_figures(load.cpu_window([start, end]), run_cpu_s=1.0)
    assert figures["others_cpu_share"] == pytest.approx((2.0 * cores - 1.0) / (2.0 * cores))
    assert figures["steal_share"] == pytest.approx(0.05)
    assert load.busy_reason(figures) is not None
    assert load.busy_reason({"others_cpu_share": 0.01, "steal_share": 0.0}) is None


@pytest.fixture
def burners() -> Iterator[None]:
    """Keep every core busy with processes that are not bdbench's."""
    code = BURN.format(t=120)
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(load.cores())]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_a_run_on_a_busy_machine_is_flagged_in_summary_and_report(
    tmp_path: Path, burners: None
) -> None:
    out = run_cli(
        "run", "-w", "t_burner", "-e", "numpy", "-s", "tiny", "-r", "2", "--warmups", "0",
        "--no-progress", "--results", str(tmp_path / "r"), "--report", str(tmp_path / "rep"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (path,) = (tmp_path / "r").glob("*.jsonl")
    for record in load_records(path):
        # the burners held every core; the run got its share and the others the rest
        assert record.metrics["others_cpu_share"] > load.BUSY_OTHERS_SHARE
        assert record.metrics["load1"] is not None
    assert "Warning: busy machine. 2 of 2 measured runs were timed on a busy machine" in (
        " ".join(out.stdout.split())
    )
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "> **Warning: busy machine.** 2 of 2 measured runs" in summary
    assert 'class="warning"' in (tmp_path / "rep" / "index.html").read_text()
    env = (tmp_path / "r" / path.name.replace(".jsonl", ".env.json")).read_text()
    assert '"busy_processes"' in env and '"load_avg"' in env


def test_a_quiet_batch_has_no_warning(tmp_path: Path) -> None:
    from reports.busy import busy_warnings

    def record(share: float) -> RunRecord:
        return RunRecord(
            batch_id="q", workload="wordcount", engine="numpy", variant="default",
            rules=RulesMode.NONE,
            scale="tiny", params={}, repeat=0, is_warmup=False, status="ok",
            metrics={"others_cpu_share": share},
        )  # fmt: skip

    env = {"q": {"load": {"load_avg": [0.2, 0.3, 0.3], "cores": 2, "busy_processes": []}}}
    assert busy_warnings([record(0.01), record(0.02)], env) == []
    (line,) = busy_warnings([record(0.01), record(0.5)], env)
    assert line.startswith("1 of 2 measured runs were timed on a busy machine")
    writer = ResultsWriter(tmp_path, "q")
    writer.append(record(0.01))
    assert load_records(writer.path)[0].metrics["others_cpu_share"] == 0.01


def test_the_report_says_how_each_cell_is_implemented(tmp_path: Path) -> None:
    from harness import cli
    from harness.cells import expand_cells
    from harness.engines import EngineOptions
    from reports.html import build_report

    cells = expand_cells(["wordcount"], ["numpy", "spark"], "off")
    env = cli._environment("bdbench run", cells, EngineOptions())
    how = env["implementations"]
    assert how["wordcount numpy/default"].startswith("Count the words of every input file")
    assert "reduceByKey" in how["wordcount spark/rdd"]
    # What a cell's time consists of, where its implementation says.
    assert "first-query cost" in env["implementation_notes"]["wordcount spark/df"]
    writer = ResultsWriter(tmp_path, "h")
    writer.write_env({**env, "batch_id": "h"})
    writer.append(
        RunRecord(
            batch_id="h", workload="wordcount", engine="numpy", variant="default",
            rules=RulesMode.NONE,
            scale="tiny", params={}, repeat=0, is_warmup=False, status="ok", wall_s=1.0,
        )
    )  # fmt: skip
    writer.append(
        RunRecord(
            batch_id="h", workload="wordcount", engine="spark", variant="df", rules=RulesMode.OFF,
            scale="tiny", params={}, repeat=0, is_warmup=False, status="ok", wall_s=1.0,
        )
    )  # fmt: skip
    build_report([writer.path], tmp_path / "rep")
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "- numpy/default: Count the words of every input file" in summary
    (df_line,) = [line for line in summary.splitlines() if line.startswith("- spark/df:")]
    assert "Its time: " in df_line and "first-query cost" in df_line
    assert (
        "<dt>numpy/default</dt><dd>Count the words" in (tmp_path / "rep" / "index.html").read_text()
    )
