"""The Polars engine: every workload through the real runner, the UDF filters' call counts and
plans (what Polars' optimizer does with them), line-level edge cases equal to the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import datasets, memlimit, registry, runner
from harness.engines import ENGINES
from harness.engines.base import Placement
from harness.engines.polars_engine import PolarsEngine
from harness.registry import RunContext
from harness.results import ResultsWriter
from harness.rules import RulesMode
from workloads import stream_window as sw
from workloads import udf_filter as uf

pl = pytest.importorskip("polars")

WORKLOADS = ("wordcount", "udf_filter", "udf_map", "logreg", "kmeans", "stream_window")
VARIANTS = PolarsEngine.variants
PAPER = dict(uf.DEFAULT_PARAMS)
SWEEP = {**uf.DEFAULT_PARAMS, "scenario": "sweep", "filters": 3, "cost_ratio": 9}


def _engine(variant: str, data: datasets.Dataset, scratch: Path, rules: RulesMode = RulesMode.NONE
            ) -> PolarsEngine:  # fmt: skip
    engine = PolarsEngine()
    scratch.mkdir(parents=True, exist_ok=True)
    engine.start(variant, rules, data, scratch)
    return engine


def _run(workload: str, variant: str, data: datasets.Dataset, params: dict[str, Any],
         scratch: Path, rules: RulesMode = RulesMode.NONE
         ) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The polars implementation of ``workload`` in this process: its answer and metrics."""
    spec = registry.get_workload(workload)
    prepared = datasets.prepared(spec, data, params) if spec.prepare else {}
    engine = _engine(variant, data, scratch, rules)
    impl = registry.find_impl(workload, "polars", variant)
    assert impl is not None
    ctx = RunContext(engine, variant, data, dict(params), scratch, rules=rules, prepared=prepared)
    try:
        return impl.func(ctx), ctx.metrics
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def udf_tiny(isolated_env: Path) -> datasets.Dataset:
    """The generated tiny udf_filter dataset."""
    return datasets.generated(registry.get_workload("udf_filter"), "tiny")


def test_every_workload_has_both_variants_and_the_engine_is_a_baseline() -> None:
    assert ENGINES["polars"] is PolarsEngine
    for workload in WORKLOADS:
        for variant in VARIANTS:
            assert registry.find_impl(workload, "polars", variant) is not None, workload
    role = PolarsEngine().role("streaming")
    assert role.placement is Placement.SINGLE and role.baseline and role.nodes == 1
    assert role.cores is not None and role.cores >= 1


def test_listing_the_matrix_imports_no_polars() -> None:
    code = (
        "import sys; from harness import registry, cells; registry.load_all(); "
        "cells.matrix_rows(); print('polars' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_start_loads_polars_lazy_numpy_before_any_query(tmp_path: Path) -> None:
    # Polars' lazy numpy proxy races when streaming threads first use it at once; the engine
    # loads it at start, so no UDF call in a timed query is the first.
    code = (
        "import sys; from pathlib import Path; from harness.rules import RulesMode; "
        "from harness.engines.polars_engine import PolarsEngine; e = PolarsEngine(); "
        f"e.start('streaming', RulesMode.NONE, None, Path({str(tmp_path)!r})); "
        "import polars._dependencies as d, numpy; print(d.numpy is numpy); e.stop()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_every_cell_passes_through_the_runner(tmp_path: Path) -> None:
    """Each workload at tiny, both variants (udf_filter with rules off and on), in measured
    worker processes, exactly as ``bdbench run`` runs them."""
    cells = runner.expand_cells(list(WORKLOADS), ["polars"])
    assert {(c.workload, c.variant) for c in cells} == {(w, v) for w in WORKLOADS for v in VARIANTS}
    assert {c.rules for c in cells if c.workload == "udf_filter"} == {RulesMode.OFF, RulesMode.ON}
    writer = ResultsWriter(tmp_path / "results", "polars-test")
    writer.ensure_writable()
    smoke = {k: [v] for w in WORKLOADS for k, v in registry.get_workload(w).smoke_params.items()}
    config = runner.RunConfig(scales=["tiny"], repeats=1, warmups=0, timeout=120, params=smoke)
    records = runner.run_batch(cells, config, writer)
    assert len(records) == len(cells)
    for record in records:
        detail = record.error or record.metrics.get("traceback")
        assert (record.status, record.check) == ("ok", "pass"), f"{record.cell.name}: {detail}"
        info = record.engine_info
        assert info["threads"] >= 1 and info["polars"] == pl.__version__
        assert (
            info["collect_engine"]
            == {"lazy": "in-memory", "streaming": "streaming"}[record.variant]
        )
        assert record.role["baseline"] is True
    by_cell = {(r.workload, r.variant, r.rules): r for r in records}
    for variant in VARIANTS:
        none, on, off = RulesMode.NONE, RulesMode.ON, RulesMode.OFF
        assert by_cell[("udf_map", variant, none)].metrics["udf"]["damage_calls_per_row"] == 1.0
        iterations = smoke.get("iterations", [registry.get_workload("logreg").params["iterations"]])
        assert len(by_cell[("logreg", variant, none)].metrics["iteration_s"]) == iterations[0]
        assert by_cell[("udf_filter", variant, on)].metrics["udf"]["survivor_calls_exact"] is True
        assert "FILTER" in by_cell[("udf_filter", variant, off)].metrics["plan"]


# -- udf_filter: what Polars' optimizer does with UDF filters ------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_rules_off_polars_merges_the_chain_and_calls_every_udf_on_every_row(
    variant: str, udf_tiny: datasets.Dataset, tmp_path: Path
) -> None:
    """Predicate pushdown turns the written chain of elementwise UDF filters into one
    predicate: no short-circuit, no cost-based order (written order kept)."""
    ids, metrics = _run("udf_filter", variant, udf_tiny, PAPER, tmp_path, rules=RulesMode.OFF)
    expected = datasets.reference_answer(registry.get_workload("udf_filter"), udf_tiny, PAPER)
    assert ids == expected["ids"]
    udf = metrics["udf"]
    assert udf["calls"] == {"udfA_99": 1000, "udfB_10": 1000}
    assert udf["evaluated_order"] is None and udf["grouping"] == [["udfA_99", "udfB_10"]]
    (line,) = [x for x in metrics["plan"].splitlines() if "python_udf" in x]
    assert "FILTER" in line and line.index("udfA_99") < line.index("udfB_10")


@pytest.mark.parametrize("variant", VARIANTS)
def test_rules_off_sweep_goes_into_the_scan_as_one_predicate(
    variant: str, udf_tiny: datasets.Dataset, tmp_path: Path
) -> None:
    """UDFs on a scanned column (the row id) are pushed into the CSV scan's ``SELECTION``,
    still one predicate in the written order (expensive first), every UDF on every row."""
    ids, metrics = _run("udf_filter", variant, udf_tiny, SWEEP, tmp_path, rules=RulesMode.OFF)
    expected = datasets.reference_answer(registry.get_workload("udf_filter"), udf_tiny, SWEEP)
    assert ids == expected["ids"]
    written = [s["name"] for s in uf.filter_specs(SWEEP)]
    assert written == ["spin2", "spin1", "spin0"]
    assert metrics["udf"]["calls"] == dict.fromkeys(written, 1000)
    assert metrics["udf"]["grouping"] == [written]
    (line,) = [x for x in metrics["plan"].splitlines() if "python_udf" in x]
    assert "SELECTION" in line


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("params", [PAPER, SWEEP], ids=["paper", "sweep"])
def test_rules_on_each_udf_sees_only_the_survivors(
    variant: str, params: dict[str, Any], udf_tiny: datasets.Dataset, tmp_path: Path
) -> None:
    workload = registry.get_workload("udf_filter")
    ids, metrics = _run("udf_filter", variant, udf_tiny, params, tmp_path, rules=RulesMode.ON)
    expected = datasets.reference_answer(workload, udf_tiny, params)
    assert ids == expected["ids"]
    prepared = datasets.prepared(workload, udf_tiny, params)
    ranked = [
        s["name"] for s in uf.evaluation_order(uf.filter_specs(params), RulesMode.ON, prepared)
    ]
    udf = metrics["udf"]
    assert udf["evaluated_order"] == ranked
    assert udf["grouping"] == [[name] for name in ranked]
    # Exact calls: the first UDF on every row, each later one on the rows the ones before
    # passed (the workload's reference counts them by subset).
    uf.finish_metrics(metrics, expected, params, prepared)
    assert udf["survivor_calls_exact"] is True
    assert udf["calls"][ranked[0]] == 1000 and udf["calls"][ranked[-1]] < 1000
    # The plan: one FILTER per UDF, the first to run at the bottom.
    lines = [x for x in metrics["plan"].splitlines() if "python_udf" in x]
    assert [n for x in reversed(lines) for n in ranked if f'"{n}"' in x] == ranked


def test_the_finding_holds_chained_and_single_filters_plan_alike() -> None:
    """What the implementation's docstring says Polars does, on a toy frame: chained
    elementwise UDF filters and one ``&`` filter give the same optimized plan and the same
    calls (every UDF on every row); predicate pushdown off keeps them apart (survivors)."""
    seen: dict[str, int] = {}

    def udf(name: str, keep: int) -> Any:
        def call(s: Any) -> Any:
            seen[name] = seen.get(name, 0) + len(s)
            return s % 10 < keep

        return pl.col("x").alias(name).map_batches(call, return_dtype=pl.Boolean,
                                                   is_elementwise=True)  # fmt: skip

    frame = pl.LazyFrame({"x": list(range(100))})
    chained = frame.filter(udf("a", 5)).filter(udf("b", 2))
    single = frame.filter(udf("a", 5) & udf("b", 2))
    no_pushdown = pl.QueryOptFlags(predicate_pushdown=False)
    assert chained.explain() == single.explain()
    for engine in ("in-memory", "streaming"):
        seen.clear()
        assert chained.collect(engine=engine).height == 20
        assert seen == {"a": 100, "b": 100}
        seen.clear()
        apart = chained.collect(engine=engine, optimizations=no_pushdown)
        assert apart.height == 20 and seen == {"a": 100, "b": 50}


def test_plan_steps_read_bottom_up() -> None:
    from workloads._udf.polars_udfs import metrics_order, plan_steps

    plan = "\n".join([
        'FILTER (col("id").alias("b").python_udf() < 1.0)',
        "FROM",
        '  SELECTION: (col("id").alias("a").python_udf() < 1.0) & (col("id").alias("c")'
        '.python_udf() < 1.0)',
    ])  # fmt: skip
    steps = plan_steps(plan, ["a", "b", "c"])
    assert steps == [["a", "c"], ["b"]]
    assert metrics_order(steps) == ["a", "c", "b"]
    assert metrics_order([["a", "b"]]) is None


# -- line-level edge cases, equal to the reference -----------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_wordcount_odd_text_and_several_files(variant: str, tmp_path: Path) -> None:
    """Invalid UTF-8 (repaired like the reference), CR, CRLF, NUL, vertical tab and form
    feed, non-ASCII spaces inside words, a file ending mid-word."""
    folder = tmp_path / "data"
    folder.mkdir()
    first = folder / "a.txt"
    second = folder / "b.txt"
    first.write_bytes(
        b"one two\r\nthree\rfour\x00five\x0bsix\x0cseven\xc2\xa0eight \xff\xfe x\xe2\x82 end"
    )
    second.write_bytes(b"start one\n\n\t two  \xe2\x82\xac\n")
    workload = registry.get_workload("wordcount")
    data = datasets.Dataset("wordcount", "input", 1.0, None, folder, (first, second), {})
    expected = workload.reference(data, {})
    assert {"end", "start", "x\ufffd", "\ufffd\ufffd", "seven\xa0eight"} <= set(expected)
    answer, _ = _run("wordcount", variant, data, {}, tmp_path / "scratch")
    verdict = workload.check(answer, expected)
    assert verdict.passed, verdict.detail


def _event(when: Any, event_type: str = "view", ad: str = "ad-1", **extra: Any) -> str:
    record = {"user_id": "u", "page_id": "p", "ad_id": ad, "ad_type": "banner",
              "event_type": event_type, "event_time": when, "ip_address": "1.2.3.4"}  # fmt: skip
    return json.dumps({**record, **extra}, separators=(",", ":"))


def _events(folder: Path, files: list[bytes]) -> datasets.Dataset:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaigns.csv").write_text("ad_id,campaign_id\nad-1,camp-1\nad-2,camp-2\n")
    paths = []
    for i, content in enumerate(files):
        path = folder / f"part-{i:05d}.json"
        path.write_bytes(content)
        paths.append(path)
    meta = {"campaigns": "campaigns.csv", "files": [p.name for p in paths]}
    return datasets.Dataset("stream_window", "input", 1.0, None, folder, tuple(paths), meta)


def _lines(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


EDGE = b"".join([
    _event(1_000).encode() + b"\r\n",  # CRLF
    _event(1_001).encode() + b"\r" + _event(1_002).encode() + b"\n",  # a lone CR splits
    _event(1_003).encode() + b"\r\xef\xbb\xbf" + _event(1_004).encode() + b"\n",  # CR, BOM
    b"\xef\xbb\xbf" + _event(1_005).encode() + b"\n",  # a byte-order mark
    b"\xef\xbb\xbf\xef\xbb\xbf" + _event(1_006).encode() + b"\n",  # only one mark goes
    json.dumps(json.loads(_event(1_007))).encode() + b"\n",  # spaces: not the fast path
    b"\t \r \n",  # JSON whitespace only: blank
    "\u00a0".encode() + b"\n",  # not JSON whitespace: malformed
    _event(1_008, ad="no-such-ad").encode() + b"\n",
    _event(1_009, "click").encode() + b"\n",
    _event(10**15).encode() + b"\n",  # past TIME_MAX
    _event(1_010).encode(),  # no final line break
])  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    ("files", "params"),
    [
        ([EDGE], {}),
        ([EDGE, _event(2_000).encode() + b"\n\xff" + _event(2_001).encode() + b"\n"], {}),
        ([_lines(_event(105_000)), _lines(_event(125_000), _event(95_000)),
          _lines(_event(99_999), _event(91_000), _event(100_000), _event(110_000)),
          _lines(_event(119_999), _event(121_000))], {}),
        ([_lines(_event(105_000)), _lines(_event(125_000)),
          _lines(_event(97_000), _event(102_000, ad="ad-2"))], {"slide": 5}),
        ([_lines(_event(200_000, "click"), _event(10_000)), _lines(_event(150_000)),
          _lines(_event(11_000)), b"", b"\n\n"], {"window": 7, "slide": 3, "lateness": 2}),
    ],
    ids=["edge-lines", "invalid-utf8", "tumbling-late", "sliding-late", "clicks-empty-files"],
)  # fmt: skip
def test_stream_window_equals_the_reference(
    variant: str, files: list[bytes], params: dict[str, Any], tmp_path: Path
) -> None:
    data = _events(tmp_path / "data", files)
    full = {**sw.DEFAULT_PARAMS, **params}
    expected = sw.reference(data, full)
    assert expected["events"] > 0
    answer, _ = _run("stream_window", variant, data, full, tmp_path / "scratch")
    verdict = sw.check(answer, expected)
    assert verdict.passed, verdict.detail


def test_edge_lines_exercise_both_paths() -> None:
    from workloads.stream_window.events import CANONICAL_EVENT

    lines = EDGE.split(b"\n")
    assert any(CANONICAL_EVENT.match(line) for line in lines)
    assert any(line and not CANONICAL_EVENT.match(line) for line in lines)


# -- the iterative workloads' streaming data path ------------------------------------------------


@pytest.mark.parametrize("workload", ["logreg", "kmeans"])
def test_streaming_rescans_a_staged_arrow_file(workload: str, isolated_env: Path,
                                               tmp_path: Path) -> None:  # fmt: skip
    spec = registry.get_workload(workload)
    data = datasets.generated(spec, "tiny")
    params = dict(spec.params)
    answer, metrics = _run(workload, "streaming", data, params, tmp_path)
    assert spec.check(answer, datasets.reference_answer(spec, data, params)).passed
    assert (tmp_path / "points.arrow").is_file()
    assert len(metrics["iteration_s"]) == params["iterations"]


# -- out of core ----------------------------------------------------------------------------------


def test_engine_settings_under_a_memory_limit(udf_tiny: datasets.Dataset, tmp_path: Path) -> None:
    engine = PolarsEngine()
    engine.memory_limit = 1 << 30
    engine.start("streaming", RulesMode.NONE, udf_tiny, tmp_path)
    try:
        env = engine.info()["env"]
        assert env["POLARS_OVERRIDE_TOTAL_MEMORY_MB"] == str(int((1 << 30) * 0.65) // 1_000_000)
        assert env["POLARS_OOC_SPILL_DIR"].startswith(str(tmp_path))
        assert env["POLARS_MAX_THREADS"] == str(engine.threads())
    finally:
        engine.stop()
    assert "POLARS_OVERRIDE_TOTAL_MEMORY_MB" not in os.environ


def test_streaming_and_duckdb_run_out_of_core_where_numpy_dies(
    isolated_env: Path, tmp_path: Path
) -> None:
    """Under a memory cgroup's limit too small for NumPy to hold the input (it is killed),
    the streaming engine and DuckDB pass their checks."""
    group = memlimit.RunCgroup.create(f"bdbench-test-{os.getpid()}", 256 << 20)
    if group is None:
        pytest.skip("no writable memory cgroup here (the probe enforces limits instead)")
    group.remove()
    cells = runner.expand_cells(
        ["udf_filter"], ["numpy/default", "polars/streaming", "duckdb"], rules="on"
    )
    writer = ResultsWriter(tmp_path / "results", "polars-ooc")
    writer.ensure_writable()
    config = runner.RunConfig(
        scales=["tiny"], factors=[10.0], repeats=1, warmups=0, timeout=120,
        memory_limit=144 << 20,
    )  # fmt: skip
    records = {(r.engine, r.variant): r for r in runner.run_batch(cells, config, writer)}
    streaming = records[("polars", "streaming")]
    assert (streaming.status, streaming.check) == ("ok", "pass"), streaming.error
    # DuckDB too: its buffers kept under 60% of the limit, spilling to the run's scratch.
    duck = records[("duckdb", "default")]
    assert (duck.status, duck.check) == ("ok", "pass"), duck.error
    died = records[("numpy", "default")]
    assert memlimit.out_of_memory(died.error), died.error
