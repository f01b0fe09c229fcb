"""Shared fixtures: an isolated data cache, one SparkSession per test session, helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness import datasets, registry
from harness.rules import RulesMode
from harness.tools import find_java

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def pytest_configure(config: pytest.Config) -> None:
    """Create the parent of ``--basetemp`` (inside ``.bdbench/``, absent in a fresh clone)."""
    basetemp = config.option.basetemp
    if basetemp:
        Path(basetemp).resolve().parent.mkdir(parents=True, exist_ok=True)


needs_java = pytest.mark.skipif(find_java() is None, reason="no Java (JDK 17+) found for Spark")


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Data cache and cluster folder in temp folders; test plugins importable by the measured
    child processes."""
    data_dir = tmp_path_factory.mktemp("data")
    keys = ("BDBENCH_DATA_DIR", "BDBENCH_PLUGINS", "PYTHONPATH", "BDBENCH_CLUSTER_DIR")
    old = {k: os.environ.get(k) for k in keys}
    os.environ["BDBENCH_DATA_DIR"] = str(data_dir)
    # No local cluster unless a test brings one up: a developer's own stays out of the tests.
    os.environ["BDBENCH_CLUSTER_DIR"] = str(tmp_path_factory.mktemp("no-cluster"))
    os.environ["BDBENCH_PLUGINS"] = "plugin_workloads"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TESTS), str(ROOT), old["PYTHONPATH"]) if p
    )
    sys.path.insert(0, str(TESTS))
    import plugin_workloads  # noqa: F401  (register in this process too)

    registry.load_all()
    yield data_dir
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def tiny_wordcount(isolated_env: Path) -> datasets.Dataset:
    """The generated tiny word-count dataset."""
    return datasets.generated(registry.get_workload("wordcount"), "tiny")


@pytest.fixture(scope="session")
def spark_engine(
    tiny_wordcount: datasets.Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """One started Spark engine (local[2]) shared by every test of the session."""
    if find_java() is None:
        pytest.skip("no Java (JDK 17+) found for Spark")
    from harness.engines.spark_engine import SparkEngine, SparkOptions
    from harness.errors import EngineUnavailable
    from harness.spark_rules import RULES_ENABLED_KEY, build

    engine = SparkEngine(SparkOptions(master="local[2]", driver_memory="1g"))
    # Our rules are loaded (when they can be built) but switched off at runtime: the shared
    # session behaves like plain Spark unless a test turns them on with RULES_ENABLED_KEY.
    try:
        build.build_jar()
        loaded = engine.unavailable("df", RulesMode.ON) is None
    except EngineUnavailable:
        loaded = False
    rules = RulesMode.ON if loaded else RulesMode.OFF
    engine.start("df", rules, tiny_wordcount, tmp_path_factory.mktemp("spark"))
    if loaded:
        engine.spark.conf.set(RULES_ENABLED_KEY, "false")
    yield engine
    engine.stop()


def spark_jvms(marker: str = "") -> set[int]:
    """PIDs of Spark JVMs and pyspark daemons running now (whose command line has ``marker``)."""
    found = set()
    for proc in psutil.process_iter(["cmdline", "environ"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        env = " ".join(f"{k}={v}" for k, v in (proc.info["environ"] or {}).items())
        if ("org.apache.spark" in cmd or "pyspark.daemon" in cmd) and marker in cmd + env:
            found.add(proc.pid)
    return found


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the bdbench CLI in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or dict(os.environ),
        timeout=timeout,
        check=False,
    )


def chromium() -> str | None:
    """The headless browser the report tests open pages in (None: none installed)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
