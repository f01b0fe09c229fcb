"""Published claims, re-checked: verdicts from synthetic records (no engine runs) and the
report section in HTML and Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.claims import (
    COST,
    COST_CHECK,
    DOES_NOT_HOLD,
    FIRST_CHECK,
    HOLDS,
    ITERATIONS_CLAIM,
    LOCAL_MODE,
    NOT_MEASURED,
    SIMULATED,
    WARM_CHECK,
    ClaimReport,
    Verdict,
    check_claims,
)
from reports.html import build_report

HADOOP = "(Hadoop 3.4.2, 1 NodeManager, pseudo-distributed)"
STANDALONE = "on standalone (1 worker)"


def _rec(**kw: object) -> RunRecord:
    base: dict[str, object] = dict(
        batch_id="claims",
        workload="wordcount",
        engine="numpy",
        variant="default",
        rules=RulesMode.NONE,
        scale="tiny",
        params={},
        repeat=0,
        is_warmup=False,
        status="ok",
        wall_s=1.0,
        check="pass",
        metrics={},
    )
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def it(engine: str, variant: str, first: float, later: float, **kw: object) -> RunRecord:
    """A logreg run with per-iteration times (five iterations)."""
    metrics = {
        "first_iteration_s": first,
        "later_iterations_median_s": later,
        "iteration_s": [first] + [later] * 4,
    }
    kw.setdefault("rules", False if engine == "spark" else None)
    return _rec(workload="logreg", engine=engine, variant=variant, metrics=metrics,
                wall_s=first + 4 * later, **kw)  # fmt: skip


def _claim(records: list[RunRecord], claim_id: str) -> ClaimReport:
    return next(c for c in check_claims(records) if c.claim.id == claim_id)


def _only(verdicts: list[Verdict], check: str) -> Verdict:
    (found,) = [v for v in verdicts if v.check == check]
    return found


def test_warm_spark_iteration_against_real_hadoop_holds() -> None:
    records = [
        it("mrjob", "hadoop", 12.0, 12.0, where=HADOOP),
        it("spark", "rdd", 3.0, 1.0),
        it("spark", "rdd", 3.4, 1.0, repeat=1),
    ]
    claim = _claim(records, ITERATIONS_CLAIM.id)
    warm = _only(claim.main, WARM_CHECK)
    assert warm.verdict == HOLDS and warm.ratio == pytest.approx(12.0)
    assert warm.cells == [f"mrjob/hadoop {HADOOP}", "spark/rdd"]
    # No Spark cluster cell: local mode stands in, and the row says so.
    assert warm.basis == "Hadoop MapReduce on a cluster vs Spark RDD on one machine"
    assert "; no Spark RDD cell on a cluster" in warm.why and "≥ 10x" in warm.why
    first = _only(claim.main, FIRST_CHECK)
    assert first.verdict == HOLDS and first.ratio == pytest.approx(3.2)
    assert claim.apart == []


def test_claims_that_do_not_hold_here() -> None:
    records = [it("mrjob", "hadoop", 5.0, 5.0, where=HADOOP), it("spark", "rdd", 0.5, 1.0)]
    claim = _claim(records, ITERATIONS_CLAIM.id)
    warm = _only(claim.main, WARM_CHECK)
    assert warm.verdict == DOES_NOT_HOLD and warm.ratio == pytest.approx(5.0)
    assert "< 10x" in warm.why
    first = _only(claim.main, FIRST_CHECK)
    assert first.verdict == DOES_NOT_HOLD and first.ratio == pytest.approx(0.5)


def test_not_measured_without_a_hadoop_cell_or_any_logreg_run() -> None:
    claim = _claim([it("spark", "rdd", 3.0, 1.0)], ITERATIONS_CLAIM.id)
    warm = _only(claim.main, WARM_CHECK)
    assert warm.verdict == NOT_MEASURED and warm.ratio is None
    assert "no Hadoop MapReduce cell on a cluster" in warm.why
    assert _only(claim.main, FIRST_CHECK).verdict == HOLDS  # needs Spark only
    nothing = _claim([_rec()], ITERATIONS_CLAIM.id)
    assert [v.verdict for v in nothing.verdicts] == [NOT_MEASURED, NOT_MEASURED]
    assert all("no successful logreg run" in v.why for v in nothing.verdicts)


def test_simulated_hadoop_is_kept_apart_and_labelled() -> None:
    records = [it("mrjob", "local", 30.0, 30.0, where="(simulated)"), it("spark", "rdd", 3.0, 1.0)]
    claim = _claim(records, ITERATIONS_CLAIM.id)
    (simulated,) = claim.apart
    assert (
        simulated.basis
        == SIMULATED
        == ("a simulation of the cluster system on this machine, not a cluster")
    )
    assert simulated.cells[0] == "mrjob/local (simulated)"
    assert simulated.verdict == HOLDS and simulated.ratio == pytest.approx(30.0)
    # The real-Hadoop row is still not measured: a simulation never stands in for it.
    assert _only(claim.main, WARM_CHECK).verdict == NOT_MEASURED


def test_spark_on_a_cluster_is_preferred_over_local_mode() -> None:
    records = [
        it("mrjob", "hadoop", 30.0, 30.0, where=HADOOP),
        it("spark", "rdd", 0.2, 0.1),  # local mode: faster, but not the cluster
        it("spark", "rdd", 6.0, 2.0, where=STANDALONE),
        it(
            "spark", "rdd", 9.0, 9.0, where=STANDALONE, rules=RulesMode.ON
        ),  # rules off stands for it
    ]
    claim = _claim(records, ITERATIONS_CLAIM.id)
    warm = _only(claim.main, WARM_CHECK)
    assert warm.cells == [f"mrjob/hadoop {HADOOP}", f"spark/rdd {STANDALONE}"]
    assert warm.ratio == pytest.approx(15.0) and warm.verdict == HOLDS
    assert warm.basis == "Hadoop MapReduce on a cluster vs Spark RDD on a cluster"
    first = _only(claim.main, FIRST_CHECK)
    assert first.ratio == pytest.approx(3.0) and first.basis == "Spark RDD on a cluster"


def test_warmups_failed_and_wrong_runs_are_ignored() -> None:
    records = [
        it("mrjob", "hadoop", 12.0, 12.0, where=HADOOP),
        it("mrjob", "hadoop", 900.0, 900.0, where=HADOOP, is_warmup=True),
        it("spark", "rdd", 3.0, 1.0),
        it("spark", "rdd", 0.01, 0.01, status="failed", error="boom"),
        it("spark", "rdd", 0.01, 0.01, check="fail"),
        _rec(workload="logreg", engine="numpy", wall_s=2.0),
        _rec(workload="logreg", engine="numpy", wall_s=0.001, is_warmup=True),
        _rec(
            workload="logreg",
            engine="spark",
            variant="df",
            rules=RulesMode.OFF,
            wall_s=0.001,
            where=STANDALONE,
            status="timeout",
        ),
        _rec(
            workload="logreg",
            engine="spark",
            variant="df",
            rules=RulesMode.OFF,
            wall_s=8.0,
            where=STANDALONE,
        ),
    ]
    warm = _only(_claim(records, ITERATIONS_CLAIM.id).main, WARM_CHECK)
    assert warm.ratio == pytest.approx(12.0)
    cost = _claim(records, COST.id)
    (row,) = cost.main
    assert row.ratio == pytest.approx(4.0) and row.verdict == HOLDS


def test_cost_fastest_cluster_cell_against_numpy_with_stand_ins_apart() -> None:
    records = [
        _rec(wall_s=1.0),
        _rec(engine="mrjob", variant="hadoop", wall_s=10.0, where=HADOOP),
        _rec(engine="spark", variant="df", rules=RulesMode.OFF, wall_s=3.0, where="on YARN"),
        _rec(engine="spark", variant="df", rules=RulesMode.OFF, wall_s=0.5),
        _rec(engine="mrjob", variant="local", wall_s=4.0, where="(simulated)"),
        # Another scale: the cluster wins there.
        _rec(scale="small", wall_s=5.0),
        _rec(
            scale="small",
            engine="spark",
            variant="df",
            rules=RulesMode.OFF,
            wall_s=2.0,
            where="on YARN",
        ),
        # A workload with no cluster cell, and a fed streaming cell that never counts.
        _rec(workload="kmeans", wall_s=1.0),
        _rec(
            workload="kmeans",
            engine="spark",
            variant="stream",
            rules=RulesMode.OFF,
            wall_s=60.0,
            where="on YARN",
            metrics={"busy_s": 1.0},
        ),
    ]
    cost = _claim(records, COST.id)
    # The verdict is given at the largest size measured (small), where the work shows.
    small, kmeans = cost.main
    assert (small.scale, small.verdict, small.ratio) == ("small", DOES_NOT_HOLD, 0.4)
    assert small.cells == ["spark/df on YARN", "numpy/default"]
    assert small.basis == "Spark SQL on a cluster" and "one machine not faster" in small.why
    (tiny,) = next(v for v in check_claims(records[:5]) if v.claim.id == COST.id).main
    assert (tiny.scale, tiny.verdict, tiny.ratio) == ("tiny", HOLDS, pytest.approx(3.0))
    assert tiny.cells == ["spark/df on YARN", "numpy/default"]
    assert tiny.basis == "Spark SQL on a cluster" and "one machine faster" in tiny.why
    assert kmeans.verdict == NOT_MEASURED and "no cell on a cluster" in kmeans.why
    apart = {v.basis: v for v in cost.apart}
    assert set(apart) == {LOCAL_MODE, SIMULATED}
    assert apart[LOCAL_MODE].verdict == DOES_NOT_HOLD
    assert apart[LOCAL_MODE].ratio == pytest.approx(0.5)
    assert apart[SIMULATED].verdict == HOLDS and apart[SIMULATED].ratio == pytest.approx(4.0)
    assert apart[SIMULATED].cells == ["mrjob/local (simulated)", "numpy/default"]
    assert all(v.check == COST_CHECK for v in cost.verdicts)


def test_cost_without_any_cluster_cell_is_one_not_measured_row() -> None:
    records = [_rec(), _rec(engine="mrjob", variant="local", wall_s=3.0, where="(simulated)")]
    cost = _claim(records, COST.id)
    (row,) = cost.main
    assert row.verdict == NOT_MEASURED and row.why == ("no cell on a cluster in these results")
    (simulated,) = cost.apart
    assert simulated.basis == SIMULATED and simulated.ratio == pytest.approx(3.0)


def test_report_and_summary_have_the_claims_section(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "res", "claims")
    writer.ensure_writable()
    writer.write_env({"batch_id": "claims"})
    for record in [
        it("mrjob", "hadoop", 127.0, 127.0, where=HADOOP),
        it("spark", "rdd", 174.0, 6.0, where=STANDALONE),
        it("mrjob", "local", 40.0, 40.0, where="(simulated)"),
        it("numpy", "default", 1.0, 1.0),
        _rec(
            workload="logreg",
            engine="spark",
            variant="df",
            rules=RulesMode.OFF,
            wall_s=2.0,
            where="on <b>evil</b>",
        ),
    ]:
        writer.append(record)
    index = build_report([tmp_path / "res"], tmp_path / "out")
    html = index.read_text()
    summary = (tmp_path / "out" / "summary.md").read_text()
    for text in (summary, html):
        assert "Published claims, re-checked" in text
        assert "Spark: Cluster Computing with Working Sets" in text
        assert "Scalability! But at what COST?" in text
        assert SIMULATED in text and "≥ 10x" in text
    assert "| 21.2x | holds | Hadoop MapReduce on a cluster vs Spark RDD on a cluster |" in summary
    assert "| 29x | holds | Spark RDD on a cluster |" in summary
    md_apart = summary.split("Shown apart")[1]
    assert "mrjob/local (simulated) / spark/rdd on standalone (1 worker)" in md_apart
    assert "<strong>21.2x</strong>" in html and 'class="left verdict-holds"' in html
    assert "on <b>evil</b>" not in html and "on &lt;b&gt;evil&lt;/b&gt;" in html
    html_apart = html.split('<h4 class="apart">')[1]
    assert SIMULATED in html_apart and LOCAL_MODE not in html.split("<footer")[1]


def _ladder(factor: float, rows: int) -> dict[str, object]:
    """Record fields of one ladder size (logreg points, 200 bytes a point)."""
    return {"scale": "small", "factor": factor, "rows": rows, "input": {"bytes": rows * 200}}


def test_a_ladder_gives_verdicts_at_its_largest_size_and_the_ratio_at_every_size() -> None:
    # MapReduce: 20 s + 10 s per million points; warm Spark: 0.1 s + 1 s per million.
    records = []
    for factor, rows in ((1.0, 200_000), (4.0, 800_000), (16.0, 3_200_000)):
        size = _ladder(factor, rows)
        mr = 20 + 10 * rows / 1e6
        spark = 0.1 + 1.0 * rows / 1e6
        records += [
            it("mrjob", "hadoop", mr, mr, where=HADOOP, **size),
            it("spark", "rdd", 5 * spark, spark, where=STANDALONE, **size),
        ]
    claim = next(
        c for c in check_claims(records, {"b": {"cpu_count_logical": 2}})
        if c.claim.id == ITERATIONS_CLAIM.id
    )  # fmt: skip
    warm = _only(claim.main, WARM_CHECK)
    assert warm.scale == "small x16" and warm.rows == 3_200_000
    assert warm.ratio == pytest.approx((20 + 32) / 3.3)
    assert _only(claim.main, FIRST_CHECK).rows == 3_200_000
    assert [r.rows for r in claim.ladder] == [200_000, 800_000, 3_200_000]
    assert claim.ladder[0].ratio == pytest.approx(22 / 0.3)
    assert claim.ladder[-1].per_core_bytes == 3_200_000 * 200 / 2
    (note,) = claim.notes
    assert "the ratio goes from 73.3x at 200,000 points to 15.8x at 3,200,000" in note
    assert (
        "a warm RDD one 100 ms + 1 s per million, so for large inputs the ratio tends to the "
        "slopes' 10x"
    ) in note
    # 370 MB per core on 2 cores at 200 bytes a point: 3,625,000 points.
    assert "(3,625,000 points)" in note
    assert "extrapolated, 1.1x beyond the largest size" in note


def test_cost_says_where_one_machine_stops_beating_the_cluster() -> None:
    records = []
    for factor, rows in ((1.0, 1_000_000), (4.0, 4_000_000), (16.0, 16_000_000)):
        size = _ladder(factor, rows)
        # One machine: 0.01 s + 1 s per million; the cluster: 5 s + 0.5 s per million.
        records += [
            _rec(wall_s=0.01 + rows / 1e6, **size),
            _rec(engine="spark", variant="rdd", rules=RulesMode.OFF, where=STANDALONE,
                 wall_s=5 + 0.5 * rows / 1e6, **size),
        ]  # fmt: skip
    claim = next(
        c for c in check_claims(records, {"b": {"cpu_count_logical": 2}}) if c.claim.id == COST.id
    )
    (verdict,) = claim.main
    assert verdict.rows == 16_000_000 and verdict.verdict == DOES_NOT_HOLD
    (note,) = claim.notes
    assert "numpy/default stays faster than the cheapest cluster line" in note
    assert "up to 9,980,000 rows (inside the ladder)" in note
    assert "on this machine's 2 cores" in note


def test_cost_lines_that_never_cross() -> None:
    records = []
    for factor, rows in ((1.0, 1_000_000), (4.0, 4_000_000), (16.0, 16_000_000)):
        size = _ladder(factor, rows)
        records += [
            _rec(wall_s=0.01 + 0.1 * rows / 1e6, **size),
            _rec(engine="mrjob", variant="hadoop", where=HADOOP, wall_s=20 + rows / 1e6, **size),
        ]
    claim = next(c for c in check_claims(records) if c.claim.id == COST.id)
    (note,) = claim.notes
    assert "they do not cross for n > 0" in note
