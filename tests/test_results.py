"""Results: JSONL round-trip, append-only writing, clear errors on malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.results import (
    SCHEMA_VERSION,
    ResultsWriter,
    RunRecord,
    capture_environment,
    load_records,
)
from harness.rules import RulesMode


def _record(**kw: object) -> RunRecord:
    base: dict[str, object] = dict(
        batch_id="b1",
        workload="wordcount",
        engine="spark",
        variant="df",
        rules=RulesMode.OFF,
        scale="tiny",
        params={"k": 1},
        repeat=0,
        is_warmup=False,
        status="ok",
        wall_s=1.5,
        cpu_s=2.0,
        peak_rss_bytes=123,
        startup_s=9.0,
        metrics={"items_per_s": 10.0, "unit": "w"},
        answer_digest="ab" * 32,
        check="pass",
        engine_info={"master": "local[2]"},
    )
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_records_round_trip_through_jsonl(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "b1")
    writer.ensure_writable()
    first = _record(workload="wördcount")
    second = _record(
        status="failed", error="ValueError: x", wall_s=None, check="na", rules=RulesMode.NONE
    )
    writer.append(first)
    writer.append(second)
    assert load_records(writer.path) == [first, second]
    lines = writer.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["schema_version"] == SCHEMA_VERSION


def test_a_batch_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "b1")
    writer.ensure_writable()
    writer.append(_record())
    with pytest.raises(UserError, match="already exists"):
        ResultsWriter(tmp_path, "b1").ensure_writable()


def test_unwritable_results_folder_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not writable"):
        ResultsWriter(blocker / "sub", "b1").ensure_writable()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "malformed record"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**_record().to_json(), "schema_version": 99}), "schema_version 99"),
        (json.dumps({**_record().to_json(), "surprise": 1}), "unknown fields"),
        (json.dumps({"schema_version": SCHEMA_VERSION}), "malformed record"),
    ],
)
def test_malformed_results_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_record().to_json()) + "\n" + line + "\n")
    with pytest.raises(UserError, match=message) as info:
        load_records(path)
    assert f"{path}:2:" in str(info.value)


def test_missing_results_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_records(tmp_path / "nope.jsonl")


def test_environment_names_machine_and_versions() -> None:
    env = capture_environment({"batch_id": "b1"}, ("pyspark", "mrjob", "numpy"))
    assert env["batch_id"] == "b1"
    assert env["cpu_count_logical"] >= 1 and env["memory_bytes"] > 0
    for name in ("pyspark", "mrjob", "numpy", "pandas", "psutil"):
        assert env["versions"][name]
    assert env["python"].count(".") == 2
    assert "commit" in env["git"]


def test_a_batch_environment_has_its_engines_versions_and_facts() -> None:
    from harness import cli
    from harness.cells import expand_cells
    from harness.engines import EngineOptions

    cells = expand_cells(["wordcount"], ["numpy", "spark/df"], "off")
    env = cli._environment("bdbench run", cells, EngineOptions())
    assert env["versions"]["numpy"] and env["versions"]["pyspark"]
    assert "mrjob" not in env["versions"]  # not an engine of this batch
    assert "java" in env  # the JVM engine's own fact
    assert env["engines"]["spark"]["versions"]["pyspark"]
