"""Logistic regression on NumPy: on every core, row blocks each run a single-threaded BLAS
matrix-vector product, the loss and the sigmoid in place, and the gradient's product."""

from __future__ import annotations

import ctypes
import itertools
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from operator import methodcaller
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.registry import RunContext, implements

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
R = TypeVar("R")

#: Rows per block: the vectors of a block (256 KiB each) stay in the L2 cache from pass to
#: pass; smaller blocks pay more in per-call overhead than they gain (X is read from L3 anyway).
BLOCK = 1 << 15
#: The float64 sign bit, for ``-|z|`` and ``copysign`` as one bitwise pass (numpy's
#: ``copysign`` and ``sign`` are scalar loops, several times slower than ``bitwise_or``).
SIGN = 1 << 63


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
    """One thread's share of the rows: its blocks of X (column-major, contiguous) and of the
    +-1 signs, and scratch vectors reused by every block and iteration."""

    def __init__(self, x: np.ndarray, s: np.ndarray, blocks: list[tuple[int, int]]) -> None:
        import numpy as np

        longest = max(b - a for a, b in blocks)
        base = [np.empty(longest) for _ in range(4)]
        self.grad, self.part = np.empty(x.shape[1]), np.empty(x.shape[1])
        self.blocks = []
        # No column of ones for the intercept: OpenBLAS's DGEMV runs 11 columns about 1.4x
        # slower than 10, more than the two passes over z the intercept costs apart.
        for a, b in blocks:
            z, u, e, t = (v[: b - a] for v in base)
            views = z.view(np.uint64), u.view(np.uint64)
            self.blocks.append((np.asfortranarray(x[a:b]), s[a:b].copy(), z, u, e, t, *views))

    def step(self, w: np.ndarray, bias: float) -> tuple[float, float]:
        """The loss and ``sum(tanh(z / 2))`` over these rows; ``tanh(z / 2) @ X`` into
        ``grad``."""
        import numpy as np

        sign = np.uint64(SIGN)
        loss = tanh_sum = 0.0
        self.grad[:] = 0.0
        for xb, s, z, u, e, t, zbits, ubits in self.blocks:
            np.matmul(xb, w, out=z)
            z += bias
            np.bitwise_or(zbits, sign, out=ubits)  # u = -|z|
            # log(1 + exp(z)) - y z = max(s z, 0) + log1p(exp(-|z|)) with s = 1 - 2 y: no
            # overflow, and no sum cancels (both terms >= 0); t = s z + |z| = 2 max(s z, 0)
            # (numpy's maximum is slower than a subtraction: it checks for NaN).
            np.multiply(s, z, out=t)
            t -= u
            np.exp(u, out=e)
            np.log1p(e, out=u)
            loss += 0.5 * float(t.sum()) + float(u.sum())
            # tanh(|z| / 2) = (1 - e) / (1 + e) with e = exp(-|z|), then z's sign: the
            # same e serves the loss and the gradient (one exp per point, no tanh).
            np.subtract(1.0, e, out=u)
            e += 1.0
            u /= e
            np.bitwise_and(zbits, sign, out=zbits)
            np.bitwise_or(ubits, zbits, out=ubits)
            tanh_sum += float(u.sum())
            np.matmul(u, xb, out=self.part)
            self.grad += self.part
        return loss, tanh_sum


def train(
    y: np.ndarray,
    x: np.ndarray,
    iterations: int,
    rate: float,
    workers: int,
    block: int = BLOCK,
) -> tuple[dict[str, Any], list[float]]:
    """The documented gradient descent over ``workers`` threads of row blocks: the answer
    and the time of every iteration."""
    import numpy as np

    n, d = x.shape
    # sigmoid(z) - y = c + tanh(z / 2) / 2 with c = 1/2 - y, whose part of the gradient,
    # c @ x, is the same in every iteration.
    c = 0.5 - y
    c_x, c_sum = c @ x, float(c.sum())
    parts = [_Rows(x, 2.0 * c, blocks) for blocks in spans(n, workers, block)]
    bias, w = 0.0, np.zeros(d)
    losses, times = [], []
    pool = ThreadPoolExecutor(len(parts) - 1) if len(parts) > 1 else None
    try:
        with blas_threads(1):
            for _ in range(iterations):
                began = time.perf_counter()
                found = fan_out(pool, methodcaller("step", w, bias), parts)
                losses.append(sum(loss for loss, _ in found) / n)
                grad = parts[0].grad.copy()
                for part in parts[1:]:
                    grad += part.grad
                w -= (rate / n) * (c_x + 0.5 * grad)
                bias -= rate * (c_sum + 0.5 * sum(t for _, t in found)) / n
                times.append(time.perf_counter() - began)
    finally:
        if pool is not None:
            pool.shutdown()
    return {"weights": [bias, *w.tolist()], "loss": losses}, times


@implements("logreg", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Load the CSV into float64 arrays, then the documented gradient descent on every core.

    Written apart from the reference (intercept kept separate, no design matrix, the loss
    and the sigmoid from one ``exp(-|z|)``, the residual's constant part of the gradient
    computed once), so the check compares two implementations, not one with itself.
    """
    from workloads.logreg import load

    y, x = load(list(ctx.data.inputs), ctx.params["label"])
    answer, times = train(
        y, x, int(ctx.params["iterations"]), float(ctx.params["learning_rate"]), cores()
    )
    ctx.metrics.update(iteration_metrics(times))
    return answer
