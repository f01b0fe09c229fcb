"""benchmarks.stream_ramp: the ramp's table at tiny scale, and the sustainability decision
(behaviour only: no timing thresholds)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ROOT

#: One file a second: arrivals 0, 1, ..., 8 s.
ARRIVALS = [float(i) for i in range(9)]


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The script's decision function (``benchmarks`` is a checkout folder, not installed)."""
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.stream_ramp import judge

    return judge


def test_quick_ramp_prints_the_table_and_the_max_sustainable_rate() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.stream_ramp", "--quick"],
        cwd=ROOT,
        env=dict(os.environ),  # the isolated data folder of the test session
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "stream_window tiny: the first 4 of " in out
    assert out.count("check pass") == 2 and out.count("warm-up pass") == 1
    header = [line for line in out.splitlines() if "offered/s" in line]
    assert len(header) == 1
    for column in ("achieved/s", "pace", "feed lag", "batch med", "lat p50", "p95", "p99", "max"):
        assert column in header[0], column
    rows = [
        line.split() for line in out.splitlines() if line.strip().startswith(("2,000", "8,000"))
    ]
    # The warm-up step (at the first rate) is printed, never judged.
    assert len(rows) == 3 and rows[0][11] == "warm-up"
    assert all(row[11] in ("yes", "no") for row in rows[1:])
    summary = [line for line in out.splitlines() if line.startswith("max sustainable rate: ")]
    assert len(summary) == 1
    assert "(numpy, 4 files of ~" in summary[0] and "1 file per micro-batch" in summary[0]


def test_bounded_latency_is_sustainable(judge: Callable[..., Any]) -> None:
    # Flat at about 0.3 s, with one slow batch (a GC pause) in the last third.
    verdict = judge([0.3, 0.32, 0.29, 0.31, 0.3, 0.33, 0.3, 2.5, 0.31], ARRIVALS)
    assert verdict.sustainable and verdict.reason == "bounded"
    assert verdict.early_s == pytest.approx(0.3) and verdict.late_s == pytest.approx(0.31)
    # Latency that falls (a slow first batch) keeps pace too.
    assert judge([1.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], ARRIVALS).sustainable


def test_growing_latency_is_not_sustainable(judge: Callable[..., Any]) -> None:
    # Each batch takes 1.4 s for a file a second: the backlog grows 0.4 s per batch.
    growing = [0.4 + 0.4 * i for i in range(9)]
    verdict = judge(growing, ARRIVALS)
    assert not verdict.sustainable and "latency grew" in verdict.reason
    assert verdict.pace == pytest.approx(6 / (6 + 2.4))


def test_a_slow_backlog_under_the_slack_fails_on_pace(judge: Callable[..., Any]) -> None:
    # 0.1 s more per batch: within 1.5 x + 0.5 s, but 0.6 s behind over 6 s of arrivals.
    creeping = [0.2 + 0.1 * i for i in range(9)]
    verdict = judge(creeping, ARRIVALS)
    assert verdict.late_s <= 1.5 * verdict.early_s + 0.5
    assert not verdict.sustainable and verdict.reason == "processed 91% of the offered rate"
    # A fast step (files 20 ms apart) whose latency moves by polling noise (15 ms, under the
    # 20 ms allowance) keeps pace, though 15 ms is much of its 60 ms span; 30 ms does not.
    arrivals = [0.0, 0.02, 0.04, 0.06]
    fast = judge([0.005, 0.01, 0.015, 0.02], arrivals)
    assert fast.pace < 0.95 and fast.sustainable
    assert not judge([0.005, 0.015, 0.025, 0.035], arrivals).sustainable


def test_a_feeder_behind_its_schedule_never_offered_the_rate(judge: Callable[..., Any]) -> None:
    # Flat latency, but the files were due every 0.5 s and arrived every second: the engine
    # kept up with half the rate, so the rate is not shown sustainable.
    flat = [0.3] * 9
    scheduled = [i / 2 for i in range(9)]
    verdict = judge(flat, ARRIVALS, scheduled)
    assert not verdict.sustainable
    assert verdict.reason == "the feeder offered only 50% of the rate"
    assert judge(flat, ARRIVALS, ARRIVALS).sustainable
    # A few milliseconds behind is no fall-back.
    assert judge(flat, ARRIVALS, [a * 0.99 for a in ARRIVALS]).sustainable


def test_judge_needs_a_latency_per_arrival(judge: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="at least 2 batches"):
        judge([0.1], [0.0])
    with pytest.raises(ValueError):
        judge([0.1, 0.2], [0.0])
