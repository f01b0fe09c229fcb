"""The shape of the measuring core: engines own their options, the core names no engine, the
worker contract round-trips, and the two bugs of issue 12 stay fixed."""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from harness import cli, runner
from harness.cells import Cell, expand_cells, matrix
from harness.contract import RunRequest, RunResult
from harness.engines import ENGINES, EngineOptions
from harness.engines.numpy_engine import NumpyEngine
from harness.errors import EngineUnavailable
from harness.results import ResultsWriter, load_records
from harness.rules import RulesMode
from harness.worker import execute
from reports.data import load_results
from reports.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
#: Every module that must read what engines declare, never their names: the measuring core
#: and the reports; not the engines, the clusters and the Spark rules, which are engine code,
#: nor the published claims' own text (``reports/published.py``), which names its systems.
CORE = sorted(
    str(p.relative_to(ROOT))
    for p in [*(ROOT / "harness").glob("*.py"), *(ROOT / "reports").glob("*.py")]
    if p.name != "published.py"
)


def _engine_words() -> set[str]:
    """Every engine's name and the software it wraps (``pyspark``), lower-cased; not the
    libraries the harness itself depends on (an engine may record pyarrow's version too)."""
    from harness.results import HARNESS_DISTRIBUTIONS

    words = set(ENGINES)
    for cls in ENGINES.values():
        words.update(d.lower() for d in cls.distributions)
    return (words | {"hadoop", "duckdb", "polars"}) - set(HARNESS_DISTRIBUTIONS)


def _import_lines(source: str) -> set[int]:
    """Lines of import statements: a library may be imported by name (NumPy for arrays)."""
    import ast

    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def test_the_core_list_covers_the_reports_and_the_harness() -> None:
    assert {"harness/runner.py", "harness/cli.py", "reports/claims.py", "reports/stats.py"} <= set(
        CORE
    )
    assert "reports/published.py" not in CORE and len(CORE) > 30


@pytest.mark.parametrize("path", CORE)
def test_the_measuring_core_names_no_engine(path: str) -> None:
    source = (ROOT / path).read_text()
    pattern = re.compile("|".join(sorted(_engine_words())), re.IGNORECASE)
    imports = _import_lines(source)
    found = []
    kinds = {tokenize.NAME, tokenize.STRING, tokenize.COMMENT}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in kinds and tok.start[0] not in imports:
            found += [
                f"{tok.start[0]}: {tok.string.strip()[:60]}" for _ in pattern.findall(tok.string)
            ]
    assert found == [], f"{path} names an engine"


def test_run_help_is_generated_from_the_engines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    for name, cls in ENGINES.items():
        assert f"{name}:" in text  # the engine's own option group
        for field in cls.Options.__dataclass_fields__.values():
            assert field.metadata["cli"].flag in text
        for variant in cls.variants:
            assert f"{name}/{variant}" in text
    for choice in ("auto", "off", "on", "both", "paper", "all"):
        assert choice in text


def test_engine_options_parse_and_round_trip() -> None:
    args = cli.build_parser().parse_args(
        ["run", "--spark-master", "local[2]", "--spark-conf", "a=b", "--spark-conf", "c=d=e",
         "--mrjob-num-cores", "3", "--mrjob-arg=--x", "--spark-ui"]
    )  # fmt: skip
    options = cli._options(args)
    spark, mrjob = options.by_engine["spark"], options.by_engine["mrjob"]
    assert (spark.master, spark.conf, spark.ui) == ("local[2]", {"a": "b", "c": "d=e"}, True)
    assert (mrjob.num_cores, mrjob.args) == (3, ["--x"])
    assert spark.driver_memory == "2g"  # the default, written once in the dataclass
    again = EngineOptions.from_json(json.loads(json.dumps(options.to_json())))
    assert again == options


def test_bad_engine_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "-w", "wordcount", "-e", "numpy", "--spark-conf", "novalue"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bdbench: error: --spark-conf needs KEY=VALUE, got 'novalue'"]


def test_one_cell_key_and_label_everywhere() -> None:
    cells = list(matrix(["udf_filter"]))
    labels = {c.label for c in cells}
    assert {"numpy/default", "spark/df", "spark/df+rules", "spark/df+paper"} <= labels
    assert len({c.key for c in cells}) == len(cells)
    on = Cell("udf_filter", "spark", "df", RulesMode.ON)
    assert on.key != Cell("udf_filter", "spark", "df", RulesMode.PAPER).key
    off, none = RulesMode.OFF, RulesMode.NONE
    assert Cell("w", "numpy", "default", off).key != Cell("w", "numpy", "default", none).key
    with pytest.raises(TypeError, match="RulesMode"):
        Cell("w", "numpy", "default", True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="truth"):
        bool(RulesMode.OFF)
    # Records keep the JSON values of before the Enum: false, true, "paper", null.
    assert [m.to_json() for m in RulesMode] == [None, False, True, "paper"]
    assert [RulesMode.from_json(m.to_json()) for m in RulesMode] == list(RulesMode)
    with pytest.raises(ValueError, match="not a rules mode"):
        RulesMode.from_json(1)
    assert [c for c in expand_cells(["udf_filter"], ["spark/df"], "on")] == [on]


def test_request_and_result_round_trip(tmp_path: Path) -> None:
    request = RunRequest("wordcount", "numpy", "default", RulesMode.NONE, {"k": 1}, {"x": 1},
                         {}, {}, str(tmp_path), str(tmp_path / "r.json"))  # fmt: skip
    request.write(tmp_path / "q.json")
    assert RunRequest.read(tmp_path / "q.json") == request
    result = RunResult(status="ok", wall_s=1.0, metrics={"items": 3}, stop_error="x")
    result.write(tmp_path / "r.json")
    assert RunResult.read(tmp_path / "r.json") == result
    (tmp_path / "bad.json").write_text(json.dumps({"status": "ok", "surprise": 1}))
    with pytest.raises(ValueError, match="surprise"):
        RunResult.read(tmp_path / "bad.json")


def test_rules_jar_is_built_only_for_cells_whose_engine_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug: any cell with rules on built the Spark rules jar; without pyspark (or javac) the
    numpy and mrjob cells of a UDF workload were skipped with the jar's reason."""
    from harness.spark_rules import build

    def no_jar() -> Path:
        raise EngineUnavailable("spark rules: pyspark is not installed")

    monkeypatch.setattr(build, "build_jar", no_jar)
    cells = expand_cells(["udf_filter"], ["numpy", "spark/df"], "on")
    writer = ResultsWriter(tmp_path, "rules")
    writer.ensure_writable()
    config = runner.RunConfig(scales=["tiny"], repeats=1, warmups=0, timeout=120)
    records = {r.engine: r for r in runner.run_batch(cells, config, writer)}
    assert records["numpy"].rules is RulesMode.ON
    assert (records["numpy"].status, records["numpy"].check) == ("ok", "pass")
    assert records["spark"].status == "skipped"
    assert records["spark"].error == "spark rules: pyspark is not installed"


def test_an_engine_that_fails_to_stop_is_recorded_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_wordcount: object
) -> None:
    """Bug: the worker wrote ``stop_error`` and nothing read it."""

    def broken_stop(self: NumpyEngine) -> None:
        raise RuntimeError("session would not stop")

    monkeypatch.setattr(NumpyEngine, "stop", broken_stop)
    data = tiny_wordcount.to_json()  # type: ignore[attr-defined]
    request = RunRequest("wordcount", "numpy", "default", RulesMode.NONE, {}, data,
                         {}, {}, str(tmp_path), str(tmp_path / "r.json"))  # fmt: skip
    result = execute(request, None)
    assert result.status == "ok" and result.stop_error == "RuntimeError: session would not stop"
    from harness import probe

    fields = runner.merge(result, probe.ProbeResult(100, 0.5, 3, 1, 0.01), 0)
    writer = ResultsWriter(tmp_path / "res", "stop")
    writer.ensure_writable()
    cell = request.cell
    record = runner._Batch(runner.RunConfig(scales=["tiny"]), writer, None, None, tmp_path).record(
        cell, {"scale": "tiny", "params": {}}, repeat=0, is_warmup=False, status="failed"
    )
    import dataclasses

    writer.append(dataclasses.replace(record, **fields))
    (loaded,) = load_records(writer.path)
    assert loaded.stop_error == "RuntimeError: session would not stop"
    (summary,) = summarize([loaded])
    assert summary.stop_failures == (
        "engine failed to stop after 1 of 1 runs: RuntimeError: session would not stop"
    )


OLD_RECORD = {  # a record as the previous version wrote it (no stop_error field)
    "answer_digest": "ab" * 32, "batch_id": "old", "check": "pass", "check_detail": "",
    "cpu_s": 1.0, "engine": "mrjob", "engine_info": {"runner": "local"}, "error": None,
    "factor": 1.0, "input": {"bytes": 10}, "is_warmup": False, "metrics": {"items": 5},
    "params": {}, "peak_rss_bytes": 1000, "repeat": 0, "rules": None, "run_id": "r1",
    "scale": "tiny", "schema_version": 1, "seed": 42, "started_at": "2026-11-01T00:00:00+00:00",
    "startup_s": 0.1, "status": "ok", "timeout_s": 60.0, "variant": "local", "wall_s": 2.0,
    "workload": "wordcount", "workload_version": "1",
}  # fmt: skip
OLD_ENV = {  # the previous version's env file: flat engine options, notes per variant
    "batch_id": "old", "engine_options": {"spark_master": "local[*]", "mrjob_num_cores": None},
    "engines": {"mrjob": {"notes": {"local": "mrjob 'local' simulates Hadoop Streaming"}}},
}  # fmt: skip


def test_old_results_still_load_with_their_notes(tmp_path: Path) -> None:
    (tmp_path / "old.jsonl").write_text(json.dumps(OLD_RECORD) + "\n")
    (tmp_path / "old.env.json").write_text(json.dumps(OLD_ENV))
    results = load_results([tmp_path])
    (summary,) = summarize(results.records, results.environments)
    assert summary.label == "mrjob/local" and summary.check == "pass"
    assert summary.note == "mrjob 'local' simulates Hadoop Streaming"
    assert cli.main(["report", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == 0


def test_no_implementation_imports_another_implementation() -> None:
    # Shared code lives in a helper module (workloads/_name.py or the workload's package),
    # never in one engine's impl_* that another engine's would then depend on.
    import ast

    found = []
    for path in sorted((ROOT / "workloads").glob("*/impl_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if ".impl_" in n]
    assert found == []


def test_an_engine_whose_library_is_missing_is_unavailable_and_its_cells_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each engine's library is an optional extra: without it the engine says why, bdbench
    # list shows it, and a batch records its cells as skipped with that reason.
    monkeypatch.setattr(NumpyEngine, "distributions", ("bdbench_no_such_library",))
    reason = "numpy: python package 'bdbench_no_such_library' is not installed"
    assert NumpyEngine().unavailable("default", RulesMode.NONE) == reason
    from harness.cells import matrix_rows

    row = next(r for r in matrix_rows() if r["label"] == "numpy/default")
    assert (row["state"], row["reason"]) == ("unavailable", reason)
    writer = ResultsWriter(tmp_path, "nolib")
    writer.ensure_writable()
    config = runner.RunConfig(scales=["tiny"], repeats=1, warmups=0, timeout=120)
    (record,) = runner.run_batch(expand_cells(["wordcount"], ["numpy"]), config, writer)
    assert (record.status, record.error) == ("skipped", reason)
    assert record.role["baseline"] is True  # what it is, even when it cannot run here
