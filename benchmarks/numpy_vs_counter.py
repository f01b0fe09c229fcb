"""Word count: the vectorised NumPy implementation against ``Counter(text.split())``.

Prints best and median times over repeats for both, on the generated data at a named scale
(default ``small``), and their ratio. Both include reading the file and building the final map.
Data generation happens before any timing.

    python -m benchmarks.numpy_vs_counter [--scale small] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from harness import datasets, registry
from workloads.wordcount._vectorized import count_words


def counter_baseline(path: Path) -> dict[str, int]:
    """The plain-Python baseline named in the issue."""
    text = path.read_bytes().decode("utf-8", "replace")
    return dict(Counter(text.split()))


def numpy_vectorised(path: Path) -> dict[str, int]:
    """What the numpy engine's implementation does per file."""
    return count_words(path.read_bytes())


def _times(func: Callable[[Path], dict[str, int]], path: Path, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(path)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    """Generate the data, time both, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=datasets.SCALES)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    workload = registry.get_workload("wordcount")
    data = datasets.generated(workload, args.scale)
    (path,) = data.inputs
    same = numpy_vectorised(path) == counter_baseline(path)  # also warms the page cache
    base = _times(counter_baseline, path, args.repeats)
    vec = _times(numpy_vectorised, path, args.repeats)
    print(f"wordcount {args.scale}: {data.meta['words']:,} words, {data.input_bytes:,} bytes")
    print(f"answers equal: {same}")
    for name, times in (("Counter(text.split())", base), ("numpy vectorised", vec)):
        print(
            f"{name:24s} best {min(times) * 1e3:8.1f} ms  median "
            f"{statistics.median(times) * 1e3:8.1f} ms"
        )
    print(
        f"speed-up (best): {min(base) / min(vec):.2f}x   "
        f"(median): {statistics.median(base) / statistics.median(vec):.2f}x"
    )


if __name__ == "__main__":
    main()
