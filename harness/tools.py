"""Finding external tools (java, javac, hadoop) the way their own launchers do."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def find_binary(name: str, home_env: str) -> str | None:
    """``$<home_env>/bin/<name>`` when that is an executable file, else ``name`` on PATH."""
    home = os.environ.get(home_env)
    if home:
        candidate = Path(home) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def find_java() -> str | None:
    """Path of the ``java`` binary a JVM engine would use: ``$JAVA_HOME/bin/java`` or PATH."""
    return find_binary("java", "JAVA_HOME")


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
