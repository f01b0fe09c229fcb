"""The DuckDB engine: every workload through the runner, exact answers on edge cases, what
DuckDB does with UDF filters (call counts and its plan), clean state between calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_stream_window import EDGE_LINES, MALFORMED, _dataset, _event, _params
from test_wordcount import EDGE_CASES

from harness import datasets, metrics, registry, runner
from harness.cells import Cell
from harness.engines.base import Placement, cpu_count
from harness.engines.duckdb_engine import MEMORY_SHARE, DuckdbEngine
from harness.registry import RunContext
from harness.results import ResultsWriter
from harness.rules import RulesMode
from workloads import udf_filter as uf

pytest.importorskip("duckdb")

WORKLOADS = ["wordcount", "udf_filter", "udf_map", "logreg", "kmeans", "stream_window"]
PAPER = dict(uf.DEFAULT_PARAMS)
SWEEP = {**uf.DEFAULT_PARAMS, "scenario": "sweep", "filters": 3, "cost_ratio": 9}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckdbEngine]:
    """A started DuckDB engine (in memory), stopped after the test."""
    started = DuckdbEngine()
    data = datasets.generated(registry.get_workload("wordcount"), "tiny")
    started.start("default", RulesMode.NONE, data, tmp_path / "scratch")
    yield started
    started.stop()


def _run(engine: DuckdbEngine, workload: str, data: datasets.Dataset, params: dict[str, Any],
         tmp: Path, rules: RulesMode = RulesMode.NONE) -> tuple[Any, RunContext]:  # fmt: skip
    spec = registry.get_workload(workload)
    prepared = datasets.prepared(spec, data, params) if spec.prepare is not None else {}
    impl = registry.find_impl(workload, "duckdb", "default")
    assert impl is not None
    ctx = RunContext(engine, "default", data, dict(params), tmp, rules=rules, prepared=prepared)
    return impl.func(ctx), ctx


def _tiny(workload: str) -> datasets.Dataset:
    return datasets.generated(registry.get_workload(workload), "tiny")


def _expected(workload: str, data: datasets.Dataset, params: dict[str, Any]) -> Any:
    return datasets.reference_answer(registry.get_workload(workload), data, params)


def test_every_workload_passes_through_the_runner(tmp_path: Path) -> None:
    cells = [Cell(w, "duckdb", "default", RulesMode.NONE) for w in WORKLOADS if w != "udf_filter"]
    cells += [Cell("udf_filter", "duckdb", "default", r) for r in (RulesMode.OFF, RulesMode.ON)]
    writer = ResultsWriter(tmp_path, "duckdb")
    writer.ensure_writable()
    config = runner.RunConfig(scales=["tiny"], repeats=1, warmups=1, timeout=300)
    records = [r for r in runner.run_batch(cells, config, writer) if not r.is_warmup]
    assert len(records) == len(cells)
    for record in records:
        detail = record.error or record.metrics.get("traceback")
        assert record.status == "ok", f"{record.cell.name}: {detail}"
        assert record.check == "pass", f"{record.cell.name}: {record.check_detail}"
        assert metrics.undeclared(record.metrics) == [], record.cell.name
        assert record.engine_info["threads"] == cpu_count()
        assert record.engine_info["database"] == "memory"
        assert record.role["baseline"] and record.role["placement"] == Placement.SINGLE
    by_workload = {r.workload: r for r in records}
    assert len(by_workload["logreg"].metrics["iteration_s"]) == 20
    assert by_workload["udf_map"].metrics["udf"]["damage_calls_per_row"] == 1.0


def test_engine_settings_under_a_memory_limit(tmp_path: Path) -> None:
    engine = DuckdbEngine()
    engine.memory_limit = 1 << 30
    scratch = tmp_path / "scratch"
    engine.start("default", RulesMode.NONE, _tiny("logreg"), scratch)
    try:
        info = engine.info()
        assert info["database"] == "file (scratch)" and info["threads"] == cpu_count()
        assert info["memory_limit"] == "614.3 MiB"  # 60% of 1 GiB, as DuckDB prints it
        assert MEMORY_SHARE == 0.6
        assert Path(info["temp_directory"]).is_relative_to(scratch)
        assert list(scratch.rglob("*.duckdb"))
        assert engine.role("default").cores == cpu_count()
    finally:
        engine.stop()
    assert not list(scratch.rglob("*.duckdb"))


def test_calls_leave_nothing_behind(engine: DuckdbEngine, tmp_path: Path) -> None:
    data = _tiny("udf_filter")
    first, _ = _run(engine, "udf_filter", data, PAPER, tmp_path, rules=RulesMode.OFF)
    # The same names registered again, the same temporary tables made again: no clash.
    second, _ = _run(engine, "udf_filter", data, PAPER, tmp_path, rules=RulesMode.ON)
    assert first == second == _expected("udf_filter", data, PAPER)["ids"]
    for workload in ("logreg", "logreg", "stream_window"):
        _run(engine, workload, _tiny(workload), registry.get_workload(workload).params, tmp_path)
    assert engine.con is not None
    assert engine.con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
    assert engine.con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal"
                              ).fetchone() == (0,)  # fmt: skip
    found = engine.con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name IN "
        "('udfA_99', 'udfB_10', 'bdbench_classify', 'bdbench_split_lines')"
    ).fetchone()
    assert found == (0,)


def _passing(data: datasets.Dataset, params: dict[str, Any], names: list[str]) -> int:
    return int(_expected("udf_filter", data, params)["passing"][",".join(sorted(names))])


@pytest.mark.parametrize("order", ["expensive_first", "cheap_first"])
def test_rules_off_keep_the_written_order_and_short_circuit(
    engine: DuckdbEngine, order: str, tmp_path: Path
) -> None:
    """DuckDB's optimizer does not reorder conjuncts holding a Python UDF, and evaluates
    each one only on the rows the ones before it passed: its plan shows the written order,
    and the call counts prove it, whichever order is written."""
    for params in ({**PAPER, "order": order}, {**SWEEP, "order": order}):
        data = _tiny("udf_filter")
        ids, ctx = _run(engine, "udf_filter", data, params, tmp_path, rules=RulesMode.OFF)
        assert ids == _expected("udf_filter", data, params)["ids"]
        written = [s["name"] for s in uf.filter_specs(params)]
        udf = ctx.metrics["udf"]
        assert udf["evaluated_order"] == written
        assert udf["parallelism"] == cpu_count()
        for k, name in enumerate(written):
            assert udf["calls"][name] == _passing(data, params, written[:k]), (order, name)
        plan = ctx.metrics["plan"]
        assert "Filter" in plan and all(f"{n}(" in plan for n in written)
        assert plan.index(f"{written[0]}(") < plan.index(f"{written[-1]}(")


def test_rules_on_impose_the_ranked_order(engine: DuckdbEngine, tmp_path: Path) -> None:
    for params in (PAPER, SWEEP):
        data = _tiny("udf_filter")
        ids, ctx = _run(engine, "udf_filter", data, params, tmp_path, rules=RulesMode.ON)
        assert ids == _expected("udf_filter", data, params)["ids"]
        ranked = [s["name"] for s in uf.evaluation_order(uf.filter_specs(params), RulesMode.ON,
                                                         ctx.prepared)]  # fmt: skip
        assert ranked != [s["name"] for s in uf.filter_specs(params)]  # expensive was first
        udf = ctx.metrics["udf"]
        assert udf["evaluated_order"] == ranked
        for k, name in enumerate(ranked):
            assert udf["calls"][name] == _passing(data, params, ranked[:k]), name
        assert "CASE" in ctx.metrics["plan"]
        expected = _expected("udf_filter", data, params)
        uf.finish_metrics(ctx.metrics, expected, params, ctx.prepared)
        assert ctx.metrics["udf"]["survivor_calls_exact"] is True


def test_duckdb_reorders_builtin_conjuncts_but_never_a_python_udf(engine: DuckdbEngine) -> None:
    """The behaviour the rules-off cells measure, on DuckDB itself: its optimizer moves a
    cheap comparison before a costly builtin, but leaves a conjunction holding a Python UDF
    in the written order; and its adaptive filter, which at run time tries swapping
    conjuncts that are slow first, never swaps one with a Python UDF either."""
    import time

    import pyarrow as pa

    calls = {"slow": 0, "cheap": 0}

    def udf(name: str, pause: float) -> Any:
        def fn(column: Any) -> Any:
            calls[name] += len(column)
            time.sleep(pause)
            return pa.array(column.to_numpy() % 10)

        return fn

    with engine.session() as db:
        db.function("slow", udf("slow", 0.002), ["BIGINT"], "BIGINT")
        db.function("cheap", udf("cheap", 0.0), ["BIGINT"], "BIGINT")
        source = "(SELECT range AS id, range::VARCHAR AS h FROM range(300000))"

        def filter_of(where: str) -> str:
            """The physical plan's filter expression of a query with ``where``."""
            sql = f"EXPLAIN (FORMAT JSON) SELECT id FROM {source} WHERE {where}"
            plan = db.con.execute(sql).fetchall()[0][1]
            return str(json.loads(plan)[0]["extra_info"]["Expression"])

        builtin = filter_of("h || h = '11' AND id > 3")
        assert builtin.index("> 3") < builtin.index("||")  # the cheap comparison moved first
        assert filter_of("slow(id) > 0 AND id > 3").index("slow(") == 1
        mixed = filter_of("slow(id) > 0 AND cheap(id) < 1")
        assert mixed.index("slow(") < mixed.index("cheap(")
        count = db.con.execute(
            f"SELECT count(*) FROM {source} WHERE slow(id) > 0 AND cheap(id) < 1"
        ).fetchone()
    # 147 vectors of 2048 rows: enough for the adaptive filter to try a swap (after 5
    # vectors of warm-up, every 20 vectors), which would have put cheap first.
    assert count == (0,)
    assert calls == {"slow": 300_000, "cheap": 270_000}


def test_udf_map_computes_damage_once_per_row(engine: DuckdbEngine, tmp_path: Path) -> None:
    data = _tiny("udf_map")
    params = registry.get_workload("udf_map").params
    rows, ctx = _run(engine, "udf_map", data, dict(params), tmp_path)
    assert registry.get_workload("udf_map").check(rows, _expected("udf_map", data, params)).passed
    udf = ctx.metrics["udf"]
    assert udf["calls"] == {"damage": len(rows), "severity": len(rows)}
    assert udf["damage_calls_per_row"] == 1.0
    assert "Projection" in ctx.metrics["plan"]


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_wordcount_edge_cases(engine: DuckdbEngine, name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_bytes(EDGE_CASES[name])
    workload = registry.get_workload("wordcount")
    data = datasets.user_input(workload, path, tmp_path / "data")
    answer, _ = _run(engine, "wordcount", data, {}, tmp_path)
    assert answer == datasets.reference_answer(workload, data, {})


def test_wordcount_files_end_words_and_a_bad_file_spoils_no_other(
    engine: DuckdbEngine, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"\xef\xbb\xbfbom one tw")
    (folder / "b.txt").write_bytes(b"o one\r\n\xff\xfetwo\rthree")
    workload = registry.get_workload("wordcount")
    data = datasets.Dataset("wordcount", "input", 1.0, None, folder,
                            (folder / "a.txt", folder / "b.txt"), {})  # fmt: skip
    answer, _ = _run(engine, "wordcount", data, {}, tmp_path)
    assert answer == workload.reference(data, {})
    assert answer["tw"] == 1 and answer["o"] == 1 and answer["\ufeffbom"] == 1


def test_stream_window_edge_lines_and_malformed(engine: DuckdbEngine, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", [[*MALFORMED[:7], _event(2_000)], [], ["", " "]])
    data.inputs[1].write_bytes(EDGE_LINES + b"\xff\xfe not utf-8\n" + _event(9_000).encode())
    # Other spellings of valid events: spaces, another key order, escapes, a big ad table.
    data.inputs[2].write_text(
        "\n".join(
            [
                _event(15_000).replace(": ", ":"),
                '{"event_time": 16000, "user_id": "u", "page_id": "p", "ad_id": "ad-2", '
                '"ad_type": "b", "event_type": "view", "ip_address": "x"}',
                _event(17_000, user_id="\\u00e9"),
                *MALFORMED[7:],
            ]
        )
    )
    for params in (_params(), _params(window=10, slide=5, lateness=1)):
        expected = registry.get_workload("stream_window").reference(data, params)
        assert expected["malformed"] > len(MALFORMED) and expected["events"] > 8
        answer, _ = _run(engine, "stream_window", data, params, tmp_path)
        assert answer == expected


def test_line_pieces_never_cut_a_line(tmp_path: Path) -> None:
    from workloads._duckdb import line_pieces

    path = tmp_path / "f"
    data = b"ab\r\ncd\ref\n\n" + b"x" * 20 + b"\r\ny"
    path.write_bytes(data)
    for size in (1, 3, 4, 7, 100):
        found = [bytes(p) for p in line_pieces(path, size)]
        assert b"".join(found) == data, size
        assert all(p.endswith(b"\n") for p in found[:-1]), size
    path.write_bytes(b"")
    assert list(line_pieces(path, 4)) == []


def test_small_pieces_give_the_same_answers(
    engine: DuckdbEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many pieces per file: words and lines never cut, bad UTF-8 repaired piece by piece."""
    import workloads._duckdb
    from workloads.wordcount import impl_duckdb

    monkeypatch.setattr(workloads._duckdb, "PIECE_BYTES", 64)
    monkeypatch.setattr(impl_duckdb, "PIECE_BYTES", 64)
    path = tmp_path / "words.txt"
    path.write_bytes(EDGE_CASES["invalid_utf8"] * 9 + EDGE_CASES["crlf"] * 7 + b"x" * 300)
    workload = registry.get_workload("wordcount")
    data = datasets.user_input(workload, path, tmp_path / "data")
    answer, _ = _run(engine, "wordcount", data, {}, tmp_path)
    assert answer == datasets.reference_answer(workload, data, {})
    events = _dataset(tmp_path / "events", [[_event(t) for t in range(1_000, 40_000, 700)]])
    events.inputs[0].write_bytes(events.inputs[0].read_bytes() + EDGE_LINES)
    expected = registry.get_workload("stream_window").reference(events, _params())
    answer, _ = _run(engine, "stream_window", events, _params(), tmp_path)
    assert answer == expected


def test_stream_window_late_events_by_the_previous_files_watermark(
    engine: DuckdbEngine, tmp_path: Path
) -> None:
    files = [[105_000], [125_000, 95_000], [99_999, 91_000, 100_000, 110_000], [119_999, 121_000]]
    data = _dataset(tmp_path / "data", [[_event(t) for t in f] for f in files])
    expected = registry.get_workload("stream_window").reference(data, _params())
    assert expected["dropped"] == 3
    answer, _ = _run(engine, "stream_window", data, _params(), tmp_path)
    assert answer == expected


def test_kmeans_list_form_for_many_centroids(
    engine: DuckdbEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workloads.kmeans import impl_duckdb

    data = _tiny("kmeans")
    params = {**registry.get_workload("kmeans").params, "k": 5, "iterations": 4}
    expected = _expected("kmeans", data, params)
    for inline in (32, 0):
        monkeypatch.setattr(impl_duckdb, "INLINE_K", inline)
        answer, ctx = _run(engine, "kmeans", data, params, tmp_path)
        assert registry.get_workload("kmeans").check(answer, expected).passed, inline
        assert len(ctx.metrics["iteration_s"]) == 4


def test_kmeans_stops_early_and_logreg_takes_another_label(
    engine: DuckdbEngine, tmp_path: Path
) -> None:
    data = _tiny("kmeans")
    params = {**registry.get_workload("kmeans").params, "tolerance": 1e9}
    answer, _ = _run(engine, "kmeans", data, params, tmp_path)
    assert len(answer["inertia"]) == 1
    assert registry.get_workload("kmeans").check(answer, _expected("kmeans", data, params)).passed
    path = tmp_path / "points.csv"
    lines = _tiny("logreg").inputs[0].read_text().splitlines()
    # The label last, under another name: columns are found by name, not position.
    cells = [line.split(",") for line in lines]
    cells[0][0] = "y class"
    path.write_text("\n".join(",".join([*c[1:], c[0]]) for c in cells) + "\n")
    params = {**registry.get_workload("logreg").params, "label": "y class"}
    data = datasets.user_input(registry.get_workload("logreg"), path, tmp_path / "data")
    answer, _ = _run(engine, "logreg", data, params, tmp_path)
    assert registry.get_workload("logreg").check(answer, _expected("logreg", data, params)).passed


def test_listing_engines_imports_no_duckdb() -> None:
    code = (
        "import sys; from harness import registry; from harness.engines import ENGINES; "
        "registry.load_all(); assert 'duckdb' in ENGINES; "
        "assert 'duckdb' not in sys.modules and 'pyarrow' not in sys.modules"
    )
    env = {**os.environ, "BDBENCH_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
