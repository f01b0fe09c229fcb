"""Tolerant comparison and digests of floating-point answers (shared by the ML workloads).

Engines sum in different orders, so their float answers agree to a relative tolerance, not
bit for bit: the check compares value by value, the digest rounds before hashing.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def show(value: Any) -> str:
    """A value as a user reads it: numbers plainly (``nan``, ``0.5``, ``3``), never as
    ``np.float64(nan)``; anything else by its repr."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return repr(value)


def first_difference(
    name: str, got: Sequence[Any], want: Sequence[Any], rtol: float, atol: float
) -> str | None:
    """Where two (possibly nested) sequences of numbers first differ beyond the tolerance,
    e.g. ``centroids[1][0] = 0.5, reference 0.6 (rtol 1e-06)``; None when they agree."""
    got, want = list(got), list(want)
    if len(got) != len(want):
        return f"{name}: {len(got)} values instead of {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if isinstance(w, Sequence) and not isinstance(w, str):
            if not isinstance(g, Sequence) or isinstance(g, str):
                return f"{name}[{i}] = {show(g)} is not a sequence"
            inner = first_difference(f"{name}[{i}]", g, w, rtol, atol)
            if inner is not None:
                return inner
        elif not math.isclose(float(g), float(w), rel_tol=rtol, abs_tol=atol):
            return f"{name}[{i}] = {show(g)}, reference {show(w)} (rtol {rtol:g})"
    return None


def rounded(value: Any, digits: int = 9) -> Any:
    """Numbers (in nested lists) rounded to ``digits`` significant digits."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [rounded(v, digits) for v in value]
    return float(f"{float(value):.{digits}g}")


def tolerant_digest(answer: Mapping[str, Any], keys: Sequence[str]) -> str:
    """SHA-256 of the answer's ``keys``, rounded (equal for answers the check calls equal,
    except at rounding boundaries)."""
    blob = json.dumps({k: rounded(answer[k]) for k in keys})
    return hashlib.sha256(blob.encode()).hexdigest()


def finite_values(frame: Any, where: str) -> Any:
    """A CSV frame's values as float64 (rows x columns), or a UserError naming the first cell
    that is not a finite number: ``<where> row 3 column 'x' is not a finite number: 'abc'``
    (rows counted as in the file, header = row 1)."""
    import numpy as np
    import pandas as pd

    from harness.errors import UserError

    # The C parser makes numeric columns float/int; anything else is text somewhere.
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserError(
            f"{where} row {row + 2} column {frame.columns[col]!r} is not a finite number: "
            f"{show(frame.iat[row, col])}"
        )
    return values


def parser_rows(width: int) -> int:
    """Rows over which pandas' C parser infers column types at a time (``low_memory``) for a
    table ``width`` columns wide: its own heuristic (the largest power of two below
    ``2**20 // width``). A piece of a multiple of this many rows has the types of a
    whole-file read."""
    rows = 1
    while rows * 2 < (1 << 20) // max(1, width):
        rows *= 2
    return rows


def piece_rows(width: int) -> int:
    """Rows per piece of ``add_float_csv``: a multiple of ``parser_rows``, up to 2**18 rows
    and 2**22 values (32 MB of float64). Smaller pieces (65,536 rows of 11 columns) made
    the whole read some 7% slower; the parser's buffers grow with the piece."""
    rows = parser_rows(width)
    return rows * max(1, min((1 << 18) // rows, (1 << 22) // (rows * max(1, width))))


def estimated_rows(paths: Sequence[Path]) -> int:
    """Data rows the CSV files probably hold: their size over the mean line length of the
    first 64 KiB, with 10% to spare (room never written costs no memory)."""
    try:
        total = sum(p.stat().st_size for p in paths)
        with paths[0].open("rb") as fh:
            sample = fh.read(1 << 16)
    except (OSError, IndexError):
        return 1024
    lines = sample.count(b"\n")
    if not lines:
        return 1024
    return int(total * lines / len(sample) * 1.1) + 1024


class FloatRows:
    """Float64 rows gathered into one array per group of column positions (rows x group, C
    order), block by block, with room to grow: room never written costs no memory (the
    pages are never touched), so with a fair row estimate the values are held once and never
    concatenated."""

    def __init__(self, groups: Sequence[Sequence[int]], capacity: int) -> None:
        import numpy as np

        # Each group as runs of adjacent columns, (to, from, width): copying slices is
        # several times faster than fancy indexing (np.take).
        self.runs: list[list[tuple[int, int, int]]] = []
        for group in groups:
            runs: list[tuple[int, int, int]] = []
            for to, column in enumerate(group):
                if runs and runs[-1][1] + runs[-1][2] == column:
                    runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
                else:
                    runs.append((to, column, 1))
            self.runs.append(runs)
        self.arrays = [np.empty((max(1, capacity), len(group))) for group in groups]
        self.rows = 0

    def add(self, block: Any) -> None:
        """Append the rows of a float64 block (rows x columns)."""
        import numpy as np

        end = self.rows + len(block)
        if end > len(self.arrays[0]):
            # The estimate was short: twice the room, copied once.
            grown = []
            for array in self.arrays:
                bigger = np.empty((max(end, 2 * len(array)), array.shape[1]))
                bigger[: self.rows] = array[: self.rows]
                grown.append(bigger)
            self.arrays = grown
        for array, runs in zip(self.arrays, self.runs, strict=True):
            for to, column, width in runs:
                array[self.rows : end, to : to + width] = block[:, column : column + width]
        self.rows = end

    def result(self) -> list[Any]:
        """The arrays of the rows added so far."""
        return [array[: self.rows] for array in self.arrays]


def add_float_csv(
    rows: FloatRows, path: Path, header: Sequence[str], usecols: list[str] | None = None
) -> bool:
    """Append the rows of a CSV file to ``rows``, read piece by piece (``usecols`` in that
    order, else every column; ``header`` is the file's header row, as pandas names it);
    False, with ``rows`` as it was, when the file is not plainly finite numbers or has no
    rows: the caller then reads it the slow way, which words the error.

    The values are bit for bit those of a whole-file ``pd.read_csv`` and ``finite_values``:
    the same C parser with its default float converter and the same type inference, which
    that parser does over runs of ``parser_rows`` rows that the pieces hold whole (an integer
    column stays one: ``-0`` is 0.0, not the -0.0 of a forced float64 parse). Memory: the
    rows plus one piece being parsed.
    """
    import numpy as np
    import pandas as pd

    before = rows.rows
    try:
        pieces = piece_rows(len(header))
        reader = pd.read_csv(path, usecols=usecols, chunksize=pieces, engine="c")
        with reader:
            for chunk in reader:
                if usecols is not None and list(chunk.columns) != usecols:
                    chunk = chunk[usecols]
                # A column that is not numbers (text, dates) or a frame that is not plainly
                # numbered (pandas made a column the index): the slow path decides.
                if not isinstance(chunk.index, pd.RangeIndex) or any(
                    dtype.kind not in "biuf" for dtype in chunk.dtypes
                ):
                    break
                values = chunk.to_numpy(dtype=np.float64)
                if not np.isfinite(values).all():
                    break
                rows.add(values)
            else:
                if rows.rows > before:
                    return True
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, pd.errors.ParserError):
        pass  # EmptyDataError is a ValueError
    rows.rows = before
    return False


def count_own_iterations(
    metrics: dict[str, Any], expected: Mapping[str, Any], params: Mapping[str, Any], prepared: Any
) -> None:
    """``finish_metrics`` of the ML workloads: a Spark ML run's throughput counts the
    point-iterations it ran (it iterates to convergence), not the reference's."""
    if "mllib_iterations" in metrics:
        metrics["items"] = int(expected["points"]) * int(metrics["mllib_iterations"])


#: What the iterative ML workloads (logreg, kmeans) register alike: their sizes in points,
#: throughput in points x iterations, their own iteration count, and Spark cells with our
#: rules off and on, like every Spark cell.
ITERATIVE: dict[str, Any] = {
    "scale_sizes": {"tiny": 2_000, "small": 200_000, "medium": 2_000_000, "large": 20_000_000},
    "unit": "point-iterations",
    "size_unit": "points",
    "finish_metrics": count_own_iterations,
    "default_rules": "both",
    # The conformance run proves each cell's path and answer check, not convergence: four
    # iterations keep mrjob/local (one job per iteration, about 1 s each) short.
    "smoke_params": {"iterations": 4},
}
