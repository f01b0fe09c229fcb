"""UDF filters as a map-only Hadoop Streaming job (run as a script by mrjob's runners).

The mapper parses each row and applies the filters in the order given by ``--filters``
(short-circuit, as a Python programmer writes ``if f(row) and g(row)``). Calls and time inside
each UDF are summed per task and reported once per task as Hadoop counters (one counter line
per row would cost more than the UDFs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

try:
    # In a task: the shared udfs.py travelled with this script (FILES below) to its directory.
    import bdbench_udfs as udfs
except ImportError:  # in the driver, where bdbench is installed
    from workloads._udf import udfs


class MRUdfFilter(MRJob):
    """Mapper emits (id, None) for rows passing every filter."""

    FILES: ClassVar[list[str]] = ["../_udf/udfs.py#bdbench_udfs.py"]
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self) -> None:
        """``--filters``: the filter specs as JSON, in evaluation order."""
        super().configure_args()
        self.add_passthru_arg("--filters", required=True, help="filter specs, JSON list")

    def mapper_init(self) -> None:
        """Parse the filters once per task; zero the per-task tallies."""
        self.specs: list[dict[str, Any]] = json.loads(self.options.filters)
        self.calls = {s["name"]: 0 for s in self.specs}
        self.micros = {s["name"]: 0.0 for s in self.specs}
        self.rows = 0

    def mapper(self, _: None, line: str) -> Iterator[tuple[int, None]]:
        """Emit the row id when every filter passes (stop at the first that fails)."""
        if not line.strip():
            return
        row_id, history = udfs.parse_line(line)
        self.rows += 1
        for spec in self.specs:
            name = spec["name"]
            began = time.perf_counter()
            result = udfs.value(spec, row_id, history)
            self.micros[name] += (time.perf_counter() - began) * 1e6
            self.calls[name] += 1
            if not udfs.passes(spec, result):
                return
        yield row_id, None

    def mapper_final(self) -> Iterator[tuple[int, None]]:
        """Report this task's tallies as counters (integers: microseconds for time)."""
        self.increment_counter("bdbench_rows", "rows", self.rows)
        for name in self.calls:
            self.increment_counter("bdbench_udf_calls", name, self.calls[name])
            self.increment_counter("bdbench_udf_micros", name, round(self.micros[name]))
        yield from ()


if __name__ == "__main__":
    MRUdfFilter.run()
