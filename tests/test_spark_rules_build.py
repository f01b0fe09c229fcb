"""The rules jar build: compiled against pyspark's jars, cached by content, clear when it can't."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from harness.errors import EngineUnavailable
from harness.spark_rules import build

SOURCE = """package probe;

import org.apache.spark.sql.SparkSessionExtensions;

/** Compiles only against Spark's jars. */
public class Probe {
    public static String name(SparkSessionExtensions ext) { return "%s"; }
}
"""

needs_javac = pytest.mark.skipif(build.find_javac() is None, reason="no javac (JDK 17+) found")


def _sources(folder: Path, marker: str = "v1") -> Path:
    (folder / "probe").mkdir(parents=True, exist_ok=True)
    (folder / "probe" / "Probe.java").write_text(SOURCE % marker)
    return folder


@needs_javac
def test_jar_is_built_against_spark_and_cached(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    jar = build.build_jar(src, tmp_path / "jars")
    assert jar.is_file() and jar.name.startswith("bdbench-rules-")
    with zipfile.ZipFile(jar) as zf:
        assert "probe/Probe.class" in zf.namelist()
    stamp = jar.stat().st_mtime_ns
    assert build.build_jar(src, tmp_path / "jars") == jar  # cache hit: same file, not rebuilt
    assert jar.stat().st_mtime_ns == stamp
    _sources(src, "v2")  # a source change means a new jar
    rebuilt = build.build_jar(src, tmp_path / "jars")
    assert rebuilt != jar and rebuilt.is_file()


@needs_javac
def test_compile_error_is_one_clear_reason(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.java").write_text("public class Broken { int x = ; }\n")
    with pytest.raises(EngineUnavailable, match=r"javac failed: .*Broken.java.*error"):
        build.build_jar(src, tmp_path / "jars")
    assert not list((tmp_path / "jars").glob("*.jar"))


def test_no_javac_is_a_reason_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _sources(tmp_path / "src")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert shutil.which("javac") is None
    reason = build.unavailable_reason(src)
    assert reason is not None and "no javac found" in reason
    with pytest.raises(EngineUnavailable, match="no javac found"):
        build.build_jar(src, tmp_path / "jars")


def test_no_sources_is_a_reason(tmp_path: Path) -> None:
    assert "no Java sources" in (build.unavailable_reason(tmp_path / "empty") or "")


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    assert build.cache_dir() == tmp_path.resolve() / "jars"
    monkeypatch.delenv(build.CACHE_ENV)
    assert build.cache_dir() == Path(os.getcwd()).resolve() / ".bdbench" / "jars"


def _java_constants() -> dict[str, str]:
    """Every ``public static final String`` of the rules' Java sources, concatenations of
    earlier constants resolved."""
    import re

    found: dict[str, str] = {}
    pattern = re.compile(r"public static final String (\w+)\s*=\s*([^;]+);")
    for path in sorted(build.sources()):
        for name, expr in pattern.findall(path.read_text()):
            parts = [p.strip() for p in expr.split("+")]
            found[name] = "".join(p.strip('"') if p.startswith('"') else found[p] for p in parts)
    return found


def test_java_and_python_rule_switches_and_conf_keys_are_equal() -> None:
    from harness import spark_rules
    from harness.spark_rules import costs

    java = _java_constants()
    assert java["ENABLED_KEY"] == spark_rules.RULES_ENABLED_KEY
    for name in ("SPLIT_ENABLED_KEY", "BARRIER_ENABLED_KEY", "PAPER_ENABLED_KEY"):
        assert java[name] == getattr(spark_rules, name), name
    keys = [n for n in vars(costs) if n.endswith("_KEY") and n in java]
    assert len(keys) >= 6
    for name in keys:
        assert java[name] == getattr(costs, name), name
    for kind in ("cost", "selectivity", "declared", "measured", "constrained"):
        assert java[f"{kind.upper()}_PREFIX"] == f"{costs.PREFIX}.{kind}.", kind
