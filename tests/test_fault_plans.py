"""Fault plans without a cluster: parsing, the slowdown against controls, the engines' own
accounts, losing a node's whole process tree, the injector's timing, iterations reported over
the control socket, the Recovery section and the fault claim, and bad input (one line each).
The real cluster's faults are in test_cluster.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.clusters import daemons, nodes
from harness.clusters.nodes import Node
from harness.engines.mrjob_engine import task_attempts
from harness.faults import (
    FaultPlan,
    FaultTarget,
    Injector,
    PlanError,
    lost_iteration,
    recovery_against,
    slowdown,
)
from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.claims import DOES_NOT_HOLD, HOLDS, NOT_MEASURED, RECOVERY_CLAIM, check_claims
from reports.data import load_results
from reports.html import build_report
from reports.recovery import recovery_rows


def test_plans_parse_and_say_themselves() -> None:
    plan = FaultPlan.parse("kill-worker@iteration=3")
    assert (plan.kind, plan.iteration, plan.seconds, plan.node) == ("kill-worker", 3, None, None)
    assert plan.label == "kill-worker@iteration=3"
    timed = FaultPlan.parse(" kill-worker@seconds=12.5,node=2 ")
    assert (timed.seconds, timed.node, timed.label) == (12.5, 2, "kill-worker@seconds=12.5,node=2")
    assert timed.to_json()["at"] == {"seconds": 12.5}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("explode@iteration=1", "unknown fault 'explode' (known: kill-worker)"),
        ("kill-worker", "expected KIND@iteration=K"),
        ("kill-worker@iteration=0", "expected KIND@iteration=K"),
        ("kill-worker@iteration=x", "expected KIND@iteration=K"),
        ("kill-worker@seconds=-1", "expected KIND@iteration=K"),
        ("kill-worker@iteration=2,node=0", "expected KIND@iteration=K"),
    ],
)
def test_bad_plans_are_one_line(text: str, says: str) -> None:
    with pytest.raises(PlanError) as caught:
        FaultPlan.parse(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_slowdown_against_the_controls_median() -> None:
    controls = [
        {"wall_s": 10.0, "iteration_s": [4.0, 2.0, 2.0, 2.0]},
        {"wall_s": 12.0, "iteration_s": [6.0, 2.0, 2.0, 2.0]},
    ]
    fault = {"wall_s": 14.0, "iteration_s": [5.0, 2.0, 5.0, 2.5]}
    found = slowdown(fault, controls, lost_iteration=3)
    assert found["slowdown_s"] == pytest.approx(3.0)
    assert found["slowdown_pct"] == pytest.approx(100 * 3.0 / 11.0)
    detail = found["slowdown"]
    assert detail["control_iteration_s"] == [5.0, 2.0, 2.0, 2.0]
    assert detail["iteration_s"] == [0.0, 0.0, 3.0, 0.5]
    assert (detail["lost_iteration"], detail["lost_iteration_s"]) == (3, 3.0)
    assert (detail["before_s"], detail["after_s"]) == (0.0, 0.5)
    assert slowdown(fault, [], 3) == {}  # no control: no slowdown


def test_the_lost_iteration_of_a_timed_plan_is_where_the_kill_fell() -> None:
    timed = FaultPlan.parse("kill-worker@seconds=5")
    assert lost_iteration(timed, {"at_s": 5.0}, [2.0, 2.0, 2.0, 2.0]) == 3
    assert lost_iteration(timed, None, [2.0]) is None
    assert lost_iteration(FaultPlan.parse("kill-worker@iteration=2"), {"at_s": 1}, []) == 3


def test_recovery_figures_against_the_controls() -> None:
    fault = {"killed_maps": 1, "launched_maps": 23, "per_job": [], "note": "x"}
    controls: list[dict[str, Any] | None] = [
        {"killed_maps": 0, "launched_maps": 20},
        {"killed_maps": 0, "launched_maps": 22},
    ]
    assert recovery_against(fault, controls) == {"killed_maps": 1, "launched_maps": 2}
    assert recovery_against(None, controls) == {}


def test_task_attempts_from_the_job_counters() -> None:
    """Hadoop's group name ends in a space and it prints only counters it incremented."""
    first = [{"Job Counters ": {"Launched map tasks": 2, "Launched reduce tasks": 1}}]
    second = [
        {
            "Job Counters ": {
                "Launched map tasks": 3,
                "Killed map tasks": 1,
                "Launched reduce tasks": 1,
            },
            "File System Counters": {"HDFS: Number of bytes read": 100},
        }
    ]
    found = task_attempts([first, second])
    assert (found["launched_maps"], found["killed_maps"], found["failed_maps"]) == (5, 1, 0)
    assert found["per_job"][1]["killed_maps"] == 1 and found["per_job"][0]["killed_maps"] == 0


# -- losing a node ----------------------------------------------------------------------------


def _fake_node(tmp_path: Path, index: int = 2, work: bool = True) -> Node:
    """A "worker node": a daemon (sleep in a shell) with a child, and a process in a session
    of its own running in the node's folder, as a YARN container would."""
    folder = tmp_path / f"node-{index}"
    (folder / "container_1_0001_01_000002").mkdir(parents=True)
    child = "sleep 120 & " if work else ""
    handle = daemons.start(
        f"fake worker {index}",
        ["bash", "-c", f"{child}exec sleep 120"],
        tmp_path / f"node-{index}.log",
    )
    if work:
        subprocess.Popen(
            ["setsid", "sleep", "120"],
            cwd=folder / "container_1_0001_01_000002",
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and work and len(nodes._in_folders([folder])) < 1:
        time.sleep(0.05)
    return Node("fake worker", f"fake worker {index}", index, handle, [folder])


def test_losing_a_node_kills_its_daemon_its_children_and_what_runs_in_its_folders(
    tmp_path: Path,
) -> None:
    node = _fake_node(tmp_path)
    escaped = nodes._in_folders(node.dirs)
    assert escaped, "the container-like process did not start"
    killed = nodes.kill(node)
    whats = [k["what"] for k in killed]
    assert whats[0] == "fake worker 2" or "fake worker 2" in whats
    assert any(w.startswith("container_1_0001_01_000002") for w in whats), whats
    assert not node.alive()
    assert not nodes._in_folders(node.dirs)
    for proc in escaped:
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


def test_containers_are_read_from_the_nodemanagers_pid_files(tmp_path: Path) -> None:
    base = tmp_path / "nm" / "nmPrivate" / "application_17_0003"
    for n in (1, 2):
        name = f"container_17_0003_01_00000{n}"
        (base / name).mkdir(parents=True)
        (base / name / f"{name}.pid").write_text("1\n")
    node = Node(
        "nodemanager", "nodemanager 2", 2, daemons.Handle("x", 1, 0.0, ""), [tmp_path / "nm"]
    )
    found = sorted(nodes.containers(node), key=lambda c: c.number)
    assert [(c.application, c.number, c.is_am) for c in found] == [
        ("application_17_0003", 1, True),
        ("application_17_0003", 2, False),
    ]


def _injector(
    monkeypatch: pytest.MonkeyPatch, fakes: list[Node], plan: str, armed: int = 1
) -> Injector:
    monkeypatch.setattr(nodes, "worker_nodes", lambda role, state=None: fakes)
    target = FaultTarget("fake worker", "executors", "fake worker")
    return Injector(FaultPlan.parse(plan), target, armed)


def test_the_injector_kills_after_the_planned_iteration_of_the_measured_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle, busy = _fake_node(tmp_path, 1, work=False), _fake_node(tmp_path, 2)
    injector = _injector(monkeypatch, [idle, busy], "kill-worker@iteration=2", armed=2)
    injector.hear("start")  # the warm-up: not armed
    injector.hear("iteration 2 0.5")
    injector.hear("end")
    assert injector.fired is None and busy.alive()
    injector.hear("start")
    injector.hear("iteration 1 0.5")
    assert injector.fired is None
    injector.hear("iteration 2 0.5")
    assert injector.fired is not None  # inline: done before the worker is answered
    injector.hear("end")
    injector.close()
    result = injector.result()
    assert result["injected"] and result["live_before"] == 2
    target = result["target"]
    # The node running work is the one lost; the idle one goes on.
    assert (target["name"], target["iterations_done"], target["live_after"]) == (
        "fake worker 2",
        2,
        1,
    )
    assert not busy.alive() and idle.alive()
    nodes.kill(idle)


def test_a_plan_the_run_ends_before_is_not_injected_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _fake_node(tmp_path)
    injector = _injector(monkeypatch, [node], "kill-worker@iteration=3")
    for word in ("start", "iteration 1 0.1", "iteration 2 0.1", "end"):
        injector.hear(word)
    injector.close()
    result = injector.result()
    assert not result["injected"]
    assert result["reason"] == (
        "the run reported 2 iteration(s); kill-worker@iteration=3 needs iteration 4 to lose "
        "the worker in"
    )
    assert node.alive()
    nodes.kill(node)


def test_iterations_are_reported_to_the_runner_as_they_end(tmp_path: Path) -> None:
    """A logreg call on an engine that reports its iterations says "iteration K S" for each
    one, between its "start" and "end", when the request asks for progress."""
    pytest.importorskip("polars")
    from harness import datasets, registry
    from harness.contract import RunRequest
    from harness.engines import EngineOptions
    from harness.worker import _Control, run_process

    workload = registry.get_workload("logreg")
    data = datasets.generated(workload, "tiny", 1.0, 1, tmp_path / "data")
    params = {**workload.params, "iterations": 3}
    datasets.reference_answer(workload, data, params)
    ours, theirs = socket.socketpair()
    words: list[str] = []

    def runner() -> None:
        buf = b""
        answers = iter(["value", "stop"])
        while True:
            chunk = ours.recv(256)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                word = line.decode()
                words.append(word)
                ours.sendall((next(answers, "stop") if word == "next" else "ok").encode() + b"\n")

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    request = RunRequest(
        workload="logreg", engine="polars", variant="lazy", rules=RulesMode.NONE,
        params=params, dataset=data.to_json(), prepared={},
        options=EngineOptions({}).to_json(), scratch=str(tmp_path),
        result_path=str(tmp_path / "results.json"), progress=True,
    )  # fmt: skip
    (result,) = run_process(request, _Control(theirs))
    theirs.close()
    thread.join(timeout=10)
    assert result.status == "ok", result.error
    timed = words[words.index("start") + 1 : words.index("end")]
    assert [w.split()[:2] for w in timed] == [
        ["iteration", "1"],
        ["iteration", "2"],
        ["iteration", "3"],
    ]
    assert [float(w.split()[2]) for w in timed] == pytest.approx(
        result.metrics["iteration_s"], abs=1e-5
    )
    assert result.metrics["iterations_reported"] == 3


# -- the report -------------------------------------------------------------------------------

SPARK_ROLE = {
    "placement": "cluster",
    "nodes": 2,
    "cores": 4,
    "baseline": False,
    "system": "Spark RDD",
}


def _run(
    role: str, wall: float | None, iterations: list[float], n: int = 10, **kw: Any
) -> RunRecord:
    fault: dict[str, Any] = {"plan": "kill-worker@iteration=5", "kind": "kill-worker",
                             "at": {"iteration": 5}, "node": None, "role": role}  # fmt: skip
    metrics: dict[str, Any] = {"iteration_s": iterations, "recovery": {"executors_lost": 0}}
    if role == "fault":
        target = {"role": "spark worker", "name": "spark worker 2", "node": 2}
        fault.update(armed=True, injected=True, live_before=2, target=target)
        metrics["recovery"] = {"executors_lost": 1, "loss_reasons": {"1": "worker lost"}}
        metrics["slowdown"] = {"lost_iteration": 6}
    params = {"iterations": n, "learning_rate": 0.5, "label": "label"}
    base: dict[str, Any] = dict(
        batch_id="faults", workload="logreg", engine="spark", variant="rdd",
        rules=RulesMode.OFF, scale="small", params=params, repeat=0, is_warmup=False,
        status="ok", wall_s=wall, check="pass", metrics=metrics, fault=fault,
        where="on standalone (2 workers)", role=SPARK_ROLE,
    )  # fmt: skip
    base.update(kw)
    return RunRecord(**base)


def _batch(slow: float, n: int = 10, failed: bool = False) -> list[RunRecord]:
    control = [1.0] * n
    lost = [1.0] * n
    lost[min(5, n - 1)] += slow
    fault = _run("fault", n + slow, lost, n)
    if failed:
        why = "the engine cannot recover: bdbench killed the only live worker"
        fault = _run("fault", None, [], n, status="failed", check="na", error=why)
    return [_run("control", float(n), control, n), _run("control", float(n), control, n), fault]


def _verdicts(records: list[RunRecord], tmp_path: Path) -> list[Any]:
    writer = ResultsWriter(tmp_path, "faults")
    for record in records:
        writer.append(record)
    results = load_results([writer.path])
    rows = recovery_rows(results.records, results.fault_records)
    (report,) = [c for c in check_claims(results.records, None, rows) if c.claim is RECOVERY_CLAIM]
    return report.verdicts


def test_fault_runs_are_kept_out_of_the_tables_but_their_controls_stay(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "faults")
    for record in _batch(1.5):
        writer.append(record)
    results = load_results([writer.path])
    assert [(r.fault or {})["role"] for r in results.records] == ["control", "control"]
    assert [(r.fault or {})["role"] for r in results.fault_records] == ["fault"]
    (row,) = recovery_rows(results.records, results.fault_records)
    assert (row.control_s, row.fault_s) == (10.0, 11.5)
    assert row.slowdown_s == pytest.approx(1.5) and row.slowdown_pct == pytest.approx(15.0)
    assert row.lost_iteration == 6 and row.lost_share == "1 of 2 Spark workers"
    assert row.account["executors_lost"] == 1
    assert row.loss_reason == "worker lost"


@pytest.mark.parametrize(
    ("slow", "failed", "verdict"),
    [(1.5, False, HOLDS), (3.5, False, DOES_NOT_HOLD), (0.0, True, DOES_NOT_HOLD)],
)
def test_the_fault_claim_holds_up_to_the_papers_21_percent(
    tmp_path: Path, slow: float, failed: bool, verdict: str
) -> None:
    (found,) = _verdicts(_batch(slow, failed=failed), tmp_path)
    assert found.verdict == verdict and not found.apart
    if not failed:
        assert f"{100 * slow / 10:+.0f}%" in found.why and "50 s / 21%" in found.why


def test_the_fault_claim_is_not_measured_without_ten_iterations(tmp_path: Path) -> None:
    verdicts = _verdicts(_batch(1.0, n=4), tmp_path)
    assert verdicts[0].verdict == NOT_MEASURED and not verdicts[0].apart
    assert verdicts[1].apart and "not the paper's 10 iterations" in verdicts[1].why


def test_the_report_has_a_recovery_section(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "results", "faults")
    writer.ensure_writable()
    for record in _batch(1.5):
        writer.append(record)
    index = build_report([writer.path], tmp_path / "report")
    html = index.read_text()
    assert 'href="#recovery"' in html and '<section id="recovery">' in html
    assert "worker killed after iteration 5" in html  # the chart's marker, in its alt text
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "## Recovery: what a lost worker cost" in summary and "+1.50 s (+15%)" in summary
    assert (tmp_path / "report" / "recovery.json").is_file()


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["-w", "logreg", "-e", "spark/rdd", "--inject", "explode@iteration=1"],
         "argument --inject: unknown fault 'explode' (known: kill-worker)"),
        (["-w", "logreg", "-e", "spark/rdd", "--inject", "kill-worker@iteration=20"],
         "--inject kill-worker@iteration=20: logreg runs 20 iterations (its default); a worker "
         "can be lost after iteration 1 to 19"),
        (["-w", "logreg", "-e", "spark/rdd", "--param", "iterations=3", "--inject",
          "kill-worker@iteration=3"],
         "--inject kill-worker@iteration=3: logreg runs 3 iterations (--param iterations); a "
         "worker can be lost after iteration 1 to 2"),
        (["-w", "logreg", "-e", "spark/df", "--inject", "kill-worker@iteration=1"],
         "logreg on spark/df does not report its iterations"),
        (["-w", "wordcount", "-e", "spark/rdd", "--inject", "kill-worker@iteration=1"],
         "wordcount has no iterations; use kill-worker@seconds=T"),
        (["-w", "logreg", "-e", "numpy", "--inject", "kill-worker@iteration=1"],
         "numpy/default runs on no worker node of the local cluster"),
        (["-w", "logreg", "-e", "spark/rdd", "--inject", "kill-worker@iteration=1",
          "--share-engines"], "--inject cannot share engines"),
    ],
)  # fmt: skip
def test_bad_fault_input_is_one_line_and_starts_nothing(
    tmp_path: Path, args: list[str], line: str
) -> None:
    from conftest import run_cli

    env = {**os.environ, "BDBENCH_CLUSTER_DIR": str(tmp_path / "cluster")}
    done = run_cli("run", "-s", "tiny", "--cluster", "local", *args,
                   "--results", str(tmp_path / "results"), env=env)  # fmt: skip
    assert done.returncode == 2
    (said,) = done.stderr.strip().splitlines()
    assert said.startswith("bdbench") and line in said, said
    assert not (tmp_path / "cluster").exists() and not (tmp_path / "results").exists()


def test_a_fault_needs_the_local_cluster(tmp_path: Path) -> None:
    from conftest import run_cli

    done = run_cli("run", "-w", "logreg", "-e", "spark/rdd", "-s", "tiny", "--inject",
                   "kill-worker@iteration=1", "--results", str(tmp_path / "r"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bdbench: error: --inject needs --cluster local (faults are injected into the local "
        "cluster's worker nodes)"
    ]
    assert sys.executable  # the CLI ran in this interpreter's environment
