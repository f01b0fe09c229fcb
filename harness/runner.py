"""Expand the workload x engine x variant x rules x scale matrix and measure every cell.

Each measured run (warm-ups included, flagged) is a fresh child process (``harness.worker``)
sampled by ``probe.TreeSampler``; a run past its timeout has its whole process tree killed.
A cell that cannot run becomes a ``skipped`` record with the reason, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness import datasets, probe, registry
from harness.engines import ENGINES, EngineOptions, get_engine_class
from harness.errors import UserError
from harness.matrix import supported_rules
from harness.results import ResultsWriter, RunRecord
from harness.rules import CHOICES as RULES_CHOICES
from harness.rules import RulesMode
from harness.rules import label as rules_label
from harness.rules import selected as selected_rules

DEFAULT_TIMEOUT = 1800.0
#: Measured runs per cell: with 10, ``bdbench compare`` (Mann-Whitney U at alpha 0.05, threshold
#: 1.10) flags a planted 20% slowdown in >= 95% of trials on a 2-core VM; with 5 it cannot
#: (``python -m benchmarks.compare_power`` measures both).
DEFAULT_REPEATS = 10
#: How long the runner lets a finished run's processes (e.g. the JVM) exit by themselves.
EXIT_GRACE_S = 10.0


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix."""

    workload: str
    engine: str
    variant: str
    rules: RulesMode

    @property
    def label(self) -> str:
        """Human label, e.g. ``wordcount spark/df rules=off``."""
        base = f"{self.workload} {self.engine}/{self.variant}"
        if self.rules is None:
            return base
        return f"{base} rules={rules_label(self.rules)}"


@dataclass
class RunConfig:
    """Everything ``run_batch`` needs besides the cells."""

    scales: list[str]
    factor: float = 1.0
    seed: int = datasets.DEFAULT_SEED
    repeats: int = DEFAULT_REPEATS
    warmups: int = 1
    timeout: float = DEFAULT_TIMEOUT
    input_path: Path | None = None
    #: Side files of a user input by name (``--campaigns FILE``).
    side_inputs: dict[str, Path] = field(default_factory=dict)
    data_dir: Path | None = None
    keep_answers: bool = False
    options: EngineOptions = field(default_factory=EngineOptions)
    sample_interval: float = probe.DEFAULT_INTERVAL
    probe_budget: float = probe.DEFAULT_BUDGET
    #: Parameter grid from ``--param``: each workload runs every combination of the values
    #: of the keys it has (its other parameters keep their defaults).
    params: dict[str, list[Any]] = field(default_factory=dict)


def parse_engine_selector(text: str) -> tuple[str, str | None]:
    """``spark`` -> (spark, None); ``spark/df`` or ``spark:df`` -> (spark, df), validated."""
    name, _, variant = text.replace(":", "/").partition("/")
    cls = get_engine_class(name)
    if variant and variant not in cls.variants:
        known = ", ".join(cls.variants)
        raise UserError(f"unknown variant {variant!r} of engine {name!r} (known: {known})")
    return name, variant or None


def expand_cells(
    workloads: list[str] | None, engines: list[str] | None, rules: str = "auto"
) -> list[Cell]:
    """The matrix cells selected by workload names, engine selectors and the rules choice.

    ``rules`` is a key of ``harness.rules.CHOICES`` or ``auto``: each workload's default
    (plain Spark for word count; off, on and the paper control for the UDF workloads).
    """
    if rules != "auto" and rules not in RULES_CHOICES:
        known = ", ".join(["auto", *RULES_CHOICES])
        raise UserError(f"--rules must be one of {known}, not {rules!r}")
    known_workloads = registry.workloads_by_name()
    names = workloads or list(known_workloads)
    for name in names:
        registry.get_workload(name)
    selectors = [parse_engine_selector(e) for e in engines] if engines else None
    cells: list[Cell] = []
    for name in names:
        workload = registry.get_workload(name)
        choice = RULES_CHOICES[workload.default_rules if rules == "auto" else rules]
        for engine_name, cls in ENGINES.items():
            supported = supported_rules(workload, cls)
            modes: list[RulesMode] = selected_rules(supported, choice) if supported else [None]
            for variant in cls.variants:
                if selectors is not None and not any(
                    e == engine_name and v in (None, variant) for e, v in selectors
                ):
                    continue
                if registry.find_impl(name, engine_name, variant) is None:
                    continue
                for mode in modes:
                    cells.append(Cell(name, engine_name, variant, mode))
    if not cells:
        raise UserError("no implemented cell matches the selected workloads, engines and rules")
    return cells


def _record(cell: Cell, batch_id: str, data_keys: dict[str, Any], **fields: Any) -> RunRecord:
    return RunRecord(
        batch_id=batch_id,
        workload=cell.workload,
        engine=cell.engine,
        variant=cell.variant,
        rules=cell.rules,
        **data_keys,
        **fields,
    )


def _read_control(sock: socket.socket, deadline: float) -> Iterator[str]:
    """Lines from the child's control socket until EOF; TimeoutError past ``deadline``."""
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(256)
        except TimeoutError:
            raise
        except OSError:  # the child died mid-message: treat like EOF
            return
        if not chunk:
            return
        buf += chunk


def measure(
    spec: dict[str, Any],
    timeout: float,
    sample_interval: float = probe.DEFAULT_INTERVAL,
    probe_budget: float = probe.DEFAULT_BUDGET,
) -> dict[str, Any]:
    """Run one spec in a fresh child process under the probe; return the merged result fields."""
    scratch = Path(spec["scratch"])
    spec_path = scratch / "spec.json"
    spec["result_path"] = str(scratch / "result.json")
    spec_path.write_text(json.dumps(spec))
    log_path = scratch / "child.log"
    parent_sock, child_sock = socket.socketpair()
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.worker", str(spec_path), str(child_sock.fileno())],
            pass_fds=[child_sock.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the run's whole tree shares one session id: easy to kill
            env=env,
            cwd=scratch,
        )
    child_sock.close()
    sampler = probe.TreeSampler(proc.pid, interval=sample_interval, budget=probe_budget)
    sampler.start()
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        for word in _read_control(parent_sock, deadline):
            if word == "start":
                sampler.mark_start()
            elif word == "end":
                sampler.mark_end()
            parent_sock.sendall(b"ok\n")
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        timed_out = True
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): the run's own session did not get the signal.
        probe.kill_processes(probe.session_processes(proc.pid))
        raise
    finally:
        parent_sock.close()
        sampler.stop()
    seen = sampler.result()
    # Kill what is left of the run: everything in its session, plus anything the probe saw.
    leftovers = probe.session_processes(proc.pid)
    for pid, created in seen.seen:
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p not in leftovers:
                leftovers.append(p)
        except psutil.Error:
            continue
    if timed_out:
        killed = probe.kill_processes(leftovers, grace=0)
    else:
        killed = probe.kill_processes(leftovers, grace=EXIT_GRACE_S)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)

    result_path = Path(spec["result_path"])
    if timed_out:
        result: dict[str, Any] = {
            "status": "timeout",
            "error": f"timed out after {timeout:g} s; killed {killed} processes of the run",
        }
    elif result_path.is_file():
        result = json.loads(result_path.read_text())
    else:
        result = {
            "status": "failed",
            "error": f"worker exited with code {proc.returncode} "
            f"and no result: {_log_tail(log_path)}",
        }
    result.setdefault("metrics", {})
    if seen.samples and result.get("wall_s") is not None:
        rusage = result.pop("cpu_s_rusage", 0.0)
        # Sampling misses short-lived processes; rusage misses unreaped ones: take the larger.
        result["cpu_s"] = max(seen.cpu_s, rusage)
        result["peak_rss_bytes"] = max(seen.peak_rss_bytes, result.pop("max_rss_single", 0))
        result["metrics"].update(
            cpu_s_sampled=seen.cpu_s,
            cpu_s_rusage=rusage,
            peak_procs=seen.max_procs,
        )
    result["metrics"].update(probe_samples=seen.samples, probe_cpu_s=seen.probe_cpu_s)
    if killed and not timed_out:
        result["metrics"]["leftover_processes_killed"] = killed
    if result.get("status") != "ok" and "traceback" in result:
        result["metrics"]["traceback"] = result.pop("traceback")
    result.pop("traceback", None)
    return result


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) if text else "(empty log)"


RECORD_FIELDS = (
    "status error wall_s cpu_s peak_rss_bytes startup_s metrics answer_digest check "
    "check_detail engine_info"
).split()


def run_batch(
    cells: list[Cell],
    config: RunConfig,
    writer: ResultsWriter,
    on_record: Callable[[RunRecord], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[RunRecord]:
    """Measure every cell at every scale; append each record as soon as it exists."""
    records: list[RunRecord] = []
    scratch_root = Path(tempfile.mkdtemp(prefix="bdbench-"))

    def emit(record: RunRecord) -> None:
        writer.append(record)
        records.append(record)
        if on_record is not None:
            on_record(record)

    try:
        for scale in config.scales:
            for workload_name, params in _workload_points(cells, config.params):
                workload = registry.get_workload(workload_name)
                data_keys: dict[str, Any] = {
                    "scale": "input" if config.input_path is not None else scale,
                    "factor": config.factor,
                    "seed": config.seed,
                    "params": params,
                    "workload_version": workload.version,
                }
                its_cells = [c for c in cells if c.workload == workload_name]
                try:
                    data, prepared = _prepare(workload, scale, params, config)
                except UserError:
                    raise
                except Exception as exc:  # a broken generator fails its cells, not the batch
                    error = f"data preparation failed: {type(exc).__name__}: {exc}"
                    for cell in its_cells:
                        emit(
                            _record(
                                cell,
                                writer.batch_id,
                                data_keys,
                                repeat=0,
                                is_warmup=False,
                                status="failed",
                                error=error,
                            )
                        )
                    continue
                data_keys.update(
                    factor=data.factor,
                    seed=data.seed,
                    input={
                        "bytes": data.input_bytes,
                        "files": [str(p) for p in data.inputs],
                        "source": data.meta.get("source"),
                    },
                )
                for cell in its_cells:
                    _run_cell(
                        cell,
                        data,
                        prepared,
                        data_keys,
                        config,
                        writer,
                        scratch_root,
                        emit,
                        on_start,
                    )
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    return records


def param_points(workload: registry.Workload, grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values for the keys ``workload`` has, over its defaults."""
    keys = [k for k in grid if k in workload.params]
    points = []
    for values in itertools.product(*(grid[k] for k in keys)):
        points.append({**workload.params, **dict(zip(keys, values, strict=True))})
    return points


def _workload_points(
    cells: list[Cell], grid: dict[str, list[Any]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in dict.fromkeys(c.workload for c in cells):
        for params in param_points(registry.get_workload(name), grid):
            yield name, params


def _prepare(
    workload: registry.Workload, scale: str, params: dict[str, Any], config: RunConfig
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """Generate (or locate) the input, its reference answer and the workload's preparation
    (e.g. a UDF profile), before any timed run."""
    if config.input_path is not None:
        data = datasets.user_input(workload, config.input_path, config.data_dir, config.side_inputs)
    else:
        data = datasets.generated(workload, scale, config.factor, config.seed, config.data_dir)
    datasets.reference_answer(workload, data, params)
    return data, datasets.prepared(workload, data, params)


def _run_cell(
    cell: Cell,
    data: datasets.Dataset,
    prepared: dict[str, Any],
    data_keys: dict[str, Any],
    config: RunConfig,
    writer: ResultsWriter,
    scratch_root: Path,
    emit: Callable[[RunRecord], None],
    on_start: Callable[[str], None] | None,
) -> None:
    engine = get_engine_class(cell.engine)(config.options)
    reason = engine.unavailable(cell.variant, cell.rules)
    if reason is None and cell.rules:
        # Build (or find) the rules jar once, here, so a compile error is a skip with its
        # reason and the measured children never race to build it.
        from harness.errors import EngineUnavailable
        from harness.spark_rules import build

        try:
            build.build_jar()
        except EngineUnavailable as exc:
            reason = str(exc)
    plan = [(i, True) for i in range(config.warmups)] + [(i, False) for i in range(config.repeats)]
    if reason is not None:
        # One record says why the cell cannot run; its repeats would only repeat it.
        if on_start is not None:
            on_start(f"{cell.label} (skipped)")
        emit(
            _record(
                cell,
                writer.batch_id,
                data_keys,
                repeat=0,
                is_warmup=False,
                status="skipped",
                error=reason,
                timeout_s=config.timeout,
            )
        )
        return
    for repeat, warm in plan:
        if on_start is not None:
            kind = "warm-up" if warm else f"repeat {repeat + 1}/{config.repeats}"
            on_start(f"{cell.label} {data.scale} {kind}")
        record = _record(
            cell,
            writer.batch_id,
            data_keys,
            repeat=repeat,
            is_warmup=warm,
            status="failed",
            timeout_s=config.timeout,
        )
        scratch = Path(tempfile.mkdtemp(prefix=f"run-{record.run_id}-", dir=scratch_root))
        spec = {
            "workload": cell.workload,
            "engine": cell.engine,
            "variant": cell.variant,
            "rules": cell.rules,
            "params": data_keys["params"],
            "dataset": data.to_json(),
            "prepared": prepared,
            "options": config.options.to_json(),
            "scratch": str(scratch),
            "answer_path": str(writer.answers_dir / f"{record.run_id}.json")
            if config.keep_answers
            else None,
        }
        try:
            result = measure(spec, config.timeout, config.sample_interval, config.probe_budget)
        except Exception as exc:  # the runner itself failed: still a record, batch goes on
            result = {"status": "failed", "error": f"runner error: {type(exc).__name__}: {exc}"}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for key in RECORD_FIELDS:
            if key in result and result[key] is not None:
                setattr(record, key, result[key])
        emit(record)
