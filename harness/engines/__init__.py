"""Engine adapters, by name. Importing this package imports no engine library."""

from __future__ import annotations

from typing import Any

from harness.engines.base import Engine, EngineOptions, Placement, Role
from harness.engines.duckdb_engine import DuckdbEngine
from harness.engines.mrjob_engine import MrjobEngine
from harness.engines.numpy_engine import NumpyEngine
from harness.engines.polars_engine import PolarsEngine
from harness.engines.spark_engine import SparkEngine
from harness.errors import UserError

ENGINES: dict[str, type[Engine]] = {
    cls.name: cls for cls in (NumpyEngine, MrjobEngine, SparkEngine, DuckdbEngine, PolarsEngine)
}

__all__ = [
    "ENGINES",
    "Engine",
    "EngineOptions",
    "Placement",
    "Role",
    "get_engine_class",
    "recorded_role",
]


def recorded_role(engine: str, variant: str, where: str, role: dict[str, Any] | None) -> Role:
    """The role a record declares, or for a record from before roles were recorded, what its
    engine makes of it (an engine no longer known: this machine, no baseline)."""
    if role:
        return Role.from_json(role)
    cls = ENGINES.get(engine)
    return cls.recorded_role(variant, where) if cls else Role(Placement.SINGLE, cores=None)


def get_engine_class(name: str) -> type[Engine]:
    """The engine class called ``name``, or a UserError listing the known ones."""
    if name not in ENGINES:
        raise UserError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    return ENGINES[name]
