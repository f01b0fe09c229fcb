"""Where bdbench keeps what it makes, every ``.bdbench`` path resolved here, each with the
environment variable that moves it.

* the build cache (jars): ``$BDBENCH_CACHE_DIR`` or ``./.bdbench``;
* generated data: ``$BDBENCH_DATA_DIR`` or ``./.bdbench/data``;
* software fetched for a local cluster: its own variable, or
  ``<project>/.bdbench/<name>/<version>``;
* the local cluster's state: ``$BDBENCH_CLUSTER_DIR`` or ``<project>/.bdbench/cluster``.

The caches follow the working directory (a run in another folder builds its own); the
cluster's folder is the project's wherever a command runs, since ``cluster up``,
``run --cluster local`` and ``cluster down`` must all find the same daemons.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The folder name every default lives under.
NAME = ".bdbench"
CACHE_ENV = "BDBENCH_CACHE_DIR"
DATA_DIR_ENV = "BDBENCH_DATA_DIR"
CLUSTER_DIR_ENV = "BDBENCH_CLUSTER_DIR"
#: The project folder (this package's parent).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """Where built artifacts are cached, absolute."""
    return Path(os.environ.get(CACHE_ENV, NAME)).resolve()


def data_dir() -> Path:
    """Where generated data is cached (relative to the working directory by default)."""
    return Path(os.environ.get(DATA_DIR_ENV, f"{NAME}/data"))


def fetched(name: str, version: str, env: str) -> Path:
    """Where fetched software ``name`` of ``version`` lives: ``$env`` or the project's
    ``.bdbench/<name>/<version>``, absolute."""
    configured = os.environ.get(env)
    if configured:
        return Path(configured).resolve()
    return PROJECT_ROOT / NAME / name / version


def cluster_dir() -> Path:
    """Where the local cluster keeps its state, absolute."""
    configured = os.environ.get(CLUSTER_DIR_ENV)
    return Path(configured).resolve() if configured else PROJECT_ROOT / NAME / "cluster"
