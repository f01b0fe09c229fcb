"""psutil sampler of a whole process tree: peak RSS (summed), CPU user+sys, sampling cost.

The sampler runs in the *parent* (the runner), so its own CPU never counts against the measured
tree. The measured child announces the start and end of its timed region over a socket; the
sampler takes an exact snapshot at both edges and samples adaptively in between, so that its
own cost stays under ``budget`` (default 1%) of one core.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil

from harness import load

#: First sampling interval; it then grows by ``GROWTH`` up to ``max_interval``.
DEFAULT_INTERVAL = 0.05
DEFAULT_MAX_INTERVAL = 1.0
DEFAULT_BUDGET = 0.01
GROWTH = 1.5
#: Longest sampling interval while the probe enforces a memory limit.
LIMIT_MAX_INTERVAL = 0.1

ProcKey = tuple[int, float]


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
    #: The machine's CPU counters at the window's edges, and its 1-minute load at the start.
    system_start: load.SystemCpu | None = None
    system_end: load.SystemCpu | None = None
    load1: float | None = None


class TreeSampler:
    """Samples RSS and CPU times of ``root_pid`` and all its descendants in a thread.

    ``cluster_roots`` are daemons of a cluster on this machine (a Spark worker, a YARN
    NodeManager): their descendants started after the sampler was made (executors, task
    containers) work for the run and count too; the daemons themselves do not.

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
    ) -> None:
        self.root_pid = root_pid
        self.memory_limit = memory_limit
        self._limit_killed_at: int | None = None
        self._system_start: load.SystemCpu | None = None
        self._system_end: load.SystemCpu | None = None
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

    def _snapshot(self) -> None:
        """One sample of the tree; caller holds the lock."""
        start = time.thread_time()
        rss_total = 0
        count = 0
        tree = self._tree()
        cluster = self._cluster_procs() if self.cluster_roots else []
        own_rss = 0
        for i, proc in enumerate([*tree, *cluster]):
            try:
                with proc.oneshot():
                    key = (proc.pid, proc.create_time())
                    cpu = proc.cpu_times()
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue  # exited between listing and reading: its CPU is in rusage
            rss_total += rss
            own_rss += rss if i < len(tree) else 0
            count += 1
            self._last_cpu[key] = cpu.user + cpu.system
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
        self._samples += 1
        self._probe_cpu += time.thread_time() - start

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
        """Start the sampling thread."""
        self._thread.start()

    def mark_start(self) -> None:
        """A timed region begins: snapshot now and take it as the CPU baseline (a new window:
        its peak, process counts and samples start from zero)."""
        with self._lock:
            self._in_window = True
            self._peak = self._max_procs = self._max_cluster = self._window_samples = 0
            self._system_start = load.SystemCpu.now()
            self._load1 = psutil.getloadavg()[0]
            self._snapshot()
            self._baseline = dict(self._last_cpu)
            self._window_keys = set(self._baseline)

    def mark_end(self) -> None:
        """The timed region ends: a last snapshot, then stop accounting; the window's figures
        are appended to ``windows``."""
        with self._lock:
            self._snapshot()
            self._system_end = load.SystemCpu.now()
            self._in_window = False
            self.windows.append(self._result())

    def stop(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

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
            system_start=self._system_start,
            system_end=self._system_end,
            load1=self._load1,
        )


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
