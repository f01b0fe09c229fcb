"""The report's achieved-vs-ideal table for the UDF workloads (synthetic records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.html import build_report
from reports.udf import udf_speedups

PARAMS = {"scenario": "paper", "order": "expensive_first", "p": 600, "q": 100,
          "cost_ratio": 10, "selectivity": 0.1, "filters": 2}  # fmt: skip


def _run(rules: Any, wall: float, calls: dict[str, int], work: float, optimal: float,
         **kw: Any) -> RunRecord:  # fmt: skip
    udf = {
        "calls": calls,
        "udf_work_s": work,
        "optimal_work_s": optimal,
        "parallelism": 2,
        "survivor_calls_exact": None if rules is not True else True,
        "grouping": [["udfB_10"], ["udfA_99"]] if rules is True else [["udfA_99", "udfB_10"]],
    }
    base: dict[str, Any] = dict(
        batch_id="synthetic", workload="udf_filter", engine="spark", variant="df", rules=rules,
        scale="small", params=dict(PARAMS), repeat=0, is_warmup=False, status="ok", wall_s=wall,
        check="pass", metrics={"udf": udf, "items": 100, "unit": "rows"},
    )  # fmt: skip
    base.update(kw)
    return RunRecord(**base)


def _records() -> list[RunRecord]:
    both = {"udfA_99": 1000, "udfB_10": 1000}
    records = []
    for wall in (10.0, 10.2, 9.8):
        # 8 s of UDF work off, the optimal order needs 2 s: 3 s of wall saved on 2 workers
        records.append(_run(False, wall, both, work=8.0, optimal=2.0))
        records.append(_run(True, wall / 2, {"udfA_99": 100, "udfB_10": 1000}, 2.0, 2.0))
        records.append(_run("paper", wall, both, work=8.0, optimal=2.0))
    records.append(_run(True, 1.0, both, 1.0, 1.0, is_warmup=True))  # never counted
    records.append(_run(True, None, both, 1.0, 1.0, status="failed", error="boom"))
    return records


def test_achieved_and_ideal_speedups() -> None:
    rows = {r.mode: r for r in udf_speedups(_records())}
    assert set(rows) == {"on", "paper"}
    on, paper = rows["on"], rows["paper"]
    assert on.achieved == pytest.approx(2.0)
    assert on.ideal == pytest.approx(10.0 / 7.0)  # 10 s off, 10 - (8 - 2) / 2 = 7 s ideal
    assert on.efficiency == pytest.approx(2.0 / (10.0 / 7.0))
    assert on.calls_mode == {"udfA_99": 100, "udfB_10": 1000}
    assert on.survivors_exact is True and on.n_mode == 3
    assert paper.achieved == pytest.approx(1.0) and paper.survivors_exact is None
    assert on.params == "defaults"
    assert on.nodes == "udfB_10 | udfA_99" and paper.nodes == "udfA_99 udfB_10"


def test_no_rules_off_runs_no_row() -> None:
    only_on = [r for r in _records() if r.rules is RulesMode.ON]
    assert udf_speedups(only_on) == []


def test_report_shows_the_table(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "res", "synthetic")
    sweep = {**PARAMS, "scenario": "sweep", "cost_ratio": 30}
    writer.ensure_writable()
    for record in [*_records(), _run(False, 3.0, {"spin0": 5}, 1.0, 0.5, params=sweep)]:
        writer.append(record)
    build_report([writer.path], tmp_path / "out")
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "achieved vs ideal speedup" in md
    assert "| spark/df | small | defaults | on | 10 s | 5 s | 2.00x | 1.43x | 1.40 |" in md
    assert "udfA\\_99 1000 → 100, udfB\\_10 1000 → 1000 | udfB\\_10 \\| udfA\\_99 | yes |" in md
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Our optimizer: achieved vs ideal speedup" in html
    assert "cost_ratio=30 scenario=sweep" in html  # parameter points are labelled
