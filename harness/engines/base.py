"""The engine adapter interface: availability, start/stop (never timed), versions."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.engines import options as engine_options
from harness.engines.options import NoOptions
from harness.rules import RulesMode

if TYPE_CHECKING:
    from harness.clusters.watch import ClusterWatch
    from harness.datasets import Dataset
    from harness.faults import FaultTarget


class Placement(StrEnum):
    """Where a variant's work runs."""

    #: On this machine, in the run's own processes (NumPy, DuckDB, Spark local mode).
    SINGLE = "single machine"
    #: On this machine, imitating a cluster's execution (mrjob's local runner).
    SIMULATED = "simulated"
    #: On a cluster's nodes (real Hadoop, Spark standalone or YARN), even a local one.
    CLUSTER = "cluster"


@dataclass(frozen=True)
class Role:
    """What an engine variant is, as reports and claims read it from the records: never
    from engine names or labels."""

    placement: Placement
    #: Machines (cluster nodes) the work is spread over: 1 off a cluster; None when unknown
    #: (a user's cluster).
    nodes: int | None = 1
    #: Cores the work may use (over all nodes); None when the engine cannot tell.
    cores: int | None = None
    #: May serve as the single-node baseline: an engine built for one machine, written as
    #: its experts write it (the "Relative" column, COST's "one machine").
    baseline: bool = False
    #: The published system the variant is an instance of, as published claims name it
    #: (e.g. the Spark paper's "Hadoop MapReduce" and "Spark RDD"); None: no such claim.
    system: str | None = None

    def describe(self) -> str:
        """In words: ``single machine, 2 cores, baseline``, ``cluster, 3 nodes``."""
        parts = [str(self.placement)]
        if self.placement is Placement.CLUSTER and self.nodes:
            parts.append(f"{self.nodes} node{'s' if self.nodes != 1 else ''}")
        if self.cores:
            parts.append(f"{self.cores} core{'s' if self.cores != 1 else ''}")
        if self.baseline:
            parts.append("baseline")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """JSON form, for records."""
        return {**asdict(self), "placement": str(self.placement)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Role:
        """Inverse of ``to_json``."""
        return cls(**{**data, "placement": Placement(data["placement"])})


@dataclass
class EngineOptions:
    """Every engine's options, by engine name; JSON-serialisable so the measured child gets the
    same ones. An engine missing here runs with its defaults."""

    by_engine: dict[str, Any] = field(default_factory=dict)

    def of(self, engine_cls: type[Engine]) -> Any:
        """The options of ``engine_cls`` (its defaults when none were given)."""
        found = self.by_engine.get(engine_cls.name)
        return found if found is not None else engine_cls.Options()

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{engine: {field: value}}``."""
        return {name: engine_options.to_json(value) for name, value in self.by_engine.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineOptions:
        """Inverse of ``to_json``."""
        from harness.engines import get_engine_class

        return cls(
            {
                name: engine_options.from_json(get_engine_class(name).Options, values)
                for name, values in data.items()
            }
        )


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
    #: The dataclass of the engine's own options (fields made with ``options.option``).
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options: Any = options if options is not None else self.Options()
        self.variant: str | None = None
        self.rules = RulesMode.NONE
        #: The run's ``--memory-limit`` in bytes (None: none), set before ``start``: an engine
        #: that manages its own memory (spills) keeps under it instead of being killed.
        self.memory_limit: int | None = None

    def unavailable(self, variant: str, rules: RulesMode) -> str | None:
        """Why this variant cannot run here (None when it can); cheap, imports no engine."""
        for dist in self.distributions:
            if find_spec(dist) is None:
                return f"{self.name}: python package {dist!r} is not installed"
        return None

    @classmethod
    def fresh_calls(cls, variant: str) -> str | None:
        """Why every call of ``variant`` starts cold anyway (None: a call leaves the process
        warmer for the next, e.g. a JVM's compiled code). Such cells take no warm-up by
        default: it would cost a whole call and measure nothing the values do not."""
        return None

    def prepare(self, variant: str, rules: RulesMode) -> None:  # noqa: B027 - optional hook
        """Once per cell, in the runner, before its first run (never timed): build what every
        run of the cell shares (e.g. a plugin jar). Raises ``EngineUnavailable`` with the reason
        when the cell cannot run after all."""

    @abstractmethod
    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Start the engine for one run (outside the timed region); temp files go in ``scratch``."""

    def share_key(self, variant: str, rules: RulesMode, data: Dataset) -> str | None:
        """What must be equal for this engine, once started, to serve another cell
        (``adopt``); None: never shared (cheap to start, or no way to reset it between cells)."""
        return None

    def adopt(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Serve another cell, whose ``share_key`` matched, with this started engine: the cell's
        own fresh state on the running engine (never timed); temp files go in ``scratch``."""
        raise NotImplementedError(f"{self.name}: engine not shareable")

    def release(self) -> None:  # noqa: B027 - engines that are never shared keep nothing
        """A cell on a shared engine is done: drop what it left (caches, running queries)."""

    def stop(self) -> None:  # noqa: B027 - engines without resources need no stop
        """Release the engine (outside the timed region)."""

    def info(self) -> dict[str, Any]:
        """Effective configuration of the started engine, recorded with each run."""
        return {}

    def crash_reason(self) -> str | None:
        """After a failed run: what happened to the engine's own processes (e.g. its JVM
        killed by a signal), which the error seen from Python hides; None when they are fine
        or the engine cannot tell."""
        return None

    def fault_target(self, variant: str, cluster: dict[str, Any]) -> FaultTarget | None:
        """Where the variant's work runs among the worker nodes of the local cluster described
        by ``cluster`` (its state), for a fault plan to kill one; None when it does not run
        there (this machine, a simulation, a user's own cluster)."""
        return None

    def begin_call(self) -> None:  # noqa: B027 - engines without per-call accounts
        """A call is about to start (untimed): start the engine's per-call accounts afresh."""

    def run_metrics(self) -> dict[str, Any]:
        """The engine's own figures of the run just timed (e.g. each MapReduce job's time and
        counters), merged into the record's metrics; every key declared in harness.metrics."""
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

    @classmethod
    def on_cluster(cls, options: Any, cluster: dict[str, Any]) -> Any:
        """The options to use when a batch runs on a local cluster (``bdbench run --cluster``);
        ``cluster`` is its recorded state. Unchanged by default."""
        return options

    def role(self, variant: str) -> Role:
        """What ``variant`` is, with this engine's options: its placement, size and whether
        it may serve as the single-node baseline (default: this machine, not a baseline)."""
        return Role(Placement.SINGLE, nodes=1, cores=cpu_count())

    @classmethod
    def recorded_role(cls, variant: str, where: str) -> Role:
        """The role of a record written before records carried one, from its ``where``
        label (which only this engine knows how to read)."""
        return Role(Placement.SINGLE, cores=None)

    def where(self, variant: str) -> str:
        """Where this variant's runs execute when that is not the run's own processes (a
        cluster), for labels: "on standalone (2 workers)", "on YARN"; "" otherwise."""
        return ""

    def cluster_roots(self, variant: str) -> list[int]:
        """Daemons of a cluster on this machine whose new children work for this variant's
        runs (a Spark worker's executors, a NodeManager's containers): the probe counts them
        with the run's own tree. Empty when everything runs in the run's tree."""
        return []

    def cluster_watch(self, variant: str) -> ClusterWatch | None:
        """The cluster daemons this variant's runs need, for the runner to watch while a run
        is in flight (None: the run needs no cluster, or none that can be watched)."""
        return None

    def preflight(self) -> str | None:
        """Before a batch: why the engine's options cannot work at all (e.g. a master that
        does not answer), as one line; None when they may. May take a moment (a connect)."""
        return None

    @classmethod
    def environment(cls) -> dict[str, Any]:
        """Facts about the machine this engine depends on (e.g. the Java runtime), recorded
        once per batch in the environment file, merged into its top level."""
        return {}


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
