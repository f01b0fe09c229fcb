"""Scaling over a size ladder (issue 24): fitted cost lines, crossovers, one machine's memory
wall, decision tables, ``scaling.json``, the Markdown tables and the report's Scaling section
in a real browser. Records are made here; no engine runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import chromium
from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.html import build_report
from reports.scaling import (
    ScalingCell,
    WorkloadScaling,
    format_predictions,
    memory_wall_sentence,
    predict,
    record_rows,
    scaling_cells,
    scaling_markdown,
    scaling_workloads,
)

#: Not registered: sizes come from each record's ``rows``, counted in "rows".
WORKLOAD = "ladder"
SIZES = (100_000, 200_000, 400_000, 800_000, 1_600_000)
GIB = 2**30
MIB = 2**20
EVIL = "<script>alert('x')</script>"
OOM = "killed by the OOM killer (1 process(es), over the run's 1G limit); then: exit -9"


def _rec(engine: str, variant: str, rows: int, wall: float | None, **kw: object) -> RunRecord:
    base: dict[str, object] = dict(
        batch_id="ladder",
        workload=WORKLOAD,
        engine=engine,
        variant=variant,
        rules=RulesMode.NONE,
        scale="small",
        factor=rows / 200_000,
        rows=rows,
        params={},
        repeat=0,
        is_warmup=False,
        status="ok",
        wall_s=wall,
        cpu_s=wall,
        check="pass",
        answer_digest="d" * 64,
        metrics={"items": rows, "unit": "rows"},
    )
    base.update(kw)
    return RunRecord(**base)


def _line(
    engine: str,
    variant: str,
    fixed: float,
    per_row: float,
    sizes: tuple[int, ...] = SIZES,
    rss: tuple[float, float] | None = None,
    **kw: object,
) -> list[RunRecord]:
    """Three measured runs per size around ``fixed + per_row x n`` (their median on the
    line), one warm-up far off the line that must not count."""
    records = []
    for n in sizes:
        wall = fixed + per_row * n
        memory = None if rss is None else int(rss[0] + rss[1] * n)
        records.append(_rec(engine, variant, n, 40 * wall, is_warmup=True, **kw))
        for repeat, spread in enumerate((0.97, 1.0, 1.04)):
            records.append(
                _rec(engine, variant, n, wall * spread, repeat=repeat, peak_rss_bytes=memory, **kw)
            )
    return records


def _iterations(records: list[RunRecord]) -> list[RunRecord]:
    for r in records:
        n = r.rows or 0
        r.metrics = {**r.metrics, "first_iteration_s": 0.5 + 2e-7 * n,
                     "later_iterations_median_s": 0.1 + 1e-7 * n}  # fmt: skip
    return records


def _ladder() -> list[RunRecord]:
    """numpy: 2 s + 1 us/row under a 1 GiB limit, out of memory at 800,000 (larger sizes
    skipped); spark/df: 0.5 s + 7 us/row (crosses numpy at 250,000); spark/rdd parallel to
    numpy (4 s + 1 us/row); mrjob at one size only; a cell whose variant is hostile text."""
    limit = {"memory_limit_bytes": GIB}
    records = _iterations(
        _line("numpy", "default", 2.0, 1e-6, SIZES[:3], rss=(200 * MIB, 2000), **limit)
    )
    records.append(_rec("numpy", "default", 800_000, None, status="failed", error=OOM, **limit))
    for n in (1_600_000, 3_200_000):
        records.append(
            _rec("numpy", "default", n, None, status="skipped", check="na", **limit,
                 error="out of memory at 800,000 rows under 1G (a smaller size of this ladder)")
        )  # fmt: skip
    records += _line("spark", "df", 0.5, 7e-6, SIZES[:4], rules=RulesMode.OFF)
    records += _line("spark", "rdd", 4.0, 1e-6, rss=(400 * MIB, 100), **limit)
    records += _line("mrjob", "local", 9.0, 1e-5, SIZES[:1])
    records += _line("spark", EVIL, 50.0, 1e-6, SIZES[:2], rules=RulesMode.OFF)
    return records


@pytest.fixture(scope="module")
def ladder() -> WorkloadScaling:
    (scaling,) = scaling_workloads(_ladder())
    return scaling


def _cell(scaling: WorkloadScaling, label: str) -> ScalingCell:
    return next(c for c in scaling.cells if c.label == label)


def test_known_lines_are_recovered(ladder: WorkloadScaling) -> None:
    cells = {c.label: c for c in ladder.cells}
    df = cells["spark/df"]
    assert df.sizes == list(SIZES[:4]) and df.wall is not None
    assert df.wall.fixed == pytest.approx(0.5, rel=1e-3)
    assert df.wall.per_million == pytest.approx(7.0, rel=1e-3)
    assert df.wall.fit_error < 1e-3 and abs(df.wall.held_out_error or 1) < 1e-3
    point = df.points[1]  # the warm-up (40x) never counts; median and spread of three runs
    assert (point.runs, point.wall_median) == (3, pytest.approx(0.5 + 7e-6 * 200_000))
    assert point.wall_min == pytest.approx(0.97 * point.wall_median)
    assert point.wall_max == pytest.approx(1.04 * point.wall_median)
    numpy = cells["numpy/default"]
    assert numpy.memory is not None and numpy.memory.per_unit == pytest.approx(2000, rel=1e-3)
    assert numpy.memory.fixed == pytest.approx(200 * MIB, rel=1e-3)
    assert numpy.first is not None and numpy.later is not None  # iterative: cold and warm
    assert numpy.first.per_million == pytest.approx(0.2, rel=1e-3)
    assert numpy.later.fixed == pytest.approx(0.1, rel=1e-3)


def test_one_noisy_size_does_not_pull_the_line_much() -> None:
    records = _line("numpy", "default", 1.0, 2e-6)
    for r in records:
        if r.rows == 400_000 and r.wall_s is not None:
            r.wall_s *= 3  # one size three times too slow
    (cell,) = scaling_cells(records)
    assert cell.wall is not None
    assert cell.wall.per_million == pytest.approx(2.0, rel=0.05)
    assert cell.wall.fixed == pytest.approx(1.0, rel=0.05)
    assert cell.wall.fit_error > 0.2  # the fit error says a size is off the line


def test_crossovers_measured_extrapolated_and_never(ladder: WorkloadScaling) -> None:
    cells = {c.label: c for c in ladder.cells}
    numpy = {x.other: x for x in cells["numpy/default"].crossovers}
    df = numpy["spark/df"]
    assert (df.kind, df.cheaper_after) == ("measured", "numpy/default")
    assert df.rows == pytest.approx(250_000, rel=1e-3)
    parallel = numpy["spark/rdd"]  # the same slope: they never cross
    assert (parallel.kind, parallel.rows, parallel.cheaper_after) == (
        "never", None, "numpy/default",
    )  # fmt: skip
    evil = {x.other: x for x in cells["spark/df"].crossovers}[f"spark/{EVIL}"]
    # df = evil at 8,250,000: beyond the 200,000 both ran at.
    assert evil.kind == "extrapolated" and evil.rows == pytest.approx(8_250_000, rel=1e-3)
    assert evil.factor == pytest.approx(8_250_000 / 200_000, rel=1e-3)
    assert evil.cheaper_after == f"spark/{EVIL}"
    assert all(x.other != "mrjob/local" for x in numpy.values())  # no line, no crossover


def test_out_of_memory_at_the_top_size_is_the_memory_wall(ladder: WorkloadScaling) -> None:
    numpy = _cell(ladder, "numpy/default")
    assert numpy.oom_at_rows == 800_000
    assert numpy.skipped_rows == [1_600_000, 3_200_000]
    assert numpy.memory_limit_bytes == GIB
    # 200 MiB + 2,000 bytes a row reaches 1 GiB at 432,013 rows.
    assert numpy.oom_predicted_rows == pytest.approx((GIB - 200 * MIB) / 2000, rel=1e-3)
    assert memory_wall_sentence(numpy) == (
        "numpy/default: out of memory from 800,000 rows under 1 GiB; predicted 432,000 "
        "(2 larger sizes not run)"
    )
    rdd = _cell(ladder, "spark/rdd")
    assert memory_wall_sentence(rdd) == (
        "spark/rdd: no out-of-memory failure up to 1,600,000 rows under 1 GiB; predicted out "
        "of memory from 6,540,000"
    )
    # A nearly flat memory line (a streaming cell) is not given an absurd wall.
    flat = dataclasses.replace(rdd, oom_predicted_rows=7.6e20)
    assert memory_wall_sentence(flat) == (
        "spark/rdd: no out-of-memory failure up to 1,600,000 rows under 1 GiB; its memory line "
        "is nearly flat (it would reach the limit only beyond 1,000x that size)"
    )
    assert memory_wall_sentence(_cell(ladder, "spark/df")) is None
    assert len(ladder.memory_walls) == 2


def test_a_cell_with_one_size_gets_no_line(ladder: WorkloadScaling) -> None:
    mrjob = _cell(ladder, "mrjob/local")
    assert mrjob.wall is None and mrjob.memory is None
    assert mrjob.note == "one size only (100,000 rows): no line"
    (alone,) = scaling_workloads(_line("mrjob", "local", 9.0, 1e-5, SIZES[:1]))
    assert not alone.fitted and alone.decisions == [] and scaling_markdown([alone]) == []


def test_decision_table_per_size_band(ladder: WorkloadScaling) -> None:
    (table,) = ladder.decisions
    bands = [(round(b.low), round(b.high), b.fastest, b.runner_up, b.measured) for b in table.bands]
    assert bands == [
        (100_000, 250_000, "spark/df", "numpy/default", True),
        (250_000, 583_333, "numpy/default", "spark/df", True),
        (583_333, 800_000, "numpy/default", "spark/rdd", True),
        (800_000, 1_600_000, "spark/rdd", "spark/df", True),
        (1_600_000, 6_400_000, "spark/rdd", "spark/df", False),
    ]
    first = table.bands[0]
    assert first.ratio_high == pytest.approx((2 + 0.1) / (0.5 + 0.7))  # at 100,000
    assert first.ratio_low == pytest.approx(1.0)  # they cross at 250,000
    assert table.bands[3].out == ("numpy/default (out of memory from 800,000)",)


def test_old_records_get_their_size_from_the_workload() -> None:
    old = _rec("numpy", "default", 1, 1.0, workload="wordcount", scale="tiny", factor=2.0)
    old.rows = None
    assert record_rows(old) == 40_000  # wordcount's tiny is 20,000 words
    unknown = _rec("numpy", "default", 1, 1.0)
    unknown.rows = None
    user_input = _rec("numpy", "default", 1, 1.0, workload="wordcount", scale="input")
    user_input.rows = None
    assert record_rows(unknown) is None and record_rows(user_input) is None
    records = []
    for factor in (1.0, 2.0, 4.0):
        r = _rec("numpy", "default", 1, 0.1 * factor, workload="wordcount", scale="tiny",
                 factor=factor)  # fmt: skip
        r.rows = None
        records.append(r)
    (cell,) = scaling_cells([*records, unknown])
    assert (cell.unit, cell.sizes) == ("words", [20_000, 40_000, 80_000])
    assert cell.wall is not None and cell.wall.per_million == pytest.approx(5.0, rel=1e-3)


def test_cluster_cells_are_not_pooled_with_local_ones() -> None:
    local = _line("spark", "df", 1.0, 1e-6, SIZES[:3])
    yarn = _line("spark", "df", 20.0, 1e-7, SIZES[:3], where="on YARN")
    cells = {c.label: c for c in scaling_cells(local + yarn)}
    assert set(cells) == {"spark/df", "spark/df on YARN"}
    assert cells["spark/df on YARN"].wall.fixed == pytest.approx(20.0, rel=1e-3)  # type: ignore[union-attr]


def test_predict_at_a_size_not_run() -> None:
    predictions = {p.label: p for p in predict(_ladder(), 1_600_000, WORKLOAD)}
    numpy = predictions["numpy/default"]
    assert numpy.wall_s == pytest.approx(3.6, rel=1e-3)
    assert numpy.beyond_memory_wall and numpy.memory_wall_basis == "measured"
    assert numpy.held_out_error == pytest.approx(0.0, abs=1e-3)
    rdd = predictions["spark/rdd"]
    assert rdd.wall_s == pytest.approx(5.6, rel=1e-3) and not rdd.beyond_memory_wall
    assert rdd.note == "inside the measured sizes"
    assert predictions["spark/df"].note.startswith("extrapolated, 2x the largest measured size")
    assert predictions["mrjob/local"].wall_s is None
    assert predict(_ladder(), 10, "other") == []
    assert len(predict(_ladder(), 10, ["other", WORKLOAD])) == len(predictions)
    lines = format_predictions(list(predictions.values()))
    text = "\n".join(lines)
    assert text.startswith("ladder at 1,600,000 rows")
    line = next(x for x in text.splitlines() if x.strip().startswith("numpy/default "))
    assert "3.6 s" in line
    assert "PAST ITS MEMORY WALL (out of memory from 800,000 under 1 GiB)" in line
    assert "  mrjob/local: one size only (100,000 rows): no line" in text
    assert format_predictions([]) == []
    assert format_predictions([predictions["mrjob/local"]]) == []  # no line to predict from


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report built from the ladder's records, written as a batch."""
    folder = tmp_path_factory.mktemp("results")
    writer = ResultsWriter(folder, "ladder")
    writer.ensure_writable()
    writer.write_env({"batch_id": "ladder", "command": "bdbench run --factor 1,2,4,8"})
    for record in _ladder():
        writer.append(record)
    return build_report([folder], tmp_path_factory.mktemp("report"))


def test_scaling_json_beside_the_report(report: Path) -> None:
    data = json.loads((report.parent / "scaling.json").read_text())
    cells = data[WORKLOAD]
    assert set(cells) == {"numpy/default", "spark/df", "spark/rdd", "mrjob/local",
                          f"spark/{EVIL}"}  # fmt: skip
    for cell in cells.values():
        assert {"sizes", "fixed_s", "per_million_s", "fit_error", "held_out_error", "predict",
                "memory", "oom_at_rows", "crossovers"} <= set(cell)  # fmt: skip
        assert {"fixed_bytes", "per_million_bytes"} <= set(cell["memory"])
        assert {"rows", "wall_s"} <= set(cell["predict"])
    numpy = cells["numpy/default"]
    assert numpy["sizes"] == [100_000, 200_000, 400_000]
    assert numpy["fixed_s"] == pytest.approx(2.0, rel=1e-3)
    assert numpy["per_million_s"] == pytest.approx(1.0, rel=1e-3)
    assert numpy["oom_at_rows"] == 800_000 and numpy["memory_limit_bytes"] == GIB
    assert numpy["oom_predicted_rows"] == 432_013
    assert numpy["predict"]["rows"] == 1_600_000 and numpy["predict"]["beyond_memory_wall"]
    assert numpy["predict"]["basis"] == "4x the cell's largest measured size"
    assert numpy["memory"]["per_million_bytes"] == pytest.approx(2e9, rel=1e-3)
    assert numpy["first_iteration"]["per_million_s"] == pytest.approx(0.2, rel=1e-3)
    crossing = {x["other"]: x for x in numpy["crossovers"]}
    assert crossing["spark/df"]["kind"] == "measured" and crossing["spark/df"]["rows"] == 250_000
    assert crossing["spark/rdd"] == {"other": "spark/rdd", "rows": None, "kind": "never",
                                     "factor": None, "cheaper_after": "numpy/default",
                                     "beyond_memory_wall": False}  # fmt: skip
    mrjob = cells["mrjob/local"]
    assert mrjob["sizes"] == [100_000] and mrjob["fixed_s"] is None
    assert mrjob["note"] == "one size only (100,000 rows): no line"


def test_markdown_has_the_scaling_tables(report: Path) -> None:
    md = (report.parent / "summary.md").read_text()
    assert EVIL not in md and "spark/&lt;script>alert('x')&lt;/script>" in md
    section = md[md.index("## Scaling") : md.index("## Published claims")]
    assert "### ladder: scaling" in section
    assert ("| cell | sizes | fixed a | b per million rows | fit error | held-out error | "
            "first iteration | later iterations | peak memory c | d per million rows | note |"
            ) in section  # fmt: skip
    row = next(x for x in section.splitlines() if x.startswith("| spark/df | 4 (100,000"))
    assert row.startswith("| spark/df | 4 (100,000 to 800,000) | 500 ms | 7 s | 0.0% |")
    assert (
        "| numpy/default | spark/df | measured | 250,000 | inside the measured sizes | "
        "numpy/default |" in section
    )
    assert "| 800,000 to 1,600,000 | measured | spark/rdd | spark/df |" in section
    assert ("- numpy/default: out of memory from 800,000 rows under 1 GiB; predicted 432,000"
            in section)  # fmt: skip
    assert "| mrjob/local | 1 (100,000) | - |" in section


def test_the_old_scaling_chart_is_replaced(report: Path) -> None:
    html = report.read_text()
    assert EVIL not in html
    assert "ladder: scaling (log-log), wall time against rows" in html
    # wall time and peak memory by engine in the workload's section, and the scaling plot
    assert html.count('<img src="data:image/png;base64,') == 3
    assert 'id="scaling"' in html and "<h4>One machine's memory wall</h4>" in html
    assert "spark/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_scaling_section_renders_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=browser_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            page.goto(report.resolve().as_uri())
            page.wait_for_load_state("load")
            section = page.locator("#scaling")
            images = section.evaluate(
                "s => Array.from(s.querySelectorAll('img')).map(i => ({w: i.naturalWidth,"
                " h: i.naturalHeight, bw: i.getBoundingClientRect().width,"
                " complete: i.complete, alt: i.alt}))"
            )
            headings = section.locator("h4").all_inner_texts()
            text = section.inner_text()
            n_tables = section.locator("table").count()
            section.screenshot(path=str(tmp_path / "scaling.png"))
        finally:
            browser.close()
    assert errors == []
    (image,) = images
    assert image["complete"] and image["w"] > 0 and image["h"] > 0 and image["bw"] > 0, image
    assert "ladder: scaling (log-log)" in image["alt"] and EVIL in image["alt"]
    assert n_tables == 4
    assert [h.split(":")[0] for h in headings] == [
        "Measured sizes (medians over the measured runs)",
        "Fitted cost lines",
        "Crossovers",
        "Decision table",
        "One machine's memory wall",
    ]
    assert "out of memory from 800,000 rows under 1 GiB; predicted 432,000" in text
    assert f"spark/{EVIL}" in text  # shown as text, never run
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
