"""Finding external tools (java, javac, a cluster's command) the way their own launchers do."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from harness.paths import CACHE_ENV, cache_root

__all__ = ["CACHE_ENV", "cache_root"]


def find_binary(name: str, home_env: str) -> str | None:
    """``$<home_env>/bin/<name>`` when that is an executable file, else ``name`` on PATH."""
    home = os.environ.get(home_env)
    if home:
        candidate = Path(home) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def find_java() -> str | None:
    """Path of the ``java`` binary a JVM engine would use: ``$JAVA_HOME/bin/java`` when
    ``JAVA_HOME`` is set (the JVM engines' launchers then use nothing else), else PATH."""
    if os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def no_java_reason() -> str:
    """Why ``find_java`` found nothing, in the words a user can act on."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return f"JAVA_HOME points to {home}, which has no bin/java (fix or unset JAVA_HOME)"
    return "no Java found (install a JDK 17+ or set JAVA_HOME)"


def java_version() -> str | None:
    """First line of ``java -version`` (None when there is no Java)."""
    java = find_java()
    if java is None:
        return None
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else None


def find_javac() -> str | None:
    """``$JAVA_HOME/bin/javac`` or ``javac`` on PATH."""
    return find_binary("javac", "JAVA_HOME")


def first_error(output: str) -> str:
    """The first ``error:`` line of a compiler's output (else its first line)."""
    for line in output.splitlines():
        if "error:" in line:
            return line.strip()
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[0].strip() if lines else "no output"


def build_jar(
    javac: str, release: str, classpath: str, sources: Sequence[Path], target: Path
) -> str | None:
    """Compile ``sources`` against ``classpath`` into the jar ``target``, replaced atomically
    (a concurrent build writes the same bytes); the compiler's first error, or None."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".javac-", dir=target.parent) as tmp:
        classes = Path(tmp) / "classes"
        cmd = [javac, "--release", release, "-nowarn", "-encoding", "UTF-8", "-cp", classpath]
        cmd += ["-d", str(classes), *map(str, sources)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return first_error(done.stdout + done.stderr)
        partial = Path(tmp) / target.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: bdbench\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        partial.replace(target)
    return None
