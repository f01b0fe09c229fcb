"""UDF map chain as a map-only Hadoop Streaming job (run as a script by mrjob's runners).

The mapper computes ``a = damage(history, p)`` once per row and ``b = severity(a)`` from it,
and emits ``(id, [a, b])``. Calls and time inside each UDF are summed per task and reported
once per task as Hadoop counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import ClassVar

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

try:
    # In a task: both UDF modules travelled with this script (FILES below) to its directory.
    import bdbench_udf_map_udfs as udfs
    import bdbench_udfs as shared_udfs
except ImportError:  # in the driver, where bdbench is installed
    from workloads._udf import udfs as shared_udfs
    from workloads.udf_map import udfs


class MRUdfMap(MRJob):
    """Mapper emits ``(id, [damage, severity])`` for every row."""

    FILES: ClassVar[list[str]] = [
        "../_udf/udfs.py#bdbench_udfs.py",
        "udfs.py#bdbench_udf_map_udfs.py",
    ]
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self) -> None:
        """``--p``: the damage normalisation parameter."""
        super().configure_args()
        self.add_passthru_arg("--p", type=float, required=True, help="damage parameter p")

    def mapper_init(self) -> None:
        """Zero the per-task tallies."""
        self.calls = {"damage": 0, "severity": 0}
        self.micros = {"damage": 0.0, "severity": 0.0}
        self.rows = 0

    def mapper(self, _: None, line: str) -> Iterator[tuple[int, list[float | int | None]]]:
        """One output row per input row; ``damage`` runs once and ``severity`` reuses it."""
        if not line.strip():
            return
        row_id, history = shared_udfs.parse_line(line)
        self.rows += 1
        began = time.perf_counter()
        a = shared_udfs.fatigue_damage(history, self.options.p)
        middle = time.perf_counter()
        b = udfs.severity(a)
        self.micros["damage"] += (middle - began) * 1e6
        self.micros["severity"] += (time.perf_counter() - middle) * 1e6
        self.calls["damage"] += 1
        self.calls["severity"] += 1
        yield row_id, [a, b]

    def mapper_final(self) -> Iterator[tuple[int, list[float | int | None]]]:
        """Report this task's tallies as counters (integers: microseconds for time)."""
        self.increment_counter("bdbench_rows", "rows", self.rows)
        for name in self.calls:
            self.increment_counter("bdbench_udf_calls", name, self.calls[name])
            self.increment_counter("bdbench_udf_micros", name, round(self.micros[name]))
        yield from ()


if __name__ == "__main__":
    MRUdfMap.run()
