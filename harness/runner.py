"""Measure every cell of a batch in worker processes, under the process-tree probe.

pyperf's model: each cell is measured by worker processes (``harness.worker``), each of which
starts its engine, makes recorded warm-up calls, then measured calls; the stopping rule
(``harness.stopping``) decides after every call whether the cell needs more, answering the
worker over its control socket. The probe (``probe.TreeSampler``) snapshots the whole tree
at the edges of every timed call. A step past its timeout has the process tree killed. A cell
that cannot run becomes a ``skipped`` record with the reason, and the batch goes on.
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from harness import datasets, faults, fits, load, memlimit, probe, registry, stopping, tools
from harness.cells import Cell, expand_cells, parse_engine_selector
from harness.contract import RunRequest, RunResult, answer_file
from harness.engines import EngineOptions, get_engine_class
from harness.errors import EngineUnavailable, UserError
from harness.faults import FaultPlan, FaultTarget, Injector
from harness.results import ResultsWriter, RunRecord
from harness.scratch import make_root, sweep_note

if TYPE_CHECKING:
    from harness.clusters.watch import ClusterWatch

__all__ = [
    "DEFAULT_WARMUPS",
    "Cell",
    "RunConfig",
    "expand_cells",
    "param_points",
    "parse_engine_selector",
    "run_batch",
]

DEFAULT_TIMEOUT = 1800.0
#: Recorded, flagged warm-up calls at the start of every worker process.
DEFAULT_WARMUPS = stopping.Policy.warmups
#: How long the runner lets a finished run's processes (e.g. a JVM) exit by themselves.
EXIT_GRACE_S = 10.0
#: How long an idle shared worker may take to stop its engine and exit.
STOP_WAIT_S = 60.0


@dataclass
class RunConfig:
    """Everything ``run_batch`` needs besides the cells."""

    scales: list[str]
    #: Size factors of every scale, run smallest first (several: a size ladder).
    factors: list[float] = field(default_factory=lambda: [1.0])
    #: Explicit sizes in each workload's own unit instead of ``factors`` (a ladder by rows).
    rows: list[int] | None = None
    #: A ladder's cap on one call: a cell is not run at a size where the cost line of its
    #: smaller sizes predicts a call longer than this (None: no cap).
    max_call: float | None = None
    seed: int = datasets.DEFAULT_SEED
    #: A fixed number of measured values per cell; None: the adaptive rule of ``adaptive``.
    repeats: int | None = None
    #: Warm-up calls per worker process (None: ``DEFAULT_WARMUPS``, or none for a cell whose
    #: calls all start cold, ``Engine.fresh_calls``); values per process (None: 3 to 10, as
    #: many as the process's start-up is worth, see ``stopping.Policy.values``).
    warmups: int | None = None
    values: int | None = None
    #: The adaptive stopping rule (its own ``warmups``/``values`` give way to the two above).
    adaptive: stopping.Policy = field(default_factory=stopping.Policy)
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
    #: A resumed batch's records (``--resume``): each cell goes on from where they left it.
    prior: list[RunRecord] = field(default_factory=list)
    #: ``--share-engines``: a started engine (e.g. a JVM) serves the next cells with the same
    #: engine settings instead of a new one each (never two processes of one cell).
    share_engines: bool = False
    #: ``--inject``: each cell runs control and fault processes in turn, one value each; in
    #: the fault ones a worker node of its cluster is lost (``harness.faults``).
    fault: FaultPlan | None = None

    @property
    def policy(self) -> stopping.Policy:
        """The stopping rule of the batch's cells (``policy_for``: a cell's own warm-ups)."""
        warmups = DEFAULT_WARMUPS if self.warmups is None else self.warmups
        if self.repeats is not None:
            return stopping.Policy.fixed_count(self.repeats, warmups, self.values)
        per = {"values": self.values, "values_max": self.values} if self.values else {}
        return dataclasses.replace(self.adaptive, warmups=warmups, **per)

    def policy_for(self, cell: Cell) -> stopping.Policy:
        """The batch's rule, without warm-ups for a cell whose calls all start cold (unless
        ``--warmups`` was given)."""
        policy = self.policy
        if self.warmups is None and self.no_warmup_reason(cell) is not None:
            return dataclasses.replace(policy, warmups=0)
        return policy

    def no_warmup_reason(self, cell: Cell) -> str | None:
        """Why ``cell`` takes no warm-up by default (None: it takes the batch's)."""
        return get_engine_class(cell.engine).fresh_calls(cell.variant)


@dataclass
class _Child:
    """A spawned measured child and our end of its control socket."""

    proc: subprocess.Popen[bytes]
    sock: socket.socket
    log_path: Path


def _read_control(sock: socket.socket, deadline: list[float]) -> Iterator[str]:
    """Lines from the child's control socket until EOF; TimeoutError past ``deadline[0]``
    (the caller moves it on as the child makes progress)."""
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode()
        remaining = deadline[0] - time.monotonic()
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
    # The child runs in its scratch folder: the caches ("./.bdbench" by default) must mean the
    # runner's, or each child rebuilt the rules jar (2.4 s of every rules cell's start-up).
    env[tools.CACHE_ENV] = str(tools.cache_root())
    env[datasets.DATA_DIR_ENV] = str(datasets.default_data_dir().resolve())
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


#: What ``_follow`` saw end: the child exited, timed out, or is idle (a shared engine).
EXITED, TIMED_OUT, IDLE = "exited", "timed out", "idle"


def _follow(
    child: _Child,
    sampler: probe.TreeSampler,
    timeout: float,
    on_next: Callable[[], str],
    listen: Callable[[str], None] | None = None,
) -> str:
    """Snapshot the tree at the edges of each of the child's timed regions and answer its
    "next" with ``on_next()``, until it exits, times out or says "idle" (then it waits for
    "cell PATH" or "exit" on its socket, which stays open). Each step (the start-up, a call,
    judging it, the stop) gets ``timeout`` seconds of its own."""
    deadline = [time.monotonic() + timeout]
    idle = False
    try:
        for word in _read_control(child.sock, deadline):
            if word == "idle":
                idle = True
                return IDLE
            if listen is not None:
                listen(word)  # before the answer: the worker waits (a fault lands in between)
            if word == "start":
                sampler.mark_start()
                reply = "ok"
            elif word == "end":
                sampler.mark_end()
                reply = "ok"
            elif word == "next":
                reply = on_next()
            else:
                reply = "ok"
            deadline[0] = time.monotonic() + timeout
            child.sock.sendall(reply.encode() + b"\n")
        child.proc.wait(timeout=max(0.0, deadline[0] - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        return TIMED_OUT
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): the run's own session did not get the signal.
        probe.kill_processes(probe.session_processes(child.proc.pid))
        raise
    finally:
        if not idle:
            child.sock.close()
    return EXITED


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


def _no_result(child: _Child, request: RunRequest, timed_out: bool, timeout: float) -> RunResult:
    """What the absence of a call's result (or of the start-up's) means."""
    if timed_out:
        return RunResult(status="timeout", error=f"timed out after {timeout:g} s")
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


class _Watchdog:
    """Looks at the cluster a run needs about once a second while it is in flight; on a lost
    daemon it kills the run's process tree at once (the run then fails with the reason)
    instead of letting it wait for a cluster that cannot finish it."""

    def __init__(
        self, watch: ClusterWatch, child: _Child, hold: Callable[[str], float] | None = None
    ) -> None:
        self.watch, self.child = watch, child
        #: Seconds to let the run go on after losing a role (a loss bdbench injected: the
        #: engine gets the time to say what it makes of it); 0: kill at once.
        self.hold = hold
        #: YARN's clock is the wall clock: applications submitted from now on are the run's.
        self.since_ms = int(time.time() * 1000) - 1000
        self.found: tuple[str, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bdbench-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        from harness.clusters.watch import INTERVAL_S

        while not self._stop.wait(INTERVAL_S):
            try:
                found = self.watch.lost(during=True)
            except Exception:  # a look that fails is no verdict; the next one may be
                continue
            if found is not None and self.child.proc.poll() is None:
                self.found = found
                wait = self.hold(found[0]) if self.hold is not None else 0.0
                if wait > 0 and self._stop.wait(wait):
                    return  # the run ended by itself meanwhile
                probe.kill_processes(probe.session_processes(self.child.proc.pid))
                return

    def stop(self) -> tuple[str, str] | None:
        """Stop looking; the loss found, if any."""
        self._stop.set()
        self._thread.join()
        return self.found

    def kill_applications(self) -> list[str]:
        """Kill the YARN applications submitted during the run that have not finished."""
        return self.watch.kill_applications(self.since_ms)


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
    if seen.region_s is not None:
        # What else ran beside the timed region (a busy machine skews every figure), judged
        # over a window long enough for the kernel's tick-counted CPU figures.
        if seen.judged is not None:
            metrics.update(load.window_figures(seen.judged, fields.get("cpu_s") or 0.0))
        else:
            metrics["busy_too_short"] = True
        metrics["load1"] = seen.load1
    if seen.daemon_cpu_s is not None:
        metrics["cluster_daemon_cpu_s"] = seen.daemon_cpu_s
    if result.status == "timeout":
        fields["error"] = f"{result.error}; killed {killed} processes of the run"
    elif killed:
        metrics["leftover_processes_killed"] = killed
    if result.status != "ok" and result.traceback:
        metrics["traceback"] = result.traceback
    return fields


def _log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


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
    workload: registry.Workload,
    scale: str,
    factor: float,
    params: dict[str, Any],
    config: RunConfig,
) -> tuple[datasets.Dataset, dict[str, Any]]:
    """Generate (or locate) the input, its reference answer and the workload's preparation
    (e.g. a UDF profile), before any timed run."""
    if config.input_path is not None:
        data = datasets.user_input(workload, config.input_path, config.data_dir, config.side_inputs)
    else:
        data = datasets.generated(workload, scale, factor, config.seed, config.data_dir)
    datasets.reference_answer(workload, data, params)
    return data, datasets.prepared(workload, data, params)


#: Started engines kept for later cells at most (``--share-engines``): one per rules mode.
MAX_PARKED = 3


@dataclass
class _Lease:
    """A worker process that may serve several cells (``--share-engines``): its child, the
    probe following its tree, its first cell's scratch (its engine's temp files), what
    engine settings it runs and which cells it served."""

    child: _Child
    home: Path
    key: str | None
    served: list[tuple[Any, ...]] = field(default_factory=list)
    #: Processes of its tree its probes saw (a probe follows it only while it measures).
    seen: set[probe.ProcKey] = field(default_factory=set)

    def new_probe(
        self, config: RunConfig, roots: list[int], limit: int | None, idle: list[int]
    ) -> probe.TreeSampler:
        """A started probe of the child's tree (and, for a cluster cell, of the daemons of the
        local cluster: part of the system under test; and of the ``idle`` parked workers:
        bdbench's own; neither is other processes)."""
        daemons: list[int] = []
        if roots:
            from harness.clusters import local

            daemons = local.all_daemon_pids()
        sampler = probe.TreeSampler(
            self.child.proc.pid,
            interval=config.sample_interval,
            budget=config.probe_budget,
            cluster_roots=roots,
            memory_limit=limit,
            daemon_pids=daemons,
            idle_roots=idle,
        )
        sampler.start()
        return sampler

    def everything_seen(self, sampler: probe.TreeSampler) -> probe.ProbeResult:
        """The probe's result with every process the earlier probes saw."""
        result = sampler.result()
        return dataclasses.replace(result, seen=result.seen | self.seen)

    def release(self) -> str | None:
        """Tell an idle child to exit; reap its tree, remove its scratch; a note on what went
        wrong (its engine's stop failed, processes had to be killed), or None."""
        note = None
        try:
            self.child.sock.sendall(b"exit\n")
            self.child.proc.wait(timeout=STOP_WAIT_S)
        except (OSError, subprocess.TimeoutExpired):
            note = "its engine did not stop in time"
        finally:
            self.child.sock.close()
        killed = _reap(self.child, probe.ProbeResult(0, 0.0, 0, 0, 0.0, seen=self.seen), False)
        failed = [
            line
            for line in _log_lines(self.child.log_path)
            if "stopping the shared engine failed" in line
        ]
        shutil.rmtree(self.home, ignore_errors=True)
        if failed:
            note = failed[-1].strip()
        if killed:
            note = f"{note + '; ' if note else ''}{killed} leftover process(es) killed"
        return note


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
        #: Idle worker processes whose engine may serve a later cell, by ``share_key``.
        self.parked: dict[str, _Lease] = {}
        #: Cluster roles lost during this batch (``ClusterWatch``) -> the reason: later cells
        #: that need one are skipped with it.
        self.cluster_lost: dict[str, str] = {}
        #: What the runner restarted after a cell's fault process, told on its next record.
        self.restored: dict[Cell, dict[str, Any]] = {}

    def cluster_loss(self, watch: ClusterWatch) -> str | None:
        """Why a cell that needs ``watch``'s daemons cannot run: one of them was lost earlier
        in the batch, or is found gone now (None: all there)."""
        for role in sorted(watch.roles()):
            if role in self.cluster_lost:
                return self.cluster_lost[role]
        found = watch.lost(during=False)
        if found is None:
            return None
        self.cluster_lost.setdefault(found[0], found[1])
        return found[1]

    def idle(self) -> list[int]:
        """The parked workers' pids."""
        return [lease.child.proc.pid for lease in self.parked.values()]

    def take(self, key: str | None, cell: tuple[Any, ...]) -> _Lease | None:
        """An idle worker whose engine can serve ``cell``: same settings, and never one that
        served the cell before (a cell's processes stay apart)."""
        lease = self.parked.get(key) if key is not None else None
        if lease is None or cell in lease.served:
            return None
        return self.parked.pop(key)  # type: ignore[arg-type]

    def park(self, lease: _Lease) -> None:
        """Keep an idle worker for later cells (the oldest exits when too many are kept)."""
        assert lease.key is not None
        old = self.parked.pop(lease.key, None)
        if old is not None:
            self._release(old)
        self.parked[lease.key] = lease
        while len(self.parked) > MAX_PARKED:
            self._release(self.parked.pop(next(iter(self.parked))))

    def release_all(self) -> None:
        """Every idle worker exits (at the batch's end, or when it is interrupted)."""
        while self.parked:
            self._release(self.parked.pop(next(iter(self.parked))))

    def _release(self, lease: _Lease) -> None:
        note = lease.release()
        if note is not None:
            cells = ", ".join(" ".join(map(str, c[:3])) for c in lease.served)
            print(f"bdbench: note: a shared engine (cells {cells}): {note}", file=sys.stderr)

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
    note = sweep_note()
    if note is not None:
        print(f"bdbench: note: {note}", file=sys.stderr)
    scratch_root = make_root()
    batch = _Batch(config, writer, on_record, on_start, scratch_root)
    # A mark before the first worker (unless the CLI made one): its first short calls can
    # then be judged over enough time.
    probe.HISTORY.begin()
    try:
        for scale in config.scales:
            for step in range(len(config.rows or config.factors)):
                for workload_name, params in _workload_points(cells, config.params):
                    its_cells = [c for c in cells if c.workload == workload_name]
                    factor = _factors(config, workload_name, scale)[step]
                    _run_point(batch, its_cells, scale, factor, params)
    finally:
        try:
            batch.release_all()
        finally:
            shutil.rmtree(scratch_root, ignore_errors=True)
    return batch.records


def _factors(config: RunConfig, workload: str, scale: str) -> list[float]:
    """The batch's size factors for one workload at one scale, smallest first (explicit
    ``rows`` become each workload's own factors of the scale's size)."""
    if config.rows is None or config.input_path is not None:
        return sorted(config.factors) if config.input_path is None else [1.0]
    size = registry.get_workload(workload).scale_sizes[scale]
    return [n / size for n in sorted(config.rows)]


def _run_point(
    batch: _Batch, cells: list[Cell], scale: str, factor: float, params: dict[str, Any]
) -> None:
    """Prepare one workload's data at one size and parameter point, then run its cells."""
    config = batch.config
    workload = registry.get_workload(cells[0].workload)
    generated = config.input_path is None
    keys: dict[str, Any] = {
        "scale": scale if generated else "input",
        "factor": factor,
        "rows": datasets.scale_size(workload, scale, factor) if generated else None,
        "seed": config.seed,
        "params": params,
        "workload_version": workload.version,
    }
    cells = [c for c in cells if _unfinished(config, c, keys)]
    if not cells:  # a resumed batch that finished every cell of this point
        return
    ladder = {c: why for c in cells if (why := _ladder_skip(batch, c, keys)) is not None}
    for cell, why in ladder.items():
        batch.announce(f"{cell.name} (skipped)")
        fields = {"repeat": 0, "is_warmup": False, "status": "skipped", "error": why}
        batch.emit(batch.record(cell, {**keys, **_placement(cell, config)}, **fields))
    cells = [c for c in cells if c not in ladder]
    if not cells:  # no data to make for cells that will not run
        return
    try:
        data, prepared = _prepare(workload, scale, factor, params, config)
    except UserError:
        raise
    except Exception as exc:  # a broken generator fails its cells, not the batch
        error = f"data preparation failed: {type(exc).__name__}: {exc}"
        for cell in cells:
            placed = {**keys, **_placement(cell, config)}
            batch.emit(
                batch.record(cell, placed, repeat=0, is_warmup=False, status="failed", error=error)
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


def _placement(cell: Cell, config: RunConfig) -> dict[str, Any]:
    """Where the cell's runs execute and what its engine variant is, as its runs would say."""
    cls = get_engine_class(cell.engine)
    engine = cls(config.options.of(cls))
    return {"where": engine.where(cell.variant), "role": engine.role(cell.variant).to_json()}


@dataclass
class _Prepared:
    """A cell's engine, prepared: why it cannot run (None when it can), the cluster daemons
    whose new children work for its runs, where it runs, and what a started engine that
    serves it must have (``Engine.share_key``; None: a worker of its own)."""

    reason: str | None
    roots: list[int]
    where: str
    #: ``Role.to_json()`` of the cell's engine variant.
    role: dict[str, Any]
    share_key: str | None
    #: The cluster daemons its runs need, watched while one is in flight (None: no cluster).
    watch: ClusterWatch | None = None


def _prepare_cell(cell: Cell, config: RunConfig, data: datasets.Dataset) -> _Prepared:
    """Let the cell's engine prepare what its runs share; say where and how they run."""
    cls = get_engine_class(cell.engine)
    engine = cls(config.options.of(cls))
    reason = engine.unavailable(cell.variant, cell.rules)
    if reason is None:
        try:
            engine.prepare(cell.variant, cell.rules)
        except EngineUnavailable as exc:
            reason = str(exc)
    roots = [] if reason else engine.cluster_roots(cell.variant)
    key = None
    if config.share_engines and config.memory_limit is None and reason is None:
        # A memory limit is per worker process: its cgroup cannot follow a shared one.
        key = engine.share_key(cell.variant, cell.rules, data)
    watch = engine.cluster_watch(cell.variant) if reason is None else None
    role = engine.role(cell.variant).to_json()
    return _Prepared(reason, roots, engine.where(cell.variant), role, key, watch)


def _run_cell(
    batch: _Batch,
    cell: Cell,
    data: datasets.Dataset,
    prepared: dict[str, Any],
    keys: dict[str, Any],
) -> None:
    """Measure one cell: worker processes until the stopping rule says it is done
    (``harness.stopping``), or one skipped record saying why it cannot run."""
    config = batch.config
    if config.fault is not None:
        _run_fault_cell(batch, cell, data, prepared, keys)
        return
    progress = _progress(config, cell, keys)
    if progress is None:
        return
    prepared_cell = _prepare_cell(cell, config, data)
    reason, roots = prepared_cell.reason, prepared_cell.roots
    keys = {**keys, "where": prepared_cell.where, "role": prepared_cell.role}
    if reason is None and prepared_cell.watch is not None:
        reason = batch.cluster_loss(prepared_cell.watch)
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
    began = time.monotonic() - progress.elapsed
    while not progress.done:
        progress.processes += 1
        progress.calls_in_process = 0
        progress.process_calls_s = progress.process_startup_s = 0.0
        process = _Process(batch, cell, keys, progress, began, prepared_cell.watch)
        process.run(data, prepared, roots, prepared_cell.share_key)


@dataclass
class _FaultRun:
    """What a process of a cell under a fault plan is: a control or a fault process, the
    target its fault acts on, and the cell's control values so far (for the slowdown)."""

    plan: FaultPlan
    role: str
    target: FaultTarget
    #: ``wall_s``, ``iteration_s`` and ``recovery`` of each ok control value of the cell.
    controls: list[dict[str, Any]]
    #: The nodes the runner restarted before this process (after the previous fault).
    restored: dict[str, Any] | None = None
    injector: Injector | None = None


def _run_fault_cell(
    batch: _Batch,
    cell: Cell,
    data: datasets.Dataset,
    prepared: dict[str, Any],
    keys: dict[str, Any],
) -> None:
    """Measure a cell under the batch's fault plan: control and fault processes in turn, one
    value each after their warm-ups, until each role has ``repeats`` values (or fails); the
    node a fault killed is brought back (untimed) before the next process."""
    from harness.clusters import local

    config = batch.config
    assert config.fault is not None
    sides = {role: _progress(config, cell, keys, role) for role in FAULT_ROLES}
    params = json.dumps(keys["params"], sort_keys=True, default=str)
    point = (cell.key, keys["scale"], keys["factor"], params)
    prior = [r for r in config.prior if _point(r) == point]
    controls = [
        _control_figures(r.wall_s, r.metrics)
        for r in prior
        if _fault_role(r) == "control" and not r.is_warmup and r.status == "ok"
    ]
    processes = max((r.process + 1 for r in prior), default=0)
    began = time.monotonic()
    while True:
        pending = [r for r in FAULT_ROLES if (p := sides[r]) is not None and not p.done]
        if not pending:
            return
        for role in pending:
            progress = sides[role]
            assert progress is not None
            prepared_cell = _prepare_cell(cell, config, data)
            placed = {**keys, "where": prepared_cell.where, "role": prepared_cell.role}
            reason, target = prepared_cell.reason, None
            if reason is None:
                cls = get_engine_class(cell.engine)
                engine = cls(config.options.of(cls))
                target = engine.fault_target(cell.variant, local.read_state() or {})
                if target is None:
                    reason = (
                        f"{cell.engine}/{cell.variant} runs on no worker node of the local cluster"
                    )
            if reason is None and prepared_cell.watch is not None:
                reason = batch.cluster_loss(prepared_cell.watch)
            if reason is not None or target is None:
                batch.announce(f"{cell.name} (skipped)")
                batch.emit(
                    batch.record(
                        cell, placed, repeat=0, is_warmup=False, status="skipped",
                        error=reason, timeout_s=config.timeout,
                        fault={**config.fault.to_json(), "role": role},
                    )
                )  # fmt: skip
                return
            processes += 1
            progress.processes = processes
            progress.calls_in_process = 0
            progress.process_calls_s = progress.process_startup_s = 0.0
            fault = _FaultRun(config.fault, role, target, controls, batch.restored.pop(cell, None))
            process = _Process(batch, cell, placed, progress, began, prepared_cell.watch, fault)
            process.run(data, prepared, prepared_cell.roots, None)


def _control_figures(wall_s: float | None, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a fault run's slowdown is read against, from one ok control value."""
    return {
        "wall_s": wall_s,
        "iteration_s": metrics.get("iteration_s"),
        "recovery": metrics.get("recovery"),
    }


def _ladder_skip(batch: _Batch, cell: Cell, keys: dict[str, Any]) -> str | None:
    """Why a size ladder does not run ``cell`` at this size (None: it runs): it ran out of
    memory or timed out at a smaller size of this batch, or, with ``max_call``, the cost line
    of its smaller sizes predicts a call longer than that (one size: proportional to rows,
    an upper bound for a cost with a fixed part)."""
    rows = keys.get("rows")
    if rows is None:
        return None
    params = json.dumps(keys["params"], sort_keys=True, default=str)
    smaller = [
        r
        for r in [*batch.config.prior, *batch.records]
        if r.cell.key == cell.key
        and r.scale == keys["scale"]
        and r.rows is not None
        and r.rows < rows
        and json.dumps(r.params, sort_keys=True, default=str) == params
    ]
    for record in sorted(smaller, key=lambda r: r.rows or 0):
        limit = record.memory_limit_bytes
        under = f" under {memlimit.fmt_size(limit)}" if limit else ""
        if memlimit.out_of_memory(record.error):
            return (
                f"out of memory at {record.rows:,} rows{under} (a smaller size of this "
                "ladder); larger sizes not run"
            )
        if record.status == "timeout":
            return f"timed out at {record.rows:,} rows (a smaller size); larger sizes not run"
    if batch.config.max_call is None:
        return None
    by_size: dict[int, list[float]] = {}
    for record in smaller:
        if record.status == "ok" and record.wall_s is not None:
            by_size.setdefault(int(record.rows or 0), []).append(record.wall_s)
    if not by_size:
        return None
    sizes = sorted(by_size)
    medians = [statistics.median(by_size[n]) for n in sizes]
    line = fits.fit_line(sizes, medians) if len(sizes) >= 2 else None
    predicted = line.predict(rows) if line is not None else medians[-1] * rows / sizes[-1]
    if predicted <= batch.config.max_call:
        return None
    how = f"the cost line of its {len(sizes)} smaller sizes" if line else "its smaller size"
    return (
        f"predicted {predicted:,.0f} s a call at {rows:,} rows from {how}, over --max-call "
        f"{batch.config.max_call:g} s"
    )


#: How long a run that lost its only worker to a fault plan goes on before it is failed: the
#: engine logs its own account of the loss as it notices it (on one host at once: a killed
#: executor's connection closes), and gets these seconds to do so.
UNRECOVERABLE_HOLD_S = 5.0


def _last_complaint(log: Path) -> str | None:
    """The last warning or error line of a worker's log (an engine's own account), cut."""
    for line in reversed(_log_lines(log)):
        if " WARN " in line or " ERROR " in line:
            return line.strip()[:300]
    return None


#: The processes of a cell under a fault plan: the same cell without the fault, and with it.
FAULT_ROLES = ("control", "fault")


def _unfinished(config: RunConfig, cell: Cell, keys: dict[str, Any]) -> bool:
    """Whether the cell still has runs to make (a resumed batch may have finished it)."""
    if config.fault is None:
        return _progress(config, cell, keys) is not None
    return any(_progress(config, cell, keys, role) is not None for role in FAULT_ROLES)


def _fault_role(record: RunRecord) -> str | None:
    return (record.fault or {}).get("role")


def _progress(
    config: RunConfig, cell: Cell, keys: dict[str, Any], role: str | None = None
) -> stopping.CellProgress | None:
    """Where the cell starts: from nothing, or from a resumed batch's records of it (None when
    those records finished it: its last one says why it stopped, or it was skipped); under a
    fault plan, those of its ``role`` processes."""
    point = (
        cell.key,
        keys["scale"],
        keys["factor"],
        json.dumps(keys["params"], sort_keys=True, default=str),
    )
    prior = [r for r in config.prior if _point(r) == point]
    if role is not None:
        prior = [r for r in prior if r.status == "skipped" or _fault_role(r) == role]
    progress = stopping.CellProgress(values=[])
    for record in prior:
        if record.status == "skipped" or "stop" in record.metrics:
            return None
        progress.processes = max(progress.processes, record.process + 1)
        if record.is_warmup:
            progress.warmups += 1
        else:
            progress.measured += 1
            if record.status == "ok" and record.wall_s is not None:
                progress.values.append(record.wall_s)
        progress.failed = progress.failed or record.status != "ok"
    return progress


def _point(record: RunRecord) -> tuple[Any, ...]:
    return (
        record.cell.key,
        record.scale,
        record.factor,
        json.dumps(record.params, sort_keys=True, default=str),
    )


class _Process:
    """One worker process of a cell: it starts its engine, makes the calls the stopping rule
    asks for (answered over the control socket after each call), and stops. Each call becomes
    a record as soon as the next one is asked for; the last waits for the process's end (it
    carries the engine's stop error, if any)."""

    def __init__(
        self,
        batch: _Batch,
        cell: Cell,
        keys: dict[str, Any],
        progress: stopping.CellProgress,
        began: float,
        watch: ClusterWatch | None = None,
        fault: _FaultRun | None = None,
    ) -> None:
        self.batch, self.cell, self.keys = batch, cell, keys
        self.watch = watch
        #: Under a fault plan: what this process is (control or fault) and its injector.
        self.fault = fault
        #: The cluster daemon lost while this process ran: (role, reason).
        self.lost: tuple[str, str] | None = None
        self.progress, self.began = progress, began
        self.config = batch.config
        self.policy = batch.config.policy_for(cell)
        #: The kind (warmup or value) of every call asked for, in order.
        self.kinds: list[str] = []
        #: Calls made into records so far.
        self.recorded = 0
        self.held: RunRecord | None = None
        self.killed = 0
        self.cluster = False
        #: The worker measuring this process of the cell (maybe one that served others).
        self.lease: _Lease | None = None
        self.parked = False

    def run(
        self,
        data: datasets.Dataset,
        prepared: dict[str, Any],
        roots: list[int],
        share_key: str | None = None,
    ) -> None:
        """Spawn the worker (or take an idle one whose engine can serve the cell), follow it,
        record every call it made (or the failure)."""
        config = self.config
        scratch = Path(tempfile.mkdtemp(prefix="proc-", dir=self.batch.scratch_root))
        self.lease = self.batch.take(share_key, self._cell_point())
        self.answers = self.batch.writer.answers_dir / f"{scratch.name}.json"
        request = RunRequest(
            **dataclasses.asdict(self.cell),
            params=self.keys["params"],
            dataset=data.to_json(),
            prepared=prepared,
            options=config.options.to_json(),
            scratch=str(scratch),
            result_path=str(scratch / "results.json"),
            answer_path=str(self.answers) if config.keep_answers else None,
            share=share_key is not None,
            memory_limit=config.memory_limit,
            progress=self.fault is not None,
        )
        self.request, self.cluster = request, bool(roots)
        shared = " (shared engine)" if self.lease is not None else ""
        self.batch.announce(
            f"{self.cell.name} {data.scale} process {self.progress.processes}{shared}"
        )
        try:
            self._measure(request, roots, share_key)
        except Exception as exc:  # the runner itself failed: still a record, batch goes on
            self._finish_failed(f"runner error: {type(exc).__name__}: {exc}")
            if self.lease is not None and not self.parked and self.lease.child.proc.poll() is None:
                self.lease.release()  # a worker left waiting for its next word would linger
        except BaseException:
            # Interrupted: the call already measured is kept (the batch can be resumed).
            self._emit_held()
            raise
        finally:
            # A parked worker's first scratch holds its engine's temp files: it goes when the
            # worker does (``_Lease.release``).
            if not (self.parked and self.lease is not None and self.lease.home == scratch):
                shutil.rmtree(scratch, ignore_errors=True)

    def _cell_point(self) -> tuple[Any, ...]:
        return (*self.cell.key, json.dumps(self.keys["params"], sort_keys=True, default=str))

    def _measure(self, request: RunRequest, roots: list[int], share_key: str | None) -> None:
        config = self.config
        name = memlimit.run_cgroup_name(Path(request.scratch).name)
        limit = _Limit.make(config.memory_limit, name)
        self.limit = limit
        lease = self.lease
        try:
            if lease is None:
                child = _spawn(request, limit.cgroup)
                lease = self.lease = _Lease(child, Path(request.scratch), share_key)
                sampler = lease.new_probe(config, roots, limit.probe_limit, self.batch.idle())
            else:
                # The idle worker waits for its next cell; a new probe follows it meanwhile.
                sampler = lease.new_probe(config, roots, limit.probe_limit, self.batch.idle())
                path = Path(request.scratch) / "request.json"
                request.write(path)
                lease.child.sock.sendall(f"cell {path}\n".encode())
            child = lease.child
            self.sampler = sampler
            state = TIMED_OUT
            injector = self._injector()
            listen = injector.hear if injector is not None else None
            hold = self._hold if injector is not None else None
            dog = _Watchdog(self.watch, child, hold) if self.watch is not None else None
            try:
                state = _follow(child, sampler, config.timeout, self._next, listen)
            finally:
                sampler.stop()
                if dog is not None:
                    self.lost = dog.stop()
                if injector is not None:
                    injector.close()
            if dog is not None and (self.lost is not None or state == TIMED_OUT):
                # Applications it submitted would wait for ever on a lost node (ACCEPTED).
                dog.kill_applications()
            if self.lost is not None and self._injected_loss():
                self.lost = (self.lost[0], self._unrecoverable(self.lost[1], child))
            elif self.lost is not None:
                self.batch.cluster_lost.setdefault(self.lost[0], self.lost[1])
            if state == IDLE:
                self._finish(child, False)
                lease.served.append(self._cell_point())
                lease.seen |= sampler.result().seen
                self.parked = True
                self.batch.park(lease)
                return
            # A lost cluster's leftovers (containers of a dead NodeManager) get no grace either.
            hurry = state == TIMED_OUT or self.lost is not None
            self.killed = _reap(child, lease.everything_seen(sampler), hurry)
            if injector is not None:
                self._restore(injector)
            self._finish(child, state == TIMED_OUT)
            if lease.home != Path(request.scratch):
                shutil.rmtree(lease.home, ignore_errors=True)
        finally:
            if limit.cgroup is not None:
                limit.cgroup.remove()

    def _injector(self) -> Injector | None:
        """A fault process's injector, armed for its first measured call (after the warm-ups)."""
        if self.fault is None or self.fault.role != "fault":
            return None
        self.fault.injector = Injector(self.fault.plan, self.fault.target, self.policy.warmups + 1)
        return self.fault.injector

    def _hold(self, role: str) -> float:
        """How long the watchdog lets the run go on after losing ``role``: when the loss is the
        injected one (the only worker killed), long enough for the engine to say what it
        makes of it; other losses fail the run at once."""
        injector = self.fault.injector if self.fault is not None else None
        if injector is not None and injector.fired is not None and role == injector.target.role:
            return UNRECOVERABLE_HOLD_S
        return 0.0

    def _injected_loss(self) -> bool:
        injector = self.fault.injector if self.fault is not None else None
        return (
            injector is not None
            and injector.fired is not None
            and self.lost is not None
            and self.lost[0] == injector.target.role
        )

    def _unrecoverable(self, reason: str, child: _Child) -> str:
        """Why a run that lost its only worker failed: what bdbench killed, what the cluster
        lacks then, and the engine's own last complaint (its log's last warning or error)."""
        assert self.fault is not None and self.fault.injector is not None
        fired = self.fault.injector.fired or {}
        said = _last_complaint(child.log_path)
        return (
            f"the engine cannot recover: bdbench killed the only live {self.fault.target.name} "
            f"({fired.get('name')}, pid {fired.get('pid')}) {fired.get('at_s')} s into the "
            f"call ({self.fault.plan.label}); {reason.split('; ', 1)[-1]}"
            + (f"; the engine said: {said}" if said else "")
        )

    def _restore(self, injector: Injector) -> None:
        """Bring the killed node back (untimed, between processes); the next process of the
        cell records it. A node that does not come back loses its role for the batch."""
        from harness.clusters import nodes
        from harness.clusters.daemons import ClusterError

        name = injector.killed_node
        if name is None:
            return
        try:
            restored = nodes.restore([name])
        except ClusterError as exc:
            why = f"{name}, killed by the fault plan, did not come back: {exc}"
            self.batch.cluster_lost.setdefault(injector.target.role, why)
            restored = {"restarted": [], "error": why}
        self.batch.restored[self.cell] = restored
        # The fault run's record (held until the process's end) says so too.
        held = self.held.fault if self.held is not None else None
        if held is not None and held.get("armed"):
            held["restored_after"] = restored

    def _fault_fields(self, index: int, fields: dict[str, Any]) -> dict[str, Any] | None:
        """The record's ``fault`` for call ``index``, and the slowdown of a fault run's value
        against the controls so far (into ``fields``); a value whose fault did not happen
        fails."""
        if self.fault is None:
            return None
        fault = self.fault
        out: dict[str, Any] = {**fault.plan.to_json(), "role": fault.role}
        if fault.restored is not None:
            out["restored"] = fault.restored
        warm = self.kinds[index] == stopping.WARMUP
        metrics = fields.setdefault("metrics", {})
        if fault.role == "control":
            if not warm and fields.get("status") == "ok":
                fault.controls.append(_control_figures(fields.get("wall_s"), metrics))
            return out
        injector = fault.injector
        out["armed"] = not warm
        if warm or injector is None:
            return out
        out.update(injector.result())
        if injector.killed_node is not None and self.cell in self.batch.restored:
            # Recorded after the process ended (a failed call): the node came back already.
            out["restored_after"] = self.batch.restored[self.cell]
        lost = faults.lost_iteration(fault.plan, injector.fired, metrics.get("iteration_s") or [])
        if fields.get("status") == "ok" and not out["injected"]:
            fields["status"] = "failed"
            fields["error"] = f"fault not injected: {out['reason']}"
        if fields.get("status") == "ok":
            mine = {"wall_s": fields.get("wall_s"), "iteration_s": metrics.get("iteration_s")}
            found = faults.slowdown(mine, fault.controls, lost)
            if found:
                detail = found.pop("slowdown")
                detail["recovery_vs_control"] = faults.recovery_against(
                    metrics.get("recovery"), [c.get("recovery") for c in fault.controls]
                )
                metrics.update(found, slowdown=detail)
        return out

    def _results(self) -> list[RunResult]:
        path = Path(self.request.result_path)
        return RunResult.read_all(path) if path.is_file() else []

    def _next(self) -> str:
        """The worker asks for its next call: record the call it just made, then decide."""
        results = self._results()
        while self.recorded < min(len(results), len(self.kinds)):
            self._record(results[self.recorded])
        kind, why = self.policy.decide(self.progress)
        if kind != stopping.STOP and self.policy.process_full(self.progress):
            kind = stopping.STOP  # this process is done; the cell may go on in another
        if why is not None:
            self.progress.done = True
            if self.held is not None:
                self.held.metrics["stop"] = why
        if kind != stopping.STOP:
            self.kinds.append(kind)
            self.progress.calls_in_process += 1
        return kind

    def _record(self, result: RunResult, killed: int = 0) -> None:
        """The record of call ``self.recorded`` (``killed``: processes of the run killed after
        it); emits the one held before it."""
        index = self.recorded
        windows = self.sampler.windows
        window = windows[index] if index < len(windows) else None
        empty = probe.ProbeResult(0, 0.0, 0, 0, 0.0)
        fields = merge(result, window or empty, killed, self.cluster)
        self.limit.explain(fields, window or self.sampler.result())
        fault = self._fault_fields(index, fields)
        if fault is not None:
            fields["fault"] = fault
        warm = self.kinds[index] == stopping.WARMUP
        progress = self.progress
        record = self.batch.record(
            self.cell,
            self.keys,
            repeat=progress.warmups if warm else progress.measured,
            is_warmup=warm,
            process=progress.processes - 1,
            call=index,
            timeout_s=self.config.timeout,
            **fields,
        )
        if warm:
            progress.warmups += 1
        else:
            progress.measured += 1
            if record.status == "ok" and record.wall_s is not None:
                progress.values.append(record.wall_s)
                progress.process_calls_s += record.wall_s
        if record.status != "ok":
            progress.failed = True
        progress.process_startup_s = record.startup_s or 0.0
        progress.elapsed = time.monotonic() - self.began
        self._keep_answer(record, index)
        self._emit_held()
        self.held = record
        self.recorded += 1

    def _keep_answer(self, record: RunRecord, index: int) -> None:
        if not self.config.keep_answers:
            return
        written = answer_file(self.answers, index)
        if written.is_file():
            written.replace(self.batch.writer.answers_dir / f"{record.run_id}.json")

    def _emit_held(self) -> None:
        if self.held is not None:
            self.batch.emit(self.held)
            self.held = None

    def _finish(self, child: _Child, timed_out: bool) -> None:
        """After the worker's end: its remaining calls (a failed one; the start-up's failure;
        the call it died in) become records, and the last one is emitted."""
        results = self._results()
        if self.lost is not None:
            self._explain_loss(results)
        if len(results) > len(self.kinds):
            # The worker stopped without asking: its start-up (or its engine) failed.
            if results[-1].status == "skipped" and not self.kinds:
                self._finish_skipped(results[-1])
                return
            self.kinds += [self._first_kind()] * (len(results) - len(self.kinds))
        if len(results) < len(self.kinds) or not self.kinds:
            # The call in progress (or the start-up) left no result: say what happened.
            if not self.kinds:
                self.kinds.append(self._first_kind())
            results.append(_no_result(child, self.request, timed_out, self.config.timeout))
        while self.recorded < len(results):
            # The process's leftovers killed at its end belong to its last call.
            last = self.recorded == len(results) - 1
            self._record(results[self.recorded], self.killed if last else 0)
        if self.held is not None:
            if results and results[-1].stop_error and not self.held.stop_error:
                self.held.stop_error = results[-1].stop_error
            if self.progress.failed:
                self.progress.done = True
                self.held.metrics.setdefault("stop", "failed")
            elif (why := self.policy.decide(self.progress)[1]) is not None:
                # The cell is done; say why on its last record.
                self.progress.done = True
                self.held.metrics.setdefault("stop", why)
        self._emit_held()

    def _explain_loss(self, results: list[RunResult]) -> None:
        """A cluster daemon died under this process: the call in flight failed of that (its
        own error, if it left one, is what the loss looked like from the engine)."""
        assert self.lost is not None
        reason = self.lost[1]
        if len(results) > self.recorded and results[-1].status != "ok":
            last = results[-1]
            last.status = "failed"
            last.error = f"{reason}; then: {last.error}" if last.error else reason
        else:
            results.append(RunResult(status="failed", error=reason))
            if len(results) > len(self.kinds):
                self.kinds.append(self._first_kind())

    def _first_kind(self) -> str:
        """What the worker's first unasked call was: a warm-up unless warm-ups are off."""
        if self.progress.calls_in_process < self.policy.warmups:
            return stopping.WARMUP
        return stopping.VALUE

    def _finish_skipped(self, result: RunResult) -> None:
        self.progress.done = True
        self.batch.emit(
            self.batch.record(
                self.cell,
                self.keys,
                repeat=0,
                is_warmup=False,
                status="skipped",
                error=result.error,
                timeout_s=self.config.timeout,
            )
        )

    def _finish_failed(self, error: str) -> None:
        """The runner failed around this process: one failed record, the cell stops."""
        self._emit_held()
        self.progress.failed = self.progress.done = True
        self.batch.emit(
            self.batch.record(
                self.cell,
                self.keys,
                repeat=self.progress.measured,
                is_warmup=False,
                process=self.progress.processes - 1,
                call=self.recorded,
                status="failed",
                error=error,
                timeout_s=self.config.timeout,
                metrics={"stop": "failed"},
            )
        )
