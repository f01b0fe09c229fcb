"""The CLI: the matrix listing, engine-free fast start, and one clear line for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_java, run_cli, spark_jvms
from harness import cli

ENGINE_MODULES = ("pyspark", "mrjob", "numpy", "py4j", "pandas")


@pytest.mark.parametrize("args", [["--help"], ["list"], ["run", "--help"], ["datagen", "--help"]])
def test_help_and_list_import_no_engine(args: list[str]) -> None:
    code = (
        "import sys\nfrom harness.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {ENGINE_MODULES!r} if m in sys.modules]\n"
        "print('LOADED', loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in out.stdout


def test_list_shows_the_matrix_with_reasons() -> None:
    out = run_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {
        (r["workload"], r["engine"], r["variant"], r["rules"]): r for r in json.loads(out.stdout)
    }
    for cell in [
        ("wordcount", "numpy", "default", None),
        ("wordcount", "mrjob", "local", None),
        ("wordcount", "mrjob", "inline", None),
        ("wordcount", "spark", "rdd", False),
        ("wordcount", "spark", "df", False),
    ]:
        assert rows[cell]["state"] == "ready", rows[cell]
    hadoop = rows[("wordcount", "mrjob", "hadoop", None)]
    assert hadoop["state"] == "unavailable"
    assert "no hadoop binary on PATH or in $HADOOP_HOME" in hadoop["reason"]
    from harness.spark_rules import build

    rules_state = "ready" if build.find_javac() else "unavailable"
    assert rows[("wordcount", "spark", "df", True)]["state"] == rules_state
    # the test plugins implement numpy only: their other cells are listed as missing
    assert rows[("t_crashy", "spark", "rdd", False)]["state"] == "missing"
    assert rows[("t_crashy", "spark", "rdd", False)]["reason"] == "no implementation registered"
    assert "simulates Hadoop Streaming" in rows[("wordcount", "mrjob", "local", None)]["note"]
    table = run_cli("list")
    assert table.returncode == 0 and "wordcount" in table.stdout and "simulates" in table.stdout


def test_datagen_help_names_the_scales() -> None:
    out = run_cli("datagen", "--help")
    assert out.returncode == 0
    assert "tiny=20,000" in out.stdout and "small=1,000,000" in out.stdout


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results folder that already holds one record (which must survive every error)."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "old.jsonl").write_text('{"kept": true}\n')
    return folder


BAD_INPUTS = [
    (["run", "-w", "nope"], "unknown workload 'nope'"),
    (["run", "-e", "flink"], "unknown engine 'flink'"),
    (["run", "-e", "spark/sql"], "unknown variant 'sql' of engine 'spark'"),
    (["run", "-s", "huge"], "unknown scale 'huge'"),
    (["run", "--factor", "-2"], "must be a positive number"),
    (["run", "--repeats", "0"], "must be at least 1"),
    (["run", "--timeout", "abc"], "not a number"),
    (["run", "--rules", "maybe"], "invalid choice"),
    (["run", "-w", "wordcount", "--input", "/no/such/file.txt"], "input file not found"),
    (["run", "-w", "wordcount", "--input", "/"], "not a regular file"),
    (["run", "--input", "/etc/hostname"], "--input needs --workload"),
    (["run", "--spark-conf", "novalue"], "--spark-conf needs KEY=VALUE"),
    (["datagen", "-s", "gigantic"], "unknown scale 'gigantic'"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_is_one_clear_line(args: list[str], message: str, results_dir: Path) -> None:
    out = run_cli(*args, "--results", str(results_dir)) if args[0] == "run" else run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert message in lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    assert sorted(p.name for p in results_dir.iterdir()) == ["old.jsonl"]
    assert (results_dir / "old.jsonl").read_text() == '{"kept": true}\n'


def test_unwritable_results_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = run_cli("run", "-e", "numpy", "-s", "tiny", "--results", str(blocker / "r"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"bdbench: error: results folder {blocker / 'r'} is not writable: Not a directory"
    ]


def _without_java() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JAVA_HOME", None)
    keep = [
        d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "java").exists()
    ]
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *keep])
    return env


def test_no_java_spark_only_is_one_error_line(results_dir: Path) -> None:
    out = run_cli(
        "run", "-e", "spark", "-s", "tiny", "--results", str(results_dir), env=_without_java()
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bdbench: error: no selected cell can run here: spark: no Java found "
        "(install a JDK 17+ or set JAVA_HOME)"
    ]
    assert sorted(p.name for p in results_dir.iterdir()) == ["old.jsonl"]


def test_no_java_with_other_engines_records_a_skip(results_dir: Path) -> None:
    out = run_cli(
        "run",
        "-w",
        "wordcount",
        "-e",
        "spark/df,numpy",
        "-s",
        "tiny",
        "-r",
        "1",
        "--warmups",
        "0",
        "--results",
        str(results_dir),
        env=_without_java(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = [p for p in results_dir.glob("*.jsonl") if p.name != "old.jsonl"]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {(r["engine"], r["status"]) for r in records} == {("spark", "skipped"), ("numpy", "ok")}
    skipped = next(r for r in records if r["engine"] == "spark")
    assert "no Java found" in skipped["error"]


@needs_java
def test_run_end_to_end_on_every_local_engine(tmp_path: Path) -> None:
    """A real batch: fresh processes, answers kept, summary printed, nothing left running."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    results = tmp_path / "results"
    out = run_cli(
        "run",
        "-w",
        "wordcount",
        "-e",
        "numpy,mrjob/local,mrjob/inline,spark/df",
        "-s",
        "tiny",
        "-r",
        "1",
        "--warmups",
        "1",
        "--keep-answers",
        "--spark-master",
        "local[2]",
        "--results",
        str(results),
        env={**os.environ, "TMPDIR": str(scratch)},  # the batch's scratch folders land here
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "results:" in out.stdout and "run summary" in out.stdout
    (path,) = results.glob("*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 8
    assert all(r["status"] == "ok" and r["check"] == "pass" for r in records), records
    assert sum(r["is_warmup"] for r in records) == 4
    assert len({r["answer_digest"] for r in records}) == 1
    spark = [r for r in records if r["engine"] == "spark"]
    # session start-up is its own figure, never inside wall_s
    assert all(r["startup_s"] > 0 and r["wall_s"] > 0 for r in spark)
    assert all(r["engine_info"]["partitions"] == 2 for r in spark)
    for r in spark:
        phases = r["engine_info"]["startup_phases"]
        assert 0 < phases["session_s"] + phases["first_job_s"] <= r["startup_s"]
    assert all(r["engine_info"]["conf"]["spark.ui.enabled"] == "false" for r in spark)
    local = next(r for r in records if r["variant"] == "local")
    assert local["metrics"]["peak_procs"] >= 2  # separate task processes were seen
    answers = list((results / f"{path.stem}.answers").glob("*.json"))
    assert len(answers) == 8
    assert all(isinstance(json.loads(a.read_text()), dict) for a in answers)
    env = json.loads((results / f"{path.stem}.env.json").read_text())
    assert env["engines"]["mrjob"]["notes"]["local"].startswith("mrjob 'local' simulates")
    # nothing of the batch is left: no process started from its scratch, no scratch folder
    assert not [p for p in spark_jvms(str(scratch))], "a JVM or pyspark.daemon outlived its run"
    assert list(scratch.iterdir()) == []


def test_main_returns_2_on_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "-w", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bdbench: error: unknown workload 'nope' (known: ")
    assert "wordcount" in err and "\n" not in err


def test_run_on_user_input_checks_against_its_reference(tmp_path: Path) -> None:
    text = tmp_path / "mine.txt"
    text.write_bytes("to be or not to be\r\nthat is the question — ça va\n".encode())
    results = tmp_path / "results"
    out = run_cli(
        "run", "-w", "wordcount", "--input", str(text), "-e", "numpy,mrjob/inline",
        "-r", "1", "--warmups", "0", "--keep-answers", "--results", str(results),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = results.glob("*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["engine"], r["scale"], r["check"]) for r in records] == [
        ("numpy", "input", "pass"),
        ("mrjob", "input", "pass"),
    ]
    assert records[0]["input"]["source"] == "user"
    assert records[0]["input"]["files"] == [str(text.resolve())]
    answer = json.loads(next((results / f"{path.stem}.answers").glob("*.json")).read_text())
    assert answer["to"] == 2 and answer["be"] == 2 and answer["ça"] == 1 and answer["—"] == 1
