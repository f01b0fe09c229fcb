"""The runner: worker processes, warm-ups, failures, timeouts, skips, process-tree probe."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import needs_java
from harness import metrics, probe, runner
from harness.results import ResultsWriter, RunRecord, load_records
from harness.rules import RulesMode
from plugin_workloads import ALLOCATE, PIDFILE_ENV


def _batch(
    tmp_path: Path, workloads: list[str], engines: list[str] | None = None, **config: object
) -> list[RunRecord]:
    cells = runner.expand_cells(workloads, engines or ["numpy"])
    settings: dict[str, object] = {"scales": ["tiny"], "repeats": 1, "warmups": 0, "timeout": 60.0}
    settings.update(config)
    writer = ResultsWriter(tmp_path / "results", "batch-test")
    writer.ensure_writable()
    records = runner.run_batch(cells, runner.RunConfig(**settings), writer)  # type: ignore[arg-type]
    assert [r.to_json() for r in load_records(writer.path)] == [r.to_json() for r in records]
    return records


def test_warmups_are_recorded_and_flagged(tmp_path: Path) -> None:
    records = _batch(tmp_path, ["wordcount"], repeats=2, warmups=1)
    assert [(r.is_warmup, r.repeat) for r in records] == [(True, 0), (False, 0), (False, 1)]
    for record in records:
        assert record.status == "ok" and record.check == "pass"
        assert record.answer_digest and len(record.answer_digest) == 64
        assert record.wall_s and record.wall_s > 0
        assert record.startup_s is not None and record.startup_s >= 0
        assert record.peak_rss_bytes and record.peak_rss_bytes > 10 * 2**20
        assert record.metrics["items"] == 20_000
        assert record.metrics["probe_samples"] >= 2
        # What the engine declares travels with every record (reports read it, not names).
        assert record.role["placement"] == "single machine" and record.role["baseline"] is True
    # one worker process made the three calls (tests/test_stopping.py checks the pids); each
    # call is its own record with its own digest
    assert [(r.process, r.call) for r in records] == [(0, 0), (0, 1), (0, 2)]
    assert len({r.run_id for r in records}) == 3
    assert len({r.answer_digest for r in records}) == 1


def test_crash_is_a_failed_record_and_the_batch_goes_on(tmp_path: Path) -> None:
    records = _batch(tmp_path, ["t_crashy", "t_liar", "t_baddata", "wordcount"])
    by_name = {r.workload: r for r in records}
    assert by_name["t_crashy"].status == "failed"
    assert by_name["t_crashy"].error == "ValueError: boom: deliberate failure"
    assert "Traceback" in by_name["t_crashy"].metrics["traceback"]
    assert by_name["t_liar"].status == "failed"
    assert by_name["t_liar"].check == "fail"
    undeclared = _batch(tmp_path / "undeclared", ["t_undeclared"])[0]
    assert undeclared.status == "failed" and undeclared.error == (
        "undeclared metric(s) bogus_figure: declare them with harness.metrics.declare"
    )
    assert "answer check failed" in (by_name["t_liar"].error or "")
    assert by_name["t_baddata"].status == "failed"
    assert by_name["t_baddata"].error == (
        "data preparation failed: RuntimeError: generator exploded"
    )
    assert by_name["wordcount"].status == "ok"


def test_timeout_kills_the_whole_process_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv(PIDFILE_ENV, str(pidfile))
    (record,) = _batch(tmp_path, ["t_sleepy"], timeout=4.0)  # the workload would sleep 600 s
    assert record.status == "timeout"
    # Said once: how long, and what was killed (the worker, its grandchild).
    said = r"timed out after 4 s; killed [1-9]\d* processes of the run"
    assert re.fullmatch(said, record.error or "")
    grandchild, worker = (int(x) for x in pidfile.read_text().split())
    for pid in (grandchild, worker):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_unavailable_cell_is_a_skipped_record_with_reason(tmp_path: Path) -> None:
    records = _batch(
        tmp_path,
        ["wordcount"],
        ["mrjob/hadoop", "numpy"],
        repeats=2,
        warmups=1,
    )
    skipped = [r for r in records if r.status == "skipped"]
    assert len(skipped) == 1
    assert skipped[0].variant == "hadoop"
    assert "no hadoop binary" in (skipped[0].error or "")
    assert [r.status for r in records if r.engine == "numpy"] == ["ok"] * 3


def test_rules_field_is_separate_and_skipped_until_rules_exist(tmp_path: Path) -> None:
    cells = runner.expand_cells(["wordcount"], ["spark/df", "numpy"], rules="both")
    assert {(c.engine, c.variant, c.rules) for c in cells} == {
        ("spark", "df", RulesMode.OFF),
        ("spark", "df", RulesMode.ON),
        ("numpy", "default", RulesMode.NONE),
    }


def test_probe_sees_a_child_process_memory(tmp_path: Path) -> None:
    (record,) = _batch(tmp_path, ["t_hog"])
    assert record.status == "ok"
    assert record.peak_rss_bytes is not None and record.peak_rss_bytes >= 200 * 2**20
    assert record.metrics["peak_procs"] >= 2


def test_cpu_of_short_lived_children_is_counted(tmp_path: Path) -> None:
    (record,) = _batch(tmp_path, ["t_burner"])
    assert record.status == "ok"
    # the child burns ~1 CPU s and exits between samples; rusage catches it
    assert record.cpu_s is not None and record.cpu_s >= 0.8


def test_tree_sampler_sums_the_tree_directly() -> None:
    code = ALLOCATE.format(n=200 * 2**20, t=2.0)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess,sys; subprocess.run([sys.executable,'-c',{code!r}])",
        ]
    )
    try:
        sampler = probe.TreeSampler(parent.pid, interval=0.02)
        sampler.start()
        sampler.mark_start()
        parent.wait(timeout=30)
        sampler.mark_end()
        sampler.stop()
        seen = sampler.result()
    finally:
        parent.kill()
    assert seen.peak_rss_bytes >= 200 * 2**20
    assert seen.max_procs == 2
    assert seen.probe_cpu_s < 1.0


def test_expand_cells_rejects_unknown_names() -> None:
    from harness.errors import UserError

    with pytest.raises(UserError, match="unknown workload 'nope'"):
        runner.expand_cells(["nope"], None)
    with pytest.raises(UserError, match="unknown engine 'flink'"):
        runner.expand_cells(None, ["flink"])
    with pytest.raises(UserError, match="unknown variant 'sql' of engine 'spark'"):
        runner.expand_cells(None, ["spark/sql"])


def test_no_test_leaves_worker_processes() -> None:
    # The test session's one shared SparkSession (fixture spark_engine) lives until the end.
    shared: set[int] = set()
    context = sys.modules.get("pyspark.context")
    gateway = getattr(getattr(context, "SparkContext", None), "_gateway", None)
    jvm = getattr(gateway, "proc", None)
    if jvm is not None and jvm.poll() is None:
        root = psutil.Process(jvm.pid)
        shared = {root.pid} | {p.pid for p in root.children(recursive=True)}
    mine = [p for p in psutil.Process(os.getpid()).children(recursive=True)]
    assert [p for p in mine if p.pid not in shared] == []


def test_interrupted_batch_kills_its_run_and_keeps_written_records(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    env = dict(os.environ, **{PIDFILE_ENV: str(pidfile)})
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "-w",
            "wordcount,t_sleepy",
            "-e",
            "numpy",
            "-s",
            "tiny",
            "-r",
            "1",
            "--warmups",
            "0",
            "--results",
            str(results),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pidfile.exists()
    time.sleep(0.3)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143  # 128 + SIGTERM
    assert err.strip().splitlines()[-1] == "bdbench: interrupted"
    grandchild, worker = (int(x) for x in pidfile.read_text().split())
    for pid in (grandchild, worker):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    (path,) = results.glob("*.jsonl")
    records = load_records(path)
    assert [(r.workload, r.status) for r in records] == [("wordcount", "ok")]


@needs_java
def test_shared_engines_serve_later_cells_but_never_two_processes_of_one(tmp_path: Path) -> None:
    # --share-engines: an idle Spark worker takes the next cell with the same settings; a
    # cell's second process still gets an engine that never measured that cell.
    records = _batch(
        tmp_path, ["wordcount"], ["spark/rdd", "spark/df"],
        repeats=2, values=1, share_engines=True, timeout=300.0,
    )  # fmt: skip
    assert all(r.status == "ok" and r.check == "pass" for r in records), records
    app = {(r.variant, r.process): r.engine_info["app_id"] for r in records}
    assert sorted(app) == [("df", 0), ("df", 1), ("rdd", 0), ("rdd", 1)]
    assert app["rdd", 0] != app["rdd", 1]
    assert app["df", 0] == app["rdd", 1]  # the idle engine served the next cell
    assert app["df", 1] not in (app["rdd", 0], app["rdd", 1])
    shared = {(r.variant, r.process): r.metrics.get("engine_shared_after") for r in records}
    assert all(metrics.undeclared(r.metrics) == [] for r in records)
    assert shared == {("rdd", 0): None, ("rdd", 1): None, ("df", 0): 1, ("df", 1): None}
    # Every worker, idle ones included, is gone with the batch (a zombie of another test's
    # child is not one: it has no command line left to read).
    workers = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "harness.worker" in " ".join(proc.cmdline()):
                workers.append(proc)
    assert workers == []
