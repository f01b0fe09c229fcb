"""Engine adapters: availability reasons, runner arguments, Spark configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.engines.mrjob_engine import MrjobEngine, MrjobOptions
from harness.engines.spark_engine import SparkEngine, SparkOptions, data_partitions, master_cores
from harness.rules import RulesMode


def _started(engine: MrjobEngine, variant: str) -> MrjobEngine:
    engine.variant = variant  # start() only imports mrjob; argument building needs the variant
    return engine


def test_local_runner_args_keep_temp_data_in_the_run_scratch(tmp_path: Path) -> None:
    engine = _started(MrjobEngine(MrjobOptions(num_cores=3)), "local")
    args = engine.job_args([Path("/data/in.txt")], tmp_path)
    assert args[:2] == ["-r", "local"]
    assert args[args.index("--local-tmp-dir") + 1] == str(tmp_path / "mrjob-tmp")
    assert args[args.index("--num-cores") + 1] == "3"
    assert "--no-bootstrap-mrjob" in args and "--no-conf" in args
    assert args[-1] == "/data/in.txt"


def test_hadoop_runner_passes_options_through(tmp_path: Path) -> None:
    options = MrjobOptions(
        hadoop_streaming_jar="/opt/hadoop/streaming.jar", args=["--hadoop-bin", "/x/hadoop"]
    )
    args = _started(MrjobEngine(options), "hadoop").job_args([Path("/in")], tmp_path)
    assert args == [
        "-r", "hadoop", "--hadoop-streaming-jar", "/opt/hadoop/streaming.jar",
        "--hadoop-bin", "/x/hadoop", "/in",
    ]  # fmt: skip
    assert "--local-tmp-dir" not in args


def test_hadoop_is_available_when_hadoop_home_has_the_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = MrjobEngine()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    assert "no hadoop binary" in (engine.unavailable("hadoop", RulesMode.NONE) or "")
    binary = tmp_path / "bin" / "hadoop"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("HADOOP_HOME", str(tmp_path))
    assert engine.unavailable("hadoop", RulesMode.NONE) is None
    assert engine.unavailable("local", RulesMode.NONE) is None


@pytest.mark.parametrize(
    ("master", "cores"),
    [("local", 1), ("local[3]", 3), ("local[*]", len(os.sched_getaffinity(0))),
     ("local[2,4]", 2), ("spark://h:7077", len(os.sched_getaffinity(0)))],
)  # fmt: skip
def test_master_cores(master: str, cores: int) -> None:
    assert master_cores(master) == cores


def test_partitions_are_sized_to_the_data() -> None:
    assert data_partitions(10, cores=2) == 2
    assert data_partitions(1000 * 2**20, cores=2) == 16


def test_spark_conf_local_and_cluster() -> None:
    local = SparkEngine(SparkOptions(master="local[2]")).session_conf(1000)
    assert local["spark.sql.shuffle.partitions"] == "2"
    assert local["spark.ui.enabled"] == "false"
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    options = SparkOptions(
        master="spark://10.1.2.3:7077",
        partitions=7,
        driver_memory="3g",
        conf={"spark.executor.memory": "4g"},
        ui=True,
    )
    cluster = SparkEngine(options).session_conf(1000)
    assert cluster["spark.sql.shuffle.partitions"] == "7"
    assert cluster["spark.driver.memory"] == "3g"
    assert cluster["spark.executor.memory"] == "4g"
    assert cluster["spark.ui.enabled"] == "true"
    assert "spark.driver.bindAddress" not in cluster


def test_spark_rules_cells_need_javac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.spark_rules import build
    from harness.tools import find_java

    java = find_java()
    if java is None:
        pytest.skip("no Java")
    if build.find_javac() is not None:
        assert SparkEngine().unavailable("df", RulesMode.ON) is None
    # a JRE without javac: java is found, javac is not
    (tmp_path / "java").symlink_to(java)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert SparkEngine().unavailable("df", RulesMode.OFF) is None
    reason = SparkEngine().unavailable("df", RulesMode.ON)
    assert reason is not None and "no javac found" in reason
