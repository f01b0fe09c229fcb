"""Busyness is judged over enough time, and the local cluster's daemons are not "other
processes": a timed region of a few ms on a quiet machine is not called busy, one beside a CPU
burner per core still is (issue: the busy-machine warning fires on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from harness import load, metrics, probe, runner
from harness.clusters import local
from harness.contract import RunResult
from harness.results import RunRecord
from harness.rules import RulesMode
from plugin_workloads import BURN
from reports.busy import busy_warnings, too_short_note
from reports.data import load_results

W, CHILD, GONE, DAEMON, PARKED = (101, 1.0), (102, 2.0), (103, 3.0), (201, 0.5), (301, 0.7)


def mark(
    at: float,
    busy: float,
    tree: dict[probe.ProcKey, float] | None = None,
    harness: float = 0.0,
    daemons: dict[probe.ProcKey, float] | None = None,
    idle: dict[probe.ProcKey, float] | None = None,
    reaped: dict[probe.ProcKey, tuple[int, float]] | None = None,
    fresh: bool = False,
) -> load.Mark:
    """A mark with the machine's busy CPU seconds ``busy`` at monotonic time ``at``."""
    system = load.SystemCpu(busy, None, at)
    return load.Mark(system, tree or {}, harness, daemons or {}, idle or {}, reaped or {}, fresh)


# -- the window arithmetic, with constructed marks ------------------------------------------------


def test_a_tick_in_a_few_ms_region_is_judged_over_half_a_second() -> None:
    # The case: a 3 ms region in which the kernel counted one 10 ms tick that was not
    # the worker's (the runner answering it, say). Over its own edges that reads as 100% busy.
    before = mark(10.0, 100.0)
    start = mark(10.6, 100.2, tree={W: 0.19}, harness=0.01)
    end = mark(10.603, 100.21, tree={W: 0.19}, harness=0.01)
    narrow = load.window_figures(load.cpu_window([start, end]))
    assert load.busy_reason(narrow) is not None

    window = load.judged_window([before, start, end], start, end)
    assert window is not None
    assert window.seconds == pytest.approx(0.603)  # back to the newest mark 0.5 s before its end
    figures = load.window_figures(window)
    assert figures["others_window_s"] == pytest.approx(0.603)
    # busy 0.21 = the worker born inside (0.19) + the runner (0.01) + one tick of others
    assert figures["others_cpu_share"] == pytest.approx(0.01 / (0.603 * load.cores()))
    assert load.busy_reason(figures) is None


def test_a_region_with_no_mark_half_a_second_before_its_end_is_too_short_to_judge() -> None:
    start, end = mark(10.3, 100.0), mark(10.303, 100.01)
    assert load.judged_window([mark(10.0, 99.0), start, end], start, end) is None


def test_a_long_region_is_judged_over_its_own_edges() -> None:
    start, end = mark(11.0, 100.0, tree={W: 1.0}), mark(12.0, 101.0, tree={W: 1.9})
    window = load.judged_window([mark(10.0, 99.0), start, mark(11.5, 100.5), end], start, end)
    assert window is not None and window.seconds == pytest.approx(1.0)
    assert window.tree_s == pytest.approx(0.9)


def test_others_are_the_machine_less_the_tree_the_harness_and_the_daemons() -> None:
    first = mark(
        0.0, 50.0, tree={W: 5.0, GONE: 1.0}, harness=2.0, daemons={DAEMON: 30.0},
        idle={PARKED: 9.0},
    )  # fmt: skip
    # GONE ends after this mark: it counts up to the last mark that saw it.
    middle = mark(0.5, 51.0, tree={W: 5.4, GONE: 1.2, CHILD: 0.1}, harness=2.1)
    last = mark(
        1.0, 52.6, tree={W: 5.8, CHILD: 0.3}, harness=2.2, daemons={DAEMON: 30.4},
        idle={PARKED: 9.1},
    )  # fmt: skip
    window = load.cpu_window([first, middle, last])
    assert window.busy_s == pytest.approx(2.6)
    # W 0.8, GONE 0.2, CHILD born inside 0.3
    assert window.tree_s == pytest.approx(1.3)
    assert window.harness_s == pytest.approx(0.2)
    assert window.daemons_s == pytest.approx(0.4)
    # all of bdbench's processes, a parked worker's 0.1 with them
    assert window.ours_s == pytest.approx(1.8)
    figures = load.window_figures(window)
    assert figures["others_cpu_share"] == pytest.approx(0.6 / load.cores())
    # getrusage saw more of the run than the samples: the larger count is the run's.
    larger = load.window_figures(window, run_cpu_s=1.5)
    assert larger["others_cpu_share"] == pytest.approx(0.4 / load.cores())


def test_a_child_reaped_inside_counts_once_in_its_parents_figure() -> None:
    # W's figures include the CPU of the children it reaped (``reaped``: parent pid, that
    # part). CHILD had used 0.2 at the first mark and 0.5 when W reaped it; W itself 0.1 more.
    runner_pid = 1
    first = mark(
        0.0, 10.0, tree={W: 1.0, CHILD: 0.2}, reaped={W: (runner_pid, 0.0), CHILD: (W[0], 0.0)}
    )
    last = mark(1.0, 10.4, tree={W: 1.6}, reaped={W: (runner_pid, 0.5)})
    assert load.cpu_window([first, last]).tree_s == pytest.approx(0.4)
    # The worker itself is reaped by the runner, which no party holds: up to its last figure.
    gone = mark(2.0, 10.5)
    assert load.cpu_window([first, last, gone]).tree_s == pytest.approx(0.4)


def test_a_child_its_parent_let_the_kernel_reap_counts_up_to_its_last_figure() -> None:
    # pyspark's daemon ignores SIGCHLD: its reaped part never grows.
    reaped = {W: (1, 0.0), CHILD: (W[0], 0.0)}
    first = mark(0.0, 10.0, tree={W: 1.0, CHILD: 0.2}, reaped=reaped)
    middle = mark(0.5, 10.3, tree={W: 1.1, CHILD: 0.4}, reaped=reaped)
    last = mark(1.0, 10.4, tree={W: 1.2}, reaped={W: (1, 0.0)})
    assert load.cpu_window([first, middle, last]).tree_s == pytest.approx(0.4)


def test_a_worker_parked_between_two_probes_counts_all_along() -> None:
    # The run's worker (its probe's tree), then parked for a later cell (the next probe's idle
    # workers): one process of bdbench's throughout, its CPU between the probes included.
    measured = mark(0.0, 10.0, tree={W: 5.0})
    parked = mark(0.6, 10.7, idle={W: 5.5}, fresh=True)
    last = mark(0.9, 10.9, tree={CHILD: 0.2}, idle={W: 5.6})
    window = load.cpu_window([measured, parked, last])
    assert window.ours_s == pytest.approx(0.8)
    assert load.window_figures(window)["others_cpu_share"] == pytest.approx(
        0.1 / (0.9 * load.cores())
    )


def test_a_process_a_fresh_probe_found_running_counts_from_where_it_was_found() -> None:
    # A shared worker (or a daemon) running long before this probe began: its CPU until then
    # is not the window's, unlike a process born inside, which counts from 0.
    first = mark(0.0, 10.0)
    found = mark(0.2, 10.1, tree={W: 40.0}, daemons={DAEMON: 300.0}, fresh=True)
    last = mark(0.8, 10.9, tree={W: 40.5, CHILD: 0.1}, daemons={DAEMON: 300.1})
    window = load.cpu_window([first, found, last])
    assert window.tree_s == pytest.approx(0.6)
    assert window.daemons_s == pytest.approx(0.1)


def test_the_next_probe_goes_on_from_the_marks_of_the_one_before() -> None:
    history = probe.MarkHistory()
    history.begin()
    history.resume()
    history.add(mark(time.monotonic(), 0.0, fresh=True))
    history.stopped()
    history.resume()  # the next worker's probe: its first short calls judge from these
    assert len(history.marks()) == 2


def test_the_marks_start_afresh_when_a_child_was_reaped_between_probes() -> None:
    history = probe.MarkHistory()
    history.begin()
    history.stopped()
    # A worker released, a tool run while preparing a cell: CPU no probe saw, at no known time.
    subprocess.run([sys.executable, "-c", BURN.format(t=0.1)], check=True)
    history.resume()
    assert history.marks() == []


def test_a_region_too_short_to_judge_is_said_so_never_busy() -> None:
    seen = probe.ProbeResult(
        0, 0.003, 2, 1, 0.001, region_s=0.003, judged=None, daemon_cpu_s=0.02, load1=0.1
    )
    fields = runner.merge(RunResult(status="ok", wall_s=0.003), seen, 0)
    metrics = fields["metrics"]
    assert metrics["busy_too_short"] is True and "others_cpu_share" not in metrics
    assert metrics["cluster_daemon_cpu_s"] == 0.02

    def record(metrics: dict[str, object], wall_s: float = 0.003) -> RunRecord:
        return RunRecord(
            batch_id="s", workload="wordcount", engine="numpy", variant="default",
            rules=RulesMode.NONE,
            scale="tiny", params={}, repeat=0, is_warmup=False, status="ok", wall_s=wall_s,
            metrics=metrics,
        )  # fmt: skip

    # Records from before the widened windows: a few-ms region judged over its own edges.
    legacy = record({"others_cpu_share": 1.0})
    assert load.too_short_to_judge(legacy.metrics, legacy.wall_s)
    short = [record(metrics), legacy]
    assert busy_warnings(short, {}) == []
    assert (too_short_note(short) or "").startswith("2 of 2 measured runs were too short to judge")
    busy = record({"others_cpu_share": 0.6, "others_window_s": 0.55})
    (line,) = busy_warnings([*short, busy], {})
    assert line.startswith("1 of 3 measured runs were timed on a busy machine")
    assert "2 were too short to judge" in line


# -- the cluster's daemons ------------------------------------------------------------------------


@pytest.fixture
def burners() -> Iterator[list[subprocess.Popen[bytes]]]:
    """One CPU burner per core, not bdbench's; always killed."""
    code = "while True: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(load.cores())]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _sampled_region(daemons: Sequence[int], parked: Sequence[int] = ()) -> probe.ProbeResult:
    """A 0.7 s timed region of an idle tree, sampled with ``daemons`` as the cluster's and
    ``parked`` as bdbench's idle workers."""
    idle = subprocess.Popen(["sleep", "30"])
    try:
        sampler = probe.TreeSampler(
            idle.pid, daemon_pids=daemons, idle_roots=parked, history=probe.MarkHistory()
        )
        sampler.start()
        sampler.mark_start()
        time.sleep(0.7)
        sampler.mark_end()
        sampler.stop()
        return sampler.windows[0]
    finally:
        idle.kill()
        idle.wait()


def test_the_cluster_daemons_cpu_is_recorded_apart_not_as_others(
    burners: list[subprocess.Popen[bytes]],
) -> None:
    pids = [p.pid for p in burners]
    apart = _sampled_region(pids)
    assert apart.judged is not None and apart.daemon_cpu_s is not None
    # The daemons held every core; none of it is other processes'.
    assert apart.daemon_cpu_s > 0
    assert load.busy_reason(load.window_figures(apart.judged)) is None
    # The same processes, not named as the cluster's: the machine was busy.
    others = _sampled_region([])
    assert others.judged is not None and others.daemon_cpu_s is None
    assert load.busy_reason(load.window_figures(others.judged)) is not None


def test_children_too_short_lived_for_any_sample_are_the_runs() -> None:
    # A worker running one short task process after another (mrjob's local runner, pyspark's
    # forked Python workers): most live and die between two samples.
    tasks = (
        "import subprocess, sys, time\n"
        f"for _ in range(8): subprocess.run([sys.executable, '-c', {BURN.format(t=0.05)!r}])\n"
        "time.sleep(30)"
    )
    worker = subprocess.Popen([sys.executable, "-c", tasks])
    try:
        sampler = probe.TreeSampler(worker.pid, history=probe.MarkHistory())
        sampler.start()
        sampler.mark_start()
        time.sleep(0.7)
        sampler.mark_end()
        sampler.stop()
    finally:
        worker.kill()
        worker.wait()
    judged = sampler.windows[0].judged
    assert judged is not None and judged.tree_s > sampler.windows[0].cpu_s
    assert load.busy_reason(load.window_figures(judged)) is None


def test_bdbench_idle_workers_are_not_other_processes(
    burners: list[subprocess.Popen[bytes]],
) -> None:
    # Workers kept for later cells (--share-engines) are bdbench's own, like the runner.
    seen = _sampled_region([], parked=[p.pid for p in burners])
    assert seen.judged is not None and seen.judged.ours_s > seen.judged.tree_s
    assert load.busy_reason(load.window_figures(seen.judged)) is None


def test_the_batch_start_lists_the_cluster_daemons_apart(
    burners: list[subprocess.Popen[bytes]],
) -> None:
    pids = [p.pid for p in burners]
    snap = load.snapshot(daemons=pids)
    assert {p["pid"] for p in snap["cluster_daemons"]} == set(pids)
    assert not {p["pid"] for p in snap["busy_processes"]} & set(pids)
    assert "cluster_daemons" not in load.snapshot(interval=0.05)


def test_the_daemon_pids_come_from_the_cluster_state(tmp_path: Path) -> None:
    from harness.clusters import daemons

    alive = daemons.start("namenode", ["sleep", "30"], tmp_path / "nn.log")
    dead = daemons.start("datanode", ["true"], tmp_path / "dn.log")
    worker = daemons.start("spark worker 1", ["sleep", "30"], tmp_path / "w.log")
    time.sleep(0.5)  # it exits at once (a zombie until reaped: not running either)
    try:
        state = {
            "hadoop": {"daemons": {"namenode": alive.to_json(), "datanode": dead.to_json()}},
            "spark": {"handles": [worker.to_json()]},
        }
        (tmp_path / "state.json").write_text(json.dumps(state))
        assert local.all_daemon_pids(tmp_path) == [alive.pid, worker.pid]
        assert local.all_daemon_pids(tmp_path / "none") == []
    finally:
        daemons.stop(alive)
        daemons.stop(worker)


# -- real batches of a few-ms workload ------------------------------------------------------------


def _batch(tmp_path: Path) -> tuple[list[RunRecord], dict[str, dict[str, Any]]]:
    """numpy word count at tiny scale (calls of about 3 ms) through the real runner."""
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "-s", "tiny", "--no-progress",
        "--results", str(tmp_path / "r"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    results = load_results(list((tmp_path / "r").glob("*.jsonl")))
    return results.records, results.environments


def test_short_calls_on_a_quiet_machine_are_judged_and_not_busy(tmp_path: Path) -> None:
    records, env = _batch(tmp_path)
    values = [r for r in records if not r.is_warmup and r.status == "ok"]
    assert values and max(r.wall_s or 0.0 for r in values) < load.JUDGE_MIN_S
    assert busy_warnings(records, env) == []
    # Every value judged: windows widened back across the worker's start-up, and across the
    # batch's start for its first worker (the probes' marks begin before the machine snapshot).
    for record in values:
        assert record.metrics["others_cpu_share"] <= load.BUSY_OTHERS_SHARE
        assert record.metrics["others_window_s"] >= load.JUDGE_MIN_S
        assert metrics.undeclared(record.metrics) == []
    assert too_short_note(records) is None


def test_short_calls_beside_a_cpu_burner_per_core_are_busy(
    tmp_path: Path, burners: list[subprocess.Popen[bytes]]
) -> None:
    records, env = _batch(tmp_path)
    values = [r for r in records if not r.is_warmup and r.status == "ok"]
    judged = [r for r in values if "others_cpu_share" in r.metrics]
    assert judged
    for record in judged:
        assert load.busy_reason(record.metrics, record.wall_s) is not None
    lines = busy_warnings(records, env)
    assert any("measured runs were timed on a busy machine" in line for line in lines)


def test_a_batch_start_is_busy_by_its_busy_processes_not_a_trailing_load_average() -> None:
    after_other_work = {"load": {"load_avg": [2.4, 3.3, 2.6], "cores": 2, "busy_processes": []}}
    assert busy_warnings([], {"b": after_other_work}) == []
    burner = {"pid": 7, "cpu_share": 0.99, "command": "python -c burn"}
    busy = {"load": {**after_other_work["load"], "busy_processes": [burner]}}
    (line,) = busy_warnings([], {"b": busy})
    assert line == "batch b started at load 2.4 on 2 cores; busy: python -c burn (99%)"
