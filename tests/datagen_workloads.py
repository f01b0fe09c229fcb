"""Test-only workloads for data generation at size (loaded through BDBENCH_PLUGINS by the
CLI tests of test_datagen; never imported by the test session itself)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.registry import CheckResult, Workload, register_workload

#: What t_diskfill really writes per item, and what it claims (an estimate far too low).
REAL_BYTES_PER_ITEM = 1024
CLAIMED_BYTES_PER_ITEM = 100.0


def write_items(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """``size`` items of ``REAL_BYTES_PER_ITEM`` bytes, written 1 MiB at a time."""
    path = folder / "items.bin"
    with path.open("wb") as out:
        left = size * REAL_BYTES_PER_ITEM
        while left > 0:
            n = min(left, 1 << 20)
            out.write(bytes([seed % 256]) * n)
            left -= n
    return {"files": [path.name]}


def spec(name: str, bytes_per_item: float | None, make_data: Any = write_items) -> Workload:
    """A workload whose data is ``make_data``'s and whose estimate is ``bytes_per_item``."""
    return Workload(
        name=name,
        version="1",
        description=f"test workload {name}",
        scale_sizes={"tiny": 100, "small": 200_000, "medium": 2_000_000, "large": 20_000_000},
        unit="items",
        make_data=make_data,
        reference=lambda data, params: 0,
        check=lambda answer, expected: CheckResult(answer == expected),
        digest=lambda answer: hashlib.sha256(repr(answer).encode()).hexdigest(),
        items=lambda expected: 1,
        bytes_per_item=bytes_per_item,
    )


register_workload(spec("t_diskfill", CLAIMED_BYTES_PER_ITEM))
