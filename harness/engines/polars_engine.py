"""Polars: lazy queries collected by its in-memory engine (``lazy``) or its streaming engine
(``streaming``), in this process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.argtypes import int_at_least
from harness.engines.base import Engine, Placement, Role, cpu_count
from harness.engines.options import option
from harness.rules import RulesMode

if TYPE_CHECKING:
    from types import ModuleType

    import polars as pl

    from harness.datasets import Dataset

CollectEngine = Literal["in-memory", "streaming"]
#: The ``engine=`` of ``LazyFrame.collect`` for each variant. Polars 2 collects with the
#: streaming engine when none is named ("auto"), so the in-memory one is always named.
COLLECT_ENGINES: dict[str, CollectEngine] = {"lazy": "in-memory", "streaming": "streaming"}


#: Share of the run's ``--memory-limit`` Polars is told the machine has (the rest: Python,
#: NumPy and the answer).
MEMORY_SHARE = 0.65


@dataclass
class PolarsOptions:
    """Options of the Polars engine (``bdbench run --polars-*``)."""

    #: None = the cores this process may use.
    threads: int | None = option(
        None,
        flag="--polars-threads",
        parse=int_at_least(1),
        help="size of Polars' thread pool (POLARS_MAX_THREADS; default: all cores)",
    )


class PolarsEngine(Engine):
    """Polars' lazy API: every workload one query plan (scans, expressions, ``map_batches``
    for the Python UDFs), collected in memory or by the streaming engine, in batches."""

    name = "polars"
    variants = ("lazy", "streaming")
    description = "single node, Polars lazy queries (in-memory or streaming engine)"
    distributions = ("polars",)
    Options = PolarsOptions
    options: PolarsOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._pl: ModuleType | None = None
        self._env: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        #: Whether Polars was already imported when the engine started (then its thread
        #: pool was sized by that import, not by ours: tests that run impls in-process).
        self._imported_before = False

    def threads(self) -> int:
        """The thread pool size asked for: the option, else every core we may use."""
        return self.options.threads or cpu_count()

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Size the thread pool, point Polars' temporary and spill files at ``scratch`` and
        tell it the run's memory limit (environment variables Polars reads once, at import),
        then import it (never timed)."""
        self.variant, self.rules = variant, rules
        temp, spill = scratch / "polars-tmp", scratch / "polars-spill"
        temp.mkdir(parents=True, exist_ok=True)
        self._env = {
            "POLARS_MAX_THREADS": str(self.threads()),
            "POLARS_TEMP_DIR": str(temp),
            # Polars 2's out-of-core memory manager spills here (default /var/tmp).
            "POLARS_OOC_SPILL_DIR": str(spill),
        }
        if self.memory_limit is not None:
            # The memory Polars believes the machine has, which its memory manager budgets
            # (and spills) against: it reads a cgroup's limit, not the probe's that enforces
            # --memory-limit where no cgroup can; a share of the limit leaves the rest to
            # Python and the libraries.
            total = int(self.memory_limit * MEMORY_SHARE) // 1_000_000
            self._env["POLARS_OVERRIDE_TOTAL_MEMORY_MB"] = str(total)
        self._saved_env = {key: os.environ.get(key) for key in self._env}
        os.environ.update(self._env)
        self._imported_before = "polars" in sys.modules
        import numpy
        import polars

        # Polars loads numpy through a lazy proxy whose first use is not thread-safe: two
        # streaming-engine threads calling a UDF at once both load it, and the second fails
        # ("'module' object does not support item assignment", seen once in a make run).
        # One use here, untimed and single-threaded, loads it before any query.
        polars.Series("warm", numpy.zeros(1)).to_numpy()
        self._pl = polars

    def stop(self) -> None:
        """Put the environment back (Polars itself keeps what it read at import)."""
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    @property
    def collect_engine(self) -> CollectEngine:
        """The ``engine=`` this variant collects with (``in-memory`` or ``streaming``)."""
        return COLLECT_ENGINES[self.variant or "lazy"]

    @property
    def streaming(self) -> bool:
        """Whether this variant collects with the streaming engine (out of core)."""
        return self.collect_engine == "streaming"

    def collect(self, frame: pl.LazyFrame, optimizations: Any = None) -> pl.DataFrame:
        """``frame`` collected by this variant's engine (with ``optimizations``, a
        ``QueryOptFlags``, when given; Polars' defaults otherwise)."""
        kwargs: dict[str, Any] = {"engine": self.collect_engine}
        if optimizations is not None:
            kwargs["optimizations"] = optimizations
        result: pl.DataFrame = frame.collect(**kwargs)
        return result

    def role(self, variant: str) -> Role:
        """This machine, with the thread pool's cores: a single-node baseline candidate."""
        return Role(Placement.SINGLE, nodes=1, cores=self.threads(), baseline=True)

    def info(self) -> dict[str, Any]:
        """Version, the thread pool Polars really has, the collect engine, the environment
        set for it and the run's memory limit."""
        info: dict[str, Any] = {
            "collect_engine": self.collect_engine,
            "env": dict(self._env),
            "memory_limit": self.memory_limit,
        }
        if self._pl is not None:
            info.update(polars=self._pl.__version__, threads=self._pl.thread_pool_size())
            if self._imported_before:
                info["thread_pool_sized_by"] = "an earlier import in this process"
        return info
