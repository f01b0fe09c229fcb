"""Logistic regression on NumPy: threads held one to a core share row blocks of the features
signed by the label, each block a single-threaded BLAS matrix-vector product, one exp, one
division and one log in place, and the gradient's product."""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.registry import RunContext, implements

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
R = TypeVar("R")

#: Rows per block, at most: a block's features (5 MiB at most, 10 columns) stay in the L3
#: cache from the first product to the second. Measured at small on 2 cores (4 blocks of
#: 50,000 rows): a little faster than 2^15, and 2^14 is slower still (every call pays its
#: overhead and may wait for the GIL).
BLOCK = 1 << 16


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


class _Rows:
    """The rows in blocks, each block's features times the rows' signs ``s = 1 - 2 y``
    (column-major, the rows with ``s = 1`` first); each block's partial sums, and a scratch
    vector for each thread."""

    def __init__(
        self, x: np.ndarray, s: np.ndarray, bounds: list[tuple[int, int]], threads: int
    ) -> None:
        import numpy as np

        longest = max(b - a for a, b in bounds)
        self.scratch = [np.empty(longest) for _ in range(threads)]
        self.logs = np.zeros(len(bounds))
        self.grads = np.zeros((len(bounds), x.shape[1] + 1))
        self.blocks = []
        # No column for the intercept (s): the two products read X from memory, and one
        # more column of 10 made the iteration slower (measured at small, 2 cores) than
        # the two cheap passes below that put the bias in and take its sum out. With the
        # +1 rows first, those passes are scalar operations on two slices.
        for a, b in bounds:
            positive = s[a:b] > 0
            signed = np.concatenate([x[a:b][positive], -x[a:b][~positive]])
            self.blocks.append((np.asfortranarray(signed), int(positive.sum())))

    def _exponent(self, i: int, worker: int, minus_w: np.ndarray) -> np.ndarray:
        """``-v`` of block ``i`` in the worker's scratch, where ``v = s z`` is the margin
        signed by the label and ``minus_w`` is ``-[w, bias]``."""
        import numpy as np

        xs, k = self.blocks[i]
        e = self.scratch[worker][: len(xs)]
        # np.dot, not np.matmul: numpy's matmul keeps the GIL when its output is small (the
        # gradient's d values), which serialises the threads; np.dot lets it go.
        np.dot(xs, minus_w[:-1], out=e)
        e[:k] += minus_w[-1]
        e[k:] -= minus_w[-1]
        return e

    def block(self, i: int, worker: int, minus_w: np.ndarray) -> None:
        """Block ``i``'s ``sum(log(1 + exp(-v)))`` and ``[s X, s]^T p`` with
        ``p = sigmoid(v)``, into its slots."""
        import numpy as np

        xs, k = self.blocks[i]
        grad = self.grads[i]
        e = self._exponent(i, worker, minus_w)
        with np.errstate(over="ignore", divide="ignore"):
            np.exp(e, out=e)
            e += 1.0
            # p = 1 / (1 + exp(-v)), exactly 0 where exp(-v) overflowed.
            np.divide(1.0, e, out=e)
            np.dot(xs.T, e, out=grad[:-1])
            grad[-1] = float(e[:k].sum()) - float(e[k:].sum())
            # log(1 + exp(-v)) = -log(p), then p is no longer needed: one scratch vector.
            np.log(e, out=e)
        logs = -float(e.sum())
        if not math.isfinite(logs):
            # exp(-v) overflowed (v < -709): this block's sum again, stably.
            e = self._exponent(i, worker, minus_w)
            logs = float(np.logaddexp(0.0, e, out=e).sum())
        self.logs[i] = logs


def train(
    y: np.ndarray,
    x: np.ndarray,
    iterations: int,
    rate: float,
    workers: int,
    block: int = BLOCK,
) -> tuple[dict[str, Any], list[float]]:
    """The documented gradient descent over row blocks shared by ``workers`` threads (each
    held to a CPU of its own): the answer and the time of every iteration."""
    import numpy as np

    n, d = x.shape
    # With s = 1 - 2 y and the margin v = s z, the point's loss log(1 + exp(z)) - y z is
    # v + log(1 + exp(-v)) and sigmoid(z) - y = s sigmoid(v); sum(v) = [s @ X, sum(s)] w
    # needs no pass over the rows.
    s = 1.0 - 2.0 * y
    s_x = np.append(s @ x, s.sum())
    bounds = blocks(n, block, workers)
    helpers = max(0, min(workers, len(bounds)) - 1)
    rows = _Rows(x, s, bounds, helpers + 1)
    w = np.zeros(d + 1)  # the intercept last
    losses, times = [], []
    with one_cpu_each(helpers + 1) as hold, blas_threads(1):
        pool = ThreadPoolExecutor(helpers, initializer=hold) if helpers else None
        try:
            for _ in range(iterations):
                began = time.perf_counter()
                share(pool, helpers, partial(rows.block, minus_w=-w), len(bounds))
                # Summed in block order, whichever thread did which block.
                losses.append((float(s_x @ w) + float(rows.logs.sum())) / n)
                w -= (rate / n) * rows.grads.sum(axis=0)
                times.append(time.perf_counter() - began)
        finally:
            if pool is not None:
                pool.shutdown()
    return {"weights": [float(w[-1]), *w[:-1].tolist()], "loss": losses}, times


@implements("logreg", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into float64 arrays, then the documented gradient descent on every core.

    Written apart from the reference (no design matrix: the rows signed by their label, so
    that the loss and the sigmoid come from one ``exp`` of the signed margin, the intercept
    apart; the margins' sum from a constant vector), so the check compares two
    implementations, not one with itself.
    """
    from workloads.logreg import load

    y, x = load(list(ctx.data.inputs), ctx.params["label"])
    answer, times = train(
        y, x, int(ctx.params["iterations"]), float(ctx.params["learning_rate"]), cores()
    )
    ctx.metrics.update(iteration_metrics(times))
    return answer
