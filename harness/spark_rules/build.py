"""Build the Catalyst rules jar from the Java sources, against the installed pyspark's jars.

The jar is cached under ``<cache>/jars/bdbench-rules-<key>.jar`` where the key hashes the Java
sources, the pyspark version and the javac version, so it is rebuilt exactly when one of them
changes. No Scala compiler is needed: ``javac --release 17`` against ``pyspark/jars/*``.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from harness import tools
from harness.errors import EngineUnavailable

#: Java sources of the rules (package ``bdbench.spark``).
SOURCE_DIR = Path(__file__).resolve().parent / "java"
#: Environment variable overriding where built jars are cached.
CACHE_ENV = tools.CACHE_ENV
JAVA_RELEASE = "17"


def cache_dir() -> Path:
    """Where jars are cached: ``$BDBENCH_CACHE_DIR/jars`` or ``./.bdbench/jars``."""
    return tools.cache_root() / "jars"


def find_javac() -> str | None:
    """``$JAVA_HOME/bin/javac`` or ``javac`` on PATH."""
    return tools.find_javac()


def pyspark_jars() -> Path | None:
    """The ``jars`` folder inside the installed pyspark (found without importing pyspark)."""
    spec = find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "jars"
    return folder if folder.is_dir() else None


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The Java source files, in a stable order."""
    return sorted(source_dir.rglob("*.java")) if source_dir.is_dir() else []


def _javac_version(javac: str) -> str:
    out = subprocess.run([javac, "-version"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).strip()


def cache_key(source_dir: Path, javac: str) -> str:
    """Hash of the sources, the pyspark version and the javac version."""
    digest = hashlib.sha256()
    for path in sources(source_dir):
        digest.update(str(path.relative_to(source_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    try:
        digest.update(metadata.version("pyspark").encode())
    except metadata.PackageNotFoundError:
        digest.update(b"no-pyspark")
    digest.update(_javac_version(javac).encode())
    return digest.hexdigest()[:16]


def unavailable_reason(source_dir: Path = SOURCE_DIR) -> str | None:
    """Why the jar cannot be built here (None when it can)."""
    if not sources(source_dir):
        return f"spark rules: no Java sources in {source_dir}"
    if find_javac() is None:
        return "spark rules: no javac found (install a JDK 17+ with javac, or set JAVA_HOME)"
    if pyspark_jars() is None:
        return "spark rules: pyspark (and its jars folder) is not installed"
    return None


def build_jar(
    source_dir: Path = SOURCE_DIR, out_dir: Path | None = None, force: bool = False
) -> Path:
    """The rules jar, compiled now if no cached jar matches the sources; EngineUnavailable if
    it cannot be built."""
    reason = unavailable_reason(source_dir)
    if reason is not None:
        raise EngineUnavailable(reason)
    javac = find_javac()
    jars = pyspark_jars()
    assert javac is not None and jars is not None
    out_dir = out_dir or cache_dir()
    target = out_dir / f"bdbench-rules-{cache_key(source_dir, javac)}.jar"
    if target.is_file() and not force:
        return target
    error = tools.build_jar(javac, JAVA_RELEASE, f"{jars}/*", sources(source_dir), target)
    if error is not None:
        raise EngineUnavailable(f"spark rules: javac failed: {error}")
    return target
