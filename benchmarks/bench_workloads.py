"""The asv suite: one benchmark class per registered workload, generated from the registry.

Nothing here is written per workload or per engine: every workload in
``harness.registry.workloads_by_name()`` (built-ins and ``BDBENCH_PLUGINS``) becomes a class
named after it (``wordcount`` -> ``Wordcount``), parametrised over

* ``cell``: engine/variant, with ``+rules`` when our Spark optimizer rules are on
  (``numpy/default``, ``mrjob/local``, ``spark/df``, ``spark/df+rules`` ...), and
* ``scale``: the named scales of the profile.

Metrics per cell and scale:

* ``time_wall``: wall time of one run of the implementation (engine already started);
* ``track_peak_rss``: peak RSS of the whole process tree (bytes), Spark JVM and workers and
  mrjob task processes included (asv's own ``peakmem_`` sees only its own process);
* ``track_cpu``: user+system CPU seconds of the whole process tree in the run;
* ``track_s_per_million_items``: seconds per million input items (words...), lower is better
  (asv counts a higher ``track_`` value as worse, so throughput itself is never tracked).

Profiles are chosen by environment variables (like scikit-learn's asv_benchmarks):

* ``BDBENCH_ASV_SCALES``: comma list of scales (default ``tiny``);
* ``BDBENCH_ASV_ENGINES``: comma list of ``engine``, ``engine/variant`` or a full cell label
  such as ``spark/df+rules`` (default: every cell);
* ``BDBENCH_ASV_RULES``: ``off``, ``on``, ``both`` (default), ``paper`` or ``all``: our optimizer
  rules (Spark; numpy and mrjob on UDF filter workloads: ranked order); ``+paper`` cells are the
  paper's reorder-only control;
* ``BDBENCH_DATA_DIR``: data cache (default ``<repo>/.bdbench/data``).

Data and reference answers are prepared once, in ``setup_cache``. The engine starts in
``setup`` and stops in ``teardown``, never inside a timed region; asv 0.6.6 re-runs setup and
teardown around every timed sample, so each sample gets a freshly started engine, like every
``bdbench run`` run. A cell that cannot run here is skipped (n/a) with the reason; a wrong
answer raises, so it never produces a number. Importing this module imports no engine.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness import datasets, registry
from harness.cells import RULES_SUFFIXES, Cell, matrix
from harness.engines import ENGINES
from harness.errors import EngineUnavailable
from harness.probe import TreeSampler
from harness.rules import CHOICES as RULES_CHOICES
from harness.rules import RulesMode
from harness.worker import Session, Timed

SCALES_ENV = "BDBENCH_ASV_SCALES"
ENGINES_ENV = "BDBENCH_ASV_ENGINES"
RULES_ENV = "BDBENCH_ASV_RULES"
DEFAULT_SCALES = "tiny"
#: The repository root (this file's parent's parent), for an absolute default data cache:
#: asv runs benchmarks in a temporary working directory.
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Seconds one benchmark process may take at each scale. A time benchmark starts the engine
#: once per sample (Spark takes 10-20 s to start), and mrjob's local runner takes ~8 s per run
#: at ``small``; the largest scale of the profile sets the limit.
BENCH_TIMEOUT_S = {"tiny": 600.0, "small": 1200.0, "medium": 3600.0, "large": 4 * 3600.0}
#: Seconds to generate one workload's data and reference answer at each scale.
DATA_TIMEOUT_S = {"tiny": 120.0, "small": 300.0, "medium": 1800.0, "large": 4 * 3600.0}


def env_list(name: str, default: str = "") -> list[str]:
    """The comma-separated, stripped, non-empty items of environment variable ``name``."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def profile_scales() -> list[str]:
    """Scales of the profile (``BDBENCH_ASV_SCALES``), validated, in the order given."""
    scales = [datasets.validate_scale(s) for s in env_list(SCALES_ENV, DEFAULT_SCALES)]
    return list(dict.fromkeys(scales)) or [DEFAULT_SCALES]


#: What ``BDBENCH_ASV_RULES`` keeps (cells without a rules switch are always kept).
RULES_PROFILES: dict[str, tuple[RulesMode, ...]] = {
    name: (RulesMode.NONE, *modes) for name, modes in RULES_CHOICES.items()
}


def all_cells(workload: registry.Workload) -> list[Cell]:
    """Every implemented cell of ``workload``, in the matrix's order (a variant the workload
    does not implement, e.g. ``numpy/replay`` of word count, is no cell of it)."""
    return list(matrix([workload.name]))


def _selected(cell: Cell, selector: str) -> bool:
    """Whether ``selector`` (``engine``, ``engine/variant`` or a full label) names ``cell``."""
    if selector.endswith(tuple(RULES_SUFFIXES.values())):
        return selector == cell.label
    engine, _, variant = selector.replace(":", "/").partition("/")
    return engine == cell.engine and variant in ("", cell.variant)


def profile_cells(workload: registry.Workload) -> list[Cell]:
    """Cells of ``workload`` in the profile (``BDBENCH_ASV_ENGINES``, ``BDBENCH_ASV_RULES``)."""
    rules = os.environ.get(RULES_ENV, "both").strip() or "both"
    if rules not in RULES_PROFILES:
        raise ValueError(f"{RULES_ENV} must be off, on, both, paper or all, not {rules!r}")
    cells = [c for c in all_cells(workload) if c.rules in RULES_PROFILES[rules]]
    selectors = env_list(ENGINES_ENV)
    if selectors:
        every = [c for w in registry.workloads_by_name().values() for c in all_cells(w)]
        for selector in selectors:
            # A typo must fail discovery loudly, not silently yield an empty suite.
            if not any(_selected(c, selector) for c in every):
                labels = ", ".join(dict.fromkeys(c.label for c in every))
                raise ValueError(f"{ENGINES_ENV}: {selector!r} names no cell (cells: {labels})")
        cells = [c for c in cells if any(_selected(c, s) for s in selectors)]
    return cells


def parse_cell(label: str, workload: registry.Workload) -> Cell:
    """The cell of ``workload`` a label names (inverse of ``Cell.label``)."""
    for cell in all_cells(workload):
        if cell.label == label:
            return cell
    raise ValueError(f"unknown cell {label!r} of {workload.name}")


def data_dir() -> Path:
    """Absolute data cache: ``$BDBENCH_DATA_DIR`` or the repository's ``.bdbench/data``."""
    configured = os.environ.get(datasets.DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return REPO_ROOT / ".bdbench" / "data"


class WrongAnswer(AssertionError):
    """An engine's answer differs from the reference: the run must not yield a number."""


@dataclass(frozen=True)
class Measurement:
    """One probed run: wall time, CPU and peak RSS of the whole process tree."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    items: int


class _WorkloadBenchmark:
    """Base of the generated classes (the leading underscore hides it from asv discovery)."""

    workload_name: ClassVar[str] = ""
    param_names: ClassVar[list[str]] = ["cell", "scale"]
    params: ClassVar[list[list[str]]] = []
    timeout: ClassVar[float] = BENCH_TIMEOUT_S["tiny"]
    # Every sample restarts the engine (setup runs around each one), so the sample count is
    # bounded by time: at least 2 per round, more only while under 20 s (numpy gets 10).
    repeat: ClassVar[tuple[int, int, float]] = (2, 10, 20.0)
    # A warm-up call would only add one more engine start per process: each sample is cold.
    warmup_time: ClassVar[float] = 0.0

    session: Session | None = None
    scratch: Path | None = None

    def setup_cache(self) -> dict[str, Any]:
        """Generate every workload's data at every profile scale and cache the references.

        asv keys ``setup_cache`` by its source line, so all generated classes share this one
        call: it prepares the whole suite. A workload whose data cannot be made keeps the error
        so that its own cells fail with it while the others run.
        """
        prepared: dict[str, Any] = {}
        for workload in registry.workloads_by_name().values():
            for scale in profile_scales():
                key = f"{workload.name}/{scale}"
                try:
                    data = datasets.generated(workload, scale, data_dir=data_dir())
                    params = dict(workload.params)
                    datasets.reference_answer(workload, data, params)
                    # Untimed preparation (e.g. a UDF profile), the same as bdbench run's.
                    ready = datasets.prepared(workload, data, params)
                except Exception as exc:
                    prepared[key] = {"error": f"{type(exc).__name__}: {exc}"}
                else:
                    prepared[key] = {"dataset": data.to_json(), "prepared": ready}
        return prepared

    def setup(self, prepared: dict[str, Any], cell: str, scale: str) -> None:
        """Start the engine for this cell on the prepared data (never timed), exactly as a
        ``bdbench run`` worker does (``harness.worker.Session``)."""
        workload = registry.get_workload(self.workload_name)
        target = parse_cell(cell, workload)
        engine_cls = ENGINES[target.engine]
        reason = engine_cls().unavailable(target.variant, target.rules)
        if reason:
            raise NotImplementedError(reason)
        entry = prepared.get(f"{workload.name}/{scale}")
        if entry is None:
            raise RuntimeError(f"{workload.name}/{scale}: no data prepared (profile changed?)")
        if "error" in entry:
            raise RuntimeError(f"{workload.name}/{scale}: data generation failed: {entry['error']}")
        data = datasets.Dataset.from_json(entry["dataset"])
        self.label = f"{workload.name} {cell} {scale}"
        self.answers: list[Timed] = []
        self.scratch = Path(tempfile.mkdtemp(prefix="bdbench-asv-"))
        try:
            engine_cls().prepare(target.variant, target.rules)
            session = Session(
                target, data, dict(workload.params), self.scratch, prepared=entry.get("prepared")
            )
            self.session = session
            session.start()
        except EngineUnavailable as exc:
            self.teardown(prepared, cell, scale)
            raise NotImplementedError(str(exc)) from exc
        except BaseException:
            with contextlib.suppress(Exception):  # the start-up error is the one to report
                self.teardown(prepared, cell, scale)
            raise

    def teardown(self, prepared: dict[str, Any], cell: str, scale: str) -> None:
        """Stop the engine, remove the scratch folder, then check the timed calls' answers."""
        # Also called after a skipped setup and a second time after a failure: idempotent.
        session, self.session = self.session, None
        try:
            if session is not None and (error := session.stop()):
                raise RuntimeError(f"{self.label}: engine failed to stop: {error}")
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
                self.scratch = None
        answers, self.answers = getattr(self, "answers", []), []
        for timed in answers:
            if session is not None:
                self.verify(session, timed)

    def verify(self, session: Session, timed: Timed) -> None:
        """Raise ``WrongAnswer`` unless the timed call's answer matches the reference."""
        judged = session.judge(timed)
        if not judged.passed:
            raise WrongAnswer(f"{self.label}: wrong answer: {judged.detail}")

    def _session(self) -> Session:
        if self.session is None:
            raise RuntimeError("setup did not start the engine")
        return self.session

    def time_wall(self, prepared: dict[str, Any], cell: str, scale: str) -> None:
        """Wall time of one run of the implementation on the started engine."""
        # timeit turns the garbage collector off; bdbench's measured runs keep it on.
        gc.enable()
        # Checked in teardown, which asv runs after every sample: outside the timed region,
        # and a wrong answer still fails the benchmark before asv records a number.
        self.answers.append(self._session().call())

    def measure(self) -> Measurement:
        """One run under the process-tree probe; the answer is checked before returning."""
        session = self._session()
        sampler = TreeSampler(os.getpid())
        sampler.start()
        probe0 = 0.0

        def on_start() -> None:
            nonlocal probe0
            sampler.mark_start()
            probe0 = sampler.result().probe_cpu_s

        try:
            timed = session.call(on_start, sampler.mark_end)
        finally:
            sampler.stop()
        seen = sampler.result()
        # The sampler runs in this process (the tree's root): its own CPU is not the workload's.
        # Sampling misses short-lived processes, rusage misses unreaped ones: take the larger.
        cpu = max(seen.cpu_s, timed.cpu_s) - (seen.probe_cpu_s - probe0)
        self.verify(session, timed)
        items = session.workload.items(session.reference())
        return Measurement(timed.wall_s, max(cpu, 0.0), seen.peak_rss_bytes, items)

    def track_peak_rss(self, prepared: dict[str, Any], cell: str, scale: str) -> int:
        """Peak RSS of the whole process tree during one run."""
        return self.measure().peak_rss_bytes

    track_peak_rss.unit = "bytes"  # type: ignore[attr-defined]

    def track_cpu(self, prepared: dict[str, Any], cell: str, scale: str) -> float:
        """User+system CPU seconds of the whole process tree during one run."""
        return self.measure().cpu_s

    track_cpu.unit = "seconds"  # type: ignore[attr-defined]


def _s_per_million_items(unit: str) -> Any:
    """A ``track_`` function for seconds per million ``unit`` (its own object, for ``.unit``)."""

    def track_s_per_million_items(
        self: _WorkloadBenchmark, prepared: dict[str, Any], cell: str, scale: str
    ) -> float:
        """Seconds per million input items: lower is better, unlike throughput."""
        run = self.measure()
        # Four significant digits: asv prints unit-less floats in full.
        return float(f"{run.wall_s / max(run.items, 1) * 1e6:.4g}")

    track_s_per_million_items.unit = f"s/1e6 {unit}"  # type: ignore[attr-defined]
    return track_s_per_million_items


def class_name(workload: str) -> str:
    """``udf_filter`` -> ``UdfFilter``: the benchmark class named after a workload."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", workload))
    return name if name[:1].isalpha() else f"W{name}"


def build_suite() -> dict[str, type]:
    """One benchmark class per registered workload, parametrised by the profile."""
    scales = profile_scales()
    workloads = registry.workloads_by_name()
    cells = {name: [c.label for c in profile_cells(w)] for name, w in workloads.items()}
    if not any(cells.values()):
        raise ValueError(
            f"{ENGINES_ENV}={os.environ.get(ENGINES_ENV)!r} with {RULES_ENV} selects no cell"
        )
    timeout = max(BENCH_TIMEOUT_S[s] for s in scales)
    data_timeout = max(DATA_TIMEOUT_S[s] for s in scales) * max(len(workloads), 1)
    # setup_cache is shared (see its docstring); its timeout is an attribute of the function.
    _WorkloadBenchmark.setup_cache.timeout = data_timeout  # type: ignore[attr-defined]
    classes: dict[str, type] = {}
    for workload in workloads.values():
        if not cells[workload.name]:
            continue  # the profile selects none of this workload's cells
        name = class_name(workload.name)
        if name in classes or name in globals():
            raise ValueError(f"workload {workload.name!r}: benchmark class {name} already taken")
        classes[name] = type(
            name,
            (_WorkloadBenchmark,),
            {
                "__module__": __name__,
                "__doc__": f"{workload.name}: {workload.description}",
                "workload_name": workload.name,
                "params": [cells[workload.name], scales],
                "timeout": timeout,
                "track_s_per_million_items": _s_per_million_items(workload.unit),
            },
        )
    return classes


globals().update(build_suite())
