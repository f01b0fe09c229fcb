"""NumPy logreg and kmeans per iteration against this machine's BLAS-bound limit (issue 5).

The limit is what the iteration cannot avoid, timed here with micro-benchmarks on arrays of
the workload's own shape (the generated data, loaded once; nothing of the data generation is
timed):

* logreg: two passes over the n x d features per iteration, ``z = X w`` and ``g = r X``
  (two DGEMVs, each reading n d 8 bytes), on whichever layout (row- or column-major) runs
  the pair faster. Not BLAS, and listed apart: the elementwise floor, one ``exp``, one
  ``log1p`` and one division over n values (the loss needs ``log(1 + exp(.))``, the
  gradient a sigmoid).
* kmeans: one n x d by d x k product (the distances' cross terms, written as n x k values)
  plus one more pass over X (a DGEMV, the least a per-cluster sum reads), each on its
  fastest layout, whole or in the engine's blocks. Elementwise floor: the minimum over the
  k distances of every point and one comparison of the distances with it (the label).

The measured figure is the engine's own code: the registered ``run`` of each workload on
the numpy engine, reading its ``iteration_s`` metric (the first iteration, cold, is left
out). The answer of the first run is checked against the reference. Micro-benchmarks and
engine runs alternate, so a busy machine slows both alike; all figures are medians. OpenBLAS
runs on every core by default, and its threads wait for each other when another process
holds a core: run on a quiet machine (the load average is printed).

    python -m benchmarks.ml_limits [--scale small] [--repeats 10] [--workload logreg]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets, registry
from harness.engines.numpy_engine import NumpyEngine
from harness.registry import RunContext

WORKLOADS = ("logreg", "kmeans")
#: Timings per micro-benchmark and repeat (each takes well under a millisecond at small).
SAMPLES = 20
TARGET = 2.0

Probes = dict[str, Callable[[], object]]


@dataclass
class Limit:
    """A limit's parts as (label, median seconds): BLAS calls, the elementwise floor; notes."""

    blas: list[tuple[str, float]]
    elementwise: list[tuple[str, float]]
    notes: list[str]

    @property
    def blas_s(self) -> float:
        """The BLAS-bound limit."""
        return sum(t for _, t in self.blas)

    @property
    def total_s(self) -> float:
        """The BLAS-bound limit plus the elementwise floor."""
        return self.blas_s + sum(t for _, t in self.elementwise)


def cache_sizes() -> dict[int, int]:
    """Data (or unified) cache size in bytes per level of CPU 0, from sysfs (may be empty)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    sizes: dict[int, int] = {}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
            sizes[level] = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
        except (OSError, ValueError, KeyError):
            continue
    return sizes


def _mib(size: int) -> str:
    if size < 1 << 20:
        return f"{size / (1 << 10):.3g} KiB"
    return f"{size / (1 << 20):.3g} MiB"


def fits(nbytes: int, sizes: dict[int, int]) -> str:
    """Which cache level an array of ``nbytes`` fits in, in words."""
    levels = sorted(level for level in sizes if level >= 2)
    for level in levels:
        if nbytes <= sizes[level]:
            return f"fits in L{level} ({_mib(sizes[level])})"
    if not levels:
        return "cache sizes unknown"
    top = levels[-1]
    return f"larger than L{top} ({_mib(sizes[top])}): memory-bound"


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(a, min(n, a + size)) for a in range(0, n, size)]


def logreg_probes(x: np.ndarray) -> Probes:
    """The two DGEMVs on both layouts, a numpy streaming read, the elementwise floor."""
    rng = np.random.default_rng(0)
    n, d = x.shape
    rows, cols = np.ascontiguousarray(x), np.asfortranarray(x)
    w, r = rng.normal(size=d), rng.normal(size=n)
    z, out, g = np.empty(n), np.empty(n), np.empty(d)
    e = np.exp(-np.abs(rows @ w))
    return {
        "X @ w, row-major": lambda: np.matmul(rows, w, out=z),
        "r @ X, row-major": lambda: np.matmul(r, rows, out=g),
        "X @ w, column-major": lambda: np.matmul(cols, w, out=z),
        "r @ X, column-major": lambda: np.matmul(r, cols, out=g),
        "X.sum()": rows.sum,
        "exp": lambda: np.exp(z, out=out),
        "log1p": lambda: np.log1p(e, out=out),
        "divide": lambda: np.divide(1.0, e, out=out),
    }


def logreg_limit(t: dict[str, float], x: np.ndarray, sizes: dict[int, int]) -> Limit:
    """Two DGEMVs on the faster layout; exp + log1p + divide apart."""
    nbytes = x.size * x.itemsize
    layout = min(("row-major", "column-major"), key=lambda s: t[f"X @ w, {s}"] + t[f"r @ X, {s}"])
    blas = [(f"{op}, {layout} (DGEMV)", t[f"{op}, {layout}"]) for op in ("X @ w", "r @ X")]
    other = "column-major" if layout == "row-major" else "row-major"
    pair = sum(s for _, s in blas)
    notes = [
        f"X: {x.shape[0]:,} x {x.shape[1]} float64 = {_mib(nbytes)}, {fits(nbytes, sizes)}",
        f"two passes over X at {2 * nbytes / pair / 1e9:.1f} GB/s; "
        f"{other}: X @ w {t[f'X @ w, {other}'] * 1e3:.3f} ms, "
        f"r @ X {t[f'r @ X, {other}'] * 1e3:.3f} ms",
        f"numpy X.sum() (one thread) reads X at {nbytes / t['X.sum()'] / 1e9:.1f} GB/s",
    ]
    elementwise = [(f"{op} over n (elementwise)", t[op]) for op in ("exp", "log1p", "divide")]
    return Limit(blas, elementwise, notes)


def kmeans_probes(x: np.ndarray, k: int) -> Probes:
    """The n x d by d x k product and one read of X, each on two layouts, whole and in the
    engine's blocks; the minimum over k and the comparison with it."""
    from workloads.kmeans.impl_numpy import BLOCK

    rng = np.random.default_rng(0)
    n, d = x.shape
    rows, coords = np.ascontiguousarray(x), np.ascontiguousarray(x.T)
    centroids = x[rng.choice(n, size=k, replace=False)]
    ct = np.ascontiguousarray(centroids.T)
    ones, sums = np.ones(n), np.empty(d)
    by_point, by_centroid = np.empty((n, k)), np.empty((k, n))
    np.matmul(centroids, coords, out=by_centroid)
    minimum, below = np.empty(n), np.empty((k, n), dtype=bool)
    blocks = _blocks(n, BLOCK)

    def product_blocks() -> None:
        for s in blocks:
            np.matmul(centroids, coords[:, s], out=by_centroid[:, s])

    def min_blocks() -> None:
        for s in blocks:
            np.minimum.reduce(by_centroid[:, s], axis=0, out=minimum[s])

    def compare_blocks() -> None:
        for s in blocks:
            np.less_equal(by_centroid[:, s], minimum[s], out=below[:, s])

    return {
        "X C^T, n x k": lambda: np.matmul(rows, ct, out=by_point),
        "C X^T, k x n": lambda: np.matmul(centroids, coords, out=by_centroid),
        f"C X^T, k x n in blocks of {BLOCK}": product_blocks,
        "1 @ X, row-major": lambda: np.matmul(ones, rows, out=sums),
        "X^T 1, coordinates as rows": lambda: np.matmul(coords, ones, out=sums),
        "min over k": lambda: np.minimum.reduce(by_centroid, axis=0, out=minimum),
        f"min over k, blocks of {BLOCK}": min_blocks,
        "compare with the min": lambda: np.less_equal(by_centroid, minimum, out=below),
        f"compare with the min, blocks of {BLOCK}": compare_blocks,
    }


def _fastest(t: dict[str, float], *prefixes: str) -> tuple[str, float]:
    name = min((key for key in t if key.startswith(prefixes)), key=t.__getitem__)
    return name, t[name]


def kmeans_limit(t: dict[str, float], x: np.ndarray, k: int, sizes: dict[int, int]) -> Limit:
    """Product + one DGEMV read of X, each at its fastest variant; min and compare apart."""
    nbytes, distances = x.size * x.itemsize, x.shape[0] * k * 8
    product, product_s = _fastest(t, "X C^T", "C X^T")
    read, read_s = _fastest(t, "1 @ X", "X^T 1")
    blas = [(f"{product} (DGEMM)", product_s), (f"{read} (DGEMV: the sums read X)", read_s)]
    elementwise = [_fastest(t, "min over k"), _fastest(t, "compare with the min")]
    notes = [
        f"X: {x.shape[0]:,} x {x.shape[1]} float64 = {_mib(nbytes)}, {fits(nbytes, sizes)}; "
        f"k = {k}: the n x k distances = {_mib(distances)}, {fits(distances, sizes)}",
        f"the product writes the distances at {distances / product_s / 1e9:.1f} GB/s; "
        f"the DGEMV reads X at {nbytes / read_s / 1e9:.1f} GB/s",
    ]
    return Limit(blas, [(f"{name} (elementwise)", s) for name, s in elementwise], notes)


def engine_run(
    name: str, data: datasets.Dataset, params: dict[str, Any]
) -> tuple[Any, list[float]]:
    """One run of the registered numpy implementation: its answer and per-iteration times."""
    from importlib import import_module

    impl = import_module(f"workloads.{name}.impl_numpy")
    with tempfile.TemporaryDirectory(prefix="bdbench-ml-") as scratch:
        ctx = RunContext(NumpyEngine(), "default", data, params, Path(scratch))
        answer = impl.run(ctx)
    return answer, list(ctx.metrics["iteration_s"])


def _sample(probes: Probes, into: dict[str, list[float]], samples: int) -> None:
    for name, func in probes.items():
        func()  # warm: first touch of buffers, BLAS thread start-up
        for _ in range(samples):
            began = time.perf_counter()
            func()
            into.setdefault(name, []).append(time.perf_counter() - began)


def measure(name: str, scale: str, repeats: int, sizes: dict[int, int]) -> None:
    """Generate and load the data, alternate micro-benchmarks and engine runs, print."""
    workload = registry.get_workload(name)
    data = datasets.generated(workload, scale)
    params = dict(workload.params)
    if name == "logreg":
        from workloads.logreg import load as load_logreg

        x = load_logreg(list(data.inputs), params["label"])[1]
        probes = logreg_probes(x)
    else:
        from workloads.kmeans import load_points

        x = load_points(list(data.inputs), params["columns"])
        probes = kmeans_probes(x, params["k"])
    samples: dict[str, list[float]] = {}
    later: list[float] = []
    first: Any = None
    for repeat in range(repeats):
        _sample(probes, samples, SAMPLES)
        answer, times = engine_run(name, data, params)
        later.extend(times[1:])
        if repeat == 0:
            first = answer
    verdict = workload.check(first, datasets.reference_answer(workload, data, params))
    t = {key: statistics.median(values) for key, values in samples.items()}
    if name == "logreg":
        limit = logreg_limit(t, x, sizes)
    else:
        limit = kmeans_limit(t, x, params["k"], sizes)
    measured = statistics.median(later) if later else float("nan")
    iterations = params["iterations"]
    print(
        f"\n{name} {scale}: {iterations} iterations; medians of {repeats} engine "
        f"run{'s' if repeats > 1 else ''} x "
        f"{iterations - 1} later iterations and {repeats * SAMPLES} samples per micro-benchmark"
    )
    for note in limit.notes:
        print(f"  {note}")
    rows = list(limit.blas)
    rows.append(("= BLAS-bound limit", limit.blas_s))
    rows.extend(limit.elementwise)
    rows.append(("= BLAS + elementwise floor", limit.total_s))
    rows.append(("measured: engine per iteration", measured))
    width = max(len(label) for label, _ in rows)
    print(f"  {'component':{width}s}  {'ms':>8s}")
    for label, s in rows:
        print(f"  {label:{width}s}  {s * 1e3:8.4f}")
    for what, bound in (("BLAS-bound limit", limit.blas_s), ("BLAS + elementwise", limit.total_s)):
        ratio = measured / bound
        status = "PASS" if ratio <= TARGET else "FAIL"
        print(f"  ratio vs {what}: {ratio:.2f}x  {status} (within {TARGET:g}x)")
    print(f"  answer check: {'pass' if verdict.passed else 'FAIL'} ({verdict.detail})")


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure each workload, print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=datasets.SCALES)
    parser.add_argument(
        "--repeats",
        type=int,
        default=10,
        help=f"engine runs, each after {SAMPLES} timings of every micro-benchmark (default 10)",
    )
    parser.add_argument("--workload", choices=WORKLOADS, action="append")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    registry.load_all()
    sizes = cache_sizes()
    caches = ", ".join(f"L{level} {_mib(size)}" for level, size in sorted(sizes.items()))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS default")
    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, BLAS threads: {threads}, caches of "
        f"CPU 0: {caches or 'unknown'}; load average {load} (all figures are medians)"
    )
    for name in args.workload or WORKLOADS:
        measure(name, args.scale, args.repeats, sizes)


if __name__ == "__main__":
    main()
