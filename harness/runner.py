"""Measure every cell of a batch: one fresh child process per run, under the process-tree probe.

Each measured run (warm-ups included, flagged) is a fresh child process (``harness.worker``)
sampled by ``probe.TreeSampler``; a run past its timeout has its whole process tree killed.
A cell that cannot run becomes a ``skipped`` record with the reason, and the batch goes on.
One run is five steps: spawn the child, follow its timed region, reap its processes, collect
its result, merge the result with the probe's figures into the record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
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

from harness import datasets, load, memlimit, probe, registry
from harness.cells import Cell, expand_cells, parse_engine_selector
from harness.contract import RunRequest, RunResult
from harness.engines import EngineOptions, get_engine_class
from harness.errors import EngineUnavailable, UserError
from harness.results import ResultsWriter, RunRecord

__all__ = [
    "DEFAULT_REPEATS",
    "Cell",
    "RunConfig",
    "expand_cells",
    "measure",
    "param_points",
    "parse_engine_selector",
    "run_batch",
]

DEFAULT_TIMEOUT = 1800.0
#: Measured runs per cell: with 10, ``bdbench compare`` (Mann-Whitney U at alpha 0.05, threshold
#: 1.10) flags a planted 20% slowdown in >= 95% of trials on a 2-core VM; with 5 it cannot
#: (``python -m benchmarks.compare_power`` measures both).
DEFAULT_REPEATS = 10
#: Recorded, flagged warm-up runs per cell.
DEFAULT_WARMUPS = 1
#: How long the runner lets a finished run's processes (e.g. a JVM) exit by themselves.
EXIT_GRACE_S = 10.0


@dataclass
class RunConfig:
    """Everything ``run_batch`` needs besides the cells."""

    scales: list[str]
    factor: float = 1.0
    seed: int = datasets.DEFAULT_SEED
    repeats: int = DEFAULT_REPEATS
    warmups: int = DEFAULT_WARMUPS
    timeout: float = DEFAULT_TIMEOUT
    input_path: Path | None = None
    #: Side files of a user input by name (``--<name> FILE``, from ``Workload.side_inputs``).
    side_inputs: dict[str, Path] = field(default_factory=dict)
    data_dir: Path | None = None
    keep_answers: bool = False
    options: EngineOptions = field(default_factory=EngineOptions)
    sample_interval: float = probe.DEFAULT_INTERVAL
    probe_budget: float = probe.DEFAULT_BUDGET
    #: Parameter grid from ``--param``: each workload runs every combination of the values
    #: of the keys it has (its other parameters keep their defaults).
    params: dict[str, list[Any]] = field(default_factory=dict)
    #: Bytes the run's own process tree may use (``--memory-limit``); None: no limit.
    memory_limit: int | None = None
    #: Runs that already have a record (``--resume``): ``run_key`` of each, never rerun.
    done: frozenset[tuple[Any, ...]] = frozenset()


def run_key(record: RunRecord) -> tuple[Any, ...]:
    """What makes a run unique in its batch: cell, data point, repeat and warm-up flag. A
    skipped record stands for all of its cell's runs (repeat None)."""
    params = json.dumps(record.params, sort_keys=True, default=str)
    repeat = None if record.status == "skipped" else (record.repeat, record.is_warmup)
    return (record.cell.key, record.scale, params, repeat)


@dataclass
class _Child:
    """A spawned measured child and our end of its control socket."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    log_path: Path


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


def _child_env(scratch: Path) -> dict[str, str]:
    """The measured child's environment: its temp files (Python's ``tempfile``, folders an
    engine's launcher makes, every JVM's ``java.io.tmpdir``) go to the run's scratch folder,
    which is always deleted, so a run killed mid start-up leaves none behind."""
    tmp = scratch / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    env["TMPDIR"] = str(tmp)
    java_opts = env.get("JDK_JAVA_OPTIONS", "")
    env["JDK_JAVA_OPTIONS"] = f"{java_opts} -Djava.io.tmpdir={tmp}".strip()
    return env


def _spawn(request: RunRequest, cgroup: memlimit.RunCgroup | None = None) -> _Child:
    """Start the measured child in its own session (its whole tree is then easy to kill),
    inside the run's memory cgroup when there is one."""
    scratch = Path(request.scratch)
    request_path = scratch / "request.json"
    request.write(request_path)
    log_path = scratch / "child.log"
    parent_sock, child_sock = socket.socketpair()
    env = _child_env(scratch)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.worker", str(request_path), str(child_sock.fileno())],
            pass_fds=[child_sock.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=scratch,
        )
    child_sock.close()
    if cgroup is not None:
        # Safe to move it now: it is still starting Python and has no child of its own yet
        # (the engine's processes come later, and are born inside the cgroup).
        try:
            cgroup.add(proc.pid)
        except OSError:
            proc.kill()
            proc.wait()
            parent_sock.close()
            raise
    return _Child(proc, parent_sock, log_path)


def _follow(child: _Child, sampler: probe.TreeSampler, timeout: float) -> bool:
    """Snapshot the tree at the child's timed-region edges until it exits; True on timeout."""
    deadline = time.monotonic() + timeout
    try:
        for word in _read_control(child.sock, deadline):
            if word == "start":
                sampler.mark_start()
            elif word == "end":
                sampler.mark_end()
            child.sock.sendall(b"ok\n")
        child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        return True
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): the run's own session did not get the signal.
        probe.kill_processes(probe.session_processes(child.proc.pid))
        raise
    finally:
        child.sock.close()
    return False


def _reap(child: _Child, seen: probe.ProbeResult, timed_out: bool) -> int:
    """Kill what is left of the run: its session, plus anything the probe saw of it."""
    leftovers = probe.session_processes(child.proc.pid)
    for pid, created in seen.seen:
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p not in leftovers:
                leftovers.append(p)
        except psutil.Error:
            continue
    killed = probe.kill_processes(leftovers, grace=0 if timed_out else EXIT_GRACE_S)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.proc.wait(timeout=10)
    return killed


def _collect(child: _Child, request: RunRequest, timed_out: bool, timeout: float) -> RunResult:
    """The child's own result, or what its absence means."""
    result_path = Path(request.result_path)
    if timed_out:
        return RunResult(status="timeout", error=f"timed out after {timeout:g} s")
    if result_path.is_file():
        return RunResult.read(result_path)
    code = child.proc.returncode
    if code is not None and code < 0:
        # A signal leaves no last words worth quoting (the log's tail is engine chatter).
        return RunResult(status="failed", error=f"worker killed by {_signal_name(-code)}")
    return RunResult(
        status="failed",
        error=f"worker exited with code {code} and no result: {_log_tail(child.log_path)}",
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class _Limit:
    """How one run's memory is limited and watched for OOM kills."""

    limit: int | None
    cgroup: memlimit.RunCgroup | None
    #: The kernel's OOM-kill count around this process before the run (None: not readable).
    oom_before: int | None

    @classmethod
    def make(cls, limit: int | None, name: str) -> _Limit:
        cgroup = memlimit.RunCgroup.create(name, limit) if limit is not None else None
        return cls(limit, cgroup, memlimit.oom_kill_count())

    @property
    def probe_limit(self) -> int | None:
        """The limit the probe enforces: only where no cgroup does."""
        return self.limit if self.cgroup is None else None

    def explain(self, fields: dict[str, Any], seen: probe.ProbeResult) -> None:
        """Record the limit, and say "killed by the OOM killer" when the kernel (or the probe,
        enforcing the limit) says the run died of memory."""
        metrics = fields.setdefault("metrics", {})
        if self.limit is not None:
            fields["memory_limit_bytes"] = self.limit
            metrics["memory_limit_by"] = self.cgroup.version if self.cgroup else "probe"
        limit = memlimit.fmt_size(self.limit or 0)
        if self.cgroup is not None:
            kills, where = self.cgroup.oom_kills(), f"the run's {limit} limit"
        else:
            after = memlimit.oom_kill_count()
            kills = (after or 0) - self.oom_before if self.oom_before is not None else 0
            where = "this machine's memory"
        if seen.limit_killed_at is not None:
            reason = (
                f"killed by bdbench at {seen.limit_killed_at / 2**20:.0f} MiB RSS, over the "
                f"run's {limit} limit"
            )
        elif kills > 0:
            metrics["oom_kills"] = kills
            reason = f"killed by the OOM killer ({kills} process(es), over {where})"
        else:
            return
        if fields.get("status") != "ok":
            fields["status"] = "failed"
            fields["error"] = f"{reason}; then: {fields.get('error')}"


def merge(
    result: RunResult, seen: probe.ProbeResult, killed: int, cluster: bool = False
) -> dict[str, Any]:
    """The record fields of one run: the child's figures with the probe's whole-tree ones."""
    metrics = dict(result.metrics)
    fields: dict[str, Any] = {
        "status": result.status,
        "error": result.error,
        "wall_s": result.wall_s,
        "startup_s": result.startup_s,
        "answer_digest": result.answer_digest,
        "check": result.check,
        "check_detail": result.check_detail,
        "engine_info": result.engine_info,
        "stop_error": result.stop_error,
        "metrics": metrics,
    }
    if seen.samples and result.wall_s is not None:
        rusage = result.cpu_s_rusage or 0.0
        # Sampling misses short-lived processes; rusage misses unreaped ones: take the larger.
        fields["cpu_s"] = max(seen.cpu_s, rusage)
        fields["peak_rss_bytes"] = max(seen.peak_rss_bytes, result.max_rss_single or 0)
        metrics.update(cpu_s_sampled=seen.cpu_s, cpu_s_rusage=rusage, peak_procs=seen.max_procs)
        if cluster:
            # The figures cover the run's tree plus the cluster's executors/tasks on this
            # machine; daemons (master, worker, NodeManager...) are not counted.
            metrics["cluster_procs"] = seen.max_cluster_procs
    metrics.update(probe_samples=seen.samples, probe_cpu_s=seen.probe_cpu_s)
    if seen.system_start is not None and seen.system_end is not None:
        # What else ran beside the timed region (a busy machine skews every figure).
        run_cpu = fields.get("cpu_s") or 0.0
        metrics.update(load.window_figures(seen.system_start, seen.system_end, run_cpu))
        metrics["load1"] = seen.load1
    if result.status == "timeout":
        fields["error"] = f"{result.error}; killed {killed} processes of the run"
    elif killed:
        metrics["leftover_processes_killed"] = killed
    if result.status != "ok" and result.traceback:
        metrics["traceback"] = result.traceback
    return fields


def measure(
    request: RunRequest,
    config: RunConfig,
    cluster_roots: list[int] | None = None,
) -> dict[str, Any]:
    """Run one request in a fresh child process under the probe (and the memory limit);
    return the record fields. ``cluster_roots``: daemons whose new children count too
    (``Engine.cluster_roots``)."""
    limit = _Limit.make(config.memory_limit, memlimit.PREFIX + Path(request.scratch).name)
    try:
        child = _spawn(request, limit.cgroup)
        sampler = probe.TreeSampler(
            child.proc.pid,
            interval=config.sample_interval,
            budget=config.probe_budget,
            cluster_roots=cluster_roots or (),
            memory_limit=limit.probe_limit,
        )
        sampler.start()
        try:
            timed_out = _follow(child, sampler, config.timeout)
        finally:
            sampler.stop()
        seen = sampler.result()
        killed = _reap(child, seen, timed_out)
        result = _collect(child, request, timed_out, config.timeout)
        fields = merge(result, seen, killed, cluster=bool(cluster_roots))
        limit.explain(fields, seen)
    finally:
        if limit.cgroup is not None:
            limit.cgroup.remove()
    return fields


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) if text else "(empty log)"


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


class _Batch:
    """One batch in progress: its settings, where records go, and its scratch root."""

    def __init__(
        self,
        config: RunConfig,
        writer: ResultsWriter,
        on_record: Callable[[RunRecord], None] | None,
        on_start: Callable[[str], None] | None,
        scratch_root: Path,
    ) -> None:
        self.config, self.writer = config, writer
        self.on_record, self.on_start = on_record, on_start
        self.records: list[RunRecord] = []
        #: Parent of every run's scratch folder; ``run_batch`` removes it whatever happens.
        self.scratch_root = scratch_root

    def emit(self, record: RunRecord) -> None:
        """Append a record as soon as it exists."""
        self.writer.append(record)
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    def announce(self, text: str) -> None:
        """Tell the progress display what runs now."""
        if self.on_start is not None:
            self.on_start(text)

    def record(self, cell: Cell, keys: dict[str, Any], **fields: Any) -> RunRecord:
        """A record of ``cell`` with the data's keys and the given fields."""
        return RunRecord(
            batch_id=self.writer.batch_id, **dataclasses.asdict(cell), **keys, **fields
        )


def run_batch(
    cells: list[Cell],
    config: RunConfig,
    writer: ResultsWriter,
    on_record: Callable[[RunRecord], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[RunRecord]:
    """Measure every cell at every scale; append each record as soon as it exists."""
    scratch_root = Path(tempfile.mkdtemp(prefix="bdbench-"))
    batch = _Batch(config, writer, on_record, on_start, scratch_root)
    try:
        for scale in config.scales:
            for workload_name, params in _workload_points(cells, config.params):
                its_cells = [c for c in cells if c.workload == workload_name]
                _run_point(batch, its_cells, scale, params)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    return batch.records


def _run_point(batch: _Batch, cells: list[Cell], scale: str, params: dict[str, Any]) -> None:
    """Prepare one workload's data at one scale and parameter point, then run its cells."""
    config = batch.config
    workload = registry.get_workload(cells[0].workload)
    keys: dict[str, Any] = {
        "scale": "input" if config.input_path is not None else scale,
        "factor": config.factor,
        "seed": config.seed,
        "params": params,
        "workload_version": workload.version,
    }
    cells = [c for c in cells if _plan(config, c, keys)]
    if not cells:  # a resumed batch that has every run of this point
        return
    try:
        data, prepared = _prepare(workload, scale, params, config)
    except UserError:
        raise
    except Exception as exc:  # a broken generator fails its cells, not the batch
        error = f"data preparation failed: {type(exc).__name__}: {exc}"
        for cell in cells:
            batch.emit(
                batch.record(cell, keys, repeat=0, is_warmup=False, status="failed", error=error)
            )
        return
    keys.update(
        factor=data.factor,
        seed=data.seed,
        input={
            "bytes": data.input_bytes,
            "files": [str(p) for p in data.inputs],
            "source": data.meta.get("source"),
        },
    )
    for cell in cells:
        _run_cell(batch, cell, data, prepared, keys)


def _prepare_cell(cell: Cell, options: EngineOptions) -> tuple[str | None, list[int], str]:
    """Why ``cell`` cannot run here (None when it can), after its engine prepared what its
    runs share; the cluster daemons whose new children work for its runs; where it runs."""
    cls = get_engine_class(cell.engine)
    engine = cls(options.of(cls))
    reason = engine.unavailable(cell.variant, cell.rules)
    if reason is None:
        try:
            engine.prepare(cell.variant, cell.rules)
        except EngineUnavailable as exc:
            reason = str(exc)
    roots = [] if reason else engine.cluster_roots(cell.variant)
    return reason, roots, engine.where(cell.variant)


def _plan(config: RunConfig, cell: Cell, keys: dict[str, Any]) -> list[tuple[int, bool]]:
    """The (repeat, is_warmup) runs of ``cell`` still to do: warm-ups first, then repeats,
    less those a resumed batch already has a record of."""
    plan = [(i, True) for i in range(config.warmups)] + [(i, False) for i in range(config.repeats)]
    if not config.done:
        return plan
    point = (cell.key, keys["scale"], json.dumps(keys["params"], sort_keys=True, default=str))
    if (*point, None) in config.done:  # a skipped record stands for every run of its cell
        return []
    return [run for run in plan if (*point, run) not in config.done]


def _run_cell(
    batch: _Batch,
    cell: Cell,
    data: datasets.Dataset,
    prepared: dict[str, Any],
    keys: dict[str, Any],
) -> None:
    """Every planned run of one cell (warm-ups first), or one skipped record saying why not."""
    config = batch.config
    plan = _plan(config, cell, keys)
    if not plan:
        return
    reason, roots, where = _prepare_cell(cell, config.options)
    keys = {**keys, "where": where}
    if reason is not None:
        # One record says why the cell cannot run; its repeats would only repeat it.
        batch.announce(f"{cell.name} (skipped)")
        batch.emit(
            batch.record(
                cell,
                keys,
                repeat=0,
                is_warmup=False,
                status="skipped",
                error=reason,
                timeout_s=config.timeout,
            )
        )
        return
    for repeat, warm in plan:
        kind = "warm-up" if warm else f"repeat {repeat + 1}/{config.repeats}"
        batch.announce(f"{cell.name} {data.scale} {kind}")
        record = batch.record(
            cell, keys, repeat=repeat, is_warmup=warm, status="failed", timeout_s=config.timeout
        )
        batch.emit(_run_once(batch, record, data, prepared, roots))


def _run_once(
    batch: _Batch,
    record: RunRecord,
    data: datasets.Dataset,
    prepared: dict[str, Any],
    roots: list[int],
) -> RunRecord:
    """One measured run of the record's cell in its own scratch folder; the filled record."""
    config = batch.config
    scratch = Path(tempfile.mkdtemp(prefix=f"run-{record.run_id}-", dir=batch.scratch_root))
    answers = batch.writer.answers_dir / f"{record.run_id}.json"
    request = RunRequest(
        **dataclasses.asdict(record.cell),
        params=record.params,
        dataset=data.to_json(),
        prepared=prepared,
        options=config.options.to_json(),
        scratch=str(scratch),
        result_path=str(scratch / "result.json"),
        answer_path=str(answers) if config.keep_answers else None,
    )
    try:
        fields = measure(request, config, roots)
    except Exception as exc:  # the runner itself failed: still a record, batch goes on
        fields = {"status": "failed", "error": f"runner error: {type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dataclasses.replace(record, **fields)
