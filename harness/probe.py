"""psutil sampler of a whole process tree: peak RSS (summed), CPU user+sys, sampling cost.

The sampler runs in the *parent* (the runner), so its own CPU never counts against the measured
tree. The measured child announces the start and end of its timed region over a socket; the
sampler takes an exact snapshot at both edges and samples adaptively in between, so that its
own cost stays under ``budget`` (default 1%) of one core. Every snapshot is also a mark
(``load.Mark``: the machine's CPU counters beside the tree's, the runner's own, its idle
workers' and the cluster daemons'), kept for a few seconds, over which ``load`` judges what
other processes used.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from harness import load

#: First sampling interval; it then grows by ``GROWTH`` up to ``max_interval``.
DEFAULT_INTERVAL = 0.05
DEFAULT_MAX_INTERVAL = 1.0
DEFAULT_BUDGET = 0.01
GROWTH = 1.5
#: Longest sampling interval while the probe enforces a memory limit.
LIMIT_MAX_INTERVAL = 0.1
#: Marks of the last this many seconds are kept (and the newest older one): any region shorter
#: than ``load.JUDGE_MIN_S`` finds the mark its widened window starts at, and memory stays bounded.
MARKS_KEEP_S = 2 * load.JUDGE_MIN_S
#: Children reaped between two probes using this much CPU (two ticks: ``git status`` while
#: the environment is captured) count as the harness's own; more, and the marks start afresh.
REAPED_SLACK_S = 0.02

ProcKey = load.ProcKey


class MarkHistory:
    """The marks of this process's probes, in time order: the last ``MARKS_KEEP_S`` seconds'
    and the newest older one. A probe goes on from the marks of the one before (the next
    worker process, the next cell), so that a worker's first short calls can be judged,
    unless this process reaped a child in between: a worker released or killed, a tool run
    while preparing a cell, whose CPU (or its orphans') no probe saw and no window can place.
    Then the marks start afresh (one probe runs at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: deque[load.Mark] = deque()
        #: This process's reaped children's CPU as the last probe stopped or the history
        #: began (None: a probe runs, or none ran).
        self._reaped: float | None = None
        #: CPU of the few children too small to matter reaped while no probe ran.
        self._gaps = 0.0

    def begin(self) -> None:
        """A first mark, unless there is one: what this process does from here until a probe
        starts (generating data, preparing cells) is the harness's own CPU."""
        with self._lock:
            if self._marks:
                return
            self._reaped = load.reaped_cpu()
            mark = load.Mark(load.SystemCpu.now(), {}, load.harness_cpu() + self._gaps)
            self._marks.append(mark)

    def resume(self) -> None:
        """A probe starts: the marks go on, unless a child reaped since the last probe stopped
        used more than ``REAPED_SLACK_S`` (that little is the harness's own)."""
        with self._lock:
            if self._reaped is None:
                return
            reaped = load.reaped_cpu() - self._reaped
            self._reaped = None
            if reaped > REAPED_SLACK_S:
                self._marks.clear()
            else:
                self._gaps += reaped

    def harness_cpu(self) -> float:
        """The harness's own CPU so far: this process's, and its children's reaped in gaps."""
        with self._lock:
            return load.harness_cpu() + self._gaps

    def add(self, mark: load.Mark) -> None:
        """Keep ``mark``, and forget what is too old to be needed."""
        with self._lock:
            self._marks.append(mark)
            horizon = mark.at - MARKS_KEEP_S
            while len(self._marks) > 1 and self._marks[1].at <= horizon:
                self._marks.popleft()

    def stopped(self) -> None:
        """A probe stopped (a worker that exited was reaped already: its CPU was its tree's)."""
        with self._lock:
            self._reaped = load.reaped_cpu()

    def marks(self) -> list[load.Mark]:
        """The kept marks, oldest first."""
        with self._lock:
            return list(self._marks)


#: The history every probe of this process shares unless given its own.
HISTORY = MarkHistory()


@dataclass
class ProbeResult:
    """What the probe saw inside the timed window."""

    peak_rss_bytes: int
    cpu_s: float
    samples: int
    max_procs: int
    probe_cpu_s: float
    seen: set[ProcKey] = field(default_factory=set)
    #: Most processes seen at once outside the run's own tree (cluster executors, tasks).
    max_cluster_procs: int = 0
    #: The tree's summed RSS when the probe killed it for passing ``memory_limit``.
    limit_killed_at: int | None = None
    #: The timed region's length as the probe saw it, and the window it is judged over for
    #: other processes' CPU (None: too short to judge; see ``load.judged_window``).
    region_s: float | None = None
    judged: load.CpuWindow | None = None
    #: CPU the cluster's daemons (and their processes the run does not count) used in the region.
    daemon_cpu_s: float | None = None
    #: The machine's 1-minute load as the region began.
    load1: float | None = None


class TreeSampler:
    """Samples RSS and CPU times of ``root_pid`` and all its descendants in a thread.

    ``cluster_roots`` are daemons of a cluster on this machine (a standalone worker, a YARN
    NodeManager): their descendants started after the sampler was made (executors, task
    containers) work for the run and count too; the daemons themselves do not.

    ``daemon_pids`` are every daemon of the cluster the run uses (started by bdbench, part of
    the system under test): their CPU, with their processes the run does not count, is
    sampled apart (``daemon_cpu_s``) and never taken for other processes'. ``idle_roots`` are
    bdbench's own idle workers (kept for later cells): their trees' CPU is not others' either.

    ``memory_limit``: kill the run's own tree when its summed RSS passes this many bytes (the
    fallback of ``--memory-limit`` where no memory cgroup can be made; see ``memlimit``).
    """

    def __init__(
        self,
        root_pid: int,
        interval: float = DEFAULT_INTERVAL,
        max_interval: float = DEFAULT_MAX_INTERVAL,
        budget: float = DEFAULT_BUDGET,
        cluster_roots: Sequence[int] = (),
        memory_limit: int | None = None,
        daemon_pids: Sequence[int] = (),
        history: MarkHistory | None = None,
        idle_roots: Sequence[int] = (),
    ) -> None:
        self.root_pid = root_pid
        self.memory_limit = memory_limit
        self.daemon_pids = list(daemon_pids)
        self.idle_roots = list(idle_roots)
        self._limit_killed_at: int | None = None
        self.history = history if history is not None else HISTORY
        self._region_start: load.Mark | None = None
        self._region_s: float | None = None
        self._judged: load.CpuWindow | None = None
        self._daemon_cpu: float | None = None
        self._load1: float | None = None
        if memory_limit is not None:
            # Enforcing needs a steady look: the tree can grow fast between samples.
            max_interval = min(max_interval, LIMIT_MAX_INTERVAL)
        self.cluster_roots = list(cluster_roots)
        # A little slack: create times are rounded to the clock tick.
        self.since = time.time() - 0.05
        self._max_cluster = 0
        self.interval = interval
        self.max_interval = max(max_interval, interval)
        self.budget = budget
        self._procs: dict[ProcKey, psutil.Process] = {}
        self._last_cpu: dict[ProcKey, float] = {}
        self._baseline: dict[ProcKey, float] = {}
        self._in_window = False
        self._window_keys: set[ProcKey] = set()
        self._peak = 0
        self._max_procs = 0
        self._samples = 0
        self._probe_cpu = 0.0
        self._all_seen: set[ProcKey] = set()
        self._window_samples = 0
        #: One result per finished timed window, in order (a worker process makes several).
        self.windows: list[ProbeResult] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bdbench-probe", daemon=True)

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _cluster_procs(self) -> list[psutil.Process]:
        found = []
        for pid in self.cluster_roots:
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                try:
                    if child.create_time() >= self.since:
                        found.append(child)
                except psutil.Error:
                    continue
        return found

    def _beside(
        self, counted: set[int], reaped: dict[ProcKey, tuple[int, float]]
    ) -> tuple[dict[ProcKey, float], dict[ProcKey, float]]:
        """CPU of the cluster's daemons and of the idle workers (with what they reaped: see
        ``load.Mark.reaped``), each with its descendants that the run does not count
        (``counted``), from one look at every process."""
        if not (self.daemon_pids or self.idle_roots):
            return {}, {}
        procs: dict[int, psutil.Process] = {}
        kids: dict[int, list[int]] = {}
        for proc in psutil.process_iter(["ppid"]):
            procs[proc.pid] = proc
            kids.setdefault(proc.info["ppid"], []).append(proc.pid)
        done = set(counted)

        def cpu_of(roots: list[int]) -> dict[ProcKey, float]:
            found: dict[ProcKey, float] = {}
            todo = [pid for pid in roots if pid in procs]
            while todo:
                pid = todo.pop()
                if pid in done:
                    continue
                done.add(pid)
                todo += kids.get(pid, [])
                try:
                    key, cpu, parent = _cpu(procs[pid])
                except psutil.Error:
                    continue
                found[key] = cpu.user + cpu.system + _reaped(cpu)
                reaped[key] = (parent, _reaped(cpu))
            return found

        return cpu_of(self.daemon_pids), cpu_of(self.idle_roots)

    def _snapshot(self) -> load.Mark:
        """One sample of the tree, kept as a mark; caller holds the lock."""
        start = time.thread_time()
        rss_total = 0
        count = 0
        tree = self._tree()
        cluster = self._cluster_procs() if self.cluster_roots else []
        own_rss = 0
        tree_cpu: dict[ProcKey, float] = {}
        reaped: dict[ProcKey, tuple[int, float]] = {}
        for i, proc in enumerate([*tree, *cluster]):
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    cpu = proc.cpu_times()
                    rss = proc.memory_info().rss
                    parent = proc.ppid()
            except psutil.Error:
                continue  # exited between listing and reading: its CPU is in rusage
            rss_total += rss
            own_rss += rss if i < len(tree) else 0
            count += 1
            self._last_cpu[key] = cpu.user + cpu.system
            # With what it reaped: children too short-lived for any sample count there.
            tree_cpu[key] = self._last_cpu[key] + _reaped(cpu)
            reaped[key] = (parent, _reaped(cpu))
            self._procs.setdefault(key, proc)
            self._all_seen.add(key)
            if self._in_window:
                self._window_keys.add(key)
        if self.memory_limit is not None and own_rss > self.memory_limit:
            if self._limit_killed_at is None:
                self._limit_killed_at = own_rss
            for proc in tree:  # no waiting here: the runner reaps its own child
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        if self._in_window:
            self._peak = max(self._peak, rss_total)
            self._max_procs = max(self._max_procs, count)
            self._max_cluster = max(self._max_cluster, len(cluster))
            self._window_samples += 1
        daemon_cpu, idle_cpu = self._beside({proc.pid for proc in [*tree, *cluster]}, reaped)
        # Read last and together: the machine's counters and this process's own both include
        # the sampling just done.
        fresh = self._samples == 0
        if fresh:
            self.history.resume()
        harness = self.history.harness_cpu()
        system = load.SystemCpu.now()
        mark = load.Mark(system, tree_cpu, harness, daemon_cpu, idle_cpu, reaped, fresh)
        self.history.add(mark)
        self._samples += 1
        self._probe_cpu += time.thread_time() - start
        return mark

    def _loop(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            before = time.thread_time()
            with self._lock:
                self._snapshot()
            cost = time.thread_time() - before
            # Back off geometrically, and never sample faster than the CPU budget allows.
            wait = min(self.max_interval, wait * GROWTH)
            wait = max(wait, cost / self.budget - cost)

    def start(self) -> None:
        """Take a first mark and start the sampling thread."""
        with self._lock:
            # A region ending soon after the probe began can be judged from here.
            self._snapshot()
        self._thread.start()

    def mark_start(self) -> None:
        """A timed region begins: snapshot now and take it as the CPU baseline (a new window:
        its peak, process counts and samples start from zero)."""
        with self._lock:
            self._in_window = True
            self._peak = self._max_procs = self._max_cluster = self._window_samples = 0
            self._region_s = self._judged = self._daemon_cpu = None
            self._load1 = psutil.getloadavg()[0]
            self._region_start = self._snapshot()
            self._baseline = dict(self._last_cpu)
            self._window_keys = set(self._baseline)

    def mark_end(self) -> None:
        """The timed region ends: a last snapshot, then stop accounting; the window's figures
        are appended to ``windows``."""
        with self._lock:
            end = self._snapshot()
            self._in_window = False
            start = self._region_start
            if start is not None:
                self._region_s = end.at - start.at
                marks = self.history.marks()
                self._judged = load.judged_window(marks, start, end)
                if self.daemon_pids:
                    region = load.cpu_window(load.between(marks, start, end))
                    self._daemon_cpu = region.daemons_s
            self.windows.append(self._result())

    def stop(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.history.stopped()

    def result(self) -> ProbeResult:
        """CPU and peak RSS inside the last window (dead processes count up to their last
        sample); ``seen`` covers the sampler's whole life."""
        with self._lock:
            return self._result()

    def _result(self) -> ProbeResult:
        """``result``; the caller holds the lock."""
        cpu = sum(
            self._last_cpu[k] - self._baseline.get(k, 0.0)
            for k in self._window_keys
            if k in self._last_cpu
        )
        return ProbeResult(
            peak_rss_bytes=self._peak,
            cpu_s=max(cpu, 0.0),
            samples=self._window_samples,
            max_procs=self._max_procs,
            probe_cpu_s=self._probe_cpu,
            seen=set(self._all_seen),
            max_cluster_procs=self._max_cluster,
            limit_killed_at=self._limit_killed_at,
            region_s=self._region_s,
            judged=self._judged,
            daemon_cpu_s=self._daemon_cpu,
            load1=self._load1,
        )


def _cpu(proc: psutil.Process) -> tuple[ProcKey, Any, int]:
    """A process's key, CPU times and parent pid."""
    with proc.oneshot():
        return (proc.pid, proc.create_time()), proc.cpu_times(), proc.ppid()


def _reaped(cpu: Any) -> float:
    """The CPU of the children a process reaped (waited for), from its CPU times."""
    return float(getattr(cpu, "children_user", 0.0) + getattr(cpu, "children_system", 0.0))


def rusage_cpu() -> float:
    """User+system CPU of this process and its reaped children (the child's own figure)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def session_processes(sid: int) -> list[psutil.Process]:
    """All live processes whose session id is ``sid`` (a run's whole tree, orphans included)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def kill_processes(procs: list[psutil.Process], grace: float = 0.0) -> int:
    """Wait up to ``grace`` seconds for ``procs`` to exit by themselves, then SIGKILL the rest."""
    if not procs:
        return 0
    _, alive = psutil.wait_procs(procs, timeout=grace) if grace > 0 else ([], procs)
    killed = 0
    for proc in alive:
        try:
            proc.kill()
            killed += 1
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)
    return killed
