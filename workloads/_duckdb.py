"""Shared by the DuckDB implementations: the call's own connection, SQL quoting, the plan as
DuckDB prints it, and the Python UDFs of the UDF workloads as counted Arrow functions.

Imports duckdb, NumPy and pyarrow only inside functions, like every implementation module.
"""

from __future__ import annotations

import csv
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.duckdb_engine import DuckdbEngine, Session
from harness.registry import RunContext
from workloads._udf import udfs

if TYPE_CHECKING:
    import numpy as np

#: Longest plan text kept in a record.
PLAN_CHARS = 6000
#: Bytes of text per piece handed to DuckDB (see ``pieces``).
PIECE_BYTES = 1 << 20


@contextmanager
def session(ctx: RunContext) -> Iterator[Session]:
    """The call's own connection to the started database (``DuckdbEngine.session``)."""
    with ctx.engine_as(DuckdbEngine).session() as found:
        yield found


def threads(ctx: RunContext) -> int:
    """The threads DuckDB runs queries on."""
    return ctx.engine_as(DuckdbEngine).threads


def files(ctx: RunContext) -> list[str]:
    """The run's input files, as the list parameter of a ``read_*`` table function."""
    return [str(path) for path in ctx.data.inputs]


def csv_header(path: Path) -> list[str]:
    """The column names in a CSV file's header row (the input was validated: it has one)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def line_pieces(path: Path, size: int | None = None) -> Iterator[bytes | memoryview]:
    """A file's bytes in pieces of about ``size`` bytes (``PIECE_BYTES``), each ending right
    after a LF (or at the file's end): no line, and no CRLF, is ever cut in two.

    Each block read yields the line running over from the block before (a small ``bytes``)
    and a view of the block's whole lines (no copy)."""
    size = size or PIECE_BYTES
    carry: list[bytes] = []
    with path.open("rb") as handle:
        while block := handle.read(size):
            last = block.rfind(b"\n")
            if last < 0:
                carry.append(block)  # a line longer than a block: keep reading
                continue
            first = block.find(b"\n")
            if carry:
                yield b"".join([*carry, block[: first + 1]])
            else:
                first = -1
            carry = [block[last + 1 :]] if last + 1 < len(block) else []
            if last > first:
                yield memoryview(block)[first + 1 : last + 1]
    if carry:
        yield b"".join(carry)


def pieces(paths: Sequence[Path], cut: Callable[[Path], Iterator[Any]]) -> Any:
    """The files as an Arrow stream of ``(file, piece)`` rows, one piece per record batch,
    read as DuckDB pulls them: ``file`` is the file's position in ``paths``, ``piece`` the
    bytes of one piece ``cut`` makes of it (a BLOB to DuckDB).

    Why not DuckDB's own ``read_text``/``read_blob``: they give a whole file as one value,
    and splitting one value into rows takes DuckDB time that grows with the square of the
    rows (measured with DuckDB 2.0: ``unnest(string_split(text, chr(10)))`` of one text of
    83,000 lines took 0.08 s, of 330,000 lines 1.8 s, of 1.3 million lines 68 s), and such a
    query runs on one thread. Pieces of about a MiB keep the splitting linear, keep a few
    pieces in memory rather than whole files, and let DuckDB's threads share the work.
    """
    import pyarrow as pa

    schema = pa.schema([("file", pa.int32()), ("piece", pa.binary())])

    def batches() -> Iterator[Any]:
        for number, path in enumerate(paths):
            for piece in cut(path):
                # One binary value over the piece's own memory: no copy on the way to DuckDB.
                offsets = pa.array([0, len(piece)], pa.int32()).buffers()[1]
                value = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(piece)])
                yield pa.record_batch([pa.array([number], pa.int32()), value], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def ident(name: str) -> str:
    """A quoted SQL identifier (a CSV header's column name, whatever its characters)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def number(value: float) -> str:
    """A DOUBLE constant of exactly ``value`` (a number literal would be read as a DECIMAL
    first; the text of its ``repr`` cast to DOUBLE is parsed exactly)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def explain(con: Any, sql: str, params: Sequence[Any] | None = None) -> str:
    """The physical plan DuckDB runs ``sql`` with, as ``EXPLAIN`` prints it (shortened)."""
    rows = con.execute("EXPLAIN " + sql, params).fetchall()
    return "\n".join(str(row[1]) for row in rows)[:PLAN_CHARS]


def plan_order(con: Any, sql: str, names: Sequence[str], params: Sequence[Any] | None = None
               ) -> list[str]:  # fmt: skip
    """The functions among ``names`` in the order the physical plan's filter evaluates them:
    the order they appear in in the first operator whose expressions call any of them (from
    ``EXPLAIN (FORMAT JSON)``, whose expression strings are never wrapped)."""
    rows = con.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchall()
    nodes = [node for row in rows for node in json.loads(row[1])]
    while nodes:
        node = nodes.pop(0)
        text = json.dumps(node.get("extra_info", {}), ensure_ascii=False)
        found = sorted(
            (m.start(), name)
            for name in names
            if (m := re.search(rf"(?<![\w]){re.escape(name)}\(", text)) is not None
        )
        if found:
            return [name for _, name in found]
        nodes.extend(node.get("children", []))
    return []


class Counts:
    """Rows each UDF was called on and the CPU seconds inside it, summed over DuckDB's
    threads (each call is a vector of rows; the threads share these totals under a lock)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.calls = dict.fromkeys(names, 0)
        self.seconds = dict.fromkeys(names, 0.0)
        self._lock = threading.Lock()

    def counted(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` over Arrow arrays, counting the rows of each call and the time inside it.

        The time is the calling thread's CPU time: DuckDB calls a Python UDF from each of its
        threads, which take turns holding the GIL, and wall time would count the turns of
        the others as this call's work.
        """

        def wrapper(*columns: Any) -> Any:
            began = time.thread_time()
            result = fn(*columns)
            spent = time.thread_time() - began
            with self._lock:
                self.calls[name] += len(columns[0])
                self.seconds[name] += spent
            return result

        wrapper.__name__ = wrapper.__qualname__ = name
        return wrapper


def histories(column: Any, head: int | None = None) -> np.ndarray | None:
    """The temperatures of an Arrow column of history texts as a (rows, samples) int64 array,
    parsed by Arrow's own kernels (split, cast); only the first ``head`` samples when given
    (the cheap UDF parses no further). None when the histories are not all of one length or
    not plain integers separated by single spaces: the caller then takes the Python UDF."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(strings) == 0:
        return None
    if head is None:
        parts = pc.split_pattern(strings, " ")
    else:
        parts = pc.list_slice(pc.split_pattern(strings, " ", max_splits=head), 0, head)
    lengths = pc.list_value_length(parts)
    bounds = pc.min_max(lengths)
    width = bounds["min"].as_py()
    if width is None or width != bounds["max"].as_py():
        return None
    try:
        values = pc.cast(pc.list_flatten(parts), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if width == 0:
        return None
    return values.to_numpy().reshape(len(strings), width)


def _history_values(spec: udfs.Spec, column: Any, param: float) -> Any:
    """A history UDF's values for an Arrow column of histories: the NumPy twins of
    ``workloads._udf.vectorised`` on the parsed array, or the Python UDF row by row when the
    texts do not parse as one rectangular array."""
    import numpy as np
    import pyarrow as pa

    from workloads._udf import vectorised

    kind = spec["kind"]
    head = udfs.TRANSIENT_WINDOW + 1 if kind == "transient" else None
    temps = histories(column, head)
    if temps is None:
        fn = udfs.fatigue_damage if kind == "fatigue" else udfs.transient_start
        return pa.array([fn(h, param) for h in column.to_pylist()], pa.float64())
    if kind == "fatigue":
        return pa.array(vectorised.fatigue_damage(temps, param))
    return pa.array(vectorised.transient_start(temps, param).astype(np.float64))


#: The column each kind of filter UDF takes, and its SQL type.
UDF_COLUMNS = {
    "fatigue": ("history", "VARCHAR"),
    "transient": ("history", "VARCHAR"),
    "spin": ("id", "BIGINT"),
}


def udf_of(spec: udfs.Spec) -> Callable[..., Any]:
    """The Arrow UDF of a filter spec: its values over a whole vector of its column
    (``UDF_COLUMNS``), exactly ``udfs.value``'s."""
    import pyarrow as pa

    from workloads._udf import vectorised

    kind = spec["kind"]
    if kind in ("fatigue", "transient"):
        param = float(spec["param"])

        def on_histories(column: Any) -> Any:
            return _history_values(spec, column, param)

        return on_histories
    if kind == "spin":
        salt, units = int(spec["salt"]), int(spec["units"])

        def on_ids(column: Any) -> Any:
            return pa.array(vectorised.spin(column.to_numpy(), salt, units))

        return on_ids
    raise ValueError(f"unknown UDF kind {kind!r}")


#: The UDF workloads' input (``id,t0 t1 ...`` lines) as ``read_csv`` reads it: the history
#: stays text, each UDF parses what it needs of it.
HISTORY_CSV = (
    "read_csv(?, columns = {'id': 'BIGINT', 'history': 'VARCHAR'}, header = false, "
    "delim = ',', quote = '', escape = '', auto_detect = false)"
)
