"""A calibrated CPU-bound workload for the harness's own benchmarks (``spin`` on numpy).

Loaded through ``BDBENCH_PLUGINS=benchmarks.spin_workload`` (with the project root on
``PYTHONPATH`` so the measured child processes can import it). Its ``iterations`` parameter sets
the work linearly, so ``1.2 * iterations`` is a planted 20% slowdown.

It registers only when ``BDBENCH_PLUGINS`` names it: asv imports every module of
``benchmarks/`` during discovery, and the synthetic workload must not leak into the registry
(and so into the suite) there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.registry import CheckResult, RunContext, Workload, implements, register_workload

NAME = "spin"
MODULE = "benchmarks.spin_workload"
DEFAULT_ITERATIONS = 2_000_000
#: Plants a slowdown in the *code*: extra work of (factor - 1) x iterations, while the params
#: and the answer stay the same, so ``bdbench compare`` pairs the cells as for a real regression.
SLOWDOWN_ENV = "BDBENCH_SPIN_SLOWDOWN"


def spin(iterations: int) -> int:
    """Pure-Python loop whose time is proportional to ``iterations`` (a 32-bit LCG)."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 1_103_515_245 + i) & 0xFFFFFFFF
    return acc


def _make(folder: Path, size: int, seed: int) -> dict[str, Any]:
    (folder / "in.txt").write_text(f"{size} {seed}\n")
    return {"files": ["in.txt"], "bytes": (folder / "in.txt").stat().st_size}


def _reference(data: Any, params: Mapping[str, Any]) -> int:
    return spin(int(params["iterations"]))


def _check(answer: Any, expected: Any) -> CheckResult:
    return CheckResult(answer == expected, f"{answer} vs {expected}")


SPEC = Workload(
    name=NAME,
    version="1",
    description="calibrated CPU-bound loop (benchmarks of the harness itself)",
    scale_sizes={"tiny": 1, "small": 1, "medium": 1, "large": 1},
    unit="iterations",
    make_data=_make,
    reference=_reference,
    check=_check,
    digest=lambda answer: hashlib.sha256(str(answer).encode()).hexdigest(),
    items=lambda expected: 1,
    params={"iterations": DEFAULT_ITERATIONS},
    accepts_input=False,
)


def run_spin(ctx: RunContext) -> int:
    """Spin ``params['iterations']`` times (plus the planted slowdown, if any)."""
    iterations = int(ctx.params["iterations"])
    factor = float(os.environ.get(SLOWDOWN_ENV, "1"))
    if factor > 1:
        spin(round(iterations * (factor - 1)))
    return spin(iterations)


def register() -> None:
    """Register the workload and its numpy implementation (idempotent)."""
    register_workload(SPEC)
    implements(NAME, "numpy")(run_spin)


if MODULE in [m.strip() for m in os.environ.get("BDBENCH_PLUGINS", "").split(",")]:
    register()
