"""The contract between the runner and the measured child: the request it sends and the result
it gets back, both dataclasses that serialise to JSON like ``RunRecord``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.cells import Cell
from harness.results import Check, Status
from harness.rules import RulesMode

T = TypeVar("T")


def _from_json(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from parsed JSON; an unknown key is an error naming it."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}")
    return cls(**data)


@dataclass
class RunRequest:
    """What one measured run must do: the cell, its data and parameters, where to write."""

    workload: str
    engine: str
    variant: str
    rules: RulesMode
    params: dict[str, Any]
    #: ``Dataset.to_json()`` of the input.
    dataset: dict[str, Any]
    #: The workload's untimed preparation for this dataset (e.g. a UDF profile).
    prepared: dict[str, Any]
    #: ``EngineOptions.to_json()``.
    options: dict[str, Any]
    #: The run's scratch folder (removed by the runner whatever happens).
    scratch: str
    #: Where the child writes the ``RunResult`` of each of its calls (``write_all``).
    result_path: str
    #: Where the child writes its answer as JSON (``--keep-answers``), or None.
    answer_path: str | None = None
    #: Keep the started engine after the cell's last call and offer it for another cell
    #: (``--share-engines``): the worker says "idle" and waits for "cell PATH" or "exit".
    share: bool = False
    #: The run's ``--memory-limit`` in bytes (None: none), for engines that keep under it.
    memory_limit: int | None = None
    #: Say "iteration K SECONDS" to the runner as each iteration ends (a fault plan acts on
    #: it); off otherwise: the round trip would be inside the timed region for nothing.
    progress: bool = False

    def __post_init__(self) -> None:
        # Read back from JSON, ``rules`` is its JSON value.
        self.rules = RulesMode.from_json(self.rules)

    @property
    def cell(self) -> Cell:
        """The cell this run measures."""
        return Cell(self.workload, self.engine, self.variant, self.rules)

    def write(self, path: Path) -> None:
        """Write the request as JSON."""
        data = dataclasses.asdict(self) | {"rules": self.rules.to_json()}
        path.write_text(json.dumps(data, ensure_ascii=False))

    @classmethod
    def read(cls, path: Path) -> RunRequest:
        """Read a request written by ``write``."""
        return _from_json(cls, json.loads(path.read_text()))


@dataclass
class RunResult:
    """What the child reports: its own figures of the run (the runner adds the probe's)."""

    status: Status = "failed"
    error: str | None = None
    wall_s: float | None = None
    startup_s: float | None = None
    #: CPU seconds of the timed region by ``getrusage`` (self and reaped children).
    cpu_s_rusage: float | None = None
    #: Largest single-process RSS seen by ``getrusage`` (bytes).
    max_rss_single: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    answer_digest: str | None = None
    check: Check = "na"
    check_detail: str | None = None
    engine_info: dict[str, Any] = field(default_factory=dict)
    #: The engine failed to stop after the run (the run's figures still stand).
    stop_error: str | None = None
    #: The last part of the traceback of a failure.
    traceback: str | None = None

    def write(self, path: Path) -> None:
        """Write the result atomically (a half-written result is never read)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), ensure_ascii=False))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> RunResult:
        """Read a result written by ``write``."""
        return _from_json(cls, json.loads(path.read_text()))

    @staticmethod
    def write_all(results: list[RunResult], path: Path) -> None:
        """Write the results of a worker process's calls so far, in call order, atomically:
        rewritten after every call, so a process that dies keeps its finished calls."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([dataclasses.asdict(r) for r in results], ensure_ascii=False))
        tmp.replace(path)

    @classmethod
    def read_all(cls, path: Path) -> list[RunResult]:
        """Read the results written by ``write_all``."""
        return [_from_json(cls, item) for item in json.loads(path.read_text())]


def answer_file(base: Path, index: int) -> Path:
    """Where call ``index`` of a worker process writes its answer (``--keep-answers``)."""
    return base.with_name(f"{base.stem}.call{index}{base.suffix}")
