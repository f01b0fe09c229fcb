"""Finding external tools (java, javac, hadoop) the way their own launchers do."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_binary(name: str, home_env: str) -> str | None:
    """``$<home_env>/bin/<name>`` when that is an executable file, else ``name`` on PATH."""
    home = os.environ.get(home_env)
    if home:
        candidate = Path(home) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)
