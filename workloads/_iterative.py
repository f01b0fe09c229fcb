"""Shared by the iterative workloads (logreg, kmeans) and their implementations: per-iteration
metrics, and the row blocks and CPU-held threads the vectorised single-node implementations
share their work with."""

from __future__ import annotations

import ctypes
import itertools
import os
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def iteration_metrics(times: list[float]) -> dict[str, Any]:
    """Cold vs warm: the first iteration's time and the median of the later ones."""
    return {
        "iteration_s": times,
        "first_iteration_s": times[0] if times else None,
        "later_iterations_median_s": statistics.median(times[1:]) if len(times) > 1 else None,
    }


def cores() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def spans(n: int, parts: int, block: int) -> list[list[tuple[int, int]]]:
    """``range(n)`` cut into at most ``parts`` equal non-empty parts, each a list of
    ``(start, stop)`` blocks of at most ``block`` rows."""
    parts = max(1, min(parts, n))
    bounds = [n * p // parts for p in range(parts + 1)]
    return [
        [(a, min(b, a + block)) for a in range(lo, b, block)]
        for lo, b in itertools.pairwise(bounds)
    ]


def fan_out(pool: ThreadPoolExecutor | None, func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[func(item) for item in items]``, the first in this thread and the others in
    ``pool`` at the same time (one hand-off fewer than sending them all to the pool)."""
    if pool is None or len(items) == 1:
        return [func(item) for item in items]
    futures = [pool.submit(func, item) for item in items[1:]]
    first = func(items[0])
    return [first, *(future.result() for future in futures)]


def blocks(n: int, block: int, threads: int = 1) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``(start, stop)`` blocks of at most ``block`` rows, as few as
    may be but a multiple of ``threads`` in number (while there are rows), all of a length
    give or take one: no short tail block paying a full block's per-call costs, no thread
    left with one block more than another."""
    count = max(1, min(n, threads * -(-n // (threads * block))))
    bounds = [n * i // count for i in range(count + 1)]
    return list(itertools.pairwise(bounds))


@contextmanager
def one_cpu_each(threads: int) -> Iterator[Callable[[], None]]:
    """This thread held to one CPU of those it may use, inside the block; yields the
    initializer that holds each pool thread to a CPU of its own (nothing where the OS has
    no CPU affinity, or with more threads than CPUs).

    Left to itself, the scheduler of our 2-CPU virtual machine woke the helper on the CPU
    of the thread that woke it, and the two took turns on that CPU while the other idled,
    iteration after iteration (measured: the iteration took as long as on one thread).
    """
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(allowed) < threads or threads < 2:
        yield lambda: None
        return
    spare, lock = iter(allowed[1:]), threading.Lock()

    def hold() -> None:
        with lock:
            cpu = next(spare)
        with suppress(OSError):  # a CPU taken away meanwhile: run unheld
            os.sched_setaffinity(0, {cpu})

    try:
        os.sched_setaffinity(0, {allowed[0]})
    except OSError:
        yield lambda: None
        return
    try:
        yield hold
    finally:
        with suppress(OSError):
            os.sched_setaffinity(0, allowed)


def share(
    pool: ThreadPoolExecutor | None, helpers: int, func: Callable[[int, int], None], count: int
) -> None:
    """``func(item, worker)`` for every item of ``range(count)``, by this thread (worker 0)
    and ``helpers`` threads of ``pool`` (workers 1 and up): each worker first takes the items
    of its own equal run of them, in order, then any not yet taken from the end of the
    longest other run.

    Own runs keep each thread on the same rows from call to call (whatever of them its
    caches still hold); taking from the others covers a helper that starts late (waking a
    thread on an idle virtual CPU costs some 50 us) or runs slowly (another process on its
    CPU); a helper that has not started by the end is cancelled, not waited for.
    """
    threads = helpers + 1 if pool is not None else 1
    runs = [deque(range(count * k // threads, count * (k + 1) // threads)) for k in range(threads)]
    lock = threading.Lock()

    def work(worker: int) -> None:
        while True:
            with lock:
                if runs[worker]:
                    item = runs[worker].popleft()
                else:
                    longest = max(runs, key=len)
                    if not longest:
                        return
                    item = longest.pop()
            func(item, worker)

    futures = [pool.submit(work, k) for k in range(1, threads)] if pool is not None else []
    work(0)
    for future in futures:
        if not future.cancel():
            future.result()


@cache
def _openblas() -> tuple[Any, Any] | None:
    """The thread-count setter and getter of the OpenBLAS that numpy loaded, or None."""
    import numpy  # noqa: F401  (loads its OpenBLAS)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    libraries = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    for path in sorted(p for p in libraries if p.startswith("/")):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
                return setter, getter
    return None


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """OpenBLAS limited to ``count`` threads inside the block (nothing without OpenBLAS).

    Our own threads own the cores: OpenBLAS threads on top would fight them, and on a busy
    machine its spinning threads wait for each other (a DGEMV 30x slower at load 4 on 2 cores).
    """
    functions = _openblas()
    if functions is None:
        yield
        return
    setter, getter = functions
    before = int(getter())
    setter(count)
    try:
        yield
    finally:
        setter(before)
