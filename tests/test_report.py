"""``bdbench report``: tables, figures, escaping, Markdown/CSV, and a real headless browser."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import chromium, run_cli
from harness import runner
from harness.engines.mrjob_engine import LOCAL_NOTE
from harness.results import ResultsWriter, RunRecord, capture_environment
from harness.rules import RulesMode
from reports.html import build_report
from reports.stats import median_ci, summarize

EVIL = "<script>alert('x')</script>"


def _rec(**kw: object) -> RunRecord:
    base: dict[str, object] = dict(
        batch_id="synthetic",
        workload="wordcount",
        engine="spark",
        variant="df",
        rules=RulesMode.OFF,
        scale="tiny",
        params={},
        repeat=0,
        is_warmup=False,
        status="ok",
        wall_s=2.0,
        cpu_s=3.0,
        peak_rss_bytes=700 * 2**20,
        startup_s=9.0,
        check="pass",
        answer_digest="d" * 64,
        metrics={"items": 20_000, "items_per_s": 10_000.0, "unit": "words"},
        input={"bytes": 120_000},
    )
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real numpy batches at two sizes, plus synthetic Spark/rules/failure records."""
    folder = tmp_path_factory.mktemp("results")
    for factor in (0.5, 1.0):
        writer = ResultsWriter(folder, f"real-x{factor:g}")
        writer.ensure_writable()
        writer.write_env(
            capture_environment({"batch_id": writer.batch_id, "command": "bdbench run -e numpy"})
        )
        cells = runner.expand_cells(["wordcount"], ["numpy", "mrjob/inline"])
        config = runner.RunConfig(scales=["tiny"], factors=[factor], repeats=3, warmups=1)
        runner.run_batch(cells, config, writer)
    writer = ResultsWriter(folder, "synthetic")
    writer.ensure_writable()
    writer.write_env(
        {
            "batch_id": "synthetic",
            "command": f"bdbench run {EVIL}",
            "cpu_model": EVIL,
            "git": {"commit": "abc", "dirty": True},
            # As bdbench run records it: the engines' notes per variant.
            "engines": {"mrjob": {"notes": {"local": LOCAL_NOTE}}},
        }
    )
    for i, wall in enumerate([2.0, 2.2, 1.9]):
        writer.append(_rec(repeat=i, wall_s=wall, scale="tiny"))
        writer.append(_rec(repeat=i, wall_s=wall / 4, rules=RulesMode.ON, scale="tiny"))
    writer.append(
        _rec(
            engine="spark",
            variant="rdd",
            status="failed",
            wall_s=None,
            error=f"Py4JError: {EVIL}",
            check="na",
        )
    )
    writer.append(
        _rec(
            engine="mrjob",
            variant="hadoop",
            rules=RulesMode.NONE,
            status="skipped",
            wall_s=None,
            error="mrjob/hadoop: no hadoop binary",
            check="na",
        )
    )
    writer.append(
        _rec(
            engine="mrjob",
            variant="local",
            rules=RulesMode.NONE,
            status="timeout",
            wall_s=None,
            error="timed out after 5 s",
            check="na",
        )
    )
    return folder


@pytest.fixture(scope="module")
def report(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report built from ``results_dir``."""
    out = tmp_path_factory.mktemp("report")
    return build_report([results_dir], out, command="bdbench report results")


def test_report_files_exist_and_csv_has_one_row_per_run(report: Path, results_dir: Path) -> None:
    assert report.name == "index.html"
    n_records = sum(len(p.read_text().splitlines()) for p in results_dir.glob("*.jsonl"))
    with (report.parent / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_records
    assert {"workload", "engine", "variant", "rules", "wall_s", "m_items_per_s"} <= set(rows[0])


def test_report_shows_every_cell_with_reasons(report: Path) -> None:
    html = report.read_text()
    for text in (
        "numpy/default",
        "mrjob/inline",
        "spark/df",
        "spark/df+rules",
        "spark/rdd",
        "no hadoop binary",
        "timed out after 5 s",
        "simulates Hadoop Streaming on one machine",
        "1.00X",
        "bdbench report results",
    ):
        assert text in html, text
    assert "simulates Hadoop Streaming on one machine" in html


def test_everything_from_results_is_escaped(report: Path) -> None:
    html = report.read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html  # no network needed


def test_report_has_the_expected_figures(report: Path) -> None:
    html = report.read_text()
    assert html.count('<img src="data:image/png;base64,') == 4
    for title in (
        "wall time by engine",
        "peak memory by engine",
        "scaling (log-log",
        "with and without our optimizer rules",
    ):
        assert title in html, title


def test_markdown_summary_is_a_table_per_workload(report: Path) -> None:
    md = (report.parent / "summary.md").read_text()
    assert "## wordcount" in md
    assert "| engine/variant | rules | scale |" in md
    row = next(line for line in md.splitlines() if line.startswith("| spark/rdd"))
    assert "failed: Py4JError" in row


def test_the_three_results_tables_share_one_column_model(report: Path, results_dir: Path) -> None:
    from harness import cli
    from reports.columns import COLUMNS
    from reports.data import load_results

    headers = [c.header for c in COLUMNS]
    md = (report.parent / "summary.md").read_text()
    assert "| " + " | ".join(headers) + " |" in md
    html = report.read_text()
    found = re.findall(r"<th(?: class=\"left\")?>([^<]*)</th>", html.split('class="cells"')[1])
    assert found[: len(headers)] == headers
    table = cli.summary_table(load_results([results_dir]).records)
    assert [str(c.header) for c in table.columns] == ["workload", *headers]


def test_relative_column_and_statistics() -> None:
    records = [
        _rec(engine="numpy", variant="default", rules=RulesMode.NONE, wall_s=1.0, repeat=i)
        for i in range(3)
    ]
    records += [_rec(wall_s=w, repeat=i) for i, w in enumerate([4.0, 5.0, 6.0])]
    records.append(_rec(wall_s=100.0, is_warmup=True))
    by_label = {s.label: s for s in summarize(records)}
    spark = by_label["spark/df"]
    assert spark.wall_median == 5.0 and spark.n_measured == 3 and spark.n_warmup == 1
    assert spark.relative == pytest.approx(0.2)
    assert by_label["numpy/default"].relative == pytest.approx(1.0)
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0, 0.9375)
    assert median_ci([1.0, 2.0]) is None


def test_report_cli_errors_are_one_line(tmp_path: Path) -> None:
    out = run_cli("report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"bdbench: error: results file not found: {tmp_path / 'missing.jsonl'}"
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    out = run_cli("report", str(bad), "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "bad.jsonl:1: malformed record" in out.stderr
    assert "Traceback" not in out.stderr


def test_report_renders_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=browser_path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(report.resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({w: i.naturalWidth, h: i.naturalHeight,"
                " bw: i.getBoundingClientRect().width, bh: i.getBoundingClientRect().height,"
                " complete: i.complete}))"
            )
            title = page.title()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert title == "bdbench report"
    assert len(images) == 4
    for image in images:
        assert image["complete"] and image["w"] > 0 and image["h"] > 0, image
        assert image["bw"] > 0 and image["bh"] > 0, image
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_run_with_report_writes_the_batch_report(tmp_path: Path) -> None:
    out = run_cli(
        "run",
        "-w",
        "wordcount",
        "-e",
        "numpy",
        "-s",
        "tiny",
        "-r",
        "2",
        "--results",
        str(tmp_path / "results"),
        "--report",
        str(tmp_path / "rep"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "rep" / "index.html").is_file()
    assert json.loads(next((tmp_path / "results").glob("*.jsonl")).read_text().splitlines()[0])


def test_cells_checked_by_quality_say_so(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "res", "quality")
    writer.ensure_writable()
    writer.write_env({"batch_id": "quality"})
    detail = "quality check (different algorithm): log-loss 0.47 vs reference 0.48"
    metrics = {"items": 100, "items_per_s": 50.0, "unit": "point-iterations"}
    for rules in (RulesMode.OFF, RulesMode.ON):
        writer.append(
            _rec(workload="logreg", rules=rules, check_detail=detail,
                 metrics={**metrics, "check_method": "quality"})
        )  # fmt: skip
    exact = "20 weights and losses within rtol 1e-06"
    writer.append(_rec(workload="logreg", engine="numpy", variant="default", rules=RulesMode.NONE,
                       check_detail=exact, metrics=metrics))  # fmt: skip
    index = build_report([tmp_path / "res"], tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert sum("pass (by quality)" in row for row in rows) == 2
    assert any(row.startswith("| numpy") and "| pass |" in row for row in rows)
    # One note for both Spark cells, with the check's own figures.
    (note,) = [line for line in summary.splitlines() if line.startswith("Checked by quality")]
    assert "spark/df, spark/df+rules: " + detail in note
    html = index.read_text()
    assert html.count("by quality</small>") == 2 and detail in html


def test_cold_and_warm_iterations_table_and_ratios(tmp_path: Path) -> None:
    from reports.iterations import iteration_ratios, iteration_rows

    def it(engine: str, variant: str, first: float, later: float, **kw: object) -> RunRecord:
        times = [first] + [later] * 4
        metrics = {"first_iteration_s": first, "later_iterations_median_s": later,
                   "iteration_s": times, "items": 10, "unit": "point-iterations"}  # fmt: skip
        return _rec(workload="logreg", engine=engine, variant=variant, metrics=metrics, **kw)

    records = [
        it("numpy", "default", 0.004, 0.002, rules=RulesMode.NONE),
        it("numpy", "default", 0.006, 0.002, rules=RulesMode.NONE, repeat=1),
        it("numpy", "default", 9.0, 9.0, rules=RulesMode.NONE, is_warmup=True),  # never counted
        it("spark", "rdd", 1.2, 0.1),
        it("spark", "rdd", 1.0, 0.12, rules=RulesMode.ON),
        it("mrjob", "local", 2.5, 2.0, rules=RulesMode.NONE),
        _rec(workload="logreg", engine="spark", variant="df"),  # no iteration times: no row
    ]
    rows = iteration_rows(records)
    assert [r.label for r in rows] == ["numpy/default", "spark/rdd", "spark/rdd+rules",
                                       "mrjob/local"]  # fmt: skip
    numpy_row, rdd = rows[0], rows[1]
    assert numpy_row.runs == 2 and numpy_row.first_s == pytest.approx(0.005)
    assert numpy_row.iterations == 5 and numpy_row.vs_baseline == pytest.approx(1.0)
    assert rdd.cold_warm == pytest.approx(12.0) and rdd.vs_baseline == pytest.approx(50.0)
    assert rdd.baseline == "numpy/default"
    ratios = {q.what: q.ratio for q in iteration_ratios(rows)}
    # The rules-off Spark cell stands for Spark RDD.
    assert ratios["warm Spark RDD iteration / simulated Hadoop MapReduce iteration"] == (
        pytest.approx(0.05)
    )
    assert ratios["single-node iteration / warm Spark RDD iteration"] == pytest.approx(0.02)
    assert ratios["single-node iteration / simulated Hadoop MapReduce iteration"] == (
        pytest.approx(0.001)
    )
    writer = ResultsWriter(tmp_path / "res", "iterations")
    writer.ensure_writable()
    writer.write_env({"batch_id": "iterations"})
    for record in records:
        writer.append(record)
    index = build_report([tmp_path / "res"], tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| spark/rdd | tiny | defaults | 1 | 5 | 1.2 s | 100 ms | 12x | 50x |" in summary
    assert (
        "- warm Spark RDD iteration / simulated Hadoop MapReduce iteration (tiny, defaults): "
        "0.05x (1/20)" in summary
    )
    html = index.read_text()
    assert "Cold vs warm iterations" in html and "<strong>0.05x (1/20)</strong>" in html
    assert "(tiny, defaults): 0.001x (1/1,000)" in summary


def test_iteration_ratio_format() -> None:
    from reports.iterations import fmt_times

    assert fmt_times(None) == "-" and fmt_times(1.834) == "1.83x" and fmt_times(1260.4) == "1,260x"
    assert fmt_times(0.0128) == "0.0128x (1/78.1)" and fmt_times(0.000795) == "0.000795x (1/1,258)"


def test_streaming_latency_table(tmp_path: Path) -> None:
    def run(variant: str, p50: float, repeat: int = 0, **kw: object) -> RunRecord:
        metrics = {"latency_s": {"p50": p50, "p95": 2 * p50, "p99": 3 * p50, "max": 4 * p50},
                   "batches": 90, "batch_median_s": 0.5, "offered_rate": 5000.0,
                   "window_updates": 1200, "items": 10, "unit": "events", "busy_s": 0.4,
                   "items_per_s": 25.0}  # fmt: skip
        return _rec(workload="stream_window", engine="spark", variant=variant, repeat=repeat,
                    metrics=metrics, **kw)  # fmt: skip

    writer = ResultsWriter(tmp_path / "res", "streaming")
    writer.ensure_writable()
    writer.write_env({"batch_id": "streaming"})
    warmup = run("stream", 50.0, is_warmup=True)
    records = [run("stream", 1.0), run("stream", 3.0, 1), run("stream", 2.0, 2), warmup]
    baseline = _rec(workload="stream_window", engine="numpy", variant="default")
    for record in [*records, _rec(workload="stream_window"), baseline]:
        writer.append(record)
    index = build_report([tmp_path / "res"], tmp_path / "out")
    # A fed cell lasts as long as its feed: no Relative against the batch baseline, and a note.
    from reports.stats import PACED_NOTE, summarize

    cells = {(s.engine, s.variant): s for s in summarize([*records, baseline])}
    assert cells[("spark", "stream")].paced and cells[("spark", "stream")].relative is None
    assert cells[("numpy", "default")].relative == 1.0
    summary = (tmp_path / "out" / "summary.md").read_text()
    row = ("| spark/stream | tiny | 3 | 5k events/s | 90 | 500 ms | 2 s | 4 s | 6 s | 8 s "
           "| 1,200 |")  # fmt: skip
    assert row in summary, summary
    assert summary.count("| spark/df |") == 1  # the batch cell has no latency row
    assert "Latency per window update" in index.read_text()
    assert PACED_NOTE in summary and summary.count(PACED_NOTE) == 1


def test_environment_says_how_the_batch_measured() -> None:
    from harness.stopping import Policy
    from reports.html import measured_how

    env = {
        "policy": Policy(max_time=1.0).to_json(),
        "no_warmup": {"mrjob/local": "mrjob/local runs every task of every job in a new process"},
    }
    text = measured_how(env)
    assert "after 1 s" in text
    assert "no warm-up for mrjob/local (mrjob/local runs every task" in text
    assert measured_how({}) == "stopping rule not recorded"
