"""How many values a cell gets: worker processes, warm-ups apart, the adaptive stopping rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import runner
from harness.results import ResultsWriter, RunRecord, load_records
from harness.stopping import STOP, VALUE, WARMUP, CellProgress, Policy, relative_half_width


def _batch(tmp_path: Path, workload: str, **config: object) -> list[RunRecord]:
    cells = runner.expand_cells([workload], ["numpy"])
    settings: dict[str, object] = {"scales": ["tiny"], "timeout": 60.0, **config}
    writer = ResultsWriter(tmp_path / "results", "stop-test")
    writer.ensure_writable()
    records = runner.run_batch(cells, runner.RunConfig(**settings), writer)  # type: ignore[arg-type]
    assert [r.to_json() for r in load_records(writer.path)] == [r.to_json() for r in records]
    return records


def test_values_share_a_process_and_its_cold_first_call_is_a_warm_up(tmp_path: Path) -> None:
    records = _batch(tmp_path, "t_cold", repeats=4, warmups=1, values=2)
    shape = [(r.process, r.call, r.is_warmup, r.repeat) for r in records]
    assert shape == [
        (0, 0, True, 0), (0, 1, False, 0), (0, 2, False, 1),
        (1, 0, True, 1), (1, 1, False, 2), (1, 2, False, 3),
    ]  # fmt: skip
    pids = [r.metrics["pid"] for r in records]
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5]
    # The cold call (a process's first) is only ever a warm-up; every value is a later call.
    assert [r.metrics["nth_call"] for r in records if r.is_warmup] == [1, 1]
    assert all(r.metrics["nth_call"] > 1 for r in records if not r.is_warmup)
    assert all(r.status == "ok" and r.check == "pass" for r in records)
    assert records[-1].metrics["stop"] == "fixed"
    assert all("stop" not in r.metrics for r in records[:-1])


def test_adaptive_rule_stops_a_steady_cell_early_and_says_why(tmp_path: Path) -> None:
    records = _batch(tmp_path, "t_cold", adaptive=Policy(min_values=4, target=0.5), values=2)
    values = [r for r in records if not r.is_warmup]
    # Two processes (min_processes) of two values: the interval is tight at once.
    assert [(r.process, r.call) for r in values] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert values[-1].metrics["stop"] == "converged"


def test_a_call_that_dies_mid_process_keeps_the_calls_before_it(tmp_path: Path) -> None:
    records = _batch(tmp_path, "t_dies_later", repeats=5, warmups=1, values=5)
    shape = [(r.call, r.is_warmup, r.status) for r in records]
    assert shape == [(0, True, "ok"), (1, False, "ok"), (2, False, "failed")]
    assert records[-1].error == "worker killed by SIGKILL"
    assert records[-1].metrics["stop"] == "failed"


def test_policy_decides_warm_ups_values_and_why_it_stops() -> None:
    policy = Policy(min_values=4, max_values=8, target=0.05, max_time=10.0, floor_values=2)
    cell = CellProgress(values=[], processes=1)
    assert policy.decide(cell) == (WARMUP, None)
    cell.calls_in_process = 1
    assert policy.decide(cell) == (VALUE, None)
    cell.values = [1.0, 1.0, 1.0, 1.0]
    assert policy.decide(cell) == (VALUE, None)  # tight, but from one process only
    cell.processes, cell.calls_in_process = 2, 0  # a second process starts
    assert policy.decide(cell) == (WARMUP, None)  # its values are not there yet
    cell.calls_in_process = 1
    assert policy.decide(cell) == (VALUE, None)  # a warm-up is not a value either
    cell.calls_in_process = 2
    assert policy.decide(cell) == (STOP, "converged")
    noisy = CellProgress(values=[1.0, 2.0, 1.0, 3.0], processes=2, calls_in_process=2)
    assert policy.decide(noisy) == (VALUE, None)
    noisy.values *= 2
    assert policy.decide(noisy) == (STOP, "max-values")
    slow = CellProgress(values=[5.0], processes=1, calls_in_process=2, elapsed=12.0)
    assert policy.decide(slow) == (VALUE, None)  # past its time, but under floor_values
    slow.values.append(6.0)
    assert policy.decide(slow) == (STOP, "time-budget")
    slow.failed = True
    assert policy.decide(slow) == (STOP, "failed")
    assert Policy.fixed_count(3).decide(CellProgress([1.0, 9.0, 1.0])) == (STOP, "fixed")


def test_a_process_makes_as_many_values_as_its_start_up_is_worth() -> None:
    policy = Policy(warmups=1, values=3, values_max=10)
    cell = CellProgress(values=[], calls_in_process=1 + 3, process_startup_s=10.0)
    cell.process_calls_s = 3.0  # three 1 s values after a 10 s start-up: go on
    assert not policy.process_full(cell)
    cell.process_calls_s = 10.0
    assert policy.process_full(cell)
    quick = CellProgress(values=[], calls_in_process=1 + 10, process_startup_s=100.0)
    assert policy.process_full(quick)  # values_max
    assert not policy.process_full(CellProgress(values=[], calls_in_process=2))


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1.0, 1.0], float("inf")), ([1.0] * 9, 0.0), ([0.9, 1.0, 1.1, 1.0, 1.0, 0.95, 1.05], 0.1)],
)
def test_relative_half_width_of_the_median_interval(values: list[float], expected: float) -> None:
    assert relative_half_width(values) == pytest.approx(expected)


def test_a_cell_that_fails_on_its_first_call_is_failed_in_reports_and_compare(
    tmp_path: Path,
) -> None:
    from reports.compare import FAILED_IN_NEW, compare_results
    from reports.data import Results
    from reports.stats import summarize

    (record,) = _batch(tmp_path, "t_crashy")  # its first call, a warm-up, fails
    assert (record.is_warmup, record.status, record.metrics["stop"]) == (True, "failed", "failed")
    (summary,) = summarize([record])
    assert summary.status == "failed" and "deliberate failure" in (summary.reason or "")
    ok = _batch(tmp_path / "base", "t_cold", repeats=3)
    base = [dataclasses.replace(r, workload="t_crashy") for r in ok]
    (cell,) = compare_results(Results(records=base), Results(records=[record]), 1.1, 0.05, 1.2)
    assert FAILED_IN_NEW in cell.flags


def test_cells_whose_calls_start_cold_take_no_warm_up_unless_asked(tmp_path: Path) -> None:
    # mrjob/local runs every task of every job in a new process: no call is warmer than
    # another, so a warm-up would only cost a call. --warmups given: it is kept.
    cells = runner.expand_cells(["wordcount"], ["mrjob/local", "numpy"])
    config = runner.RunConfig(scales=["tiny"], repeats=1, timeout=120.0)
    writer = ResultsWriter(tmp_path / "results", "cold-test")
    writer.ensure_writable()
    records = runner.run_batch(cells, config, writer)
    shape = {(r.engine, r.variant): [(r.call, r.is_warmup) for r in records if r.engine == e]
             for e, r in {(r.engine): r for r in records}.items()}  # fmt: skip
    assert shape == {
        ("mrjob", "local"): [(0, False)],
        ("numpy", "default"): [(0, True), (1, False)],
    }
    assert all(r.status == "ok" for r in records)
    (mrjob,) = [c for c in cells if c.engine == "mrjob"]
    assert config.policy_for(mrjob).warmups == 0
    assert dataclasses.replace(config, warmups=1).policy_for(mrjob).warmups == 1
