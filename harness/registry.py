"""Workload specs and the ``@implements`` registry of engine implementations.

Registration is explicit: ``workloads/__init__.py`` lists the workload packages, each package
imports its own implementation modules, and ``BDBENCH_PLUGINS`` names extra modules to import.
Nothing here imports an engine, so ``bdbench list`` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.errors import UserError
from harness.rules import RulesMode

if TYPE_CHECKING:
    from harness.datasets import Dataset
    from harness.engines.base import Engine

#: Environment variable naming extra modules (comma separated) that register workloads.
PLUGINS_ENV = "BDBENCH_PLUGINS"

E = TypeVar("E", bound="Engine")


@dataclass(frozen=True)
class CheckResult:
    """Outcome of comparing an engine's answer with the reference answer."""

    passed: bool
    detail: str = ""
    #: True when the answer came from a different algorithm (e.g. an engine's ML library) and
    #: was judged by its quality against the reference, not value by value; reports say so.
    by_quality: bool = False


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: how to make its data, its reference answer, and how to check."""

    name: str
    version: str
    description: str
    #: Items per unit of the named scales (e.g. words); multiplied by the scale factor.
    scale_sizes: Mapping[str, int]
    #: Unit of ``scale_sizes`` and of the throughput metric, e.g. "words".
    unit: str
    #: Writes the generated input for ``size`` items into a folder; returns metadata.
    make_data: Callable[[Path, int, int], dict[str, Any]]
    #: Computes the reference answer from a dataset (never timed, cached).
    reference: Callable[[Dataset, Mapping[str, Any]], Any]
    #: Compares an answer with the reference.
    check: Callable[[Any, Any], CheckResult]
    #: Stable hex digest of an answer, equal for equal answers.
    digest: Callable[[Any], str]
    #: Number of ``unit`` items in the input, from the reference answer (for throughput).
    items: Callable[[Any], int]
    #: Converts an answer to JSON-compatible data (for ``--keep-answers`` and the cache);
    #: the answer itself when it already is.
    to_json: Callable[[Any], Any] = field(default=lambda answer: answer)
    #: Inverse of ``to_json``.
    from_json: Callable[[Any], Any] = field(default=lambda data: data)
    #: Default parameters, recorded with every run.
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Whether ``--input PATH`` is accepted (user-supplied data).
    accepts_input: bool = True
    #: Whether ``--input`` may name a folder: its files (not hidden ones), sorted by name.
    input_folder: bool = False
    #: Further files a user input needs, each given as ``--<name> FILE`` (e.g. campaigns);
    #: the dataset's ``meta[name]`` holds its absolute path.
    side_inputs: tuple[str, ...] = ()
    #: Rules modes for engines without a rules switch of their own: workloads
    #: with ordered UDF filters run them in written order (off) and ranked order (on).
    rules_modes: tuple[RulesMode, ...] = ()
    #: What ``--rules auto`` (the default) selects for this workload (a ``rules.CHOICES`` key).
    default_rules: str = "off"
    #: Untimed per-dataset preparation (e.g. profiling UDF costs on a sample), run by the
    #: runner before any measured run; its JSON result reaches implementations as
    #: ``RunContext.prepared`` and is recorded in each run's metrics.
    prepare: Callable[[Dataset, Mapping[str, Any]], dict[str, Any]] | None = None
    #: Completes a run's metrics after the timed region, from the reference answer:
    #: ``finish_metrics(metrics, expected, params, prepared)`` (e.g. the optimal order's work).
    finish_metrics: (
        Callable[[dict[str, Any], Any, Mapping[str, Any], Mapping[str, Any]], None] | None
    ) = None
    #: Figures of the run's own answer for its metrics (e.g. malformed lines skipped),
    #: recorded after the timed region whether the check passed or not.
    answer_metrics: Callable[[Any], dict[str, Any]] | None = None
    #: Validates parameter values (raises UserError with one clear line) before any run.
    check_params: Callable[[Mapping[str, Any]], None] | None = None
    #: Parameters of a quick run over the same code paths (the conformance test's), e.g. a
    #: faster feed for a workload whose runs last as long as their feed.
    smoke_params: Mapping[str, Any] = field(default_factory=dict)
    #: What ``scale_sizes`` count when the throughput ``unit`` counts something else (e.g.
    #: "points" where throughput is in point-iterations); None: ``unit``.
    size_unit: str | None = None
    #: Estimated bytes that ``make_data`` writes per unit of ``scale_sizes`` (all its files),
    #: measured by generating at ``small``; sizes the disk check and the progress bar of data
    #: generation. None: no estimate (no disk check, no bar).
    bytes_per_item: float | None = None


@dataclass
class RunContext:
    """What an implementation gets: the started engine, the data, parameters and a scratch dir."""

    engine: Engine
    variant: str
    data: Dataset
    params: dict[str, Any]
    scratch: Path
    #: The cell's rules mode (see ``harness.rules``).
    rules: RulesMode = RulesMode.NONE
    #: What the workload's ``prepare`` step produced for this dataset (untimed).
    prepared: dict[str, Any] = field(default_factory=dict)
    #: Implementations may add workload-specific figures here (they land in ``metrics``).
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Told of each iteration as it ends (number from 1, seconds), when the runner asked for
    #: progress (a fault plan acts on it); None: nobody listens.
    on_iteration: Callable[[int, float], None] | None = None

    def iteration_done(self, number: int, seconds: float) -> None:
        """Iteration ``number`` (from 1) of this call ended after ``seconds``: tell the runner
        when it listens. Called between iterations, so a fault it injects hits the next one."""
        if self.on_iteration is not None:
            self.on_iteration(number, seconds)

    def engine_as(self, cls: type[E]) -> E:
        """The started engine as the adapter class an implementation was registered for
        (typed access to its session or job runner); TypeError when it is another engine."""
        if not isinstance(self.engine, cls):
            got = type(self.engine)
            raise TypeError(
                f"this implementation needs the {getattr(cls, 'name', '?')} engine "
                f"({cls.__name__}), got {getattr(got, 'name', '?')} ({got.__name__})"
            )
        return self.engine


Implementation = Callable[[RunContext], Any]


@dataclass(frozen=True)
class ImplSpec:
    """A registered implementation of one workload on one engine (all variants when None)."""

    workload: str
    engine: str
    variant: str | None
    func: Implementation
    #: Untimed warm-up on the started engine, before the timed region (e.g. the first Python
    #: UDF query of a session, which makes its Python workers import pyarrow): engine start-up,
    #: not workload. Its time is part of ``startup_s`` and recorded as ``metrics.prewarm_s``.
    prewarm: Callable[[RunContext], None] | None = None
    #: What the cell's time consists of, for the report's notes (e.g. how much of it is the
    #: engine's own cost); None when there is nothing to tell.
    note: str | None = None
    #: It calls ``RunContext.iteration_done`` after each iteration (a fault can be injected
    #: after iteration K); False for one that runs its iterations inside a library call.
    reports_iterations: bool = False

    @property
    def summary(self) -> str:
        """How it is implemented, in one line: its docstring's first paragraph."""
        doc = inspect.getdoc(self.func) or ""
        return " ".join(doc.split("\n\n")[0].split())


_WORKLOADS: dict[str, Workload] = {}
_IMPLS: list[ImplSpec] = []
_loaded = False


def register_workload(workload: Workload) -> Workload:
    """Register a workload spec; names are unique."""
    existing = _WORKLOADS.get(workload.name)
    if existing is not None and existing is not workload:
        raise ValueError(f"workload {workload.name!r} registered twice")
    _WORKLOADS[workload.name] = workload
    return workload


def implements(
    workload: str,
    engine: str,
    variant: str | None = None,
    *,
    prewarm: Callable[[RunContext], None] | None = None,
    note: str | None = None,
    reports_iterations: bool = False,
) -> Callable[[Implementation], Implementation]:
    """Register the decorated function as ``workload`` on ``engine`` (``variant`` None = all),
    with its untimed warm-up ``prewarm`` (see ``ImplSpec.prewarm``) if it needs one and a
    ``note`` on what its time consists of (see ``ImplSpec.note``), and whether it reports its
    iterations as they end (see ``ImplSpec.reports_iterations``)."""

    def deco(func: Implementation) -> Implementation:
        for spec in _IMPLS:
            if (spec.workload, spec.engine, spec.variant) == (workload, engine, variant):
                same = (spec.func, spec.prewarm, spec.note) == (func, prewarm, note)
                if same and spec.reports_iterations == reports_iterations:
                    return func
                raise ValueError(f"{workload}/{engine}/{variant} implemented twice")
        _IMPLS.append(ImplSpec(workload, engine, variant, func, prewarm, note, reports_iterations))
        return func

    return deco


def load_all() -> None:
    """Import the built-in workloads and any ``BDBENCH_PLUGINS`` modules (once)."""
    global _loaded
    if _loaded:
        return
    import workloads

    modules = list(workloads.WORKLOAD_MODULES)
    modules += [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UserError(f"cannot import workload module {name!r}: {exc}") from exc
    _loaded = True


def workloads_by_name() -> dict[str, Workload]:
    """All registered workloads, by name, in registration order."""
    load_all()
    return dict(_WORKLOADS)


def get_workload(name: str) -> Workload:
    """The workload called ``name``, or a UserError listing the known ones."""
    known = workloads_by_name()
    if name not in known:
        raise UserError(f"unknown workload {name!r} (known: {', '.join(known) or 'none'})")
    return known[name]


def find_impl(workload: str, engine: str, variant: str) -> ImplSpec | None:
    """The implementation for a cell: an exact variant match wins over an all-variants one."""
    load_all()
    exact = [s for s in _IMPLS if (s.workload, s.engine, s.variant) == (workload, engine, variant)]
    if exact:
        return exact[0]
    from harness.engines import ENGINES

    engine_cls = ENGINES.get(engine)
    if engine_cls is not None and variant in engine_cls.exclusive_variants:
        return None
    generic = [s for s in _IMPLS if (s.workload, s.engine, s.variant) == (workload, engine, None)]
    return generic[0] if generic else None
