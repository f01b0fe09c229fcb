"""NumPy logreg and kmeans per iteration against this machine's BLAS + elementwise floor.

The floor is what the iteration cannot avoid, timed here with micro-benchmarks on arrays of
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

The engine may use every core, so the floor may too (issue 15): every operation is timed
on one thread, split by rows over one thread per core (a thread pool, OpenBLAS held to one
thread each: the engine's own way), and, for BLAS calls, whole with OpenBLAS's own threads;
the floor takes each operation at its fastest. The old-style floor of issue 5 (BLAS with
OpenBLAS's threads, the elementwise work on one thread) is printed too: it flattered the
engine on a busy machine, where OpenBLAS's waiting threads made its own DGEMVs 30x slower.

The measured figure is the engine's own code: the registered ``run`` of each workload on
the numpy engine, reading its ``iteration_s`` metric (the first iteration, cold, is left
out). The answer of the first run is checked against the reference. Micro-benchmarks and
engine runs alternate, so a busy machine slows both alike; all figures are medians. Run on
a quiet machine: the load average is printed before and after, and with another process on
the cores the split timings (and the engine's threads) gain nothing.

    python -m benchmarks.ml_limits [--scale small] [--repeats 10] [--workload logreg]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets, registry
from harness.engines.numpy_engine import NumpyEngine
from harness.registry import RunContext
from workloads._iterative import blas_threads, cores, fan_out, spans

WORKLOADS = ("logreg", "kmeans")
#: Timings per micro-benchmark, variant and repeat (each well under a millisecond at small).
SAMPLES = 20
#: The issue's bar: the engine's iteration within this factor of the floor.
TARGET = 1.5
ONE, OPENBLAS = "1 thread", "OpenBLAS threads"

#: A probe: its kind ("blas", "elementwise" or "note") and its work on a slice of the rows.
Probe = tuple[str, Callable[[slice], object]]
Probes = dict[str, Probe]


@dataclass
class Limit:
    """A floor's parts as (label, median seconds): BLAS calls, the elementwise floor; notes."""

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


def _blocks(part: slice, size: int) -> list[slice]:
    return [slice(a, min(part.stop, a + size)) for a in range(part.start, part.stop, size)]


Timings = dict[str, dict[str, float]]
Value = Callable[[str], tuple[str, float]]


def fastest(t: Timings) -> Value:
    """An operation at its fastest variant: (variant, seconds); the 2-core floor's rule."""
    return lambda name: min(t[name].items(), key=lambda item: item[1])


def old_style(t: Timings) -> Value:
    """An operation as issue 5 timed it: BLAS on OpenBLAS's threads, the rest on one thread."""
    return lambda name: (
        (OPENBLAS, t[name][OPENBLAS]) if OPENBLAS in t[name] else (ONE, t[name][ONE])
    )


def logreg_probes(x: np.ndarray) -> Probes:
    """The two DGEMVs on both layouts, a numpy streaming read, the elementwise floor."""
    rng = np.random.default_rng(0)
    n, d = x.shape
    rows, cols = np.ascontiguousarray(x), np.asfortranarray(x)
    w = np.asarray(rng.standard_normal(d))
    r = np.asarray(rng.standard_normal(n))
    z, out = np.empty(n), np.empty(n)
    e = np.exp(-np.abs(rows @ w))
    return {
        "X @ w, row-major": ("blas", lambda s: np.matmul(rows[s], w, out=z[s])),
        "r @ X, row-major": ("blas", lambda s: r[s] @ rows[s]),
        "X @ w, column-major": ("blas", lambda s: np.matmul(cols[s], w, out=z[s])),
        "r @ X, column-major": ("blas", lambda s: r[s] @ cols[s]),
        "X.sum()": ("note", lambda s: rows[s].sum()),
        "exp": ("elementwise", lambda s: np.exp(z[s], out=out[s])),
        "log1p": ("elementwise", lambda s: np.log1p(e[s], out=out[s])),
        "divide": ("elementwise", lambda s: np.divide(1.0, e[s], out=out[s])),
    }


def logreg_limit(t: Timings, value: Value, x: np.ndarray, sizes: dict[int, int]) -> Limit:
    """Two DGEMVs on the faster layout; exp + log1p + divide apart."""
    nbytes = x.size * x.itemsize

    def pair(layout: str) -> float:
        return sum(value(f"{op}, {layout}")[1] for op in ("X @ w", "r @ X"))

    layout = min(("row-major", "column-major"), key=pair)
    blas = []
    for op in ("X @ w", "r @ X"):
        variant, seconds = value(f"{op}, {layout}")
        blas.append((f"{op}, {layout} (DGEMV, {variant})", seconds))
    other = "column-major" if layout == "row-major" else "row-major"
    notes = [
        f"X: {x.shape[0]:,} x {x.shape[1]} float64 = {_mib(nbytes)}, {fits(nbytes, sizes)}",
        f"two passes over X at {2 * nbytes / pair(layout) / 1e9:.1f} GB/s; "
        f"{other}: X @ w {value(f'X @ w, {other}')[1] * 1e3:.3f} ms, "
        f"r @ X {value(f'r @ X, {other}')[1] * 1e3:.3f} ms",
        f"numpy X.sum() (one thread) reads X at {nbytes / t['X.sum()'][ONE] / 1e9:.1f} GB/s",
    ]
    elementwise = []
    for op in ("exp", "log1p", "divide"):
        variant, seconds = value(op)
        elementwise.append((f"{op} over n (elementwise, {variant})", seconds))
    return Limit(blas, elementwise, notes)


def kmeans_probes(x: np.ndarray, k: int) -> Probes:
    """The n x d by d x k product and one read of X, each on two layouts, whole and in the
    engine's blocks; the minimum over k and the comparison with it."""
    from workloads.kmeans.impl_numpy import BLOCK

    rng = np.random.default_rng(0)
    n = len(x)
    rows, coords = np.ascontiguousarray(x), np.ascontiguousarray(x.T)
    centroids = x[rng.choice(n, size=k, replace=False)]
    ct = np.ascontiguousarray(centroids.T)
    ones = np.ones(n)
    by_point, by_centroid = np.empty((n, k)), np.empty((k, n))
    np.matmul(centroids, coords, out=by_centroid)
    minimum, below = np.empty(n), np.empty((k, n), dtype=bool)

    def product(s: slice) -> None:
        np.matmul(centroids, coords[:, s], out=by_centroid[:, s])

    def least(s: slice) -> None:
        np.minimum.reduce(by_centroid[:, s], axis=0, out=minimum[s])

    def compare(s: slice) -> None:
        np.less_equal(by_centroid[:, s], minimum[s], out=below[:, s])

    def product_blocks(part: slice) -> None:
        for s in _blocks(part, BLOCK):
            product(s)

    def min_blocks(part: slice) -> None:
        for s in _blocks(part, BLOCK):
            least(s)

    def compare_blocks(part: slice) -> None:
        for s in _blocks(part, BLOCK):
            compare(s)

    return {
        "X C^T, n x k": ("blas", lambda s: np.matmul(rows[s], ct, out=by_point[s])),
        "C X^T, k x n": ("blas", product),
        f"C X^T, k x n in blocks of {BLOCK}": ("blas", product_blocks),
        "1 @ X, row-major": ("blas", lambda s: ones[s] @ rows[s]),
        "X^T 1, coordinates as rows": ("blas", lambda s: coords[:, s] @ ones[s]),
        "min over k": ("elementwise", least),
        f"min over k, blocks of {BLOCK}": ("elementwise", min_blocks),
        "compare with the min": ("elementwise", compare),
        f"compare with the min, blocks of {BLOCK}": ("elementwise", compare_blocks),
    }


def _fastest(value: Value, names: list[str], *prefixes: str) -> tuple[str, str, float]:
    name = min((key for key in names if key.startswith(prefixes)), key=lambda k: value(k)[1])
    return (name, *value(name))


def kmeans_limit(t: Timings, value: Value, x: np.ndarray, k: int, sizes: dict[int, int]) -> Limit:
    """Product + one DGEMV read of X, each at its fastest variant; min and compare apart."""
    nbytes, distances = x.size * x.itemsize, x.shape[0] * k * 8
    names = list(t)
    product, p_variant, product_s = _fastest(value, names, "X C^T", "C X^T")
    read, r_variant, read_s = _fastest(value, names, "1 @ X", "X^T 1")
    blas = [
        (f"{product} (DGEMM, {p_variant})", product_s),
        (f"{read} (DGEMV: the sums read X, {r_variant})", read_s),
    ]
    elementwise = []
    for prefix in ("min over k", "compare with the min"):
        name, variant, seconds = _fastest(value, names, prefix)
        elementwise.append((f"{name} (elementwise, {variant})", seconds))
    notes = [
        f"X: {x.shape[0]:,} x {x.shape[1]} float64 = {_mib(nbytes)}, {fits(nbytes, sizes)}; "
        f"k = {k}: the n x k distances = {_mib(distances)}, {fits(distances, sizes)}",
        f"the product writes the distances at {distances / product_s / 1e9:.1f} GB/s; "
        f"the DGEMV reads X at {nbytes / read_s / 1e9:.1f} GB/s",
    ]
    return Limit(blas, elementwise, notes)


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


def variants(
    probes: Probes, n: int, pool: ThreadPoolExecutor | None
) -> list[tuple[str, str, int | None, Callable[[], object]]]:
    """Every probe's timed variants: (probe, variant, OpenBLAS threads or None, callable)."""
    whole = slice(0, n)
    parts = [slice(span[0][0], span[-1][1]) for span in spans(n, cores(), n)]
    out: list[tuple[str, str, int | None, Callable[[], object]]] = []
    for name, (kind, func) in probes.items():
        out.append((name, ONE, 1, partial(func, whole)))
        if kind == "note":
            continue
        if len(parts) > 1:
            label = f"{len(parts)} threads"
            out.append((name, label, 1, partial(fan_out, pool, func, parts)))
        if kind == "blas":
            out.append((name, OPENBLAS, None, partial(func, whole)))
    return out


def _sample(
    timed: list[tuple[str, str, int | None, Callable[[], object]]],
    into: dict[tuple[str, str], list[float]],
    samples: int,
) -> None:
    for name, variant, threads, func in timed:
        with blas_threads(threads) if threads is not None else nullcontext():
            func()  # warm: first touch of buffers, thread start-up
            for _ in range(samples):
                began = time.perf_counter()
                func()
                into.setdefault((name, variant), []).append(time.perf_counter() - began)


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _table(limit: Limit, title: str) -> list[tuple[str, float]]:
    rows = list(limit.blas)
    rows.append(("= BLAS-bound limit", limit.blas_s))
    rows.extend(limit.elementwise)
    rows.append((f"= BLAS + elementwise floor{title}", limit.total_s))
    return rows


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
    samples: dict[tuple[str, str], list[float]] = {}
    later: list[float] = []
    first: Any = None
    before = _load()
    with ThreadPoolExecutor(max(1, cores() - 1)) as pool:
        timed = variants(probes, len(x), pool)
        for repeat in range(repeats):
            _sample(timed, samples, SAMPLES)
            answer, times = engine_run(name, data, params)
            later.extend(times[1:])
            if repeat == 0:
                first = answer
    verdict = workload.check(first, datasets.reference_answer(workload, data, params))
    t: Timings = {}
    for (probe, variant), values in samples.items():
        t.setdefault(probe, {})[variant] = statistics.median(values)
    if name == "logreg":
        limit = logreg_limit(t, fastest(t), x, sizes)
        old = logreg_limit(t, old_style(t), x, sizes)
    else:
        limit = kmeans_limit(t, fastest(t), x, params["k"], sizes)
        old = kmeans_limit(t, old_style(t), x, params["k"], sizes)
    measured = statistics.median(later) if later else float("nan")
    iterations = params["iterations"]
    print(
        f"\n{name} {scale}: {iterations} iterations; medians of {repeats} engine "
        f"run{'s' if repeats > 1 else ''} x {iterations - 1} later iterations and "
        f"{repeats * SAMPLES} samples per micro-benchmark variant; load average {before} "
        f"before, {_load()} after"
    )
    for note in limit.notes:
        print(f"  {note}")
    rows = _table(limit, f" ({cores()} cores)")
    rows.append(("measured: engine per iteration", measured))
    old_rows = _table(old, " (old style)")
    width = max(len(label) for label, _ in rows + old_rows)
    print(f"  {'component':{width}s}  {'ms':>8s}")
    for label, s in rows:
        print(f"  {label:{width}s}  {s * 1e3:8.4f}")
    for what, bound in (("BLAS-bound limit", limit.blas_s), ("BLAS + elementwise", limit.total_s)):
        ratio = measured / bound
        status = "PASS" if ratio <= TARGET else "FAIL"
        print(f"  ratio vs {what}: {ratio:.2f}x  {status} (within {TARGET:g}x)")
    print("  old style (issue 5): BLAS on OpenBLAS's threads, the elementwise work on one thread")
    for label, s in old_rows:
        print(f"  {label:{width}s}  {s * 1e3:8.4f}")
    print(f"  ratio vs the old-style floor: {measured / old.total_s:.2f}x")
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
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS default")
    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPUs ({cores()} usable), BLAS threads: "
        f"{threads}, caches of CPU 0: {caches or 'unknown'}; load average {_load()} "
        "(all figures are medians)"
    )
    for name in args.workload or WORKLOADS:
        measure(name, args.scale, args.repeats, sizes)


if __name__ == "__main__":
    main()
