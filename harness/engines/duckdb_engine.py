"""In-process DuckDB: the vectorised single-node SQL engine users pick instead of a cluster."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Engine, Placement, Role, cpu_count
from harness.rules import RulesMode

if TYPE_CHECKING:
    import duckdb

    from harness.datasets import Dataset

#: Share of the run's ``--memory-limit`` given to DuckDB's buffer manager (``memory_limit``).
#: DuckDB keeps its own buffers under it and spills to ``temp_directory`` past it, but the
#: Python interpreter, the UDFs' NumPy/Arrow arrays and the answer live outside it.
MEMORY_SHARE = 0.6
#: Folders in the run's scratch: DuckDB's spill files, and the database file of a run under
#: a memory limit (its tables can then be evicted to disk, not only its intermediates).
TEMP_DIR = "duckdb-temp"
DATABASE_DIR = "duckdb-db"


class Session:
    """One implementation call's own connection to the started database (a cursor): its
    temporary tables vanish with it, and the Python functions and Arrow views it registers
    are removed when the call ends, so every call starts from the same clean state."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._functions: list[str] = []
        self._views: list[str] = []

    def function(
        self,
        name: str,
        fn: Callable[..., Any],
        parameters: list[Any],
        return_type: Any,
        *,
        arrow: bool = True,
        nulls: bool = False,
    ) -> None:
        """Register ``fn`` as the scalar function ``name`` (vectorised over Arrow arrays when
        ``arrow``, else called once per row), until the session ends. By default DuckDB calls
        it on non-null values only and it returns no null; with ``nulls`` it sees and may
        return nulls."""
        from duckdb.func import FunctionNullHandling, PythonUDFType

        self.con.create_function(
            name,
            fn,
            parameters,
            return_type,
            type=PythonUDFType.ARROW if arrow else PythonUDFType.NATIVE,
            null_handling=FunctionNullHandling.SPECIAL if nulls else FunctionNullHandling.DEFAULT,
        )
        self._functions.append(name)

    def view(self, name: str, table: Any) -> None:
        """Register an Arrow table (or anything DuckDB scans) as the view ``name``."""
        self.con.register(name, table)
        self._views.append(name)

    def close(self) -> None:
        """Remove what the session registered and close its connection."""
        try:
            # A result left unread (a failed call) would refuse the removals below.
            with suppress(Exception):
                self.con.abort()
            for name in self._functions:
                self.con.remove_function(name)
            for name in self._views:
                self.con.unregister(name)
        finally:
            self._functions, self._views = [], []
            self.con.close()


class DuckdbEngine(Engine):
    """DuckDB in this process: SQL over the input files on every core, Python UDFs over Arrow."""

    name = "duckdb"
    variants = ("default",)
    description = "single node, in-process DuckDB (vectorised SQL on every core)"
    distributions = ("duckdb", "pyarrow")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        #: The started database's main connection (None before ``start`` and after ``stop``).
        self.con: duckdb.DuckDBPyConnection | None = None
        self.threads = cpu_count()
        self._settings: dict[str, Any] = {}
        self._database: Path | None = None
        self._temp: Path | None = None
        self._version: str | None = None

    def role(self, variant: str) -> Role:
        """This machine, all its cores; a single-node baseline candidate."""
        return Role(Placement.SINGLE, nodes=1, cores=self.threads, baseline=True)

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Open the database (in memory; a file in ``scratch`` under a memory limit) with one
        thread per core, spilling to ``scratch`` (outside the timed region)."""
        import duckdb

        self.variant, self.rules = variant, rules
        self.threads = cpu_count()
        self._temp = scratch / TEMP_DIR
        self._temp.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "threads": self.threads,
            # Always in the scratch: DuckDB's default is ".tmp" in the working directory.
            "temp_directory": str(self._temp),
            # No workload needs rows in input order without ORDER BY; keeping it costs memory
            # (DuckDB's own advice for large loads and out-of-core runs).
            "preserve_insertion_order": False,
            # A run never downloads an extension: the same binary every time, offline.
            "autoinstall_known_extensions": False,
        }
        database = ":memory:"
        if self.memory_limit is not None:
            config["memory_limit"] = f"{int(self.memory_limit * MEMORY_SHARE)}B"
            self._database = scratch / DATABASE_DIR / "bdbench.duckdb"
            self._database.parent.mkdir(parents=True, exist_ok=True)
            database = str(self._database)
        self.con = duckdb.connect(database, config=config)
        self.con.execute("SET enable_progress_bar = false")
        self._version = duckdb.__version__
        names = ("threads", "memory_limit", "temp_directory", "preserve_insertion_order")
        (row,) = self.con.execute(
            "SELECT " + ", ".join(f"current_setting('{n}')" for n in names)
        ).fetchall()
        self._settings = dict(zip(names, row, strict=True))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A connection of its own for one implementation call, cleaned up after it."""
        if self.con is None:
            raise RuntimeError("duckdb: engine not started")
        session = Session(self.con.cursor())
        try:
            yield session
        finally:
            session.close()

    def stop(self) -> None:
        """Close the database and delete its files (outside the timed region)."""
        if self.con is not None:
            self.con.close()
            self.con = None
        for folder in (self._database.parent if self._database else None, self._temp):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._database = self._temp = None

    def info(self) -> dict[str, Any]:
        """DuckDB's version and the settings this run used."""
        return {
            "duckdb": self._version,
            "database": "file (scratch)" if self._database else "memory",
            "memory_share": MEMORY_SHARE if self.memory_limit is not None else None,
            **self._settings,
        }
