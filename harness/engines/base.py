"""The engine adapter interface: availability, start/stop (never timed), versions."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.rules import RulesMode

if TYPE_CHECKING:
    from harness.datasets import Dataset


@dataclass
class EngineOptions:
    """User-set engine options; JSON-serialisable so the measured child gets the same ones."""

    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    #: None = sized to the data (cores, or one per 64 MiB of input when that is more).
    spark_partitions: int | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)
    spark_ui: bool = False
    #: mrjob local runner task parallelism (``--num-cores``); None = all cores.
    mrjob_num_cores: int | None = None
    hadoop_streaming_jar: str | None = None
    #: Extra command-line options passed to every mrjob job as they are.
    mrjob_args: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineOptions:
        """Inverse of ``to_json``."""
        return cls(**data)


class Engine(ABC):
    """One engine (numpy, mrjob, spark): its variants and how to start and stop it."""

    name: ClassVar[str]
    variants: ClassVar[tuple[str, ...]]
    #: Variants only an implementation registered for them by name runs (a streaming mode is
    #: not a batch implementation's business); the others also run all-variants ones.
    exclusive_variants: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str]
    #: Rules modes of the engine's own optimizer (only Spark has one; see ``harness.rules``).
    rules_modes: ClassVar[tuple[RulesMode, ...]] = ()
    #: Python distributions whose versions are recorded.
    distributions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.variant: str | None = None
        self.rules: RulesMode = None

    def unavailable(self, variant: str, rules: RulesMode) -> str | None:
        """Why this variant cannot run here (None when it can); cheap, imports no engine."""
        for dist in self.distributions:
            if find_spec(dist) is None:
                return f"{self.name}: python package {dist!r} is not installed"
        return None

    @abstractmethod
    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Start the engine for one run (outside the timed region); temp files go in ``scratch``."""

    def stop(self) -> None:  # noqa: B027 - engines without resources need no stop
        """Release the engine (outside the timed region)."""

    def info(self) -> dict[str, Any]:
        """Effective configuration of the started engine, recorded with each run."""
        return {}

    def versions(self) -> dict[str, str | None]:
        """Versions of the engine's software."""
        found: dict[str, str | None] = {}
        for dist in self.distributions:
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                found[dist] = None
        return found

    def simulation_note(self, variant: str) -> str | None:
        """A note for reports when a variant only simulates the real system."""
        return None


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
