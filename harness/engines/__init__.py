"""Engine adapters, by name. Importing this package imports no engine library."""

from __future__ import annotations

from harness.engines.base import Engine, EngineOptions
from harness.engines.mrjob_engine import MrjobEngine
from harness.engines.numpy_engine import NumpyEngine
from harness.engines.spark_engine import SparkEngine
from harness.errors import UserError

ENGINES: dict[str, type[Engine]] = {
    cls.name: cls for cls in (NumpyEngine, MrjobEngine, SparkEngine)
}

__all__ = ["ENGINES", "Engine", "EngineOptions", "get_engine_class"]


def get_engine_class(name: str) -> type[Engine]:
    """The engine class called ``name``, or a UserError listing the known ones."""
    if name not in ENGINES:
        raise UserError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    return ENGINES[name]
