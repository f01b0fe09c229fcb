"""Faults that must not hurt: a full disk, OOM kills, bad engine options, runs killed while their
engine starts, interrupted batches, and hostile text in reports (issue 14)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from conftest import needs_java, run_cli
from harness import datasets, memlimit, probe, runner, tools
from harness.errors import UserError
from harness.results import ResultsWriter, RunRecord, load_records
from harness.spark_rules import build
from plugin_workloads import ALLOCATE, PIDFILE_ENV
from workloads._numeric import first_difference

QUICK = ("-s", "tiny", "--warmups", "0", "--no-progress")


def _record(batch: str = "b", **fields: object) -> RunRecord:
    base: dict[str, object] = {
        "batch_id": batch,
        "workload": "wordcount",
        "engine": "numpy",
        "variant": "default",
        "rules": None,
        "scale": "tiny",
        "params": {},
        "repeat": 0,
        "is_warmup": False,
        "status": "ok",
        "wall_s": 1.0,
        "check": "pass",
    }
    base.update(fields)
    return RunRecord(**base)  # type: ignore[arg-type]


def _lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a record was cut"
    return [json.loads(line) for line in text.splitlines()]


# --- 1. A full disk --------------------------------------------------------------------------


@contextlib.contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """The kernel's per-file size limit (writes past it fail with EFBIG), in this process."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_failed_append_leaves_the_file_at_its_last_whole_line(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "b")
    writer.append(_record(repeat=0))
    size = writer.path.stat().st_size
    with _file_size_limit(size + 100), pytest.raises(UserError) as caught:
        writer.append(_record(repeat=1, error="x" * 500))
    assert str(caught.value) == f"cannot write results file {writer.path}: File too large"
    assert writer.path.stat().st_size == size
    assert [r.repeat for r in load_records(writer.path)] == [0]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, small filesystem (tmpfs) that tests fill up; unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until only ``leave`` bytes are free."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def test_full_disk_before_the_first_run_is_one_line_and_leaves_nothing(small_disk: Path) -> None:
    results = small_disk / "results"
    results.mkdir()
    _fill(small_disk, 0)
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "-r", "1", *QUICK, "--results", str(results)
    )
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"bdbench: error: cannot write results file {results}/")
    assert line.endswith(".env.json: No space left on device")
    assert list(results.iterdir()) == []


def test_disk_full_mid_batch_keeps_whole_records_then_resume_finishes(small_disk: Path) -> None:
    results = small_disk / "results"
    results.mkdir()
    # tmpfs hands out whole pages: one or two for the environment file, the rest hold a few
    # records (about 1.3 KB each), never ten.
    filler = _fill(small_disk, 3 * 4096)
    args = ("run", "-w", "wordcount", "-e", "numpy", "-r", "10", *QUICK, "--results", str(results))
    out = run_cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    (path,) = results.glob("*.jsonl")
    err = out.stderr.strip().splitlines()
    assert err == [
        f"results so far: {path}",
        f"resume with: bdbench run --resume {path}",
        f"bdbench: error: cannot write results file {path}: No space left on device",
    ]
    kept = _lines(path)
    assert 1 <= len(kept) < 10
    filler.unlink()
    again = run_cli("run", "--resume", str(path), "--no-progress")
    assert again.returncode == 0, again.stdout + again.stderr
    records = load_records(path)
    assert sorted(r.repeat for r in records) == list(range(10))
    assert [r.to_json() for r in records[: len(kept)]] == kept  # appended, never rewritten
    assert {r.batch_id for r in records} == {path.stem}
    assert (results / f"{path.stem}.resume-1.env.json").is_file()


def test_an_answer_the_disk_cannot_hold_is_not_kept_cut(small_disk: Path) -> None:
    results = small_disk / "results"
    results.mkdir()
    # Room for the environment file, not for the answer (word counts: about 50 KB at tiny).
    _fill(small_disk, 5 * 4096)
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "-r", "1", *QUICK, "--keep-answers",
        "--results", str(results),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    (path,) = results.glob("*.jsonl")
    (record,) = load_records(path)  # the space the answer took back holds the record
    assert record.status == "failed"
    assert (record.error or "").startswith("OSError: cannot write answer file "), record.error
    assert (record.error or "").endswith(": No space left on device"), record.error
    answers = results / f"{path.stem}.answers"
    assert not answers.exists() or list(answers.iterdir()) == []  # nothing cut, no temp file


def test_a_batch_discarded_before_its_first_record_takes_its_answers(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "results", "b")
    writer.ensure_writable()
    writer.write_env({"batch_id": "b"})
    # Kept answers whose records never made it (the disk filled before the first append).
    writer.answers_dir.mkdir()
    (writer.answers_dir / "0123456789ab.json").write_text("{}")
    (writer.answers_dir / "proc-x.call1.json").write_text("{}")
    other = ResultsWriter(tmp_path / "results", "other")
    other.answers_dir.mkdir()
    writer.discard_if_empty(created_dir=True)
    assert sorted(p.name for p in writer.dir.iterdir()) == ["other.answers"]


def test_reports_skip_a_cut_last_line_and_say_so(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "old")
    writer.append(_record(repeat=0))
    writer.append(_record(repeat=1))
    with writer.path.open("a") as fh:
        fh.write('{"batch_id": "old", "schema_vers')  # an older bdbench, on a full disk
    out = run_cli("report", str(writer.path), "--out", str(tmp_path / "report"))
    assert out.returncode == 0, out.stderr
    assert f"{writer.path}: skipped 1 cut last line" in out.stderr
    # A malformed line in the middle is still an error: it is not a cut write.
    writer.path.write_text('{"nope\n' + writer.path.read_text())
    bad = run_cli("report", str(writer.path), "--out", str(tmp_path / "report2"))
    assert bad.returncode == 2
    assert f"{writer.path}:1: malformed record" in bad.stderr


# --- 2. Out of memory, signals, the JVM's root cause ----------------------------------------


def _one_run(tmp_path: Path, workload: str, engine: str, **config: Any) -> RunRecord:
    """The record of one measured run of ``workload`` on ``engine`` at tiny scale."""
    settings: dict[str, Any] = {"scales": ["tiny"], "repeats": 1, "warmups": 0, "timeout": 120.0}
    cells = runner.expand_cells([workload], [engine])
    (record,) = runner.run_batch(
        cells, runner.RunConfig(**{**settings, **config}), ResultsWriter(tmp_path, "b")
    )
    return record


def test_worker_killed_by_a_signal_names_it(tmp_path: Path) -> None:
    record = _one_run(tmp_path, "t_killed", "numpy")
    assert record.status == "failed"
    assert record.error == "worker killed by SIGKILL"


def _cgroup_or_skip() -> None:
    group = memlimit.RunCgroup.create(f"bdbench-test-{os.getpid()}", 256 << 20)
    if group is None:
        pytest.skip("no writable memory cgroup here (the probe enforces limits instead)")
    group.remove()


def test_memory_limit_oom_kill_is_recorded_as_such(tmp_path: Path) -> None:
    _cgroup_or_skip()
    out = run_cli(
        "run", "-w", "t_hog", "-e", "numpy", "-r", "1", *QUICK,
        "--memory-limit", "120M", "--results", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    (path,) = tmp_path.glob("*.jsonl")
    (record,) = load_records(path)
    assert record.status == "failed"
    assert (record.error or "").startswith(
        "killed by the OOM killer (1 process(es), over the run's 120M limit)"
    ), record.error
    assert record.memory_limit_bytes == 120 << 20
    assert record.metrics["memory_limit_by"] in ("cgroup v1", "cgroup v2")
    assert record.metrics["oom_kills"] == 1
    assert memlimit.leftover_cgroups() == []


def test_a_run_within_its_memory_limit_is_unharmed(tmp_path: Path) -> None:
    record = _one_run(tmp_path, "t_hog", "numpy", memory_limit=1 << 30)
    assert record.status == "ok", record.error
    assert record.memory_limit_bytes == 1 << 30
    assert record.peak_rss_bytes is not None and record.peak_rss_bytes > 200 << 20


def test_probe_enforces_a_limit_where_no_cgroup_can() -> None:
    code = ALLOCATE.format(n=300 * 2**20, t=30)
    proc = subprocess.Popen([sys.executable, "-c", code])
    sampler = probe.TreeSampler(proc.pid, interval=0.02, memory_limit=100 << 20)
    sampler.start()
    try:
        assert proc.wait(timeout=20) == -signal.SIGKILL
    finally:
        sampler.stop()
        proc.kill()
    killed_at = sampler.result().limit_killed_at
    assert killed_at is not None and killed_at > 100 << 20


def test_memory_limit_option_is_validated(tmp_path: Path) -> None:
    out = run_cli(
        "run", "-e", "numpy", *QUICK, "--memory-limit", "lots", "--results", str(tmp_path)
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bdbench run: error: argument --memory-limit: expected a size like 512M or 2G, "
        "got 'lots' (see bdbench run --help)"
    ]
    # A limit the machine cannot reach would limit nothing, yet be recorded as a limit.
    out = run_cli(
        "run", "-e", "numpy", *QUICK, "--memory-limit", "999999999T", "--results", str(tmp_path)
    )
    assert out.returncode == 2
    total = memlimit.machine_memory() / (1 << 30)
    assert out.stderr.strip().splitlines() == [
        "bdbench run: error: argument --memory-limit: '999999999T' is more than this machine's "
        f"memory, {total:.1f}G (see bdbench run --help)"
    ]
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


@needs_java
def test_a_killed_jvm_is_named_not_just_the_connection_it_broke(tmp_path: Path) -> None:
    record = _one_run(tmp_path, "t_jvm_killed", "spark/rdd")
    assert record.status == "failed"
    assert (record.error or "").startswith("the Spark driver JVM was killed by SIGKILL; then: ")


@needs_java
def test_jvm_error_is_recorded_by_its_root_cause(tmp_path: Path) -> None:
    out = run_cli(
        "run", "-w", "wordcount", "-e", "spark/rdd", "-r", "1", *QUICK,
        # Past the up-front check of --spark-driver-memory: Spark itself refuses it.
        "--spark-conf", "spark.driver.memory=64m", "--results", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 1
    (path,) = tmp_path.glob("*.jsonl")
    (record,) = load_records(path)
    assert record.status == "failed"
    assert "INVALID_DRIVER_MEMORY" in (record.error or ""), record.error
    assert "Py4JJavaError" not in (record.error or "")


# --- 3. Bad engine options, found before any run ---------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--spark-driver-memory", "lots", "expected a size like 512m or 2g, got 'lots'"),
        # What the JVM's -Xmx refuses (Spark's launcher passes the text on as it is).
        ("--spark-driver-memory", "0", "expected a size like 512m or 2g, got '0'"),
        ("--spark-driver-memory", "0.5g", "expected a size like 512m or 2g, got '0.5g'"),
        ("--spark-driver-memory", "2gb", "expected a size like 512m or 2g, got '2gb'"),
        ("--spark-driver-memory", "0g", "'0g' is below Spark's smallest driver heap, 450m"),
        ("--spark-driver-memory", "64m", "'64m' is below Spark's smallest driver heap, 450m"),
        ("--spark-driver-memory", "99999t", "'99999t' is more than this machine's memory, "),
        ("--spark-master", "spork://x", "expected local[N], local[*], spark://HOST:PORT"),
        ("--hadoop-streaming-jar", "/no/such.jar", "no such file: /no/such.jar"),
        ("--hadoop-bin", "/no/hadoop", "not an executable command: /no/hadoop"),
    ],
)
def test_bad_engine_option_values_fail_up_front(
    flag: str, value: str, message: str, tmp_path: Path
) -> None:
    out = run_cli("run", "-e", "spark", *QUICK, flag, value, "--results", str(tmp_path))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"bdbench run: error: argument {flag}: {message}")
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_broken_java_home_is_named(tmp_path: Path) -> None:
    env = dict(os.environ, JAVA_HOME=str(tmp_path / "jdk"))
    out = run_cli("run", "-e", "spark", *QUICK, "--results", str(tmp_path / "r"), env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bdbench: error: no selected cell can run here: spark: JAVA_HOME points to "
        f"{tmp_path / 'jdk'}, which has no bin/java (fix or unset JAVA_HOME)"
    ]


def test_a_java_that_exits_at_once_is_quoted_in_the_record(tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    java.chmod(0o755)
    env = dict(os.environ, JAVA_HOME=str(tmp_path / "jdk"))
    out = run_cli(
        "run", "-w", "wordcount", "-e", "spark/rdd", "-r", "1", *QUICK,
        "--results", str(tmp_path / "r"), env=env,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    (path,) = (tmp_path / "r").glob("*.jsonl")
    (record,) = load_records(path)
    assert record.status == "failed"
    # What the JVM said, not only pyspark's [JAVA_GATEWAY_EXITED].
    assert (record.error or "").startswith(
        "RuntimeError: the Spark driver JVM exited at launch: broken"
    ), record.error


# --- 4. A run killed while its engine starts leaves no temp folder ----------------------------


@needs_java
def test_run_killed_during_spark_start_up_leaves_no_temp_folder(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    out = run_cli(
        "run", "-w", "wordcount", "-e", "spark/rdd", "-r", "1", *QUICK,
        "--timeout", "2.5", "--results", str(tmp_path / "r"), env=env,
    )  # fmt: skip
    (path,) = (tmp_path / "r").glob("*.jsonl")
    (record,) = load_records(path)
    assert record.status == "timeout", (record.error, out.stderr)
    assert record.startup_s is None  # killed before its engine was up
    assert list(tmp.iterdir()) == []


def test_measured_child_gets_the_run_scratch_as_temp(tmp_path: Path) -> None:
    env = runner._child_env(tmp_path)
    assert env["TMPDIR"] == str(tmp_path / "tmp")
    assert f"-Djava.io.tmpdir={tmp_path / 'tmp'}" in env["JDK_JAVA_OPTIONS"]


def test_measured_child_uses_the_runners_caches(tmp_path: Path, monkeypatch: Any) -> None:
    """The child runs in its scratch folder; relative cache paths must still mean ours (else
    each rules cell's child compiled its own rules jar inside the start-up)."""
    monkeypatch.delenv(tools.CACHE_ENV, raising=False)
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    ours = Path(".bdbench").resolve()
    env = runner._child_env(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(tools.CACHE_ENV, env[tools.CACHE_ENV])
    monkeypatch.setenv(datasets.DATA_DIR_ENV, env[datasets.DATA_DIR_ENV])
    assert build.cache_dir() == ours / "jars"
    assert datasets.default_data_dir() == ours / "data"


# --- 5. Interrupted batches resume -----------------------------------------------------------


def _terminated(
    tmp_path: Path, *args: str, sig: int = signal.SIGTERM
) -> tuple[int, list[str], Path]:
    """Start ``bdbench run ARGS`` (with the t_sleepy workload among them), send it ``sig`` once
    t_sleepy runs; its exit code, stderr lines and results folder."""
    pidfile = tmp_path / "pids"
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", *args, *QUICK, "--results", str(results)],
        env=dict(os.environ, **{PIDFILE_ENV: str(pidfile)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.strip().splitlines(), results


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_batch_interrupted_before_its_first_record_leaves_nothing(
    sig: int, code: int, tmp_path: Path
) -> None:
    got, err, results = _terminated(tmp_path, "-w", "t_sleepy", "-e", "numpy", "-r", "1", sig=sig)
    assert got == code  # 128 + the signal, as a shell reports it
    assert err == ["bdbench: interrupted"]
    assert not results.exists() or list(results.iterdir()) == []


def test_interrupted_batch_says_how_to_resume_and_resume_skips_what_is_done(
    tmp_path: Path,
) -> None:
    code, err, results = _terminated(tmp_path, "-w", "wordcount,t_sleepy", "-e", "numpy", "-r", "2")
    (path,) = results.glob("*.jsonl")
    assert code == 143
    assert err == [
        f"results so far: {path}",
        f"resume with: bdbench run --resume {path}",
        "bdbench: interrupted",
    ]
    before = load_records(path)
    assert [(r.workload, r.repeat) for r in before] == [("wordcount", 0), ("wordcount", 1)]
    # Resuming measures t_sleepy (it has no record); without its pid file its first call
    # fails fast, and a failed call ends its cell.
    again = run_cli("run", "--resume", path.stem, "--results", str(results))
    after = load_records(path)
    assert [r.to_json() for r in after[:2]] == [r.to_json() for r in before]
    assert [(r.workload, r.repeat, r.status) for r in after[2:]] == [("t_sleepy", 0, "failed")]
    assert after[2].metrics["stop"] == "failed"
    assert "resuming" in again.stderr
    # Resuming a finished batch runs nothing.
    done = run_cli("run", "--resume", str(path))
    assert len(load_records(path)) == 3, done.stderr


def test_resume_keeps_the_batch_options(tmp_path: Path) -> None:
    out = run_cli("run", "--resume", "nope", "--results", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"bdbench: error: --resume: no results file {tmp_path / 'nope.jsonl'} "
        "(give a batch id in --results or a path)"
    ]
    (tmp_path / "b.jsonl").write_text("")
    out = run_cli("run", "--resume", "b", "--results", str(tmp_path), "-r", "3", "-e", "numpy")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "bdbench: error: --resume continues a batch with its own options; drop --engine, --repeats"
    ]


# --- 6. Smaller ------------------------------------------------------------------------------


def test_summary_markdown_escapes_record_text(tmp_path: Path) -> None:
    from reports.html import build_report

    writer = ResultsWriter(tmp_path, "md")
    writer.write_env({"batch_id": "md", "command": "bdbench run | tee `x`"})
    hostile = "<img src=x onerror=alert(1)>|**b**"
    for repeat in range(2):
        writer.append(_record("md", repeat=repeat, params={"label": hostile}))
    writer.append(_record("md", engine="mrjob", variant="local", status="failed", error=hostile))
    build_report([writer.path], tmp_path / "report")
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "<img" not in text and "**b**" not in text
    assert "&lt;img src=x onerror=alert(1)>\\|\\*\\*b\\*\\*" in text
    assert "`` bdbench run | tee `x` ``" in text


def test_error_texts_show_numbers_plainly() -> None:
    got = first_difference("w", [np.float64("nan")], [np.float64(0.5)], 1e-6, 1e-9)
    assert got == "w[0] = nan, reference 0.5 (rtol 1e-06)"


def test_rules_choice_that_does_not_apply_is_said_once(tmp_path: Path) -> None:
    out = run_cli(
        "run", "-w", "wordcount", "-e", "numpy", "-r", "1", *QUICK, "--rules", "on",
        "--results", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if "note:" in line]
    assert notes == [
        "bdbench: note: --rules on does not apply to wordcount (no optimizer rules modes "
        "there): those cells run without rules"
    ]


def test_no_test_here_left_a_cgroup_or_a_process() -> None:
    assert memlimit.leftover_cgroups() == []
    mine = psutil.Process(os.getpid()).children(recursive=True)
    assert [p for p in mine if "harness.worker" in " ".join(p.cmdline())] == []
